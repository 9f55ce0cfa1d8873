// CloudletSessions: how a cloudlet knows who is calling (docs/accounts.md "At a cloudlet").
//
// The cloud is the identity provider; a cloudlet verifies its session tokens offline:
//   - the TokenVerifier is built from the cloud's certificate that the forwarder fetches and
//     verifies against the pinned root (Forwarder::CloudCertificate), rebuilt when the
//     forwarder holds a renewed one;
//   - revocations come from GET {cloud}/api/v1/sessions/revocations, polled by Poll() (the
//     service runs it every poll_interval on a thread of its own; tests call it directly) into a
//     RevocationSet that fails closed when it was not brought up to date within max_staleness.
// Authenticate() is accounts::Authenticator over both (bearer or cookie plus CSRF).
//
// Bound: a session revoked at the cloud (logout, password change, disabled account) stops
// working here within poll_interval while polls succeed, never later than max_staleness (after
// which every token is refused with 503 until a poll succeeds), and never later than the
// token's expiry (15 minutes after issue). Defaults: 10 s and 60 s.
//
// Errors of Authenticate: those of accounts::Authenticator; kUnavailable (503) until the first
// successful Poll() (no cloud certificate yet, or no revocation list yet).
//
// The session routes of a cloudlet (AddSessionRoutes; docs/accounts.md "At a cloudlet"), so a
// cloudlet's pages can log in on a host of their own:
//   POST   /api/v1/session  log in: the e-mail and password are relayed to the cloud's
//          POST /api/v1/cloudlets/{this cloudlet}/sessions with a request signed by this
//          cloudlet's node key (wire/node_request.h) and the person's address, so the cloud's
//          throttles, IDS events and audit entries are the person's. The answer is the cloud's
//          login answer (the same JSON, the same refusals: 401 "invalid_credentials", 429 with
//          Retry-After, 403 for an account not approved), and on success the same mm_session
//          (HttpOnly) and mm_csrf cookies, for this cloudlet's origin. The token is verified
//          here before it is handed on. A failed login is also an IDS event here (auth_failure;
//          rate_limited for a lock-out). 503 when the cloud cannot be reached or refuses this
//          cloudlet.
//   GET    /api/v1/session  who am I: the token verified offline (as Authenticate), answered
//          from its claims (account id, role, patient or cloudlet id, expiry, csrf) plus the
//          display name and e-mail the cloud gave at a login relayed here, else asked once of
//          the cloud's GET /api/v1/session (left out if the cloud cannot be reached).
//   DELETE /api/v1/session  log out: authenticated here (a cookie needs the CSRF header), then
//          relayed to the cloud's DELETE /api/v1/session with the token, so the revocation
//          reaches every node; this cloudlet refuses the session at once (before its next
//          poll), and clears the cookies. 503 if the cloud cannot be reached (the session
//          stays valid, and the cookies are kept).
// Thread safety: Authenticate and the routes from any thread; Poll from one thread at a time.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "accounts/account_reference.h"
#include "accounts/authenticator.h"
#include "accounts/principal.h"
#include "accounts/revocation.h"
#include "accounts/session_token.h"
#include "core/clock.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "net/http_client.h"
#include "net/http_message.h"
#include "net/router.h"
#include "node/identity.h"
#include "store/ids_event_log.h"
#include "wire/certificate.h"

namespace medmesh::cloudlet {

class Forwarder;

struct SessionOptions {
  // How often the service polls the cloud's revocation list (part of the revocation bound).
  std::chrono::milliseconds poll_interval{std::chrono::seconds(10)};
  // Past this without a successful poll, tokens are refused (503): fail closed.
  std::chrono::milliseconds max_staleness{std::chrono::seconds(60)};
};

// Records a refused credential or login as an IDS event of this cloudlet (no secrets in
// `detail`); `account_ref` is the login's account reference ("" when none is known).
using SessionIdsRecorder = std::function<void(store::IdsEventKind kind, const net::Request& request,
                                              std::string detail, std::string account_ref)>;

class CloudletSessions {
 public:
  // `forwarder`, `client`, `clock`, `identity` and `signer` (this cloudlet's node key, which
  // signs the relayed logins) must outlive this. `cloud_url` is the forwarder's.
  CloudletSessions(Forwarder& forwarder, net::HttpClient& client, std::string cloud_url,
                   const Clock& clock, SessionOptions options, const node::NodeIdentity& identity,
                   const crypto::Signer& signer);
  ~CloudletSessions();
  CloudletSessions(const CloudletSessions&) = delete;
  CloudletSessions& operator=(const CloudletSessions&) = delete;

