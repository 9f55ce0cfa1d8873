#include "cloud/postgres_intake_store.h"

#include <functional>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

#include "store/postgres/postgres_connection.h"
#include "store/postgres/schema_prefix.h"

namespace medmesh::cloud {
namespace {

// "{s}" in `sql` becomes the quoted schema name (made of [a-z0-9_] only, so quoting is safe).
std::string Sql(const std::string& schema, std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 32);
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql.substr(i, 3) == "{s}") {
      out += '"' + schema + '"';
      i += 2;
    } else {
      out += sql[i];
    }
  }
  return out;
}

pqxx::binarystring Blob(ByteView bytes) { return pqxx::binarystring(bytes.data(), bytes.size()); }

Bytes BlobBytes(const pqxx::field& field) {
  const pqxx::binarystring blob(field);
  return Bytes(blob.data(), blob.data() + blob.size());
}

constexpr const char* kSchemaSql =
    "CREATE SCHEMA IF NOT EXISTS {s};"
    "CREATE TABLE IF NOT EXISTS {s}.cloudlets ("
    "  cloudlet_id text PRIMARY KEY, certificate bytea NOT NULL, not_before_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS {s}.enrolments ("
    "  device_ref text PRIMARY KEY, patient_id text NOT NULL, cloudlet_id text NOT NULL,"
    "  binding bytea NOT NULL, ciphertext bytea NOT NULL);"
    "CREATE INDEX IF NOT EXISTS enrolments_by_patient ON {s}.enrolments (patient_id);"
    "CREATE TABLE IF NOT EXISTS {s}.withdrawn_devices ("
    "  device_ref text PRIMARY KEY, withdrawn_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS {s}.reading_batches ("
    "  batch_ref text PRIMARY KEY, pseudonym text NOT NULL, from_ms bigint NOT NULL,"
    "  to_ms bigint NOT NULL, readings bigint NOT NULL, stored_ms bigint NOT NULL,"
    "  digest bytea NOT NULL, ciphertext bytea NOT NULL);"
    "CREATE INDEX IF NOT EXISTS reading_batches_by_pseudonym"
    "  ON {s}.reading_batches (pseudonym, from_ms);"
    "CREATE TABLE IF NOT EXISTS {s}.patients (pseudonym text PRIMARY KEY);";

}  // namespace

// The shared pool (store/postgres/postgres_connection.h), with each operation in one
// transaction that commits when the operation succeeds.
class PostgresIntakeStore::Pool {
 public:
  explicit Pool(std::unique_ptr<store::PgConnectionPool> pool) : pool_(std::move(pool)) {}

  template <typename T>
  Result<T> Run(std::string_view what, const std::function<Result<T>(pqxx::work&)>& body) {
    return pool_->Run(what, [&](pqxx::connection& c) -> Result<T> {
      pqxx::work work(c);
      Result<T> result = body(work);
      if (result) work.commit();
      return result;
    });
  }

 private:
  std::unique_ptr<store::PgConnectionPool> pool_;
};

PostgresIntakeStore::PostgresIntakeStore(std::unique_ptr<Pool> pool, std::string schema)
    : pool_(std::move(pool)), schema_(std::move(schema)) {}
PostgresIntakeStore::~PostgresIntakeStore() = default;

const std::string& PostgresIntakeStore::schema() const { return schema_; }

