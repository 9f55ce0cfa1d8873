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

pqxx::binarystring Blob(ByteView bytes) { return {bytes.data(), bytes.size()}; }

Bytes BlobBytes(const pqxx::field& field) {
  const pqxx::binarystring blob(field);
  return {blob.data(), blob.data() + blob.size()};
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
    "CREATE TABLE IF NOT EXISTS {s}.patients (pseudonym text PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS {s}.reading_rollups ("
    "  pseudonym text NOT NULL, kind smallint NOT NULL, width_ms bigint NOT NULL,"
    "  start_ms bigint NOT NULL, ciphertext bytea NOT NULL,"
    "  PRIMARY KEY (pseudonym, kind, width_ms, start_ms));"
    "CREATE TABLE IF NOT EXISTS {s}.rollup_complete (pseudonym text PRIMARY KEY);"
    "CREATE INDEX IF NOT EXISTS enrolments_by_patient ON {s}.enrolments (patient_id);"
    "CREATE TABLE IF NOT EXISTS {s}.restores ("
    "  restore_id text PRIMARY KEY, restored_ms bigint NOT NULL, cloudlet_id text NOT NULL,"
    "  patient_id text NOT NULL, kind text NOT NULL, device_id text NOT NULL,"
    "  item_id text NOT NULL, failed_check text NOT NULL, actor_account_id text NOT NULL,"
    "  actor_role text NOT NULL);"
    "CREATE INDEX IF NOT EXISTS restores_by_time ON {s}.restores (restored_ms);"
    "CREATE TABLE IF NOT EXISTS {s}.deletions ("
    "  patient_id text PRIMARY KEY, requested_ms bigint NOT NULL, done_ms bigint);"
    "CREATE TABLE IF NOT EXISTS {s}.deletion_feed ("
    "  seq bigserial PRIMARY KEY, cloudlet_id text NOT NULL, patient_id text NOT NULL,"
    "  requested_ms bigint NOT NULL, UNIQUE (cloudlet_id, patient_id));";

constexpr const char* kBatchColumns =
    "SELECT batch_ref, pseudonym, from_ms, to_ms, readings, stored_ms, digest, ciphertext"
    " FROM {s}.reading_batches ";

ReadingBatchRow BatchFrom(const pqxx::row& r) {
  return ReadingBatchRow{r[0].as<std::string>(),
                         r[1].as<std::string>(),
                         r[2].as<std::int64_t>(),
                         r[3].as<std::int64_t>(),
                         static_cast<std::uint32_t>(r[4].as<std::int64_t>()),
                         r[5].as<std::int64_t>(),
                         BlobBytes(r[6]),
                         BlobBytes(r[7])};
}

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
  return PutBatch(row, nullptr);
}

Result<IntakeOutcome> PostgresIntakeStore::PutReadingBatch(const ReadingBatchRow& row,
                                                           const RollupMerger& rollups) {
  return PutBatch(row, &rollups);
}

