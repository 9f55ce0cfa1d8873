#include "cloudlet/ingest_ledger.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <limits>
#include <utility>
#include <vector>

#include "store/sqlite_database.h"

namespace medmesh::cloudlet {
namespace {

using store::BindBlob;
using store::ColumnBytes;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS batches (
  device_id     TEXT NOT NULL,
  batch_id      TEXT NOT NULL,
  content_type  INTEGER NOT NULL,
  patient_id    TEXT NOT NULL,
  upload_digest BLOB NOT NULL,
  readings      INTEGER NOT NULL,
  stored_ms     INTEGER NOT NULL,
  PRIMARY KEY (device_id, batch_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
  device_id   TEXT NOT NULL,
  record_id   TEXT NOT NULL,
  batch_id    TEXT NOT NULL,
  patient_id  TEXT NOT NULL,
  created_ms  INTEGER NOT NULL,
  ciphertext  BLOB NOT NULL,
  PRIMARY KEY (device_id, record_id)
);
CREATE INDEX IF NOT EXISTS records_by_patient ON records (patient_id, created_ms);
CREATE TABLE IF NOT EXISTS dead_letters (
  id        TEXT PRIMARY KEY,
  reason    TEXT NOT NULL,
  failed_ms INTEGER NOT NULL,
  payload   BLOB NOT NULL
);
)sql";

void InsertBatch(SQLite::Database& db, const LedgerBatch& batch) {
  SQLite::Statement insert(
      db,
      "INSERT INTO batches (device_id, batch_id, content_type, patient_id, upload_digest,"
      " readings, stored_ms, payload_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
      " ON CONFLICT DO NOTHING");
  insert.bind(1, batch.device_id);
  insert.bind(2, batch.batch_id);
  insert.bind(3, static_cast<int>(batch.content_type));
  insert.bind(4, batch.patient_id);
  BindBlob(insert, 5, batch.upload_digest);
  insert.bind(6, static_cast<std::int64_t>(batch.readings));
  insert.bind(7, static_cast<std::int64_t>(batch.stored_ms));
  if (batch.payload_digest) {
    BindBlob(insert, 8, *batch.payload_digest);
  } else {
    insert.bind(8);  // NULL
  }
  insert.exec();
}

// Payload digests were once the unkeyed BLAKE2b-256 d of (content type, payload); PayloadDigest
// is now the keyed hash of that same d, so every stored d is replaced by KeyedBlake2b256(key, d)
// and old rows keep matching resealed copies of their content.
void KeyPayloadDigests(SQLite::Database& db, const crypto::HashKey& key) {
  std::vector<std::pair<std::string, std::string>> ids;
  std::vector<crypto::Digest256> keyed;
  SQLite::Statement select(db,
                           "SELECT device_id, batch_id, payload_digest FROM batches"
                           " WHERE payload_digest IS NOT NULL");
  while (select.executeStep()) {
    const Bytes unkeyed = ColumnBytes(select.getColumn(2));
    if (unkeyed.size() != crypto::kDigestBytes) continue;  // Find reports it as data loss
    ids.emplace_back(select.getColumn(0).getString(), select.getColumn(1).getString());
    keyed.push_back(crypto::KeyedBlake2b256(key, unkeyed));
  }
  SQLite::Statement update(
      db, "UPDATE batches SET payload_digest = ? WHERE device_id = ? AND batch_id = ?");
  for (std::size_t i = 0; i < ids.size(); ++i) {
    BindBlob(update, 1, keyed[i]);
    update.bind(2, ids[i].first);
    update.bind(3, ids[i].second);
    update.exec();
    update.reset();
  }
}

}  // namespace

IngestLedger::IngestLedger(std::unique_ptr<SQLite::Database> db, crypto::HashKey digest_key)
    : digest_key_(std::move(digest_key)), db_(std::move(db)) {}
IngestLedger::~IngestLedger() = default;

Result<std::unique_ptr<IngestLedger>> IngestLedger::Open(const std::string& path,
                                                         crypto::HashKey digest_key,
                                                         const store::SqliteOpenOptions& sqlite) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           store::OpenSqliteDatabase(path, sqlite));
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(*db, "cloudlet_ingest_ledger", 1, kSchema));
  // Added later: its own component, so that a ledger made before it gains the column once.
  MEDMESH_RETURN_IF_ERROR(
      store::EnsureSqliteSchema(*db, "cloudlet_ingest_ledger_payload_digest", 1,
                                "ALTER TABLE batches ADD COLUMN payload_digest BLOB;"));
  // Keyed since: the re-keying runs once, in the transaction that records it.
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(
      *db, "cloudlet_ingest_ledger_keyed_payload_digest", 1,
      [&digest_key](SQLite::Database& d) { KeyPayloadDigests(d, digest_key); }));
  // Retention: what became of each batch's forward, and whether its data was pruned.
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(
      *db, "cloudlet_ingest_ledger_retention", 1,
      "ALTER TABLE batches ADD COLUMN forward_state INTEGER;"
      "ALTER TABLE batches ADD COLUMN settled_ms INTEGER;"
      "ALTER TABLE batches ADD COLUMN data_pruned INTEGER NOT NULL DEFAULT 0;"
      "CREATE INDEX IF NOT EXISTS batches_unsettled ON batches (stored_ms)"
      " WHERE forward_state IS NULL;"
      "CREATE INDEX IF NOT EXISTS batches_by_settlement ON batches"
      " (forward_state, data_pruned, settled_ms);"
      "CREATE INDEX IF NOT EXISTS records_by_batch ON records (device_id, batch_id);"
      "CREATE INDEX IF NOT EXISTS dead_letters_by_time ON dead_letters (failed_ms);"));
  // Deletion (integrity.h): find a patient's batch rows, and the deletion feed's cursor.
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(
      *db, "cloudlet_ingest_ledger_deletions", 1,
      "CREATE INDEX IF NOT EXISTS batches_by_patient ON batches (patient_id);"
      "CREATE TABLE IF NOT EXISTS deletion_cursor ("
      "  id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);"
      "INSERT OR IGNORE INTO deletion_cursor VALUES (1, 0);"));
  return std::unique_ptr<IngestLedger>(new IngestLedger(std::move(db), std::move(digest_key)));
}

