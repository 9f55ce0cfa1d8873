#include "cloud/postgres_clinical_store.h"

#include <functional>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

#include "store/postgres/postgres_connection.h"
#include "store/postgres/schema_prefix.h"

namespace medmesh::cloud {
namespace {

using store::InSchema;

pqxx::binarystring Blob(ByteView bytes) { return {bytes.data(), bytes.size()}; }

Bytes BlobBytes(const pqxx::field& field) {
  const pqxx::binarystring blob(field);
  return {blob.data(), blob.data() + blob.size()};
}

// The same tables as the SQLite store (sqlite_clinical_store.cc), with the same constraints.
constexpr const char* kSchemaSql =
    "CREATE SCHEMA IF NOT EXISTS {s};"
    "CREATE TABLE IF NOT EXISTS {s}.activations ("
    "  activation_id text PRIMARY KEY, patient_id text NOT NULL, cloudlet_id text NOT NULL,"
    "  status text NOT NULL CHECK (status IN ('requested', 'approved', 'denied')),"
    "  reason text NOT NULL, decided_by text NOT NULL, requested_ms bigint NOT NULL,"
    "  decided_ms bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS activations_by_patient ON {s}.activations (patient_id);"
    "CREATE INDEX IF NOT EXISTS activations_by_cloudlet ON {s}.activations (cloudlet_id, status);"
    "CREATE UNIQUE INDEX IF NOT EXISTS activations_open ON {s}.activations"
    "  (patient_id, cloudlet_id) WHERE status IN ('requested', 'approved');"
    "CREATE TABLE IF NOT EXISTS {s}.consents ("
    "  consent_id text PRIMARY KEY, patient_id text NOT NULL, doctor_id text NOT NULL,"
    "  created_ms bigint NOT NULL, revoked_ms bigint);"
    "CREATE INDEX IF NOT EXISTS consents_by_patient ON {s}.consents (patient_id);"
    "CREATE INDEX IF NOT EXISTS consents_by_doctor ON {s}.consents (doctor_id);"
    "CREATE TABLE IF NOT EXISTS {s}.consent_records ("
    "  consent_id text NOT NULL REFERENCES {s}.consents (consent_id) ON DELETE CASCADE,"
    "  device_id text NOT NULL, record_id text NOT NULL,"
    "  PRIMARY KEY (consent_id, device_id, record_id));"
    "CREATE TABLE IF NOT EXISTS {s}.answers ("
    "  answer_id text PRIMARY KEY,"
    "  consent_id text NOT NULL REFERENCES {s}.consents (consent_id),"
    "  patient_id text NOT NULL, doctor_id text NOT NULL, created_ms bigint NOT NULL,"
    "  has_prescription boolean NOT NULL, ciphertext bytea NOT NULL);"
    "CREATE INDEX IF NOT EXISTS answers_by_patient ON {s}.answers (patient_id);"
    "CREATE INDEX IF NOT EXISTS answers_by_doctor ON {s}.answers (doctor_id);";

constexpr const char* kActivationSelect =
    "SELECT activation_id, patient_id, cloudlet_id, status, reason, decided_by, requested_ms,"
    " decided_ms FROM {s}.activations ";
constexpr const char* kNewestActivationsFirst =
    " ORDER BY requested_ms DESC, activation_id COLLATE \"C\" DESC";

Result<std::vector<ActivationRow>> ReadActivations(const pqxx::result& r) {
  std::vector<ActivationRow> rows;
  for (const auto& row : r) {
    auto status = ParseActivationStatus(row[3].as<std::string>());
    if (!status) return DataLoss("clinical store: an activation has an unknown status");
    rows.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                    *status, row[4].as<std::string>(), row[5].as<std::string>(),
                    row[6].as<std::int64_t>(), row[7].as<std::int64_t>()});
  }
  return rows;
}

constexpr const char* kConsentSelect =
    "SELECT c.consent_id, c.patient_id, c.doctor_id, c.created_ms, c.revoked_ms, r.device_id,"
    " r.record_id FROM {s}.consents c JOIN {s}.consent_records r"
    " ON r.consent_id = c.consent_id ";

