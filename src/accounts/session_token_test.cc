#include "accounts/session_token.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "accounts/encoding.h"
#include "node/test_support.h"
#include "testing/fake_random.h"
#include "wire/model.h"

namespace medmesh::accounts {
namespace {

class SessionTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cloud = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-1");
    ASSERT_TRUE(cloud);
    cloud_.emplace(std::move(*cloud));
    issuer_.emplace(crypto::NewEd25519Signer(cloud_->signing_key.Clone()), "cloud-1");
    verifier_.emplace(cloud_->certificate);
    now_ = wire::ToUnixMs(std::chrono::system_clock::now());
  }

  TokenClaims Claims(Role role = Role::kPatient) {
    TokenClaims c;
    c.session_id = NewId("ses_", random_);
    c.account_id = NewId("acc_", random_);
    c.role = role;
    if (role == Role::kPatient) c.patient_id = NewId("pat_", random_);
    if (role == Role::kOperator) c.cloudlet_id = "cloudlet-1";
    c.issued_ms = now_;
    c.expires_ms = now_ + 15 * 60 * 1000;
    c.csrf = Base64UrlEncode(random_.Generate(16));
    return c;
  }

  // A token with `payload` as its claims text, signed by the cloud key.
  std::string SignRaw(std::string_view payload) {
    auto signer = crypto::NewEd25519Signer(cloud_->signing_key.Clone());
    std::string text = "mm1." + Base64UrlEncode(AsBytes(payload));
    Bytes message = Bytes{AsBytes("MedMesh session token v1\n").begin(),
                          AsBytes("MedMesh session token v1\n").end()};
    message.insert(message.end(), text.begin(), text.end());
    return text + "." + Base64UrlEncode(signer->Sign(message));
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path()};
  std::optional<node::NodeIdentity> cloud_;
  std::optional<TokenIssuer> issuer_;
  std::optional<TokenVerifier> verifier_;
  testing::DeterministicRandom random_{5};
  std::int64_t now_ = 0;
};

TEST_F(SessionTokenTest, RoundTripsEveryRole) {
  for (Role role : {Role::kPatient, Role::kDoctor, Role::kOperator, Role::kAdmin}) {
    TokenClaims claims = Claims(role);
    auto token = issuer_->Issue(claims);
    ASSERT_TRUE(token);
    EXPECT_EQ(token->rfind("mm1.", 0), 0u);
    auto back = verifier_->Verify(*token, now_ + 1000);
    ASSERT_TRUE(back) << back.error().ToString();
    claims.issuer = "cloud-1";
    EXPECT_TRUE(*back == claims);
    const Principal p = back->ToPrincipal(true);
    EXPECT_TRUE(p.is(role));
    EXPECT_TRUE(p.via_cookie);
  }
}

TEST_F(SessionTokenTest, ExpiredTokensAreRefusedWithTheirOwnMessage) {
  auto token = issuer_->Issue(Claims());
  ASSERT_TRUE(token);
  auto late = verifier_->Verify(*token, now_ + 15 * 60 * 1000);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(late.error().message(), "session expired");
  // Issued too far in the future.
  EXPECT_FALSE(verifier_->Verify(*token, now_ - 61'000));
}

TEST_F(SessionTokenTest, EveryFlippedByteIsRefused) {
  auto token = issuer_->Issue(Claims());
  ASSERT_TRUE(token);
  for (std::size_t i = 0; i < token->size(); ++i) {
    std::string bad = *token;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    if (bad == *token) continue;
    auto r = verifier_->Verify(bad, now_);
    ASSERT_FALSE(r) << "byte " << i;
    EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
  }
}

TEST_F(SessionTokenTest, TokensOfAnotherKeyOrIssuerAreRefused) {
  auto other = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-2");
  ASSERT_TRUE(other);
  TokenIssuer forger(crypto::NewEd25519Signer(other->signing_key.Clone()), "cloud-1");
  EXPECT_FALSE(verifier_->Verify(forger.Issue(Claims()).value(), now_));
  TokenIssuer renamed(crypto::NewEd25519Signer(cloud_->signing_key.Clone()), "cloud-2");
  EXPECT_FALSE(verifier_->Verify(renamed.Issue(Claims()).value(), now_));
}

TEST_F(SessionTokenTest, MalformedTokensAreRefused) {
  const std::string good = issuer_->Issue(Claims()).value();
  for (const std::string& bad :
       {std::string(), std::string("mm1."), std::string("mm2.") + good.substr(4), good + ".",
        good + "=", " " + good, good.substr(0, good.size() - 1), std::string(3000, 'a'),
        std::string("mm1.e30.") + std::string(86, 'A')}) {
    EXPECT_FALSE(verifier_->Verify(bad, now_));
  }
}

TEST_F(SessionTokenTest, SignedButMisshapenClaimsAreRefused) {
  nlohmann::json j{{"sid", NewId("ses_", random_)},
                   {"sub", NewId("acc_", random_)},
                   {"role", "doctor"},
                   {"iat", now_},
                   {"exp", now_ + 60000},
                   {"iss", "cloud-1"},
                   {"csrf", Base64UrlEncode(random_.Generate(16))}};
  ASSERT_TRUE(verifier_->Verify(SignRaw(j.dump()), now_));  // the control
  auto with = [&](const char* key, nlohmann::json value) {
    nlohmann::json c = j;
    c[key] = std::move(value);
    return SignRaw(c.dump());
  };
  EXPECT_FALSE(verifier_->Verify(with("extra", 1), now_));
  EXPECT_FALSE(verifier_->Verify(with("role", "root"), now_));
  EXPECT_FALSE(verifier_->Verify(with("pid", "pat_x"), now_));           // a doctor with a pid
  EXPECT_FALSE(verifier_->Verify(with("exp", now_ + 3'600'000), now_));  // over 15 minutes
  EXPECT_FALSE(verifier_->Verify(with("iat", "1"), now_));
  EXPECT_FALSE(verifier_->Verify(with("sid", "ses_short"), now_));
  EXPECT_FALSE(verifier_->Verify(SignRaw(j.dump(2)), now_));  // not canonical
  std::string dup = j.dump();
  dup.insert(1, "\"role\":\"admin\",");
  EXPECT_FALSE(verifier_->Verify(SignRaw(dup), now_));
  EXPECT_FALSE(verifier_->Verify(SignRaw("not json"), now_));
}

TEST_F(SessionTokenTest, IssuerRefusesClaimsAVerifierWouldRefuse) {
  TokenClaims c = Claims(Role::kDoctor);
  c.patient_id = "pat_x";
  EXPECT_FALSE(issuer_->Issue(c));
  TokenClaims long_lived = Claims();
  long_lived.expires_ms = long_lived.issued_ms + 16 * 60 * 1000;
  EXPECT_FALSE(issuer_->Issue(long_lived));
}

}  // namespace
}  // namespace medmesh::accounts