Result<std::unique_ptr<PostgresIntakeStore>> PostgresIntakeStore::Open(
    PostgresIntakeStoreOptions options) {
  MEDMESH_RETURN_IF_ERROR(store::CheckSchemaPrefix(options.schema_prefix));
  MEDMESH_ASSIGN_OR_RETURN(
      std::unique_ptr<store::PgConnectionPool> connections,
      store::PgConnectionPool::Create(std::move(options.conninfo), options.pool_size,
                                      options.acquire_timeout));
  const std::string schema = options.schema_prefix + "intake";
  auto pool = std::make_unique<Pool>(std::move(connections));
  MEDMESH_RETURN_IF_ERROR(pool->Run<bool>("create schema", [&](pqxx::work& w) -> Result<bool> {
    w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "medmesh intake " + schema);
    w.exec(Sql(schema, kSchemaSql));
    return true;
  }));
  // The only counting query of the store's life; Counts() counts on in memory.
  MEDMESH_ASSIGN_OR_RETURN(
      const IntakeCounts counts,
      pool->Run<IntakeCounts>("count intake", [&](pqxx::work& w) -> Result<IntakeCounts> {
        const pqxx::result r = w.exec(
            Sql(schema,
                "SELECT (SELECT COUNT(*) FROM {s}.reading_batches),"
                " (SELECT COALESCE(SUM(readings), 0) FROM {s}.reading_batches),"
                " (SELECT COUNT(*) FROM {s}.patients), (SELECT COUNT(*) FROM {s}.enrolments),"
                " (SELECT COUNT(*) FROM {s}.cloudlets)"));
        return IntakeCounts{r[0][0].as<std::uint64_t>(), r[0][1].as<std::uint64_t>(),
                            r[0][2].as<std::uint64_t>(), r[0][3].as<std::uint64_t>(),
                            r[0][4].as<std::uint64_t>()};
      }));
  std::unique_ptr<PostgresIntakeStore> store(new PostgresIntakeStore(std::move(pool), schema));
  store->counters_.Set(counts);
  return store;
}

Result<IntakeOutcome> PostgresIntakeStore::PutCloudletCertificate(
    const CloudletCertificateRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateCloudletCertificateRow(row));
  bool renewal = false;  // of the attempt that committed (Run may retry)
  auto outcome = pool_->Run<IntakeOutcome>(
      "put cloudlet certificate", [&](pqxx::work& w) -> Result<IntakeOutcome> {
        const pqxx::result existing = w.exec_params(
            Sql(schema_,
                "SELECT certificate, not_before_ms FROM {s}.cloudlets WHERE cloudlet_id = $1"
                " FOR UPDATE"),
            row.cloudlet_id);
        renewal = !existing.empty();
        if (renewal) {
          if (BlobBytes(existing[0][0]) == row.certificate) return IntakeOutcome::kDuplicate;
          if (existing[0][1].as<std::int64_t>() > row.not_before_ms) {
            return AlreadyExists("a newer certificate of this cloudlet is registered");
          }
        }
        w.exec_params(Sql(schema_,
                          "INSERT INTO {s}.cloudlets (cloudlet_id, certificate, not_before_ms)"
                          " VALUES ($1, $2, $3) ON CONFLICT (cloudlet_id) DO UPDATE SET"
                          " certificate = excluded.certificate,"
                          " not_before_ms = excluded.not_before_ms"),
                      row.cloudlet_id, Blob(row.certificate), row.not_before_ms);
        return IntakeOutcome::kInserted;
      });
  if (outcome && *outcome == IntakeOutcome::kInserted && !renewal) counters_.AddCloudlet();
  return outcome;
}

Result<std::optional<CloudletCertificateRow>> PostgresIntakeStore::GetCloudletCertificate(
    std::string_view cloudlet_id) const {
  using Row = std::optional<CloudletCertificateRow>;
  return pool_->Run<Row>("get cloudlet certificate", [&](pqxx::work& w) -> Result<Row> {
    const pqxx::result r = w.exec_params(
        Sql(schema_, "SELECT certificate, not_before_ms FROM {s}.cloudlets WHERE cloudlet_id = $1"),
        std::string(cloudlet_id));
    if (r.empty()) return Row();
    return Row(CloudletCertificateRow{std::string(cloudlet_id), BlobBytes(r[0][0]),
                                      r[0][1].as<std::int64_t>()});
  });
}