// One row per consent from the join, as in the SQLite store. Text is compared byte-wise
// (COLLATE "C") so both backends order alike.
std::vector<ConsentRow> ReadConsents(const pqxx::result& r) {
  std::vector<ConsentRow> rows;
  for (const auto& row : r) {
    const auto id = row[0].as<std::string>();
    if (rows.empty() || rows.back().consent_id != id) {
      ConsentRow consent;
      consent.consent_id = id;
      consent.patient_id = row[1].as<std::string>();
      consent.doctor_id = row[2].as<std::string>();
      consent.created_ms = row[3].as<std::int64_t>();
      if (!row[4].is_null()) consent.revoked_ms = row[4].as<std::int64_t>();
      rows.push_back(std::move(consent));
    }
    rows.back().records.push_back({row[5].as<std::string>(), row[6].as<std::string>()});
  }
  return rows;
}

constexpr const char* kAnswerSelect =
    "SELECT answer_id, consent_id, patient_id, doctor_id, created_ms, has_prescription,"
    " ciphertext FROM {s}.answers ";
constexpr const char* kAnswerOrder = " ORDER BY created_ms, answer_id COLLATE \"C\"";

std::vector<AnswerRow> ReadAnswers(const pqxx::result& r) {
  std::vector<AnswerRow> rows;
  for (const auto& row : r) {
    rows.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                    row[3].as<std::string>(), row[4].as<std::int64_t>(), row[5].as<bool>(),
                    BlobBytes(row[6])});
  }
  return rows;
}

std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

}  // namespace

PostgresClinicalStore::PostgresClinicalStore(std::unique_ptr<store::PgConnectionPool> pool,
                                             std::string schema)
    : pool_(std::move(pool)), schema_(std::move(schema)) {}
PostgresClinicalStore::~PostgresClinicalStore() = default;

const std::string& PostgresClinicalStore::schema() const { return schema_; }

Result<std::unique_ptr<PostgresClinicalStore>> PostgresClinicalStore::Open(
    PostgresClinicalStoreOptions options) {
  MEDMESH_RETURN_IF_ERROR(store::CheckSchemaPrefix(options.schema_prefix));
  MEDMESH_ASSIGN_OR_RETURN(
      std::unique_ptr<store::PgConnectionPool> pool,
      store::PgConnectionPool::Create(std::move(options.conninfo), options.pool_size,
                                      options.acquire_timeout));
  const std::string schema = options.schema_prefix + "clinical";
  MEDMESH_RETURN_IF_ERROR(
      pool->RunInTransaction("create schema", [&](pqxx::work& w) -> Result<bool> {
        w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "medmesh clinical " + schema);
        w.exec(InSchema(schema, kSchemaSql));
        return true;
      }));
  return std::unique_ptr<PostgresClinicalStore>(new PostgresClinicalStore(std::move(pool), schema));
}

// --- Activations -------------------------------------------------------------------------------

Status PostgresClinicalStore::InsertActivation(const ActivationRow& row, const CommitGate& gate) {
  MEDMESH_RETURN_IF_ERROR(ValidateActivationRow(row));
  if (row.status != ActivationStatus::kRequested) {
    return InvalidArgument("clinical store: a new activation must be requested");
  }
  auto done = pool_->RunInTransaction("insert activation", [&](pqxx::work& w) -> Result<bool> {
    // Serialises requests of one patient (two racing requests for the same cloudlet would
    // otherwise both pass the check and one would fail on the unique index).
    w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))",
                  "medmesh activation " + schema_ + " " + row.patient_id);
    const pqxx::result open = w.exec_params(
        InSchema(schema_,
                 "SELECT 1 FROM {s}.activations WHERE (patient_id = $1 AND cloudlet_id = $2"
                 " AND status IN ('requested', 'approved')) OR activation_id = $3"),
        row.patient_id, row.cloudlet_id, row.activation_id);
    if (!open.empty()) {
      return AlreadyExists("an activation at this cloudlet is already requested or approved");
    }
    w.exec_params(InSchema(schema_,
                           "INSERT INTO {s}.activations (activation_id, patient_id, cloudlet_id,"
                           " status, reason, decided_by, requested_ms, decided_ms)"
                           " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
                  row.activation_id, row.patient_id, row.cloudlet_id,
                  std::string(ActivationStatusName(row.status)), row.reason, row.decided_by,
                  row.requested_ms, row.decided_ms);
    MEDMESH_RETURN_IF_ERROR(RunGate(gate));
    return true;
  });
  if (!done) return done.error();
  return OkStatus();
}

