#include "cloud/sqlite_clinical_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <utility>

#include "store/sqlite_database.h"

namespace medmesh::cloud {
namespace {

using store::BindBlob;
using store::ColumnBytes;

// The partial unique index is the last line of defence for "one open activation per patient
// and cloudlet"; InsertActivation checks first, to answer kAlreadyExists.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS activations (
  activation_id TEXT PRIMARY KEY,
  patient_id    TEXT NOT NULL,
  cloudlet_id   TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('requested', 'approved', 'denied')),
  reason        TEXT NOT NULL,
  decided_by    TEXT NOT NULL,
  requested_ms  INTEGER NOT NULL,
  decided_ms    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS activations_by_patient ON activations (patient_id);
CREATE INDEX IF NOT EXISTS activations_by_cloudlet ON activations (cloudlet_id, status);
CREATE UNIQUE INDEX IF NOT EXISTS activations_open ON activations (patient_id, cloudlet_id)
  WHERE status IN ('requested', 'approved');
CREATE TABLE IF NOT EXISTS consents (
  consent_id TEXT PRIMARY KEY,
  patient_id TEXT NOT NULL,
  doctor_id  TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  revoked_ms INTEGER
);
CREATE INDEX IF NOT EXISTS consents_by_patient ON consents (patient_id);
CREATE INDEX IF NOT EXISTS consents_by_doctor ON consents (doctor_id);
CREATE TABLE IF NOT EXISTS consent_records (
  consent_id TEXT NOT NULL REFERENCES consents (consent_id) ON DELETE CASCADE,
  device_id  TEXT NOT NULL,
  record_id  TEXT NOT NULL,
  PRIMARY KEY (consent_id, device_id, record_id)
);
CREATE TABLE IF NOT EXISTS answers (
  answer_id        TEXT PRIMARY KEY,
  consent_id       TEXT NOT NULL REFERENCES consents (consent_id),
  patient_id       TEXT NOT NULL,
  doctor_id        TEXT NOT NULL,
  created_ms       INTEGER NOT NULL,
  has_prescription INTEGER NOT NULL,
  ciphertext       BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS answers_by_patient ON answers (patient_id);
CREATE INDEX IF NOT EXISTS answers_by_doctor ON answers (doctor_id);
)sql";

constexpr const char* kActivationColumns =
    "activation_id, patient_id, cloudlet_id, status, reason, decided_by, requested_ms,"
    " decided_ms";
constexpr const char* kNewestActivationsFirst = " ORDER BY requested_ms DESC, activation_id DESC";

Result<ActivationRow> ReadActivation(SQLite::Statement& q) {
  auto status = ParseActivationStatus(q.getColumn(3).getString());
  if (!status) return DataLoss("clinical store: an activation has an unknown status");
  return ActivationRow{q.getColumn(0).getString(), q.getColumn(1).getString(),
                       q.getColumn(2).getString(), *status,
                       q.getColumn(4).getString(), q.getColumn(5).getString(),
                       q.getColumn(6).getInt64(),  q.getColumn(7).getInt64()};
}

Result<std::vector<ActivationRow>> ReadActivations(SQLite::Statement& q) {
  std::vector<ActivationRow> rows;
  while (q.executeStep()) {
    MEDMESH_ASSIGN_OR_RETURN(ActivationRow row, ReadActivation(q));
    rows.push_back(std::move(row));
  }
  return rows;
}

// Consents joined with their records (SELECT c.consent_id, c.patient_id, c.doctor_id,
// c.created_ms, c.revoked_ms, r.device_id, r.record_id ... ORDER BY the consent, then the
// record), folded into one row per consent.
constexpr const char* kConsentSelect =
    "SELECT c.consent_id, c.patient_id, c.doctor_id, c.created_ms, c.revoked_ms, r.device_id,"
    " r.record_id FROM consents c JOIN consent_records r ON r.consent_id = c.consent_id ";
constexpr const char* kConsentOrder =
    " ORDER BY c.created_ms DESC, c.consent_id DESC, r.device_id, r.record_id";

std::vector<ConsentRow> ReadConsents(SQLite::Statement& q) {
  std::vector<ConsentRow> rows;
  while (q.executeStep()) {
    const std::string id = q.getColumn(0).getString();
    if (rows.empty() || rows.back().consent_id != id) {
      ConsentRow row;
      row.consent_id = id;
      row.patient_id = q.getColumn(1).getString();
      row.doctor_id = q.getColumn(2).getString();
      row.created_ms = q.getColumn(3).getInt64();
      if (!q.getColumn(4).isNull()) row.revoked_ms = q.getColumn(4).getInt64();
      rows.push_back(std::move(row));
    }
    rows.back().records.push_back({q.getColumn(5).getString(), q.getColumn(6).getString()});
  }
  return rows;
}

constexpr const char* kAnswerSelect =
    "SELECT answer_id, consent_id, patient_id, doctor_id, created_ms, has_prescription,"
    " ciphertext FROM answers ";
constexpr const char* kAnswerOrder = " ORDER BY created_ms, answer_id";

std::vector<AnswerRow> ReadAnswers(SQLite::Statement& q) {
  std::vector<AnswerRow> rows;
  while (q.executeStep()) {
    rows.push_back({q.getColumn(0).getString(), q.getColumn(1).getString(),
                    q.getColumn(2).getString(), q.getColumn(3).getString(),
                    q.getColumn(4).getInt64(), q.getColumn(5).getInt64() != 0,
                    ColumnBytes(q.getColumn(6))});
  }
  return rows;
}

}  // namespace

