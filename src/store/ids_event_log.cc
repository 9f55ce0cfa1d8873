#include "store/ids_event_log.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <array>
#include <limits>
#include <utility>
#include <variant>

#include "core/log.h"
#include "store/internal/queue_sqlite.h"

namespace medmesh::store {
namespace {

constexpr int kSchemaVersion = 1;
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS ids_events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, node TEXT NOT NULL,"
    " source_ip TEXT NOT NULL, device_id TEXT NOT NULL, kind TEXT NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS ids_events_by_time ON ids_events (time_ms);"
    "CREATE INDEX IF NOT EXISTS ids_events_by_kind ON ids_events (kind, time_ms);"
    "CREATE TRIGGER IF NOT EXISTS ids_events_no_update BEFORE UPDATE ON ids_events"
    " BEGIN SELECT RAISE(ABORT, 'ids_events is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS ids_events_no_delete BEFORE DELETE ON ids_events"
    " BEGIN SELECT RAISE(ABORT, 'ids_events is append-only'); END;";
// Aggregated rows and retention (added later, so an older log gains them once). Rows within a
// day of the newest one cannot be deleted; older ones can, by PruneBefore.
constexpr const char* kAggregationSchema =
    "ALTER TABLE ids_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;"
    "ALTER TABLE ids_events ADD COLUMN last_ms INTEGER;"
    "DROP TRIGGER IF EXISTS ids_events_no_delete;"
    "CREATE TRIGGER ids_events_keep_recent BEFORE DELETE ON ids_events"
    " WHEN OLD.time_ms > (SELECT MAX(time_ms) FROM ids_events) - 86400000"
    " BEGIN SELECT RAISE(ABORT, 'ids_events: the last day is append-only'); END;";
constexpr std::int64_t kKeptRecentMs = 86'400'000;

struct KindName {
  IdsEventKind kind;
  std::string_view name;
};
constexpr std::array<KindName, 16> kKinds{{
    {IdsEventKind::kForgedSignature, "forged_signature"},
    {IdsEventKind::kBadCertificate, "bad_certificate"},
    {IdsEventKind::kReplay, "replay"},
    {IdsEventKind::kMalformed, "malformed"},
    {IdsEventKind::kOversized, "oversized"},
    {IdsEventKind::kDecompressionBomb, "decompression_bomb"},
    {IdsEventKind::kOutOfRange, "out_of_range"},
    {IdsEventKind::kUnknownDevice, "unknown_device"},
    {IdsEventKind::kDecryptFailure, "decrypt_failure"},
    {IdsEventKind::kAuthFailure, "auth_failure"},
    {IdsEventKind::kRateLimited, "rate_limited"},
    {IdsEventKind::kEnrolmentConflict, "enrolment_conflict"},
    {IdsEventKind::kUnknownSession, "unknown_session"},
    {IdsEventKind::kSlowClient, "slow_client"},
    {IdsEventKind::kTampering, "tampering"},
    {IdsEventKind::kOther, "other"},
}};

// A WHERE clause with its bound values, built from a filter.
struct Where {
  std::string sql;
  std::vector<std::variant<std::int64_t, std::string>> values;
  void Add(const char* clause, std::variant<std::int64_t, std::string> v) {
    sql += sql.empty() ? " WHERE " : " AND ";
    sql += clause;
    values.push_back(std::move(v));
  }
  void Bind(SQLite::Statement& st) const {
    int i = 1;
    for (const auto& v : values) {
      if (const auto* n = std::get_if<std::int64_t>(&v)) {
        st.bind(i++, *n);
      } else {
        st.bind(i++, std::get<std::string>(v));
      }
    }
  }
};

Where BuildWhere(const IdsEventFilter& f) {
  Where w;
  if (f.from_ms) w.Add("time_ms >= ?", *f.from_ms);
  if (f.to_ms) w.Add("time_ms < ?", *f.to_ms);
  if (f.kind) w.Add("kind = ?", std::string(IdsEventKindName(*f.kind)));
  if (f.node) w.Add("node = ?", *f.node);
  if (f.source_ip) w.Add("source_ip = ?", *f.source_ip);
  if (f.device_id) w.Add("device_id = ?", *f.device_id);
  if (f.after_id) w.Add("id > ?", *f.after_id);
  return w;
}

// BuildWhere's test for an aggregate held in memory (sanitised like a stored row).
bool Matches(const IdsEventFilter& f, const IdsEvent& e) {
  if (f.after_id) return false;  // not stored yet, so no id
  if (f.from_ms && e.time_ms < *f.from_ms) return false;
  if (f.to_ms && e.time_ms >= *f.to_ms) return false;
  if (f.kind && e.kind != *f.kind) return false;
  if (f.node && e.node != *f.node) return false;
  if (f.source_ip && e.source_ip != *f.source_ip) return false;
  if (f.device_id && e.device_id != *f.device_id) return false;
  return true;
}

IdsEvent Sanitised(const IdsEvent& event) {
  IdsEvent e = event;
  e.node = internal::SanitizeText(event.node, kMaxIdsFieldBytes);
  e.source_ip = internal::SanitizeText(event.source_ip, kMaxIdsFieldBytes);
  e.device_id = internal::SanitizeText(event.device_id, kMaxIdsFieldBytes);
  e.detail = internal::SanitizeText(event.detail, kMaxIdsDetailBytes);
  return e;
}

// Adds the tokens earned since the last refill, up to `burst`.
void Refill(double& tokens, std::int64_t& refilled_ms, std::int64_t now_ms, std::uint32_t burst,
            std::chrono::milliseconds every) {
  if (now_ms > refilled_ms) {
    const double earned = static_cast<double>(now_ms - refilled_ms) /
                          static_cast<double>(std::max<std::int64_t>(every.count(), 1));
    tokens = std::min<double>(burst, tokens + earned);
  }
  refilled_ms = std::max(refilled_ms, now_ms);
}

}  // namespace

std::string_view IdsEventKindName(IdsEventKind kind) {
  for (const auto& k : kKinds) {
    if (k.kind == kind) return k.name;
  }
  return "other";
}

std::optional<IdsEventKind> IdsEventKindFromName(std::string_view name) {
  for (const auto& k : kKinds) {
    if (k.name == name) return k.kind;
  }
  return std::nullopt;
}

std::vector<IdsEventKind> AllIdsEventKinds() {
  std::vector<IdsEventKind> out;
  out.reserve(kKinds.size());
  for (const auto& k : kKinds) out.push_back(k.kind);
  return out;
}

IdsEventLog::IdsEventLog(std::unique_ptr<SQLite::Database> db, IdsAggregation aggregation,
                         std::uint64_t total)
    : aggregation_(aggregation), db_(std::move(db)), total_(total) {
  global_.tokens = aggregation_.global_burst;
  global_.refilled_ms = std::numeric_limits<std::int64_t>::max();  // set by the first Record
}

IdsEventLog::~IdsEventLog() {
  if (auto flushed = FlushAll(); !flushed) {
    log::Error("ids_events_not_flushed", {{"error", flushed.error().ToString()}});
  }
}

Result<std::unique_ptr<IdsEventLog>> IdsEventLog::Open(const std::string& path,
                                                       IdsAggregation aggregation,
                                                       const SqliteOpenOptions& sqlite) {
  SqliteOpenOptions options = sqlite;
  if (options.wal_autocheckpoint_pages <= 0) {
    options.wal_autocheckpoint_pages = kIdsWalAutocheckpointPages;
  }
  if (options.wal_size_limit_bytes < 0) options.wal_size_limit_bytes = kIdsWalSizeLimitBytes;
  MEDMESH_ASSIGN_OR_RETURN(auto db, OpenSqliteDatabase(path, options));
  MEDMESH_RETURN_IF_ERROR(EnsureSqliteSchema(*db, "ids_events", kSchemaVersion, kSchema));
  MEDMESH_RETURN_IF_ERROR(EnsureSqliteSchema(*db, "ids_events_aggregated", 1, kAggregationSchema));
  // The one scan of the log's life; Total() counts on from here (a row holds `count` events).
  std::uint64_t total = 0;
  try {
    SQLite::Statement st(*db, "SELECT COALESCE(SUM(count), 0) FROM ids_events");
    st.executeStep();
    total = static_cast<std::uint64_t>(st.getColumn(0).getInt64());
  } catch (const std::exception& e) {
    return SqliteError(e, "count IDS events");
  }
  return std::unique_ptr<IdsEventLog>(new IdsEventLog(std::move(db), aggregation, total));
}

Result<std::int64_t> IdsEventLog::Append(const IdsEvent& event) {
  if (observer_) observer_(Sanitised(event));
  std::lock_guard lock(mu_);
  auto id = AppendLocked(event);
  if (id) total_.fetch_add(std::max<std::uint64_t>(event.count, 1), std::memory_order_relaxed);
  return id;
}

Result<std::int64_t> IdsEventLog::AppendLocked(const IdsEvent& event) {
  try {
    SQLite::Statement st(
        *db_,
        "INSERT INTO ids_events (time_ms, node, source_ip, device_id, kind, detail, count,"
        " last_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id");
    st.bind(1, event.time_ms);
    st.bind(2, internal::SanitizeText(event.node, kMaxIdsFieldBytes));
    st.bind(3, internal::SanitizeText(event.source_ip, kMaxIdsFieldBytes));
    st.bind(4, internal::SanitizeText(event.device_id, kMaxIdsFieldBytes));
    st.bind(5, std::string(IdsEventKindName(event.kind)));
    st.bind(6, internal::SanitizeText(event.detail, kMaxIdsDetailBytes));
    st.bind(7, static_cast<std::int64_t>(std::clamp<std::uint64_t>(
                   event.count, 1, std::numeric_limits<std::int64_t>::max())));
    st.bind(8, std::max(event.time_ms, event.last_time_ms));
    if (!st.executeStep()) return Internal("append returned no id");
    const std::int64_t id = st.getColumn(0).getInt64();
    while (st.executeStep()) {
    }
    return id;
  } catch (const std::exception& e) {
    return SqliteError(e, "append IDS event");
  }
}

bool IdsEventLog::TakeToken(const std::string& source, std::int64_t now_ms) {
  if (global_.refilled_ms == std::numeric_limits<std::int64_t>::max()) global_.refilled_ms = now_ms;
  Refill(global_.tokens, global_.refilled_ms, now_ms, aggregation_.global_burst,
         aggregation_.global_refill);
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    // Too many sources tracked: the newcomer gets no bucket, so its events are aggregated.
    if (buckets_.size() >= aggregation_.max_open) return false;
    it = buckets_.emplace(source, Bucket{static_cast<double>(aggregation_.source_burst), now_ms})
             .first;
  }
  Bucket& bucket = it->second;
  Refill(bucket.tokens, bucket.refilled_ms, now_ms, aggregation_.source_burst,
         aggregation_.source_refill);
  if (bucket.tokens < 1 || global_.tokens < 1) return false;
  bucket.tokens -= 1;
  global_.tokens -= 1;
  return true;
}