Result<IntakeOutcome> PostgresIntakeStore::PutEnrolment(const EnrolmentRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateEnrolmentRow(row));
  auto outcome = pool_->Run<
      IntakeOutcome>("put enrolment", [&](pqxx::work& w) -> Result<IntakeOutcome> {
    const pqxx::result inserted = w.exec_params(
        Sql(schema_,
            "INSERT INTO {s}.enrolments (device_ref, patient_id, cloudlet_id, binding, ciphertext)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_ref) DO NOTHING"),
        row.device_ref, row.patient_id, row.cloudlet_id, Blob(row.binding), Blob(row.ciphertext));
    // A withdrawn device keeps its row, so a withdrawn device always lands here.
    if (inserted.affected_rows() == 1) return IntakeOutcome::kInserted;
    const pqxx::result existing =
        w.exec_params(Sql(schema_,
                          "SELECT e.cloudlet_id, e.binding, w.withdrawn_ms FROM {s}.enrolments e"
                          " LEFT JOIN {s}.withdrawn_devices w ON w.device_ref = e.device_ref"
                          " WHERE e.device_ref = $1"),
                      row.device_ref);
    if (existing.empty()) return Unavailable("postgres: the enrolment changed meanwhile; retry");
    if (!existing[0][2].is_null()) return FailedPrecondition("the device was withdrawn");
    if (existing[0][0].as<std::string>() != row.cloudlet_id) {
      return AlreadyExists("the device is enrolled by another cloudlet");
    }
    if (BlobBytes(existing[0][1]) == row.binding) return IntakeOutcome::kDuplicate;
    return AlreadyExists("the device is enrolled with another patient or key");
  });
  if (outcome && *outcome == IntakeOutcome::kInserted) counters_.AddEnrolment();
  return outcome;
}

Result<std::optional<EnrolmentRow>> PostgresIntakeStore::GetEnrolment(
    std::string_view device_ref) const {
  using Row = std::optional<EnrolmentRow>;
  return pool_->Run<Row>("get enrolment", [&](pqxx::work& w) -> Result<Row> {
    const pqxx::result r =
        w.exec_params(Sql(schema_,
                          "SELECT e.patient_id, e.cloudlet_id, e.binding, e.ciphertext,"
                          " w.withdrawn_ms FROM {s}.enrolments e LEFT JOIN {s}.withdrawn_devices w"
                          " ON w.device_ref = e.device_ref WHERE e.device_ref = $1"),
                      std::string(device_ref));
    if (r.empty()) return Row();
    EnrolmentRow row{std::string(device_ref), r[0][0].as<std::string>(), r[0][1].as<std::string>(),
                     BlobBytes(r[0][2]),      BlobBytes(r[0][3]),        std::nullopt};
    if (!r[0][4].is_null()) row.withdrawn_ms = r[0][4].as<std::int64_t>();
    return Row(std::move(row));
  });
}

Result<std::vector<std::string>> PostgresIntakeStore::CloudletsOfPatient(
    std::string_view patient_id) const {
  using Rows = std::vector<std::string>;
  return pool_->Run<Rows>("list cloudlets of patient", [&](pqxx::work& w) -> Result<Rows> {
    const pqxx::result r = w.exec_params(
        Sql(schema_,
            "SELECT DISTINCT cloudlet_id COLLATE \"C\" FROM {s}.enrolments WHERE patient_id = $1"
            " ORDER BY 1"),
        std::string(patient_id));
    Rows cloudlets;
    for (const auto& row : r) cloudlets.push_back(row[0].as<std::string>());
    return cloudlets;
  });
}

Result<IntakeOutcome> PostgresIntakeStore::WithdrawEnrolment(std::string_view device_ref,
                                                             std::int64_t withdrawn_ms) {
  MEDMESH_RETURN_IF_ERROR(ValidateEnrolmentRef(device_ref));
  return pool_->Run<IntakeOutcome>(
      "withdraw enrolment", [&](pqxx::work& w) -> Result<IntakeOutcome> {
        const pqxx::result enrolled = w.exec_params(
            Sql(schema_, "SELECT 1 FROM {s}.enrolments WHERE device_ref = $1 FOR SHARE"),
            std::string(device_ref));
        if (enrolled.empty()) return NotFound("the device is not enrolled");
        const pqxx::result inserted = w.exec_params(
            Sql(schema_,
                "INSERT INTO {s}.withdrawn_devices (device_ref, withdrawn_ms) VALUES ($1, $2)"
                " ON CONFLICT (device_ref) DO NOTHING"),
            std::string(device_ref), withdrawn_ms);
        return inserted.affected_rows() == 1 ? IntakeOutcome::kInserted : IntakeOutcome::kDuplicate;
      });
}

