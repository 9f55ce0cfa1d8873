#include "store/reading_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "store/internal/queue_sqlite.h"
#include "wire/readings_codec.h"

namespace medmesh::store {
namespace {

constexpr int kSchemaVersion = 1;
constexpr std::string_view kAdLabel = "MedMesh stored readings v1";

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS reading_batches ("
    " patient_id TEXT NOT NULL, device_id TEXT NOT NULL, batch_id TEXT NOT NULL,"
    " from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL, count INTEGER NOT NULL,"
    " stored_ms INTEGER NOT NULL, ciphertext BLOB NOT NULL,"
    " PRIMARY KEY (patient_id, device_id, batch_id));"
    "CREATE INDEX IF NOT EXISTS reading_batches_by_time"
    " ON reading_batches (patient_id, from_ms);";

bool IsKnownKind(wire::VitalKind kind) {
  return wire::VitalKindFromId(static_cast<std::uint8_t>(kind)).has_value();
}

void AppendField(Bytes& ad, std::string_view s) {
  AppendU8(ad, static_cast<std::uint8_t>(s.size()));  // ids are at most 128 bytes
  AppendBytes(ad, AsBytes(s));
}

Bytes AssociatedData(std::string_view patient, std::string_view device, std::string_view batch,
                     std::int64_t from_ms, std::int64_t to_ms, std::uint32_t count) {
  Bytes ad;
  AppendBytes(ad, AsBytes(kAdLabel));
  AppendField(ad, patient);
  AppendField(ad, device);
  AppendField(ad, batch);
  AppendU64Le(ad, static_cast<std::uint64_t>(from_ms));
  AppendU64Le(ad, static_cast<std::uint64_t>(to_ms));
  AppendU32Le(ad, count);
  return ad;
}

crypto::DataKeyContext KeyContext(std::string_view patient) {
  return {std::string(patient), std::string(kReadingsKeyPart)};
}

Status CheckIds(std::string_view patient, std::string_view device, std::string_view batch) {
  if (!internal::IsValidQueueId(patient)) return InvalidArgument("bad patient id");
  if (!internal::IsValidQueueId(device)) return InvalidArgument("bad device id");
  if (!internal::IsValidQueueId(batch)) return InvalidArgument("bad batch id");
  return OkStatus();
}

}  // namespace

struct ReadingStore::Prepared {
  const ReadingBatchToStore* batch;
  std::int64_t from_ms;
  std::int64_t to_ms;
  std::uint32_t count;
  Bytes ciphertext;
};

ReadingStore::ReadingStore(std::unique_ptr<SQLite::Database> db, crypto::EnvelopeAead& aead,
                           const Clock& clock)
    : db_(std::move(db)), aead_(aead), clock_(clock) {}
ReadingStore::~ReadingStore() = default;

Result<std::unique_ptr<ReadingStore>> ReadingStore::Open(const std::string& path,
                                                         crypto::EnvelopeAead& aead,
                                                         const Clock& clock,
                                                         const SqliteOpenOptions& sqlite) {
  MEDMESH_ASSIGN_OR_RETURN(auto db, OpenSqliteDatabase(path, sqlite));
  MEDMESH_RETURN_IF_ERROR(EnsureSqliteSchema(*db, "reading_batches", kSchemaVersion, kSchema));
  return std::unique_ptr<ReadingStore>(new ReadingStore(std::move(db), aead, clock));
}

Result<ReadingStore::Prepared> ReadingStore::Prepare(const ReadingBatchToStore& batch) const {
  MEDMESH_RETURN_IF_ERROR(CheckIds(batch.patient_id, batch.device_id, batch.batch_id));
  if (batch.readings.empty()) return InvalidArgument("batch has no readings");
  if (batch.readings.size() > kMaxReadingsPerStoredBatch) {
    return InvalidArgument("batch has more than " + std::to_string(kMaxReadingsPerStoredBatch) +
                           " readings");
  }
  for (const auto& r : batch.readings) {
    if (!IsKnownKind(r.kind)) return InvalidArgument("reading of unknown kind");
  }
  // The wire codec sorts, checks times and value magnitudes, and compresses.
  MEDMESH_ASSIGN_OR_RETURN(Bytes plaintext, wire::EncodeReadings(batch.readings));
  const auto [min_it, max_it] = std::minmax_element(
      batch.readings.begin(), batch.readings.end(),
      [](const wire::Reading& a, const wire::Reading& b) { return a.time_ms < b.time_ms; });
  Prepared p{&batch,
             min_it->time_ms,
             max_it->time_ms,
             static_cast<std::uint32_t>(batch.readings.size()),
             {}};
  const Bytes ad = AssociatedData(batch.patient_id, batch.device_id, batch.batch_id, p.from_ms,
                                  p.to_ms, p.count);
  auto ciphertext = aead_.Encrypt(KeyContext(batch.patient_id), plaintext, ad);
  SecureWipe(plaintext.data(), plaintext.size());
  if (!ciphertext) return ciphertext.error();
  p.ciphertext = std::move(*ciphertext);
  return p;
}

Result<ReadingPutOutcome> ReadingStore::Put(const ReadingBatchToStore& batch) {
  MEDMESH_ASSIGN_OR_RETURN(std::vector<ReadingPutOutcome> out, PutMany({&batch, 1}));
  return out.front();
}

Result<std::vector<ReadingPutOutcome>> ReadingStore::PutMany(
    std::span<const ReadingBatchToStore> batches) {
  // Skip the encryption of batches already stored (a device retrying), then encrypt outside
  // the lock, then insert all in one transaction; INSERT OR IGNORE settles races with other
  // writers and repeats inside `batches`.
  std::vector<ReadingPutOutcome> outcomes(batches.size(), ReadingPutOutcome::kDuplicate);
  std::vector<Prepared> prepared;
  for (const auto& b : batches) {
    MEDMESH_RETURN_IF_ERROR(CheckIds(b.patient_id, b.device_id, b.batch_id));
    MEDMESH_ASSIGN_OR_RETURN(bool stored, Contains(b.patient_id, b.device_id, b.batch_id));
    if (stored) continue;
    MEDMESH_ASSIGN_OR_RETURN(Prepared p, Prepare(b));
    prepared.push_back(std::move(p));
  }
  if (prepared.empty()) return outcomes;
  const std::int64_t now_ms = internal::ToUnixMs(clock_.Now());
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement ins(*db_,
                          "INSERT OR IGNORE INTO reading_batches (patient_id, device_id, batch_id,"
                          " from_ms, to_ms, count, stored_ms, ciphertext)"
                          " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    std::size_t next = 0;
    for (std::size_t i = 0; i < batches.size() && next < prepared.size(); ++i) {
      const Prepared& p = prepared[next];
      if (p.batch != &batches[i]) continue;
      ++next;
      ins.bind(1, p.batch->patient_id);
      ins.bind(2, p.batch->device_id);
      ins.bind(3, p.batch->batch_id);
      ins.bind(4, p.from_ms);
      ins.bind(5, p.to_ms);
      ins.bind(6, static_cast<std::int64_t>(p.count));
      ins.bind(7, now_ms);
      ins.bind(8, p.ciphertext.data(), static_cast<int>(p.ciphertext.size()));
      if (ins.exec() == 1) outcomes[i] = ReadingPutOutcome::kStored;
      ins.reset();
    }
    tx.commit();
    return outcomes;
  } catch (const std::exception& e) {
    return SqliteError(e, "store readings");
  }
}

Result<bool> ReadingStore::Contains(std::string_view patient_id, std::string_view device_id,
                                    std::string_view batch_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_,
                         "SELECT 1 FROM reading_batches"
                         " WHERE patient_id = ? AND device_id = ? AND batch_id = ?");
    st.bind(1, std::string(patient_id));
    st.bind(2, std::string(device_id));
    st.bind(3, std::string(batch_id));
    return st.executeStep();
  } catch (const std::exception& e) {
    return SqliteError(e, "look up batch");
  }
}

