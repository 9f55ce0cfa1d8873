#include "trust/decision.h"

#include <gtest/gtest.h>

namespace medmesh::trust {
namespace {

DecisionInput Granting() {
  DecisionInput in;
  in.category = DataCategory::kDiagnoses;
  in.owner_consents = {DataCategory::kVitalsSummary, DataCategory::kDiagnoses};
  in.requester_approved = true;
  in.similarity = 0.5;
  in.trust.value = 0.75;
  in.trust.reputation = 0.7;
  in.trust.holders_used = 4;
  return in;
}

TEST(Decide, AllowsWhenEveryConditionHoldsAndListsAllReasons) {
  const Decision d = Decide(Granting());
  EXPECT_TRUE(d.allow);
  ASSERT_EQ(d.reasons.size(), 4u);
  EXPECT_EQ(d.reasons[0].kind, ReasonKind::kApproval);
  EXPECT_EQ(d.reasons[1].kind, ReasonKind::kConsent);
  EXPECT_EQ(d.reasons[2].kind, ReasonKind::kSimilarity);
  EXPECT_EQ(d.reasons[3].kind, ReasonKind::kTrust);
  for (const DecisionReason& r : d.reasons) EXPECT_TRUE(r.met);
  EXPECT_EQ(d.reasons[3].text,
            "trust 0.75 >= 0.70 (reputation 0.70 from 4 opinions, direct 0.00 weighted 0.00)");
  EXPECT_EQ(d.Summary().rfind("allow diagnoses: ", 0), 0u);
}

TEST(Decide, NeverBeyondConsentWhateverTheTrust) {
  DecisionInput in = Granting();
  in.category = DataCategory::kFullRecord;
  in.trust.value = 1.0;
  in.similarity = 1.0;
  const Decision d = Decide(in);
  EXPECT_FALSE(d.allow);
  EXPECT_FALSE(d.reasons[1].met);
  EXPECT_EQ(d.Summary().rfind("deny full_record: owner does not allow sharing full_record", 0), 0u);
}

TEST(Decide, EachFailingConditionDeniesOnItsOwn) {
  {
    DecisionInput in = Granting();
    in.requester_approved = false;
    EXPECT_FALSE(Decide(in).allow);
  }
  {
    DecisionInput in = Granting();
    in.similarity = 0.1;
    const Decision d = Decide(in);
    EXPECT_FALSE(d.allow);
    EXPECT_FALSE(d.reasons[2].met);
    EXPECT_DOUBLE_EQ(d.reasons[2].required, 0.15);
  }
  {
    DecisionInput in = Granting();
    in.trust.value = 0.69;
    const Decision d = Decide(in);
    EXPECT_FALSE(d.allow);
    EXPECT_FALSE(d.reasons[3].met);
    EXPECT_DOUBLE_EQ(d.reasons[3].required, 0.7);
  }
}

TEST(Decide, ADenialNamesWhatFailedFirstThenWhatHeld) {
  DecisionInput in = Granting();
  in.requester_approved = false;
  in.trust.value = 0.2;
  const Decision d = Decide(in);
  EXPECT_FALSE(d.allow);
  EXPECT_EQ(d.Summary(),
            "deny diagnoses: requester is not a hospital-approved identity; trust 0.20 < 0.70 "
            "(reputation 0.70 from 4 opinions, direct 0.00 weighted 0.00); owner allows sharing "
            "diagnoses; similarity 0.50 >= 0.15");
}

TEST(Decide, TrustExactlyAtTheThresholdIsEnough) {
  DecisionInput in = Granting();
  in.trust.value = 0.7;
  EXPECT_TRUE(Decide(in).allow);
}

TEST(Decide, ThresholdsRiseWithTheCategory) {
  const SharingPolicy p;
  EXPECT_LT(p.For(DataCategory::kVitalsSummary).min_trust,
            p.For(DataCategory::kDiagnoses).min_trust);
  EXPECT_LT(p.For(DataCategory::kDiagnoses).min_trust, p.For(DataCategory::kFullRecord).min_trust);
  // Everything is above the prior of a new identity.
  EXPECT_GT(p.For(DataCategory::kVitalsSummary).min_trust, TrustParams{}.base_rate);
}

TEST(DataCategory, NamesRoundTrip) {
  for (DataCategory c :
       {DataCategory::kVitalsSummary, DataCategory::kDiagnoses, DataCategory::kFullRecord}) {
    EXPECT_EQ(DataCategoryFromName(DataCategoryName(c)), c);
  }
  EXPECT_FALSE(DataCategoryFromName("everything").has_value());
}

}  // namespace
}  // namespace medmesh::trust
