// AccountGate: the IDS decisions on accounts (scope kind "account", the value an opaque
// account reference: accounts/account_reference.h) applied where a node checks a login, before
// any password work (the cloud's AccountService::BeginLogin, the cloudlet's login relay). The
// HTTP layer's Enforcer cannot do it: the account is in the body, not in the request head.
//
// Check(ref) answers from DecisionTable::MatchScope({kAccount, ref}) (so an allowlisted
// reference always passes, an expired or revoked decision has no effect, and escalation is the
// table's, as for every scope):
//   - no decision, or an alert-only one: pass;
//   - block: refused until the decision expires (retry_after);
//   - throttle: one attempt per `throttle_interval` per reference passes (the first at once),
//     the others are refused with the time until the next one passes. A throttle slows a
//     password guesser on one account to a few guesses a minute while its owner can still log
//     in, which is why the credentials detector proposes a throttle, never a block, on an
//     account (docs/ids.md): a block would let anyone lock the owner out.
// Refusals are counted (refused()), not recorded here; the caller records an IDS event.
// Cost with no decision on any account: one shared lock and one hash lookup (MatchScope).
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "ids/decision_table.h"

namespace medmesh::ids {

struct AccountGateOptions {
  std::chrono::milliseconds throttle_interval{std::chrono::seconds(20)};
  std::size_t max_tracked = 10'000;  // throttled references remembered at once
};

class AccountGate {
 public:
  struct Verdict {
    Action action = Action::kAlertOnly;  // kAlertOnly: the login goes on
    std::chrono::milliseconds retry_after{0};
    std::string decision_id;
  };

  // `table` and `clock` must outlive the gate.
  AccountGate(const DecisionTable& table, const Clock& clock, AccountGateOptions options = {});

  // See the top of this file. `account_ref` as accounts::AccountReference makes it.
  Verdict Check(std::string_view account_ref);

  std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  const DecisionTable& table_;
  const Clock& clock_;
  const AccountGateOptions options_;
  std::atomic<std::uint64_t> refused_{0};
  std::mutex mu_;
  // Throttled references: monotonic ms from which the next attempt passes. Guarded by mu_.
  std::unordered_map<std::string, std::int64_t> next_ms_;
};

}  // namespace medmesh::ids
