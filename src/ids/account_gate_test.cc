// AccountGate over a real DecisionTable (decisions.db in a temp folder) and a fake clock.
#include "ids/account_gate.h"

#include <gtest/gtest.h>

#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"

namespace medmesh::ids {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr char kRef[] = "acct_00112233445566778899aabbccddeeff";
constexpr char kOther[] = "acct_ffeeddccbbaa99887766554433221100";

class AccountGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    table_ = DecisionTable::Open(dir_.File("decisions.db"), "cloud-1", clock_, random_).value();
  }
  Decision Impose(Action action, std::string_view ref = kRef) {
    auto d = table_->Impose({"credentials", 2, Scope{ScopeKind::kAccount, std::string(ref)}, action,
                             "failed logins on this account"});
    EXPECT_TRUE(d && *d);
    return **d;
  }
  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{11};
  std::unique_ptr<DecisionTable> table_;
};

TEST_F(AccountGateTest, NoDecisionOrAnAlertOnlyPasses) {
  AccountGate gate(*table_, clock_);
  EXPECT_EQ(gate.Check(kRef).action, Action::kAlertOnly);
  Impose(Action::kAlertOnly);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(gate.Check(kRef).action, Action::kAlertOnly);
  EXPECT_EQ(gate.Check("").action, Action::kAlertOnly);
  EXPECT_EQ(gate.refused(), 0u);
}

TEST_F(AccountGateTest, ABlockRefusesUntilItExpiresAndOnlyThatAccount) {
  AccountGate gate(*table_, clock_);
  const Decision d = Impose(Action::kBlock);
  const AccountGate::Verdict v = gate.Check(kRef);
  EXPECT_EQ(v.action, Action::kBlock);
  EXPECT_EQ(v.decision_id, d.id);
  EXPECT_EQ(v.retry_after, minutes(10));  // the first offence's expiry
  EXPECT_EQ(gate.Check(kOther).action, Action::kAlertOnly);
  clock_.Advance(minutes(10));
  EXPECT_EQ(gate.Check(kRef).action, Action::kAlertOnly) << "expired: the owner logs in again";
  EXPECT_EQ(gate.refused(), 1u);
}

TEST_F(AccountGateTest, ARevokeLiftsTheBlockAtOnce) {
  AccountGate gate(*table_, clock_);
  const Decision d = Impose(Action::kBlock);
  EXPECT_EQ(gate.Check(kRef).action, Action::kBlock);
  ASSERT_TRUE(table_->Revoke(d.id));
  EXPECT_EQ(gate.Check(kRef).action, Action::kAlertOnly);
}

TEST_F(AccountGateTest, TheAllowlistWinsOverABlockMadeBeforeIt) {
  AccountGate gate(*table_, clock_);
  Impose(Action::kBlock);
  ASSERT_TRUE(table_->Allow(Scope{ScopeKind::kAccount, kRef}, "the ward's shared login"));
  EXPECT_EQ(gate.Check(kRef).action, Action::kAlertOnly);
  ASSERT_TRUE(table_->Disallow(Scope{ScopeKind::kAccount, kRef}));
  EXPECT_EQ(gate.Check(kRef).action, Action::kBlock);
}

TEST_F(AccountGateTest, AThrottleLetsOneAttemptPassPerInterval) {
  AccountGate gate(*table_, clock_, {.throttle_interval = seconds(20)});
  Impose(Action::kThrottle);
  EXPECT_EQ(gate.Check(kRef).action, Action::kAlertOnly) << "the first attempt passes";
  const AccountGate::Verdict refused = gate.Check(kRef);
  EXPECT_EQ(refused.action, Action::kThrottle);
  EXPECT_EQ(refused.retry_after, seconds(20));
  clock_.Advance(seconds(15));
  EXPECT_EQ(gate.Check(kRef).retry_after, seconds(5));
  EXPECT_EQ(gate.Check(kOther).action, Action::kAlertOnly) << "other accounts are not slowed";
  clock_.Advance(seconds(5));
  EXPECT_EQ(gate.Check(kRef).action, Action::kAlertOnly) << "the next attempt is due";
  EXPECT_EQ(gate.Check(kRef).action, Action::kThrottle);
  EXPECT_EQ(gate.refused(), 3u);
}

TEST_F(AccountGateTest, ARepeatOffenceIsThrottledLongerAsForEveryScope) {
  AccountGate gate(*table_, clock_);
  const Decision first = Impose(Action::kThrottle);
  clock_.Advance(minutes(10));
  EXPECT_EQ(gate.Check(kRef).action, Action::kAlertOnly);
  const Decision second = Impose(Action::kThrottle);
  EXPECT_EQ(second.offence, 2u);
  EXPECT_EQ(second.expires_ms - second.created_ms, 4 * (first.expires_ms - first.created_ms));
}

TEST_F(AccountGateTest, ItsMemoryIsBounded) {
  AccountGate gate(*table_, clock_, {.throttle_interval = seconds(20), .max_tracked = 4});
  for (int i = 0; i < 10; ++i) {
    const std::string ref = "acct_" + std::string(31, 'a') + std::to_string(i);
    Impose(Action::kThrottle, ref);
    EXPECT_EQ(gate.Check(ref).action, Action::kAlertOnly);
  }
  // The first reference was forgotten when the table filled: one attempt passes, then the
  // throttle holds again.
  const std::string first = "acct_" + std::string(31, 'a') + "0";
  EXPECT_EQ(gate.Check(first).action, Action::kAlertOnly);
  EXPECT_EQ(gate.Check(first).action, Action::kThrottle);
}

}  // namespace
}  // namespace medmesh::ids
