#include "cloudlet/integrity_http.h"

#include <utility>

#include "core/log.h"
#include "crypto/hybrid_seal.h"
#include "net/error_mapping.h"
#include "wire/model.h"
#include "wire/node_request.h"

namespace medmesh::cloudlet {

void AddRecordCopyRoute(net::Router& router, RecordCopyRouteContext context) {
  router.Get(
      "/api/v1/copies/records/{device_id}/{record_id}",
      [context](const net::Request& r) -> Result<net::Response> {
        auto caller = wire::VerifyNodeRequest(r.Header("Authorization").value_or(""),
                                              context.identity.root.key,
                                              wire::CertificateRole::kCloud, context.identity.id(),
                                              r.path, wire::ToUnixMs(context.clock.Now()));
        if (!caller) {
          // What was wrong, never the header itself.
          context.pipeline.RecordRejection(
              store::IdsEventKind::kAuthFailure, r.peer_address, {},
              "node request refused on " + std::string(r.route) + ": " + caller.error().message());
          net::Response denied = net::ErrorResponse(caller.error());
          denied.headers.emplace_back("WWW-Authenticate", std::string(wire::kNodeRequestScheme));
          return denied;
        }
        if (!caller->certificate().kem_key) {
          return FailedPrecondition("the cloud's certificate has no KEM key");
        }
        r.MarkPeerAuthenticated();
        const std::unique_ptr<crypto::HybridSealer> cloud =
            crypto::NewHybridSealer(*caller->certificate().kem_key, context.copy.random);
        MEDMESH_ASSIGN_OR_RETURN(const Bytes copy,
                                 SealRecordCopy(context.copy, r.PathParam("device_id").value_or(""),
                                                r.PathParam("record_id").value_or(""), *cloud));
        return net::Response::Binary(copy);
      },
      {.body_limit_bytes = 0});
}

Result<std::unique_ptr<DeletionFeedPoller>> DeletionFeedPoller::Create(
    DeletionFeedPollerContext context, net::ClientOptions client_options) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpClient> client,
                           net::HttpClient::Create(std::move(client_options)));
  return std::unique_ptr<DeletionFeedPoller>(
      new DeletionFeedPoller(std::move(context), std::move(client)));
}

DeletionFeedPoller::DeletionFeedPoller(DeletionFeedPollerContext context,
                                       std::unique_ptr<net::HttpClient> client)
    : ctx_(std::move(context)), client_(std::move(client)) {}

Result<std::size_t> DeletionFeedPoller::PollOnce() {
  auto cert_response = client_->Get(ctx_.cloud_url + "/api/v1/certificate");
  if (!cert_response || cert_response->status != 200) {
    return Unavailable("the cloud's certificate cannot be fetched");
  }
  MEDMESH_ASSIGN_OR_RETURN(
      const wire::VerifiedCertificate cloud,
      wire::VerifyCertificate(AsBytes(cert_response->body), ctx_.identity.root.key,
                              wire::CertificateRole::kCloud, wire::ToUnixMs(ctx_.clock.Now())));
  const std::string path = "/api/v1/cloudlets/" + ctx_.identity.id() + "/deletions";
  const auto fetch = [&](std::uint64_t after) -> Result<Bytes> {
    MEDMESH_ASSIGN_OR_RETURN(std::string authorization,
                             wire::SignNodeRequest(ctx_.signer, ctx_.identity.certificate.encoded(),
                                                   cloud.certificate().subject_id, path,
                                                   wire::ToUnixMs(ctx_.clock.Now())));
    net::ClientRequest request;
    request.url = ctx_.cloud_url + path + "?after=" + std::to_string(after) +
                  "&limit=" + std::to_string(kDeletionPageLimit);
    request.headers.emplace_back("Authorization", std::move(authorization));
    auto response = client_->Send(request);
    if (!response) return Unavailable("the cloud cannot be reached");
    if (response->status != 200) {
      log::Warn("cloudlet_deletion_feed_refused", {{"status", response->status}});
      return Unavailable("the cloud refused the deletion feed request");
    }
    const ByteView body = AsBytes(response->body);
    return Bytes(body.begin(), body.end());
  };
  std::size_t total = 0;
  for (std::size_t page = 0; page < kMaxDeletionPagesPerPoll; ++page) {
    MEDMESH_ASSIGN_OR_RETURN(const std::size_t shredded, ctx_.follower.PollOnce(fetch, cloud));
    total += shredded;
    if (shredded < kDeletionPageLimit) break;
  }
  if (total > 0) log::Info("cloudlet_deletions_applied", {{"patients", total}});
  return total;
}

}  // namespace medmesh::cloudlet
