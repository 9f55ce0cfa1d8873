#include "accounts/authenticator.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "accounts/encoding.h"
#include "node/test_support.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "wire/model.h"

namespace medmesh::accounts {
namespace {

class SetChecker final : public RevocationChecker {
 public:
  Result<bool> IsRevoked(std::string_view sid) const override {
    if (down) return Unavailable("down");
    return revoked.contains(std::string(sid));
  }
  std::set<std::string> revoked;
  bool down = false;
};

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cloud = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-1");
    ASSERT_TRUE(cloud);
    cloud_.emplace(std::move(*cloud));
    issuer_.emplace(crypto::NewEd25519Signer(cloud_->signing_key.Clone()), "cloud-1");
    verifier_.emplace(cloud_->certificate);
    clock_.emplace(std::chrono::system_clock::now());
    auth_.emplace(*verifier_, checker_, *clock_);
    const std::int64_t now = wire::NowMs(*clock_);
    claims_.session_id = NewId("ses_", random_);
    claims_.account_id = NewId("acc_", random_);
    claims_.role = Role::kDoctor;
    claims_.issued_ms = now;
    claims_.expires_ms = now + 15 * 60 * 1000;
    claims_.csrf = Base64UrlEncode(random_.Generate(16));
    token_ = issuer_->Issue(claims_).value();
  }

  net::Request Req(net::Method method,
                   std::vector<std::pair<std::string_view, std::string_view>> headers) {
    net::Request r;
    r.method = method;
    r.headers = std::move(headers);
    return r;
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path()};
  std::optional<node::NodeIdentity> cloud_;
  std::optional<TokenIssuer> issuer_;
  std::optional<TokenVerifier> verifier_;
  std::optional<testing::FakeClock> clock_;
  SetChecker checker_;
  std::optional<Authenticator> auth_;
  testing::DeterministicRandom random_{13};
  TokenClaims claims_;
  std::string token_;
};

TEST_F(AuthenticatorTest, BearerTokensNeedNoCsrf) {
  const std::string header = "Bearer " + token_;
  auto p = auth_->PrincipalOf(Req(net::Method::kPost, {{"authorization", header}}));
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_TRUE(p->is(Role::kDoctor));
  EXPECT_FALSE(p->via_cookie);
  EXPECT_EQ(p->session_id, claims_.session_id);
}

TEST_F(AuthenticatorTest, CookieRequestsThatChangeStateNeedTheCsrfHeader) {
  const std::string cookie = "theme=dark; mm_session=" + token_ + "; other=1";
  auto get = auth_->PrincipalOf(Req(net::Method::kGet, {{"Cookie", cookie}}));
  ASSERT_TRUE(get);
  EXPECT_TRUE(get->via_cookie);
  auto post = auth_->PrincipalOf(Req(net::Method::kPost, {{"Cookie", cookie}}));
  ASSERT_FALSE(post);
  EXPECT_EQ(post.error().code(), ErrorCode::kPermissionDenied);
  const std::string wrong = Base64UrlEncode(random_.Generate(16));
  EXPECT_EQ(
      auth_->PrincipalOf(Req(net::Method::kDelete, {{"Cookie", cookie}, {"X-CSRF-Token", wrong}}))
          .error()
          .code(),
      ErrorCode::kPermissionDenied);
  EXPECT_TRUE(auth_->PrincipalOf(
      Req(net::Method::kPost, {{"Cookie", cookie}, {"x-csrf-token", claims_.csrf}})));
}