SqliteClinicalStore::SqliteClinicalStore(std::unique_ptr<SQLite::Database> db)
    : db_(std::move(db)) {}
SqliteClinicalStore::~SqliteClinicalStore() = default;

Result<std::unique_ptr<SqliteClinicalStore>> SqliteClinicalStore::Open(
    const std::string& path, const store::SqliteOpenOptions& sqlite) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           store::OpenSqliteDatabase(path, sqlite));
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(*db, "cloud_clinical", 1, kSchema));
  return std::unique_ptr<SqliteClinicalStore>(new SqliteClinicalStore(std::move(db)));
}

// --- Activations -------------------------------------------------------------------------------

Status SqliteClinicalStore::InsertActivation(const ActivationRow& row, const CommitGate& gate) {
  MEDMESH_RETURN_IF_ERROR(ValidateActivationRow(row));
  if (row.status != ActivationStatus::kRequested) {
    return InvalidArgument("clinical store: a new activation must be requested");
  }
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement open(*db_,
                           "SELECT 1 FROM activations WHERE (patient_id = ? AND cloudlet_id = ?"
                           " AND status IN ('requested', 'approved')) OR activation_id = ?");
    open.bind(1, row.patient_id);
    open.bind(2, row.cloudlet_id);
    open.bind(3, row.activation_id);
    if (open.executeStep()) {
      return AlreadyExists("an activation at this cloudlet is already requested or approved");
    }
    SQLite::Statement insert(*db_, std::string("INSERT INTO activations (") + kActivationColumns +
                                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, row.activation_id);
    insert.bind(2, row.patient_id);
    insert.bind(3, row.cloudlet_id);
    insert.bind(4, std::string(ActivationStatusName(row.status)));
    insert.bind(5, row.reason);
    insert.bind(6, row.decided_by);
    insert.bind(7, static_cast<std::int64_t>(row.requested_ms));
    insert.bind(8, static_cast<std::int64_t>(row.decided_ms));
    insert.exec();
    MEDMESH_RETURN_IF_ERROR(RunGate(gate));
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "insert activation");
  }
}

Result<std::optional<ActivationRow>> SqliteClinicalStore::GetActivation(
    std::string_view activation_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string("SELECT ") + kActivationColumns +
                                  " FROM activations WHERE activation_id = ?");
    q.bind(1, std::string(activation_id));
    if (!q.executeStep()) return std::optional<ActivationRow>();
    MEDMESH_ASSIGN_OR_RETURN(ActivationRow row, ReadActivation(q));
    return std::optional<ActivationRow>(std::move(row));
  } catch (const std::exception& e) {
    return store::SqliteError(e, "get activation");
  }
}

Result<std::vector<ActivationRow>> SqliteClinicalStore::ListActivationsOfPatient(
    std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string("SELECT ") + kActivationColumns +
                                  " FROM activations WHERE patient_id = ?" +
                                  kNewestActivationsFirst);
    q.bind(1, std::string(patient_id));
    return ReadActivations(q);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list activations of patient");
  }
}

Result<std::vector<ActivationRow>> SqliteClinicalStore::ListActivationsOfCloudlet(
    std::string_view cloudlet_id, std::optional<ActivationStatus> status) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string("SELECT ") + kActivationColumns +
                                  " FROM activations WHERE cloudlet_id = ?" +
                                  (status ? " AND status = ?" : "") + kNewestActivationsFirst);
    q.bind(1, std::string(cloudlet_id));
    if (status) q.bind(2, std::string(ActivationStatusName(*status)));
    return ReadActivations(q);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list activations of cloudlet");
  }
}