Result<IntakeOutcome> PostgresIntakeStore::PutBatch(const ReadingBatchRow& row,
                                                    const RollupMerger* rollups) {
  MEDMESH_RETURN_IF_ERROR(ValidateReadingBatchRow(row));
  if (rollups != nullptr) {
    for (const RollupKey& key : rollups->keys()) {
      if (key.pseudonym != row.pseudonym) {
        return InvalidArgument("intake store: roll-ups of another pseudonym");
      }
    }
  }
  bool new_patient = false;  // of the attempt that committed (Run may retry)
  auto outcome =
      pool_->Run<IntakeOutcome>("put reading batch", [&](pqxx::work& w) -> Result<IntakeOutcome> {
        new_patient = false;
        // One writer per pseudonym at a time (across nodes): its roll-ups are read, merged and
        // written back, and whether a batch is its first decides their completeness.
        w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))",
                      "medmesh rollups " + schema_ + " " + row.pseudonym);
        const bool first_batch =
            w.exec_params(Sql(schema_,
                              "SELECT 1 FROM {s}.reading_batches WHERE pseudonym = $1"
                              " LIMIT 1"),
                          row.pseudonym)
                .empty();
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
        if (rollups != nullptr) {
          std::vector<std::optional<Bytes>> stored;
          stored.reserve(rollups->keys().size());
          for (const RollupKey& key : rollups->keys()) {
            const pqxx::result r = w.exec_params(
                Sql(schema_,
                    "SELECT ciphertext FROM {s}.reading_rollups WHERE pseudonym = $1"
                    " AND kind = $2 AND width_ms = $3 AND start_ms = $4"),
                key.pseudonym, static_cast<int>(key.kind), key.width_ms, key.start_ms);
            stored.push_back(r.empty() ? std::nullopt : std::optional<Bytes>(BlobBytes(r[0][0])));
          }
          MEDMESH_ASSIGN_OR_RETURN(const std::vector<Bytes> merged, rollups->Merge(stored));
          if (merged.size() != rollups->keys().size()) {
            return Internal("intake store: the roll-up merger returned the wrong number of rows");
          }
          for (std::size_t i = 0; i < merged.size(); ++i) {
            const RollupKey& key = rollups->keys()[i];
            MEDMESH_RETURN_IF_ERROR(ValidateRollupRow({key, merged[i]}));
            w.exec_params(Sql(schema_,
                              "INSERT INTO {s}.reading_rollups (pseudonym, kind, width_ms,"
                              " start_ms, ciphertext) VALUES ($1, $2, $3, $4, $5) ON CONFLICT"
                              " (pseudonym, kind, width_ms, start_ms) DO UPDATE SET"
                              " ciphertext = excluded.ciphertext"),
                          key.pseudonym, static_cast<int>(key.kind), key.width_ms, key.start_ms,
                          Blob(merged[i]));
          }
          if (first_batch) {
            w.exec_params(Sql(schema_,
                              "INSERT INTO {s}.rollup_complete (pseudonym) VALUES ($1)"
                              " ON CONFLICT DO NOTHING"),
                          row.pseudonym);
          }
        } else {
          w.exec_params(Sql(schema_, "DELETE FROM {s}.rollup_complete WHERE pseudonym = $1"),
                        row.pseudonym);
        }
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

// --- Integrity: batches, enrolments, restores, deletions ---------------------------------------

Result<std::optional<ReadingBatchRow>> PostgresIntakeStore::GetReadingBatch(
    std::string_view batch_ref) const {
  using Row = std::optional<ReadingBatchRow>;
  return pool_->Run<Row>("get reading batch", [&](pqxx::work& w) -> Result<Row> {
    const pqxx::result r = w.exec_params(
        Sql(schema_, std::string(kBatchColumns) + "WHERE batch_ref = $1"), std::string(batch_ref));
    if (r.empty()) return Row();
    return Row(BatchFrom(r[0]));
  });
}

Result<std::vector<ReadingBatchRow>> PostgresIntakeStore::ListAllReadingBatches(
    std::string_view after, std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidateIntakeLimit(limit));
  using Rows = std::vector<ReadingBatchRow>;
  return pool_->Run<Rows>("list all reading batches", [&](pqxx::work& w) -> Result<Rows> {
    const pqxx::result r = w.exec_params(
        Sql(schema_, std::string(kBatchColumns) +
                         "WHERE batch_ref COLLATE \"C\" > $1 ORDER BY batch_ref COLLATE \"C\""
                         " LIMIT $2"),
        std::string(after), static_cast<std::int64_t>(limit));
    Rows out;
    for (const auto& row : r) out.push_back(BatchFrom(row));
    return out;
  });
}

Result<std::vector<std::string>> PostgresIntakeStore::ListBatchRefs(
    std::string_view pseudonym) const {
  using Rows = std::vector<std::string>;
  return pool_->Run<Rows>("list batch refs", [&](pqxx::work& w) -> Result<Rows> {
    const pqxx::result r =
        w.exec_params(Sql(schema_,
                          "SELECT batch_ref FROM {s}.reading_batches WHERE pseudonym = $1"
                          " ORDER BY batch_ref COLLATE \"C\""),
                      std::string(pseudonym));
    Rows out;
    for (const auto& row : r) out.push_back(row[0].as<std::string>());
    return out;
  });
}

Status PostgresIntakeStore::ReplaceReadingBatch(const ReadingBatchRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateReadingBatchRow(row));
  auto done = pool_->Run<bool>("replace reading batch", [&](pqxx::work& w) -> Result<bool> {
    const pqxx::result r = w.exec_params(
        Sql(schema_,
            "UPDATE {s}.reading_batches SET pseudonym = $1, from_ms = $2, to_ms = $3,"
            " readings = $4, stored_ms = $5, digest = $6, ciphertext = $7 WHERE batch_ref = $8"),
        row.pseudonym, row.from_ms, row.to_ms, static_cast<std::int64_t>(row.readings),
        row.stored_ms, Blob(row.digest), Blob(row.ciphertext), row.batch_ref);
    return r.affected_rows() == 1;
  });
  if (!done) return done.error();
  if (!*done) return NotFound("no such reading batch");
  return OkStatus();
}

