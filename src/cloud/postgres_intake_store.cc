#include "cloud/postgres_intake_store.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <new>
#include <pqxx/pqxx>
#include <vector>

namespace medmesh::cloud {
namespace {

bool IsValidPrefix(std::string_view prefix) {
  if (prefix.empty()) return true;
  if (prefix.size() > 32 || prefix[0] < 'a' || prefix[0] > 'z') return false;
  return std::all_of(prefix.begin(), prefix.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

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

Error FromPqxx(const std::exception& e, std::string_view what) {
  const std::string prefix = "postgres: " + std::string(what) + " failed";
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return Unavailable(prefix + " (connection lost)");
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string state = sql->sqlstate();
    const std::string message = prefix + " (SQLSTATE " + state + ")";
    const std::string cls = state.substr(0, 2);
    if (cls == "23") return FailedPrecondition(message);
    if (cls == "53") return ResourceExhausted(message);
    if (cls == "40" || cls == "57" || cls == "08") return Unavailable(message);
    if (cls == "XX") return DataLoss(message);
    return Internal(message);
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return Unavailable(prefix + " (commit outcome unknown; retry)");
  }
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return ResourceExhausted(prefix + " (out of memory)");
  }
  return Internal(prefix);
}

constexpr const char* kSchemaSql =
    "CREATE SCHEMA IF NOT EXISTS {s};"
    "CREATE TABLE IF NOT EXISTS {s}.cloudlets ("
    "  cloudlet_id text PRIMARY KEY, certificate bytea NOT NULL, not_before_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS {s}.enrolments ("
    "  device_ref text PRIMARY KEY, patient_id text NOT NULL, cloudlet_id text NOT NULL,"
    "  binding bytea NOT NULL, ciphertext bytea NOT NULL);"
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

// A few connections, each leased to one thread at a time; broken ones are dropped.
class PostgresIntakeStore::Pool {
 public:
  Pool(std::string conninfo, std::size_t size, std::chrono::milliseconds timeout)
      : conninfo_(std::move(conninfo)), size_(size), timeout_(timeout) {}

  // Runs `body` in a transaction on a leased connection and commits it; a connection that
  // broke is replaced and the whole operation is run once more.
  template <typename T>
  Result<T> Run(std::string_view what, const std::function<Result<T>(pqxx::work&)>& body) {
    for (int attempt = 0;; ++attempt) {
      MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<pqxx::connection> conn, Acquire());
      try {
        pqxx::work work(*conn);
        Result<T> result = body(work);
        if (result) work.commit();
        Release(std::move(conn));
        return result;
      } catch (const pqxx::broken_connection& e) {
        Drop();
        if (attempt == 0) continue;
        return FromPqxx(e, what);
      } catch (const std::exception& e) {
        // The transaction was rolled back by its destructor; the connection is still usable
        // unless the error says otherwise.
        if (conn->is_open()) {
          Release(std::move(conn));
        } else {
          Drop();
        }
        return FromPqxx(e, what);
      }
    }
  }

 private:
  Result<std::unique_ptr<pqxx::connection>> Acquire() {
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, timeout_, [this] { return !idle_.empty() || open_ < size_; })) {
        return Unavailable("postgres: every pooled connection is busy");
      }
      if (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
      }
      ++open_;
    }
    try {
      return std::make_unique<pqxx::connection>(conninfo_);
    } catch (const std::exception&) {
      Drop();
      // libpq's message may quote the connection string; it stays out of ours.
      return Unavailable("postgres: cannot connect to the database server");
    }
  }
  void Release(std::unique_ptr<pqxx::connection> conn) {
    {
      std::lock_guard lock(mu_);
      idle_.push_back(std::move(conn));
    }
    cv_.notify_one();
  }
  void Drop() {
    {
      std::lock_guard lock(mu_);
      --open_;
    }
    cv_.notify_one();
  }

  const std::string conninfo_;
  const std::size_t size_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // guarded by mu_
  std::size_t open_ = 0;                                 // guarded by mu_
};