Result<IdsRecordOutcome> IdsEventLog::Record(const IdsEvent& event) {
  IdsEvent e = Sanitised(event);
  e.count = 1;
  e.last_time_ms = e.time_ms;
  if (observer_) observer_(e);
  std::lock_guard lock(mu_);
  if (e.time_ms >= next_flush_ms_) {
    // Amortised: at most once per window, whatever the event rate.
    if (auto flushed = FlushLocked(e.time_ms, false); !flushed) {
      log::Error("ids_events_not_flushed", {{"error", flushed.error().ToString()}});
    }
    next_flush_ms_ = e.time_ms + std::max<std::int64_t>(aggregation_.window.count(), 1);
  }
  auto key = std::make_pair(e.source_ip, e.kind);
  auto open = open_.find(key);
  if (open != open_.end() && open->second.time_ms + aggregation_.window.count() <= e.time_ms) {
    // This source's aggregate outlived its window (the amortised flush above had not come
    // round yet): write the closed ones now, so a row never spans much more than a window.
    if (auto flushed = FlushLocked(e.time_ms, false); !flushed) {
      log::Error("ids_events_not_flushed", {{"error", flushed.error().ToString()}});
    }
    open = open_.find(key);
  }
  if (open == open_.end() && TakeToken(e.source_ip, e.time_ms)) {
    MEDMESH_RETURN_IF_ERROR(AppendLocked(e));
    total_.fetch_add(1, std::memory_order_relaxed);
    return IdsRecordOutcome::kWritten;
  }
  // From here on the event is held in an aggregate (written when its window closes).
  total_.fetch_add(1, std::memory_order_relaxed);
  if (open == open_.end() && open_.size() >= aggregation_.max_open) {
    key.first = std::string(kIdsManySources);
    open = open_.find(key);
  }
  if (open == open_.end()) {
    if (key.first == kIdsManySources) {
      e.source_ip = std::string(kIdsManySources);
      e.device_id.clear();
      e.detail = "events from more sources than tracked; first: " + e.detail;
      e.detail = internal::SanitizeText(e.detail, kMaxIdsDetailBytes);
    }
    open_.emplace(std::move(key), std::move(e));
    return IdsRecordOutcome::kAggregated;
  }
  IdsEvent& aggregate = open->second;
  aggregate.count += 1;
  aggregate.last_time_ms = std::max(aggregate.last_time_ms, e.time_ms);
  return IdsRecordOutcome::kAggregated;
}