Result<std::uint64_t> PostgresIntakeStore::DeleteReadingBatches(std::string_view pseudonym) {
  return pool_->Run<std::uint64_t>(
      "delete reading batches", [&](pqxx::work& w) -> Result<std::uint64_t> {
        const pqxx::result r =
            w.exec_params(Sql(schema_, "DELETE FROM {s}.reading_batches WHERE pseudonym = $1"),
                          std::string(pseudonym));
        w.exec_params(Sql(schema_, "DELETE FROM {s}.patients WHERE pseudonym = $1"),
                      std::string(pseudonym));
        w.exec_params(Sql(schema_, "DELETE FROM {s}.reading_rollups WHERE pseudonym = $1"),
                      std::string(pseudonym));
        w.exec_params(Sql(schema_, "DELETE FROM {s}.rollup_complete WHERE pseudonym = $1"),
                      std::string(pseudonym));
        return static_cast<std::uint64_t>(r.affected_rows());
      });
}

Result<std::vector<RollupRow>> PostgresIntakeStore::ListRollups(
    std::string_view pseudonym, std::uint8_t kind, std::int64_t width_ms, std::int64_t from_ms,
    std::int64_t to_ms, std::size_t limit) const {
  if (limit == 0 || limit > 100000) return InvalidArgument("intake store: limit must be 1..100000");
  using Rows = std::vector<RollupRow>;
  return pool_->Run<Rows>("list roll-ups", [&](pqxx::work& w) -> Result<Rows> {
    const pqxx::result r = w.exec_params(
        Sql(schema_,
            "SELECT start_ms, ciphertext FROM {s}.reading_rollups WHERE pseudonym = $1"
            " AND kind = $2 AND width_ms = $3 AND start_ms >= $4 AND start_ms < $5"
            " ORDER BY start_ms LIMIT $6"),
        std::string(pseudonym), static_cast<int>(kind), width_ms, from_ms, to_ms,
        static_cast<std::int64_t>(limit));
    Rows out;
    out.reserve(r.size());
    for (const auto& row : r) {
      out.push_back(
          {{std::string(pseudonym), kind, width_ms, row[0].as<std::int64_t>()}, BlobBytes(row[1])});
    }
    return out;
  });
}

Result<bool> PostgresIntakeStore::RollupsComplete(std::string_view pseudonym) const {
  return pool_->Run<bool>("roll-ups complete", [&](pqxx::work& w) -> Result<bool> {
    return !w.exec_params(Sql(schema_, "SELECT 1 FROM {s}.rollup_complete WHERE pseudonym = $1"),
                          std::string(pseudonym))
                .empty();
  });
}

Status PostgresIntakeStore::ReplaceRollups(std::string_view pseudonym,
                                           const std::vector<RollupRow>& rows,
                                           std::uint64_t batches) {
  for (const RollupRow& row : rows) {
    MEDMESH_RETURN_IF_ERROR(ValidateRollupRow(row));
    if (row.key.pseudonym != pseudonym) {
      return InvalidArgument("intake store: roll-ups of another pseudonym");
    }
  }
  auto done = pool_->Run<bool>("replace roll-ups", [&](pqxx::work& w) -> Result<bool> {
    w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))",
                  "medmesh rollups " + schema_ + " " + std::string(pseudonym));
    const pqxx::result count =
        w.exec_params(Sql(schema_, "SELECT COUNT(*) FROM {s}.reading_batches WHERE pseudonym = $1"),
                      std::string(pseudonym));
    if (count[0][0].as<std::uint64_t>() != batches) {
      return FailedPrecondition("the pseudonym's batches changed while its roll-ups were built");
    }
    w.exec_params(Sql(schema_, "DELETE FROM {s}.reading_rollups WHERE pseudonym = $1"),
                  std::string(pseudonym));
    for (const RollupRow& row : rows) {
      w.exec_params(Sql(schema_,
                        "INSERT INTO {s}.reading_rollups (pseudonym, kind, width_ms, start_ms,"
                        " ciphertext) VALUES ($1, $2, $3, $4, $5)"),
                    row.key.pseudonym, static_cast<int>(row.key.kind), row.key.width_ms,
                    row.key.start_ms, Blob(row.ciphertext));
    }
    w.exec_params(Sql(schema_,
                      "INSERT INTO {s}.rollup_complete (pseudonym) VALUES ($1)"
                      " ON CONFLICT DO NOTHING"),
                  std::string(pseudonym));
    return true;
  });
  if (!done) return done.error();
  return OkStatus();
}