crypto::Digest256 IngestLedger::PayloadDigest(wire::ContentType content_type,
                                              ByteView payload) const {
  const auto type = static_cast<std::uint8_t>(content_type);
  return crypto::KeyedBlake2b256(digest_key_,
                                 crypto::Blake2b256Parts({ByteView(&type, 1), payload}));
}

Result<std::optional<LedgerBatch>> IngestLedger::Find(std::string_view device_id,
                                                      std::string_view batch_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(*db_,
                            "SELECT content_type, patient_id, upload_digest, readings, stored_ms,"
                            " payload_digest FROM batches WHERE device_id = ? AND batch_id = ?");
    query.bind(1, std::string(device_id));
    query.bind(2, std::string(batch_id));
    if (!query.executeStep()) return std::optional<LedgerBatch>();
    LedgerBatch batch;
    batch.device_id = std::string(device_id);
    batch.batch_id = std::string(batch_id);
    batch.content_type = static_cast<wire::ContentType>(query.getColumn(0).getInt());
    batch.patient_id = query.getColumn(1).getString();
    const Bytes digest = ColumnBytes(query.getColumn(2));
    if (digest.size() != batch.upload_digest.size()) {
      return DataLoss("ingest ledger: a stored digest has the wrong length");
    }
    std::copy(digest.begin(), digest.end(), batch.upload_digest.begin());
    batch.readings = static_cast<std::uint64_t>(query.getColumn(3).getInt64());
    batch.stored_ms = query.getColumn(4).getInt64();
    if (!query.getColumn(5).isNull()) {
      const Bytes payload_digest = ColumnBytes(query.getColumn(5));
      if (payload_digest.size() != crypto::kDigestBytes) {
        return DataLoss("ingest ledger: a stored payload digest has the wrong length");
      }
      batch.payload_digest.emplace();
      std::copy(payload_digest.begin(), payload_digest.end(), batch.payload_digest->begin());
    }
    return std::optional<LedgerBatch>(std::move(batch));
  } catch (const std::exception& e) {
    return store::SqliteError(e, "find batch");
  }
}

