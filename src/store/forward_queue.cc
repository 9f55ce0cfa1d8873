#include "store/forward_queue.h"

#include <algorithm>

#include "store/internal/queue_sqlite.h"

namespace medmesh::store {

std::string_view BackpressureLevelName(BackpressureLevel level) {
  switch (level) {
    case BackpressureLevel::kNone: return "none";
    case BackpressureLevel::kSlowDown: return "slow_down";
    case BackpressureLevel::kRefuse: return "refuse";
  }
  return "unknown";
}

Result<std::unique_ptr<ForwardQueue>> ForwardQueue::Open(const std::string& path,
                                                         const Clock& clock, Random& random,
                                                         const QueueOptions& options,
                                                         BackpressureLimits limits) {
  if (limits.refuse_items < limits.slow_items || limits.refuse_bytes < limits.slow_bytes ||
      limits.refuse_oldest_age < limits.slow_oldest_age) {
    return InvalidArgument("backpressure: every refuse limit must be at least its slow limit");
  }
  MEDMESH_ASSIGN_OR_RETURN(auto queue,
                           SqliteDurableQueue::Open(path, "forward_queue", clock, random, options));
  return std::unique_ptr<ForwardQueue>(new ForwardQueue(std::move(queue), clock, limits));
}

Result<Backpressure> ForwardQueue::Pressure() const {
  MEDMESH_ASSIGN_OR_RETURN(QueueStats stats, queue_->Stats());
  Backpressure bp;
  if (stats.oldest_enqueued_ms) {
    bp.oldest_age = std::chrono::milliseconds(
        std::max<std::int64_t>(0, internal::ToUnixMs(clock_.Now()) - *stats.oldest_enqueued_ms));
  }
  const auto check = [&](BackpressureLevel level, std::uint64_t items, std::uint64_t bytes,
                         std::chrono::milliseconds age) {
    if (stats.count >= items) {
      bp.reason =
          std::to_string(stats.count) + " forwards queued (limit " + std::to_string(items) + ")";
    } else if (stats.bytes >= bytes) {
      bp.reason =
          std::to_string(stats.bytes) + " bytes queued (limit " + std::to_string(bytes) + ")";
    } else if (stats.count > 0 && bp.oldest_age >= age) {
      bp.reason = "oldest forward waiting " + std::to_string(bp.oldest_age.count() / 1000) +
                  " s (limit " + std::to_string(age.count() / 1000) + " s)";
    } else {
      return false;
    }
    bp.level = level;
    return true;
  };
  if (!check(BackpressureLevel::kRefuse, limits_.refuse_items, limits_.refuse_bytes,
             limits_.refuse_oldest_age)) {
    check(BackpressureLevel::kSlowDown, limits_.slow_items, limits_.slow_bytes,
          limits_.slow_oldest_age);
  }
  bp.stats = stats;
  return bp;
}

}  // namespace medmesh::store
