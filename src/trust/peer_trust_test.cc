#include "trust/peer_trust.h"

#include <gtest/gtest.h>

namespace medmesh::trust {
namespace {

constexpr std::int64_t kDay = 24 * 3600 * 1000LL;

TEST(PeerTrust, UnknownPeerSitsAtTheBaseRate) {
  PeerTrust trust;
  const PeerStanding s = trust.Standing("cloudlet-x", 0);
  EXPECT_DOUBLE_EQ(s.trust, 0.5);
  EXPECT_DOUBLE_EQ(s.confidence, 0);
  EXPECT_TRUE(trust.Ranked(0).empty());
}

TEST(PeerTrust, OneFailedVerificationUndoesThreeGoodShares) {
  PeerTrust trust;
  for (int i = 0; i < 3; ++i) trust.Record({"b", PeerEventKind::kDataVerified, 0});
  trust.Record({"b", PeerEventKind::kDataFailedVerification, 0});
  const PeerStanding s = trust.Standing("b", 0);
  EXPECT_DOUBLE_EQ(s.positive, 3);
  EXPECT_DOUBLE_EQ(s.negative, 3);
  EXPECT_DOUBLE_EQ(s.trust, 0.5);
}

TEST(PeerTrust, RanksAndChoosesPartnersAboveTheThreshold) {
  PeerTrust trust;
  for (int i = 0; i < 10; ++i) trust.Record({"good", PeerEventKind::kForwardConfirmed, 0});
  for (int i = 0; i < 4; ++i) trust.Record({"fair", PeerEventKind::kReportConfirmed, 0});
  trust.Record({"fair", PeerEventKind::kForwardLost, 0});
  for (int i = 0; i < 3; ++i) trust.Record({"bad", PeerEventKind::kReportRefuted, 0});
  const auto ranked = trust.Ranked(0);
  ASSERT_EQ(ranked.size(), 3u);
  EXPECT_EQ(ranked[0].peer, "good");
  EXPECT_EQ(ranked[1].peer, "fair");
  EXPECT_EQ(ranked[2].peer, "bad");
  const auto partners = trust.ChoosePartners(0, 0.6, 5);
  ASSERT_EQ(partners.size(), 2u);
  EXPECT_EQ(partners[0].peer, "good");
  EXPECT_EQ(trust.ChoosePartners(0, 0.6, 1).size(), 1u);
}

TEST(PeerTrust, OldFailuresFadeSoAPeerCanRecover) {
  PeerTrust trust;  // half-lives: one week (successes), two weeks (failures)
  trust.Record({"b", PeerEventKind::kDataFailedVerification, 0});
  EXPECT_LT(trust.Standing("b", 0).trust, 0.3);
  for (int i = 0; i < 3; ++i) trust.Record({"b", PeerEventKind::kDataVerified, 28 * kDay});
  // r = 3, s = 3 / 4: E = 4 / 5.75.
  EXPECT_NEAR(trust.Standing("b", 28 * kDay).trust, 4.0 / 5.75, 1e-9);
}

TEST(PeerTrust, EventNamesRoundTrip) {
  for (PeerEventKind k : {PeerEventKind::kForwardConfirmed, PeerEventKind::kForwardLost,
                          PeerEventKind::kDataVerified, PeerEventKind::kDataFailedVerification,
                          PeerEventKind::kReportConfirmed, PeerEventKind::kReportRefuted}) {
    PeerEventKind parsed = PeerEventKind::kForwardConfirmed;
    ASSERT_TRUE(ParsePeerEventKind(PeerEventKindName(k), parsed));
    EXPECT_EQ(parsed, k);
  }
  PeerEventKind out = PeerEventKind::kForwardLost;
  EXPECT_FALSE(ParsePeerEventKind("forward", out));
  EXPECT_EQ(out, PeerEventKind::kForwardLost);
}

}  // namespace
}  // namespace medmesh::trust
