// Enforcer: the IDS decisions applied in a node's HTTP layer, as its first net::Filter: it runs
// on the request head, before routing, before any application work and before the body is
// read (http_server.h step 3), and the server closes the connection after its answer.
//   - block:    403 {"error":"forbidden","message":"blocked"}
//   - throttle: 429 {"error":"resource_exhausted",...} with Retry-After, except for
//               throttle_per_second requests per second per source, which pass
// Cost per request from a source without a decision: one atomic load while no block or throttle
// is active anywhere, else DecisionTable::Match (a shared lock and one or two hash lookups).
// Refused requests are counted (blocked(), throttled()), not recorded one by one in ids.db.
// Blocks are also enforced at accept (AsConnectionFilter, net::ServerOptions::connection_filter):
// a blocked source's new connection is refused before a session exists, with no lock taken
// (DecisionTable::Blocks); counted in blocked() too. A blocked source that floods is moved by
// the server to its kernel drop (http_server.h, "Kernel drop"): its SYNs are dropped in the
// kernel and no longer counted here; the server asks DecisionTable::Blocks again every
// kernel_drop_recheck and lets it in once the block is revoked, expired or allowlisted.
// Throttles need the head-time filter.
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "ids/decision_table.h"
#include "net/http_message.h"
#include "net/http_server.h"

namespace medmesh::ids {

struct EnforcerOptions {
  double throttle_per_second = 1;
  std::uint32_t retry_after_seconds = 30;
};

class Enforcer {
 public:
  // `table` and `clock` must outlive the enforcer (and the filters it made).
  Enforcer(const DecisionTable& table, const Clock& clock, EnforcerOptions options = {});

  // The answer for a request from `request.peer_address`, nullopt to let it through.
  std::optional<net::Response> Check(const net::Request& request);
  // Check as a filter for net::HttpServer::Start (the first of the node's filters).
  net::Filter AsFilter();

  // True (and counted as blocked) when a new connection from `peer` is to be refused at
  // accept: an active block decision applies to it. Lock-free.
  bool RefusesConnection(std::string_view peer);
  // RefusesConnection as net::ServerOptions::connection_filter (refuses), with
  // DecisionTable::Blocks as its uncounted recheck (still_refuses) and
  // DecisionTable::BlocksRange deciding when the kernel drops a whole IPv6 /64
  // (refuses_range).
  net::ConnectionFilter AsConnectionFilter();

  std::uint64_t blocked() const { return blocked_.load(std::memory_order_relaxed); }
  std::uint64_t throttled() const { return throttled_.load(std::memory_order_relaxed); }

 private:
  bool TakeThrottleToken(const std::string& peer);

  const DecisionTable& table_;
  const Clock& clock_;
  const EnforcerOptions options_;
  std::atomic<std::uint64_t> blocked_{0};
  std::atomic<std::uint64_t> throttled_{0};
  std::mutex mu_;
  // Token buckets of throttled sources: tokens and when last refilled (monotonic ms).
  std::unordered_map<std::string, std::pair<double, std::int64_t>> buckets_;  // guarded by mu_
};

}  // namespace medmesh::ids
