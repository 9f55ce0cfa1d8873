// Relay: a cloudlet whose own link to the cloud is down sends through a trusted peer cloudlet
// (issue 10; docs/trust_system.md "Relaying through a peer").
//
// What travels is unchanged: the cloud authenticates forwards (wire::SealForward), enrolment
// records and cloudlet certificates by their own signatures, not by the connection, so a peer
// can pass them on as they are. The relay request around them is node-signed by the origin
// cloudlet, the way IDS mesh reports are (ids/mesh_report.h), so the peer relays only for the
// cloudlets it is configured with:
//
//   request  = "MMRLYQ" ‖ u8 version 2 ‖ str origin ‖ str target ‖ i64 sent_ms ‖ str body ‖
//              str challenge
//   envelope = "MMRLYE" ‖ u8 version 1 ‖ str certificate ‖ str request ‖ 64-byte signature
//   (str = u32 little-endian length ‖ bytes; Ed25519 over the request bytes, whose magic is the
//    domain label; target is one of kRelayTargets; body is the inner body, empty for
//    "certificate"; challenge is the origin's receipt challenge of this attempt,
//    wire::kReceiptChallengeBytes, or empty for none. Version 1, still read, has no challenge.)
//
// The peer's route (AddRelayRoutes), POST /api/v1/relay/{target}, no user session:
//   - target not one of kRelayTargets, envelope does not parse, inner body over the cloud's
//     limit for the target                       -> 400 (IDS event malformed)
//   - certificate or signature does not verify (as a cloudlet certificate from the root, now),
//     the signed target is not the path's, sent_ms outside [now - max_age, now + max_skew]
//                                                -> 401 (IDS event forged_signature)
//   - origin not a configured peer               -> 403 (IDS event bad_certificate)
//   - otherwise the inner body is POSTed to {cloud}/api/v1/{target} with the signed challenge
//     as the header wire::kReceiptChallengeHeader ("certificate": GET
//     {cloud}/api/v1/certificate) and the cloud's status, content type and body are answered,
//     with the header X-MedMesh-Relayed: cloud, which tells the origin the answer is the cloud's
//     own and not the peer's. The cloud unreachable -> 503 (no such header).
// A replayed relay request within the window passes the same inner body again: the cloud's
// intake is idempotent (forward ids, device ids, certificates), so a replay changes nothing.
// The challenge is inside what the origin signs, so a peer cannot swap it for the one of an
// earlier attempt whose receipt it kept (wire/receipt.h).
// Counted: medmesh_cloudlet_relay_requests_total{target,outcome} and
// medmesh_cloudlet_relay_bytes_total (inner bytes passed on).
//
// The cloud's acknowledgements carry a receipt signed by the cloud's node key (wire/receipt.h):
// the origin drops an item only with a valid one, so a peer that answers 2xx without passing
// the item on (or with a forged receipt) keeps nothing from the cloud; the origin records it as
// a failed relay and an IDS event (forwarder.h).
// WARNING: a peer can still drop what it was asked to relay and answer an error; the origin
// then retries (through another peer, or directly later), so the cost is delay, not loss.
// Thread safety: pure functions; the route handler is thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "net/http_client.h"
#include "net/http_message.h"
#include "net/metrics.h"
#include "net/router.h"
#include "store/ids_event_log.h"
#include "wire/certificate.h"
#include "wire/receipt.h"

