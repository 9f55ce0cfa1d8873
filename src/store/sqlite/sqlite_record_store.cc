#include "store/sqlite/sqlite_record_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include "store/internal/queue_sqlite.h"

namespace medmesh::store {
namespace {

// --- Schema migrations ---------------------------------------------------------------------------
// Append a step to change the schema; never edit a step that has shipped. Each step runs in
// the transaction that records it in record_store_migrations.
struct Migration {
  int version;
  const char* description;
  const char* sql;
};

constexpr Migration kMigrations[] = {
    {1, "three-part record store: ei, qi, mi, chain log, wrapped keys",
     // WITHOUT ROWID keeps rows in key order: mi rows are ordered by their keyed reference,
     // not by insertion, so their order in the file says nothing about when they came.
     "CREATE TABLE ei ("
     "  patient_id TEXT NOT NULL, snapshot_ref TEXT NOT NULL, ciphertext BLOB NOT NULL,"
     "  PRIMARY KEY (patient_id, snapshot_ref)) WITHOUT ROWID;"
     "CREATE TABLE ei_record_link ("
     "  record_ref TEXT PRIMARY KEY, patient_id TEXT NOT NULL, digest BLOB NOT NULL,"
     "  ciphertext BLOB NOT NULL) WITHOUT ROWID;"
     "CREATE INDEX ei_record_link_by_patient ON ei_record_link (patient_id);"
     "CREATE TABLE ei_blind_index ("
     "  field TEXT NOT NULL, token BLOB NOT NULL, patient_id TEXT NOT NULL,"
     "  PRIMARY KEY (field, token, patient_id)) WITHOUT ROWID;"
     "CREATE INDEX ei_blind_index_by_patient ON ei_blind_index (patient_id);"
     "CREATE TABLE qi ("
     "  patient_id TEXT NOT NULL, snapshot_ref TEXT NOT NULL, ciphertext BLOB NOT NULL,"
     "  is_current INTEGER NOT NULL, PRIMARY KEY (patient_id, snapshot_ref)) WITHOUT ROWID;"
     "CREATE UNIQUE INDEX qi_one_current ON qi (patient_id) WHERE is_current = 1;"
     "CREATE TABLE qi_generalised ("
     "  row_no INTEGER PRIMARY KEY, age_band TEXT NOT NULL, sex TEXT NOT NULL,"
     "  postcode_prefix TEXT NOT NULL, reference_year INTEGER NOT NULL);"
     "CREATE TABLE qi_state ("
     "  id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL,"
     "  generalised_generation INTEGER NOT NULL);"
     "INSERT INTO qi_state VALUES (1, 0, 0);"
     "CREATE TABLE mi ("
     "  mi_ref TEXT PRIMARY KEY, pseudonym TEXT NOT NULL, ciphertext BLOB NOT NULL)"
     "  WITHOUT ROWID;"
     "CREATE INDEX mi_by_pseudonym ON mi (pseudonym);"
     "CREATE TABLE chain_log ("
     "  seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, record_ref TEXT NOT NULL,"
     "  record_digest BLOB NOT NULL, stored_ms INTEGER NOT NULL, prev_hash BLOB NOT NULL,"
     "  entry_hash BLOB NOT NULL);"
     "CREATE INDEX chain_log_by_record ON chain_log (record_ref);"
     // Append-only against our own bugs; an attacker with the file can drop these, which is
     // why the entries are chained with a keyed hash as well.
     "CREATE TRIGGER chain_log_no_update BEFORE UPDATE ON chain_log"
     "  BEGIN SELECT RAISE(ABORT, 'chain_log is append-only'); END;"
     "CREATE TRIGGER chain_log_no_delete BEFORE DELETE ON chain_log"
     "  BEGIN SELECT RAISE(ABORT, 'chain_log is append-only'); END;"
     "CREATE TABLE chain_head ("
     "  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash BLOB NOT NULL);"
     "INSERT INTO chain_head VALUES (1, 0, x'');"
     "CREATE TABLE wrapped_keys ("
     "  ring TEXT NOT NULL, patient_id BLOB NOT NULL, part BLOB NOT NULL,"
     "  wrapped BLOB NOT NULL, PRIMARY KEY (ring, patient_id, part)) WITHOUT ROWID;"},
};
static_assert(std::size(kMigrations) == kRecordStoreSchemaVersion);

// A non-null pointer for empty blobs: SQLite binds a null pointer as NULL, not as x''.
void BindText(SQLite::Statement& st, int index, std::string_view s) {
  st.bind(index, std::string(s));
}
void BindInt(SQLite::Statement& st, int index, std::uint64_t v) {
  st.bind(index, static_cast<std::int64_t>(v));
}

std::string ColumnString(const SQLite::Column& c) {
  const auto* p = static_cast<const char*>(c.getBlob());
  const int n = c.getBytes();
  if (p == nullptr || n <= 0) return {};
  return {p, static_cast<std::size_t>(n)};
}

Status Migrate(SQLite::Database& db) {
  try {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec(
        "CREATE TABLE IF NOT EXISTS record_store_migrations ("
        "  version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_ms INTEGER NOT NULL)");
    SQLite::Statement q(db, "SELECT COALESCE(MAX(version), 0) FROM record_store_migrations");
    q.executeStep();
    const int have = q.getColumn(0).getInt();
    q.reset();
    if (have > kRecordStoreSchemaVersion) {
      return FailedPrecondition("record store schema is version " + std::to_string(have) +
                                ", newer than this build (" +
                                std::to_string(kRecordStoreSchemaVersion) + ")");
    }
    for (const Migration& m : kMigrations) {
      if (m.version <= have) continue;
      db.exec(m.sql);
      SQLite::Statement put(db,
                            "INSERT INTO record_store_migrations (version, description, applied_ms)"
                            " VALUES (?, ?, CAST(strftime('%s', 'now') AS INTEGER) * 1000)");
      put.bind(1, m.version);
      put.bind(2, m.description);
      put.exec();
    }
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return SqliteError(e, "migrate record store");
  }
}

// Appends one entry after the current head; the caller holds the write transaction.
std::uint64_t AppendChain(SQLite::Database& db, ChainEntryKind kind, const std::string& record_ref,
                          ByteView digest, std::int64_t stored_ms, const ChainHasher& hasher) {
  SQLite::Statement head(db, "SELECT seq, hash FROM chain_head WHERE id = 1");
  if (!head.executeStep()) throw std::runtime_error("chain head row is missing");
  ChainEntry e;
  e.seq = static_cast<std::uint64_t>(head.getColumn(0).getInt64()) + 1;
  e.kind = kind;
  e.record_ref = record_ref;
  e.record_digest.assign(digest.begin(), digest.end());
  e.stored_ms = stored_ms;
  e.prev_hash = ColumnBytes(head.getColumn(1));
  e.entry_hash = hasher.EntryHash(e);
  head.reset();

  SQLite::Statement ins(db,
                        "INSERT INTO chain_log (seq, kind, record_ref, record_digest, stored_ms,"
                        " prev_hash, entry_hash) VALUES (?, ?, ?, ?, ?, ?, ?)");
  BindInt(ins, 1, e.seq);
  ins.bind(2, static_cast<int>(e.kind));
  BindText(ins, 3, e.record_ref);
  BindBlob(ins, 4, e.record_digest);
  ins.bind(5, e.stored_ms);
  BindBlob(ins, 6, e.prev_hash);
  BindBlob(ins, 7, e.entry_hash);
  ins.exec();
  SQLite::Statement upd(db, "UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1");
  BindInt(upd, 1, e.seq);
  BindBlob(upd, 2, e.entry_hash);
  upd.exec();
  return e.seq;
}

void BumpQiGeneration(SQLite::Database& db) {
  db.exec("UPDATE qi_state SET generation = generation + 1 WHERE id = 1");
}

Status CheckContext(const crypto::DataKeyContext& c) {
  if (c.patient_id.empty() || c.patient_id.size() > crypto::kMaxDataKeyContextFieldBytes ||
      c.part.empty() || c.part.size() > crypto::kMaxDataKeyContextFieldBytes) {
    return InvalidArgument("data key context fields must be 1..255 bytes");
  }
  return OkStatus();
}

}  // namespace

// --- Key rings ---------------------------------------------------------------------------------

class SqliteRecordStore::KeyRing final : public crypto::WrappedKeyStore {
 public:
  KeyRing(SqliteRecordStore& store, std::string ring) : store_(store), ring_(std::move(ring)) {}

