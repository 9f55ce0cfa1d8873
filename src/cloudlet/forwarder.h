// Forwarder: drains the cloudlet's forward queue to the remote cloud, at least once, with
// idempotent ids (the cloud de-duplicates by device and batch id, records by record id).
//
// One round (RunOnce):
//   1. Unless it has a current one, fetch the cloud's certificate (GET {cloud}/api/v1/certificate)
//      and verify it against the pinned root for role cloud, now; check that the cloud serves the
//      same root (GET /api/v1/root). Nothing is sealed to a key that failed these checks.
//   2. Register this cloudlet's certificate with the cloud (POST /api/v1/cloudlets) once per
//      process, and again whenever the cloud says it does not know it.
//   3. Lease due items (enrolment pushes first, so the cloud knows a device before its data):
//        "e.<device>"  POST /api/v1/enrolments with the device's signed enrolment record;
//        "u.<id>"      decrypt the queued upload, re-check the device's evidence, seal a forward
//                      envelope to the cloud's KEM key, sign it (wire::SealForward) and
//                      POST /api/v1/forward.
//   4. 2xx with the cloud's receipt (wire/receipt.h: signed by the cloud's node key, checked
//      against the certificate of step 1, naming this cloudlet, the item, the digest of the
//      exact bytes sent and the fresh challenge this attempt sent with them, header
//      X-MedMesh-Receipt-Challenge or inside the relay request) → counted (counters.forwarded,
//      metrics), then MarkSent, so a reader that sees the queue without the item also sees it
//      counted. A receipt that does not verify is checked once more after fetching the cloud's
//      certificate again at once (the cloud may have rotated its key). A 2xx still without a
//      valid receipt settles nothing: the item stays queued (reason "bad_receipt",
//      "relay_bad_receipt" through a relay) and the round ends. The registration of step 2
//      needs a receipt too. Cloud
//      unreachable, 429 or 5xx → MarkFailed (the queue backs off exponentially with jitter, up to
//      minutes) for this item and the rest of the round, and the round ends. Once the cloud was
//      found unreachable, rounds send nothing but a probe, GET {cloud}/readyz, every
//      outage_probe_interval (by ctx.clock); when it answers 200, every backing-off item is made
//      due at once (ForwardQueue::RetryNow), so an outage delays delivery by a probe interval, not
//      by the longest backoff, and items do not spend attempts on a cloud known to be away. 409
//      failed_precondition (the cloud lacks the certificate or the enrolment) → register again
//      before the next send, push the device's enrolment again, retry the item. 401 to a forward →
//      the cloud's key is fetched again before the next send (unless it was fetched in this round).
//      The cloud's own refusal of an item (400, 401, 403, 409, 413 with a MedMesh error body) →
//      after kMaxPermanentAttempts, the item moves to the ledger's dead letters for operators, so
//      one poisoned item cannot stall the queue or trip backpressure. Any other answer (a redirect,
//      404, 405, 408, a proxy's page without a MedMesh error body) says nothing about the item: it
//      is retried like a 5xx and never dead-lettered.
//   Relaying (SetRelay; docs/trust_system.md): while the cloud is found unreachable and the
//   probe is not answered, a round sends its due items through a peer cloudlet instead: the
//   first of relay.candidates() (trusted partners first, cloudlet/relay.h). Every request to
//   the cloud (its certificate, the registration, enrolments, forwards) then goes, unchanged and
//   wrapped in a relay request signed by this cloudlet, to {peer}/api/v1/relay/{target}; the
//   cloud's answer comes back marked X-MedMesh-Relayed and is handled exactly as a direct one.
//   Any other answer of the peer (unreachable, its own refusal, no cloud), and an answer marked
//   as the cloud's whose 2xx has no valid cloud receipt (a lying relay), is a failed relay:
//   the round ends as for an unreachable cloud (the items stay queued and back off) and
//   relay.record(peer, false) is called, and for a missing receipt relay.bad_receipt(peer) too;
//   a relay round that delivered at least one item and did not fail calls
//   relay.record(peer, true) (one event per round, not per item). RelayState() tells whether
//   rounds go through a peer now and what the last relay round did. The probe goes on, and once
//   the cloud answers it, direct sending resumes.
//   Before every send, not once per round, the forwarder makes sure it holds a verified cloud
//   key and its registration (steps 1 and 2); if it cannot, the rest of the round is marked
//   failed and the round ends.
//
// Failures: an exception thrown inside a round (a third-party library, std::bad_alloc) ends
// that round: its unsettled items are marked failed, the exception is logged by type only and
// counted in medmesh_cloudlet_forward_round_exceptions_total, and RunOnce returns kInternal.
// The background thread also catches anything thrown outside a round, and after a failed round
// waits poll_interval, doubling while rounds keep failing, up to a minute; it never ends but by
// Stop().
//
// Threads: Start() runs rounds on one background thread (a service worker, like the HTTP
// server's I/O threads) until Stop(); Wake() starts a round early (after an enqueue). Tests
// may instead call RunOnce() directly, without Start().
// Thread safety: all methods are thread-safe; rounds run one at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cloudlet/relay.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "crypto/hybrid_seal.h"
#include "crypto/signing.h"
#include "net/http_client.h"
#include "node/identity.h"
#include "store/forward_queue.h"
#include "wire/certificate.h"
#include "wire/receipt.h"

