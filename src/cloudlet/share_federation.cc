#include "cloudlet/share_federation.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "core/log.h"
#include "core/lower_hex.h"
#include "crypto/keyed_hash.h"
#include "net/error_mapping.h"
#include "wire/model.h"
#include "wire/node_envelope.h"

namespace medmesh::cloudlet {
namespace {

constexpr std::string_view kMessageMagic = "MMSHRM";
constexpr std::string_view kEnvelopeMagic = "MMSHRE";
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kNonceHexBytes = 32;
constexpr std::size_t kHashHexBytes = 64;
// Nonces remembered per route (each lives max_age + max_skew; far more than a few partners ask).
constexpr std::size_t kMaxRememberedNonces = 50'000;

bool IsShareKind(std::string_view kind) {
  return std::find(kShareKinds.begin(), kShareKinds.end(), kind) != kShareKinds.end();
}

Status CheckMessage(const ShareMessage& m) {
  if (!wire::IsValidId(m.origin) || !wire::IsValidId(m.audience)) {
    return InvalidArgument("share: bad origin or audience id");
  }
  if (!IsShareKind(m.kind) && m.kind != kShareAnswerKind) {
    return InvalidArgument("share: unknown kind");
  }
  if (m.nonce.size() != kNonceHexBytes || !IsLowerHex(m.nonce)) {
    return InvalidArgument("share: bad nonce");
  }
  const bool answer = m.kind == kShareAnswerKind;
  if (answer ? (m.reply_to.size() != kHashHexBytes || !IsLowerHex(m.reply_to))
             : !m.reply_to.empty()) {
    return InvalidArgument("share: bad reply_to");
  }
  if (m.body.size() > kMaxShareBodyBytes) return InvalidArgument("share: body too large");
  return OkStatus();
}

Bytes EncodeMessage(const ShareMessage& m) {
  Bytes out;
  AppendBytes(out, AsBytes(kMessageMagic));
  AppendU8(out, kVersion);
  wire::AppendLengthPrefixed(out, AsBytes(m.origin));
  wire::AppendLengthPrefixed(out, AsBytes(m.audience));
  wire::AppendLengthPrefixed(out, AsBytes(m.kind));
  AppendU64Le(out, static_cast<std::uint64_t>(m.sent_ms));
  wire::AppendLengthPrefixed(out, AsBytes(m.nonce));
  wire::AppendLengthPrefixed(out, AsBytes(m.reply_to));
  wire::AppendLengthPrefixed(out, AsBytes(m.body));
  return out;
}

Result<ShareMessage> DecodeMessage(ByteView encoded) {
  const Error bad = InvalidArgument("not a share message");
  ByteReader r(encoded);
  auto magic = r.ReadBytes(kMessageMagic.size());
  auto version = r.ReadU8();
  if (!magic || AsStringView(*magic) != kMessageMagic || !version || *version != kVersion) {
    return bad;
  }
  auto origin = wire::ReadLengthPrefixed(r, wire::kMaxIdBytes);
  auto audience = wire::ReadLengthPrefixed(r, wire::kMaxIdBytes);
  auto kind = wire::ReadLengthPrefixed(r, 16);
  auto sent = r.ReadU64Le();
  auto nonce = wire::ReadLengthPrefixed(r, kNonceHexBytes);
  auto reply_to = wire::ReadLengthPrefixed(r, kHashHexBytes);
  auto body = wire::ReadLengthPrefixed(r, kMaxShareBodyBytes);
  if (!origin || !audience || !kind || !sent || !nonce || !reply_to || !body ||
      r.remaining() != 0) {
    return bad;
  }
  ShareMessage m{std::string(AsStringView(*origin)), std::string(AsStringView(*audience)),
                 std::string(AsStringView(*kind)),   static_cast<std::int64_t>(*sent),
                 std::string(AsStringView(*nonce)),  std::string(AsStringView(*reply_to)),
                 std::string(AsStringView(*body))};
  if (!CheckMessage(m)) return bad;
  return m;
}

std::size_t EnvelopeLimit() { return kMaxShareBodyBytes + wire::kMaxCertificateBytes + 1024; }

std::string NewNonce(Random& random) { return HexEncode(random.Generate(kNonceHexBytes / 2)); }

// Nonces seen within the window: a replayed question is refused.
class NonceMemory {
 public:
  // False if (origin, nonce) was seen before.
  bool Remember(const std::string& origin, const std::string& nonce, std::int64_t expires_ms,
                std::int64_t now_ms) {
    std::lock_guard lock(mu_);
    while (!order_.empty() &&
           (order_.front().first <= now_ms || order_.size() >= kMaxRememberedNonces)) {
      seen_.erase(order_.front().second);
      order_.pop_front();
    }
    std::string key = origin + "/" + nonce;
    if (!seen_.insert(key).second) return false;
    order_.emplace_back(expires_ms, std::move(key));
    return true;
  }

