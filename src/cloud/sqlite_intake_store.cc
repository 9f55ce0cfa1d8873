#include "cloud/sqlite_intake_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include "store/sqlite_database.h"

namespace medmesh::cloud {
namespace {

using store::BindBlob;
using store::ColumnBytes;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS cloudlets (
  cloudlet_id   TEXT PRIMARY KEY,
  certificate   BLOB NOT NULL,
  not_before_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS enrolments (
  device_ref  TEXT PRIMARY KEY,
  patient_id  TEXT NOT NULL,
  cloudlet_id TEXT NOT NULL,
  binding     BLOB NOT NULL,
  ciphertext  BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS enrolments_by_patient ON enrolments (patient_id);
CREATE TABLE IF NOT EXISTS withdrawn_devices (
  device_ref   TEXT PRIMARY KEY,
  withdrawn_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reading_batches (
  batch_ref  TEXT PRIMARY KEY,
  pseudonym  TEXT NOT NULL,
  from_ms    INTEGER NOT NULL,
  to_ms      INTEGER NOT NULL,
  readings   INTEGER NOT NULL,
  stored_ms  INTEGER NOT NULL,
  digest     BLOB NOT NULL,
  ciphertext BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS reading_batches_by_pseudonym
  ON reading_batches (pseudonym, from_ms);
CREATE TABLE IF NOT EXISTS patients (
  pseudonym TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS reading_rollups (
  pseudonym  TEXT NOT NULL,
  kind       INTEGER NOT NULL,
  width_ms   INTEGER NOT NULL,
  start_ms   INTEGER NOT NULL,
  ciphertext BLOB NOT NULL,
  PRIMARY KEY (pseudonym, kind, width_ms, start_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup_complete (
  pseudonym TEXT PRIMARY KEY
);
CREATE INDEX IF NOT EXISTS enrolments_by_patient ON enrolments (patient_id);
CREATE TABLE IF NOT EXISTS restores (
  restore_id       TEXT PRIMARY KEY,
  restored_ms      INTEGER NOT NULL,
  cloudlet_id      TEXT NOT NULL,
  patient_id       TEXT NOT NULL,
  kind             TEXT NOT NULL,
  device_id        TEXT NOT NULL,
  item_id          TEXT NOT NULL,
  failed_check     TEXT NOT NULL,
  actor_account_id TEXT NOT NULL,
  actor_role       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS restores_by_time ON restores (restored_ms);
CREATE TABLE IF NOT EXISTS deletions (
  patient_id   TEXT PRIMARY KEY,
  requested_ms INTEGER NOT NULL,
  done_ms      INTEGER
);
CREATE TABLE IF NOT EXISTS deletion_feed (
  seq          INTEGER PRIMARY KEY AUTOINCREMENT,
  cloudlet_id  TEXT NOT NULL,
  patient_id   TEXT NOT NULL,
  requested_ms INTEGER NOT NULL,
  UNIQUE (cloudlet_id, patient_id)
);
)sql";

ReadingBatchRow BatchFrom(SQLite::Statement& q) {
  return ReadingBatchRow{q.getColumn(0).getString(),
                         q.getColumn(1).getString(),
                         q.getColumn(2).getInt64(),
                         q.getColumn(3).getInt64(),
                         static_cast<std::uint32_t>(q.getColumn(4).getInt64()),
                         q.getColumn(5).getInt64(),
                         ColumnBytes(q.getColumn(6)),
                         ColumnBytes(q.getColumn(7))};
}

constexpr const char* kBatchColumns =
    "SELECT batch_ref, pseudonym, from_ms, to_ms, readings, stored_ms, digest, ciphertext"
    " FROM reading_batches ";

// True if the pseudonym is new.
bool InsertPatient(SQLite::Database& db, std::string_view pseudonym) {
  SQLite::Statement insert(db,
                           "INSERT INTO patients (pseudonym) VALUES (?) ON CONFLICT DO NOTHING");
  insert.bind(1, std::string(pseudonym));
  return insert.exec() == 1;
}

std::uint64_t Count(SQLite::Database& db, const char* sql) {
  SQLite::Statement query(db, sql);
  return query.executeStep() ? static_cast<std::uint64_t>(query.getColumn(0).getInt64()) : 0;
}

}  // namespace

SqliteIntakeStore::SqliteIntakeStore(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
SqliteIntakeStore::~SqliteIntakeStore() = default;

Result<std::unique_ptr<SqliteIntakeStore>> SqliteIntakeStore::Open(
    const std::string& path, const store::SqliteOpenOptions& sqlite) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           store::OpenSqliteDatabase(path, sqlite));
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(*db, "cloud_intake", 4, kSchema));
  std::unique_ptr<SqliteIntakeStore> store(new SqliteIntakeStore(std::move(db)));
  // The only counting queries of the store's life; Counts() counts on in memory.
  try {
    IntakeCounts counts;
    SQLite::Database& d = *store->db_;
    counts.reading_batches = Count(d, "SELECT COUNT(*) FROM reading_batches");
    counts.readings = Count(d, "SELECT COALESCE(SUM(readings), 0) FROM reading_batches");
    counts.patients = Count(d, "SELECT COUNT(*) FROM patients");
    counts.enrolments = Count(d, "SELECT COUNT(*) FROM enrolments");
    counts.cloudlets = Count(d, "SELECT COUNT(*) FROM cloudlets");
    store->counters_.Set(counts);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "count intake");
  }
  return store;
}

Result<IntakeOutcome> SqliteIntakeStore::PutCloudletCertificate(const CloudletCertificateRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateCloudletCertificateRow(row));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement existing(*db_,
                               "SELECT certificate, not_before_ms FROM cloudlets"
                               " WHERE cloudlet_id = ?");
    existing.bind(1, row.cloudlet_id);
    const bool renewal = existing.executeStep();
    if (renewal) {
      if (ColumnBytes(existing.getColumn(0)) == row.certificate) return IntakeOutcome::kDuplicate;
      if (existing.getColumn(1).getInt64() > row.not_before_ms) {
        return AlreadyExists("a newer certificate of this cloudlet is registered");
      }
    }
    existing.reset();
    SQLite::Statement upsert(*db_,
                             "INSERT INTO cloudlets (cloudlet_id, certificate, not_before_ms)"
                             " VALUES (?, ?, ?) ON CONFLICT (cloudlet_id) DO UPDATE SET"
                             " certificate = excluded.certificate,"
                             " not_before_ms = excluded.not_before_ms");
    upsert.bind(1, row.cloudlet_id);
    BindBlob(upsert, 2, row.certificate);
    upsert.bind(3, static_cast<std::int64_t>(row.not_before_ms));
    upsert.exec();
    tx.commit();
    if (!renewal) counters_.AddCloudlet();
    return IntakeOutcome::kInserted;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "put cloudlet certificate");
  }
}

Result<std::optional<CloudletCertificateRow>> SqliteIntakeStore::GetCloudletCertificate(
    std::string_view cloudlet_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(
        *db_, "SELECT certificate, not_before_ms FROM cloudlets WHERE cloudlet_id = ?");
    query.bind(1, std::string(cloudlet_id));
    if (!query.executeStep()) return std::optional<CloudletCertificateRow>();
    return std::optional<CloudletCertificateRow>(CloudletCertificateRow{
        std::string(cloudlet_id), ColumnBytes(query.getColumn(0)), query.getColumn(1).getInt64()});
  } catch (const std::exception& e) {
    return store::SqliteError(e, "get cloudlet certificate");
  }
}

Result<IntakeOutcome> SqliteIntakeStore::PutEnrolment(const EnrolmentRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateEnrolmentRow(row));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement withdrawn(*db_, "SELECT 1 FROM withdrawn_devices WHERE device_ref = ?");
    withdrawn.bind(1, row.device_ref);
    if (withdrawn.executeStep()) return FailedPrecondition("the device was withdrawn");
    SQLite::Statement existing(*db_,
                               "SELECT cloudlet_id, binding FROM enrolments WHERE device_ref = ?");
    existing.bind(1, row.device_ref);
    if (existing.executeStep()) {
      if (existing.getColumn(0).getString() != row.cloudlet_id) {
        return AlreadyExists("the device is enrolled by another cloudlet");
      }
      if (ColumnBytes(existing.getColumn(1)) == row.binding) return IntakeOutcome::kDuplicate;
      return AlreadyExists("the device is enrolled with another patient or key");
    }
    existing.reset();
    SQLite::Statement insert(*db_,
                             "INSERT INTO enrolments (device_ref, patient_id, cloudlet_id,"
                             " binding, ciphertext) VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, row.device_ref);
    insert.bind(2, row.patient_id);
    insert.bind(3, row.cloudlet_id);
    BindBlob(insert, 4, row.binding);
    BindBlob(insert, 5, row.ciphertext);
    insert.exec();
    tx.commit();
    counters_.AddEnrolment();
    return IntakeOutcome::kInserted;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "put enrolment");
  }
}

