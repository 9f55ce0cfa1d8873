#include "ids/account_gate.h"

#include <algorithm>

namespace medmesh::ids {
namespace {

std::int64_t Ms(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t Ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

AccountGate::AccountGate(const DecisionTable& table, const Clock& clock, AccountGateOptions options)
    : table_(table), clock_(clock), options_(options) {}

AccountGate::Verdict AccountGate::Check(std::string_view account_ref) {
  Verdict verdict;
  if (account_ref.empty()) return verdict;
  const std::optional<Decision> decision =
      table_.MatchScope(Scope{ScopeKind::kAccount, std::string(account_ref)});
  if (!decision || decision->action == Action::kAlertOnly) return verdict;
  verdict.decision_id = decision->id;
  if (decision->action == Action::kBlock) {
    verdict.action = Action::kBlock;
    verdict.retry_after = std::chrono::milliseconds(
        std::max<std::int64_t>(1, decision->expires_ms - Ms(clock_.Now())));
    refused_.fetch_add(1, std::memory_order_relaxed);
    return verdict;
  }
  const std::int64_t now_ms = Ms(clock_.Monotonic());
  const std::int64_t interval_ms = options_.throttle_interval.count();
  std::lock_guard lock(mu_);
  auto it = next_ms_.find(std::string(account_ref));
  if (it == next_ms_.end()) {
    if (next_ms_.size() >= options_.max_tracked) {
      // Those whose next attempt is due hold nothing back; then, if still full, start afresh
      // (a flood of references must not grow memory; forgetting lets one attempt each pass).
      std::erase_if(next_ms_, [&](const auto& kv) { return kv.second <= now_ms; });
      if (next_ms_.size() >= options_.max_tracked) next_ms_.clear();
    }
    next_ms_.emplace(std::string(account_ref), now_ms + interval_ms);
    return verdict;  // the first attempt passes
  }
  if (it->second <= now_ms) {
    it->second = now_ms + interval_ms;
    return verdict;
  }
  verdict.action = Action::kThrottle;
  verdict.retry_after = std::chrono::milliseconds(it->second - now_ms);
  refused_.fetch_add(1, std::memory_order_relaxed);
  return verdict;
}

}  // namespace medmesh::ids
