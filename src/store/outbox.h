// Outbox: the wearable's on-disk queue of sealed, signed batches waiting for the cloudlet's
// acknowledgement. Nothing is lost while the device is offline or across a crash, and nothing
// is sent twice in a way the cloudlet cannot recognise (batches keep their ids on every retry).
//
// Usage by the device agent:
//   auto seq = outbox->NextSequence();           // durable per-device batch sequence
//   ... build, encode, seal, sign the batch ...
//   outbox->Enqueue(batch_id, sealed);           // durable on return; idempotent by id
//   for (auto& item : *outbox->NextDue(now, n))  // in enqueue order, leased while in flight
//     ok ? outbox->MarkSent(item.id) : outbox->MarkFailed(item.id, why);
// A batch the cloudlet refuses for good (a 4xx other than 429) should be MarkSent too, after
// the agent records why: retrying it can never succeed.
//
// Semantics, options and errors: durable_queue.h. The outbox delivers in order by default
// (QueueOptions::in_order), because batch 0 of a sealed session must arrive first.
// Thread safety: thread-safe; see durable_queue.h. The Clock and Random must outlive it.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "store/durable_queue.h"

namespace medmesh::store {

// Outbox defaults: in order, first retry after ~1 s, at most ~5 min between retries.
QueueOptions DefaultOutboxOptions();

class Outbox {
 public:
  // Opens (creating) the outbox in the SQLite database at `path`. Errors as
  // SqliteDurableQueue::Open.
  static Result<std::unique_ptr<Outbox>> Open(const std::string& path, const Clock& clock,
                                              Random& random,
                                              const QueueOptions& options = DefaultOutboxOptions());

  // Durable when it returns; kDuplicate for the same id and bytes again, kAlreadyExists for
  // the same id with other bytes, kInvalidArgument for a bad id or oversized batch.
  Result<EnqueueOutcome> Enqueue(std::string_view batch_id, ByteView sealed_batch) {
    return queue_->Enqueue(batch_id, sealed_batch);
  }
  // Leases up to `max_items` due batches (see durable_queue.h).
  Result<std::vector<QueueItem>> NextDue(std::chrono::system_clock::time_point now,
                                         std::size_t max_items = 1) {
    return queue_->NextDue(now, max_items);
  }
  // The cloudlet acknowledged: remove. kNotFound if not queued.
  Status MarkSent(std::string_view batch_id) { return queue_->MarkSent(batch_id); }
  // Delivery failed: retry after the backoff. kNotFound if not queued.
  Status MarkFailed(std::string_view batch_id, std::string_view reason = {}) {
    return queue_->MarkFailed(batch_id, reason);
  }
  Result<QueueStats> Stats() const { return queue_->Stats(); }
  // Why the last attempt of a batch failed ("" if none). kNotFound if not queued.
  Result<std::string> LastError(std::string_view batch_id) const {
    return queue_->LastError(batch_id);
  }

  // The next batch sequence number of this device: 1, 2, 3, ... durable across restarts and
  // never handed out twice (a crash between this call and Enqueue leaves a gap, not a reuse).
  Result<std::uint64_t> NextSequence() { return queue_->NextCounterValue("batch_sequence"); }

 private:
  explicit Outbox(std::unique_ptr<SqliteDurableQueue> queue) : queue_(std::move(queue)) {}
  std::unique_ptr<SqliteDurableQueue> queue_;
};

}  // namespace medmesh::store