Status IngestLedger::AddBatch(const LedgerBatch& batch) { return AddBatches({&batch, 1}); }

Status IngestLedger::AddBatches(std::span<const LedgerBatch> batches) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    for (const LedgerBatch& batch : batches) InsertBatch(*db_, batch);
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "add batch");
  }
}

Status IngestLedger::AddRecord(const LedgerBatch& batch, const LedgerRecord& record) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement existing(
        *db_, "SELECT batch_id FROM records WHERE device_id = ? AND record_id = ?");
    existing.bind(1, batch.device_id);
    existing.bind(2, record.record_id);
    if (existing.executeStep()) {
      if (existing.getColumn(0).getString() != batch.batch_id) {
        return AlreadyExists("the device already uploaded a record with this record id");
      }
    } else {
      SQLite::Statement insert(*db_,
                               "INSERT INTO records (device_id, record_id, batch_id, patient_id,"
                               " created_ms, ciphertext) VALUES (?, ?, ?, ?, ?, ?)");
      insert.bind(1, batch.device_id);
      insert.bind(2, record.record_id);
      insert.bind(3, batch.batch_id);
      insert.bind(4, batch.patient_id);
      insert.bind(5, static_cast<std::int64_t>(record.created_ms));
      BindBlob(insert, 6, record.ciphertext);
      insert.exec();
    }
    existing.reset();
    InsertBatch(*db_, batch);
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "add record");
  }
}

Result<std::vector<StoredRecordRow>> IngestLedger::ListRecords(std::string_view patient_id,
                                                               std::size_t limit) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(*db_,
                            "SELECT device_id, record_id, batch_id, created_ms, ciphertext"
                            " FROM records WHERE patient_id = ? ORDER BY created_ms, record_id"
                            " LIMIT ?");
    query.bind(1, std::string(patient_id));
    query.bind(2, static_cast<std::int64_t>(limit));
    std::vector<StoredRecordRow> rows;
    while (query.executeStep()) {
      rows.push_back({query.getColumn(0).getString(), query.getColumn(1).getString(),
                      query.getColumn(2).getString(), query.getColumn(3).getInt64(),
                      ColumnBytes(query.getColumn(4)), std::string(patient_id)});
    }
    return rows;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list records");
  }
}

Result<std::optional<StoredRecordRow>> IngestLedger::FindRecord(std::string_view device_id,
                                                                std::string_view record_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(*db_,
                            "SELECT batch_id, created_ms, ciphertext, patient_id FROM records"
                            " WHERE device_id = ? AND record_id = ?");
    query.bind(1, std::string(device_id));
    query.bind(2, std::string(record_id));
    if (!query.executeStep()) return std::optional<StoredRecordRow>();
    return std::optional<StoredRecordRow>(
        StoredRecordRow{std::string(device_id), std::string(record_id),
                        query.getColumn(0).getString(), query.getColumn(1).getInt64(),
                        ColumnBytes(query.getColumn(2)), query.getColumn(3).getString()});
  } catch (const std::exception& e) {
    return store::SqliteError(e, "find record");
  }
}

