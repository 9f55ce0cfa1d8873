#include "store/durable_queue.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <utility>

#include "store/internal/queue_sqlite.h"

namespace medmesh::store {
namespace {

constexpr std::size_t kMaxReasonBytes = 256;
// SQLite binds blob sizes as int; stay far below that.
constexpr std::size_t kMaxPayloadLimit = std::size_t{1} << 30;
constexpr int kSchemaVersion = 1;

bool IsValidQueueName(std::string_view name) {
  if (name.empty() || name.size() > 32) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
}

std::string Schema(const std::string& t) {
  // seq (AUTOINCREMENT, never reused) gives the enqueue order; id is the caller's batch id.
  return "CREATE TABLE IF NOT EXISTS " + t +
         " (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
         "  id TEXT NOT NULL UNIQUE,"
         "  payload BLOB NOT NULL,"
         "  enqueued_ms INTEGER NOT NULL,"
         "  attempts INTEGER NOT NULL DEFAULT 0,"
         "  next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
         "  leased_until_ms INTEGER NOT NULL DEFAULT 0,"
         "  last_error TEXT NOT NULL DEFAULT '');"
         "CREATE TABLE IF NOT EXISTS " +
         t + "_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);";
}

}  // namespace

SqliteDurableQueue::SqliteDurableQueue(std::unique_ptr<SQLite::Database> db, std::string table,
                                       const Clock& clock, Random& random, QueueOptions options)
    : db_(std::move(db)),
      table_(std::move(table)),
      clock_(clock),
      random_(random),
      options_(std::move(options)) {}

SqliteDurableQueue::~SqliteDurableQueue() = default;

Result<std::unique_ptr<SqliteDurableQueue>> SqliteDurableQueue::Open(const std::string& path,
                                                                     std::string_view name,
                                                                     const Clock& clock,
                                                                     Random& random,
                                                                     const QueueOptions& options) {
  if (!IsValidQueueName(name)) return InvalidArgument("queue name must be [a-z_]{1,32}");
  if (options.initial_backoff.count() <= 0 || options.max_backoff < options.initial_backoff ||
      options.lease.count() <= 0 || options.max_payload_bytes == 0 ||
      options.max_payload_bytes > kMaxPayloadLimit || options.busy_timeout.count() < 0 ||
      options.busy_timeout > std::chrono::hours(1)) {
    return InvalidArgument("queue options out of range");
  }
  MEDMESH_ASSIGN_OR_RETURN(auto db,
                           OpenSqliteDatabase(path, {options.busy_timeout, options.sqlite_vfs}));
  std::string table(name);
  const std::string ddl = Schema(table);
  MEDMESH_RETURN_IF_ERROR(EnsureSqliteSchema(*db, "queue:" + table, kSchemaVersion, ddl.c_str()));
  return std::unique_ptr<SqliteDurableQueue>(
      new SqliteDurableQueue(std::move(db), std::move(table), clock, random, options));
}

Result<EnqueueOutcome> SqliteDurableQueue::Enqueue(std::string_view id, ByteView payload) {
  const Entry entry{id, payload};
  MEDMESH_ASSIGN_OR_RETURN(auto outcomes, EnqueueMany({&entry, 1}));
  return std::move(outcomes.front());
}

Result<std::vector<Result<EnqueueOutcome>>> SqliteDurableQueue::EnqueueMany(
    std::span<const Entry> entries) {
  for (const Entry& e : entries) {
    if (!internal::IsValidQueueId(e.id)) {
      return InvalidArgument("queue item id must be 1..128 characters of [A-Za-z0-9._:-]");
    }
    if (e.payload.size() > options_.max_payload_bytes) {
      return InvalidArgument("queue item of " + std::to_string(e.payload.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(options_.max_payload_bytes));
    }
  }
  std::vector<Result<EnqueueOutcome>> outcomes;
  outcomes.reserve(entries.size());
  const std::int64_t now_ms = internal::ToUnixMs(clock_.Now());
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement get(*db_, "SELECT payload FROM " + table_ + " WHERE id = ?");
    SQLite::Statement put(*db_,
                          "INSERT INTO " + table_ +
                              " (id, payload, enqueued_ms, next_attempt_ms) VALUES (?, ?, ?, ?)");
    for (const Entry& e : entries) {
      get.reset();
      get.bind(1, std::string(e.id));
      if (get.executeStep()) {
        const SQLite::Column c = get.getColumn(0);
        const ByteView existing(static_cast<const std::uint8_t*>(c.getBlob()),
                                static_cast<std::size_t>(c.getBytes()));
        if (std::equal(existing.begin(), existing.end(), e.payload.begin(), e.payload.end())) {
          outcomes.emplace_back(EnqueueOutcome::kDuplicate);
        } else {
          outcomes.emplace_back(
              AlreadyExists("queue item " + std::string(e.id) + " is queued with another payload"));
        }
        continue;
      }
      put.reset();
      put.bind(1, std::string(e.id));
      put.bind(2, e.payload.data(), static_cast<int>(e.payload.size()));
      put.bind(3, now_ms);
      put.bind(4, now_ms);
      put.exec();
      outcomes.emplace_back(EnqueueOutcome::kEnqueued);
    }
    get.reset();
    tx.commit();
    return outcomes;
  } catch (const std::exception& e) {
    return SqliteError(e, "enqueue");
  }
}

Result<std::vector<QueueItem>> SqliteDurableQueue::NextDue(
    std::chrono::system_clock::time_point now, std::size_t max_items) {
  std::vector<QueueItem> out;
  if (max_items == 0) return out;
  const std::int64_t now_ms = internal::ToUnixMs(now);
  const std::int64_t lease_until = now_ms + options_.lease.count();
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::vector<std::int64_t> taken;
    if (options_.in_order) {
      // Walk the queue from its head: skip what is in flight, stop at the first item that is
      // backing off, so nothing overtakes a batch that has not been delivered yet.
      SQLite::Statement scan(
          *db_, "SELECT seq, leased_until_ms, next_attempt_ms FROM " + table_ + " ORDER BY seq");
      while (taken.size() < max_items && scan.executeStep()) {
        const std::int64_t seq = scan.getColumn(0).getInt64();
        if (scan.getColumn(1).getInt64() > now_ms) continue;
        if (scan.getColumn(2).getInt64() > now_ms) break;
        taken.push_back(seq);
      }
    } else {
      SQLite::Statement scan(*db_, "SELECT seq FROM " + table_ +
                                       " WHERE leased_until_ms <= ? AND next_attempt_ms <= ?"
                                       " ORDER BY seq LIMIT ?");
      scan.bind(1, now_ms);
      scan.bind(2, now_ms);
      scan.bind(3, static_cast<std::int64_t>(std::min<std::size_t>(max_items, 1'000'000)));
      while (scan.executeStep()) taken.push_back(scan.getColumn(0).getInt64());
    }
    SQLite::Statement lease(*db_, "UPDATE " + table_ +
                                      " SET attempts = attempts + 1, leased_until_ms = ?"
                                      " WHERE seq = ?"
                                      " RETURNING id, payload, enqueued_ms, attempts");
    for (std::int64_t seq : taken) {
      lease.bind(1, lease_until);
      lease.bind(2, seq);
      if (lease.executeStep()) {
        QueueItem item;
        item.id = lease.getColumn(0).getString();
        item.payload = ColumnBytes(lease.getColumn(1));
        item.enqueued_ms = lease.getColumn(2).getInt64();
        item.attempts = static_cast<std::uint32_t>(lease.getColumn(3).getInt64());
        out.push_back(std::move(item));
      }
      lease.reset();
    }
    tx.commit();
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "next due");
  }
}