Status SqliteClinicalStore::DecideActivation(std::string_view activation_id,
                                             ActivationStatus decision, std::string_view reason,
                                             std::string_view decided_by, std::int64_t decided_ms,
                                             const CommitGate& gate) {
  if (decision == ActivationStatus::kRequested) {
    return InvalidArgument("clinical store: a decision approves or denies");
  }
  if (reason.size() > kMaxReasonBytes) return InvalidArgument("clinical store: reason is too long");
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("decided_by", decided_by));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement update(*db_,
                             "UPDATE activations SET status = ?, reason = ?, decided_by = ?,"
                             " decided_ms = ? WHERE activation_id = ? AND status = 'requested'");
    update.bind(1, std::string(ActivationStatusName(decision)));
    update.bind(2, std::string(reason));
    update.bind(3, std::string(decided_by));
    update.bind(4, static_cast<std::int64_t>(decided_ms));
    update.bind(5, std::string(activation_id));
    if (update.exec() == 0) {
      SQLite::Statement exists(*db_, "SELECT 1 FROM activations WHERE activation_id = ?");
      exists.bind(1, std::string(activation_id));
      if (!exists.executeStep()) return NotFound("unknown activation");
      return FailedPrecondition("the activation was decided already");
    }
    MEDMESH_RETURN_IF_ERROR(RunGate(gate));
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "decide activation");
  }
}

Result<bool> SqliteClinicalStore::HasApprovedActivation(std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT 1 FROM activations WHERE patient_id = ? AND status = 'approved'"
                        " LIMIT 1");
    q.bind(1, std::string(patient_id));
    return q.executeStep();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "check activation");
  }
}

// --- Consents ----------------------------------------------------------------------------------

Status SqliteClinicalStore::InsertConsent(const ConsentRow& row, const CommitGate& gate) {
  MEDMESH_RETURN_IF_ERROR(ValidateConsentRow(row));
  if (!row.active()) return InvalidArgument("clinical store: a new consent must be active");
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement exists(*db_, "SELECT 1 FROM consents WHERE consent_id = ?");
    exists.bind(1, row.consent_id);
    if (exists.executeStep()) return AlreadyExists("the consent id is taken");
    SQLite::Statement insert(*db_,
                             "INSERT INTO consents (consent_id, patient_id, doctor_id, created_ms,"
                             " revoked_ms) VALUES (?, ?, ?, ?, NULL)");
    insert.bind(1, row.consent_id);
    insert.bind(2, row.patient_id);
    insert.bind(3, row.doctor_id);
    insert.bind(4, static_cast<std::int64_t>(row.created_ms));
    insert.exec();
    SQLite::Statement record(*db_,
                             "INSERT INTO consent_records (consent_id, device_id, record_id)"
                             " VALUES (?, ?, ?)");
    for (const RecordKey& key : row.records) {
      record.bind(1, row.consent_id);
      record.bind(2, key.device_id);
      record.bind(3, key.record_id);
      record.exec();
      record.reset();
    }
    MEDMESH_RETURN_IF_ERROR(RunGate(gate));
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "insert consent");
  }
}

Result<std::optional<ConsentRow>> SqliteClinicalStore::GetConsent(
    std::string_view consent_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        std::string(kConsentSelect) + "WHERE c.consent_id = ?" + kConsentOrder);
    q.bind(1, std::string(consent_id));
    std::vector<ConsentRow> rows = ReadConsents(q);
    if (rows.empty()) return std::optional<ConsentRow>();
    return std::optional<ConsentRow>(std::move(rows.front()));
  } catch (const std::exception& e) {
    return store::SqliteError(e, "get consent");
  }
}

Result<std::vector<ConsentRow>> SqliteClinicalStore::ListConsentsOfPatient(
    std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        std::string(kConsentSelect) + "WHERE c.patient_id = ?" + kConsentOrder);
    q.bind(1, std::string(patient_id));
    return ReadConsents(q);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list consents of patient");
  }
}

Result<std::vector<ConsentRow>> SqliteClinicalStore::ListConsentsOfDoctor(
    std::string_view doctor_id, bool active_only) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string(kConsentSelect) + "WHERE c.doctor_id = ?" +
                                  (active_only ? " AND c.revoked_ms IS NULL" : "") + kConsentOrder);
    q.bind(1, std::string(doctor_id));
    return ReadConsents(q);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list consents of doctor");
  }
}