TEST_F(AuthenticatorTest, MissingForgedExpiredAndRevokedAreUnauthenticated) {
  auto code = [&](net::Request r) {
    auto p = auth_->PrincipalOf(r);
    return p ? ErrorCode::kInternal : p.error().code();
  };
  EXPECT_EQ(code(Req(net::Method::kGet, {})), ErrorCode::kUnauthenticated);
  EXPECT_EQ(code(Req(net::Method::kGet, {{"Authorization", "Basic abc"}})),
            ErrorCode::kUnauthenticated);
  std::string forged = "Bearer " + token_;
  forged[20] = forged[20] == 'x' ? 'y' : 'x';
  EXPECT_EQ(code(Req(net::Method::kGet, {{"Authorization", forged}})), ErrorCode::kUnauthenticated);
  const std::string twice = "mm_session=" + token_ + "; mm_session=" + token_;
  EXPECT_EQ(code(Req(net::Method::kGet, {{"Cookie", twice}})), ErrorCode::kUnauthenticated);
  const std::string bearer = "Bearer " + token_;
  checker_.down = true;
  EXPECT_EQ(code(Req(net::Method::kGet, {{"Authorization", bearer}})), ErrorCode::kUnavailable);
  checker_.down = false;
  checker_.revoked.insert(claims_.session_id);
  EXPECT_EQ(code(Req(net::Method::kGet, {{"Authorization", bearer}})), ErrorCode::kUnauthenticated);
  checker_.revoked.clear();
  clock_->Advance(std::chrono::minutes(15));
  EXPECT_EQ(code(Req(net::Method::kGet, {{"Authorization", bearer}})), ErrorCode::kUnauthenticated);
}

TEST_F(AuthenticatorTest, CookieHeadersCarryTheSecurityAttributes) {
  const auto set = SessionCookies("tok", "csrf", std::chrono::seconds(900), true);
  ASSERT_EQ(set.size(), 2u);
  EXPECT_EQ(set[0], "mm_session=tok; HttpOnly; Path=/; Max-Age=900; SameSite=Strict; Secure");
  EXPECT_EQ(set[1], "mm_csrf=csrf; Path=/; Max-Age=900; SameSite=Strict; Secure");
  const auto plain = SessionCookies("tok", "csrf", std::chrono::seconds(900), false);
  EXPECT_EQ(plain[0].find("Secure"), std::string::npos);
  const auto cleared = ClearedSessionCookies(false);
  EXPECT_EQ(cleared[0], "mm_session=; HttpOnly; Path=/; Max-Age=0; SameSite=Strict");
  EXPECT_EQ(cleared[1], "mm_csrf=; Path=/; Max-Age=0; SameSite=Strict");
}

TEST_F(AuthenticatorTest, RefusalsAreAnsweredAlikeOnEveryRoute) {
  const std::string cookie = "mm_session=" + token_;
  auto csrf = auth_->PrincipalOf(Req(net::Method::kPost, {{"Cookie", cookie}}));
  ASSERT_FALSE(csrf);
  const net::Response forbidden = AuthenticationRefusal(csrf.error());
  EXPECT_EQ(forbidden.status, 403);
  const auto body = nlohmann::json::parse(forbidden.body);
  EXPECT_EQ(body["error"], "permission_denied");
  EXPECT_EQ(body["reason"], "csrf_required");
  EXPECT_FALSE(forbidden.Header("WWW-Authenticate").has_value());

  auto none = auth_->PrincipalOf(Req(net::Method::kGet, {}));
  ASSERT_FALSE(none);
  const net::Response unauthenticated = AuthenticationRefusal(none.error());
  EXPECT_EQ(unauthenticated.status, 401);
  EXPECT_EQ(unauthenticated.Header("WWW-Authenticate"), "Bearer");
  EXPECT_FALSE(nlohmann::json::parse(unauthenticated.body).contains("reason"));

  checker_.down = true;
  auto down = auth_->PrincipalOf(Req(net::Method::kGet, {{"Authorization", "Bearer " + token_}}));
  ASSERT_FALSE(down);
  const net::Response unavailable = AuthenticationRefusal(down.error());
  EXPECT_EQ(unavailable.status, 503);
  EXPECT_FALSE(unavailable.Header("WWW-Authenticate").has_value());
}

}  // namespace
}  // namespace medmesh::accounts