Result<std::optional<ActivationRow>> PostgresClinicalStore::GetActivation(
    std::string_view activation_id) const {
  using Row = std::optional<ActivationRow>;
  return pool_->RunInTransaction("get activation", [&](pqxx::work& w) -> Result<Row> {
    MEDMESH_ASSIGN_OR_RETURN(
        auto rows, ReadActivations(w.exec_params(
                       InSchema(schema_, Cat({kActivationSelect, "WHERE activation_id = $1"})),
                       std::string(activation_id))));
    if (rows.empty()) return Row();
    return Row(std::move(rows.front()));
  });
}

Result<std::vector<ActivationRow>> PostgresClinicalStore::ListActivationsOfPatient(
    std::string_view patient_id) const {
  using Rows = std::vector<ActivationRow>;
  return pool_->RunInTransaction("list activations of patient", [&](pqxx::work& w) -> Result<Rows> {
    return ReadActivations(w.exec_params(
        InSchema(schema_,
                 Cat({kActivationSelect, "WHERE patient_id = $1", kNewestActivationsFirst})),
        std::string(patient_id)));
  });
}

Result<std::vector<ActivationRow>> PostgresClinicalStore::ListActivationsOfCloudlet(
    std::string_view cloudlet_id, std::optional<ActivationStatus> status) const {
  using Rows = std::vector<ActivationRow>;
  return pool_->RunInTransaction(
      "list activations of cloudlet", [&](pqxx::work& w) -> Result<Rows> {
        if (status) {
          return ReadActivations(w.exec_params(
              InSchema(schema_, Cat({kActivationSelect, "WHERE cloudlet_id = $1 AND status = $2",
                                     kNewestActivationsFirst})),
              std::string(cloudlet_id), std::string(ActivationStatusName(*status))));
        }
        return ReadActivations(w.exec_params(
            InSchema(schema_,
                     Cat({kActivationSelect, "WHERE cloudlet_id = $1", kNewestActivationsFirst})),
            std::string(cloudlet_id)));
      });
}

Status PostgresClinicalStore::DecideActivation(std::string_view activation_id,
                                               ActivationStatus decision, std::string_view reason,
                                               std::string_view decided_by, std::int64_t decided_ms,
                                               const CommitGate& gate) {
  if (decision == ActivationStatus::kRequested) {
    return InvalidArgument("clinical store: a decision approves or denies");
  }
  if (reason.size() > kMaxReasonBytes) return InvalidArgument("clinical store: reason is too long");
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("decided_by", decided_by));
  auto done = pool_->RunInTransaction("decide activation", [&](pqxx::work& w) -> Result<bool> {
    const pqxx::result updated = w.exec_params(
        InSchema(schema_,
                 "UPDATE {s}.activations SET status = $1, reason = $2, decided_by = $3,"
                 " decided_ms = $4 WHERE activation_id = $5 AND status = 'requested'"),
        std::string(ActivationStatusName(decision)), std::string(reason), std::string(decided_by),
        decided_ms, std::string(activation_id));
    if (updated.affected_rows() == 0) {
      const pqxx::result exists =
          w.exec_params(InSchema(schema_, "SELECT 1 FROM {s}.activations WHERE activation_id = $1"),
                        std::string(activation_id));
      if (exists.empty()) return NotFound("unknown activation");
      return FailedPrecondition("the activation was decided already");
    }
    MEDMESH_RETURN_IF_ERROR(RunGate(gate));
    return true;
  });
  if (!done) return done.error();
  return OkStatus();
}

Result<bool> PostgresClinicalStore::HasApprovedActivation(std::string_view patient_id) const {
  return pool_->RunInTransaction("check activation", [&](pqxx::work& w) -> Result<bool> {
    return !w.exec_params(InSchema(schema_,
                                   "SELECT 1 FROM {s}.activations WHERE patient_id = $1"
                                   " AND status = 'approved' LIMIT 1"),
                          std::string(patient_id))
                .empty();
  });
}

// --- Consents ----------------------------------------------------------------------------------

