#include "trust/trust_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace medmesh::trust {
namespace {

constexpr std::int64_t kDay = 24 * 3600 * 1000LL;

// A model with approved patients p0..p9 and clinician "dr".
class TrustModelTest : public ::testing::Test {
 protected:
  TrustModelTest() {
    for (int i = 0; i < 10; ++i) model_.identities().Approve("p" + std::to_string(i));
    model_.identities().AddClinician("dr");
  }
  // Logs a fresh interaction between a and b and has `a` rate `b`.
  RatingVerdict Rate(const std::string& a, const std::string& b, double score,
                     std::int64_t at_ms = 0) {
    const std::string id = "i" + std::to_string(next_++);
    model_.LogInteraction({id, a, b, at_ms});
    return model_.AddRating({id, a, b, score, at_ms});
  }
  TrustModel model_;
  int next_ = 0;
};

TEST_F(TrustModelTest, OnlyRatingsBackedByALoggedInteractionBetweenApprovedPartiesCount) {
  model_.LogInteraction({"x", "p1", "p2", 0});
  EXPECT_EQ(model_.AddRating({"nope", "p1", "p2", 1, 0}), RatingVerdict::kUnknownInteraction);
  EXPECT_EQ(model_.AddRating({"x", "p1", "p3", 1, 0}), RatingVerdict::kNotAParty);
  EXPECT_EQ(model_.AddRating({"x", "p3", "p2", 1, 0}), RatingVerdict::kNotAParty);
  EXPECT_EQ(model_.AddRating({"x", "p1", "p1", 1, 0}), RatingVerdict::kNotAParty);
  EXPECT_EQ(model_.AddRating({"x", "p1", "p2", 1.5, 0}), RatingVerdict::kInvalidScore);
  EXPECT_EQ(model_.AddRating({"x", "p1", "p2", std::nan(""), 0}), RatingVerdict::kInvalidScore);
  EXPECT_EQ(model_.AddRating({"x", "p1", "p2", 1, 0}), RatingVerdict::kAccepted);
  EXPECT_EQ(model_.AddRating({"x", "p1", "p2", 1, 0}), RatingVerdict::kDuplicate);
  // The other side may rate the same interaction once.
  EXPECT_EQ(model_.AddRating({"x", "p2", "p1", 0, 0}), RatingVerdict::kAccepted);
  EXPECT_EQ(model_.accepted_ratings(), 2u);

  model_.LogInteraction({"y", "p1", "stranger", 0});
  EXPECT_EQ(model_.AddRating({"y", "stranger", "p1", 0, 0}), RatingVerdict::kRaterNotApproved);
  EXPECT_EQ(model_.AddRating({"y", "p1", "stranger", 1, 0}), RatingVerdict::kRateeNotApproved);
  EXPECT_FALSE(model_.LogInteraction({"y", "p1", "p2", 0}));  // ids are unique
  EXPECT_EQ(RatingVerdictName(RatingVerdict::kUnknownInteraction), "unknown_interaction");
}

TEST_F(TrustModelTest, NoEvidenceMeansTheBaseRate) {
  model_.Refresh(0);
  const TrustEstimate t = model_.Trust("p1", "p2", 0);
  EXPECT_DOUBLE_EQ(t.value, 0.3);
  EXPECT_DOUBLE_EQ(t.confidence, 0);
  EXPECT_EQ(t.holders_used, 0);
  // An unapproved subject is not trusted at all.
  EXPECT_DOUBLE_EQ(model_.Trust("p1", "stranger", 0).value, 0);
}

TEST_F(TrustModelTest, WeightOnDirectEvidenceGrowsWithEvidence) {
  double last_weight = 0;
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(Rate("p1", "p2", 1.0), RatingVerdict::kAccepted);
    const TrustEstimate t = model_.Trust("p1", "p2", 0);
    EXPECT_GT(t.direct_weight, last_weight);
    last_weight = t.direct_weight;
    // w = n / (n + 3)
    EXPECT_NEAR(t.direct_weight, (i + 1.0) / (i + 4.0), 1e-12);
    // All good: r_D / n = 1.
    EXPECT_NEAR(t.value, t.direct_weight * 1.0 + (1 - t.direct_weight) * t.reputation, 1e-12);
  }
  // Six good interactions, no reputation (base rate 0.3): T = (6 + 3 * 0.3) / (6 + 3).
  EXPECT_NEAR(model_.Trust("p1", "p2", 0).value, 6.9 / 9, 1e-12);
  // The viewer's own opinion is not part of the reputation.
  EXPECT_EQ(model_.Trust("p1", "p2", 0).holders_used, 0);
  EXPECT_EQ(model_.Trust("p3", "p2", 0).holders_used, 1);
}

