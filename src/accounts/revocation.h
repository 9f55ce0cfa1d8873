// Revocation of session tokens across nodes (docs/accounts.md "Revocation").
//
// The cloud gives every revoked session a seq in one sequence (account_store.h) and serves
// "revocations since N" as a page signed by its node key, so the page may travel over any
// channel and be checked offline against the pinned cloud certificate:
//
//   {"payload": base64url(canonical JSON), "signature": base64url(Ed25519)}
//   payload = {"head":H, "issued_ms":T, "revocations":[{"exp":ms,"seq":n,"sid":"ses_..."}...],
//              "since":N}
//   signature over "MedMesh revocations v1\n" + the payload text.
//
// A cloudlet keeps a RevocationSet: it applies each verified page and answers IsRevoked from
// memory. The set fails closed: if it has not been brought up to date for max_staleness,
// IsRevoked answers kUnavailable (so a cloudlet cut off from the cloud stops accepting tokens
// rather than accepting revoked ones). Revoked sessions are forgotten after their tokens
// expire. The bound on a revocation reaching a cloudlet is its poll interval (while polls
// succeed), and never more than max_staleness.
// Thread safety: RevocationSet is thread-safe; the functions are reentrant.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "accounts/account_store.h"
#include "core/clock.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "wire/certificate.h"

namespace medmesh::accounts {

// What the authenticator asks after a token verified.
class RevocationChecker {
 public:
  virtual ~RevocationChecker() = default;
  // True if the session was revoked (or, at the cloud, is unknown). kUnavailable when the
  // answer cannot be known now.
  [[nodiscard]] virtual Result<bool> IsRevoked(std::string_view session_id) const = 0;
};

inline constexpr std::size_t kMaxRevocationsPerPage = 1000;

struct SignedRevocationPage {
  std::uint64_t since = 0;
  std::uint64_t head = 0;
  std::int64_t issued_ms = 0;
  std::vector<Revocation> revocations;
};

// The JSON body the cloud serves (see the top of this file).
std::string SignRevocationPage(const SignedRevocationPage& page, const crypto::Signer& signer);
// The page of an authentic body signed by `cloud`'s key, issued no more than `max_age` before
// `now_ms` (and not in the future beyond kClockSkew). kUnauthenticated for a forged, malformed
// or stale page (one message, never quoting the body).
Result<SignedRevocationPage> VerifyRevocationPage(std::string_view body,
                                                  const wire::VerifiedCertificate& cloud,
                                                  std::int64_t now_ms,
                                                  std::chrono::milliseconds max_age);

class RevocationSet final : public RevocationChecker {
 public:
  RevocationSet(const Clock& clock, std::chrono::milliseconds max_staleness);

  // The seq to ask for next ("since").
  std::uint64_t since() const;
  // Applies a verified page: records its revocations, advances since() (to the head if the
  // page was not full, else to its last seq) and marks the set fresh as of the page's issue
  // time. A page for another `since` is refused (kFailedPrecondition) and changes nothing.
  Status Apply(const SignedRevocationPage& page);
  // Forgets revocations whose tokens have expired.
  void Prune(std::int64_t now_ms);
  std::size_t size() const;

  Result<bool> IsRevoked(std::string_view session_id) const override;

 private:
  const Clock& clock_;
  const std::chrono::milliseconds max_staleness_;
  mutable std::mutex mu_;
  std::map<std::string, std::int64_t, std::less<>> revoked_;  // sid -> expires_ms; guarded
  std::uint64_t since_ = 0;                                   // guarded by mu_
  std::optional<std::int64_t> fresh_as_of_ms_;                // guarded by mu_
};

}  // namespace medmesh::accounts
