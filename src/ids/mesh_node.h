// MeshNode: a node's place in the collaborative IDS mesh (docs/ids_mesh.md, ADR 0034).
//
// Out: every decision this node's own detectors make (block, throttle: kDecision; alert only:
// kAlert) and every revocation of its own decisions (mesh-wide revoke) is queued for each peer
// in an outbox per peer (store::SqliteDurableQueue in <data_dir>/mesh_outbox_<peer>.db: the
// same at-least-once queue and backoff as the cloudlet's forward queue), so a report to a peer
// that is down is delivered when it is back, also after this node restarts. A sender thread
// per peer drains its outbox: each attempt is signed afresh (mesh_report.h) with a new sequence
// number (durable blocks of a counter, so they increase across restarts) and POSTed to the peer's
// /api/v1/ids/mesh/reports. 2xx, 400 and 409 settle an item (409: the peer saw a later
// sequence; 400: it can never be accepted); anything else (unreachable, 401, 403, 5xx) backs
// off and is retried. Adopted decisions are never relayed: a report's origin is who decided.
//
// In (Receive, the route POST /api/v1/ids/mesh/reports, no user session):
//   - envelope does not parse                       -> 400 (IDS event malformed)
//   - certificate or signature does not verify      -> 401 (IDS event forged_signature)
//   - origin is not a configured peer, nor the cloud (a cloud certificate) for a node that has
//     the cloud among its peers, nor (accept_certified_cloudlets, the cloud) any cloudlet -> 403
//     (IDS event bad_certificate)
//   - sequence <= the last one seen from the origin, or sent_ms outside
//     [now - max_report_age, now + max_clock_skew]  -> 409 (IDS event replay)
//   - otherwise fused (mesh_fusion.h): adopted into the DecisionTable (allowlist still wins),
//     kept as an alert, or dropped; a revocation removes the origin's support and revokes the
//     adopted copy whose support is gone. 202 {"verdict", "why"}.
// The last sequence per origin is kept in memory: after a restart, a replay within the
// max_report_age window of a report already received would be fused again, which changes
// nothing (fusion is idempotent per origin and decision id).
//
// Also: GET /api/v1/ids/peers and GET /api/v1/ids/mesh (AddMeshRoutes), behind `authorize`.
// A report whose decision has ended by the time it is due is settled without sending (the peer
// would adopt nothing), so an outbox of a peer that stays away holds only decisions in force.
// Threads: Start() runs, until Stop(), one sender thread per peer (a slow peer delays only its
// own reports) and one for the fusion's Tick. Tests may call RunOnce() instead.
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "ids/decision_table.h"
#include "ids/detection_engine.h"
#include "ids/mesh_fusion.h"
#include "ids/mesh_report.h"
#include "net/http_client.h"
#include "net/http_message.h"
#include "net/router.h"
#include "store/durable_queue.h"
#include "store/ids_event_log.h"

namespace medmesh::ids {

struct MeshPeerAddress {
  std::string id;         // node id; for the cloud of a cloudlet: the label "cloud"
  std::string url;        // base URL
  bool is_cloud = false;  // accept reports from any root-certified cloud under this entry
};

struct MeshOptions {
  std::vector<MeshPeerAddress> peers;
  MeshFusionOptions fusion;
  std::chrono::milliseconds max_report_age{std::chrono::minutes(5)};
  std::chrono::milliseconds max_clock_skew{std::chrono::minutes(1)};
  // The outboxes' retry backoff (durable_queue.h); short, so a peer that is back gets its
  // reports within max_backoff.
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{std::chrono::seconds(30)};
  // The sender waits at most this long between rounds (a new report wakes it at once).
  std::chrono::milliseconds poll_interval{std::chrono::seconds(1)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(2)};
  std::chrono::milliseconds request_timeout{std::chrono::seconds(5)};
  std::string ca_file;  // https peers' trust anchors (empty: system store)
  std::size_t recent_kept = 500;
  // The cloud: also accept reports of any cloudlet the root certified (the cloud knows every
  // cloudlet of its deployment; they need not all be listed).
  bool accept_certified_cloudlets = false;  // received reports shown by GET /api/v1/ids/mesh
};

struct MeshContext {
  std::string self_id;
  crypto::SigningPublicKey root;  // the pinned root's key
  Bytes certificate;              // this node's certificate (sent with every report)
  const crypto::Signer& signer;   // this node's key
  DecisionTable& table;
  DetectionEngine& engine;
  store::IdsEventLog& events;
  const Clock& clock;
  Random& random;
  std::filesystem::path data_dir;
};

// One received report as GET /api/v1/ids/mesh shows it.
struct ReceivedReport {
  std::int64_t received_ms = 0;
  std::string origin;
  std::uint64_t sequence = 0;
  MeshReportKind kind = MeshReportKind::kDecision;
  std::optional<Decision> decision;  // kDecision, kAlert
  std::string revoked_id;            // kRevocation
  FusionVerdict verdict = FusionVerdict::kDropped;
  std::string why;
  double support = 0;
};

struct MeshPeerStatus {
  MeshPeerAddress address;
  PeerRecord record;
  std::uint64_t outbox_depth = 0;
  std::optional<bool> reachable;  // the last delivery attempt; nullopt: none yet
  std::int64_t last_attempt_ms = 0;
  std::int64_t delivered = 0;
  std::int64_t expired = 0;  // reports settled unsent since start: their decision had ended
};

class MeshNode {
 public:
  // Opens the outboxes and hooks the node: the engine's listener (own alerts are published and
  // confirm peers' reports; answered requests are benign evidence) and the table's revocation
  // listener (own decisions revoked: published). Errors: the outboxes' (durable_queue.h),
  // kInvalidArgument for a peer id twice or this node's own id.
  static Result<std::unique_ptr<MeshNode>> Open(MeshContext context, MeshOptions options);
  ~MeshNode();
  MeshNode(const MeshNode&) = delete;
  MeshNode& operator=(const MeshNode&) = delete;