Result<std::optional<EnrolmentRow>> SqliteIntakeStore::GetEnrolment(
    std::string_view device_ref) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(*db_,
                            "SELECT e.patient_id, e.cloudlet_id, e.binding, e.ciphertext,"
                            " w.withdrawn_ms FROM enrolments e LEFT JOIN withdrawn_devices w"
                            " ON w.device_ref = e.device_ref WHERE e.device_ref = ?");
    query.bind(1, std::string(device_ref));
    if (!query.executeStep()) return std::optional<EnrolmentRow>();
    EnrolmentRow row{std::string(device_ref),         query.getColumn(0).getString(),
                     query.getColumn(1).getString(),  ColumnBytes(query.getColumn(2)),
                     ColumnBytes(query.getColumn(3)), std::nullopt};
    if (!query.getColumn(4).isNull()) row.withdrawn_ms = query.getColumn(4).getInt64();
    return std::optional<EnrolmentRow>(std::move(row));
  } catch (const std::exception& e) {
    return store::SqliteError(e, "get enrolment");
  }
}

Result<std::vector<std::string>> SqliteIntakeStore::CloudletsOfPatient(
    std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(*db_,
                            "SELECT DISTINCT cloudlet_id FROM enrolments WHERE patient_id = ?"
                            " ORDER BY cloudlet_id");
    query.bind(1, std::string(patient_id));
    std::vector<std::string> cloudlets;
    while (query.executeStep()) cloudlets.push_back(query.getColumn(0).getString());
    return cloudlets;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list cloudlets of patient");
  }
}

