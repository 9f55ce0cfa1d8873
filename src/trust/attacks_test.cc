// Each attack of issue 10 as a small case whose numbers can be checked by hand (docs/trust.md
// "Attacks"). Default TrustParams and SharingPolicy unless a case says otherwise: base rate
// 0.3, W 2, K 3 (growing by 0.25 per unit of reputation evidence, at most 8), credibility decay
// 0.9 with Wc 2, floor 0.02, holder cap 5 (less for returned praise beyond 3 units both ways,
// scale 0.25), q 0.05, rater honesty with prior weight 2; the vitals summary needs T >= 0.65.
//
// Rater honesty h (Refresh): each patient holder's evidence about a subject is compared with
// p, the expectation of everyone else's (filtered, weighted) evidence about that subject:
// h = (agree + 2) / (agree + disagree + 2), agree = r p + s (1 - p), disagree = the rest.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "trust/decision.h"
#include "trust/trust_model.h"

namespace medmesh::trust {
namespace {

constexpr std::int64_t kDay = 24 * 3600 * 1000LL;

class AttackTest : public ::testing::Test {
 protected:
  explicit AttackTest(TrustParams params = {}) : model_(params) { Populate(); }
  void Populate() {
    model_.identities().AddClinician("dr");
    for (int i = 0; i < 8; ++i) model_.identities().Approve("h" + std::to_string(i));
    for (int i = 0; i < 4; ++i) model_.identities().Approve("a" + std::to_string(i));
  }
  void Rate(const std::string& a, const std::string& b, double score, int times = 1,
            std::int64_t at_ms = 0) {
    for (int i = 0; i < times; ++i) {
      const std::string id = "i" + std::to_string(next_++);
      model_.LogInteraction({id, a, b, at_ms});
      ASSERT_EQ(model_.AddRating({id, a, b, score, at_ms}), RatingVerdict::kAccepted);
    }
  }
  // The clinician vouches for `who` with three good interactions: credibility 0.9 * 3/5.
  void Vouch(const std::string& who) { Rate("dr", who, 1.0, 3); }
  // a1-a3, vouched for, praise a0 in 10 staged interactions each, and a0 praises each back 10x.
  void VouchedRingPraisesA0() {
    for (const char* a : {"a1", "a2", "a3"}) {
      Vouch(a);
      Rate(a, "a0", 1.0, 10);
      Rate("a0", a, 1.0, 10);
    }
    model_.Refresh(0);
  }
  // The owner's decision on a vitals summary (consented, similarity 0.5) with this estimate.
  static Decision DecideVitals(bool requester_approved, const TrustEstimate& trust) {
    DecisionInput in;
    in.category = DataCategory::kVitalsSummary;
    in.owner_consents = {DataCategory::kVitalsSummary};
    in.requester_approved = requester_approved;
    in.similarity = 0.5;
    in.trust = trust;
    return Decide(in);
  }
  bool SharesVitals(const std::string& owner, const std::string& requester, std::int64_t now) {
    return DecideVitals(model_.identities().IsApproved(requester),
                        model_.Trust(owner, requester, now))
        .allow;
  }
  TrustModel model_;
  int next_ = 0;
};

TEST_F(AttackTest, BadMouthingIsFilteredOut) {
  for (const char* h : {"h1", "h2", "h3", "h4"}) {
    Vouch(h);
    Rate(h, "h0", 1.0, 3);  // E = 4/5, interval Beta(4,1) [0.47, 0.99]
  }
  for (const char* a : {"a0", "a1"}) {
    Vouch(a);               // as credible as the honest raters
    Rate(a, "h0", 0.0, 5);  // E = 1/7, interval Beta(1,6) [0.01, 0.39]
  }
  model_.Refresh(0);
  const TrustEstimate t = model_.Trust("h5", "h0", 0);
  EXPECT_EQ(t.holders_filtered, 2);
  EXPECT_EQ(t.holders_used, 4);
  // Each honest holder against the three others (weight 0.54, r 3 each): p = (4.86 + 0.6) /
  // (4.86 + 2), h = (3p + 2) / (3 + 2). R = (4 * 0.54 * h * 3 + 0.6) / (4 * 0.54 * h * 3 + 2).
  const double p = 5.46 / 6.86;
  const double h = (3 * p + 2) / 5;
  EXPECT_NEAR(model_.RaterHonesty("h1"), h, 1e-9);
  EXPECT_NEAR(t.reputation, (6.48 * h + 0.6) / (6.48 * h + 2), 1e-9);
  EXPECT_TRUE(SharesVitals("h5", "h0", 0));
}

class AttackWithoutFilterTest : public AttackTest {
 protected:
  static TrustParams NoFilter() {
    TrustParams p;
    p.filter_quantile = 0;
    return p;
  }
  AttackWithoutFilterTest() : AttackTest(NoFilter()) {}
};

TEST_F(AttackWithoutFilterTest, BadMouthingWinsWithoutTheFilter) {
  for (const char* h : {"h1", "h2", "h3", "h4"}) {
    Vouch(h);
    Rate(h, "h0", 1.0, 3);
  }
  for (const char* a : {"a0", "a1"}) {
    Vouch(a);
    Rate(a, "h0", 0.0, 5);
  }
  model_.Refresh(0);
  // Nothing is filtered, so each holder is judged against all the others. An attacker: r 6.48,
  // s 2.7 (the other attacker) -> p = 7.08 / 11.18, h_a = (5 (1 - p) + 2) / 7. An honest
  // holder: r 4.86, s 5.4 -> p = 5.46 / 12.26, h_h = (3 p + 2) / 5. Honesty halves the
  // attackers' weight but without the filter they still win:
  // R = (6.48 h_h + 0.6) / (6.48 h_h + 5.4 h_a + 2).
  const double h_a = (5 * (1 - 7.08 / 11.18) + 2) / 7;
  const double h_h = (3 * 5.46 / 12.26 + 2) / 5;
  EXPECT_NEAR(model_.RaterHonesty("a0"), h_a, 1e-9);
  EXPECT_NEAR(model_.RaterHonesty("h1"), h_h, 1e-9);
  EXPECT_NEAR(model_.Trust("h5", "h0", 0).reputation,
              (6.48 * h_h + 0.6) / (6.48 * h_h + 5.4 * h_a + 2), 1e-9);
  EXPECT_FALSE(SharesVitals("h5", "h0", 0));
}

TEST_F(AttackTest, BallotStuffingByCredibleColludersIsCappedAndFiltered) {
  for (const char* a : {"a1", "a2", "a3"}) {
    Vouch(a);
    Rate(a, "a0", 1.0, 20);  // twenty staged interactions each
  }
  for (const char* h : {"h1", "h2", "h3"}) {
    Vouch(h);
    Rate(h, "a0", 0.0, 2);  // what a0 really did
  }
  model_.Refresh(0);
  const TrustEstimate t = model_.Trust("h5", "a0", 0);
  EXPECT_EQ(t.holders_filtered, 3);
  // Only the honest opinions remain: s = 3 * 0.54 * 2 * h, where each honest holder is judged
  // against the other two (s 2.16): p = 0.6 / 4.16, h = (2 (1 - p) + 2) / (2 + 2).
  const double h = (2 * (1 - 0.6 / 4.16) + 2) / 4;
  EXPECT_NEAR(t.reputation, 0.6 / (3.24 * h + 2), 1e-9);
  EXPECT_FALSE(SharesVitals("h5", "a0", 0));
}

class AttackUndefendedTest : public AttackTest {
 protected:
  static TrustParams Undefended() {
    TrustParams p;
    p.filter_quantile = 0;
    p.holder_evidence_cap = 1e9;
    return p;
  }
  AttackUndefendedTest() : AttackTest(Undefended()) {}
};

TEST_F(AttackUndefendedTest, BallotStuffingWinsWithoutCapAndFilter) {
  for (const char* a : {"a1", "a2", "a3"}) {
    Vouch(a);
    Rate(a, "a0", 1.0, 20);
  }
  for (const char* h : {"h1", "h2", "h3"}) {
    Vouch(h);
    Rate(h, "a0", 0.0, 2);
  }
  model_.Refresh(0);
  EXPECT_TRUE(SharesVitals("h5", "a0", 0));
}

TEST_F(AttackTest, OnOffBehaviourIsForgottenQuickly) {
  for (int d = 0; d < 10; ++d) Rate("h1", "a0", 1.0, 1, d * kDay);  // builds trust
  EXPECT_TRUE(SharesVitals("h1", "a0", 10 * kDay));
  for (int d = 40; d < 43; ++d) Rate("h1", "a0", 0.0, 1, d * kDay);  // then turns
  model_.Refresh(42 * kDay);
  // Good evidence has lost more than half its weight (30-day half-life), the bad almost none
  // (90 days): r = 4.2, s = 2.9, T = (4.2 + 0.9) / (7.1 + 3) = 0.51 < 0.65.
  EXPECT_FALSE(SharesVitals("h1", "a0", 42 * kDay));
}

class AttackNeverForgetTest : public AttackTest {
 protected:
  static TrustParams NeverForget() {
    TrustParams p;
    p.forgetting.half_life = std::chrono::milliseconds(0);
    p.forgetting.negative_half_life = std::chrono::milliseconds(0);
    return p;
  }
  AttackNeverForgetTest() : AttackTest(NeverForget()) {}
};

TEST_F(AttackNeverForgetTest, OnOffBehaviourLivesOnItsPastWithoutForgetting) {
  for (int d = 0; d < 10; ++d) Rate("h1", "a0", 1.0, 1, d * kDay);
  for (int d = 40; d < 43; ++d) Rate("h1", "a0", 0.0, 1, d * kDay);
  model_.Refresh(42 * kDay);
  // r 10, s 3: T = (10 + 3 * 0.3) / (13 + 3) = 0.68.
  EXPECT_TRUE(SharesVitals("h1", "a0", 42 * kDay));
}

TEST_F(AttackTest, ACollusionRingWithoutAnAnchorStaysAtTheFloor) {
  for (const char* a : {"a0", "a1", "a2", "a3"}) {
    for (const char* b : {"a0", "a1", "a2", "a3"}) {
      if (std::string(a) != b) Rate(a, b, 1.0, 10);
    }
  }
  model_.Refresh(0);
  for (const char* a : {"a0", "a1", "a2", "a3"}) EXPECT_DOUBLE_EQ(model_.Credibility(a), 0.02);
  const TrustEstimate t = model_.Trust("h5", "a0", 0);
  // Three holders, weight 0.02, each capped at 5 / (1 + (10 - 3) / 0.25) = 5/29 (returned
  // praise): R = (0.06 * 5/29 + 0.6) / (0.06 * 5/29 + 2) = 0.304 (0.9 / 2.3 at the plain cap).
  const double r = 0.06 * 5.0 / 29;
  EXPECT_NEAR(t.reputation, (r + 0.6) / (r + 2), 1e-9);
  EXPECT_FALSE(SharesVitals("h5", "a0", 0));
  // The same ratings among patients the clinician vouched for: h0 is shared on the clinician's
  // own word (3 units, weight 5); the members' returned praise is discounted (below).
  for (const char* h : {"h0", "h1", "h2", "h3"}) {
    Vouch(h);
    for (const char* g : {"h0", "h1", "h2", "h3"}) {
      if (std::string(h) != g) Rate(h, g, 1.0, 10);
    }
  }
  model_.Refresh(0);
  EXPECT_TRUE(SharesVitals("h5", "h0", 0));
}

TEST_F(AttackTest, ARingsReturnedPraiseIsDiscounted) {
  // Three vouched-for members praise a0 (10 staged interactions each) and a0 praises each of
  // them back (10 each): 10 units both ways, 7 beyond the 3 honest partners rarely exceed, so
  // each brings at most 5 / (1 + 7 / 0.25) = 5/29 units. Credibility 0.54 each; honesty stays 1
  // (the others' reference about a0, 2 * 0.54 * 5/29 = 0.19, is below the 1 unit needed to
  // judge). R = (3 * 0.54 * 5/29 + 0.6) / (3 * 0.54 * 5/29 + 2) = 0.386.
  VouchedRingPraisesA0();
  const double r = 3 * 0.54 * 5.0 / 29;
  EXPECT_NEAR(model_.Trust("h5", "a0", 0).reputation, (r + 0.6) / (r + 2), 1e-9);
  EXPECT_FALSE(SharesVitals("h5", "a0", 0));
}

// The same cases under other parameters: AttackWith<&MakeParams>.
template <TrustParams (*MakeParams)()>
class AttackWith : public AttackTest {
 protected:
  AttackWith() : AttackTest(MakeParams()) {}
};
TrustParams NoRingDetection() {
  TrustParams p;
  p.reciprocity_scale = 0;
  return p;
}
using AttackNoRingDetectionTest = AttackWith<&NoRingDetection>;

TEST_F(AttackNoRingDetectionTest, ARingsReturnedPraiseCarriesWithoutTheDiscount) {
  VouchedRingPraisesA0();
  // Each member brings the full cap of 5 units. Honesty: against the two others (r = 5.4),
  // p = 6 / 7.4 and h = (5p + 2) / 7; R = (8.1 h + 0.6) / (8.1 h + 2) = 0.84.
  const double h = (5 * 6 / 7.4 + 2) / 7;
  EXPECT_NEAR(model_.Trust("h5", "a0", 0).reputation, (8.1 * h + 0.6) / (8.1 * h + 2), 1e-9);
  EXPECT_TRUE(SharesVitals("h5", "a0", 0));
}

TEST_F(AttackTest, WhitewashingBuysNothing) {
  Rate("h1", "a0", 0.0, 4);
  Rate("h2", "a0", 0.0, 4);
  model_.Refresh(0);
  EXPECT_FALSE(SharesVitals("h5", "a0", 0));
  // a0 comes back as a new (approved) identity: it starts at the base rate, below every
  // threshold, so it is no better off than before for sharing.
  model_.identities().Approve("a0-new");
  const TrustEstimate fresh = model_.Trust("h5", "a0-new", 0);
  EXPECT_DOUBLE_EQ(fresh.value, TrustParams{}.base_rate);
  EXPECT_FALSE(SharesVitals("h5", "a0-new", 0));
}

TEST_F(AttackTest, SybilIdentitiesCountForNothing) {
  for (int i = 0; i < 10; ++i) {
    const std::string sybil = "sybil" + std::to_string(i);
    const std::string id = "s" + std::to_string(i);
    model_.LogInteraction({id, sybil, "a0", 0});
    EXPECT_EQ(model_.AddRating({id, sybil, "a0", 1.0, 0}), RatingVerdict::kRaterNotApproved);
  }
  model_.Refresh(0);
  EXPECT_DOUBLE_EQ(model_.Trust("h5", "a0", 0).value, TrustParams{}.base_rate);
  EXPECT_FALSE(SharesVitals("h5", "a0", 0));
  // A Sybil asking for data is refused on approval, whatever else holds.
  EXPECT_FALSE(SharesVitals("h5", "sybil0", 0));
  // Unbacked ratings (no logged interaction) are ignored as well.
  EXPECT_EQ(model_.AddRating({"made-up", "h1", "a0", 1.0, 0}), RatingVerdict::kUnknownInteraction);
}

TEST_F(AttackTest, ABadMouthersWeightShrinksWithItsHonesty) {
  // Three vouched-for patients rate h0, h6 and h7 well (3x1 each); an equally vouched-for
  // attacker rates them 0 (3x each) and is filtered out of each of those reputations.
  for (const char* rater : {"h2", "h3", "h4", "a0"}) Vouch(rater);
  for (const char* subject : {"h0", "h6", "h7"}) {
    for (const char* rater : {"h2", "h3", "h4"}) Rate(rater, subject, 1.0, 3);
    Rate("a0", subject, 0.0, 3);
  }
  model_.Refresh(0);
  // The attacker against the three others (r = 3 * 0.54 * 3 = 4.86): p = 5.46 / 6.86; per
  // subject agree 3 (1 - p), disagree 3 p. An honest holder against the two other kept ones
  // (r 3.24): p = 3.84 / 5.24, agree 3 p.
  const double p_a = 5.46 / 6.86;
  const double h_a = (9 * (1 - p_a) + 2) / (9 + 2);
  const double p_h = 3.84 / 5.24;
  const double h_h = (9 * p_h + 2) / (9 + 2);
  EXPECT_NEAR(model_.RaterHonesty("a0"), h_a, 1e-9);  // 0.35
  EXPECT_NEAR(model_.RaterHonesty("h2"), h_h, 1e-9);  // 0.78
  EXPECT_DOUBLE_EQ(model_.RaterHonesty("dr"), 1.0);   // clinicians are not judged
  // Now a single 0 of the attacker's about h1 is too thin for the filter (Beta(1, 2) at 2/3
  // has a tail of 0.11), but it weighs only 0.54 h_a against h2's single 1 at 0.54 h_h.
  Rate("a0", "h1", 0.0);
  Rate("h2", "h1", 1.0);
  const TrustEstimate t = model_.Trust("h5", "h1", 0);
  EXPECT_EQ(t.holders_filtered, 0);
  EXPECT_NEAR(t.reputation, (0.54 * h_h + 0.6) / (0.54 * h_h + 0.54 * h_a + 2), 1e-9);
  // Without honesty both would weigh 0.54: R = (0.54 + 0.6) / (1.08 + 2) = 0.37.
  EXPECT_GT(t.reputation, 1.14 / 3.08);
}

TEST_F(AttackTest, ARaterCaughtLyingIsNotTrustedAsARequester) {
  // The bad-mouthing case above: a0 rated three well-liked patients 0 (3x each), h about 0.35.
  // The clinician also vouches for a0 and h2 (three more good consultations each): alone that
  // gives R = (5 * 5 + 0.6) / (5 * 5 + 2) = 0.948 (6 units capped at 5, weight 5, no
  // similarity given).
  for (const char* rater : {"h2", "h3", "h4", "a0"}) Vouch(rater);
  for (const char* subject : {"h0", "h6", "h7"}) {
    for (const char* rater : {"h2", "h3", "h4"}) Rate(rater, subject, 1.0, 3);
    Rate("a0", subject, 0.0, 3);
  }
  Vouch("a0");
  Vouch("h2");
  model_.Refresh(0);
  ASSERT_LT(model_.RaterHonesty("a0"), 0.6);  // 0.34
  const TrustEstimate a = model_.Trust("h5", "a0", 0);
  EXPECT_NEAR(a.reputation, 25.6 / 27, 1e-9);
  EXPECT_TRUE(a.lying_rater);
  EXPECT_DOUBLE_EQ(a.value, 0.3);  // capped at the base rate, below every threshold
  EXPECT_FALSE(SharesVitals("h5", "a0", 0));
  const std::string text = DecideVitals(true, a).reasons.back().text;
  EXPECT_NE(text.find("rates others unfairly (rater honesty 0.34)"), std::string::npos) << text;
  // An honest rater (h = 0.78) with the same clinician's word is shared with.
  const TrustEstimate h = model_.Trust("h5", "h2", 0);
  EXPECT_FALSE(h.lying_rater);
  EXPECT_NEAR(h.rater_honesty, model_.RaterHonesty("h2"), 1e-12);
  EXPECT_TRUE(SharesVitals("h5", "h2", 0));
}

TEST_F(AttackTest, OneBadExchangeDoesNotOverturnAWellAttestedReputation) {
  // h0 is well attested: two clinicians with five good consultations each (5 units, weight 5
  // each): n_R = 50, so the reputation's strength as a prior is K' = min(3 + 0.25 * 50, 8) = 8.
  model_.identities().AddClinician("dr2");
  Rate("dr", "h0", 1.0, 5);
  Rate("dr2", "h0", 1.0, 5);
  // The owner's one exchange with h0 went badly (an honest patient's bad day).
  Rate("h5", "h0", 0.0);
  model_.Refresh(0);
  const TrustEstimate t = model_.Trust("h5", "h0", 0);
  const double reputation = (50 + 0.6) / (50 + 2);
  EXPECT_NEAR(t.reputation, reputation, 1e-9);
  EXPECT_NEAR(t.direct_weight, 1 / (1 + 8.0), 1e-9);  // 3 + 0.25 * 50 = 15.5, capped at 8
  EXPECT_NEAR(t.value, 8 * reputation / 9, 1e-9);
  EXPECT_TRUE(SharesVitals("h5", "h0", 0));
  // A thin reputation (one clinician's single good consultation) is overturned: n_R = 5,
  // K' = 4.25, E(R) = 5.6 / 7 = 0.8, T = 4.25 * 0.8 / 5.25 = 0.648 < 0.65.
  Rate("dr", "h1", 1.0);
  Rate("h5", "h1", 0.0);
  model_.Refresh(0);
  EXPECT_NEAR(model_.Trust("h5", "h1", 0).value, 4.25 * 0.8 / 5.25, 1e-9);
  EXPECT_FALSE(SharesVitals("h5", "h1", 0));
}

// On-off behaviour, probation (ADR 0056): at each bad rating the ratings of the 10 days up to it
// from eligible holders (clinicians; vouched-for patients with rater honesty >= 0.6) are tested
// against an honest party's 5 % bad days: P(X >= s), X ~ Binomial(n, 0.05), below 0.003 puts
// the subject on probation for 60 days after that rating (T at most 0.3, the base rate).
class OnOffTest : public AttackTest {
 protected:
  explicit OnOffTest(TrustParams params = {}) : AttackTest(params) {}
  // a0 behaves for ten days: h1 rates it well daily.
  void GoodDays() {
    for (const char* h : {"h1", "h2", "h3", "h4"}) Vouch(h);
    for (int d = 0; d < 10; ++d) Rate("h1", "a0", 1.0, 1, d * kDay);
  }
  // Then it turns: in the window (12, 22] h2 rated it well on day 19 and badly on day 20, h3
  // and h4 badly on days 21 and 22.
  void BurstThenGoodDays() {
    Rate("h2", "a0", 1.0, 1, 19 * kDay);
    Rate("h2", "a0", 0.0, 1, 20 * kDay);
    Rate("h3", "a0", 0.0, 1, 21 * kDay);
    Rate("h4", "a0", 0.0, 1, 22 * kDay);
    // Then it behaves again, and h1 rates it well every day for four weeks.
    for (int d = 23; d < 51; ++d) Rate("h1", "a0", 1.0, 1, d * kDay);
  }
};

TEST_F(OnOffTest, ABurstOfBadRatingsPutsTheSubjectOnProbation) {
  GoodDays();
  model_.Refresh(10 * kDay);
  EXPECT_TRUE(SharesVitals("h5", "a0", 10 * kDay)) << "trusted before the burst";
  BurstThenGoodDays();
  model_.Refresh(51 * kDay);
  for (const char* h : {"h2", "h3", "h4"}) ASSERT_GE(model_.RaterHonesty(h), 0.6) << h;
  // The window of the last bad rating (day 22) holds n = 4 ratings, s = 3 bad:
  // P(X >= 3) = 4 * 0.05^3 * 0.95 + 0.05^4 = 0.000481 < 0.003: on probation until day 82.
  EXPECT_NEAR(BetaCdf(3, 2, 0.05), 4 * 0.05 * 0.05 * 0.05 * 0.95 + 0.05 * 0.05 * 0.05 * 0.05,
              1e-12);
  // h1, who rated a0 well every day for four weeks since, would share without probation (below).
  const TrustEstimate t = model_.Trust("h1", "a0", 51 * kDay);
  EXPECT_TRUE(t.probation);
  EXPECT_DOUBLE_EQ(t.probation_ratings, 4);
  EXPECT_DOUBLE_EQ(t.probation_bad, 3);
  EXPECT_DOUBLE_EQ(t.value, 0.3);  // 28 good days later, still capped at the base rate
  EXPECT_FALSE(SharesVitals("h1", "a0", 51 * kDay));
  const std::string text = DecideVitals(true, t).reasons.back().text;
  EXPECT_NE(text.find("on probation after 3.0 bad of 4.0 recent ratings"), std::string::npos)
      << text;
  // 60 days after the last bad rating the probation ends and the good evidence counts again.
  model_.Refresh(83 * kDay);
  EXPECT_FALSE(model_.OnProbation("a0", 83 * kDay));
  EXPECT_FALSE(model_.Trust("h1", "a0", 83 * kDay).probation);
  EXPECT_TRUE(SharesVitals("h1", "a0", 83 * kDay));
}

class OnOffNoProbationTest : public OnOffTest {
 protected:
  static TrustParams NoProbation() {
    TrustParams p;
    p.probation_quantile = 0;
    return p;
  }
  OnOffNoProbationTest() : OnOffTest(NoProbation()) {}
};

TEST_F(OnOffNoProbationTest, WithoutProbationGoodDaysDiluteTheBurst) {
  GoodDays();
  BurstThenGoodDays();
  model_.Refresh(51 * kDay);
  EXPECT_FALSE(model_.OnProbation("a0", 51 * kDay));
  // h1's own four good weeks outweigh the burst the others saw.
  EXPECT_GT(model_.Trust("h1", "a0", 51 * kDay).direct_weight, 0.8);
  EXPECT_TRUE(SharesVitals("h1", "a0", 51 * kDay));
}

TEST_F(AttackTest, AnHonestPatientsBadDayIsNoProbation) {
  for (const char* h : {"h1", "h2", "h3", "h4"}) Vouch(h);
  // Ten days, h1-h4 rate h0 well (one each per day, in turn), then a bad day: two bad ratings
  // on day 10. Its window (0, 10] holds 9 good and 2 bad ratings (h1-h4 at most 5 each):
  // P(X >= 2 | n = 11) = 1 - 0.95^11 - 11 * 0.05 * 0.95^10 = 0.1019 >= 0.003.
  const char* raters[] = {"h1", "h2", "h3", "h4"};
  for (int d = 1; d < 10; ++d) Rate(raters[d % 4], "h0", 1.0, 1, d * kDay);
  Rate("h1", "h0", 0.0, 1, 10 * kDay);
  Rate("h2", "h0", 0.0, 1, 10 * kDay);
  // Bad-mouthers without a clinician's chain are not eligible, however many 0s they give.
  for (const char* a : {"a1", "a2", "a3"}) Rate(a, "h0", 0.0, 2, 10 * kDay);
  model_.Refresh(11 * kDay);
  EXPECT_NEAR(1 - BetaCdf(2, 10, 0.05), std::pow(0.95, 11) + 11 * 0.05 * std::pow(0.95, 10), 1e-12);
  EXPECT_FALSE(model_.OnProbation("h0", 11 * kDay));
  EXPECT_FALSE(model_.Trust("h5", "h0", 11 * kDay).probation);
  // A third bad rating in the same window would be: P(X >= 3 | 12) = 0.0196, still >= 0.003.
  Rate("h3", "h0", 0.0, 1, 10 * kDay);
  model_.Refresh(11 * kDay);
  EXPECT_FALSE(model_.OnProbation("h0", 11 * kDay));
}

TEST_F(AttackTest, OneHoldersDisputeIsNoProbation) {
  for (const char* h : {"h1", "h2", "h3"}) Vouch(h);
  // Only h2 rated h0 in the window, badly, twice: n = 2, s = 2, P(X >= 2) = 0.05^2 = 0.0025,
  // below 0.003 - but the ratings of one holder are one dispute, not independent trials.
  Rate("h2", "h0", 0.0, 1, 5 * kDay);
  Rate("h2", "h0", 0.0, 1, 6 * kDay);
  model_.Refresh(7 * kDay);
  EXPECT_NEAR(BetaCdf(2, 1, 0.05), 0.0025, 1e-12);
  EXPECT_FALSE(model_.OnProbation("h0", 7 * kDay));
  // A second holder's bad rating in the same window makes it a burst: n = 3, s = 3,
  // P = 0.05^3 = 0.000125.
  Rate("h3", "h0", 0.0, 1, 7 * kDay);
  model_.Refresh(8 * kDay);
  EXPECT_TRUE(model_.OnProbation("h0", 8 * kDay));
}

TEST_F(AttackTest, AnHonestReportOfAWellLikedAttackerIsNotALiarsRecord) {
  // h2-h4 rate a0 well (3x each, in a0's good phase); h1 met a0 in its bad phase and rated it 0
  // three times. Against everyone else's p (about 0.8), h1's honesty is (3 (1 - p) + 2) / (3 + 2),
  // below 0.6, but it was judged on 3 units only: fewer than lying_rater_min_evidence (5).
  for (const char* h : {"h1", "h2", "h3", "h4"}) Vouch(h);
  for (const char* h : {"h2", "h3", "h4"}) Rate(h, "a0", 1.0, 3);
  Rate("h1", "a0", 0.0, 3);
  model_.Refresh(0);
  ASSERT_LT(model_.RaterHonesty("h1"), 0.6);
  const TrustEstimate t = model_.Trust("h5", "h1", 0);
  EXPECT_NEAR(t.rater_judged_evidence, 3.0, 1e-9);
  EXPECT_FALSE(t.lying_rater);
  EXPECT_TRUE(SharesVitals("h5", "h1", 0)) << "the clinician's word for h1 still counts";
}

}  // namespace
}  // namespace medmesh::trust