  // Takes the forwarder's current cloud certificate (rebuilding the verifier if it changed) and
  // brings the revocation set up to the cloud's head. Errors: those of
  // Forwarder::CloudCertificate and accounts::RevocationPoller::PollOnce.
  Status Poll();

  // The person behind the request (see the top of this file).
  Result<accounts::Principal> Authenticate(const net::Request& request) const;
  // The same, with the token's claims; a session logged out through this cloudlet is refused
  // at once (kUnauthenticated "session ended: log in again").
  Result<accounts::Authenticated> AuthenticateWithClaims(const net::Request& request) const;

  // Makes LogIn name the login's account reference (accounts/account_reference.h, under this
  // cloudlet's own key) in its IDS events, and ask `guard->gate` (this cloudlet's IDS decisions
  // on accounts) before relaying: a refused login is answered here with
  // accounts::AccountRefusalResponse (429) and an IDS event rate_limited, and never reaches the
  // cloud. Null: neither. Call before the routes serve; `guard` must outlive this.
  void SetAccountGuard(const accounts::AccountGuard* guard) { guard_ = guard; }

  // The three routes above (`request` is theirs; `secure` adds Secure to the cookies, for TLS).
  net::Response LogIn(const net::Request& request, bool secure,
                      const SessionIdsRecorder& record) const;
  net::Response WhoAmI(const net::Request& request, const SessionIdsRecorder& record) const;
  net::Response LogOut(const net::Request& request, bool secure,
                       const SessionIdsRecorder& record) const;

 private:
  struct Current {
    wire::VerifiedCertificate certificate;
    accounts::TokenVerifier verifier;
  };
  // What a token does not say: the account's names, as the cloud gave them.
  struct Names {
    std::string display_name;
    std::string email;
    std::int64_t expires_ms = 0;  // the session's; forgotten after
  };
  std::shared_ptr<const Current> current() const;
  void Remember(const accounts::TokenClaims& claims, Names names) const;
  // The names of `who`'s session, from memory or the cloud (nullopt if it cannot say);
  // kUnauthenticated when the cloud answers that the session has ended.
  Result<std::optional<Names>> NamesOf(const accounts::Authenticated& who,
                                       std::string_view token) const;
  void MarkEnded(const accounts::TokenClaims& claims) const;
  void Prune(std::int64_t now_ms) const;
  net::Response Refusal(const net::Request& request, const Error& error,
                        const SessionIdsRecorder& record) const;

  const accounts::AccountGuard* guard_ = nullptr;
  Forwarder& forwarder_;
  net::HttpClient& client_;
  const std::string cloud_url_;
  const Clock& clock_;
  const node::NodeIdentity& identity_;
  const crypto::Signer& signer_;
  accounts::RevocationSet revocations_;
  mutable std::mutex mu_;
  std::shared_ptr<const Current> current_;  // guarded by mu_; null until the first Poll
  // Sessions ended through this cloudlet (sid -> expiry) and the names of sessions seen here
  // (sid -> names), both bounded by kMaxSessionsKept and forgotten when the token expires.
  mutable std::map<std::string, std::int64_t, std::less<>> ended_;  // guarded by mu_
  mutable std::map<std::string, Names, std::less<>> names_;         // guarded by mu_
};

// The most sessions whose names (or logout) a cloudlet keeps in memory at once; past it the
// oldest-keyed are forgotten (names are then asked of the cloud again; an ended session is then
// refused from the next revocation poll instead of at once).
inline constexpr std::size_t kMaxSessionsKept = 10'000;

// Adds POST, GET and DELETE /api/v1/session (above). `sessions` null (no cloud configured):
// logins are 503 and the other two 401, as every session route of such a cloudlet.
void AddSessionRoutes(net::Router& router, const CloudletSessions* sessions, bool secure_cookies,
                      SessionIdsRecorder record);

}  // namespace medmesh::cloudlet
