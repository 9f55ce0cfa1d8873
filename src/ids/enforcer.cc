#include "ids/enforcer.h"

#include <algorithm>

namespace medmesh::ids {
namespace {

constexpr std::size_t kMaxBuckets = 10'000;

net::Response Blocked() {
  return net::Response::Json(R"({"error":"forbidden","message":"blocked"})", 403);
}

net::Response Throttled(std::uint32_t retry_after) {
  net::Response r =
      net::Response::Json(R"({"error":"resource_exhausted","message":"throttled"})", 429);
  r.headers.emplace_back("Retry-After", std::to_string(retry_after));
  return r;
}

}  // namespace

Enforcer::Enforcer(const DecisionTable& table, const Clock& clock, EnforcerOptions options)
    : table_(table), clock_(clock), options_(options) {}

std::optional<net::Response> Enforcer::Check(const net::Request& request) {
  if (!table_.AnyEnforcing()) return std::nullopt;
  const std::optional<Decision> decision = table_.Match(request.peer_address);
  if (!decision) return std::nullopt;
  if (decision->action == Action::kBlock) {
    blocked_.fetch_add(1, std::memory_order_relaxed);
    return Blocked();
  }
  if (TakeThrottleToken(request.peer_address)) return std::nullopt;
  throttled_.fetch_add(1, std::memory_order_relaxed);
  return Throttled(options_.retry_after_seconds);
}

bool Enforcer::TakeThrottleToken(const std::string& peer) {
  const std::int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Monotonic().time_since_epoch())
          .count();
  const double burst = std::max(1.0, options_.throttle_per_second);
  std::lock_guard lock(mu_);
  if (buckets_.size() >= kMaxBuckets && !buckets_.contains(peer)) buckets_.clear();
  auto [it, fresh] = buckets_.try_emplace(peer, burst, now_ms);
  auto& [tokens, at_ms] = it->second;
  if (!fresh) {
    tokens = std::min(burst, tokens + static_cast<double>(now_ms - at_ms) / 1000.0 *
                                          options_.throttle_per_second);
    at_ms = now_ms;
  }
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

net::Filter Enforcer::AsFilter() {
  return [this](const net::Request& request) { return Check(request); };
}

bool Enforcer::RefusesConnection(std::string_view peer) {
  if (!table_.Blocks(peer)) return false;
  blocked_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

net::ConnectionFilter Enforcer::AsConnectionFilter() {
  // The recheck for the kernel drop must not count: it asks the table directly.
  net::ConnectionFilter filter([this](std::string_view peer) { return RefusesConnection(peer); },
                               [this](std::string_view peer) { return table_.Blocks(peer); });
  // A block on a /64 drops the whole range in the kernel, unless part of it is allowlisted.
  filter.refuses_range = [this](std::string_view range) { return table_.BlocksRange(range); };
  return filter;
}

}  // namespace medmesh::ids
