// Sharing across cloudlets (issue 10; docs/trust_system.md "Sharing across cloudlets", ADR 0047):
// the node-authenticated channel between a cloudlet and its partner cloudlets over which patients
// find similar patients elsewhere, message them and ask for their data.
//
// Every question and every answer is node-signed by the cloudlet that sends it and travels with
// that cloudlet's root-issued certificate, the way relay requests (relay.h) and IDS mesh reports
// (ids/mesh_report.h) are:
//
//   message  = "MMSHRM" ‖ u8 version 1 ‖ str origin ‖ str audience ‖ str kind ‖ i64 sent_ms ‖
//              str nonce ‖ str reply_to ‖ str body
//   envelope = "MMSHRE" ‖ u8 version 1 ‖ str certificate ‖ str message ‖ 64-byte signature
//   (str = u32 little-endian length ‖ bytes; Ed25519 over the message bytes, whose magic is the
//    domain label; kind is one of kShareKinds for a question, "answer" for an answer; nonce is 16
//    random bytes, hex; reply_to is empty in a question and, in an answer, the hex BLAKE2b-256 of
//    the question's envelope, so an answer cannot be moved to another question; body is JSON)
//
// The answering side (AddShareRoutes), POST /api/v1/share/{kind}, no user session:
//   - kind not one of kShareKinds, envelope does not parse, body not JSON -> 400 (IDS malformed)
//   - certificate or signature does not verify, the signed kind is not the path's, the audience is
//     not this cloudlet, sent_ms outside [now - max_age, now + max_skew], a nonce seen before
//                                                   -> 401 (IDS forged_signature)
//   - origin not a configured peer                  -> 403 (IDS bad_certificate)
//   - otherwise the handler's answer (a status and a JSON body), signed by this cloudlet, as
//     200 application/octet-stream. The handler decides (the owner's cloudlet decides).
// The asking side (ShareClient::Ask) verifies the answer: a certificate of the peert it asked
// (subject == the peer's id) from the pinned root, the signature, audience == this cloudlet,
// kind "answer", reply_to == the question's hash. Anything else is a forged answer.
//
// The sign/open pair (SignShareMessage, OpenShareMessage) is the only place the envelope is made
// and checked, so it can be repointed at a shared node-signed envelope helper without touching
// the callers.
// Thread safety: pure functions; ShareClient and the route are thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "net/http_client.h"
#include "net/http_message.h"
#include "net/router.h"
#include "store/ids_event_log.h"
#include "wire/certificate.h"

namespace medmesh::cloudlet {

// What one cloudlet may ask another: similar patients for a query profile, a message to a
// handle, an access request for a handle's category, the data of a granted request, the status
// of requests it made, and to forget a handle of the asker's whose patient deleted their account
// (ADR 0048; share_forget.h).
inline constexpr std::array<std::string_view, 6> kShareKinds = {"similar", "message", "request",
                                                                "data",    "status",  "forget"};
inline constexpr std::string_view kShareAnswerKind = "answer";
inline constexpr std::size_t kMaxShareBodyBytes = 256 * 1024;

struct ShareMessage {
  std::string origin;    // the signing cloudlet's id (its certificate's subject)
  std::string audience;  // the cloudlet it is meant for
  std::string kind;      // one of kShareKinds, or kShareAnswerKind
  std::int64_t sent_ms = 0;
  std::string nonce;     // 32 hex digits
  std::string reply_to;  // "" in a question; the question envelope's hash (hex) in an answer
  std::string body;      // JSON
};

// Signs `message` with the origin's node key and wraps it with its certificate.
// kInvalidArgument for bad ids, an unknown kind or a body over kMaxShareBodyBytes.
Result<Bytes> SignShareMessage(const ShareMessage& message, const crypto::Signer& signer,
                               ByteView certificate);

struct OpenedShareMessage {
  ShareMessage message;
  wire::VerifiedCertificate certificate;  // the origin's, verified against the root
};

// Parses (kInvalidArgument) and authenticates (AuthenticationFailed: certificate not a cloudlet's
// from `root` valid at `now_ms`, bad signature, origin not the certificate's subject). Times,
// audience and nonces are the caller's to check.
Result<OpenedShareMessage> OpenShareMessage(ByteView envelope, const crypto::SigningPublicKey& root,
                                            std::int64_t now_ms);

// The question envelope's hash, as reply_to names it.
std::string ShareQuestionHash(ByteView envelope);

// A peer cloudlet this cloudlet shares with (a configured mesh peer, the cloud excepted).
struct SharePeer {
  std::string id;
  std::string url;  // base URL
};

// This cloudlet's node identity as the channel needs it.
struct ShareIdentity {
  std::string id;
  crypto::SigningPublicKey root;
  Bytes certificate;  // encoded, root-issued
  const crypto::Signer& signer;
};

// What the peer's handler answered, verified.
struct ShareAnswer {
  int status = 0;
  std::string body;  // JSON
};

enum class ShareFailure : std::uint8_t {
  kUnreachable,  // no connection, a timeout, or a refusal of the channel itself (4xx/5xx unsigned)
  kForged,       // a 200 whose envelope does not verify as the peer's answer to this question
};

class ShareClient {
 public:
  ShareClient(ShareIdentity identity, net::HttpClient& client, const Clock& clock, Random& random)
      : identity_(std::move(identity)), client_(client), clock_(clock), random_(random) {}

  struct Outcome {
    std::optional<ShareAnswer> answer;  // set when verified
    ShareFailure failure = ShareFailure::kUnreachable;
    std::string detail;  // why, for logs and IDS events (no secrets)
  };
  // Asks `peer` one question and verifies its answer.
  Outcome Ask(const SharePeer& peer, std::string_view kind, std::string body) const;

  const std::string& self_id() const { return identity_.id; }

 private:
  ShareIdentity identity_;
  net::HttpClient& client_;
  const Clock& clock_;
  Random& random_;
};

struct ShareRouteContext {
  ShareIdentity identity;
  // Whether a node id is a configured peer this cloudlet answers.
  std::function<bool(std::string_view origin)> is_peer;
  // Answers a verified question from `origin` (the handler decides; its refusals are answers).
  std::function<ShareAnswer(std::string_view origin, std::string_view kind, const std::string& body,
                            const net::Request& r)>
      handler;
  const Clock& clock;
  Random& random;
  // Records an IDS event of this cloudlet (no secrets in `detail`).
  std::function<void(store::IdsEventKind, const net::Request&, std::string detail)> record_ids;
  std::chrono::milliseconds max_age{std::chrono::minutes(5)};
  std::chrono::milliseconds max_skew{std::chrono::minutes(1)};
};

// POST /api/v1/share/{kind} (see the top of this file). The context's references must outlive
// the router.
void AddShareRoutes(net::Router& router, ShareRouteContext context);

}  // namespace medmesh::cloudlet