  Status Insert(const crypto::DataKeyContext& context, Bytes wrapped) override {
    MEDMESH_RETURN_IF_ERROR(CheckContext(context));
    std::lock_guard lock(store_.mu_);
    try {
      SQLite::Statement st(*store_.db_,
                           "INSERT INTO wrapped_keys (ring, patient_id, part, wrapped)"
                           " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
      Bind(st, context);
      BindBlob(st, 4, wrapped);
      if (st.exec() == 0) return AlreadyExists("data key already exists");
      return OkStatus();
    } catch (const std::exception& e) {
      return SqliteError(e, "insert wrapped key");
    }
  }

  // Every decryption asks for its data key (the charts' cold path once per MI row), so the
  // statement is prepared once and reused, and reset after each use (an unreset statement
  // would hold its read snapshot open).
  Result<Bytes> Get(const crypto::DataKeyContext& context) const override {
    MEDMESH_RETURN_IF_ERROR(CheckContext(context));
    std::lock_guard lock(store_.mu_);
    try {
      if (!get_) {
        get_.emplace(*store_.db_,
                     "SELECT wrapped FROM wrapped_keys WHERE ring = ? AND patient_id = ?"
                     " AND part = ?");
      }
      SQLite::Statement& st = *get_;
      struct ResetAfter {
        SQLite::Statement& st;
        ~ResetAfter() { (void)st.tryReset(); }  // every parameter is bound again next time
      } reset_after{st};
      Bind(st, context);
      if (!st.executeStep()) return NotFound("no data key for this context");
      return ColumnBytes(st.getColumn(0));
    } catch (const std::exception& e) {
      return SqliteError(e, "get wrapped key");
    }
  }

  Status Replace(const crypto::DataKeyContext& context, ByteView expected, Bytes wrapped) override {
    MEDMESH_RETURN_IF_ERROR(CheckContext(context));
    std::lock_guard lock(store_.mu_);
    try {
      SQLite::Statement st(*store_.db_,
                           "UPDATE wrapped_keys SET wrapped = ? WHERE ring = ? AND patient_id = ?"
                           " AND part = ? AND wrapped = ?");
      BindBlob(st, 1, wrapped);
      BindText(st, 2, ring_);
      st.bind(3, context.patient_id.data(), static_cast<int>(context.patient_id.size()));
      st.bind(4, context.part.data(), static_cast<int>(context.part.size()));
      BindBlob(st, 5, expected);
      if (st.exec() == 1) return OkStatus();
      SQLite::Statement probe(*store_.db_,
                              "SELECT 1 FROM wrapped_keys WHERE ring = ? AND patient_id = ?"
                              " AND part = ?");
      Bind(probe, context);
      if (!probe.executeStep()) return NotFound("no data key for this context");
      return FailedPrecondition("wrapped data key changed concurrently");
    } catch (const std::exception& e) {
      return SqliteError(e, "replace wrapped key");
    }
  }

  Status Delete(const crypto::DataKeyContext& context) override {
    MEDMESH_RETURN_IF_ERROR(CheckContext(context));
    std::lock_guard lock(store_.mu_);
    try {
      SQLite::Statement st(
          *store_.db_, "DELETE FROM wrapped_keys WHERE ring = ? AND patient_id = ? AND part = ?");
      Bind(st, context);
      if (st.exec() == 0) return NotFound("no data key for this context");
      return OkStatus();
    } catch (const std::exception& e) {
      return SqliteError(e, "delete wrapped key");
    }
  }

  Result<std::vector<crypto::DataKeyContext>> List() const override {
    std::lock_guard lock(store_.mu_);
    try {
      SQLite::Statement st(*store_.db_,
                           "SELECT patient_id, part FROM wrapped_keys WHERE ring = ?"
                           " ORDER BY patient_id, part");
      BindText(st, 1, ring_);
      std::vector<crypto::DataKeyContext> out;
      while (st.executeStep()) {
        out.push_back({ColumnString(st.getColumn(0)), ColumnString(st.getColumn(1))});
      }
      return out;
    } catch (const std::exception& e) {
      return SqliteError(e, "list wrapped keys");
    }
  }

 private:
  // Context fields are arbitrary bytes, so they are bound as blobs, never as text.
  void Bind(SQLite::Statement& st, const crypto::DataKeyContext& c) const {
    BindText(st, 1, ring_);
    st.bind(2, c.patient_id.data(), static_cast<int>(c.patient_id.size()));
    st.bind(3, c.part.data(), static_cast<int>(c.part.size()));
  }

  SqliteRecordStore& store_;
  std::string ring_;
  mutable std::optional<SQLite::Statement> get_;  // guarded by store_.mu_; made on first use
};

// --- Store -------------------------------------------------------------------------------------

SqliteRecordStore::SqliteRecordStore(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {
  rings_[0] = std::make_unique<KeyRing>(*this, "ei");
  rings_[1] = std::make_unique<KeyRing>(*this, "qi");
  rings_[2] = std::make_unique<KeyRing>(*this, "mi");
}

SqliteRecordStore::~SqliteRecordStore() = default;

Result<std::unique_ptr<SqliteRecordStore>> SqliteRecordStore::Open(
    const std::filesystem::path& path, const SqliteRecordStoreOptions& options) {
  if (options.busy_timeout.count() < 0) return InvalidArgument("busy_timeout must be >= 0");
  MEDMESH_ASSIGN_OR_RETURN(
      auto db, OpenSqliteDatabase(path.string(), {options.busy_timeout, options.sqlite_vfs}));
  try {
    // Overwrite deleted content (a deleted patient's rows, destroyed wrapped keys) in the file.
    db->exec("PRAGMA secure_delete=ON");
  } catch (const std::exception& e) {
    return SqliteError(e, "open record store");
  }
  MEDMESH_RETURN_IF_ERROR(Migrate(*db));
  return std::unique_ptr<SqliteRecordStore>(new SqliteRecordStore(std::move(db)));
}

crypto::WrappedKeyStore& SqliteRecordStore::wrapped_keys(RecordPart part) {
  switch (part) {
    case RecordPart::kEi: return *rings_[0];
    case RecordPart::kQi: return *rings_[1];
    case RecordPart::kMi: return *rings_[2];
  }
  MEDMESH_CHECK(false, "unknown record part");
}

Result<PutResult> SqliteRecordStore::PutRecord(const NewRecord& record, const ChainHasher& hasher) {
  MEDMESH_RETURN_IF_ERROR(ValidateNewRecord(record));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    {
      SQLite::Statement existing(*db_,
                                 "SELECT l.digest, (SELECT MAX(seq) FROM chain_log c"
                                 " WHERE c.record_ref = l.record_ref AND c.kind = 1)"
                                 " FROM ei_record_link l WHERE l.record_ref = ?");
      BindText(existing, 1, record.link.record_ref);
      if (existing.executeStep()) {
        if (ColumnBytes(existing.getColumn(0)) != record.link.digest) {
          return AlreadyExists("a different record with this record id is already stored");
        }
        return PutResult{PutOutcome::kDuplicate,
                         static_cast<std::uint64_t>(existing.getColumn(1).getInt64())};
      }
    }
    {
      SQLite::Statement ei(*db_,
                           "INSERT INTO ei (patient_id, snapshot_ref, ciphertext) VALUES (?, ?, ?)"
                           " ON CONFLICT DO NOTHING");
      BindText(ei, 1, record.ei.patient_id);
      BindText(ei, 2, record.ei.snapshot_ref);
      BindBlob(ei, 3, record.ei.ciphertext);
      ei.exec();
    }
    {
      SQLite::Statement clear(*db_,
                              "UPDATE qi SET is_current = 0 WHERE patient_id = ? AND is_current = 1"
                              " AND snapshot_ref <> ?");
      BindText(clear, 1, record.qi.patient_id);
      BindText(clear, 2, record.qi.snapshot_ref);
      clear.exec();
      SQLite::Statement qi(*db_,
                           "INSERT INTO qi (patient_id, snapshot_ref, ciphertext, is_current)"
                           " VALUES (?, ?, ?, 1)"
                           " ON CONFLICT (patient_id, snapshot_ref) DO UPDATE SET is_current = 1");
      BindText(qi, 1, record.qi.patient_id);
      BindText(qi, 2, record.qi.snapshot_ref);
      BindBlob(qi, 3, record.qi.ciphertext);
      qi.exec();
    }
    {
      SQLite::Statement link(
          *db_,
          "INSERT INTO ei_record_link (record_ref, patient_id, digest, ciphertext)"
          " VALUES (?, ?, ?, ?)");
      BindText(link, 1, record.link.record_ref);
      BindText(link, 2, record.link.patient_id);
      BindBlob(link, 3, record.link.digest);
      BindBlob(link, 4, record.link.ciphertext);
      link.exec();
    }
    {
      SQLite::Statement mi(*db_, "INSERT INTO mi (mi_ref, pseudonym, ciphertext) VALUES (?, ?, ?)");
      BindText(mi, 1, record.mi.mi_ref);
      BindText(mi, 2, record.mi.pseudonym);
      BindBlob(mi, 3, record.mi.ciphertext);
      mi.exec();
    }
    for (const BlindIndexRow& row : record.blind_index) {
      SQLite::Statement bi(*db_,
                           "INSERT INTO ei_blind_index (field, token, patient_id) VALUES (?, ?, ?)"
                           " ON CONFLICT DO NOTHING");
      BindText(bi, 1, row.field);
      BindBlob(bi, 2, row.token);
      BindText(bi, 3, row.patient_id);
      bi.exec();
    }
    const std::uint64_t seq = AppendChain(*db_, ChainEntryKind::kPut, record.link.record_ref,
                                          record.link.digest, record.stored_ms, hasher);
    BumpQiGeneration(*db_);
    tx.commit();
    return PutResult{PutOutcome::kInserted, seq};
  } catch (const std::exception& e) {
    return SqliteError(e, "put record");
  }
}

Result<DeleteResult> SqliteRecordStore::DeletePatient(std::string_view patient_id,
                                                      std::string_view pseudonym,
                                                      std::int64_t stored_ms,
                                                      const ChainHasher& hasher) {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("patient_id", patient_id, kMaxStoreIdBytes));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("pseudonym", pseudonym, kMaxStoreIdBytes));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    std::vector<std::string> refs;
    {
      SQLite::Statement q(*db_,
                          "SELECT record_ref FROM ei_record_link WHERE patient_id = ?"
                          " ORDER BY record_ref");
      BindText(q, 1, patient_id);
      while (q.executeStep()) refs.push_back(q.getColumn(0).getString());
    }
    int removed = 0;
    for (const char* sql :
         {"DELETE FROM ei_record_link WHERE patient_id = ?", "DELETE FROM ei WHERE patient_id = ?",
          "DELETE FROM ei_blind_index WHERE patient_id = ?",
          "DELETE FROM qi WHERE patient_id = ?"}) {
      SQLite::Statement st(*db_, sql);
      BindText(st, 1, patient_id);
      removed += st.exec();
    }
    {
      SQLite::Statement st(*db_, "DELETE FROM mi WHERE pseudonym = ?");
      BindText(st, 1, pseudonym);
      removed += st.exec();
    }
    for (const std::string& ref : refs) {
      AppendChain(*db_, ChainEntryKind::kDelete, ref, {}, stored_ms, hasher);
    }
    if (removed > 0) BumpQiGeneration(*db_);
    tx.commit();
    return DeleteResult{refs.size(), removed > 0};
  } catch (const std::exception& e) {
    return SqliteError(e, "delete patient");
  }
}

