// Authenticator: from an HTTP request to the Principal it acts for (docs/accounts.md
// "Cookies and CSRF").
//
//   - `Authorization: Bearer <token>` (API clients): the token alone; via_cookie = false.
//   - otherwise the `mm_session` cookie (browsers); via_cookie = true. A request that may
//     change state (any method but GET and HEAD) must then also carry `X-CSRF-Token` equal to
//     the token's csrf claim (compared in constant time); the page reads it from the
//     non-HttpOnly `mm_csrf` cookie, which another site cannot read.
// Then the token is verified (session_token.h) and its session checked against the
// RevocationChecker (the cloud's store, or a cloudlet's RevocationSet).
//
// Errors: kUnauthenticated (401) for no credentials, a malformed, forged, expired or revoked
// token, two session cookies, or an Authorization header of another scheme; kPermissionDenied
// (403) for a cookie request without the right CSRF header; kUnavailable (503) when
// revocation cannot be checked. Messages never quote the token.
// Thread safety: const and thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "accounts/principal.h"
#include "accounts/revocation.h"
#include "accounts/session_token.h"
#include "core/clock.h"
#include "core/status.h"
#include "net/http_message.h"

namespace medmesh::accounts {

inline constexpr std::string_view kSessionCookie = "mm_session";
inline constexpr std::string_view kCsrfCookie = "mm_csrf";
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

struct Authenticated {
  Principal principal;
  TokenClaims claims;
};

// The session token a request presents, as Authenticate() finds it (Bearer first, else the
// cookie), not yet verified. Errors: kUnauthenticated as Authenticate's for the same request.
struct PresentedToken {
  std::string_view token;  // a view into the request
  bool via_cookie = false;
};
Result<PresentedToken> PresentedTokenOf(const net::Request& request);

class Authenticator {
 public:
  // All three must outlive the authenticator.
  Authenticator(const TokenVerifier& verifier, const RevocationChecker& revocations,
                const Clock& clock);

  Result<Authenticated> Authenticate(const net::Request& request) const;
  Result<accounts::Principal> PrincipalOf(const net::Request& request) const;

 private:
  const TokenVerifier& verifier_;
  const RevocationChecker& revocations_;
  const Clock& clock_;
};

// The value of cookie `name` among the request's Cookie headers (RFC 6265 "name=value; ...").
// nullopt if absent; kInvalidArgument if it appears more than once.
Result<std::optional<std::string_view>> RequestCookie(const net::Request& request,
                                                      std::string_view name);

// Whether the request offers a credential at all: an Authorization header (of any scheme) or
// the session cookie (even twice). A route open to anyone that shows more to some callers
// authenticates such a request and refuses it when the credential is bad, rather than
// quietly answering as to nobody.
bool OffersCredential(const net::Request& request);

// The response for an Authenticate() error, the same on every route of every node: the error
// mapped as net/error_mapping.h says, plus `WWW-Authenticate: Bearer` on a 401 and
// `"reason": "csrf_required"` on the 403 of a cookie request without the right CSRF header.
net::Response AuthenticationRefusal(const Error& error);

// Set-Cookie values for a new session: mm_session (HttpOnly) and mm_csrf (readable by the
// page), both SameSite=Strict, Path=/, Max-Age=`max_age`, and Secure when `secure` (TLS).
std::vector<std::string> SessionCookies(std::string_view token, std::string_view csrf,
                                        std::chrono::seconds max_age, bool secure);
// Set-Cookie values that delete both cookies (Max-Age=0).
std::vector<std::string> ClearedSessionCookies(bool secure);

}  // namespace medmesh::accounts
