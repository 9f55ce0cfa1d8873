// IngestLedger: the cloudlet's durable memory of what it accepted, in SQLite.
//
//   batches       one row per accepted upload (device id, batch id): its content type, patient,
//                 readings count, the BLAKE2b-256 of the exact upload bytes (sealed: nothing
//                 in them can be guessed) and the keyed payload digest (PayloadDigest). It is
//                 written last, after the payload is stored and the forward queued, and it is
//                 what makes a device's retry of an acknowledged upload a "duplicate" instead
//                 of a replay (the session opener alone would refuse the retry).
//   records       patient records (content type record) as ciphertexts from the caller's
//                 envelope; a record and its batch row are written in one transaction.
//   dead_letters  forwards the cloud refused for good, kept for operators instead of dropped.
//   deletion_cursor  the last entry of the cloud's deletion feed applied here (integrity.h).
//
// The payload digest is keyed (a key derived from the cloudlet's KEK), so a copy of the file
// does not let anyone confirm a guessed reading or record of a patient. Ledgers written before
// it was keyed are migrated on Open: each stored digest d becomes KeyedBlake2b256(key, d), which
// is exactly what PayloadDigest gives for the same content, so an old row still tells a
// resealed duplicate from a replay. Rows from before the ledger kept payload digests have none:
// a resealed copy of those is answered as a replay (409), as before.
//
// Retention (run by CloudletMaintenance, maintenance.h): a batch row is "settled" once its
// forward has left the forward queue - forwarded (acknowledged by the cloud) or dead-lettered.
// Only a forwarded batch's data (readings, record) may be pruned, and its row only after that;
// a dead-lettered batch keeps its row and data for the operator. Dead letters are pruned by age.
//
// WARNING: device ids, patient ids, batch ids and counts are in the clear (as in the reading
// store); record contents are only as protected as the ciphertexts the caller hands in.
// WARNING: a cloudlet opened with another digest key (its KEK replaced) no longer recognises
// resealed copies of batches stored before (409 instead of "duplicate"); byte-identical retries
// are still recognised by the upload digest.
// Thread safety: thread-safe (one connection behind a mutex).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/keyed_hash.h"
#include "store/sqlite_database.h"
#include "wire/envelope.h"

namespace SQLite {
class Database;
}

namespace medmesh::cloudlet {

struct LedgerBatch {
  std::string device_id;
  std::string batch_id;  // lower-case hex of the upload's batch id
  wire::ContentType content_type = wire::ContentType::kReadingsBatch;
  std::string patient_id;
  crypto::Digest256 upload_digest{};  // BLAKE2b-256 of the upload bytes
  std::uint64_t readings = 0;         // 0 for a record
  std::int64_t stored_ms = 0;
  // IngestLedger::PayloadDigest of the content: the same for a copy the device resealed in
  // another session. Absent in rows written before the ledger kept it.
  std::optional<crypto::Digest256> payload_digest;
};

// What became of a batch's forward (see Retention above).
enum class ForwardState : std::uint8_t { kForwarded = 1, kDeadLettered = 2 };

// A batch row's identity, for the maintenance passes.
struct LedgerBatchKey {
  std::string device_id;
  std::string batch_id;
  wire::ContentType content_type = wire::ContentType::kReadingsBatch;
  std::string patient_id;
  std::int64_t stored_ms = 0;
};

struct LedgerSettlement {
  std::string device_id;
  std::string batch_id;
  ForwardState state = ForwardState::kForwarded;
  std::int64_t settled_ms = 0;
};

struct LedgerRecord {
  std::string record_id;
  std::int64_t created_ms = 0;
  Bytes ciphertext;
};

struct LedgerCounts {
  std::uint64_t reading_batches = 0;
  std::uint64_t readings = 0;
  std::uint64_t records = 0;
  std::uint64_t dead_letters = 0;
};

struct StoredRecordRow {
  std::string device_id;
  std::string record_id;
  std::string batch_id;
  std::int64_t created_ms = 0;
  Bytes ciphertext;
  std::string patient_id;
};

// What IngestLedger::DeletePatient removed.
struct LedgerDeletion {
  std::uint64_t records = 0;
  std::uint64_t batches = 0;
};

class IngestLedger {
 public:
  // Opens (creating) the ledger's tables in the SQLite database at `path`, and migrates
  // unkeyed payload digests to `digest_key` (see above). Errors as store::OpenSqliteDatabase.
  static Result<std::unique_ptr<IngestLedger>> Open(const std::string& path,
                                                    crypto::HashKey digest_key,
                                                    const store::SqliteOpenOptions& sqlite = {});
  ~IngestLedger();
  IngestLedger(const IngestLedger&) = delete;
  IngestLedger& operator=(const IngestLedger&) = delete;