Status SqliteRecordStore::ReplaceGeneralisedQi(const std::vector<GeneralisedQiRow>& rows,
                                               std::uint64_t generation) {
  for (const GeneralisedQiRow& r : rows) {
    if (r.age_band.empty() || r.age_band.size() > 16 || r.sex.empty() || r.sex.size() > 16 ||
        r.postcode_prefix.empty() || r.postcode_prefix.size() > 16) {
      return InvalidArgument("generalised QI values must be 1..16 bytes");
    }
  }
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    db_->exec("DELETE FROM qi_generalised");
    SQLite::Statement ins(*db_,
                          "INSERT INTO qi_generalised (age_band, sex, postcode_prefix,"
                          " reference_year) VALUES (?, ?, ?, ?)");
    for (const GeneralisedQiRow& r : rows) {
      BindText(ins, 1, r.age_band);
      BindText(ins, 2, r.sex);
      BindText(ins, 3, r.postcode_prefix);
      ins.bind(4, r.reference_year);
      ins.exec();
      ins.reset();
    }
    SQLite::Statement st(*db_, "UPDATE qi_state SET generalised_generation = ? WHERE id = 1");
    BindInt(st, 1, generation);
    st.exec();
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return SqliteError(e, "replace generalised qi");
  }
}

Result<std::vector<RecordLinkRow>> SqliteRecordStore::ListRecordLinks(
    std::string_view patient_id) const {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("patient_id", patient_id, kMaxStoreIdBytes));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT record_ref, patient_id, digest, ciphertext FROM ei_record_link"
                        " WHERE patient_id = ? ORDER BY record_ref");
    BindText(q, 1, patient_id);
    std::vector<RecordLinkRow> out;
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     ColumnBytes(q.getColumn(2)), ColumnBytes(q.getColumn(3))});
    }
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "list record links");
  }
}

