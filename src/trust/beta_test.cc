#include "trust/beta.h"

#include <gtest/gtest.h>

#include <cmath>

namespace medmesh::trust {
namespace {

constexpr std::int64_t kDay = 24 * 3600 * 1000LL;

TEST(BetaOpinion, ClassicExpectationWithoutForgetting) {
  Forgetting never{std::chrono::milliseconds(0), std::chrono::milliseconds(0)};
  BetaOpinion o;
  for (int i = 0; i < 8; ++i) o.Add(1.0, i * kDay, never);
  for (int i = 0; i < 2; ++i) o.Add(0.0, 10 * kDay, never);
  EXPECT_DOUBLE_EQ(o.r, 8);
  EXPECT_DOUBLE_EQ(o.s, 2);
  EXPECT_DOUBLE_EQ(o.Expectation(), 9.0 / 12.0);  // (r + 1) / (r + s + 2)
  EXPECT_DOUBLE_EQ(o.Confidence(), 10.0 / 12.0);
}

TEST(BetaOpinion, NoEvidenceSitsAtTheBaseRateWithZeroConfidence) {
  BetaOpinion o;
  EXPECT_DOUBLE_EQ(o.Expectation(0.3), 0.3);
  EXPECT_DOUBLE_EQ(o.Confidence(), 0.0);
}

TEST(BetaOpinion, EvidenceHalvesAfterOneHalfLife) {
  Forgetting f{std::chrono::hours(24 * 10), std::chrono::hours(24 * 10)};
  BetaOpinion o;
  o.Add(1.0, 0, f);
  o.Add(0.25, 0, f);
  const BetaOpinion later = o.DecayedTo(10 * kDay, f);
  EXPECT_NEAR(later.r, 1.25 / 2, 1e-12);
  EXPECT_NEAR(later.s, 0.75 / 2, 1e-12);
  EXPECT_EQ(later.as_of_ms, 10 * kDay);
  // Decaying to the past changes nothing.
  EXPECT_DOUBLE_EQ(o.DecayedTo(-kDay, f).r, o.r);
}

TEST(BetaOpinion, NegativeEvidenceIsRememberedLonger) {
  Forgetting f{std::chrono::hours(24 * 10), std::chrono::hours(24 * 30)};
  BetaOpinion o;
  o.Add(1.0, 0, f);
  o.Add(0.0, 0, f);
  const BetaOpinion later = o.DecayedTo(30 * kDay, f);
  EXPECT_NEAR(later.r, 0.125, 1e-12);
  EXPECT_NEAR(later.s, 0.5, 1e-12);
}

TEST(BetaOpinion, OrderOfAddsDoesNotMatter) {
  Forgetting f{std::chrono::hours(24 * 5), std::chrono::hours(24 * 5)};
  BetaOpinion forward;
  forward.Add(1.0, 0, f);
  forward.Add(0.0, 3 * kDay, f);
  forward.Add(0.5, 7 * kDay, f);
  BetaOpinion backward;
  backward.Add(0.5, 7 * kDay, f);
  backward.Add(0.0, 3 * kDay, f);
  backward.Add(1.0, 0, f);
  EXPECT_NEAR(forward.r, backward.r, 1e-12);
  EXPECT_NEAR(forward.s, backward.s, 1e-12);
}

TEST(BetaOpinion, ScoresAreClampedAndNanIgnored) {
  Forgetting f;
  BetaOpinion o;
  o.Add(7.0, 0, f);
  o.Add(-1.0, 0, f);
  o.Add(std::nan(""), 0, f);
  EXPECT_DOUBLE_EQ(o.r, 1);
  EXPECT_DOUBLE_EQ(o.s, 1);
}

TEST(BetaOpinion, ConfidenceGrowsWithEvidence) {
  Forgetting never{std::chrono::milliseconds(0), std::chrono::milliseconds(0)};
  BetaOpinion o;
  double last = o.Confidence();
  for (int i = 0; i < 20; ++i) {
    o.Add(1.0, 0, never);
    EXPECT_GT(o.Confidence(), last);
    last = o.Confidence();
  }
  EXPECT_LT(last, 1.0);
}

}  // namespace
}  // namespace medmesh::trust