Result<IntakeOutcome> SqliteIntakeStore::WithdrawEnrolment(std::string_view device_ref,
                                                           std::int64_t withdrawn_ms) {
  MEDMESH_RETURN_IF_ERROR(ValidateEnrolmentRef(device_ref));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement enrolled(*db_, "SELECT 1 FROM enrolments WHERE device_ref = ?");
    enrolled.bind(1, std::string(device_ref));
    if (!enrolled.executeStep()) return NotFound("the device is not enrolled");
    SQLite::Statement insert(*db_,
                             "INSERT INTO withdrawn_devices (device_ref, withdrawn_ms)"
                             " VALUES (?, ?) ON CONFLICT DO NOTHING");
    insert.bind(1, std::string(device_ref));
    insert.bind(2, static_cast<std::int64_t>(withdrawn_ms));
    const bool inserted = insert.exec() == 1;
    tx.commit();
    return inserted ? IntakeOutcome::kInserted : IntakeOutcome::kDuplicate;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "withdraw enrolment");
  }
}

Result<IntakeOutcome> SqliteIntakeStore::PutReadingBatch(const ReadingBatchRow& row) {
  return PutBatch(row, nullptr);
}

Result<IntakeOutcome> SqliteIntakeStore::PutReadingBatch(const ReadingBatchRow& row,
                                                         const RollupMerger& rollups) {
  return PutBatch(row, &rollups);
}