Result<RecordLinkRow> SqliteRecordStore::GetRecordLink(std::string_view record_ref) const {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("record_ref", record_ref, kMaxStoreRefBytes));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT record_ref, patient_id, digest, ciphertext FROM ei_record_link"
                        " WHERE record_ref = ?");
    BindText(q, 1, record_ref);
    if (!q.executeStep()) return NotFound("no such record");
    return RecordLinkRow{q.getColumn(0).getString(), q.getColumn(1).getString(),
                         ColumnBytes(q.getColumn(2)), ColumnBytes(q.getColumn(3))};
  } catch (const std::exception& e) {
    return SqliteError(e, "get record link");
  }
}

Result<SnapshotRow> SqliteRecordStore::GetSnapshot(RecordPart part, std::string_view patient_id,
                                                   std::string_view snapshot_ref) const {
  if (part == RecordPart::kMi) return InvalidArgument("MI has no snapshots");
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("patient_id", patient_id, kMaxStoreIdBytes));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("snapshot_ref", snapshot_ref, kMaxStoreRefBytes));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, part == RecordPart::kEi
                                  ? "SELECT ciphertext FROM ei WHERE patient_id = ? AND"
                                    " snapshot_ref = ?"
                                  : "SELECT ciphertext FROM qi WHERE patient_id = ? AND"
                                    " snapshot_ref = ?");
    BindText(q, 1, patient_id);
    BindText(q, 2, snapshot_ref);
    if (!q.executeStep()) return NotFound("no such snapshot");
    return SnapshotRow{std::string(patient_id), std::string(snapshot_ref),
                       ColumnBytes(q.getColumn(0))};
  } catch (const std::exception& e) {
    return SqliteError(e, "get snapshot");
  }
}