Result<IntakeOutcome> PostgresIntakeStore::PutReadingBatch(const ReadingBatchRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateReadingBatchRow(row));
  bool new_patient = false;  // of the attempt that committed (Run may retry)
  auto outcome =
      pool_->Run<IntakeOutcome>("put reading batch", [&](pqxx::work& w) -> Result<IntakeOutcome> {
        new_patient = false;
        const pqxx::result inserted = w.exec_params(
            Sql(schema_,
                "INSERT INTO {s}.reading_batches (batch_ref, pseudonym, from_ms, to_ms, readings,"
                " stored_ms, digest, ciphertext) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (batch_ref) DO NOTHING"),
            row.batch_ref, row.pseudonym, row.from_ms, row.to_ms,
            static_cast<std::int64_t>(row.readings), row.stored_ms, Blob(row.digest),
            Blob(row.ciphertext));
        if (inserted.affected_rows() == 0) {
          const pqxx::result existing = w.exec_params(
              Sql(schema_, "SELECT digest FROM {s}.reading_batches WHERE batch_ref = $1"),
              row.batch_ref);
          if (!existing.empty() && BlobBytes(existing[0][0]) == row.digest) {
            return IntakeOutcome::kDuplicate;
          }
          return AlreadyExists("another batch was stored under this device and batch id");
        }
        new_patient = w.exec_params(Sql(schema_,
                                        "INSERT INTO {s}.patients (pseudonym) VALUES ($1)"
                                        " ON CONFLICT DO NOTHING"),
                                    row.pseudonym)
                          .affected_rows() == 1;
        return IntakeOutcome::kInserted;
      });
  if (outcome && *outcome == IntakeOutcome::kInserted) {
    counters_.AddReadingBatch(row.readings, new_patient);
  }
  return outcome;
}

Result<std::vector<ReadingBatchRow>> PostgresIntakeStore::ListReadingBatches(
    std::string_view pseudonym, std::int64_t from_ms, std::int64_t to_ms, std::size_t limit) const {
  using Rows = std::vector<ReadingBatchRow>;
  return pool_->Run<Rows>("list reading batches", [&](pqxx::work& w) -> Result<Rows> {
    const pqxx::result r = w.exec_params(
        Sql(schema_,
            "SELECT batch_ref, from_ms, to_ms, readings, stored_ms, digest, ciphertext"
            " FROM {s}.reading_batches WHERE pseudonym = $1 AND to_ms >= $2 AND from_ms < $3"
            " ORDER BY from_ms, batch_ref LIMIT $4"),
        std::string(pseudonym), from_ms, to_ms, static_cast<std::int64_t>(limit));
    Rows rows;
    for (const auto& row : r) {
      rows.push_back({row[0].as<std::string>(), std::string(pseudonym), row[1].as<std::int64_t>(),
                      row[2].as<std::int64_t>(),
                      static_cast<std::uint32_t>(row[3].as<std::int64_t>()),
                      row[4].as<std::int64_t>(), BlobBytes(row[5]), BlobBytes(row[6])});
    }
    return rows;
  });
}

Status PostgresIntakeStore::AddPatient(std::string_view pseudonym) {
  if (pseudonym.empty() || pseudonym.size() > 255) {
    return InvalidArgument("intake store: pseudonym must be 1..255 bytes");
  }
  auto inserted = pool_->Run<bool>("add patient", [&](pqxx::work& w) -> Result<bool> {
    return w.exec_params(Sql(schema_,
                             "INSERT INTO {s}.patients (pseudonym) VALUES ($1)"
                             " ON CONFLICT DO NOTHING"),
                         std::string(pseudonym))
               .affected_rows() == 1;
  });
  if (!inserted) return inserted.error();
  if (*inserted) counters_.AddPatient();
  return OkStatus();
}

Result<IntakeCounts> PostgresIntakeStore::Counts() const { return counters_.Get(); }

}  // namespace medmesh::cloud