TEST_F(TrustModelTest, CredibilityFlowsFromClinicianAlongChainsAndDecays) {
  for (int i = 0; i < 4; ++i) Rate("dr", "p1", 1.0);
  for (int i = 0; i < 4; ++i) Rate("p1", "p2", 1.0);
  model_.Refresh(0);
  EXPECT_DOUBLE_EQ(model_.Credibility("dr"), 1.0);
  const double c1 = 0.9 * 4.0 / 6.0;  // decay * r / (r + s + Wc)
  EXPECT_NEAR(model_.Credibility("p1"), c1, 1e-12);
  EXPECT_NEAR(model_.Credibility("p2"), c1 * 0.9 * 4.0 / 6.0, 1e-12);
  EXPECT_DOUBLE_EQ(model_.Credibility("p5"), 0.02);  // unanchored floor
  EXPECT_DOUBLE_EQ(model_.Credibility("stranger"), 0);
  // Negative evidence from the clinician lowers the vouching.
  for (int i = 0; i < 4; ++i) Rate("dr", "p1", 0.0);
  model_.Refresh(0);
  EXPECT_NEAR(model_.Credibility("p1"), 0.9 * 4.0 / 10.0, 1e-12);
}

TEST_F(TrustModelTest, ForgettingAppliesToTrustAndCredibility) {
  for (int i = 0; i < 4; ++i) Rate("dr", "p1", 1.0, 0);
  model_.Refresh(30 * kDay);  // default half-life 30 days: r = 2
  EXPECT_NEAR(model_.Credibility("p1"), 0.9 * 2.0 / 4.0, 1e-12);
  EXPECT_NEAR(model_.Opinion("dr", "p1", 30 * kDay).r, 2.0, 1e-12);
}

TEST_F(TrustModelTest, RevokedIdentitiesStopCounting) {
  for (int i = 0; i < 5; ++i) Rate("p3", "p2", 1.0);
  model_.Refresh(0);
  EXPECT_EQ(model_.Trust("p1", "p2", 0).holders_used, 1);
  model_.identities().Revoke("p3");
  EXPECT_EQ(model_.Trust("p1", "p2", 0).holders_used, 0);
  model_.identities().Revoke("p2");
  EXPECT_DOUBLE_EQ(model_.Trust("p1", "p2", 0).value, 0);
}

TEST_F(TrustModelTest, HoldersMoreSimilarToTheViewerWeighMore) {
  for (int i = 0; i < 5; ++i) Rate("p3", "p2", 1.0);
  for (int i = 0; i < 5; ++i) Rate("p4", "p2", 0.8);
  model_.Refresh(0);
  auto likes_p3 = [](const std::string& holder) { return holder == "p3" ? 1.0 : 0.0; };
  auto likes_p4 = [](const std::string& holder) { return holder == "p4" ? 1.0 : 0.0; };
  EXPECT_GT(model_.Trust("p1", "p2", 0, likes_p3).reputation,
            model_.Trust("p1", "p2", 0, likes_p4).reputation);
}

TEST_F(TrustModelTest, EachHolderBringsAtMostTheCapOfEvidence) {
  for (int i = 0; i < 50; ++i) Rate("p3", "p2", 1.0);
  model_.Refresh(0);
  const TrustEstimate t = model_.Trust("p1", "p2", 0);
  EXPECT_NEAR(t.reputation_evidence, 0.02 * 5.0, 1e-12);
}

TEST(BetaQuantile, MatchesClosedForms) {
  for (double p : {0.05, 0.3, 0.5, 0.95}) {
    EXPECT_NEAR(BetaQuantile(1, 1, p), p, 1e-9);             // uniform
    EXPECT_NEAR(BetaQuantile(2, 1, p), std::sqrt(p), 1e-9);  // CDF x^2
    EXPECT_NEAR(BetaQuantile(1, 2, p), 1 - std::sqrt(1 - p), 1e-9);
  }
  EXPECT_DOUBLE_EQ(BetaQuantile(3, 4, 0), 0);
  EXPECT_DOUBLE_EQ(BetaQuantile(3, 4, 1), 1);
  EXPECT_NEAR(BetaQuantile(30, 30, 0.5), 0.5, 1e-9);
  EXPECT_NEAR(BetaCdf(4, 1, 0.5), 0.0625, 1e-12);  // x^4
  EXPECT_NEAR(BetaCdf(1, 6, 0.5), 1 - 1.0 / 64, 1e-12);
  EXPECT_NEAR(BetaCdf(7.5, 2.25, BetaQuantile(7.5, 2.25, 0.3)), 0.3, 1e-9);
}

}  // namespace
}  // namespace medmesh::trust