Result<std::vector<SnapshotRow>> SqliteRecordStore::ListCurrentQi(std::string_view after,
                                                                  std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidatePageLimit(limit));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT patient_id, snapshot_ref, ciphertext FROM qi"
                        " WHERE is_current = 1 AND patient_id > ? ORDER BY patient_id LIMIT ?");
    BindText(q, 1, after);
    BindInt(q, 2, limit);
    std::vector<SnapshotRow> out;
    while (q.executeStep()) {
      out.push_back(
          {q.getColumn(0).getString(), q.getColumn(1).getString(), ColumnBytes(q.getColumn(2))});
    }
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "list current qi");
  }
}

Result<MiRow> SqliteRecordStore::GetMi(std::string_view mi_ref) const {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("mi_ref", mi_ref, kMaxStoreRefBytes));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, "SELECT mi_ref, pseudonym, ciphertext FROM mi WHERE mi_ref = ?");
    BindText(q, 1, mi_ref);
    if (!q.executeStep()) return NotFound("no such MI row");
    return MiRow{q.getColumn(0).getString(), q.getColumn(1).getString(),
                 ColumnBytes(q.getColumn(2))};
  } catch (const std::exception& e) {
    return SqliteError(e, "get mi");
  }
}

Result<std::vector<MiRow>> SqliteRecordStore::ListMi(std::string_view after,
                                                     std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidatePageLimit(limit));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT mi_ref, pseudonym, ciphertext FROM mi WHERE mi_ref > ?"
                        " ORDER BY mi_ref LIMIT ?");
    BindText(q, 1, after);
    BindInt(q, 2, limit);
    std::vector<MiRow> out;
    while (q.executeStep()) {
      out.push_back(
          {q.getColumn(0).getString(), q.getColumn(1).getString(), ColumnBytes(q.getColumn(2))});
    }
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "list mi");
  }
}

