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
// Thread safety: Authenticate from any thread; Poll from one thread at a time.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "accounts/authenticator.h"
#include "accounts/principal.h"
#include "accounts/revocation.h"
#include "accounts/session_token.h"
#include "core/clock.h"
#include "core/status.h"
#include "net/http_client.h"
#include "net/http_message.h"
#include "wire/certificate.h"

namespace medmesh::cloudlet {

class Forwarder;

struct SessionOptions {
  // How often the service polls the cloud's revocation list (part of the revocation bound).
  std::chrono::milliseconds poll_interval{std::chrono::seconds(10)};
  // Past this without a successful poll, tokens are refused (503): fail closed.
  std::chrono::milliseconds max_staleness{std::chrono::seconds(60)};
};

class CloudletSessions {
 public:
  // `forwarder`, `client` and `clock` must outlive this. `cloud_url` is the forwarder's.
  CloudletSessions(Forwarder& forwarder, net::HttpClient& client, std::string cloud_url,
                   const Clock& clock, SessionOptions options);
  ~CloudletSessions();
  CloudletSessions(const CloudletSessions&) = delete;
  CloudletSessions& operator=(const CloudletSessions&) = delete;

  // Takes the forwarder's current cloud certificate (rebuilding the verifier if it changed) and
  // brings the revocation set up to the cloud's head. Errors: those of
  // Forwarder::CloudCertificate and accounts::RevocationPoller::PollOnce.
  Status Poll();

  // The person behind the request (see the top of this file).
  Result<accounts::Principal> Authenticate(const net::Request& request) const;

 private:
  struct Current {
    wire::VerifiedCertificate certificate;
    accounts::TokenVerifier verifier;
  };
  std::shared_ptr<const Current> current() const;

  Forwarder& forwarder_;
  net::HttpClient& client_;
  const std::string cloud_url_;
  const Clock& clock_;
  accounts::RevocationSet revocations_;
  mutable std::mutex mu_;
  std::shared_ptr<const Current> current_;  // guarded by mu_; null until the first Poll
};

}  // namespace medmesh::cloudlet