Result<IntakeOutcome> SqliteIntakeStore::PutBatch(const ReadingBatchRow& row,
                                                  const RollupMerger* rollups) {
  MEDMESH_RETURN_IF_ERROR(ValidateReadingBatchRow(row));
  if (rollups != nullptr) {
    for (const RollupKey& key : rollups->keys()) {
      if (key.pseudonym != row.pseudonym) {
        return InvalidArgument("intake store: roll-ups of another pseudonym");
      }
    }
  }
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement existing(*db_, "SELECT digest FROM reading_batches WHERE batch_ref = ?");
    existing.bind(1, row.batch_ref);
    if (existing.executeStep()) {
      if (ColumnBytes(existing.getColumn(0)) == row.digest) return IntakeOutcome::kDuplicate;
      return AlreadyExists("another batch was stored under this device and batch id");
    }
    existing.reset();
    SQLite::Statement any(*db_, "SELECT 1 FROM reading_batches WHERE pseudonym = ? LIMIT 1");
    any.bind(1, row.pseudonym);
    const bool first_batch = !any.executeStep();
    any.reset();
    if (rollups != nullptr) {
      std::vector<std::optional<Bytes>> stored;
      stored.reserve(rollups->keys().size());
      SQLite::Statement get(*db_,
                            "SELECT ciphertext FROM reading_rollups WHERE pseudonym = ?"
                            " AND kind = ? AND width_ms = ? AND start_ms = ?");
      for (const RollupKey& key : rollups->keys()) {
        get.bind(1, key.pseudonym);
        get.bind(2, static_cast<int>(key.kind));
        get.bind(3, static_cast<std::int64_t>(key.width_ms));
        get.bind(4, static_cast<std::int64_t>(key.start_ms));
        stored.push_back(get.executeStep() ? std::optional<Bytes>(ColumnBytes(get.getColumn(0)))
                                           : std::nullopt);
        get.reset();
      }
      MEDMESH_ASSIGN_OR_RETURN(const std::vector<Bytes> merged, rollups->Merge(stored));
      if (merged.size() != rollups->keys().size()) {
        return Internal("intake store: the roll-up merger returned the wrong number of rows");
      }
      SQLite::Statement put(*db_,
                            "INSERT INTO reading_rollups (pseudonym, kind, width_ms, start_ms,"
                            " ciphertext) VALUES (?, ?, ?, ?, ?) ON CONFLICT"
                            " (pseudonym, kind, width_ms, start_ms) DO UPDATE SET"
                            " ciphertext = excluded.ciphertext");
      for (std::size_t i = 0; i < merged.size(); ++i) {
        const RollupKey& key = rollups->keys()[i];
        MEDMESH_RETURN_IF_ERROR(ValidateRollupRow({key, merged[i]}));
        put.bind(1, key.pseudonym);
        put.bind(2, static_cast<int>(key.kind));
        put.bind(3, static_cast<std::int64_t>(key.width_ms));
        put.bind(4, static_cast<std::int64_t>(key.start_ms));
        BindBlob(put, 5, merged[i]);
        put.exec();
        put.reset();
      }
    }
    // Complete if this batch is the pseudonym's first and is in them; incomplete if it is not.
    SQLite::Statement mark(*db_, rollups != nullptr
                                     ? "INSERT INTO rollup_complete (pseudonym) VALUES (?)"
                                       " ON CONFLICT DO NOTHING"
                                     : "DELETE FROM rollup_complete WHERE pseudonym = ?");
    mark.bind(1, row.pseudonym);
    if (rollups == nullptr || first_batch) mark.exec();
    SQLite::Statement insert(*db_,
                             "INSERT INTO reading_batches (batch_ref, pseudonym, from_ms, to_ms,"
                             " readings, stored_ms, digest, ciphertext)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, row.batch_ref);
    insert.bind(2, row.pseudonym);
    insert.bind(3, static_cast<std::int64_t>(row.from_ms));
    insert.bind(4, static_cast<std::int64_t>(row.to_ms));
    insert.bind(5, static_cast<std::int64_t>(row.readings));
    insert.bind(6, static_cast<std::int64_t>(row.stored_ms));
    BindBlob(insert, 7, row.digest);
    BindBlob(insert, 8, row.ciphertext);
    insert.exec();
    const bool new_patient = InsertPatient(*db_, row.pseudonym);
    tx.commit();
    counters_.AddReadingBatch(row.readings, new_patient);
    return IntakeOutcome::kInserted;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "put reading batch");
  }
}