Result<std::vector<std::string>> SqliteRecordStore::FindPatients(std::string_view field,
                                                                 ByteView token) const {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("blind index field", field, kMaxStoreRefBytes));
  if (token.empty() || token.size() > 64) {
    return InvalidArgument("blind index token must be 1..64 bytes");
  }
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT patient_id FROM ei_blind_index WHERE field = ? AND token = ?"
                        " ORDER BY patient_id");
    BindText(q, 1, field);
    BindBlob(q, 2, token);
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "find patients");
  }
}

Result<QiState> SqliteRecordStore::GetQiState() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT generation, generalised_generation FROM qi_state WHERE id = 1");
    if (!q.executeStep()) return DataLoss("qi_state row is missing");
    return QiState{static_cast<std::uint64_t>(q.getColumn(0).getInt64()),
                   static_cast<std::uint64_t>(q.getColumn(1).getInt64())};
  } catch (const std::exception& e) {
    return SqliteError(e, "get qi state");
  }
}

Result<std::vector<GeneralisedQiRow>> SqliteRecordStore::ListGeneralisedQi() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT age_band, sex, postcode_prefix, reference_year FROM qi_generalised"
                        " ORDER BY row_no");
    std::vector<GeneralisedQiRow> out;
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                     q.getColumn(2).getString(), q.getColumn(3).getInt()});
    }
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "list generalised qi");
  }
}

