#include "accounts/revocation.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "accounts/encoding.h"
#include "node/test_support.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "wire/model.h"

namespace medmesh::accounts {
namespace {

class RevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cloud = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-1");
    ASSERT_TRUE(cloud);
    cloud_.emplace(std::move(*cloud));
    signer_ = crypto::NewEd25519Signer(cloud_->signing_key.Clone());
    now_ = wire::ToUnixMs(std::chrono::system_clock::now());
  }

  SignedRevocationPage Page(std::uint64_t since, std::uint64_t head) {
    SignedRevocationPage page{since, head, now_, {}};
    for (std::uint64_t s = since + 1; s <= head; ++s) {
      page.revocations.push_back({s, NewId("ses_", random_), now_ + 60'000});
    }
    return page;
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path()};
  std::optional<node::NodeIdentity> cloud_;
  std::unique_ptr<crypto::Signer> signer_;
  testing::DeterministicRandom random_{11};
  std::int64_t now_ = 0;
};

TEST_F(RevocationTest, SignedPagesRoundTrip) {
  const SignedRevocationPage page = Page(3, 6);
  const std::string body = SignRevocationPage(page, *signer_);
  auto back = VerifyRevocationPage(body, cloud_->certificate, now_, std::chrono::minutes(1));
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(back->since, 3u);
  EXPECT_EQ(back->head, 6u);
  EXPECT_EQ(back->revocations, page.revocations);
}

TEST_F(RevocationTest, ForgedStaleAndMisorderedPagesAreRefused) {
  const std::string body = SignRevocationPage(Page(0, 2), *signer_);
  EXPECT_FALSE(VerifyRevocationPage(body, cloud_->certificate, now_ + 61'000,
                                    std::chrono::minutes(1)));  // stale
  auto other = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-2");
  ASSERT_TRUE(other);
  EXPECT_FALSE(VerifyRevocationPage(body, other->certificate, now_, std::chrono::minutes(1)));
  // The payload swapped for another one under the old signature.
  auto j = nlohmann::json::parse(body);
  const std::string other_body = SignRevocationPage(Page(0, 1), *signer_);
  j["payload"] = nlohmann::json::parse(other_body)["payload"];
  EXPECT_FALSE(VerifyRevocationPage(j.dump(), cloud_->certificate, now_, std::chrono::minutes(1)));
  // Signed, but out of order.
  SignedRevocationPage bad = Page(0, 2);
  std::swap(bad.revocations[0], bad.revocations[1]);
  EXPECT_FALSE(VerifyRevocationPage(SignRevocationPage(bad, *signer_), cloud_->certificate, now_,
                                    std::chrono::minutes(1)));
  EXPECT_FALSE(VerifyRevocationPage("{}", cloud_->certificate, now_, std::chrono::minutes(1)));
}

TEST_F(RevocationTest, SetFailsClosedUntilFreshAndForgetsExpired) {
  testing::FakeClock clock{std::chrono::system_clock::time_point(std::chrono::milliseconds(now_))};
  RevocationSet set(clock, std::chrono::seconds(30));
  EXPECT_EQ(set.IsRevoked("ses_x").error().code(), ErrorCode::kUnavailable);
  SignedRevocationPage page = Page(0, 2);
  ASSERT_TRUE(set.Apply(page));
  EXPECT_EQ(set.since(), 2u);
  EXPECT_TRUE(set.IsRevoked(page.revocations[0].session_id).value());
  EXPECT_FALSE(set.IsRevoked(NewId("ses_", random_)).value());
  // A page for another position changes nothing.
  EXPECT_FALSE(set.Apply(Page(5, 6)));
  EXPECT_EQ(set.since(), 2u);
  clock.Advance(std::chrono::seconds(31));
  EXPECT_EQ(set.IsRevoked(page.revocations[0].session_id).error().code(), ErrorCode::kUnavailable);
  set.Prune(now_ + 60'000);
  EXPECT_EQ(set.size(), 0u);
}

TEST_F(RevocationTest, AFullPageDoesNotMakeTheSetFresh) {
  testing::FakeClock clock{std::chrono::system_clock::time_point(std::chrono::milliseconds(now_))};
  RevocationSet set(clock, std::chrono::seconds(30));
  SignedRevocationPage full = Page(0, kMaxRevocationsPerPage);
  full.head = kMaxRevocationsPerPage + 5;
  ASSERT_TRUE(set.Apply(full));
  EXPECT_EQ(set.since(), kMaxRevocationsPerPage);
  EXPECT_FALSE(set.IsRevoked("ses_x"));  // not yet at the head
  SignedRevocationPage rest = Page(kMaxRevocationsPerPage, kMaxRevocationsPerPage + 5);
  ASSERT_TRUE(set.Apply(rest));
  EXPECT_TRUE(set.IsRevoked(rest.revocations[4].session_id).value());
}

}  // namespace
}  // namespace medmesh::accounts