Result<std::vector<ReadingBatchRow>> SqliteIntakeStore::ListReadingBatches(
    std::string_view pseudonym, std::int64_t from_ms, std::int64_t to_ms, std::size_t limit) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(*db_,
                            "SELECT batch_ref, from_ms, to_ms, readings, stored_ms, digest,"
                            " ciphertext FROM reading_batches WHERE pseudonym = ? AND to_ms >= ?"
                            " AND from_ms < ? ORDER BY from_ms, batch_ref LIMIT ?");
    query.bind(1, std::string(pseudonym));
    query.bind(2, static_cast<std::int64_t>(from_ms));
    query.bind(3, static_cast<std::int64_t>(to_ms));
    query.bind(4, static_cast<std::int64_t>(limit));
    std::vector<ReadingBatchRow> rows;
    while (query.executeStep()) {
      rows.push_back({query.getColumn(0).getString(), std::string(pseudonym),
                      query.getColumn(1).getInt64(), query.getColumn(2).getInt64(),
                      static_cast<std::uint32_t>(query.getColumn(3).getInt64()),
                      query.getColumn(4).getInt64(), ColumnBytes(query.getColumn(5)),
                      ColumnBytes(query.getColumn(6))});
    }
    return rows;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list reading batches");
  }
}

Result<std::vector<RollupRow>> SqliteIntakeStore::ListRollups(
    std::string_view pseudonym, std::uint8_t kind, std::int64_t width_ms, std::int64_t from_ms,
    std::int64_t to_ms, std::size_t limit) const {
  if (limit == 0 || limit > 100000) return InvalidArgument("intake store: limit must be 1..100000");
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT start_ms, ciphertext FROM reading_rollups WHERE pseudonym = ?"
                        " AND kind = ? AND width_ms = ? AND start_ms >= ? AND start_ms < ?"
                        " ORDER BY start_ms LIMIT ?");
    q.bind(1, std::string(pseudonym));
    q.bind(2, static_cast<int>(kind));
    q.bind(3, static_cast<std::int64_t>(width_ms));
    q.bind(4, static_cast<std::int64_t>(from_ms));
    q.bind(5, static_cast<std::int64_t>(to_ms));
    q.bind(6, static_cast<std::int64_t>(limit));
    std::vector<RollupRow> out;
    while (q.executeStep()) {
      out.push_back({{std::string(pseudonym), kind, width_ms, q.getColumn(0).getInt64()},
                     ColumnBytes(q.getColumn(1))});
    }
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list roll-ups");
  }
}

Result<bool> SqliteIntakeStore::RollupsComplete(std::string_view pseudonym) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, "SELECT 1 FROM rollup_complete WHERE pseudonym = ?");
    q.bind(1, std::string(pseudonym));
    return q.executeStep();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "roll-ups complete");
  }
}