Result<std::uint64_t> IdsEventLog::FlushClosed(std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  return FlushLocked(now_ms, false);
}

Result<std::uint64_t> IdsEventLog::FlushAll() {
  std::lock_guard lock(mu_);
  return FlushLocked(0, true);
}

Result<std::uint64_t> IdsEventLog::FlushLocked(std::int64_t now_ms, bool all) {
  std::vector<decltype(open_)::iterator> closed;
  for (auto it = open_.begin(); it != open_.end(); ++it) {
    if (all || it->second.time_ms + aggregation_.window.count() <= now_ms) closed.push_back(it);
  }
  if (!all) {
    // Buckets that refilled completely carry no state: forget them, so the map stays small.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      Bucket& b = it->second;
      Refill(b.tokens, b.refilled_ms, now_ms, aggregation_.source_burst,
             aggregation_.source_refill);
      it = b.tokens >= aggregation_.source_burst ? buckets_.erase(it) : std::next(it);
    }
  }
  if (closed.empty()) return std::uint64_t{0};
  try {
    SQLite::Transaction tx(*db_);
    for (const auto& it : closed) {
      MEDMESH_RETURN_IF_ERROR(AppendLocked(it->second));
    }
    tx.commit();
  } catch (const std::exception& e) {
    return SqliteError(e, "write aggregated IDS events");
  }
  // At most once per window: leave no WAL behind the aggregated rows (the rows are durable in
  // the WAL already, so a failed checkpoint loses nothing; it is logged, not returned).
  if (Status checkpointed = CheckpointSqliteWal(*db_); !checkpointed) {
    log::Warn("ids_events_wal_not_checkpointed", {{"error", checkpointed.error().ToString()}});
  }
  for (const auto& it : closed) {
    const IdsEvent& a = it->second;
    // One line per aggregated row, not per event: the log must not grow with a flood either.
    log::Warn("ids_events_aggregated", {{"kind", IdsEventKindName(a.kind)},
                                        {"peer", a.source_ip},
                                        {"count", a.count},
                                        {"first_ms", a.time_ms},
                                        {"last_ms", a.last_time_ms}});
    open_.erase(it);
  }
  return static_cast<std::uint64_t>(closed.size());
}