Status SqliteDurableQueue::MarkSent(std::string_view id) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement del(*db_, "DELETE FROM " + table_ + " WHERE id = ?");
    del.bind(1, std::string(id));
    if (del.exec() == 0) return NotFound("no queued item " + std::string(id));
    return OkStatus();
  } catch (const std::exception& e) {
    return SqliteError(e, "mark sent");
  }
}

std::int64_t SqliteDurableQueue::BackoffMs(std::uint32_t attempts) {
  const std::int64_t cap = options_.max_backoff.count();
  std::int64_t delay = options_.initial_backoff.count();
  for (std::uint32_t i = 1; i < attempts && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, cap);
  const std::int64_t half = delay / 2;
  const auto span = static_cast<std::uint64_t>(delay - half) + 1;
  return half + static_cast<std::int64_t>(random_.NextU64() % span);
}

Status SqliteDurableQueue::MarkFailed(std::string_view id, std::string_view reason) {
  const std::int64_t now_ms = internal::ToUnixMs(clock_.Now());
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement get(*db_, "SELECT attempts FROM " + table_ + " WHERE id = ?");
    get.bind(1, std::string(id));
    if (!get.executeStep()) return NotFound("no queued item " + std::string(id));
    const auto attempts =
        static_cast<std::uint32_t>(std::max<std::int64_t>(1, get.getColumn(0).getInt64()));
    SQLite::Statement upd(*db_, "UPDATE " + table_ +
                                    " SET leased_until_ms = 0, next_attempt_ms = ?, last_error = ?"
                                    " WHERE id = ?");
    upd.bind(1, now_ms + BackoffMs(attempts));
    upd.bind(2, internal::SanitizeText(reason, kMaxReasonBytes));
    upd.bind(3, std::string(id));
    upd.exec();
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return SqliteError(e, "mark failed");
  }
}

