// The cloudlet's side of the node-to-node integrity calls over HTTP (docs/integrity.md
// "Between nodes"; the domain parts are integrity.h):
//
//   GET /api/v1/copies/records/{device_id}/{record_id}   (the cloud, restoring a record)
//       the record's original signed upload, re-forwarded and sealed to the calling cloud's
//       KEM key (SealRecordCopy), application/octet-stream. The request must carry
//       `Authorization: MedMesh-Node ...` (wire/node_request.h) signed by a cloud (a
//       certificate of role cloud from the pinned root, valid now) for this cloudlet: 401
//       otherwise, recorded as an IDS auth_failure event. 404 if the record is not (or no
//       longer) kept here, 400 bad ids, 503 store.
//
// DeletionFeedPoller: one poll of the cloud's deletion feed: fetches and verifies the cloud's
// certificate (GET {cloud}/api/v1/certificate, role cloud from the root), then asks
// GET {cloud}/api/v1/cloudlets/{this id}/deletions?after=<cursor> with a signed node request,
// and applies each page (DeletionFollower::PollOnce), page after page while they are full.
// Thread safety: the route is thread-safe; one PollOnce at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "cloudlet/ingest.h"
#include "cloudlet/integrity.h"
#include "core/clock.h"
#include "core/random.h"
#include "net/http_client.h"
#include "net/router.h"
#include "node/identity.h"

namespace medmesh::cloudlet {

inline constexpr std::size_t kDeletionPageLimit = 100;
inline constexpr std::size_t kMaxDeletionPagesPerPoll = 10;

struct RecordCopyRouteContext {
  const node::NodeIdentity& identity;  // this cloudlet's: its id and the root it pins
  RecordCopyContext copy;
  const Clock& clock;
  IngestPipeline& pipeline;  // records a refused node request as an IDS event (RecordRejection)
};

// Registers the copy route; everything in `context` must outlive the router.
void AddRecordCopyRoute(net::Router& router, RecordCopyRouteContext context);

struct DeletionFeedPollerContext {
  const node::NodeIdentity& identity;  // this cloudlet's
  const crypto::Signer& signer;        // its node key
  std::string cloud_url;               // the cloud's base URL
  DeletionFollower& follower;
  const Clock& clock;
};

class DeletionFeedPoller {
 public:
  static Result<std::unique_ptr<DeletionFeedPoller>> Create(DeletionFeedPollerContext context,
                                                            net::ClientOptions client_options);

  // Patients shredded. kUnavailable if the cloud cannot be reached or refuses; verification
  // and store errors as DeletionFollower::PollOnce.
  Result<std::size_t> PollOnce();

 private:
  DeletionFeedPoller(DeletionFeedPollerContext context, std::unique_ptr<net::HttpClient> client);
  DeletionFeedPollerContext ctx_;
  std::unique_ptr<net::HttpClient> client_;
};

}  // namespace medmesh::cloudlet
