#include "cloudlet/cloudlet_sessions.h"

#include <algorithm>
#include <utility>

#include "accounts/revocation_poller.h"
#include "cloudlet/forwarder.h"

namespace medmesh::cloudlet {

CloudletSessions::CloudletSessions(Forwarder& forwarder, net::HttpClient& client,
                                   std::string cloud_url, const Clock& clock,
                                   SessionOptions options)
    : forwarder_(forwarder),
      client_(client),
      cloud_url_(std::move(cloud_url)),
      clock_(clock),
      revocations_(clock, options.max_staleness) {}

CloudletSessions::~CloudletSessions() = default;

std::shared_ptr<const CloudletSessions::Current> CloudletSessions::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

Status CloudletSessions::Poll() {
  MEDMESH_ASSIGN_OR_RETURN(wire::VerifiedCertificate certificate, forwarder_.CloudCertificate());
  std::shared_ptr<const Current> now = current();
  const ByteView held = now ? now->certificate.encoded() : ByteView();
  const ByteView fetched = certificate.encoded();
  if (!now || !std::equal(held.begin(), held.end(), fetched.begin(), fetched.end())) {
    accounts::TokenVerifier verifier(certificate);
    now = std::make_shared<const Current>(Current{std::move(certificate), std::move(verifier)});
    std::lock_guard lock(mu_);
    current_ = now;
  }
  accounts::RevocationPoller poller(client_, cloud_url_, now->certificate, revocations_, clock_);
  return poller.PollOnce();
}

Result<accounts::Principal> CloudletSessions::Authenticate(const net::Request& request) const {
  const std::shared_ptr<const Current> now = current();
  if (!now) {
    // No credentials at all is 401 whether or not the cloud was reached.
    auto cookie = accounts::RequestCookie(request, accounts::kSessionCookie);
    if (!request.Header("Authorization") && cookie && !cookie->has_value()) {
      return Unauthenticated("no session: log in first");
    }
    return Unavailable("sessions cannot be checked yet: the cloud was not reached");
  }
  const accounts::Authenticator authenticator(now->verifier, revocations_, clock_);
  return authenticator.PrincipalOf(request);
}

}  // namespace medmesh::cloudlet