Result<bool> SqliteClinicalStore::RevokeConsent(std::string_view consent_id,
                                                std::int64_t revoked_ms, const CommitGate& gate) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement update(*db_,
                             "UPDATE consents SET revoked_ms = ? WHERE consent_id = ?"
                             " AND revoked_ms IS NULL");
    update.bind(1, static_cast<std::int64_t>(revoked_ms));
    update.bind(2, std::string(consent_id));
    if (update.exec() == 0) {
      SQLite::Statement exists(*db_, "SELECT 1 FROM consents WHERE consent_id = ?");
      exists.bind(1, std::string(consent_id));
      if (!exists.executeStep()) return NotFound("unknown consent");
      return false;
    }
    MEDMESH_RETURN_IF_ERROR(RunGate(gate));
    tx.commit();
    return true;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "revoke consent");
  }
}

Result<std::vector<Referral>> SqliteClinicalStore::ListReferrals() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT DISTINCT doctor_id, patient_id FROM consents"
                        " ORDER BY doctor_id, patient_id");
    std::vector<Referral> rows;
    while (q.executeStep()) {
      rows.push_back({q.getColumn(0).getString(), q.getColumn(1).getString()});
    }
    return rows;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list referrals");
  }
}

// --- Answers -----------------------------------------------------------------------------------

Status SqliteClinicalStore::InsertAnswer(const AnswerRow& row, const CommitGate& gate) {
  MEDMESH_RETURN_IF_ERROR(ValidateAnswerRow(row));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement consent(*db_,
                              "SELECT 1 FROM consents WHERE consent_id = ? AND patient_id = ?"
                              " AND doctor_id = ? AND revoked_ms IS NULL");
    consent.bind(1, row.consent_id);
    consent.bind(2, row.patient_id);
    consent.bind(3, row.doctor_id);
    if (!consent.executeStep()) return FailedPrecondition("the consent is not active");
    SQLite::Statement exists(*db_, "SELECT 1 FROM answers WHERE answer_id = ?");
    exists.bind(1, row.answer_id);
    if (exists.executeStep()) return AlreadyExists("the answer id is taken");
    SQLite::Statement insert(*db_,
                             "INSERT INTO answers (answer_id, consent_id, patient_id, doctor_id,"
                             " created_ms, has_prescription, ciphertext)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, row.answer_id);
    insert.bind(2, row.consent_id);
    insert.bind(3, row.patient_id);
    insert.bind(4, row.doctor_id);
    insert.bind(5, static_cast<std::int64_t>(row.created_ms));
    insert.bind(6, row.has_prescription ? 1 : 0);
    BindBlob(insert, 7, row.ciphertext);
    insert.exec();
    MEDMESH_RETURN_IF_ERROR(RunGate(gate));
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "insert answer");
  }
}

Result<std::vector<AnswerRow>> SqliteClinicalStore::ListAnswersOfPatient(
    std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string(kAnswerSelect) + "WHERE patient_id = ?" + kAnswerOrder);
    q.bind(1, std::string(patient_id));
    return ReadAnswers(q);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list answers of patient");
  }
}

Result<std::vector<AnswerRow>> SqliteClinicalStore::ListAnswersOfDoctor(
    std::string_view doctor_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string(kAnswerSelect) + "WHERE doctor_id = ?" + kAnswerOrder);
    q.bind(1, std::string(doctor_id));
    return ReadAnswers(q);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list answers of doctor");
  }
}

Result<AnswerCounts> SqliteClinicalStore::CountAnswers(
    std::optional<std::string_view> cloudlet_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(
        *db_, cloudlet_id
                  ? "SELECT COUNT(*), COALESCE(SUM(has_prescription), 0) FROM answers a"
                    " WHERE EXISTS (SELECT 1 FROM activations v WHERE v.patient_id = a.patient_id"
                    " AND v.cloudlet_id = ? AND v.status = 'approved')"
                  : "SELECT COUNT(*), COALESCE(SUM(has_prescription), 0) FROM answers");
    if (cloudlet_id) q.bind(1, std::string(*cloudlet_id));
    q.executeStep();
    return AnswerCounts{static_cast<std::uint64_t>(q.getColumn(0).getInt64()),
                        static_cast<std::uint64_t>(q.getColumn(1).getInt64())};
  } catch (const std::exception& e) {
    return store::SqliteError(e, "count answers");
  }
}

// --- Deletion ----------------------------------------------------------------------------------

Result<bool> SqliteClinicalStore::DeletePatient(std::string_view patient_id) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    int removed = 0;
    // Answers before consents (they refer to them); consent_records go with their consent.
    for (const char* sql :
         {"DELETE FROM answers WHERE patient_id = ?", "DELETE FROM consents WHERE patient_id = ?",
          "DELETE FROM activations WHERE patient_id = ?"}) {
      SQLite::Statement del(*db_, sql);
      del.bind(1, std::string(patient_id));
      removed += del.exec();
    }
    tx.commit();
    return removed > 0;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "delete patient");
  }
}

}  // namespace medmesh::cloud