Status SqliteIntakeStore::ReplaceRollups(std::string_view pseudonym,
                                         const std::vector<RollupRow>& rows,
                                         std::uint64_t batches) {
  for (const RollupRow& row : rows) {
    MEDMESH_RETURN_IF_ERROR(ValidateRollupRow(row));
    if (row.key.pseudonym != pseudonym) {
      return InvalidArgument("intake store: roll-ups of another pseudonym");
    }
  }
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement count(*db_, "SELECT COUNT(*) FROM reading_batches WHERE pseudonym = ?");
    count.bind(1, std::string(pseudonym));
    count.executeStep();
    if (static_cast<std::uint64_t>(count.getColumn(0).getInt64()) != batches) {
      return FailedPrecondition("the pseudonym's batches changed while its roll-ups were built");
    }
    SQLite::Statement clear(*db_, "DELETE FROM reading_rollups WHERE pseudonym = ?");
    clear.bind(1, std::string(pseudonym));
    clear.exec();
    SQLite::Statement put(*db_,
                          "INSERT INTO reading_rollups (pseudonym, kind, width_ms, start_ms,"
                          " ciphertext) VALUES (?, ?, ?, ?, ?)");
    for (const RollupRow& row : rows) {
      put.bind(1, row.key.pseudonym);
      put.bind(2, static_cast<int>(row.key.kind));
      put.bind(3, static_cast<std::int64_t>(row.key.width_ms));
      put.bind(4, static_cast<std::int64_t>(row.key.start_ms));
      BindBlob(put, 5, row.ciphertext);
      put.exec();
      put.reset();
    }
    SQLite::Statement mark(*db_,
                           "INSERT INTO rollup_complete (pseudonym) VALUES (?)"
                           " ON CONFLICT DO NOTHING");
    mark.bind(1, std::string(pseudonym));
    mark.exec();
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "replace roll-ups");
  }
}

Status SqliteIntakeStore::AddPatient(std::string_view pseudonym) {
  if (pseudonym.empty() || pseudonym.size() > 255) {
    return InvalidArgument("intake store: pseudonym must be 1..255 bytes");
  }
  std::lock_guard lock(mu_);
  try {
    if (InsertPatient(*db_, pseudonym)) counters_.AddPatient();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "add patient");
  }
}

Result<IntakeCounts> SqliteIntakeStore::Counts() const { return counters_.Get(); }

// --- Integrity: batches, enrolments, restores, deletions ---------------------------------------

Result<std::optional<ReadingBatchRow>> SqliteIntakeStore::GetReadingBatch(
    std::string_view batch_ref) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string(kBatchColumns) + "WHERE batch_ref = ?");
    q.bind(1, std::string(batch_ref));
    if (!q.executeStep()) return std::optional<ReadingBatchRow>();
    return std::optional<ReadingBatchRow>(BatchFrom(q));
  } catch (const std::exception& e) {
    return store::SqliteError(e, "get reading batch");
  }
}

Result<std::vector<ReadingBatchRow>> SqliteIntakeStore::ListAllReadingBatches(
    std::string_view after, std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidateIntakeLimit(limit));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, std::string(kBatchColumns) + "WHERE batch_ref > ? ORDER BY batch_ref LIMIT ?");
    q.bind(1, std::string(after));
    q.bind(2, static_cast<std::int64_t>(limit));
    std::vector<ReadingBatchRow> out;
    while (q.executeStep()) out.push_back(BatchFrom(q));
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list all reading batches");
  }
}

Result<std::vector<std::string>> SqliteIntakeStore::ListBatchRefs(
    std::string_view pseudonym) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT batch_ref FROM reading_batches WHERE pseudonym = ?"
                        " ORDER BY batch_ref");
    q.bind(1, std::string(pseudonym));
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list batch refs");
  }
}

Status SqliteIntakeStore::ReplaceReadingBatch(const ReadingBatchRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateReadingBatchRow(row));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "UPDATE reading_batches SET pseudonym = ?, from_ms = ?, to_ms = ?,"
                        " readings = ?, stored_ms = ?, digest = ?, ciphertext = ?"
                        " WHERE batch_ref = ?");
    q.bind(1, row.pseudonym);
    q.bind(2, static_cast<std::int64_t>(row.from_ms));
    q.bind(3, static_cast<std::int64_t>(row.to_ms));
    q.bind(4, static_cast<std::int64_t>(row.readings));
    q.bind(5, static_cast<std::int64_t>(row.stored_ms));
    BindBlob(q, 6, row.digest);
    BindBlob(q, 7, row.ciphertext);
    q.bind(8, row.batch_ref);
    if (q.exec() == 0) return NotFound("no such reading batch");
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "replace reading batch");
  }
}