namespace medmesh::cloudlet {

inline constexpr std::array<std::string_view, 4> kRelayTargets = {"forward", "enrolments",
                                                                  "cloudlets", "certificate"};
inline constexpr std::string_view kRelayedHeader = "X-MedMesh-Relayed";
// The largest inner body per target: the cloud's own limits (cloud_service.cc).
std::size_t RelayBodyLimit(std::string_view target);
// The largest envelope the route reads.
std::size_t RelayEnvelopeLimit();

struct RelayRequest {
  std::string origin;  // the origin cloudlet's id (its certificate's subject)
  std::string target;  // one of kRelayTargets
  std::int64_t sent_ms = 0;
  Bytes body;
  // The receipt challenge of this attempt (wire/receipt.h); none for "certificate".
  std::optional<wire::ReceiptChallenge> challenge;
};

// Signs `request` with the origin's node key and wraps it with its certificate.
// kInvalidArgument for a bad origin id, an unknown target or a body over its limit.
Result<Bytes> SignRelayRequest(const RelayRequest& request, const crypto::Signer& signer,
                               ByteView certificate);

// The request a relaying peer sends the cloud at `cloud_url` for `request`: GET
// /api/v1/certificate, or POST /api/v1/{target} with the inner body and the challenge as the
// header wire::kReceiptChallengeHeader.
net::ClientRequest CloudRequestFor(std::string_view cloud_url, const RelayRequest& request);

struct OpenedRelayRequest {
  RelayRequest request;
  wire::VerifiedCertificate certificate;  // the origin's, verified against the root
};

// Parses (kInvalidArgument) and authenticates (AuthenticationFailed: certificate not a
// cloudlet's from `root` valid now, bad signature, origin not the certificate's subject) an
// envelope. Times are not checked here (the route does).
Result<OpenedRelayRequest> OpenRelayRequest(ByteView envelope, const crypto::SigningPublicKey& root,
                                            std::int64_t now_ms);

struct RelayRouteContext {
  crypto::SigningPublicKey root;
  std::string cloud_url;  // empty: every relay request is 503
  // Whether a node id is a configured peer (mesh.peers) this cloudlet relays for.
  std::function<bool(std::string_view origin)> is_peer;
  net::HttpClient& client;  // to the cloud; must outlive the router
  const Clock& clock;
  net::MetricsRegistry& metrics;
  // Records an IDS event of this cloudlet (no secrets in `detail`).
  std::function<void(store::IdsEventKind, const net::Request&, std::string detail)> record_ids;
  std::chrono::milliseconds max_age{std::chrono::minutes(5)};
  std::chrono::milliseconds max_skew{std::chrono::minutes(1)};
};

// POST /api/v1/relay/{target} (see the top of this file). The context's references must outlive
// the router.
void AddRelayRoutes(net::Router& router, RelayRouteContext context);

// A peer the forwarder may relay through.
struct RelayPeer {
  std::string id;
  std::string url;  // base URL
};

// The peers to relay through, in order: configured peers (never the cloud: the caller leaves it
// out) that are partners, most trusted first; then those with evidence whose trust is at least
// `floor` but that are not partners yet; then those with no evidence yet, in configured order
// (so that a first relay can happen at all). A peer whose trust is below `floor` (more lost
// relays than confirmed ones) is left out until its evidence fades. `ranked` is
// TrustService::Peers() (most trusted first; peers without evidence are absent).
struct RankedPeer {
  std::string id;
  double trust = 0;
  bool partner = false;
};

std::vector<RelayPeer> RelayCandidates(const std::vector<RelayPeer>& configured,
                                       const std::vector<RankedPeer>& ranked, double floor = 0.5);

// What the forwarder does about relaying (Forwarder::Relaying), for the operator
// (GET /api/v1/trust/peers).
struct RelayState {
  // True while rounds go through a peer: the cloud is found unreachable, its probe unanswered,
  // and the last round chose a peer.
  bool relaying = false;
  // The last relay round that tried an item; empty `peer` if none since the start.
  std::string peer;
  std::int64_t time_ms = 0;  // when it ended (Unix ms)
  std::size_t sent = 0;      // items the cloud acknowledged with a valid receipt
  std::size_t failed = 0;    // items that stay queued
  // "delivered" (no failure), "failed" (the peer did not pass the cloud's answer on) or
  // "bad_receipt" (it answered 2xx without a valid cloud receipt).
  std::string outcome;
};

}  // namespace medmesh::cloudlet