Result<std::uint64_t> ReadingStore::DeleteBatches(std::span<const StoredBatchKey> batches) {
  for (const StoredBatchKey& b : batches) {
    if (!internal::IsValidQueueId(b.patient_id) || !internal::IsValidQueueId(b.device_id) ||
        !internal::IsValidQueueId(b.batch_id)) {
      return InvalidArgument("bad patient, device or batch id");
    }
  }
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement st(*db_,
                         "DELETE FROM reading_batches"
                         " WHERE patient_id = ? AND device_id = ? AND batch_id = ?");
    std::uint64_t deleted = 0;
    for (const StoredBatchKey& b : batches) {
      st.bind(1, b.patient_id);
      st.bind(2, b.device_id);
      st.bind(3, b.batch_id);
      deleted += static_cast<std::uint64_t>(st.exec());
      st.reset();
    }
    tx.commit();
    return deleted;
  } catch (const std::exception& e) {
    return SqliteError(e, "delete batches");
  }
}

Result<std::vector<wire::Reading>> ReadingStore::Query(std::string_view patient_id,
                                                       const ReadingQuery& query) const {
  if (!internal::IsValidQueueId(patient_id)) return InvalidArgument("bad patient id");
  if (query.to_ms < query.from_ms) return InvalidArgument("query range ends before it starts");
  struct Row {
    std::string device_id, batch_id;
    std::int64_t from_ms, to_ms;
    std::uint32_t count;
    Bytes ciphertext;
  };
  std::vector<Row> rows;
  {
    std::lock_guard lock(mu_);
    try {
      SQLite::Statement st(
          *db_,
          "SELECT device_id, batch_id, from_ms, to_ms, count, ciphertext"
          " FROM reading_batches WHERE patient_id = ? AND from_ms < ? AND to_ms >= ?"
          " ORDER BY from_ms");
      st.bind(1, std::string(patient_id));
      st.bind(2, query.to_ms);
      st.bind(3, query.from_ms);
      while (st.executeStep()) {
        rows.push_back({st.getColumn(0).getString(), st.getColumn(1).getString(),
                        st.getColumn(2).getInt64(), st.getColumn(3).getInt64(),
                        static_cast<std::uint32_t>(st.getColumn(4).getInt64()),
                        ColumnBytes(st.getColumn(5))});
      }
    } catch (const std::exception& e) {
      return SqliteError(e, "query readings");
    }
  }
  std::vector<wire::Reading> out;
  const crypto::DataKeyContext context = KeyContext(patient_id);
  for (const Row& row : rows) {
    const Bytes ad =
        AssociatedData(patient_id, row.device_id, row.batch_id, row.from_ms, row.to_ms, row.count);
    MEDMESH_ASSIGN_OR_RETURN(Bytes plaintext, aead_.Decrypt(context, row.ciphertext, ad));
    wire::ReadingsDecodeLimits limits;
    limits.require_plausible = false;  // stored as accepted; plausibility is ingest's job
    auto decoded = wire::DecodeReadings(plaintext, limits);
    SecureWipe(plaintext.data(), plaintext.size());
    if (!decoded) return DataLoss("stored readings do not decode: " + decoded.error().message());
    if (decoded->size() != row.count) return DataLoss("stored readings: count mismatch");
    for (const auto& r : *decoded) {
      if (r.time_ms < query.from_ms || r.time_ms >= query.to_ms) continue;
      if (query.kind && r.kind != *query.kind) continue;
      out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end(), [](const wire::Reading& a, const wire::Reading& b) {
    return a.time_ms != b.time_ms ? a.time_ms < b.time_ms
                                  : static_cast<int>(a.kind) < static_cast<int>(b.kind);
  });
  if (out.size() > query.limit) {
    if (query.fail_if_truncated) {
      return ResourceExhausted("the range holds " + std::to_string(out.size()) +
                               " readings, more than the limit of " + std::to_string(query.limit));
    }
    out.resize(query.limit);
  }
  return out;
}

Result<PatientReadingCounts> ReadingStore::CountsFor(std::string_view patient_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_,
                         "SELECT COUNT(*), COALESCE(SUM(count), 0), MIN(from_ms), MAX(to_ms)"
                         " FROM reading_batches WHERE patient_id = ?");
    st.bind(1, std::string(patient_id));
    PatientReadingCounts c;
    c.patient_id = std::string(patient_id);
    if (st.executeStep()) {
      c.batches = static_cast<std::uint64_t>(st.getColumn(0).getInt64());
      c.readings = static_cast<std::uint64_t>(st.getColumn(1).getInt64());
      if (!st.getColumn(2).isNull()) c.first_ms = st.getColumn(2).getInt64();
      if (!st.getColumn(3).isNull()) c.last_ms = st.getColumn(3).getInt64();
    }
    return c;
  } catch (const std::exception& e) {
    return SqliteError(e, "count readings");
  }
}