Result<LedgerDeletion> IngestLedger::DeletePatient(std::string_view patient_id) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement records(*db_, "DELETE FROM records WHERE patient_id = ?");
    records.bind(1, std::string(patient_id));
    LedgerDeletion out;
    out.records = static_cast<std::uint64_t>(records.exec());
    SQLite::Statement batches(*db_, "DELETE FROM batches WHERE patient_id = ?");
    batches.bind(1, std::string(patient_id));
    out.batches = static_cast<std::uint64_t>(batches.exec());
    tx.commit();
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "delete patient");
  }
}

Result<std::uint64_t> IngestLedger::DeletionCursor() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(*db_, "SELECT seq FROM deletion_cursor WHERE id = 1");
    if (!query.executeStep()) return DataLoss("deletion cursor row is missing");
    return static_cast<std::uint64_t>(query.getColumn(0).getInt64());
  } catch (const std::exception& e) {
    return store::SqliteError(e, "deletion cursor");
  }
}

Status IngestLedger::AdvanceDeletionCursor(std::uint64_t seq) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement update(*db_, "UPDATE deletion_cursor SET seq = MAX(seq, ?) WHERE id = 1");
    update.bind(1, static_cast<std::int64_t>(seq));
    update.exec();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "advance deletion cursor");
  }
}

Status IngestLedger::AddDeadLetter(std::string_view id, std::string_view reason, ByteView payload,
                                   std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement insert(*db_,
                             "INSERT INTO dead_letters (id, reason, failed_ms, payload)"
                             " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
    insert.bind(1, std::string(id));
    insert.bind(2, std::string(reason.substr(0, 256)));
    insert.bind(3, static_cast<std::int64_t>(now_ms));
    BindBlob(insert, 4, payload);
    insert.exec();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "add dead letter");
  }
}

Result<std::map<std::string, std::int64_t>> IngestLedger::LastUploads() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(*db_,
                            "SELECT device_id, MAX(stored_ms) FROM batches GROUP BY device_id");
    std::map<std::string, std::int64_t> last;
    while (query.executeStep()) {
      last.emplace(query.getColumn(0).getString(), query.getColumn(1).getInt64());
    }
    return last;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "last uploads");
  }
}

Result<LedgerCounts> IngestLedger::Counts() const {
  std::lock_guard lock(mu_);
  try {
    LedgerCounts counts;
    SQLite::Statement batches(*db_,
                              "SELECT COUNT(*), COALESCE(SUM(readings), 0) FROM batches"
                              " WHERE content_type = ?");
    batches.bind(1, static_cast<int>(wire::ContentType::kReadingsBatch));
    if (batches.executeStep()) {
      counts.reading_batches = static_cast<std::uint64_t>(batches.getColumn(0).getInt64());
      counts.readings = static_cast<std::uint64_t>(batches.getColumn(1).getInt64());
    }
    SQLite::Statement records(*db_, "SELECT COUNT(*) FROM records");
    if (records.executeStep()) {
      counts.records = static_cast<std::uint64_t>(records.getColumn(0).getInt64());
    }
    SQLite::Statement dead(*db_, "SELECT COUNT(*) FROM dead_letters");
    if (dead.executeStep()) {
      counts.dead_letters = static_cast<std::uint64_t>(dead.getColumn(0).getInt64());
    }
    return counts;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "count batches");
  }
}

namespace {

std::vector<LedgerBatchKey> ReadKeys(SQLite::Statement& query) {
  std::vector<LedgerBatchKey> out;
  while (query.executeStep()) {
    out.push_back({query.getColumn(0).getString(), query.getColumn(1).getString(),
                   static_cast<wire::ContentType>(query.getColumn(2).getInt()),
                   query.getColumn(3).getString(), query.getColumn(4).getInt64()});
  }
  return out;
}

}  // namespace