 private:
  std::mutex mu_;
  std::set<std::string> seen_;
  std::deque<std::pair<std::int64_t, std::string>> order_;  // by expiry (times only grow)
};

}  // namespace

Result<Bytes> SignShareMessage(const ShareMessage& message, const crypto::Signer& signer,
                               ByteView certificate) {
  MEDMESH_RETURN_IF_ERROR(CheckMessage(message));
  if (certificate.size() > wire::kMaxCertificateBytes) {
    return InvalidArgument("share: certificate too large");
  }
  const Bytes encoded = EncodeMessage(message);
  Bytes out;
  AppendBytes(out, AsBytes(kEnvelopeMagic));
  AppendU8(out, kVersion);
  wire::AppendLengthPrefixed(out, certificate);
  wire::AppendLengthPrefixed(out, encoded);
  AppendBytes(out, signer.Sign(encoded));
  return out;
}

Result<OpenedShareMessage> OpenShareMessage(ByteView envelope, const crypto::SigningPublicKey& root,
                                            std::int64_t now_ms) {
  const Error bad = InvalidArgument("not a share envelope");
  if (envelope.size() > EnvelopeLimit()) return bad;
  ByteReader r(envelope);
  auto magic = r.ReadBytes(kEnvelopeMagic.size());
  auto version = r.ReadU8();
  if (!magic || AsStringView(*magic) != kEnvelopeMagic || !version || *version != kVersion) {
    return bad;
  }
  auto certificate = wire::ReadLengthPrefixed(r, wire::kMaxCertificateBytes);
  auto encoded = wire::ReadLengthPrefixed(r, kMaxShareBodyBytes + 1024);
  auto signature = r.ReadBytes(crypto::Signer::kSignatureBytes);
  if (!certificate || !encoded || !signature || r.remaining() != 0) return bad;
  MEDMESH_ASSIGN_OR_RETURN(ShareMessage message, DecodeMessage(*encoded));
  auto verified =
      wire::VerifyCertificate(*certificate, root, wire::CertificateRole::kCloudlet, now_ms);
  if (!verified || verified->certificate().subject_id != message.origin) {
    return crypto::AuthenticationFailed();
  }
  if (!crypto::NewEd25519Verifier(verified->certificate().signing_key)
           ->Verify(*encoded, *signature)) {
    return crypto::AuthenticationFailed();
  }
  return OpenedShareMessage{std::move(message), std::move(*verified)};
}

std::string ShareQuestionHash(ByteView envelope) {
  const crypto::Digest256 digest = crypto::Blake2b256(envelope);
  return HexEncode(ByteView(digest.data(), digest.size()));
}

ShareClient::Outcome ShareClient::Ask(const SharePeer& peer, std::string_view kind,
                                      std::string body) const {
  Outcome out;
  const std::int64_t now_ms = wire::ToUnixMs(clock_.Now());
  ShareMessage question{identity_.id,      peer.id,       std::string(kind), now_ms,
                        NewNonce(random_), std::string(), std::move(body)};
  auto envelope = SignShareMessage(question, identity_.signer, identity_.certificate);
  if (!envelope) {
    out.detail = "share: question not signed: " + envelope.error().message();
    return out;
  }
  auto response = client_.Post(peer.url + "/api/v1/share/" + std::string(kind),
                               std::string(AsStringView(*envelope)), "application/octet-stream");
  if (!response) {
    out.detail = "share: peer unreachable";
    return out;
  }
  if (response->status != 200) {
    // The channel's own refusal (the peer does not answer us, or our question was refused):
    // unsigned by design, and no shared data.
    out.detail = "share: peer refused the question (" + std::to_string(response->status) + ")";
    return out;
  }
  out.failure = ShareFailure::kForged;
  auto opened =
      OpenShareMessage(AsBytes(response->body), identity_.root, wire::ToUnixMs(clock_.Now()));
  if (!opened) {
    out.detail = "share: answer not signed by a cloudlet";
    return out;
  }
  const ShareMessage& a = opened->message;
  if (a.origin != peer.id || a.audience != identity_.id || a.kind != kShareAnswerKind ||
      a.reply_to != ShareQuestionHash(*envelope)) {
    out.detail = "share: answer not the asked peer's answer to this question";
    return out;
  }
  const nlohmann::json parsed = nlohmann::json::parse(a.body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("status") || !parsed["status"].is_number_integer() ||
      !parsed.contains("body") || !parsed["body"].is_object()) {
    out.detail = "share: answer body is not {status, body}";
    return out;
  }
  out.answer = ShareAnswer{parsed["status"].get<int>(), parsed["body"].dump()};
  return out;
}

void AddShareRoutes(net::Router& router, ShareRouteContext context) {
  struct Shared {
    explicit Shared(ShareRouteContext c) : ctx(std::move(c)) {}
    ShareRouteContext ctx;
    NonceMemory nonces;
  };
  auto shared = std::make_shared<Shared>(std::move(context));
  router.Post(
      "/api/v1/share/{kind}",
      [shared](const net::Request& r) -> Result<net::Response> {
        const ShareRouteContext& ctx = shared->ctx;
        const std::string kind(r.PathParam("kind").value_or(""));
        const auto refuse = [&](store::IdsEventKind ids_kind, Error error, std::string_view why) {
          ctx.record_ids(ids_kind, r, "share: " + std::string(why));
          return net::ErrorResponse(error);
        };
        if (!IsShareKind(kind)) {
          return refuse(store::IdsEventKind::kMalformed,
                        InvalidArgument("kind must be one of similar, message, request, data, "
                                        "status, forget"),
                        "unknown kind");
        }
        const std::int64_t now_ms = wire::ToUnixMs(ctx.clock.Now());
        auto opened = OpenShareMessage(r.body, ctx.identity.root, now_ms);
        if (!opened) {
          if (opened.error().code() == ErrorCode::kUnauthenticated) {
            return refuse(store::IdsEventKind::kForgedSignature, crypto::AuthenticationFailed(),
                          "forged question");
          }
          return refuse(store::IdsEventKind::kMalformed,
                        InvalidArgument("body: not a share envelope"), "malformed question");
        }
        const ShareMessage& q = opened->message;
        if (q.kind != kind || q.audience != ctx.identity.id ||
            q.sent_ms < now_ms - ctx.max_age.count() || q.sent_ms > now_ms + ctx.max_skew.count()) {
          return refuse(store::IdsEventKind::kForgedSignature, crypto::AuthenticationFailed(),
                        "question for another kind, cloudlet or time");
        }
        if (!ctx.is_peer(q.origin)) {
          return refuse(store::IdsEventKind::kBadCertificate,
                        PermissionDenied("this cloudlet does not share with that cloudlet"),
                        "not a peer");
        }
        if (!shared->nonces.Remember(q.origin, q.nonce,
                                     q.sent_ms + ctx.max_age.count() + ctx.max_skew.count(),
                                     now_ms)) {
          return refuse(store::IdsEventKind::kForgedSignature, crypto::AuthenticationFailed(),
                        "replayed question");
        }
        const nlohmann::json body = nlohmann::json::parse(q.body, nullptr, false);
        if (!body.is_object()) {
          return refuse(store::IdsEventKind::kMalformed,
                        InvalidArgument("the question's body must be a JSON object"),
                        "question body not JSON");
        }
        const ShareAnswer answer = ctx.handler(q.origin, kind, q.body, r);
        nlohmann::json wrapped{{"status", answer.status},
                               {"body", nlohmann::json::parse(answer.body, nullptr, false)}};
        ShareMessage reply{ctx.identity.id,
                           q.origin,
                           std::string(kShareAnswerKind),
                           wire::ToUnixMs(ctx.clock.Now()),
                           NewNonce(ctx.random),
                           ShareQuestionHash(r.body),
                           wrapped.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
        MEDMESH_ASSIGN_OR_RETURN(Bytes signed_answer, SignShareMessage(reply, ctx.identity.signer,
                                                                       ctx.identity.certificate));
        log::Info("cloudlet_share_answered", {{"kind", kind}, {"status", answer.status}});
        return net::Response::Binary(signed_answer);
      },
      {.body_limit_bytes = EnvelopeLimit()});
}

}  // namespace medmesh::cloudlet