namespace medmesh::cloudlet {

class DeviceRegistry;
class IngestLedger;
namespace internal {
struct CloudletMetrics;
struct CloudletCounters;
class PressureMonitor;
}  // namespace internal

struct ForwarderOptions {
  // The cloud's base URL ("http://127.0.0.1:8080"); empty: nothing is forwarded.
  std::string cloud_url;
  // PEM trust anchors for an https cloud_url (empty: the system store).
  std::string ca_file;
  // How often the thread looks for due items when nothing wakes it.
  std::chrono::milliseconds poll_interval{500};
  // Items leased per round.
  std::size_t batch_size = 32;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds request_timeout{30000};
  // While the cloud is unreachable: how often to ask whether it is back (see step 4).
  std::chrono::milliseconds outage_probe_interval{5000};
  // Re-fetch the cloud's certificate this often (it may have been renewed or rotated).
  std::chrono::milliseconds certificate_refresh{std::chrono::minutes(10)};
};

// Attempts after which an item the cloud refuses for good is moved to the dead letters.
inline constexpr std::uint32_t kMaxPermanentAttempts = 3;

struct ForwardRound {
  std::size_t sent = 0;    // acknowledged by the cloud (stored or duplicate)
  std::size_t failed = 0;  // will be retried
  std::size_t dead = 0;    // moved to the dead letters
  bool cloud_reachable = false;
  std::string relay;  // the peer this round relayed through; empty: direct (or nothing sent)
};

// What the forwarder last learnt of the cloud, for the operator (GET /api/v1/stats):
// kUnknown until the first round that tried the cloud; kUp once the cloud answered (a key fetched,
// an item acknowledged, a probe answered), kDown once it did not (not reachable). `since_ms` is
// when the state last changed (Unix ms; 0 while kUnknown), `last_forward_ms` when the cloud last
// acknowledged an item (0 if never since the start). The three are read without a common lock:
// a reader racing a change may see the new state with the old time.
struct CloudLink {
  enum class State : std::uint8_t { kUnknown, kUp, kDown };
  State state = State::kUnknown;
  std::int64_t since_ms = 0;
  std::int64_t last_forward_ms = 0;
};
std::string_view CloudLinkStateName(CloudLink::State state);  // "unknown", "up", "down"

// Relaying through a peer cloudlet while the cloud link is down (see the top of this file).
struct ForwarderRelay {
  // The peers to relay through, best first (empty: no relaying now). Called once per round
  // during an outage, on the forwarder's thread.
  std::function<std::vector<RelayPeer>()> candidates;
  // What a relay round showed of the peer: delivered (true) or failed (false).
  std::function<void(const std::string& peer, bool good)> record;
  // The peer answered as the cloud (2xx) without a valid cloud receipt: it dropped or forged
  // the cloud's answer (or the cloud's key changed since this cloudlet fetched it). Called on
  // the forwarder's thread, before record(peer, false); may be empty.
  std::function<void(const std::string& peer)> bad_receipt;
};

// What the forwarder works with; every reference must outlive it.
struct ForwarderContext {
  std::string node_id;
  const node::RootOfTrust& root;
  ByteView certificate;  // this cloudlet's certificate (encoded); must outlive the forwarder
  const crypto::Signer& signer;
  store::ForwardQueue& queue;
  DeviceRegistry& devices;
  IngestLedger& ledger;
  crypto::EnvelopeAead& envelope;
  const Clock& clock;
  Random& random;
  internal::CloudletMetrics& metrics;
  internal::CloudletCounters& counters;
  internal::PressureMonitor& pressure;
};

class Forwarder {
 public:
  // kInvalidArgument if the HTTP client cannot be created (e.g. an unreadable ca_file).
  static Result<std::unique_ptr<Forwarder>> Create(ForwarderContext context,
                                                   ForwarderOptions options);
  ~Forwarder();  // Stop()
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Enables relaying (see the top of this file). Call before Start().
  void SetRelay(ForwarderRelay relay);

