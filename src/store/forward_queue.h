// ForwardQueue: the cloudlet's on-disk queue of signed, sealed forwards to the remote cloud.
// Same at-least-once, idempotent-by-id semantics as the device outbox (durable_queue.h), plus
// a backpressure signal: when the cloud has been unreachable for long, the queue grows and
// ages, and Pressure() tells the ingest path to slow devices down (e.g. HTTP 429 with
// Retry-After) or to refuse new batches (503), so they wait in the devices' own outboxes
// instead of filling the cloudlet's disk.
//
// Forwards are independent messages, so the queue does not deliver in order by default;
// several senders may drain it at once.
// Thread safety: thread-safe; see durable_queue.h. The Clock and Random must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "store/durable_queue.h"

namespace medmesh::store {

// Thresholds of the backpressure signal. A level is reached when ANY of its limits is.
struct BackpressureLimits {
  std::uint64_t slow_items = 10'000;
  std::uint64_t refuse_items = 200'000;
  std::uint64_t slow_bytes = std::uint64_t{256} << 20;  // 256 MiB
  std::uint64_t refuse_bytes = std::uint64_t{4} << 30;  // 4 GiB
  std::chrono::milliseconds slow_oldest_age{std::chrono::minutes(2)};
  std::chrono::milliseconds refuse_oldest_age{std::chrono::minutes(30)};
};

enum class BackpressureLevel {
  kNone,      // accept as usual
  kSlowDown,  // accept, but ask devices to send less often
  kRefuse,    // refuse new batches until the queue drains
};
std::string_view BackpressureLevelName(BackpressureLevel level);  // "none", "slow_down", "refuse"

struct Backpressure {
  BackpressureLevel level = BackpressureLevel::kNone;
  QueueStats stats;
  std::chrono::milliseconds oldest_age{0};  // 0 when empty
  std::string reason;                       // which limit was reached; empty for kNone
};

class ForwardQueue {
 public:
  // Opens (creating) the forward queue in the SQLite database at `path`. kInvalidArgument if
  // a refuse limit is below its slow limit; otherwise errors as SqliteDurableQueue::Open.
  static Result<std::unique_ptr<ForwardQueue>> Open(const std::string& path, const Clock& clock,
                                                    Random& random,
                                                    const QueueOptions& options = {},
                                                    BackpressureLimits limits = {});

  // Durable when it returns. kDuplicate for the same id and bytes again (a device retried a
  // batch already forwarded), kAlreadyExists for the same id with other bytes. Enqueue never
  // refuses because of backpressure: a batch already acknowledged to a device must be kept;
  // check Pressure() before acknowledging instead.
  Result<EnqueueOutcome> Enqueue(std::string_view forward_id, ByteView payload) {
    return queue_->Enqueue(forward_id, payload);
  }
  // Several forwards in one transaction; see SqliteDurableQueue::EnqueueMany.
  Result<std::vector<Result<EnqueueOutcome>>> EnqueueMany(
      std::span<const SqliteDurableQueue::Entry> forwards) {
    return queue_->EnqueueMany(forwards);
  }
  Result<std::vector<QueueItem>> NextDue(std::chrono::system_clock::time_point now,
                                         std::size_t max_items = 1) {
    return queue_->NextDue(now, max_items);
  }
  Status MarkSent(std::string_view forward_id) { return queue_->MarkSent(forward_id); }
  Status MarkFailed(std::string_view forward_id, std::string_view reason = {}) {
    return queue_->MarkFailed(forward_id, reason);
  }
  Result<QueueStats> Stats() const { return queue_->Stats(); }
  // See SqliteDurableQueue::ReleaseLeases: for the cloudlet at start, under its data-dir lock.
  Result<std::uint64_t> ReleaseLeases() { return queue_->ReleaseLeases(); }
  // See SqliteDurableQueue::RetryNow: when the cloud answers again after an outage.
  Result<std::uint64_t> RetryNow(std::chrono::system_clock::time_point now) {
    return queue_->RetryNow(now);
  }
  // True while the forward is queued: not yet acknowledged by the cloud nor dead-lettered.
  Result<bool> Contains(std::string_view forward_id) const { return queue_->Contains(forward_id); }
  Result<std::string> LastError(std::string_view forward_id) const {
    return queue_->LastError(forward_id);
  }

  // The backpressure level now (by the queue's Clock). It counts the whole queue, so call it
  // at most every second or so and cache the answer on a busy ingest path.
  Result<Backpressure> Pressure() const;

  const BackpressureLimits& limits() const { return limits_; }

 private:
  ForwardQueue(std::unique_ptr<SqliteDurableQueue> queue, const Clock& clock,
               BackpressureLimits limits)
      : queue_(std::move(queue)), clock_(clock), limits_(limits) {}
  std::unique_ptr<SqliteDurableQueue> queue_;
  const Clock& clock_;
  const BackpressureLimits limits_;
};

}  // namespace medmesh::store
