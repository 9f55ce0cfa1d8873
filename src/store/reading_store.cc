#include "store/reading_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

#include "store/internal/queue_sqlite.h"
#include "wire/readings_codec.h"

namespace medmesh::store {
namespace {

// Version 2 adds the index that newest-first queries walk (from_ms in it: rows skipped by the
// walk are skipped in the index).
constexpr int kSchemaVersion = 2;
constexpr std::string_view kAdLabel = "MedMesh stored readings v1";

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS reading_batches ("
    " patient_id TEXT NOT NULL, device_id TEXT NOT NULL, batch_id TEXT NOT NULL,"
    " from_ms INTEGER NOT NULL, to_ms INTEGER NOT NULL, count INTEGER NOT NULL,"
    " stored_ms INTEGER NOT NULL, ciphertext BLOB NOT NULL,"
    " PRIMARY KEY (patient_id, device_id, batch_id));"
    "CREATE INDEX IF NOT EXISTS reading_batches_by_time"
    " ON reading_batches (patient_id, from_ms);"
    "CREATE INDEX IF NOT EXISTS reading_batches_by_end"
    " ON reading_batches (patient_id, to_ms, device_id, batch_id, from_ms);";

// Rows read from the database per step of a query: small, so a page of the newest readings
// decrypts few batches beyond those it returns.
constexpr std::int64_t kRowsPerStep = 16;
constexpr std::uint8_t kCursorVersion = 2;

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

// Where a reading sits in the total order of a patient's readings. Pages run from the
// greatest key down.
struct ReadingKey {
  std::int64_t time_ms = 0;
  std::uint8_t kind = 0;
  std::string device_id;
  std::string batch_id;
  std::uint32_t index = 0;  // position in the decoded batch
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted operator<=>
  auto operator<=>(const ReadingKey&) const = default;
};

// Where the next page's walk over the rows starts: at this row (inclusive) when it may still
// hold readings the page did not return, otherwise right after it.
struct WalkStart {
  std::int64_t to_ms = 0;
  std::string device_id;
  std::string batch_id;
  bool inclusive = false;
};

struct Cursor {
  ReadingKey last;  // the last reading returned
  WalkStart walk;
};

// The cursor: hex of version | last reading (time u64 | kind | device id | batch id | index
// u32) | walk start (to_ms u64 | device id | batch id | inclusive u8). It names no patient and
// is only ever used with the patient of the request that carries it.
std::string EncodeCursor(const Cursor& cursor) {
  Bytes out;
  AppendU8(out, kCursorVersion);
  AppendU64Le(out, static_cast<std::uint64_t>(cursor.last.time_ms));
  AppendU8(out, cursor.last.kind);
  AppendField(out, cursor.last.device_id);
  AppendField(out, cursor.last.batch_id);
  AppendU32Le(out, cursor.last.index);
  AppendU64Le(out, static_cast<std::uint64_t>(cursor.walk.to_ms));
  AppendField(out, cursor.walk.device_id);
  AppendField(out, cursor.walk.batch_id);
  AppendU8(out, cursor.walk.inclusive ? 1 : 0);
  return HexEncode(out);
}

Result<Cursor> DecodeCursor(std::string_view text) {
  const Error bad = InvalidArgument("bad cursor: pass a next_cursor as returned");
  auto bytes = HexDecode(text);
  if (!bytes) return bad;
  ByteReader in(*bytes);
  auto read_id = [&in](std::string& id) {
    auto size = in.ReadU8();
    if (!size) return false;
    auto id_bytes = in.ReadBytes(*size);
    if (!id_bytes) return false;
    id = std::string(AsStringView(*id_bytes));
    return internal::IsValidQueueId(id);
  };
  auto valid_time = [](std::uint64_t t) {
    return t <= static_cast<std::uint64_t>(wire::kMaxTimeMs);
  };
  Cursor c;
  auto version = in.ReadU8();
  auto time = in.ReadU64Le();
  auto kind = in.ReadU8();
  if (!version || *version != kCursorVersion || !time || !valid_time(*time) || !kind) return bad;
  c.last.time_ms = static_cast<std::int64_t>(*time);
  c.last.kind = *kind;
  if (!read_id(c.last.device_id) || !read_id(c.last.batch_id)) return bad;
  auto index = in.ReadU32Le();
  auto walk_to = in.ReadU64Le();
  if (!index || !walk_to || !valid_time(*walk_to)) return bad;
  c.last.index = *index;
  c.walk.to_ms = static_cast<std::int64_t>(*walk_to);
  if (!read_id(c.walk.device_id) || !read_id(c.walk.batch_id)) return bad;
  auto inclusive = in.ReadU8();
  if (!inclusive || *inclusive > 1 || in.remaining() != 0) return bad;
  c.walk.inclusive = *inclusive == 1;
  return c;
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

Result<ReadingPage> ReadingStore::Query(std::string_view patient_id,
                                        const ReadingQuery& query) const {
  if (!internal::IsValidQueueId(patient_id)) return InvalidArgument("bad patient id");
  if (query.to_ms < query.from_ms) return InvalidArgument("query range ends before it starts");
  if (query.limit == 0 || query.limit > kMaxReadingsPerPage) {
    return InvalidArgument("limit must be 1.." + std::to_string(kMaxReadingsPerPage));
  }
  std::optional<Cursor> cursor;
  if (!query.cursor.empty()) {
    MEDMESH_ASSIGN_OR_RETURN(cursor, DecodeCursor(query.cursor));
  }
  struct Row {
    std::string device_id, batch_id;
    std::int64_t from_ms, to_ms;
    std::uint32_t count;
    Bytes ciphertext;
  };
  // Readings of a batch are no later than its to_ms, so once the batches are walked by to_ms
  // descending, a reading later than the last walked batch's to_ms is ahead of everything not
  // read yet: the walk stops as soon as limit + 1 such readings are in hand (the extra one
  // says whether a next page exists). A next page resumes the walk at the first row that may
  // still hold readings of its own (the cursor's walk start), so deep pages do not re-scan the
  // rows before it.
  const std::int64_t newest_from =
      cursor ? std::min(cursor->last.time_ms, query.to_ms - 1) : query.to_ms - 1;
  std::optional<WalkStart> after;  // where the next fetch starts
  if (cursor) after = cursor->walk;
  struct Walked {
    const Row* row = nullptr;
    std::optional<ReadingKey> oldest;  // its oldest reading in the range and kind
  };
  std::vector<std::unique_ptr<Row>> rows_walked;
  std::vector<Walked> walked;
  std::optional<crypto::DataKeyDecryptor> key;  // one unwrap
  std::vector<std::pair<ReadingKey, wire::Reading>> found;
  bool exhausted = false;
  while (true) {
    std::vector<std::unique_ptr<Row>> rows;
    {
      std::lock_guard lock(mu_);
      try {
        std::string sql =
            "SELECT device_id, batch_id, from_ms, to_ms, count, ciphertext"
            " FROM reading_batches WHERE patient_id = ? AND from_ms <= ? AND to_ms >= ?";
        if (after) {
          sql += after->inclusive ? " AND (to_ms, device_id, batch_id) <= (?, ?, ?)"
                                  : " AND (to_ms, device_id, batch_id) < (?, ?, ?)";
        }
        sql += " ORDER BY to_ms DESC, device_id DESC, batch_id DESC LIMIT ?";
        SQLite::Statement st(*db_, sql);
        int i = 1;
        st.bind(i++, std::string(patient_id));
        st.bind(i++, newest_from);
        st.bind(i++, query.from_ms);
        if (after) {
          st.bind(i++, after->to_ms);
          st.bind(i++, after->device_id);
          st.bind(i++, after->batch_id);
        }
        st.bind(i++, kRowsPerStep);
        while (st.executeStep()) {
          rows.push_back(std::make_unique<Row>(Row{
              st.getColumn(0).getString(), st.getColumn(1).getString(), st.getColumn(2).getInt64(),
              st.getColumn(3).getInt64(), static_cast<std::uint32_t>(st.getColumn(4).getInt64()),
              ColumnBytes(st.getColumn(5))}));
        }
      } catch (const std::exception& e) {
        return SqliteError(e, "query readings");
      }
    }
    if (!rows.empty() && !key) {
      MEDMESH_ASSIGN_OR_RETURN(key, aead_.OpenDataKey(KeyContext(patient_id)));
    }
    for (const auto& row : rows) {
      const Bytes ad = AssociatedData(patient_id, row->device_id, row->batch_id, row->from_ms,
                                      row->to_ms, row->count);
      MEDMESH_ASSIGN_OR_RETURN(Bytes plaintext, key->Decrypt(row->ciphertext, ad));
      row->ciphertext = Bytes();  // only the row's ids stay for the cursor
      wire::ReadingsDecodeLimits limits;
      limits.require_plausible = false;  // stored as accepted; plausibility is ingest's job
      auto decoded = wire::DecodeReadings(plaintext, limits);
      SecureWipe(plaintext.data(), plaintext.size());
      if (!decoded) return DataLoss("stored readings do not decode: " + decoded.error().message());
      if (decoded->size() != row->count) return DataLoss("stored readings: count mismatch");
      Walked w{row.get(), std::nullopt};
      for (std::size_t index = 0; index < decoded->size(); ++index) {
        const wire::Reading& r = (*decoded)[index];
        if (r.time_ms < query.from_ms || r.time_ms >= query.to_ms) continue;
        if (query.kind && r.kind != *query.kind) continue;
        ReadingKey k{r.time_ms, static_cast<std::uint8_t>(r.kind), row->device_id, row->batch_id,
                     static_cast<std::uint32_t>(index)};
        if (!w.oldest || k < *w.oldest) w.oldest = k;
        if (cursor && !(k < cursor->last)) continue;
        found.emplace_back(std::move(k), r);
      }
      walked.push_back(std::move(w));
    }
    const bool short_step = rows.size() < static_cast<std::size_t>(kRowsPerStep);
    const std::int64_t last_to_ms = rows.empty() ? 0 : rows.back()->to_ms;
    if (!rows.empty()) {
      after = WalkStart{rows.back()->to_ms, rows.back()->device_id, rows.back()->batch_id, false};
    }
    for (auto& row : rows) rows_walked.push_back(std::move(row));
    if (short_step) {
      exhausted = true;
      break;
    }
    const auto settled = std::count_if(found.begin(), found.end(),
                                       [&](const auto& f) { return f.first.time_ms > last_to_ms; });
    if (static_cast<std::size_t>(settled) > query.limit) break;
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  ReadingPage page;
  // Not exhausted: the walk stopped with more than `limit` settled readings in hand, and they
  // sort first.
  const bool more = !exhausted || found.size() > query.limit;
  if (found.size() > query.limit) found.resize(query.limit);
  page.readings.reserve(found.size());
  for (const auto& f : found) page.readings.push_back(f.second);
  if (more && !found.empty()) {
    Cursor next{found.back().first, {}};
    // The first walked row with a reading after the last returned one starts the next walk;
    // if none has, the walk goes on after the last row walked.
    const auto first_left = std::find_if(walked.begin(), walked.end(), [&](const Walked& w) {
      return w.oldest && *w.oldest < next.last;
    });
    if (first_left != walked.end()) {
      next.walk = {first_left->row->to_ms, first_left->row->device_id, first_left->row->batch_id,
                   true};
    } else {
      next.walk = *after;
    }
    page.next_cursor = EncodeCursor(next);
  }
  return page;
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
