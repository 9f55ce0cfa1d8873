// Session tokens: what the cloud (the identity provider) hands a person at login, and what every
// node verifies offline (ADR 0013, docs/accounts.md "Tokens").
//
//   mm1.<base64url(claims)>.<base64url(Ed25519 signature)>
//
// claims is canonical JSON (nlohmann's dump of an object: keys sorted, no spaces):
//   {"cid":..., "csrf":..., "exp":ms, "iat":ms, "iss":cloud node id, "pid":..., "role":...,
//    "sid":"ses_...", "sub":"acc_..."}
// with "pid" only for patients and "cid" only for operators. The signature is by the cloud's
// node key over "MedMesh session token v1\n" followed by the token text before the second '.',
// so it cannot be confused with anything else the node key signs.
//
// Verification (TokenVerifier) is strict: at most kMaxTokenBytes, the exact prefix, canonical
// base64url, the signature first (nothing of an unsigned payload is parsed), then canonical JSON
// with exactly the expected members, the issuer equal to the pinned cloud certificate's subject,
// iat <= exp <= iat + kMaxTokenLifetime, and now < exp (with kClockSkew allowed for iat). Every
// failure is kUnauthenticated "invalid session token", except an authentic expired token, which
// is kUnauthenticated "session expired". Revocation is checked by the caller (authenticator.h).
// Thread safety: TokenIssuer and TokenVerifier are const and thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "accounts/principal.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "wire/certificate.h"

namespace medmesh::accounts {

inline constexpr std::chrono::minutes kMaxTokenLifetime{15};
inline constexpr std::chrono::seconds kClockSkew{60};
inline constexpr std::size_t kMaxTokenBytes = 2048;
inline constexpr std::string_view kTokenPrefix = "mm1.";

struct TokenClaims {
  std::string session_id;  // sid
  std::string account_id;  // sub
  Role role = Role::kPatient;
  std::string patient_id;   // pid, patients only
  std::string cloudlet_id;  // cid, operators only
  std::int64_t issued_ms = 0;
  std::int64_t expires_ms = 0;
  std::string issuer;  // iss: the cloud's node id
  std::string csrf;    // the session's CSRF value (base64url of 16 random bytes)
  bool operator==(const TokenClaims&) const = default;

  Principal ToPrincipal(bool via_cookie) const;
};

class TokenIssuer {
 public:
  // `signer` is the cloud's node key; `issuer` its node id (the subject of its certificate).
  TokenIssuer(std::unique_ptr<crypto::Signer> signer, std::string issuer);
  const std::string& issuer() const { return issuer_; }
  // The token for `claims` (claims.issuer is replaced by issuer()). kInvalidArgument for
  // claims a verifier would refuse (bad ids, role fields, times).
  Result<std::string> Issue(TokenClaims claims) const;

 private:
  std::unique_ptr<crypto::Signer> signer_;
  std::string issuer_;
};

class TokenVerifier {
 public:
  // `cloud` is the cloud's certificate, verified against the pinned root (role kCloud).
  explicit TokenVerifier(const wire::VerifiedCertificate& cloud);
  // The claims of an authentic, unexpired token (see the top of this file).
  Result<TokenClaims> Verify(std::string_view token, std::int64_t now_ms) const;
  const std::string& issuer() const { return issuer_; }

 private:
  std::unique_ptr<crypto::Verifier> verifier_;
  std::string issuer_;
};

}  // namespace medmesh::accounts