PostgresIntakeStore::PostgresIntakeStore(std::unique_ptr<Pool> pool, std::string schema)
    : pool_(std::move(pool)), schema_(std::move(schema)) {}
PostgresIntakeStore::~PostgresIntakeStore() = default;

const std::string& PostgresIntakeStore::schema() const { return schema_; }

Result<std::unique_ptr<PostgresIntakeStore>> PostgresIntakeStore::Open(
    PostgresIntakeStoreOptions options) {
  if (options.conninfo.empty()) return InvalidArgument("postgres: the connection string is empty");
  if (!IsValidPrefix(options.schema_prefix)) {
    return InvalidArgument("postgres: schema prefix must match [a-z][a-z0-9_]{0,31}");
  }
  if (options.pool_size == 0 || options.pool_size > 64) {
    return InvalidArgument("postgres: pool size must be 1..64");
  }
  const std::string schema = options.schema_prefix + "intake";
  auto pool = std::make_unique<Pool>(std::move(options.conninfo), options.pool_size,
                                     options.acquire_timeout);
  MEDMESH_RETURN_IF_ERROR(pool->Run<bool>("create schema", [&](pqxx::work& w) -> Result<bool> {
    w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "medmesh intake " + schema);
    w.exec(Sql(schema, kSchemaSql));
    return true;
  }));
  return std::unique_ptr<PostgresIntakeStore>(new PostgresIntakeStore(std::move(pool), schema));
}

Result<IntakeOutcome> PostgresIntakeStore::PutCloudletCertificate(
    const CloudletCertificateRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateCloudletCertificateRow(row));
  return pool_->Run<IntakeOutcome>(
      "put cloudlet certificate", [&](pqxx::work& w) -> Result<IntakeOutcome> {
        const pqxx::result existing = w.exec_params(
            Sql(schema_,
                "SELECT certificate, not_before_ms FROM {s}.cloudlets WHERE cloudlet_id = $1"
                " FOR UPDATE"),
            row.cloudlet_id);
        if (!existing.empty()) {
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
  return pool_->Run<IntakeOutcome>("put enrolment", [&](pqxx::work& w) -> Result<IntakeOutcome> {
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
  return pool_->Run<IntakeOutcome>(
      "put reading batch", [&](pqxx::work& w) -> Result<IntakeOutcome> {
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
        w.exec_params(Sql(schema_,
                          "INSERT INTO {s}.patients (pseudonym) VALUES ($1)"
                          " ON CONFLICT DO NOTHING"),
                      row.pseudonym);
        return IntakeOutcome::kInserted;
      });
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
  auto done = pool_->Run<bool>("add patient", [&](pqxx::work& w) -> Result<bool> {
    w.exec_params(Sql(schema_,
                      "INSERT INTO {s}.patients (pseudonym) VALUES ($1)"
                      " ON CONFLICT DO NOTHING"),
                  std::string(pseudonym));
    return true;
  });
  if (!done) return done.error();
  return OkStatus();
}

Result<IntakeCounts> PostgresIntakeStore::Counts() const {
  return pool_->Run<IntakeCounts>("count intake", [&](pqxx::work& w) -> Result<IntakeCounts> {
    const pqxx::result r =
        w.exec(Sql(schema_,
                   "SELECT (SELECT COUNT(*) FROM {s}.reading_batches),"
                   " (SELECT COALESCE(SUM(readings), 0) FROM {s}.reading_batches),"
                   " (SELECT COUNT(*) FROM {s}.patients), (SELECT COUNT(*) FROM {s}.enrolments),"
                   " (SELECT COUNT(*) FROM {s}.cloudlets)"));
    IntakeCounts counts;
    counts.reading_batches = r[0][0].as<std::uint64_t>();
    counts.readings = r[0][1].as<std::uint64_t>();
    counts.patients = r[0][2].as<std::uint64_t>();
    counts.enrolments = r[0][3].as<std::uint64_t>();
    counts.cloudlets = r[0][4].as<std::uint64_t>();
    return counts;
  });
}

}  // namespace medmesh::cloud