Status PostgresClinicalStore::InsertConsent(const ConsentRow& row, const CommitGate& gate) {
  MEDMESH_RETURN_IF_ERROR(ValidateConsentRow(row));
  if (!row.active()) return InvalidArgument("clinical store: a new consent must be active");
  auto done = pool_->RunInTransaction("insert consent", [&](pqxx::work& w) -> Result<bool> {
    const pqxx::result inserted = w.exec_params(
        InSchema(schema_,
                 "INSERT INTO {s}.consents (consent_id, patient_id, doctor_id, created_ms,"
                 " revoked_ms) VALUES ($1, $2, $3, $4, NULL) ON CONFLICT (consent_id) DO NOTHING"),
        row.consent_id, row.patient_id, row.doctor_id, row.created_ms);
    if (inserted.affected_rows() == 0) return AlreadyExists("the consent id is taken");
    const std::string insert_record =
        InSchema(schema_,
                 "INSERT INTO {s}.consent_records (consent_id, device_id, record_id)"
                 " VALUES ($1, $2, $3)");
    for (const RecordKey& key : row.records) {
      w.exec_params(insert_record, row.consent_id, key.device_id, key.record_id);
    }
    MEDMESH_RETURN_IF_ERROR(RunGate(gate));
    return true;
  });
  if (!done) return done.error();
  return OkStatus();
}

Result<std::optional<ConsentRow>> PostgresClinicalStore::GetConsent(
    std::string_view consent_id) const {
  using Row = std::optional<ConsentRow>;
  return pool_->RunInTransaction("get consent", [&](pqxx::work& w) -> Result<Row> {
    std::vector<ConsentRow> rows =
        ReadConsents(w.exec_params(InSchema(schema_, Cat({kConsentSelect, "WHERE c.consent_id = $1",
                                                          " ORDER BY r.device_id COLLATE \"C\","
                                                          " r.record_id COLLATE \"C\""})),
                                   std::string(consent_id)));
    if (rows.empty()) return Row();
    return Row(std::move(rows.front()));
  });
}

Result<std::vector<ConsentRow>> PostgresClinicalStore::ListConsentsOfPatient(
    std::string_view patient_id) const {
  using Rows = std::vector<ConsentRow>;
  return pool_->RunInTransaction("list consents of patient", [&](pqxx::work& w) -> Result<Rows> {
    return ReadConsents(w.exec_params(
        InSchema(schema_, Cat({kConsentSelect, "WHERE c.patient_id = $1",
                               " ORDER BY c.created_ms DESC, c.consent_id COLLATE \"C\" DESC,"
                               " r.device_id COLLATE \"C\", r.record_id COLLATE \"C\""})),
        std::string(patient_id)));
  });
}

Result<std::vector<ConsentRow>> PostgresClinicalStore::ListConsentsOfDoctor(
    std::string_view doctor_id, bool active_only) const {
  using Rows = std::vector<ConsentRow>;
  return pool_->RunInTransaction("list consents of doctor", [&](pqxx::work& w) -> Result<Rows> {
    return ReadConsents(w.exec_params(
        InSchema(schema_, Cat({kConsentSelect, "WHERE c.doctor_id = $1",
                               active_only ? " AND c.revoked_ms IS NULL" : "",
                               " ORDER BY c.created_ms DESC, c.consent_id COLLATE \"C\" DESC,"
                               " r.device_id COLLATE \"C\", r.record_id COLLATE \"C\""})),
        std::string(doctor_id)));
  });
}

Result<bool> PostgresClinicalStore::RevokeConsent(std::string_view consent_id,
                                                  std::int64_t revoked_ms, const CommitGate& gate) {
  return pool_->RunInTransaction("revoke consent", [&](pqxx::work& w) -> Result<bool> {
    const pqxx::result updated =
        w.exec_params(InSchema(schema_,
                               "UPDATE {s}.consents SET revoked_ms = $1 WHERE consent_id = $2"
                               " AND revoked_ms IS NULL"),
                      revoked_ms, std::string(consent_id));
    if (updated.affected_rows() == 0) {
      const pqxx::result exists =
          w.exec_params(InSchema(schema_, "SELECT 1 FROM {s}.consents WHERE consent_id = $1"),
                        std::string(consent_id));
      if (exists.empty()) return NotFound("unknown consent");
      return false;
    }
    MEDMESH_RETURN_IF_ERROR(RunGate(gate));
    return true;
  });
}

Result<std::vector<Referral>> PostgresClinicalStore::ListReferrals() const {
  using Rows = std::vector<Referral>;
  return pool_->RunInTransaction("list referrals", [&](pqxx::work& w) -> Result<Rows> {
    const pqxx::result r =
        w.exec(InSchema(schema_,
                        "SELECT DISTINCT doctor_id COLLATE \"C\", patient_id COLLATE \"C\""
                        " FROM {s}.consents ORDER BY 1, 2"));
    Rows rows;
    for (const auto& row : r) rows.push_back({row[0].as<std::string>(), row[1].as<std::string>()});
    return rows;
  });
}