Result<std::vector<PatientReadingCounts>> ReadingStore::CountsPerPatient() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_,
                         "SELECT patient_id, COUNT(*), SUM(count), MIN(from_ms), MAX(to_ms)"
                         " FROM reading_batches GROUP BY patient_id ORDER BY patient_id");
    std::vector<PatientReadingCounts> out;
    while (st.executeStep()) {
      PatientReadingCounts c;
      c.patient_id = st.getColumn(0).getString();
      c.batches = static_cast<std::uint64_t>(st.getColumn(1).getInt64());
      c.readings = static_cast<std::uint64_t>(st.getColumn(2).getInt64());
      c.first_ms = st.getColumn(3).getInt64();
      c.last_ms = st.getColumn(4).getInt64();
      out.push_back(std::move(c));
    }
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "count readings");
  }
}

Result<std::vector<EncryptedBatchRow>> ReadingStore::ListEncrypted(std::string_view patient_id,
                                                                   std::size_t limit) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_,
                         "SELECT device_id, batch_id, from_ms, to_ms, count, stored_ms, ciphertext"
                         " FROM reading_batches WHERE patient_id = ?"
                         " ORDER BY stored_ms DESC, from_ms DESC LIMIT ?");
    st.bind(1, std::string(patient_id));
    st.bind(2, static_cast<std::int64_t>(
                   std::min<std::size_t>(limit, std::numeric_limits<std::int32_t>::max())));
    std::vector<EncryptedBatchRow> out;
    while (st.executeStep()) {
      EncryptedBatchRow row;
      row.patient_id = std::string(patient_id);
      row.device_id = st.getColumn(0).getString();
      row.batch_id = st.getColumn(1).getString();
      row.from_ms = st.getColumn(2).getInt64();
      row.to_ms = st.getColumn(3).getInt64();
      row.count = static_cast<std::uint32_t>(st.getColumn(4).getInt64());
      row.stored_ms = st.getColumn(5).getInt64();
      row.ciphertext = ColumnBytes(st.getColumn(6));
      out.push_back(std::move(row));
    }
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "list readings");
  }
}

Result<std::uint64_t> ReadingStore::DeletePatient(std::string_view patient_id) {
  if (!internal::IsValidQueueId(patient_id)) return InvalidArgument("bad patient id");
  std::uint64_t deleted = 0;
  {
    std::lock_guard lock(mu_);
    try {
      SQLite::Statement st(*db_, "DELETE FROM reading_batches WHERE patient_id = ?");
      st.bind(1, std::string(patient_id));
      deleted = static_cast<std::uint64_t>(st.exec());
    } catch (const std::exception& e) {
      return SqliteError(e, "delete readings");
    }
  }
  // Rows first, key second: a crash in between leaves an unused key, never rows that a new
  // key could not open. Running DeletePatient again finishes the job.
  if (Status st = aead_.DestroyDataKey(KeyContext(patient_id));
      !st && st.error().code() != ErrorCode::kNotFound) {
    return st.error();
  }
  return deleted;
}

}  // namespace medmesh::store