  void Start();
  void Stop();
  // Points a configured peer at another base URL (a test's or benchmark's server that got its
  // port after this node opened). kNotFound for an id not configured.
  Status SetPeerUrl(std::string_view id, std::string url);
  // One delivery pass over every outbox, then the fusion's Tick. For tests.
  Status RunOnce();
  void Wake();

  // See the top of this file: the route's work. `source` is the request's peer address.
  Result<ReceivedReport> Receive(ByteView envelope, std::string_view source);

  // Queues a report of this node's for every peer (also used by the hooks).
  Status Publish(MeshReportKind kind, const Decision& decision);
  Status PublishRevocation(std::string_view decision_id);

  std::vector<MeshPeerStatus> Peers() const;

  // Called with every peer report the fusion confirmed or refuted (mesh_fusion.h), outside the
  // node's locks, on whichever thread settled it (a request's, the engine's, the Tick's).
  // Set it before Start() and before the route is served; it must not call back into the node.
  void SetSettledListener(std::function<void(const SettledReport&)> listener);
  std::vector<ReceivedReport> Recent(std::size_t limit) const;

 private:
  struct Peer;
  MeshNode(MeshContext context, MeshOptions options);
  Status Enqueue(std::string_view item_id, ByteView payload);
  Result<std::uint64_t> NextSequence();
  void DeliverTo(Peer& peer);
  void Deliver(Peer& peer);  // DeliverTo under the peer's deliver_mu
  void Tick();               // the fusion's Tick and what it decided
  void Apply(const FusionUpdate& update);
  void Notify(const std::vector<SettledReport>& settled) const;
  std::function<void(const SettledReport&)> settled_listener_;  // set before Start
  // Runs `round` until Stop(): again after each Wake() or poll_interval.
  void Loop(const std::function<void()>& round);
  std::int64_t NowMs() const;

  MeshContext ctx_;
  MeshOptions options_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::unique_ptr<store::SqliteDurableQueue> state_;  // the sequence counter
  std::unique_ptr<net::HttpClient> client_;

  mutable std::mutex mu_;  // guards fusion_, last_sequence_, recent_, published_
  MeshFusion fusion_;
  std::map<std::string, std::uint64_t, std::less<>> last_sequence_;
  std::deque<ReceivedReport> recent_;
  std::deque<std::string> published_order_;  // own decision ids published (bounded)
  std::map<std::string, bool, std::less<>> published_;
  std::atomic<bool> any_pending_{false};

  std::mutex sequence_mu_;
  std::uint64_t sequence_next_ = 0, sequence_end_ = 0;

  std::mutex tick_mu_;  // one Tick at a time
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  std::uint64_t wake_generation_ = 0;  // Wake() counts; each loop waits for a new one
  bool stopping_ = false;
  std::thread thread_;  // the fusion's Tick; each peer has its own sender (Peer::sender)
};

// The mesh routes, for the node's router:
//   POST /api/v1/ids/mesh/reports   node-signed body (application/octet-stream), no session
//   GET  /api/v1/ids/peers          each peer: trust, counts, last report, outbox, reachable
//   GET  /api/v1/ids/mesh           received reports with their fused verdict (newest first)
// The GET routes first ask `authorize` (a response refuses, nullopt lets through), like
// ids_api.h. `mesh` must outlive the router.
void AddMeshRoutes(net::Router& router, MeshNode& mesh,
                   std::function<std::optional<net::Response>(const net::Request&)> authorize);

}  // namespace medmesh::ids