Result<std::vector<LedgerBatchKey>> IngestLedger::Unsettled(
    const std::optional<LedgerBatchKey>& after, std::size_t limit) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(
        *db_,
        "SELECT device_id, batch_id, content_type, patient_id, stored_ms FROM batches"
        " WHERE forward_state IS NULL AND (stored_ms, device_id, batch_id) > (?, ?, ?)"
        " ORDER BY stored_ms, device_id, batch_id LIMIT ?");
    query.bind(1, after ? after->stored_ms : std::numeric_limits<std::int64_t>::min());
    query.bind(2, after ? after->device_id : std::string());
    query.bind(3, after ? after->batch_id : std::string());
    query.bind(4, static_cast<std::int64_t>(limit));
    return ReadKeys(query);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list unsettled batches");
  }
}

Status IngestLedger::Settle(std::span<const LedgerSettlement> settlements) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement update(*db_,
                             "UPDATE batches SET forward_state = ?, settled_ms = ?"
                             " WHERE device_id = ? AND batch_id = ? AND forward_state IS NULL");
    for (const LedgerSettlement& s : settlements) {
      update.bind(1, static_cast<int>(s.state));
      update.bind(2, static_cast<std::int64_t>(s.settled_ms));
      update.bind(3, s.device_id);
      update.bind(4, s.batch_id);
      update.exec();
      update.reset();
    }
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "settle batches");
  }
}

Result<std::vector<LedgerBatchKey>> IngestLedger::ForwardedWithData(std::int64_t settled_before_ms,
                                                                    std::size_t limit) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(*db_,
                            "SELECT device_id, batch_id, content_type, patient_id, stored_ms"
                            " FROM batches WHERE forward_state = ? AND data_pruned = 0"
                            " AND settled_ms < ? ORDER BY settled_ms LIMIT ?");
    query.bind(1, static_cast<int>(ForwardState::kForwarded));
    query.bind(2, static_cast<std::int64_t>(settled_before_ms));
    query.bind(3, static_cast<std::int64_t>(limit));
    return ReadKeys(query);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list forwarded batches");
  }
}

Status IngestLedger::MarkDataPruned(std::span<const LedgerBatchKey> batches) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement mark(*db_,
                           "UPDATE batches SET data_pruned = 1"
                           " WHERE device_id = ? AND batch_id = ? AND forward_state = ?");
    SQLite::Statement records(*db_, "DELETE FROM records WHERE device_id = ? AND batch_id = ?");
    for (const LedgerBatchKey& b : batches) {
      mark.bind(1, b.device_id);
      mark.bind(2, b.batch_id);
      mark.bind(3, static_cast<int>(ForwardState::kForwarded));
      const int marked = mark.exec();
      mark.reset();
      if (marked == 0) continue;  // not forwarded: its record stays
      records.bind(1, b.device_id);
      records.bind(2, b.batch_id);
      records.exec();
      records.reset();
    }
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "mark batch data pruned");
  }
}

Result<std::uint64_t> IngestLedger::PruneForwarded(std::int64_t settled_before_ms) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement prune(*db_,
                            "DELETE FROM batches WHERE forward_state = ? AND data_pruned = 1"
                            " AND settled_ms < ?");
    prune.bind(1, static_cast<int>(ForwardState::kForwarded));
    prune.bind(2, static_cast<std::int64_t>(settled_before_ms));
    return static_cast<std::uint64_t>(prune.exec());
  } catch (const std::exception& e) {
    return store::SqliteError(e, "prune batches");
  }
}

Result<bool> IngestLedger::HasDeadLetter(std::string_view id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement query(*db_, "SELECT 1 FROM dead_letters WHERE id = ?");
    query.bind(1, std::string(id));
    return query.executeStep();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "find dead letter");
  }
}

Result<std::uint64_t> IngestLedger::PruneDeadLetters(std::int64_t failed_before_ms) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement prune(*db_, "DELETE FROM dead_letters WHERE failed_ms < ?");
    prune.bind(1, static_cast<std::int64_t>(failed_before_ms));
    return static_cast<std::uint64_t>(prune.exec());
  } catch (const std::exception& e) {
    return store::SqliteError(e, "prune dead letters");
  }
}

}  // namespace medmesh::cloudlet