Result<std::uint64_t> SqliteDurableQueue::ReleaseLeases() {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement upd(
        *db_, "UPDATE " + table_ + " SET leased_until_ms = 0 WHERE leased_until_ms > 0");
    return static_cast<std::uint64_t>(upd.exec());
  } catch (const std::exception& e) {
    return SqliteError(e, "release leases");
  }
}

Result<std::uint64_t> SqliteDurableQueue::RetryNow(std::chrono::system_clock::time_point now) {
  const std::int64_t now_ms = internal::ToUnixMs(now);
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement upd(*db_, "UPDATE " + table_ +
                                    " SET next_attempt_ms = ?1"
                                    " WHERE next_attempt_ms > ?1 AND leased_until_ms <= ?1");
    upd.bind(1, now_ms);
    return static_cast<std::uint64_t>(upd.exec());
  } catch (const std::exception& e) {
    return SqliteError(e, "retry now");
  }
}

Result<QueueStats> SqliteDurableQueue::Stats() const {
  const std::int64_t now_ms = internal::ToUnixMs(clock_.Now());
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT COUNT(*), COALESCE(SUM(length(payload)), 0),"
                        " COALESCE(SUM(attempts > 0 AND leased_until_ms <= ?1"
                        "              AND next_attempt_ms > ?1), 0),"
                        " COALESCE(SUM(leased_until_ms > ?1), 0), MIN(enqueued_ms) FROM " +
                            table_);
    q.bind(1, now_ms);
    QueueStats s;
    if (q.executeStep()) {
      s.count = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
      s.bytes = static_cast<std::uint64_t>(q.getColumn(1).getInt64());
      s.failing = static_cast<std::uint64_t>(q.getColumn(2).getInt64());
      s.in_flight = static_cast<std::uint64_t>(q.getColumn(3).getInt64());
      if (!q.getColumn(4).isNull()) s.oldest_enqueued_ms = q.getColumn(4).getInt64();
    }
    return s;
  } catch (const std::exception& e) {
    return SqliteError(e, "queue stats");
  }
}

Result<bool> SqliteDurableQueue::Contains(std::string_view id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement get(*db_, "SELECT 1 FROM " + table_ + " WHERE id = ?");
    get.bind(1, std::string(id));
    return get.executeStep();
  } catch (const std::exception& e) {
    return SqliteError(e, "contains");
  }
}

Result<std::string> SqliteDurableQueue::LastError(std::string_view id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement get(*db_, "SELECT last_error FROM " + table_ + " WHERE id = ?");
    get.bind(1, std::string(id));
    if (!get.executeStep()) return NotFound("no queued item " + std::string(id));
    return get.getColumn(0).getString();
  } catch (const std::exception& e) {
    return SqliteError(e, "last error");
  }
}

Result<std::uint64_t> SqliteDurableQueue::NextCounterValue(std::string_view counter) {
  if (counter.empty() || counter.size() > 64) return InvalidArgument("counter name of 1..64 bytes");
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement inc(*db_, "INSERT INTO " + table_ +
                                    "_counters (name, value) VALUES (?, 1)"
                                    " ON CONFLICT (name) DO UPDATE SET value = value + 1"
                                    " RETURNING value");
    inc.bind(1, std::string(counter));
    if (!inc.executeStep()) return Internal("counter update returned no row");
    const auto value = static_cast<std::uint64_t>(inc.getColumn(0).getInt64());
    // Step to completion so the statement's implicit transaction commits now.
    while (inc.executeStep()) {
    }
    return value;
  } catch (const std::exception& e) {
    return SqliteError(e, "counter");
  }
}

}  // namespace medmesh::store