Result<std::uint64_t> SqliteIntakeStore::DeleteReadingBatches(std::string_view pseudonym) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement batches(*db_, "DELETE FROM reading_batches WHERE pseudonym = ?");
    batches.bind(1, std::string(pseudonym));
    const int n = batches.exec();
    for (const char* sql : {"DELETE FROM reading_rollups WHERE pseudonym = ?",
                            "DELETE FROM rollup_complete WHERE pseudonym = ?"}) {
      SQLite::Statement rollups(*db_, sql);
      rollups.bind(1, std::string(pseudonym));
      rollups.exec();
    }
    SQLite::Statement patient(*db_, "DELETE FROM patients WHERE pseudonym = ?");
    patient.bind(1, std::string(pseudonym));
    patient.exec();
    tx.commit();
    return static_cast<std::uint64_t>(n);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "delete reading batches");
  }
}

Result<std::vector<EnrolmentRow>> SqliteIntakeStore::ListEnrolments(
    std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT e.device_ref, e.cloudlet_id, e.binding, e.ciphertext,"
                        " w.withdrawn_ms FROM enrolments e LEFT JOIN withdrawn_devices w"
                        " ON w.device_ref = e.device_ref WHERE e.patient_id = ?"
                        " ORDER BY e.device_ref");
    q.bind(1, std::string(patient_id));
    std::vector<EnrolmentRow> out;
    while (q.executeStep()) {
      EnrolmentRow row{q.getColumn(0).getString(),  std::string(patient_id),
                       q.getColumn(1).getString(),  ColumnBytes(q.getColumn(2)),
                       ColumnBytes(q.getColumn(3)), std::nullopt};
      if (!q.getColumn(4).isNull()) row.withdrawn_ms = q.getColumn(4).getInt64();
      out.push_back(std::move(row));
    }
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list enrolments");
  }
}

Result<std::uint64_t> SqliteIntakeStore::DeleteEnrolments(std::string_view patient_id) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement withdrawn(*db_,
                                "DELETE FROM withdrawn_devices WHERE device_ref IN"
                                " (SELECT device_ref FROM enrolments WHERE patient_id = ?)");
    withdrawn.bind(1, std::string(patient_id));
    withdrawn.exec();
    SQLite::Statement q(*db_, "DELETE FROM enrolments WHERE patient_id = ?");
    q.bind(1, std::string(patient_id));
    const int n = q.exec();
    tx.commit();
    return static_cast<std::uint64_t>(n);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "delete enrolments");
  }
}

Status SqliteIntakeStore::AddRestore(const RestoreRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateRestoreRow(row));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "INSERT INTO restores (restore_id, restored_ms, cloudlet_id, patient_id,"
                        " kind, device_id, item_id, failed_check, actor_account_id, actor_role)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING");
    q.bind(1, row.restore_id);
    q.bind(2, static_cast<std::int64_t>(row.restored_ms));
    q.bind(3, row.cloudlet_id);
    q.bind(4, row.patient_id);
    q.bind(5, row.kind);
    q.bind(6, row.device_id);
    q.bind(7, row.item_id);
    q.bind(8, row.failed_check);
    q.bind(9, row.actor_account_id);
    q.bind(10, row.actor_role);
    if (q.exec() == 0) return AlreadyExists("restore id already used");
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "add restore");
  }
}

Result<std::vector<RestoreRow>> SqliteIntakeStore::ListRestores(
    const std::optional<std::string>& cloudlet_id, std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidateIntakeLimit(limit));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT restore_id, restored_ms, cloudlet_id, patient_id, kind, device_id,"
                        " item_id, failed_check, actor_account_id, actor_role FROM restores"
                        " WHERE (? IS NULL OR cloudlet_id = ?)"
                        " ORDER BY restored_ms DESC, restore_id LIMIT ?");
    if (cloudlet_id) {
      q.bind(1, *cloudlet_id);
      q.bind(2, *cloudlet_id);
    } else {
      q.bind(1);
      q.bind(2);
    }
    q.bind(3, static_cast<std::int64_t>(limit));
    std::vector<RestoreRow> out;
    while (q.executeStep()) {
      out.push_back({q.getColumn(0).getString(), q.getColumn(1).getInt64(),
                     q.getColumn(2).getString(), q.getColumn(3).getString(),
                     q.getColumn(4).getString(), q.getColumn(5).getString(),
                     q.getColumn(6).getString(), q.getColumn(7).getString(),
                     q.getColumn(8).getString(), q.getColumn(9).getString()});
    }
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list restores");
  }
}