  void Start();
  // Finishes the round in progress (bounded by the HTTP timeouts) and joins the thread.
  void Stop();
  void Wake();

  // One round (see above). Errors: those of a queue that cannot be read; kInternal if an
  // exception ended the round (see "Failures").
  Result<ForwardRound> RunOnce();

  // The cloud's certificate, verified against the pinned root for role cloud now (step 1): the
  // one the forwarder holds, or fetched now if it holds none or it is due for a refresh. Waits
  // for a round in progress. The cloudlet builds its session-token verifier from it
  // (cloudlet_sessions.h). Errors: kFailedPrecondition without a cloud_url or for a cloud that
  // serves another root; kUnavailable when the cloud does not answer; the refusal of a
  // certificate that does not verify.
  Result<wire::VerifiedCertificate> CloudCertificate();

  // The link to the cloud as the rounds saw it (see CloudLink). Never blocks.
  CloudLink Link() const;
  // Relaying now, and the last relay round (see RelayState). Does not wait for a round.
  RelayState Relaying() const;

 private:
  struct CloudKey;
  enum class Verdict { kSent, kRetry, kRetryAndStop, kPermanent };
  struct Outcome {
    Verdict verdict;
    std::string reason;            // metrics label and MarkFailed reason; no secrets
    std::string status;            // "stored" / "duplicate" for kSent
    bool lacks_identity = false;   // 409 failed_precondition: register and push again
    bool unauthenticated = false;  // 401: perhaps sealed to a key the cloud retired
  };