Result<std::vector<EnrolmentRow>> PostgresIntakeStore::ListEnrolments(
    std::string_view patient_id) const {
  using Rows = std::vector<EnrolmentRow>;
  return pool_->Run<Rows>("list enrolments", [&](pqxx::work& w) -> Result<Rows> {
    const pqxx::result r = w.exec_params(
        Sql(schema_,
            "SELECT e.device_ref, e.cloudlet_id, e.binding, e.ciphertext, wd.withdrawn_ms"
            " FROM {s}.enrolments e LEFT JOIN {s}.withdrawn_devices wd"
            " ON wd.device_ref = e.device_ref WHERE e.patient_id = $1"
            " ORDER BY e.device_ref COLLATE \"C\""),
        std::string(patient_id));
    Rows out;
    for (const auto& row : r) {
      EnrolmentRow e{row[0].as<std::string>(), std::string(patient_id), row[1].as<std::string>(),
                     BlobBytes(row[2]),        BlobBytes(row[3]),       std::nullopt};
      if (!row[4].is_null()) e.withdrawn_ms = row[4].as<std::int64_t>();
      out.push_back(std::move(e));
    }
    return out;
  });
}

Result<std::uint64_t> PostgresIntakeStore::DeleteEnrolments(std::string_view patient_id) {
  return pool_->Run<std::uint64_t>(
      "delete enrolments", [&](pqxx::work& w) -> Result<std::uint64_t> {
        w.exec_params(Sql(schema_,
                          "DELETE FROM {s}.withdrawn_devices WHERE device_ref IN"
                          " (SELECT device_ref FROM {s}.enrolments WHERE patient_id = $1)"),
                      std::string(patient_id));
        const pqxx::result r =
            w.exec_params(Sql(schema_, "DELETE FROM {s}.enrolments WHERE patient_id = $1"),
                          std::string(patient_id));
        return static_cast<std::uint64_t>(r.affected_rows());
      });
}

Status PostgresIntakeStore::AddRestore(const RestoreRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateRestoreRow(row));
  auto inserted = pool_->Run<bool>("add restore", [&](pqxx::work& w) -> Result<bool> {
    const pqxx::result r = w.exec_params(
        Sql(schema_,
            "INSERT INTO {s}.restores (restore_id, restored_ms, cloudlet_id, patient_id, kind,"
            " device_id, item_id, failed_check, actor_account_id, actor_role)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING"),
        row.restore_id, row.restored_ms, row.cloudlet_id, row.patient_id, row.kind, row.device_id,
        row.item_id, row.failed_check, row.actor_account_id, row.actor_role);
    return r.affected_rows() == 1;
  });
  if (!inserted) return inserted.error();
  if (!*inserted) return AlreadyExists("restore id already used");
  return OkStatus();
}

Result<std::vector<RestoreRow>> PostgresIntakeStore::ListRestores(
    const std::optional<std::string>& cloudlet_id, std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidateIntakeLimit(limit));
  using Rows = std::vector<RestoreRow>;
  return pool_->Run<Rows>("list restores", [&](pqxx::work& w) -> Result<Rows> {
    // All cloudlets when none is named: the empty string never is a cloudlet id.
    const pqxx::result r = w.exec_params(
        Sql(schema_,
            "SELECT restore_id, restored_ms, cloudlet_id, patient_id, kind, device_id, item_id,"
            " failed_check, actor_account_id, actor_role FROM {s}.restores"
            " WHERE ($1 = '' OR cloudlet_id = $1)"
            " ORDER BY restored_ms DESC, restore_id COLLATE \"C\" LIMIT $2"),
        cloudlet_id.value_or(std::string()), static_cast<std::int64_t>(limit));
    Rows out;
    for (const auto& row : r) {
      out.push_back({row[0].as<std::string>(), row[1].as<std::int64_t>(), row[2].as<std::string>(),
                     row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<std::string>(),
                     row[6].as<std::string>(), row[7].as<std::string>(), row[8].as<std::string>(),
                     row[9].as<std::string>()});
    }
    return out;
  });
}

