#include "cloud/cloudlet_link.h"

#include <charconv>
#include <utility>

#include "core/log.h"
#include "net/error_mapping.h"
#include "wire/deletion_feed.h"
#include "wire/model.h"
#include "wire/node_request.h"

namespace medmesh::cloud {
namespace {

Result<std::uint64_t> QueryNumber(const net::Request& r, std::string_view name,
                                  std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
  std::uint64_t value = fallback;
  for (const auto& [key, text] : r.query) {
    if (key != name) continue;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
      return InvalidArgument("query parameter '" + std::string(name) + "' is out of range");
    }
  }
  return value;
}

// A refused node request: an IDS auth_failure event (what was wrong, never the header itself)
// and 401 naming the scheme.
net::Response Unauthorized(const net::Request& r, ForwardIntake& intake, const Error& error) {
  intake.RecordRejection(
      store::IdsEventKind::kAuthFailure, r.peer_address,
      "node request refused on " + std::string(r.route) + ": " + error.message());
  net::Response denied = net::ErrorResponse(error);
  denied.headers.emplace_back("WWW-Authenticate", std::string(wire::kNodeRequestScheme));
  return denied;
}

}  // namespace

void AddDeletionFeedRoute(net::Router& router, IntegrityService& service,
                          DeletionFeedRouteContext context) {
  router.Get("/api/v1/cloudlets/{cloudlet_id}/deletions",
             [&service, context](const net::Request& r) -> Result<net::Response> {
               const std::string cloudlet_id(r.PathParam("cloudlet_id").value_or(""));
               auto caller = wire::VerifyNodeRequest(
                   r.Header("Authorization").value_or(""), context.identity.root.key,
                   wire::CertificateRole::kCloudlet, context.identity.id(), r.path,
                   wire::ToUnixMs(context.clock.Now()));
               if (!caller) return Unauthorized(r, context.intake, caller.error());
               if (caller->certificate().subject_id != cloudlet_id) {
                 // Another cloudlet's feed: the same answer as no credentials.
                 return Unauthorized(r, context.intake,
                                     Unauthenticated("node request: not this cloudlet's feed"));
               }
               r.MarkPeerAuthenticated();
               MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t after,
                                        QueryNumber(r, "after", 0, 0, INT64_MAX));
               MEDMESH_ASSIGN_OR_RETURN(
                   const std::uint64_t limit,
                   QueryNumber(r, "limit", kDefaultDeletionPage, 1, wire::kMaxDeletionNotices));
               MEDMESH_ASSIGN_OR_RETURN(
                   const Bytes page,
                   service.SignedDeletionFeed(context.identity.id(), context.signer, cloudlet_id,
                                              after, static_cast<std::size_t>(limit)));
               return net::Response::Binary(page);
             },
             {.body_limit_bytes = 0});
}

Result<std::unique_ptr<HttpCloudletCopySource>> HttpCloudletCopySource::Create(
    const node::NodeIdentity& identity, const crypto::Signer& signer, const Clock& clock,
    net::ClientOptions client_options) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<net::HttpClient> client,
                           net::HttpClient::Create(std::move(client_options)));
  return std::unique_ptr<HttpCloudletCopySource>(
      new HttpCloudletCopySource(identity, signer, clock, std::move(client)));
}

HttpCloudletCopySource::HttpCloudletCopySource(const node::NodeIdentity& identity,
                                               const crypto::Signer& signer, const Clock& clock,
                                               std::unique_ptr<net::HttpClient> client)
    : identity_(identity), signer_(signer), clock_(clock), client_(std::move(client)) {}

void HttpCloudletCopySource::SetUrl(std::string_view cloudlet_id, std::string url) {
  std::lock_guard lock(mu_);
  urls_.insert_or_assign(std::string(cloudlet_id), std::move(url));
}

std::map<std::string, std::string, std::less<>> HttpCloudletCopySource::Urls() const {
  std::lock_guard lock(mu_);
  return urls_;
}

Result<Bytes> HttpCloudletCopySource::FetchCopy(std::string_view cloudlet_id, const ItemRef& item) {
  if (item.kind != ItemKind::kRecord) {
    return NotFound("the cloudlet keeps no signed copy of reading batches");
  }
  if (!wire::IsValidId(cloudlet_id) || !wire::IsValidId(item.device_id) ||
      !wire::IsValidId(item.item_id)) {
    return InvalidArgument("bad cloudlet, device or record id");
  }
  std::string base;
  {
    std::lock_guard lock(mu_);
    const auto it = urls_.find(cloudlet_id);
    if (it == urls_.end()) return Unavailable("no address is configured for the cloudlet");
    base = it->second;
  }
  const std::string path = "/api/v1/copies/records/" + item.device_id + "/" + item.item_id;
  MEDMESH_ASSIGN_OR_RETURN(std::string authorization,
                           wire::SignNodeRequest(signer_, identity_.certificate.encoded(),
                                                 cloudlet_id, path, wire::ToUnixMs(clock_.Now())));
  net::ClientRequest request;
  request.url = base + path;
  request.headers.emplace_back("Authorization", std::move(authorization));
  auto response = client_->Send(request);
  if (!response) return Unavailable("the cloudlet cannot be reached");
  if (response->status == 200) {
    const ByteView body = AsBytes(response->body);
    return Bytes(body.begin(), body.end());
  }
  if (response->status == 404) return NotFound("the cloudlet does not hold the record");
  log::Warn("cloudlet_copy_refused", {{"status", response->status}});
  return Unavailable("the cloudlet refused the copy request");
}

}  // namespace medmesh::cloud