  // The digest kept of an upload's content: KeyedBlake2b256(digest key, Blake2b256Parts(
  // content type, payload)). The same for every seal of the same content.
  crypto::Digest256 PayloadDigest(wire::ContentType content_type, ByteView payload) const;

  // The row of an upload, or nullopt.
  Result<std::optional<LedgerBatch>> Find(std::string_view device_id,
                                          std::string_view batch_id) const;

  // Durably records an accepted readings upload. Idempotent: a row already there for the same
  // (device, batch) is left as is.
  Status AddBatch(const LedgerBatch& batch);
  // The same for several uploads in one transaction (one disk sync for all: the ingest path's
  // group commit). All or nothing.
  Status AddBatches(std::span<const LedgerBatch> batches);

  // Durably stores a record and its batch row in one transaction. kAlreadyExists if the device
  // already uploaded a record with this record id in another batch.
  Status AddRecord(const LedgerBatch& batch, const LedgerRecord& record);

  // A patient's records, oldest first, at most `limit`.
  Result<std::vector<StoredRecordRow>> ListRecords(std::string_view patient_id,
                                                   std::size_t limit) const;

  // The record a device uploaded under `record_id`, or nullopt (never stored, or pruned).
  Result<std::optional<StoredRecordRow>> FindRecord(std::string_view device_id,
                                                    std::string_view record_id) const;

  // --- Deletion (integrity.h) ------------------------------------------------------------------
  // Removes every record and batch row of a patient, in one transaction. Idempotent. The
  // caller destroys the patient's data keys (the rows' ciphertexts are under them).
  Result<LedgerDeletion> DeletePatient(std::string_view patient_id);
  // The last deletion-feed seq applied here (0 before any), and moving it forward (a lower
  // value leaves it as is).
  Result<std::uint64_t> DeletionCursor() const;
  Status AdvanceDeletionCursor(std::uint64_t seq);

  // Keeps a forward the cloud refused for good. Idempotent by `id`.
  Status AddDeadLetter(std::string_view id, std::string_view reason, ByteView payload,
                       std::int64_t now_ms);

  Result<LedgerCounts> Counts() const;

  // Per device, the time its newest upload still in the ledger was stored (the operator's "last
  // contact"; docs/ui.md). A device whose rows were all pruned (retention) is not in the map.
  Result<std::map<std::string, std::int64_t>> LastUploads() const;

  // --- Retention -------------------------------------------------------------------------------
  // Rows whose forward is not settled yet, oldest first (by stored time, device, batch), after
  // `after` if given (a cursor: the last row of the previous page), at most `limit`.
  Result<std::vector<LedgerBatchKey>> Unsettled(const std::optional<LedgerBatchKey>& after,
                                                std::size_t limit) const;
  // Records what became of these batches' forwards, in one transaction. A row settled before
  // keeps its first settlement.
  Status Settle(std::span<const LedgerSettlement> settlements);
  // Forwarded batches settled before `settled_before_ms` whose data was not pruned yet, oldest
  // first, at most `limit`.
  Result<std::vector<LedgerBatchKey>> ForwardedWithData(std::int64_t settled_before_ms,
                                                        std::size_t limit) const;
  // Marks forwarded batches' data pruned and deletes their records (for record batches), in one
  // transaction. The caller deletes their readings from the reading store first. Batches not
  // settled as forwarded are left as they are.
  Status MarkDataPruned(std::span<const LedgerBatchKey> batches);
  // Deletes the rows of forwarded batches settled before `settled_before_ms` whose data was
  // pruned. Returns how many.
  Result<std::uint64_t> PruneForwarded(std::int64_t settled_before_ms);
  // True if a dead letter with this id is kept.
  Result<bool> HasDeadLetter(std::string_view id) const;
  // Deletes dead letters that failed before `failed_before_ms`. Returns how many.
  Result<std::uint64_t> PruneDeadLetters(std::int64_t failed_before_ms);

 private:
  IngestLedger(std::unique_ptr<SQLite::Database> db, crypto::HashKey digest_key);
  const crypto::HashKey digest_key_;
  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
};

}  // namespace medmesh::cloudlet
