#include "cloudlet/relay.h"

#include <algorithm>
#include <utility>

#include "core/log.h"
#include "net/error_mapping.h"
#include "wire/envelope.h"
#include "wire/model.h"
#include "wire/node_envelope.h"

namespace medmesh::cloudlet {
namespace {

constexpr std::string_view kRequestMagic = "MMRLYQ";
constexpr std::string_view kEnvelopeMagic = "MMRLYE";
constexpr std::uint8_t kEnvelopeVersion = 1;
constexpr std::uint8_t kRequestVersion1 = 1;  // without a challenge; still read
constexpr std::uint8_t kRequestVersion = 2;
constexpr std::size_t kSmallBodyLimit = 16 * 1024;  // the cloud's, for certificates, enrolments

bool IsTarget(std::string_view target) {
  return std::find(kRelayTargets.begin(), kRelayTargets.end(), target) != kRelayTargets.end();
}

Status CheckRequest(const RelayRequest& request) {
  if (!wire::IsValidId(request.origin)) return InvalidArgument("relay: bad origin id");
  if (!IsTarget(request.target)) return InvalidArgument("relay: unknown target");
  if (request.body.size() > RelayBodyLimit(request.target)) {
    return InvalidArgument("relay: body over the limit of its target");
  }
  return OkStatus();
}

Bytes EncodeRequest(const RelayRequest& request) {
  Bytes out;
  AppendBytes(out, AsBytes(kRequestMagic));
  AppendU8(out, kRequestVersion);
  wire::AppendLengthPrefixed(out, AsBytes(request.origin));
  wire::AppendLengthPrefixed(out, AsBytes(request.target));
  AppendU64Le(out, static_cast<std::uint64_t>(request.sent_ms));
  wire::AppendLengthPrefixed(out, request.body);
  wire::AppendLengthPrefixed(out, request.challenge ? ByteView(*request.challenge) : ByteView());
  return out;
}

Result<RelayRequest> DecodeRequest(ByteView encoded) {
  const Error bad = InvalidArgument("not a relay request");
  ByteReader r(encoded);
  auto magic = r.ReadBytes(kRequestMagic.size());
  auto version = r.ReadU8();
  if (!magic || AsStringView(*magic) != kRequestMagic || !version ||
      (*version != kRequestVersion1 && *version != kRequestVersion)) {
    return bad;
  }
  auto origin = wire::ReadLengthPrefixed(r, 64);
  auto target = wire::ReadLengthPrefixed(r, 32);
  auto sent = r.ReadU64Le();
  auto body = wire::ReadLengthPrefixed(r, wire::kMaxForwardBytes);
  if (!origin || !target || !sent || !body) return bad;
  RelayRequest request{std::string(AsStringView(*origin)), std::string(AsStringView(*target)),
                       static_cast<std::int64_t>(*sent), Bytes(body->begin(), body->end()),
                       std::nullopt};
  if (*version == kRequestVersion) {
    auto challenge = wire::ReadLengthPrefixed(r, wire::kReceiptChallengeBytes);
    if (!challenge) return bad;
    if (challenge->size() == wire::kReceiptChallengeBytes) {
      request.challenge.emplace();
      std::copy(challenge->begin(), challenge->end(), request.challenge->begin());
    } else if (!challenge->empty()) {
      return bad;
    }
  }
  if (r.remaining() != 0) return bad;
  if (!CheckRequest(request)) return bad;
  return request;
}

}  // namespace

std::size_t RelayBodyLimit(std::string_view target) {
  if (target == "forward") return wire::kMaxForwardBytes;
  if (target == "certificate") return 0;
  return kSmallBodyLimit;
}

std::size_t RelayEnvelopeLimit() {
  return wire::kMaxForwardBytes + wire::kMaxCertificateBytes + 512;
}

Result<Bytes> SignRelayRequest(const RelayRequest& request, const crypto::Signer& signer,
                               ByteView certificate) {
  MEDMESH_RETURN_IF_ERROR(CheckRequest(request));
  return wire::SealNodeEnvelope(kEnvelopeMagic, kEnvelopeVersion, EncodeRequest(request), signer,
                                certificate);
}

net::ClientRequest CloudRequestFor(std::string_view cloud_url, const RelayRequest& request) {
  net::ClientRequest out;
  out.url = std::string(cloud_url) + "/api/v1/" + request.target;
  if (request.target == "certificate") return out;
  out.method = net::Method::kPost;
  out.body = std::string(AsStringView(request.body));
  out.content_type = "application/octet-stream";
  if (request.challenge) {
    out.headers.emplace_back(std::string(wire::kReceiptChallengeHeader),
                             HexEncode(*request.challenge));
  }
  return out;
}

Result<OpenedRelayRequest> OpenRelayRequest(ByteView envelope, const crypto::SigningPublicKey& root,
                                            std::int64_t now_ms) {
  const Error bad = InvalidArgument("not a relay request envelope");
  if (envelope.size() > RelayEnvelopeLimit()) return bad;
  const auto parts = wire::SplitNodeEnvelope(envelope, kEnvelopeMagic, kEnvelopeVersion,
                                             wire::kMaxForwardBytes + 256);
  if (!parts) return bad;
  MEDMESH_ASSIGN_OR_RETURN(RelayRequest request, DecodeRequest(parts->message));
  MEDMESH_ASSIGN_OR_RETURN(
      wire::VerifiedCertificate verified,
      wire::VerifyNodeEnvelope(*parts, root, {wire::CertificateRole::kCloudlet}, request.origin,
                               now_ms));
  return OpenedRelayRequest{std::move(request), std::move(verified)};
}

void AddRelayRoutes(net::Router& router, RelayRouteContext context) {
  auto ctx = std::make_shared<RelayRouteContext>(std::move(context));
  net::CounterFamily& requests = ctx->metrics.AddCounter(
      "medmesh_cloudlet_relay_requests_total",
      "Relay requests from peer cloudlets, by target and outcome (relayed, or why refused).",
      {"target", "outcome"});
  net::CounterFamily& bytes = ctx->metrics.AddCounter(
      "medmesh_cloudlet_relay_bytes_total", "Inner bytes passed on to the cloud for peers.", {});
  router.Post(
      "/api/v1/relay/{target}",
      [ctx, &requests, &bytes](const net::Request& r) -> Result<net::Response> {
        const std::string target(r.PathParam("target").value_or(""));
        const std::string label = IsTarget(target) ? target : "unknown";
        const auto refuse = [&](store::IdsEventKind kind, Error error, std::string_view outcome) {
          requests.WithLabels({label, outcome}).Increment();
          ctx->record_ids(kind, r, "relay: " + std::string(outcome));
          return net::ErrorResponse(error);
        };
        if (!IsTarget(target)) {
          return refuse(store::IdsEventKind::kMalformed,
                        InvalidArgument("target must be one of forward, enrolments, cloudlets, "
                                        "certificate"),
                        "malformed");
        }
        const std::int64_t now_ms = wire::ToUnixMs(ctx->clock.Now());
        auto opened = OpenRelayRequest(r.body, ctx->root, now_ms);
        if (!opened) {
          if (opened.error().code() == ErrorCode::kUnauthenticated) {
            return refuse(store::IdsEventKind::kForgedSignature, crypto::AuthenticationFailed(),
                          "forged");
          }
          return refuse(store::IdsEventKind::kMalformed,
                        InvalidArgument("body: not a relay request envelope"), "malformed");
        }
        const RelayRequest& request = opened->request;
        if (request.target != target || request.sent_ms < now_ms - ctx->max_age.count() ||
            request.sent_ms > now_ms + ctx->max_skew.count()) {
          return refuse(store::IdsEventKind::kForgedSignature, crypto::AuthenticationFailed(),
                        "forged");
        }
        if (!ctx->is_peer(request.origin)) {
          return refuse(store::IdsEventKind::kBadCertificate,
                        PermissionDenied("this cloudlet does not relay for that cloudlet"),
                        "not_a_peer");
        }
        if (ctx->cloud_url.empty()) {
          requests.WithLabels({label, "no_cloud"}).Increment();
          return net::ErrorResponse(Unavailable("this cloudlet has no cloud to relay to"));
        }
        auto answer = ctx->client.Send(CloudRequestFor(ctx->cloud_url, request));
        if (!answer) {
          requests.WithLabels({label, "cloud_unreachable"}).Increment();
          log::Warn("cloudlet_relay_cloud_unreachable", {{"target", target}});
          return net::ErrorResponse(Unavailable("the cloud did not answer the relay"));
        }
        requests.WithLabels({label, "relayed"}).Increment();
        bytes.WithLabels({}).Increment(static_cast<double>(request.body.size()));
        log::Info("cloudlet_relayed",
                  {{"origin", request.origin}, {"target", target}, {"status", answer->status}});
        net::Response response;
        response.status = answer->status;
        response.content_type =
            answer->content_type.empty() ? "application/octet-stream" : answer->content_type;
        response.body = std::move(answer->body);
        response.headers.emplace_back(std::string(kRelayedHeader), "cloud");
        return response;
      },
      {.body_limit_bytes = RelayEnvelopeLimit()});
}

std::vector<RelayPeer> RelayCandidates(const std::vector<RelayPeer>& configured,
                                       const std::vector<RankedPeer>& ranked, double floor) {
  std::vector<RelayPeer> partners;
  std::vector<RelayPeer> untried;
  const auto find = [&](std::string_view id) -> const RelayPeer* {
    for (const RelayPeer& p : configured) {
      if (p.id == id) return &p;
    }
    return nullptr;
  };
  for (const RankedPeer& r : ranked) {  // most trusted first
    const RelayPeer* peer = find(r.id);
    if (peer == nullptr || r.trust < floor) continue;
    if (r.partner) partners.push_back(*peer);
  }
  for (const RelayPeer& p : configured) {
    const bool known = std::any_of(ranked.begin(), ranked.end(),
                                   [&](const RankedPeer& r) { return r.id == p.id; });
    if (!known) untried.push_back(p);
  }
  // Peers with some evidence, trust at or above the floor but not yet partners, come last but
  // one: they have not failed more than they served.
  std::vector<RelayPeer> middle;
  for (const RankedPeer& r : ranked) {
    const RelayPeer* peer = find(r.id);
    if (peer != nullptr && r.trust >= floor && !r.partner) middle.push_back(*peer);
  }
  partners.insert(partners.end(), middle.begin(), middle.end());
  partners.insert(partners.end(), untried.begin(), untried.end());
  return partners;
}

}  // namespace medmesh::cloudlet
