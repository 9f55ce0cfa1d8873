#include "audit/sqlite_audit_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <exception>
#include <utility>

namespace medmesh::audit {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kDdl =
    "CREATE TABLE IF NOT EXISTS audit_entry ("
    "  seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, event TEXT NOT NULL,"
    "  action TEXT NOT NULL, outcome INTEGER NOT NULL, actor_account_id TEXT NOT NULL,"
    "  actor_role TEXT NOT NULL, source_address TEXT NOT NULL, patient_id TEXT NOT NULL,"
    "  entity_type TEXT NOT NULL, entity_id TEXT NOT NULL, purpose TEXT NOT NULL,"
    "  detail TEXT NOT NULL, observer TEXT NOT NULL, format INTEGER NOT NULL,"
    "  event_json TEXT NOT NULL, prev_hash BLOB NOT NULL, entry_hash BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS audit_entry_by_patient ON audit_entry (patient_id, seq);"
    "CREATE INDEX IF NOT EXISTS audit_entry_by_actor ON audit_entry (actor_account_id, seq);"
    "CREATE INDEX IF NOT EXISTS audit_entry_by_time ON audit_entry (time_ms);"
    // Append-only against our own bugs; whoever has the file can drop these, which is why the
    // entries are chained and the head signed.
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry"
    "  BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry"
    "  BEGIN SELECT RAISE(ABORT, 'audit_entry is append-only'); END;"
    "CREATE TABLE IF NOT EXISTS audit_head ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash BLOB NOT NULL,"
    "  observer TEXT NOT NULL, signature BLOB NOT NULL);";

constexpr const char* kEntryColumns =
    "seq, time_ms, event, action, outcome, actor_account_id, actor_role, source_address,"
    " patient_id, entity_type, entity_id, purpose, detail, observer, format, event_json,"
    " prev_hash, entry_hash";

StoredAuditEntry ReadEntry(SQLite::Statement& st) {
  StoredAuditEntry s;
  s.seq = static_cast<std::uint64_t>(st.getColumn(0).getInt64());
  AuditEntry& e = s.entry;
  e.time_ms = st.getColumn(1).getInt64();
  e.event = st.getColumn(2).getString();
  const std::string action = st.getColumn(3).getString();
  // A value outside C/R/U/D/E is kept as it is read: Verify then finds that the re-rendered
  // event differs from the stored one.
  e.action = static_cast<Action>(action.size() == 1 ? action[0] : '?');
  e.outcome = static_cast<Outcome>(st.getColumn(4).getInt());
  e.actor_account_id = st.getColumn(5).getString();
  e.actor_role = st.getColumn(6).getString();
  e.source_address = st.getColumn(7).getString();
  e.patient_id = st.getColumn(8).getString();
  e.entity_type = st.getColumn(9).getString();
  e.entity_id = st.getColumn(10).getString();
  e.purpose = st.getColumn(11).getString();
  e.detail = st.getColumn(12).getString();
  s.observer = st.getColumn(13).getString();
  s.format = st.getColumn(14).getInt();
  s.event_json = st.getColumn(15).getString();
  s.prev_hash = store::ColumnBytes(st.getColumn(16));
  s.entry_hash = store::ColumnBytes(st.getColumn(17));
  return s;
}

std::optional<SignedAuditHead> ReadHead(SQLite::Database& db) {
  SQLite::Statement st(db, "SELECT seq, hash, observer, signature FROM audit_head WHERE id = 1");
  if (!st.executeStep()) return std::nullopt;
  SignedAuditHead h;
  h.seq = static_cast<std::uint64_t>(st.getColumn(0).getInt64());
  h.hash = store::ColumnBytes(st.getColumn(1));
  h.observer = st.getColumn(2).getString();
  h.signature = store::ColumnBytes(st.getColumn(3));
  return h;
}

}  // namespace

Result<std::unique_ptr<SqliteAuditStore>> SqliteAuditStore::Open(std::string path,
                                                                 store::SqliteOpenOptions options) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           store::OpenSqliteDatabase(path, options));
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(*db, "audit_log", kSchemaVersion, kDdl));
  return std::unique_ptr<SqliteAuditStore>(
      new SqliteAuditStore(std::move(path), std::move(options), std::move(db)));
}

SqliteAuditStore::SqliteAuditStore(std::string path, store::SqliteOpenOptions options,
                                   std::unique_ptr<SQLite::Database> db)
    : path_(std::move(path)), options_(std::move(options)), db_(std::move(db)) {}

SqliteAuditStore::~SqliteAuditStore() = default;

Status SqliteAuditStore::InitHead(const SignedAuditHead& genesis) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_,
                         "INSERT OR IGNORE INTO audit_head (id, seq, hash, observer, signature)"
                         " VALUES (1, ?, ?, ?, ?)");
    st.bind(1, static_cast<std::int64_t>(genesis.seq));
    store::BindBlob(st, 2, genesis.hash);
    st.bind(3, genesis.observer);
    store::BindBlob(st, 4, genesis.signature);
    st.exec();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "init audit head");
  }
}

