// The cloud's side of the node-to-node integrity calls (docs/integrity.md "Between nodes"):
//
//   GET /api/v1/cloudlets/{cloudlet_id}/deletions?after=N&limit=M   (a cloudlet, for itself)
//       the signed deletion-feed page (wire/deletion_feed.h) of that cloudlet after seq N,
//       application/octet-stream. The request must carry `Authorization: MedMesh-Node ...`
//       (wire/node_request.h) signed by the cloudlet `cloudlet_id` itself (a root-signed
//       certificate of role cloudlet with that subject, valid now): 401 otherwise, so a page,
//       which names patients, goes to no one else; each such refusal is an IDS auth_failure
//       event, as every refused credential is. 400 bad `after`/`limit`, 503 store.
//
// HttpCloudletCopySource: the CloudletCopySource that asks the enrolling cloudlet over HTTP
// (GET {url}/api/v1/copies/records/{device_id}/{record_id}, signed by this cloud's node key).
// A cloudlet's base URL comes from SetUrl (CloudOptions::cloudlet_urls at start); a cloudlet
// without one is kUnavailable. Reading batches: kNotFound (a cloudlet keeps no signed copy of
// them yet, docs/integrity.md "Not done").
// Thread safety: the route and FetchCopy are thread-safe; SetUrl may run concurrently.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "cloud/forward_intake.h"
#include "cloud/integrity_service.h"
#include "core/clock.h"
#include "crypto/signing.h"
#include "net/http_client.h"
#include "net/router.h"
#include "node/identity.h"

namespace medmesh::cloud {

inline constexpr std::size_t kDefaultDeletionPage = 100;

struct DeletionFeedRouteContext {
  const node::NodeIdentity& identity;  // the cloud's: its id, and the root that signs cloudlets
  const crypto::Signer& signer;        // the cloud's node key: signs the pages
  const Clock& clock;
  ForwardIntake& intake;  // records a refused node request as an IDS event (RecordRejection)
};

// Registers the deletion-feed route above; everything must outlive the router.
void AddDeletionFeedRoute(net::Router& router, IntegrityService& service,
                          DeletionFeedRouteContext context);

class HttpCloudletCopySource final : public CloudletCopySource {
 public:
  // `identity` (the cloud's) and `signer` (its node key) and `clock` must outlive the source.
  static Result<std::unique_ptr<HttpCloudletCopySource>> Create(
      const node::NodeIdentity& identity, const crypto::Signer& signer, const Clock& clock,
      net::ClientOptions client_options = {});

  void SetUrl(std::string_view cloudlet_id, std::string url);
  // The base URL of every cloudlet it knows, by cloudlet id (a copy; for the UI's mesh view).
  std::map<std::string, std::string, std::less<>> Urls() const;
  Result<Bytes> FetchCopy(std::string_view cloudlet_id, const ItemRef& item) override;

 private:
  HttpCloudletCopySource(const node::NodeIdentity& identity, const crypto::Signer& signer,
                         const Clock& clock, std::unique_ptr<net::HttpClient> client);
  const node::NodeIdentity& identity_;
  const crypto::Signer& signer_;
  const Clock& clock_;
  std::unique_ptr<net::HttpClient> client_;
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> urls_;
};

}  // namespace medmesh::cloud