Result<std::uint64_t> IdsEventLog::PruneBefore(std::int64_t before_ms) {
  std::lock_guard lock(mu_);
  try {
    // Rows within a day of the newest are kept (the trigger would refuse them and abort the
    // whole statement).
    SQLite::Statement st(*db_,
                         "DELETE FROM ids_events WHERE COALESCE(last_ms, time_ms) < ?"
                         " AND time_ms <= (SELECT MAX(time_ms) FROM ids_events) - ?");
    st.bind(1, before_ms);
    st.bind(2, kKeptRecentMs);
    return static_cast<std::uint64_t>(st.exec());
  } catch (const std::exception& e) {
    return SqliteError(e, "prune IDS events");
  }
}

template <typename Add>
void IdsEventLog::ForEachOpen(const IdsEventFilter& filter, Add add) const {
  for (const auto& [key, aggregate] : open_) {
    if (Matches(filter, aggregate)) add(aggregate.source_ip, aggregate.kind, aggregate.count);
  }
}

Result<std::vector<IdsEvent>> IdsEventLog::Query(const IdsEventFilter& filter) {
  const Where where = BuildWhere(filter);
  const std::string order =
      filter.newest_first ? " ORDER BY time_ms DESC, id DESC" : " ORDER BY time_ms, id";
  std::lock_guard lock(mu_);
  MEDMESH_RETURN_IF_ERROR(FlushLocked(0, true));
  try {
    SQLite::Statement st(*db_,
                         "SELECT id, time_ms, node, source_ip, device_id, kind, detail, count,"
                         " COALESCE(last_ms, time_ms) FROM ids_events" +
                             where.sql + order + " LIMIT ?");
    where.Bind(st);
    st.bind(static_cast<int>(where.values.size()) + 1,
            static_cast<std::int64_t>(
                std::min<std::size_t>(filter.limit, std::numeric_limits<std::int32_t>::max())));
    std::vector<IdsEvent> out;
    while (st.executeStep()) {
      IdsEvent e;
      e.id = st.getColumn(0).getInt64();
      e.time_ms = st.getColumn(1).getInt64();
      e.node = st.getColumn(2).getString();
      e.source_ip = st.getColumn(3).getString();
      e.device_id = st.getColumn(4).getString();
      e.kind = IdsEventKindFromName(st.getColumn(5).getString()).value_or(IdsEventKind::kOther);
      e.detail = st.getColumn(6).getString();
      e.count = static_cast<std::uint64_t>(st.getColumn(7).getInt64());
      e.last_time_ms = st.getColumn(8).getInt64();
      out.push_back(std::move(e));
    }
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "query IDS events");
  }
}