Status SqliteAuditStore::Append(const Sealer& seal) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    const std::optional<SignedAuditHead> head = ReadHead(*db_);
    if (!head) return FailedPrecondition("the audit log has no head");
    MEDMESH_ASSIGN_OR_RETURN(auto sealed, seal(*head));
    SQLite::Statement insert(*db_, std::string("INSERT INTO audit_entry (") + kEntryColumns +
                                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                                       " ?, ?, ?)");
    for (const StoredAuditEntry& s : sealed.first) {
      const AuditEntry& e = s.entry;
      insert.bind(1, static_cast<std::int64_t>(s.seq));
      insert.bind(2, e.time_ms);
      insert.bind(3, e.event);
      insert.bind(4, std::string(1, static_cast<char>(e.action)));
      insert.bind(5, static_cast<int>(e.outcome));
      insert.bind(6, e.actor_account_id);
      insert.bind(7, e.actor_role);
      insert.bind(8, e.source_address);
      insert.bind(9, e.patient_id);
      insert.bind(10, e.entity_type);
      insert.bind(11, e.entity_id);
      insert.bind(12, e.purpose);
      insert.bind(13, e.detail);
      insert.bind(14, s.observer);
      insert.bind(15, s.format);
      insert.bind(16, s.event_json);
      store::BindBlob(insert, 17, s.prev_hash);
      store::BindBlob(insert, 18, s.entry_hash);
      insert.exec();
      insert.reset();
    }
    const SignedAuditHead& h = sealed.second;
    SQLite::Statement update(
        *db_, "UPDATE audit_head SET seq = ?, hash = ?, observer = ?, signature = ? WHERE id = 1");
    update.bind(1, static_cast<std::int64_t>(h.seq));
    store::BindBlob(update, 2, h.hash);
    update.bind(3, h.observer);
    store::BindBlob(update, 4, h.signature);
    update.exec();
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "append audit entry");
  }
}

Status SqliteAuditStore::Scan(
    const std::function<Status(const std::optional<SignedAuditHead>&)>& on_head,
    const std::function<Status(const StoredAuditEntry&)>& on_entry) const {
  // Its own connection: a read transaction in WAL mode sees one snapshot and blocks no writer.
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           store::OpenSqliteDatabase(path_, options_));
  try {
    SQLite::Transaction tx(*db, SQLite::TransactionBehavior::DEFERRED);
    MEDMESH_RETURN_IF_ERROR(on_head(ReadHead(*db)));
    SQLite::Statement st(*db,
                         std::string("SELECT ") + kEntryColumns + " FROM audit_entry ORDER BY seq");
    while (st.executeStep()) MEDMESH_RETURN_IF_ERROR(on_entry(ReadEntry(st)));
    return OkStatus();  // the read transaction is rolled back: it changed nothing
  } catch (const std::exception& e) {
    return store::SqliteError(e, "scan audit log");
  }
}

Result<std::vector<StoredAuditEntry>> SqliteAuditStore::Query(const AuditQuery& q) const {
  MEDMESH_RETURN_IF_ERROR(CheckAuditQuery(q));
  std::lock_guard lock(mu_);
  try {
    std::string sql = std::string("SELECT ") + kEntryColumns +
                      " FROM audit_entry WHERE time_ms >= ? AND time_ms < ?";
    if (q.before_seq != 0) sql += " AND seq < ?";
    if (!q.patient_id.empty()) sql += " AND patient_id = ?";
    if (!q.actor_account_id.empty()) sql += " AND actor_account_id = ?";
    if (!q.event.empty()) sql += " AND event = ?";
    if (q.action) sql += " AND action = ?";
    if (q.outcome) sql += " AND outcome = ?";
    sql += " ORDER BY seq DESC LIMIT ?";
    SQLite::Statement st(*db_, sql);
    int i = 1;
    st.bind(i++, q.from_ms);
    st.bind(i++, q.to_ms);
    if (q.before_seq != 0) st.bind(i++, static_cast<std::int64_t>(q.before_seq));
    if (!q.patient_id.empty()) st.bind(i++, q.patient_id);
    if (!q.actor_account_id.empty()) st.bind(i++, q.actor_account_id);
    if (!q.event.empty()) st.bind(i++, q.event);
    if (q.action) st.bind(i++, std::string(1, static_cast<char>(*q.action)));
    if (q.outcome) st.bind(i++, static_cast<int>(*q.outcome));
    st.bind(i, static_cast<std::int64_t>(q.limit));
    std::vector<StoredAuditEntry> out;
    while (st.executeStep()) out.push_back(ReadEntry(st));
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "query audit log");
  }
}

Result<std::optional<SignedAuditHead>> SqliteAuditStore::Head() const {
  std::lock_guard lock(mu_);
  try {
    return ReadHead(*db_);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "read audit head");
  }
}

}  // namespace medmesh::audit