Status SqliteIntakeStore::BeginDeletion(std::string_view patient_id,
                                        const std::vector<std::string>& cloudlet_ids,
                                        std::int64_t requested_ms) {
  if (patient_id.empty() || patient_id.size() > 255) {
    return InvalidArgument("intake store: patient_id must be 1..255 bytes");
  }
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement d(*db_,
                        "INSERT INTO deletions (patient_id, requested_ms) VALUES (?, ?)"
                        " ON CONFLICT DO NOTHING");
    d.bind(1, std::string(patient_id));
    d.bind(2, static_cast<std::int64_t>(requested_ms));
    d.exec();
    for (const std::string& cloudlet : cloudlet_ids) {
      SQLite::Statement f(*db_,
                          "INSERT INTO deletion_feed (cloudlet_id, patient_id, requested_ms)"
                          " VALUES (?, ?, ?) ON CONFLICT DO NOTHING");
      f.bind(1, cloudlet);
      f.bind(2, std::string(patient_id));
      f.bind(3, static_cast<std::int64_t>(requested_ms));
      f.exec();
    }
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "begin deletion");
  }
}

Status SqliteIntakeStore::FinishDeletion(std::string_view patient_id, std::int64_t done_ms) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "UPDATE deletions SET done_ms = COALESCE(done_ms, ?) WHERE patient_id = ?");
    q.bind(1, static_cast<std::int64_t>(done_ms));
    q.bind(2, std::string(patient_id));
    if (q.exec() == 0) return NotFound("no deletion for this patient");
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "finish deletion");
  }
}

Result<std::optional<DeletionState>> SqliteIntakeStore::GetDeletion(
    std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, "SELECT requested_ms, done_ms FROM deletions WHERE patient_id = ?");
    q.bind(1, std::string(patient_id));
    if (!q.executeStep()) return std::optional<DeletionState>();
    DeletionState state{q.getColumn(0).getInt64(), std::nullopt};
    if (!q.getColumn(1).isNull()) state.done_ms = q.getColumn(1).getInt64();
    return std::optional<DeletionState>(state);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "get deletion");
  }
}

Result<std::vector<std::string>> SqliteIntakeStore::PendingDeletions() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT patient_id FROM deletions WHERE done_ms IS NULL"
                        " ORDER BY patient_id");
    std::vector<std::string> out;
    while (q.executeStep()) out.push_back(q.getColumn(0).getString());
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "pending deletions");
  }
}

Result<std::vector<DeletionFeedRow>> SqliteIntakeStore::ListDeletionFeed(
    std::string_view cloudlet_id, std::uint64_t after_seq, std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidateIntakeLimit(limit));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT seq, cloudlet_id, patient_id, requested_ms FROM deletion_feed"
                        " WHERE cloudlet_id = ? AND seq > ? ORDER BY seq LIMIT ?");
    q.bind(1, std::string(cloudlet_id));
    q.bind(2, static_cast<std::int64_t>(after_seq));
    q.bind(3, static_cast<std::int64_t>(limit));
    std::vector<DeletionFeedRow> out;
    while (q.executeStep()) {
      out.push_back({static_cast<std::uint64_t>(q.getColumn(0).getInt64()),
                     q.getColumn(1).getString(), q.getColumn(2).getString(),
                     q.getColumn(3).getInt64()});
    }
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list deletion feed");
  }
}

}  // namespace medmesh::cloud