Result<std::uint64_t> IdsEventLog::Count(const IdsEventFilter& filter) const {
  const Where where = BuildWhere(filter);
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_, "SELECT COALESCE(SUM(count), 0) FROM ids_events" + where.sql);
    where.Bind(st);
    st.executeStep();
    auto total = static_cast<std::uint64_t>(st.getColumn(0).getInt64());
    ForEachOpen(filter, [&](const std::string&, IdsEventKind, std::uint64_t n) { total += n; });
    return total;
  } catch (const std::exception& e) {
    return SqliteError(e, "count IDS events");
  }
}

Result<std::map<IdsEventKind, std::uint64_t>> IdsEventLog::CountByKind(
    const IdsEventFilter& filter) const {
  const Where where = BuildWhere(filter);
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_,
                         "SELECT kind, SUM(count) FROM ids_events" + where.sql + " GROUP BY kind");
    where.Bind(st);
    std::map<IdsEventKind, std::uint64_t> out;
    while (st.executeStep()) {
      const IdsEventKind kind =
          IdsEventKindFromName(st.getColumn(0).getString()).value_or(IdsEventKind::kOther);
      out[kind] += static_cast<std::uint64_t>(st.getColumn(1).getInt64());
    }
    ForEachOpen(filter,
                [&](const std::string&, IdsEventKind kind, std::uint64_t n) { out[kind] += n; });
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "count IDS events");
  }
}

Result<std::vector<IdsSourceCount>> IdsEventLog::CountBySource(const IdsEventFilter& filter) const {
  const Where where = BuildWhere(filter);
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_, "SELECT source_ip, kind, SUM(count) FROM ids_events" + where.sql +
                                   " GROUP BY source_ip, kind");
    where.Bind(st);
    std::map<std::pair<std::string, IdsEventKind>, std::uint64_t> sums;
    while (st.executeStep()) {
      const IdsEventKind kind =
          IdsEventKindFromName(st.getColumn(1).getString()).value_or(IdsEventKind::kOther);
      sums[{st.getColumn(0).getString(), kind}] +=
          static_cast<std::uint64_t>(st.getColumn(2).getInt64());
    }
    ForEachOpen(filter, [&](const std::string& source, IdsEventKind kind, std::uint64_t n) {
      sums[{source, kind}] += n;
    });
    std::vector<IdsSourceCount> out;
    out.reserve(sums.size());
    for (const auto& [key, n] : sums) out.push_back({key.first, key.second, n});
    std::stable_sort(out.begin(), out.end(),
                     [](const auto& a, const auto& b) { return a.count > b.count; });
    if (out.size() > filter.limit) out.resize(filter.limit);
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "count IDS events by source");
  }
}

}  // namespace medmesh::store