Result<std::vector<ChainEntry>> SqliteRecordStore::ReadChain(std::uint64_t from_seq,
                                                             std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidatePageLimit(limit));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT seq, kind, record_ref, record_digest, stored_ms, prev_hash,"
                        " entry_hash FROM chain_log WHERE seq >= ? ORDER BY seq LIMIT ?");
    BindInt(q, 1, from_seq);
    BindInt(q, 2, limit);
    std::vector<ChainEntry> out;
    while (q.executeStep()) {
      ChainEntry e;
      e.seq = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
      e.kind = static_cast<ChainEntryKind>(q.getColumn(1).getInt());
      e.record_ref = q.getColumn(2).getString();
      e.record_digest = ColumnBytes(q.getColumn(3));
      e.stored_ms = q.getColumn(4).getInt64();
      e.prev_hash = ColumnBytes(q.getColumn(5));
      e.entry_hash = ColumnBytes(q.getColumn(6));
      out.push_back(std::move(e));
    }
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "read chain");
  }
}

Result<ChainHead> SqliteRecordStore::GetChainHead() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, "SELECT seq, hash FROM chain_head WHERE id = 1");
    if (!q.executeStep()) return DataLoss("chain head row is missing");
    return ChainHead{static_cast<std::uint64_t>(q.getColumn(0).getInt64()),
                     ColumnBytes(q.getColumn(1))};
  } catch (const std::exception& e) {
    return SqliteError(e, "get chain head");
  }
}

Result<RowCounts> SqliteRecordStore::CountRows() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT (SELECT COUNT(*) FROM ei_record_link), (SELECT COUNT(*) FROM mi)");
    q.executeStep();
    return RowCounts{static_cast<std::uint64_t>(q.getColumn(0).getInt64()),
                     static_cast<std::uint64_t>(q.getColumn(1).getInt64())};
  } catch (const std::exception& e) {
    return SqliteError(e, "count rows");
  }
}

Result<int> SqliteRecordStore::SchemaVersion() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, "SELECT COALESCE(MAX(version), 0) FROM record_store_migrations");
    q.executeStep();
    return q.getColumn(0).getInt();
  } catch (const std::exception& e) {
    return SqliteError(e, "schema version");
  }
}

Result<std::optional<ChainEntry>> SqliteRecordStore::LatestChainEntry(std::string_view ref) const {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("chain reference", ref, kMaxStoreRefBytes));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT seq, kind, record_ref, record_digest, stored_ms, prev_hash,"
                        " entry_hash FROM chain_log WHERE record_ref = ? ORDER BY seq DESC"
                        " LIMIT 1");
    BindText(q, 1, ref);
    if (!q.executeStep()) return std::optional<ChainEntry>();
    ChainEntry e;
    e.seq = static_cast<std::uint64_t>(q.getColumn(0).getInt64());
    e.kind = static_cast<ChainEntryKind>(q.getColumn(1).getInt());
    e.record_ref = q.getColumn(2).getString();
    e.record_digest = ColumnBytes(q.getColumn(3));
    e.stored_ms = q.getColumn(4).getInt64();
    e.prev_hash = ColumnBytes(q.getColumn(5));
    e.entry_hash = ColumnBytes(q.getColumn(6));
    return std::optional<ChainEntry>(std::move(e));
  } catch (const std::exception& e) {
    return SqliteError(e, "latest chain entry");
  }
}

