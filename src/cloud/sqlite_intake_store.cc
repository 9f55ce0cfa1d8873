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
)sql";

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
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(*db, "cloud_intake", 3, kSchema));
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
  MEDMESH_RETURN_IF_ERROR(ValidateReadingBatchRow(row));
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

}  // namespace medmesh::cloud
