#include "store/ids_event_log.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <array>
#include <limits>
#include <utility>
#include <variant>

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

struct KindName {
  IdsEventKind kind;
  std::string_view name;
};
constexpr std::array<KindName, 13> kKinds{{
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

IdsEventLog::IdsEventLog(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
IdsEventLog::~IdsEventLog() = default;

Result<std::unique_ptr<IdsEventLog>> IdsEventLog::Open(const std::string& path) {
  MEDMESH_ASSIGN_OR_RETURN(auto db, OpenSqliteDatabase(path));
  MEDMESH_RETURN_IF_ERROR(EnsureSqliteSchema(*db, "ids_events", kSchemaVersion, kSchema));
  return std::unique_ptr<IdsEventLog>(new IdsEventLog(std::move(db)));
}

Result<std::int64_t> IdsEventLog::Append(const IdsEvent& event) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(
        *db_,
        "INSERT INTO ids_events (time_ms, node, source_ip, device_id, kind, detail)"
        " VALUES (?, ?, ?, ?, ?, ?) RETURNING id");
    st.bind(1, event.time_ms);
    st.bind(2, internal::SanitizeText(event.node, kMaxIdsFieldBytes));
    st.bind(3, internal::SanitizeText(event.source_ip, kMaxIdsFieldBytes));
    st.bind(4, internal::SanitizeText(event.device_id, kMaxIdsFieldBytes));
    st.bind(5, std::string(IdsEventKindName(event.kind)));
    st.bind(6, internal::SanitizeText(event.detail, kMaxIdsDetailBytes));
    if (!st.executeStep()) return Internal("append returned no id");
    const std::int64_t id = st.getColumn(0).getInt64();
    while (st.executeStep()) {
    }
    return id;
  } catch (const std::exception& e) {
    return SqliteError(e, "append IDS event");
  }
}

Result<std::vector<IdsEvent>> IdsEventLog::Query(const IdsEventFilter& filter) const {
  const Where where = BuildWhere(filter);
  const std::string order =
      filter.newest_first ? " ORDER BY time_ms DESC, id DESC" : " ORDER BY time_ms, id";
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_,
                         "SELECT id, time_ms, node, source_ip, device_id, kind, detail"
                         " FROM ids_events" +
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
    SQLite::Statement st(*db_, "SELECT COUNT(*) FROM ids_events" + where.sql);
    where.Bind(st);
    st.executeStep();
    return static_cast<std::uint64_t>(st.getColumn(0).getInt64());
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
                         "SELECT kind, COUNT(*) FROM ids_events" + where.sql + " GROUP BY kind");
    where.Bind(st);
    std::map<IdsEventKind, std::uint64_t> out;
    while (st.executeStep()) {
      const IdsEventKind kind =
          IdsEventKindFromName(st.getColumn(0).getString()).value_or(IdsEventKind::kOther);
      out[kind] += static_cast<std::uint64_t>(st.getColumn(1).getInt64());
    }
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "count IDS events");
  }
}

}  // namespace medmesh::store
