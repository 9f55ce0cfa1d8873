// The cloudlet's Prometheus metrics and the in-process counters behind GET /api/v1/stats.
// Private to src/cloudlet. The names are listed in docs/node_config.md ("Metrics").
// Thread safety: everything here is atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

#include "core/clock.h"
#include "net/metrics.h"
#include "store/forward_queue.h"
#include "store/ids_event_log.h"

namespace medmesh::cloudlet::internal {

struct CloudletMetrics {
  explicit CloudletMetrics(net::MetricsRegistry& registry);

  net::CounterFamily& ingest;            // {content_type, status}: stored | duplicate
  net::Counter& readings_stored;         //
  net::Counter& readings_refused;        // implausible readings left out of stored batches
  net::CounterFamily& rejected;          // {reason}
  net::CounterFamily& ids_events;        // {kind}
  net::CounterFamily& enrolments;        // {status}
  net::Gauge& queue_depth;               // items waiting in the forward queue
  net::Gauge& queue_bytes;               //
  net::Gauge& queue_oldest_seconds;      // age of the oldest item
  net::Gauge& backpressure_level;        // 0 none, 1 slow_down, 2 refuse
  net::CounterFamily& forwarded;         // {status}: stored | duplicate
  net::CounterFamily& forward_failures;  // {reason}
  net::Histogram& forward_latency;       // seconds from acceptance to the cloud's ack
  net::Counter& round_exceptions;        // forward rounds ended by an exception
  net::Histogram& group_commit_uploads;  // uploads stored by one group commit
};

// Counts for GET /api/v1/stats. Stored counts start from the ledger at start-up; the others
// count since the process started.
struct CloudletCounters {
  std::atomic<std::uint64_t> batches_stored{0};
  std::atomic<std::uint64_t> readings_stored{0};
  std::atomic<std::uint64_t> records_stored{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> forwarded{0};
  std::atomic<std::uint64_t> dead_letters{0};
};

// The forward queue's backpressure level, re-read at most every `ttl` (it counts the queue),
// and mirrored into the gauges.
class PressureMonitor {
 public:
  PressureMonitor(store::ForwardQueue& queue, const Clock& clock, CloudletMetrics& metrics,
                  std::chrono::milliseconds ttl = std::chrono::seconds(1));
  // The cached reading, refreshed first if older than the ttl. A failure to read the queue
  // keeps the previous reading.
  store::Backpressure Current();
  // Reads the queue now.
  store::Backpressure Refresh();

 private:
  store::ForwardQueue& queue_;
  const Clock& clock_;
  CloudletMetrics& metrics_;
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;
  store::Backpressure last_;                       // guarded by mu_
  std::chrono::steady_clock::time_point read_at_;  // guarded by mu_
  bool read_ = false;                              // guarded by mu_
};

}  // namespace medmesh::cloudlet::internal
