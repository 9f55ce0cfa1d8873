#include "accounts/revocation_poller.h"

#include "net/error_mapping.h"
#include "wire/model.h"

namespace medmesh::accounts {

RevocationPoller::RevocationPoller(net::HttpClient& client, std::string cloud_url,
                                   const wire::VerifiedCertificate& cloud, RevocationSet& set,
                                   const Clock& clock, std::chrono::milliseconds max_page_age)
    : client_(client),
      cloud_url_(std::move(cloud_url)),
      cloud_(cloud),
      set_(set),
      clock_(clock),
      max_page_age_(max_page_age) {}

Status RevocationPoller::PollOnce() {
  for (std::size_t page = 0; page < kMaxRevocationPagesPerPoll; ++page) {
    const std::uint64_t since = set_.since();
    MEDMESH_ASSIGN_OR_RETURN(
        net::Response response,
        client_.Get(cloud_url_ + "/api/v1/sessions/revocations?since=" + std::to_string(since)));
    if (response.status != 200) return net::ErrorFromResponse(response);
    MEDMESH_ASSIGN_OR_RETURN(
        SignedRevocationPage verified,
        VerifyRevocationPage(response.body, cloud_, wire::NowMs(clock_), max_page_age_));
    if (verified.since != since) return Unauthenticated("invalid revocation page");
    const std::uint64_t head = verified.head;
    MEDMESH_RETURN_IF_ERROR(set_.Apply(verified));
    if (set_.since() == head) {
      set_.Prune(wire::NowMs(clock_));
      return OkStatus();
    }
  }
  return Unavailable("the revocation list is longer than one poll reads: polling again");
}

}  // namespace medmesh::accounts
