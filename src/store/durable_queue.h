// A durable, at-least-once work queue on SQLite: the machinery under the device Outbox
// (outbox.h) and the cloudlet's ForwardQueue (forward_queue.h). Use those two; this header
// holds what they share.
//
// Every item is an opaque payload under a caller-chosen id (a batch id). The life of an item:
//   Enqueue ──▶ due ──NextDue()──▶ leased (in flight) ──MarkSent()──▶ gone
//                 ▲                      │ MarkFailed() or the lease expires
//                 └── after a backoff ◀──┘
// - Enqueue is durable when it returns (WAL, synchronous=FULL) and idempotent by id.
// - NextDue leases the items it returns for `lease`, so two senders (threads or processes on
//   the same file) never get the same item while it is in flight. A sender that dies simply
//   lets the lease run out, and the item becomes due again: at-least-once, never lost.
// - MarkFailed schedules the next attempt after an exponential backoff with jitter:
//   delay = min(max_backoff, initial_backoff · 2^(attempts−1)), then a uniformly random value
//   in [delay/2, delay] ("equal jitter"), so a fleet of devices does not retry in lock step.
// - With `in_order`, NextDue hands out items in enqueue order and never passes an item that is
//   backing off after a failure (items in flight are skipped over). The device outbox needs
//   this: batch 0 of a sealed session must reach the cloudlet before the later batches.
//
// Thread safety: all methods are thread-safe (one connection behind a mutex). Several objects,
// in one process or several, may open the same file; SQLite's locking and the busy timeout
// coordinate them. The Clock and Random must outlive the queue and be thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"

namespace SQLite {  // NOLINT(readability-identifier-naming): SQLiteCpp's namespace
class Database;
}

namespace medmesh::store {

struct QueueOptions {
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
  // How long an item handed out by NextDue stays invisible to other senders.
  std::chrono::milliseconds lease{std::chrono::seconds(30)};
  bool in_order = false;
  // Larger payloads are refused by Enqueue (kInvalidArgument); at most 1 GiB.
  std::size_t max_payload_bytes = std::size_t{16} << 20;
  // How long a write waits for another connection's lock; at most 1 hour.
  std::chrono::milliseconds busy_timeout{5000};
  // The SQLite VFS of the queue's database; empty: the default (SqliteOpenOptions::vfs).
  std::string sqlite_vfs{};
};

struct QueueItem {
  std::string id;
  Bytes payload;
  std::int64_t enqueued_ms = 0;  // Unix epoch ms, from the queue's Clock
  std::uint32_t attempts = 0;    // hand-outs so far, this one included
};

enum class EnqueueOutcome {
  kEnqueued,   // stored now
  kDuplicate,  // an item with this id and the same payload was already queued: nothing done
};

struct QueueStats {
  std::uint64_t count = 0;      // items queued (due, leased or backing off)
  std::uint64_t bytes = 0;      // sum of payload sizes
  std::uint64_t failing = 0;    // items that failed at least once and are backing off
  std::uint64_t in_flight = 0;  // items leased now
  std::optional<std::int64_t> oldest_enqueued_ms;  // none when empty
};

class SqliteDurableQueue {
 public:
  // Opens (creating) the queue named `name` ([a-z_]{1,32}; one table per name, so several
  // queues can share a file) in the database at `path`. kInvalidArgument for a bad name or
  // options, kUnavailable / kDataLoss / kFailedPrecondition from the database (see
  // internal/queue_sqlite.h).
  static Result<std::unique_ptr<SqliteDurableQueue>> Open(const std::string& path,
                                                          std::string_view name, const Clock& clock,
                                                          Random& random,
                                                          const QueueOptions& options = {});
  ~SqliteDurableQueue();
  SqliteDurableQueue(const SqliteDurableQueue&) = delete;
  SqliteDurableQueue& operator=(const SqliteDurableQueue&) = delete;

  // Durably queues `payload` under `id` (1..128 bytes of [A-Za-z0-9._:-]). kDuplicate if the
  // id is queued with the same payload; kAlreadyExists if it is queued with another payload
  // (two different batches under one id is a bug upstream); kInvalidArgument for a bad id or
  // an oversized payload. An id that was sent and removed can be queued again.
  Result<EnqueueOutcome> Enqueue(std::string_view id, ByteView payload);

  // Queues several items in one transaction (one disk sync for all: the cloudlet's group
  // commit), durable when it returns. One result per item, in order, as Enqueue would give it:
  // kEnqueued, kDuplicate, or kAlreadyExists (that item is left as it was; the others are
  // queued). kInvalidArgument for a bad id or an oversized payload, and database errors, fail
  // the whole call: nothing is queued.
  struct Entry {
    std::string_view id;
    ByteView payload;
  };
  Result<std::vector<Result<EnqueueOutcome>>> EnqueueMany(std::span<const Entry> entries);

  // Leases and returns up to `max_items` items due at `now` (not leased, not backing off), in
  // enqueue order, and counts one attempt on each. An empty vector if nothing is due.
  Result<std::vector<QueueItem>> NextDue(std::chrono::system_clock::time_point now,
                                         std::size_t max_items = 1);

  // Removes the item (it was delivered). kNotFound if no such item is queued (e.g. marked
  // twice).
  Status MarkSent(std::string_view id);

  // Ends the lease and schedules the next attempt after the backoff; `reason` (no secrets,
  // cut to 256 bytes) is kept for operators. kNotFound if no such item is queued.
  Status MarkFailed(std::string_view id, std::string_view reason = {});

  Result<QueueStats> Stats() const;

  // Ends every lease now: leased items become due again (their attempt stays counted) and the
  // number of items released is returned. Only for an owner that knows no other sender is
  // alive - e.g. a service holding its data folder's lock (node::DataDirLock) at start-up, whose
  // crashed predecessor's leases would otherwise hold its in-flight items back for a whole lease.
  Result<std::uint64_t> ReleaseLeases();

  // Makes every item that is backing off due at `now` (attempts and leases are left as they
  // are) and returns how many. For an owner that learned the reason for the failures is gone,
  // e.g. the cloud answers again after an outage: its items need not wait out their backoff.
  Result<std::uint64_t> RetryNow(std::chrono::system_clock::time_point now);

  // True if an item with this id is queued (due, leased or backing off).
  Result<bool> Contains(std::string_view id) const;

  // The reason given with the last MarkFailed of an item (empty if none). kNotFound if absent.
  Result<std::string> LastError(std::string_view id) const;

  // A durable counter stored with the queue: returns 1 on the first call for a name, then
  // 2, 3, ... across restarts. Never returns a value twice, even after a crash.
  Result<std::uint64_t> NextCounterValue(std::string_view counter);

  const QueueOptions& options() const { return options_; }

 private:
  SqliteDurableQueue(std::unique_ptr<SQLite::Database> db, std::string table, const Clock& clock,
                     Random& random, QueueOptions options);
  std::int64_t BackoffMs(std::uint32_t attempts);

  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
  const std::string table_;
  const Clock& clock_;
  Random& random_;  // used under mu_ only
  const QueueOptions options_;
};

}  // namespace medmesh::store
