// Fusion and peer trust (mesh_fusion.h): one peer never blocks alone, two trusted origins do,
// own alerts confirm, benign behaviour here refutes, revocations remove support, and a lying
// peer loses its influence.
#include "ids/mesh_fusion.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace medmesh::ids {
namespace {

constexpr std::int64_t kT0 = 1'800'000'000'000;
constexpr std::int64_t kMinute = 60'000;

Decision Block(std::string origin, std::string ip, std::string id, std::int64_t now,
               Action action = Action::kBlock) {
  Decision d;
  d.id = std::move(id);
  d.origin = std::move(origin);
  d.detector = "credentials";
  d.detector_version = 1;
  d.scope = {ScopeKind::kIp, std::move(ip)};
  d.action = action;
  d.created_ms = now;
  d.expires_ms = now + 10 * kMinute;
  d.reason = "10 failures";
  return d;
}

TEST(MeshFusionTest, OnePeerAloneNeverBlocksHoweverTrusted) {
  MeshFusionOptions o;
  o.initial_trust = 1.0;  // even a perfectly trusted peer
  MeshFusion fusion(o);
  const auto u = fusion.OnPeerDecision(Block("c2", "203.0.113.9", "d1", kT0), false, kT0);
  EXPECT_EQ(u.verdict, FusionVerdict::kAlertOnly);
  EXPECT_FALSE(u.adopt);
  // The same peer again, with another decision on the scope: still one origin.
  const auto again =
      fusion.OnPeerDecision(Block("c2", "203.0.113.9", "d2", kT0 + 1000), false, kT0 + 1000);
  EXPECT_EQ(again.verdict, FusionVerdict::kAlertOnly);
  EXPECT_EQ(again.origins.size(), 1u);
}

TEST(MeshFusionTest, TwoTrustedOriginsAdoptWithTheWeakestActionAndEarliestExpiry) {
  MeshFusion fusion;
  EXPECT_EQ(fusion.OnPeerDecision(Block("c2", "203.0.113.9", "d1", kT0), false, kT0).verdict,
            FusionVerdict::kAlertOnly);
  Decision second = Block("c3", "203.0.113.9", "d2", kT0, Action::kThrottle);
  second.expires_ms = kT0 + 5 * kMinute;
  const auto u = fusion.OnPeerDecision(second, false, kT0 + 10);
  ASSERT_EQ(u.verdict, FusionVerdict::kAdopted);
  ASSERT_TRUE(u.adopt);
  EXPECT_EQ(u.adopt->action, Action::kThrottle);
  EXPECT_EQ(u.adopt->expires_ms, kT0 + 5 * kMinute);
  EXPECT_DOUBLE_EQ(u.support, 1.5);
  EXPECT_EQ(u.origins.size(), 2u);
}

TEST(MeshFusionTest, OnePeerAndAnOwnAlertAdopt) {
  MeshFusion fusion;
  fusion.OnLocalAlert({ScopeKind::kIp, "203.0.113.9"}, kT0);
  const auto u = fusion.OnPeerDecision(Block("c2", "203.0.113.9", "d1", kT0), false, kT0 + 5);
  EXPECT_EQ(u.verdict, FusionVerdict::kAdopted);
  // And the report was confirmed by the alert: the peer gains trust.
  EXPECT_EQ(fusion.Peer("c2", kT0 + 5).confirmed, 1u);
  EXPECT_GT(fusion.Peer("c2", kT0 + 5).trust, 0.75);
}

TEST(MeshFusionTest, AnOwnAlertAfterAPeerReportCompletesTheAdoption) {
  MeshFusion fusion;
  EXPECT_EQ(fusion.OnPeerDecision(Block("c2", "203.0.113.9", "d1", kT0), false, kT0).verdict,
            FusionVerdict::kAlertOnly);
  // An alert on another scope completes nothing.
  EXPECT_FALSE(fusion.OnLocalAlert({ScopeKind::kIp, "203.0.113.10"}, kT0 + 1000));
  const auto completed = fusion.OnLocalAlert({ScopeKind::kIp, "203.0.113.9"}, kT0 + 1000);
  ASSERT_TRUE(completed);
  EXPECT_EQ(completed->verdict, FusionVerdict::kAdopted);
  ASSERT_TRUE(completed->adopt);
  EXPECT_EQ(completed->adopt->origin, "c2");
  // Once adopted, a second alert does not adopt again.
  EXPECT_FALSE(fusion.OnLocalAlert({ScopeKind::kIp, "203.0.113.9"}, kT0 + 2000));
}

TEST(MeshFusionTest, AllowlistedHereIsDroppedAndRefutes) {
  MeshFusion fusion;
  const auto u = fusion.OnPeerDecision(Block("c2", "198.51.100.1", "d1", kT0), true, kT0);
  EXPECT_EQ(u.verdict, FusionVerdict::kDropped);
  EXPECT_EQ(fusion.Peer("c2", kT0).refuted, 1u);
  EXPECT_LT(fusion.Peer("c2", kT0).trust, 0.5);
}

TEST(MeshFusionTest, ExpiredReportsAreDropped) {
  MeshFusion fusion;
  const auto u =
      fusion.OnPeerDecision(Block("c2", "198.51.100.1", "d1", kT0), false, kT0 + 11 * kMinute);
  EXPECT_EQ(u.verdict, FusionVerdict::kDropped);
}

TEST(MeshFusionTest, ARevocationRemovesSupportAndTheAdoptedCopy) {
  MeshFusion fusion;
  (void)fusion.OnPeerDecision(Block("c2", "203.0.113.9", "d1", kT0), false, kT0);
  const auto adopted = fusion.OnPeerDecision(Block("c3", "203.0.113.9", "d2", kT0), false, kT0);
  ASSERT_EQ(adopted.verdict, FusionVerdict::kAdopted);
  const std::string adopted_id = adopted.adopt->id;
  const auto u = fusion.OnPeerRevocation("c2", "d1", kT0 + kMinute);
  EXPECT_EQ(u.verdict, FusionVerdict::kAlertOnly);
  ASSERT_TRUE(u.revoke);
  EXPECT_EQ(*u.revoke, adopted_id);
  EXPECT_EQ(fusion.Peer("c2", kT0 + kMinute).refuted, 1u);
  // Unknown revocations are dropped.
  EXPECT_EQ(fusion.OnPeerRevocation("c3", "nope", kT0 + kMinute).verdict, FusionVerdict::kDropped);
}

TEST(MeshFusionTest, ABenignScopeRefutesAndAnUnseenOneIsNoEvidence) {
  MeshFusion fusion;
  (void)fusion.OnPeerDecision(Block("c2", "198.51.100.1", "d1", kT0), false, kT0);
  (void)fusion.OnPeerDecision(Block("c2", "198.51.100.2", "d2", kT0), false, kT0);
  EXPECT_TRUE(fusion.AnyPending());
  fusion.OnLocalTraffic({ScopeKind::kIp, "198.51.100.1"}, kT0 + kMinute);  // seen, no alert
  (void)fusion.Tick(kT0 + 11 * kMinute);
  const PeerRecord r = fusion.Peer("c2", kT0 + 11 * kMinute);
  EXPECT_EQ(r.refuted, 1u);
  EXPECT_EQ(r.confirmed, 0u);
  EXPECT_FALSE(fusion.AnyPending());
}

// Every report confirmed or refuted is handed out once (TakeSettled), for the cloudlet's own
// peer trust; reports without evidence are not.
TEST(MeshFusionTest, SettledReportsAreHandedOutOnceEach) {
  MeshFusion fusion;
  EXPECT_TRUE(fusion.TakeSettled().empty());
  fusion.OnLocalAlert({ScopeKind::kIp, "203.0.113.9"}, kT0);
  (void)fusion.OnPeerDecision(Block("c2", "203.0.113.9", "d1", kT0), false, kT0 + 5);   // confirmed
  (void)fusion.OnPeerDecision(Block("c3", "198.51.100.1", "d2", kT0), true, kT0 + 6);   // refuted
  (void)fusion.OnPeerDecision(Block("c4", "198.51.100.7", "d3", kT0), false, kT0 + 7);  // unseen
  auto settled = fusion.TakeSettled();
  ASSERT_EQ(settled.size(), 2u);
  EXPECT_EQ(settled[0].origin, "c2");
  EXPECT_TRUE(settled[0].confirmed);
  EXPECT_EQ(settled[0].time_ms, kT0 + 5);
  EXPECT_EQ(settled[1].origin, "c3");
  EXPECT_FALSE(settled[1].confirmed);
  EXPECT_TRUE(fusion.TakeSettled().empty());
  // The window ends for c4's report without the scope seen here: no evidence, nothing settled
  // as confirmed or refuted.
  (void)fusion.Tick(kT0 + 11 * kMinute);
  EXPECT_TRUE(fusion.TakeSettled().empty());
}

TEST(MeshFusionTest, SupportThatLapsesRevokesTheAdoptedCopy) {
  MeshFusion fusion;
  (void)fusion.OnPeerDecision(Block("c2", "203.0.113.9", "d1", kT0), false, kT0);
  ASSERT_EQ(fusion.OnPeerDecision(Block("c3", "203.0.113.9", "d2", kT0), false, kT0).verdict,
            FusionVerdict::kAdopted);
  EXPECT_TRUE(fusion.Tick(kT0 + kMinute).empty());
  const auto lapsed = fusion.Tick(kT0 + 10 * kMinute);
  ASSERT_EQ(lapsed.size(), 1u);
  EXPECT_TRUE(lapsed[0].revoke);
}

// The lying peer: "liar" reports innocent addresses that then behave benignly here, while an
// honest peer's reports are confirmed by this node's own detectors. Printed: the time until the
// liar's influence is gone. Asserted: no innocent address is ever adopted, even when the liar's
// report meets an honest peer's unrelated report, and the liar ends below the threshold.
TEST(MeshFusionTest, ALyingPeerLosesItsInfluenceAndBlocksNoInnocent) {
  MeshFusion fusion;
  const MeshFusionOptions& o = fusion.options();
  int innocent_adopted = 0;
  std::int64_t influence_gone_ms = -1;
  std::int64_t now = kT0;
  for (int round = 0; round < 20; ++round, now += kMinute) {
    // The liar names an innocent address; the innocent keeps using this node normally.
    const std::string innocent = "192.0.2." + std::to_string(round + 1);
    const auto lie = fusion.OnPeerDecision(
        Block("liar", innocent, "l" + std::to_string(round), now), false, now);
    innocent_adopted += lie.verdict == FusionVerdict::kAdopted ? 1 : 0;
    fusion.OnLocalTraffic({ScopeKind::kIp, innocent}, now + 1000);
    // The honest peer reports a real attacker, which this node's detectors also see.
    const std::string attacker = "203.0.113." + std::to_string(round + 1);
    (void)fusion.OnPeerDecision(Block("honest", attacker, "h" + std::to_string(round), now), false,
                                now);
    fusion.OnLocalAlert({ScopeKind::kIp, attacker}, now + 2000);
    (void)fusion.Tick(now + 30'000);
    if (influence_gone_ms < 0 && fusion.Weight("liar", now + 30'000) == 0.0) {
      influence_gone_ms = now + 30'000 - kT0;
    }
  }
  // A final collusion attempt: the honest peer (fully trusted now) happens to report the same
  // innocent address by mistake at the same time as the liar. The liar's weight is 0.
  const auto collusion = [&] {
    (void)fusion.OnPeerDecision(Block("liar", "192.0.2.200", "lx", now), false, now);
    return fusion.OnPeerDecision(Block("honest", "192.0.2.200", "hx", now), false, now);
  }();
  innocent_adopted += collusion.verdict == FusionVerdict::kAdopted ? 1 : 0;

  EXPECT_EQ(innocent_adopted, 0);
  ASSERT_GE(influence_gone_ms, 0) << "the liar kept its influence";
  EXPECT_LT(fusion.Peer("liar", now).trust, o.adopt_threshold - 1.0);
  EXPECT_GT(fusion.Peer("honest", now).trust, 0.9);
  EXPECT_GE(fusion.Peer("liar", now).refuted, 10u);
  std::printf(
      "[ lying peer ] influence below threshold after %.1f s (confirm window %.0f s);"
      " innocent addresses adopted: %d; liar trust %.3f, honest trust %.3f\n",
      static_cast<double>(influence_gone_ms) / 1000.0,
      static_cast<double>(o.confirm_window_ms) / 1000.0, innocent_adopted,
      fusion.Peer("liar", now).trust, fusion.Peer("honest", now).trust);
}

TEST(MeshFusionTest, TrustForgetsSoAReformedPeerRecovers) {
  MeshFusionOptions o;
  o.forgetting = {std::chrono::hours(1), std::chrono::hours(1)};
  MeshFusion fusion(o);
  (void)fusion.OnPeerDecision(Block("c2", "198.51.100.1", "d1", kT0), true, kT0);
  EXPECT_EQ(fusion.Weight("c2", kT0), 0.0);
  // Twenty half-lives later the refutation is forgotten: back near the initial trust.
  EXPECT_GT(fusion.Weight("c2", kT0 + 20 * 60 * kMinute), 0.7);
}

}  // namespace
}  // namespace medmesh::ids