// --- Answers -----------------------------------------------------------------------------------

Status PostgresClinicalStore::InsertAnswer(const AnswerRow& row, const CommitGate& gate) {
  MEDMESH_RETURN_IF_ERROR(ValidateAnswerRow(row));
  auto done = pool_->RunInTransaction("insert answer", [&](pqxx::work& w) -> Result<bool> {
    // FOR SHARE holds off a revocation until this transaction ends, so an answer is never
    // stored on a grant revoked after the check.
    const pqxx::result consent = w.exec_params(
        InSchema(schema_,
                 "SELECT 1 FROM {s}.consents WHERE consent_id = $1 AND patient_id = $2"
                 " AND doctor_id = $3 AND revoked_ms IS NULL FOR SHARE"),
        row.consent_id, row.patient_id, row.doctor_id);
    if (consent.empty()) return FailedPrecondition("the consent is not active");
    const pqxx::result inserted = w.exec_params(
        InSchema(schema_,
                 "INSERT INTO {s}.answers (answer_id, consent_id, patient_id, doctor_id,"
                 " created_ms, has_prescription, ciphertext) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                 " ON CONFLICT (answer_id) DO NOTHING"),
        row.answer_id, row.consent_id, row.patient_id, row.doctor_id, row.created_ms,
        row.has_prescription, Blob(row.ciphertext));
    if (inserted.affected_rows() == 0) return AlreadyExists("the answer id is taken");
    MEDMESH_RETURN_IF_ERROR(RunGate(gate));
    return true;
  });
  if (!done) return done.error();
  return OkStatus();
}

Result<std::vector<AnswerRow>> PostgresClinicalStore::ListAnswersOfPatient(
    std::string_view patient_id) const {
  using Rows = std::vector<AnswerRow>;
  return pool_->RunInTransaction("list answers of patient", [&](pqxx::work& w) -> Result<Rows> {
    return ReadAnswers(w.exec_params(
        InSchema(schema_, Cat({kAnswerSelect, "WHERE patient_id = $1", kAnswerOrder})),
        std::string(patient_id)));
  });
}

Result<std::vector<AnswerRow>> PostgresClinicalStore::ListAnswersOfDoctor(
    std::string_view doctor_id) const {
  using Rows = std::vector<AnswerRow>;
  return pool_->RunInTransaction("list answers of doctor", [&](pqxx::work& w) -> Result<Rows> {
    return ReadAnswers(
        w.exec_params(InSchema(schema_, Cat({kAnswerSelect, "WHERE doctor_id = $1", kAnswerOrder})),
                      std::string(doctor_id)));
  });
}

Result<AnswerCounts> PostgresClinicalStore::CountAnswers(
    std::optional<std::string_view> cloudlet_id) const {
  return pool_->RunInTransaction("count answers", [&](pqxx::work& w) -> Result<AnswerCounts> {
    const pqxx::result r =
        cloudlet_id
            ? w.exec_params(
                  InSchema(schema_,
                           "SELECT COUNT(*), COUNT(*) FILTER (WHERE has_prescription)"
                           " FROM {s}.answers a WHERE EXISTS (SELECT 1 FROM {s}.activations v"
                           " WHERE v.patient_id = a.patient_id AND v.cloudlet_id = $1"
                           " AND v.status = 'approved')"),
                  std::string(*cloudlet_id))
            : w.exec(InSchema(schema_,
                              "SELECT COUNT(*), COUNT(*) FILTER (WHERE has_prescription)"
                              " FROM {s}.answers"));
    return AnswerCounts{r[0][0].as<std::uint64_t>(), r[0][1].as<std::uint64_t>()};
  });
}

// --- Deletion ----------------------------------------------------------------------------------

Result<bool> PostgresClinicalStore::DeletePatient(std::string_view patient_id) {
  return pool_->RunInTransaction("delete patient", [&](pqxx::work& w) -> Result<bool> {
    std::size_t removed = 0;
    for (const char* sql : {"DELETE FROM {s}.answers WHERE patient_id = $1",
                            "DELETE FROM {s}.consents WHERE patient_id = $1",
                            "DELETE FROM {s}.activations WHERE patient_id = $1"}) {
      removed += w.exec_params(InSchema(schema_, sql), std::string(patient_id)).affected_rows();
    }
    return removed > 0;
  });
}

}  // namespace medmesh::cloud