Result<std::uint64_t> SqliteRecordStore::AppendChainEntry(ChainEntryKind kind, std::string_view ref,
                                                          ByteView digest, std::int64_t stored_ms,
                                                          const ChainHasher& hasher) {
  MEDMESH_RETURN_IF_ERROR(ValidateChainAppend(kind, ref, digest));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    const std::uint64_t seq = AppendChain(*db_, kind, std::string(ref), digest, stored_ms, hasher);
    tx.commit();
    return seq;
  } catch (const std::exception& e) {
    return SqliteError(e, "append chain entry");
  }
}

Result<std::uint64_t> SqliteRecordStore::RestoreRecord(const NewRecord& record,
                                                       const ChainHasher& hasher) {
  MEDMESH_RETURN_IF_ERROR(ValidateNewRecord(record));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    {
      SQLite::Statement ei(*db_,
                           "INSERT INTO ei (patient_id, snapshot_ref, ciphertext) VALUES (?, ?, ?)"
                           " ON CONFLICT (patient_id, snapshot_ref) DO UPDATE SET"
                           " ciphertext = excluded.ciphertext");
      BindText(ei, 1, record.ei.patient_id);
      BindText(ei, 2, record.ei.snapshot_ref);
      BindBlob(ei, 3, record.ei.ciphertext);
      ei.exec();
    }
    {
      // A re-inserted QI snapshot becomes current only if the patient has none.
      SQLite::Statement qi(*db_,
                           "INSERT INTO qi (patient_id, snapshot_ref, ciphertext, is_current)"
                           " VALUES (?, ?, ?, NOT EXISTS (SELECT 1 FROM qi WHERE patient_id = ?"
                           " AND is_current = 1))"
                           " ON CONFLICT (patient_id, snapshot_ref) DO UPDATE SET"
                           " ciphertext = excluded.ciphertext");
      BindText(qi, 1, record.qi.patient_id);
      BindText(qi, 2, record.qi.snapshot_ref);
      BindBlob(qi, 3, record.qi.ciphertext);
      BindText(qi, 4, record.qi.patient_id);
      qi.exec();
    }
    {
      SQLite::Statement link(
          *db_,
          "INSERT INTO ei_record_link (record_ref, patient_id, digest, ciphertext)"
          " VALUES (?, ?, ?, ?) ON CONFLICT (record_ref) DO UPDATE SET"
          " patient_id = excluded.patient_id, digest = excluded.digest,"
          " ciphertext = excluded.ciphertext");
      BindText(link, 1, record.link.record_ref);
      BindText(link, 2, record.link.patient_id);
      BindBlob(link, 3, record.link.digest);
      BindBlob(link, 4, record.link.ciphertext);
      link.exec();
    }
    {
      SQLite::Statement mi(*db_,
                           "INSERT INTO mi (mi_ref, pseudonym, ciphertext) VALUES (?, ?, ?)"
                           " ON CONFLICT (mi_ref) DO UPDATE SET pseudonym = excluded.pseudonym,"
                           " ciphertext = excluded.ciphertext");
      BindText(mi, 1, record.mi.mi_ref);
      BindText(mi, 2, record.mi.pseudonym);
      BindBlob(mi, 3, record.mi.ciphertext);
      mi.exec();
    }
    for (const BlindIndexRow& row : record.blind_index) {
      SQLite::Statement bi(*db_,
                           "INSERT INTO ei_blind_index (field, token, patient_id) VALUES (?, ?, ?)"
                           " ON CONFLICT DO NOTHING");
      BindText(bi, 1, row.field);
      BindBlob(bi, 2, row.token);
      BindText(bi, 3, row.patient_id);
      bi.exec();
    }
    const std::uint64_t seq = AppendChain(*db_, ChainEntryKind::kRestore, record.link.record_ref,
                                          record.link.digest, record.stored_ms, hasher);
    BumpQiGeneration(*db_);
    tx.commit();
    return seq;
  } catch (const std::exception& e) {
    return SqliteError(e, "restore record");
  }
}

}  // namespace medmesh::store