  Forwarder(ForwarderContext context, ForwarderOptions options,
            std::unique_ptr<net::HttpClient> client);
  void Loop();
  // Counts and logs (by type only) an exception that ended a round. Never throws.
  void NoteException(const std::exception_ptr& thrown) noexcept;
  // The body of RunOnce. `items` receives the leased items; items[0, settled) have been marked
  // sent or failed, so that RunOnce can release the rest if an exception cuts the round short.
  Result<ForwardRound> Round(std::vector<store::QueueItem>& items, std::size_t& settled);
  // A current, verified cloud key and this cloudlet's registration, or why not (kUnavailable:
  // the cloud did not answer). The sealer stays valid until the next call.
  Result<const crypto::HybridSealer*> EnsureReady();
  Status EnsureCloudKey();
  Status EnsureRegistered();
  // Sends the due items of a round: the rounds' work past the outage probe.
  Result<ForwardRound> SendDue(std::vector<store::QueueItem>& items, std::size_t& settled);
  // POSTs `body` to the cloud's /api/v1/{target} with the receipt `challenge` of this attempt,
  // directly (a header) or (via_) through the relay (inside the signed relay request). A relay
  // that did not give the cloud's own answer is an error (kUnavailable) and sets relay_failed_.
  Result<net::Response> ToCloud(std::string_view target, std::string body,
                                const std::optional<wire::ReceiptChallenge>& challenge);
  // A 2xx `outcome` stays kSent only if `answer` carries the cloud's valid receipt for `kind`,
  // `subject`, exactly `body` and this attempt's `challenge` (checked once more after fetching
  // the cloud's certificate again, in case the cloud rotated its key); otherwise it becomes a
  // retry that ends the round (and, through a relay, a failed relay whose peer lied). Other
  // outcomes pass unchanged.
  Outcome RequireReceipt(Outcome outcome, const Result<net::Response>& answer,
                         wire::ReceiptKind kind, std::string_view subject, ByteView body,
                         const wire::ReceiptChallenge& challenge);
  bool HasValidReceipt(const net::Response& answer, wire::ReceiptKind kind,
                       std::string_view subject, ByteView body,
                       const wire::ReceiptChallenge& challenge) const;
  Outcome SendEnrolment(const store::QueueItem& item);
  Outcome SendUpload(const store::QueueItem& item, const crypto::HybridSealer& cloud);
  // Turns the cloud's answer into a verdict. No side effects but a log line.
  static Outcome Classify(const Result<net::Response>& response);
  // MarkFailed with `reason`; a queue error is logged (the lease runs out instead).
  void Release(const store::QueueItem& item, std::string_view reason);
  // Ends a round early: one failed attempt counted for `reason`, and `items` (the one that
  // failed and those not tried) released.
  void EndRound(std::span<const store::QueueItem> items, std::string_view reason,
                ForwardRound& round);
  std::string Url(std::string_view path) const;

  ForwarderContext ctx_;
  ForwarderOptions options_;
  std::unique_ptr<net::HttpClient> client_;

  std::mutex round_mu_;  // one round at a time
  // Guarded by round_mu_: the last round found the cloud unreachable; when to probe it next
  // (ctx_.clock.Monotonic()).
  bool cloud_down_ = false;
  std::chrono::steady_clock::time_point next_probe_{};
  void NoteCloudDown();
  // Records the link's state (and since when, if it changed). Called from rounds only.
  void NoteLink(CloudLink::State state);
  std::atomic<std::uint8_t> link_state_{0};  // CloudLink::State
  std::atomic<std::int64_t> link_since_ms_{0};
  std::atomic<std::int64_t> last_forward_ms_{0};
  // Asks the cloud's /readyz if a probe is due; true (and every item due) once it answers 200.
  bool ProbeCloud();
  std::uint64_t round_number_ = 0;   // guarded by round_mu_
  std::unique_ptr<CloudKey> cloud_;  // guarded by round_mu_; null until fetched, or dropped
  ForwarderRelay relay_;             // guarded by round_mu_
  const RelayPeer* via_ = nullptr;   // guarded by round_mu_; set during a relay round
  bool relay_failed_ = false;        // guarded by round_mu_; the relay failed in this round
  // Guarded by round_mu_: this round had a 2xx without a valid cloud receipt (through a relay:
  // the relay failed by lying).
  bool receipt_refused_ = false;
  void NoteRelaying(bool relaying);
  void NoteRelayRound(const std::string& peer, const ForwardRound& round);
  mutable std::mutex relay_mu_;
  RelayState relay_state_;   // guarded by relay_mu_
  bool registered_ = false;  // guarded by round_mu_

  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;   // guarded by mu_
  bool woken_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace medmesh::cloudlet
