#include "accounts/authenticator.h"

#include <sodium.h>

#include "net/error_mapping.h"
#include "wire/model.h"

namespace medmesh::accounts {
namespace {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string CookieAttributes(std::chrono::seconds max_age, bool secure) {
  std::string a = "; Path=/; Max-Age=" + std::to_string(max_age.count()) + "; SameSite=Strict";
  if (secure) a += "; Secure";
  return a;
}

}  // namespace

Authenticator::Authenticator(const TokenVerifier& verifier, const RevocationChecker& revocations,
                             const Clock& clock)
    : verifier_(verifier), revocations_(revocations), clock_(clock) {}

Result<PresentedToken> PresentedTokenOf(const net::Request& request) {
  if (const auto authorization = request.Header("Authorization")) {
    constexpr std::string_view kScheme = "bearer ";
    if (authorization->size() <= kScheme.size() ||
        !net::EqualsIgnoreCase(authorization->substr(0, kScheme.size()), kScheme)) {
      return Unauthenticated("Authorization must be a Bearer session token");
    }
    return PresentedToken{Trim(authorization->substr(kScheme.size())), false};
  }
  auto cookie = RequestCookie(request, kSessionCookie);
  if (!cookie) return Unauthenticated("more than one session cookie");
  if (!cookie->has_value()) return Unauthenticated("no session: log in first");
  return PresentedToken{**cookie, true};
}

Result<Authenticated> Authenticator::Authenticate(const net::Request& request) const {
  MEDMESH_ASSIGN_OR_RETURN(const PresentedToken presented, PresentedTokenOf(request));
  const std::string_view token = presented.token;
  const bool via_cookie = presented.via_cookie;
  MEDMESH_ASSIGN_OR_RETURN(TokenClaims claims,
                           verifier_.Verify(token, wire::ToUnixMs(clock_.Now())));
  if (via_cookie && request.method != net::Method::kGet && request.method != net::Method::kHead) {
    const auto csrf = request.Header(kCsrfHeader);
    if (!csrf || !ConstantTimeEquals(*csrf, claims.csrf)) {
      return PermissionDenied("missing or wrong X-CSRF-Token for a cookie session");
    }
  }
  MEDMESH_ASSIGN_OR_RETURN(const bool revoked, revocations_.IsRevoked(claims.session_id));
  if (revoked) return Unauthenticated("session ended: log in again");
  Authenticated out{claims.ToPrincipal(via_cookie), std::move(claims)};
  return out;
}

Result<Principal> Authenticator::PrincipalOf(const net::Request& request) const {
  MEDMESH_ASSIGN_OR_RETURN(Authenticated a, Authenticate(request));
  return std::move(a.principal);
}

bool OffersCredential(const net::Request& request) {
  if (request.Header("Authorization")) return true;
  auto cookie = RequestCookie(request, kSessionCookie);
  return !cookie || cookie->has_value();
}

net::Response AuthenticationRefusal(const Error& error) {
  net::Response response = net::ErrorResponse(error);
  // Authenticate() is denied (rather than unauthenticated) only for the CSRF header.
  if (error.code() == ErrorCode::kPermissionDenied) net::AddReason(response, "csrf_required");
  if (response.status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  return response;
}

Result<std::optional<std::string_view>> RequestCookie(const net::Request& request,
                                                      std::string_view name) {
  std::optional<std::string_view> found;
  for (const auto& [header, value] : request.headers) {
    if (!net::EqualsIgnoreCase(header, "Cookie")) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t semi = rest.find(';');
      const std::string_view pair = Trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos || Trim(pair.substr(0, eq)) != name) continue;
      if (found) return InvalidArgument("cookie given twice");
      std::string_view v = Trim(pair.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      found = v;
    }
  }
  return found;
}

std::vector<std::string> SessionCookies(std::string_view token, std::string_view csrf,
                                        std::chrono::seconds max_age, bool secure) {
  return {std::string(kSessionCookie) + "=" + std::string(token) + "; HttpOnly" +
              CookieAttributes(max_age, secure),
          std::string(kCsrfCookie) + "=" + std::string(csrf) + CookieAttributes(max_age, secure)};
}

std::vector<std::string> ClearedSessionCookies(bool secure) {
  return {std::string(kSessionCookie) + "=; HttpOnly" +
              CookieAttributes(std::chrono::seconds(0), secure),
          std::string(kCsrfCookie) + "=" + CookieAttributes(std::chrono::seconds(0), secure)};
}

}  // namespace medmesh::accounts
