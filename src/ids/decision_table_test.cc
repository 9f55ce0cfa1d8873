#include "ids/decision_table.h"

#include <gtest/gtest.h>

#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"

namespace medmesh::ids {
namespace {

using std::chrono::minutes;

class DecisionTableTest : public ::testing::Test {
 protected:
  std::unique_ptr<DecisionTable> Open() {
    auto t = DecisionTable::Open(dir_.File("decisions.db"), "cloudlet-1", clock_, random_);
    EXPECT_TRUE(t) << t.error().ToString();
    return t ? std::move(*t) : nullptr;
  }
  static Proposal Block(std::string_view ip) {
    return {"credentials", 1, *SourceScope(ip), Action::kBlock, "too many failed logins"};
  }
  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{7};
};

TEST_F(DecisionTableTest, BlocksTheSourceUntilExpiry) {
  auto t = Open();
  EXPECT_FALSE(t->AnyEnforcing());
  auto d = t->Impose(Block("203.0.113.9"));
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->offence, 1u);
  EXPECT_EQ((*d)->expires_ms - (*d)->created_ms, std::chrono::milliseconds(minutes(10)).count());
  EXPECT_TRUE(t->AnyEnforcing());
  EXPECT_TRUE(t->Match("203.0.113.9"));
  EXPECT_FALSE(t->Match("203.0.113.10"));
  clock_.Advance(minutes(10));
  EXPECT_FALSE(t->Match("203.0.113.9"));
}

// A peer's decision adopted through the mesh (mesh_fusion.h): kept under its own id and
// origin, never in force past the origin's expiry, the allowlist still wins, a stronger local
// decision stays, a revoked copy can be adopted again, and it survives a restart.
TEST_F(DecisionTableTest, AdoptKeepsTheOriginAndItsExpiryAndTheAllowlistWins) {
  auto t = Open();
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
          .count();
  Decision peer;
  peer.id = "0123456789abcdef0123456789abcdef";
  peer.origin = "cloudlet-2";
  peer.detector = "credentials";
  peer.detector_version = 1;
  peer.scope = *SourceScope("203.0.113.20");
  peer.action = Action::kThrottle;
  peer.created_ms = now + 5'000;  // the origin's clock runs ahead
  peer.expires_ms = now + 60'000;
  peer.reason = "mesh";
  auto adopted = t->Adopt(peer);
  ASSERT_TRUE(adopted && *adopted);
  EXPECT_EQ((*adopted)->origin, "cloudlet-2");
  EXPECT_EQ((*adopted)->id, peer.id);
  EXPECT_EQ((*adopted)->created_ms, now);  // in force from now, not from the origin's clock
  ASSERT_TRUE(t->Match("203.0.113.20"));
  EXPECT_EQ(t->Match("203.0.113.20")->action, Action::kThrottle);
  clock_.Advance(std::chrono::seconds(60));
  EXPECT_FALSE(t->Match("203.0.113.20")) << "in force past the origin's expiry";

  // A stronger local decision stays as it is.
  ASSERT_TRUE(t->Impose(Block("203.0.113.21")));
  Decision weaker = peer;
  weaker.id = "1123456789abcdef0123456789abcdef";
  weaker.scope = *SourceScope("203.0.113.21");
  weaker.created_ms = now;
  weaker.expires_ms = now + 600'000;
  auto kept = t->Adopt(weaker);
  ASSERT_TRUE(kept && *kept);
  EXPECT_EQ((*kept)->origin, "cloudlet-1");

  // The allowlist wins.
  Decision allowed = weaker;
  allowed.id = "2223456789abcdef0123456789abcdef";
  allowed.scope = *SourceScope("198.51.100.5");
  ASSERT_TRUE(t->Allow(allowed.scope, "gateway"));
  auto refused = t->Adopt(allowed);
  ASSERT_TRUE(refused);
  EXPECT_FALSE(*refused);
  EXPECT_FALSE(t->Match("198.51.100.5"));

  // Revoked, then adopted again (the same id), and it survives a restart.
  Decision again = weaker;
  again.id = "3323456789abcdef0123456789abcdef";
  again.scope = *SourceScope("203.0.113.22");
  again.action = Action::kBlock;
  ASSERT_TRUE(t->Adopt(again));
  ASSERT_TRUE(t->Revoke(again.id));
  EXPECT_FALSE(t->Match("203.0.113.22"));
  ASSERT_TRUE(t->Adopt(again));
  EXPECT_TRUE(t->Match("203.0.113.22"));
  t.reset();
  t = Open();
  ASSERT_TRUE(t->Match("203.0.113.22"));
  EXPECT_EQ(t->Match("203.0.113.22")->origin, "cloudlet-2");
}

TEST_F(DecisionTableTest, Ipv6PeersAreBlockedByTheirSlash64) {
  auto t = Open();
  ASSERT_TRUE(t->Impose(Block("2001:db8:1:2::10")));
  EXPECT_TRUE(t->Match("2001:db8:1:2:ffff::99"));
  EXPECT_FALSE(t->Match("2001:db8:1:3::10"));
}

TEST_F(DecisionTableTest, BlocksAnswersLikeMatchForBlockDecisionsOnly) {
  auto t = Open();
  EXPECT_FALSE(t->Blocks("203.0.113.9"));
  auto d = t->Impose(Block("203.0.113.9"));
  ASSERT_TRUE(d && *d);
  ASSERT_TRUE(t->Impose({"x", 1, *SourceScope("203.0.113.8"), Action::kThrottle, "flood"}));
  ASSERT_TRUE(t->Impose({"x", 1, *SourceScope("203.0.113.7"), Action::kAlertOnly, "odd"}));
  ASSERT_TRUE(t->Impose(Block("2001:db8:1:2::10")));
  EXPECT_TRUE(t->Blocks("203.0.113.9"));
  EXPECT_FALSE(t->Blocks("203.0.113.8"));  // a throttle is the head-time filter's job
  EXPECT_FALSE(t->Blocks("203.0.113.7"));
  EXPECT_FALSE(t->Blocks("203.0.113.10"));
  EXPECT_TRUE(t->Blocks("2001:db8:1:2:ffff::99"));  // by its /64
  EXPECT_FALSE(t->Blocks("2001:db8:1:3::10"));
  EXPECT_FALSE(t->Blocks("not an address"));

  // The allowlist wins, also for one address of a blocked /64, and its removal is seen.
  ASSERT_TRUE(t->Allow(*NormalizeScope(ScopeKind::kIp, "2001:db8:1:2::77"), "monitor"));
  ASSERT_TRUE(t->Allow(*NormalizeScope(ScopeKind::kIp, "203.0.113.9"), "monitor"));
  EXPECT_FALSE(t->Blocks("2001:db8:1:2::77"));
  EXPECT_TRUE(t->Blocks("2001:db8:1:2::78"));
  EXPECT_FALSE(t->Blocks("203.0.113.9"));
  ASSERT_TRUE(t->Disallow(*NormalizeScope(ScopeKind::kIp, "203.0.113.9")));
  EXPECT_TRUE(t->Blocks("203.0.113.9"));

  // A restart reloads it; revocation and expiry end it.
  t.reset();
  t = Open();
  EXPECT_TRUE(t->Blocks("203.0.113.9"));
  ASSERT_TRUE(t->Revoke((*d)->id));
  EXPECT_FALSE(t->Blocks("203.0.113.9"));
  EXPECT_TRUE(t->Blocks("2001:db8:1:2::1"));
  clock_.Advance(minutes(10));
  EXPECT_FALSE(t->Blocks("2001:db8:1:2::1"));
}

TEST_F(DecisionTableTest, BlocksRangeOnlyForABlockedSlash64WithNoExceptionInside) {
  auto t = Open();
  EXPECT_FALSE(t->BlocksRange("2001:db8:1:2::/64"));
  ASSERT_TRUE(t->Impose(Block("2001:db8:1:2::10")));  // an IPv6 source's scope is its /64
  ASSERT_TRUE(t->Impose(Block("2001:db8:1:5::10")));
  ASSERT_TRUE(t->Impose(Block("203.0.113.9")));
  ASSERT_TRUE(t->Impose({"x", 1, *SourceScope("2001:db8:1:3::1"), Action::kThrottle, "flood"}));
  EXPECT_TRUE(t->BlocksRange("2001:db8:1:2::/64"));
  EXPECT_TRUE(t->BlocksRange("2001:db8:1:2:0:0:0:0/64"));  // any spelling of it
  EXPECT_FALSE(t->BlocksRange("2001:db8:1:3::/64"));       // a throttle
  EXPECT_FALSE(t->BlocksRange("2001:db8:1:4::/64"));
  EXPECT_FALSE(t->BlocksRange("203.0.113.9"));
  EXPECT_FALSE(t->BlocksRange("2001:db8:1:2::/48"));
  // One allowlisted address inside the range: the range is no longer blocked as a whole
  // (the others still are, one by one).
  ASSERT_TRUE(t->Allow(*NormalizeScope(ScopeKind::kIp, "2001:db8:1:2::77"), "monitor"));
  EXPECT_FALSE(t->BlocksRange("2001:db8:1:2::/64"));
  EXPECT_TRUE(t->Blocks("2001:db8:1:2::78"));
  ASSERT_TRUE(t->Disallow(*NormalizeScope(ScopeKind::kIp, "2001:db8:1:2::77")));
  EXPECT_TRUE(t->BlocksRange("2001:db8:1:2::/64"));
  // The range allowlisted, or the block expired.
  ASSERT_TRUE(t->Allow(*NormalizeScope(ScopeKind::kRange, "2001:db8:1:5::/64"), "lab"));
  EXPECT_FALSE(t->BlocksRange("2001:db8:1:5::/64"));
  clock_.Advance(minutes(10));
  EXPECT_FALSE(t->BlocksRange("2001:db8:1:2::/64"));
}

TEST_F(DecisionTableTest, RepeatOffendersGetLongerDecisions) {
  auto t = Open();
  std::vector<std::int64_t> lengths;
  for (int i = 0; i < 4; ++i) {
    auto d = t->Impose(Block("198.51.100.4"));
    ASSERT_TRUE(d && *d);
    EXPECT_EQ((*d)->offence, static_cast<std::uint32_t>(i + 1));
    lengths.push_back((*d)->expires_ms - (*d)->created_ms);
    clock_.Advance(std::chrono::milliseconds(lengths.back()));
  }
  EXPECT_EQ(lengths[0], std::chrono::milliseconds(minutes(10)).count());
  EXPECT_EQ(lengths[1], 4 * lengths[0]);
  EXPECT_EQ(lengths[2], 16 * lengths[0]);
  EXPECT_EQ(lengths[3], 64 * lengths[0]);
}

TEST_F(DecisionTableTest, AContinuingAttackDoesNotEscalateWhileDecided) {
  auto t = Open();
  auto first = t->Impose(Block("198.51.100.4"));
  auto again = t->Impose(Block("198.51.100.4"));
  ASSERT_TRUE(first && *first && again && *again);
  EXPECT_EQ((*again)->id, (*first)->id);
  // A stronger action replaces a weaker one.
  auto alert = t->Impose({"x", 1, *SourceScope("198.51.100.5"), Action::kThrottle, "flood"});
  auto block = t->Impose(Block("198.51.100.5"));
  ASSERT_TRUE(alert && *alert && block && *block);
  EXPECT_NE((*block)->id, (*alert)->id);
  EXPECT_EQ(t->Match("198.51.100.5")->action, Action::kBlock);
}

TEST_F(DecisionTableTest, AllowlistAlwaysWins) {
  auto t = Open();
  ASSERT_TRUE(t->Impose(Block("192.0.2.1")));
  ASSERT_TRUE(t->Allow(*NormalizeScope(ScopeKind::kIp, "192.0.2.1"), "monitoring host"));
  EXPECT_FALSE(t->Match("192.0.2.1"));  // over a decision imposed before
  auto none = t->Impose(Block("192.0.2.1"));
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);  // and no new decision
  ASSERT_TRUE(t->Allow(*NormalizeScope(ScopeKind::kRange, "2001:db8:9::/64"), ""));
  auto v6 = t->Impose(Block("2001:db8:9::5"));
  ASSERT_TRUE(v6);
  EXPECT_FALSE(*v6);
  ASSERT_TRUE(t->Disallow(*NormalizeScope(ScopeKind::kIp, "192.0.2.1")));
  EXPECT_TRUE(t->Match("192.0.2.1"));
  EXPECT_EQ(t->Disallow(*NormalizeScope(ScopeKind::kIp, "192.0.2.1")).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(DecisionTableTest, TheLocalProxyAddressIsOnlyAlertedOn) {
  auto t = Open();
  for (std::string_view ip : {"127.0.0.1", "::1", "::ffff:127.0.0.1"}) {
    auto d = t->Impose({"x", 1, *SourceScope(ip), Action::kBlock, "flood"});
    ASSERT_TRUE(d && *d);
    EXPECT_EQ((*d)->action, Action::kAlertOnly);
  }
  EXPECT_FALSE(t->Match("127.0.0.1"));
  EXPECT_FALSE(t->AnyEnforcing());
  ASSERT_TRUE(t->Impose({"x", 1, *SourceScope("127.0.0.2"), Action::kBlock, "flood"}));
  EXPECT_TRUE(t->Match("127.0.0.2"));
}

TEST_F(DecisionTableTest, RevokeEndsADecision) {
  auto t = Open();
  auto d = t->Impose(Block("192.0.2.7"));
  ASSERT_TRUE(d && *d);
  auto revoked = t->Revoke((*d)->id);
  ASSERT_TRUE(revoked);
  EXPECT_TRUE(revoked->revoked_ms.has_value());
  EXPECT_FALSE(t->Match("192.0.2.7"));
  EXPECT_FALSE(t->AnyEnforcing());
  EXPECT_EQ(t->Revoke((*d)->id).error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(t->Revoke("nope").error().code(), ErrorCode::kNotFound);
  // A revoked decision still counts as an offence.
  auto next = t->Impose(Block("192.0.2.7"));
  ASSERT_TRUE(next && *next);
  EXPECT_EQ((*next)->offence, 2u);
}

TEST_F(DecisionTableTest, SurvivesARestart) {
  std::string id;
  {
    auto t = Open();
    auto d = t->Impose(Block("192.0.2.8"));
    ASSERT_TRUE(d && *d);
    id = (*d)->id;
    ASSERT_TRUE(t->Allow(*NormalizeScope(ScopeKind::kDevice, "watch-1"), "demo"));
  }
  auto t = Open();
  ASSERT_TRUE(t->Match("192.0.2.8"));
  EXPECT_EQ(t->Match("192.0.2.8")->id, id);
  EXPECT_TRUE(t->Allowlisted(*NormalizeScope(ScopeKind::kDevice, "watch-1")));
  auto listed = t->List(true, 10);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, id);
  // The offence count survives too.
  clock_.Advance(minutes(11));
  auto again = t->Impose(Block("192.0.2.8"));
  ASSERT_TRUE(again && *again);
  EXPECT_EQ((*again)->offence, 2u);
}

TEST_F(DecisionTableTest, SweepForgetsOldOffencesAndEndedDecisions) {
  auto t = Open();
  ASSERT_TRUE(t->Impose(Block("192.0.2.9")));
  clock_.Advance(std::chrono::hours(24 * 31));
  ASSERT_TRUE(t->Sweep());
  EXPECT_TRUE(t->List(false, 10).empty());
  auto d = t->Impose(Block("192.0.2.9"));
  ASSERT_TRUE(d && *d);
  EXPECT_EQ((*d)->offence, 1u);
}

}  // namespace
}  // namespace medmesh::ids