Status PostgresIntakeStore::BeginDeletion(std::string_view patient_id,
                                          const std::vector<std::string>& cloudlet_ids,
                                          std::int64_t requested_ms) {
  if (patient_id.empty() || patient_id.size() > 255) {
    return InvalidArgument("intake store: patient_id must be 1..255 bytes");
  }
  auto done = pool_->Run<bool>("begin deletion", [&](pqxx::work& w) -> Result<bool> {
    w.exec_params(Sql(schema_,
                      "INSERT INTO {s}.deletions (patient_id, requested_ms) VALUES ($1, $2)"
                      " ON CONFLICT DO NOTHING"),
                  std::string(patient_id), requested_ms);
    for (const std::string& cloudlet : cloudlet_ids) {
      w.exec_params(Sql(schema_,
                        "INSERT INTO {s}.deletion_feed (cloudlet_id, patient_id, requested_ms)"
                        " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"),
                    cloudlet, std::string(patient_id), requested_ms);
    }
    return true;
  });
  if (!done) return done.error();
  return OkStatus();
}

Status PostgresIntakeStore::FinishDeletion(std::string_view patient_id, std::int64_t done_ms) {
  auto updated = pool_->Run<bool>("finish deletion", [&](pqxx::work& w) -> Result<bool> {
    const pqxx::result r = w.exec_params(
        Sql(schema_,
            "UPDATE {s}.deletions SET done_ms = COALESCE(done_ms, $1) WHERE patient_id = $2"),
        done_ms, std::string(patient_id));
    return r.affected_rows() == 1;
  });
  if (!updated) return updated.error();
  if (!*updated) return NotFound("no deletion for this patient");
  return OkStatus();
}

Result<std::optional<DeletionState>> PostgresIntakeStore::GetDeletion(
    std::string_view patient_id) const {
  using Row = std::optional<DeletionState>;
  return pool_->Run<Row>("get deletion", [&](pqxx::work& w) -> Result<Row> {
    const pqxx::result r = w.exec_params(
        Sql(schema_, "SELECT requested_ms, done_ms FROM {s}.deletions WHERE patient_id = $1"),
        std::string(patient_id));
    if (r.empty()) return Row();
    DeletionState state{r[0][0].as<std::int64_t>(), std::nullopt};
    if (!r[0][1].is_null()) state.done_ms = r[0][1].as<std::int64_t>();
    return Row(state);
  });
}

Result<std::vector<std::string>> PostgresIntakeStore::PendingDeletions() const {
  using Rows = std::vector<std::string>;
  return pool_->Run<Rows>("pending deletions", [&](pqxx::work& w) -> Result<Rows> {
    const pqxx::result r = w.exec(Sql(schema_,
                                      "SELECT patient_id FROM {s}.deletions WHERE done_ms IS NULL"
                                      " ORDER BY patient_id COLLATE \"C\""));
    Rows out;
    for (const auto& row : r) out.push_back(row[0].as<std::string>());
    return out;
  });
}

Result<std::vector<DeletionFeedRow>> PostgresIntakeStore::ListDeletionFeed(
    std::string_view cloudlet_id, std::uint64_t after_seq, std::size_t limit) const {
  MEDMESH_RETURN_IF_ERROR(ValidateIntakeLimit(limit));
  using Rows = std::vector<DeletionFeedRow>;
  return pool_->Run<Rows>("list deletion feed", [&](pqxx::work& w) -> Result<Rows> {
    const pqxx::result r =
        w.exec_params(Sql(schema_,
                          "SELECT seq, cloudlet_id, patient_id, requested_ms FROM {s}.deletion_feed"
                          " WHERE cloudlet_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"),
                      std::string(cloudlet_id), static_cast<std::int64_t>(after_seq),
                      static_cast<std::int64_t>(limit));
    Rows out;
    for (const auto& row : r) {
      out.push_back({static_cast<std::uint64_t>(row[0].as<std::int64_t>()),
                     row[1].as<std::string>(), row[2].as<std::string>(),
                     row[3].as<std::int64_t>()});
    }
    return out;
  });
}

}  // namespace medmesh::cloud
