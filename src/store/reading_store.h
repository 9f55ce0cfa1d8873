// ReadingStore: the cloudlet's store of body readings, encrypted at rest, queryable per
// patient and time range.
//
// One row per accepted batch, keyed by (patient_id, device_id, batch_id). The row keeps in
// the clear only what queries and metrics need: the three ids, the time range of the batch,
// its number of readings and when it was stored. The readings themselves are one ciphertext
// per row, under the patient's "readings" data key (crypto::EnvelopeAead with
// DataKeyContext{patient_id, "readings"}), with the ids, the time range and the count as
// associated data, so a row moved to another patient, or whose range was edited, fails to
// decrypt instead of returning wrong data.
//
// Put is idempotent by batch: storing a batch id again is a no-op reported as kDuplicate,
// which is how the cloudlet recognises a device's retry of a batch it already acknowledged.
//
// The plaintext of a row is the readings payload of wire/readings_codec.h (delta + varint, then
// zstd; it carries its own version byte), so a stored batch costs about what it cost on the
// wire.
//
// WARNING: protects against theft of the database file, not against someone who holds the
// KEK or this process's memory; patient ids, device ids, batch ids, time ranges and counts
// are visible to whoever reads the file.
// Thread safety: thread-safe (one connection behind a mutex; encryption and decryption run
// outside it). Several objects may open the same file. The EnvelopeAead and Clock must
// outlive the store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "store/sqlite_database.h"
#include "wire/model.h"

namespace SQLite {  // NOLINT(readability-identifier-naming): SQLiteCpp's namespace
class Database;
}

namespace medmesh::store {

// The data key part under which readings are encrypted.
inline constexpr std::string_view kReadingsKeyPart = "readings";
// Upper bound on the readings of one stored batch.
inline constexpr std::size_t kMaxReadingsPerStoredBatch = 100'000;

struct ReadingBatchToStore {
  std::string patient_id;
  std::string device_id;
  std::string batch_id;
  std::vector<wire::Reading> readings;
};

// A stored batch's key.
struct StoredBatchKey {
  std::string patient_id;
  std::string device_id;
  std::string batch_id;
};

enum class ReadingPutOutcome {
  kStored,
  kDuplicate,  // this (patient, device, batch) was stored before; nothing changed
};

struct ReadingQuery {
  std::int64_t from_ms = 0;             // inclusive
  std::int64_t to_ms = 0;               // exclusive
  std::optional<wire::VitalKind> kind;  // all kinds if unset
  // At most this many readings are returned, newest first: 1..kMaxReadingsPerPage.
  std::size_t limit = 1000;
  // Empty for the first page; otherwise a previous page's next_cursor: this page continues
  // right after the last reading of that one.
  std::string cursor;
};

// The most readings one page may hold.
inline constexpr std::size_t kMaxReadingsPerPage = 100'000;

struct ReadingPage {
  // Newest first: by time, then kind, then device id, batch id and position in the batch (a
  // total order, so paging returns every reading exactly once).
  std::vector<wire::Reading> readings;
  // Set when more readings follow; pass it as ReadingQuery::cursor for the next page. Opaque
  // (its format may change between versions; it names no patient).
  std::optional<std::string> next_cursor;
};

struct PatientReadingCounts {
  std::string patient_id;
  std::uint64_t batches = 0;
  std::uint64_t readings = 0;
  std::optional<std::int64_t> first_ms;  // earliest reading time
  std::optional<std::int64_t> last_ms;   // latest reading time
};

// A stored row as it is on disk (for the operator's "encrypted form" view and for exports).
struct EncryptedBatchRow {
  std::string patient_id;
  std::string device_id;
  std::string batch_id;
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::uint32_t count = 0;
  std::int64_t stored_ms = 0;
  Bytes ciphertext;
};

class ReadingStore {
 public:
  // Opens (creating) the store in the SQLite database at `path`. Errors from the database as
  // in internal/queue_sqlite.h. `sqlite`: see OpenSqliteDatabase.
  static Result<std::unique_ptr<ReadingStore>> Open(const std::string& path,
                                                    crypto::EnvelopeAead& aead, const Clock& clock,
                                                    const SqliteOpenOptions& sqlite = {});
  ~ReadingStore();
  ReadingStore(const ReadingStore&) = delete;
  ReadingStore& operator=(const ReadingStore&) = delete;

  // Encrypts and durably stores one batch. kStored or kDuplicate (see above).
  // kInvalidArgument for a bad id (ids are 1..128 bytes of [A-Za-z0-9._:-]), no readings,
  // more than kMaxReadingsPerStoredBatch, an unknown kind, or a time or value the wire codec
  // cannot encode (wire::EncodeReadings); envelope and database errors as is. Plausibility is
  // not checked here (ingest does that).
  Result<ReadingPutOutcome> Put(const ReadingBatchToStore& batch);

  // Stores several batches in one transaction (one disk sync for all: the ingest path's group
  // commit). Returns one outcome per batch, in order. All or nothing: on error none is stored.
  Result<std::vector<ReadingPutOutcome>> PutMany(std::span<const ReadingBatchToStore> batches);

  // One page of the patient's readings in [from_ms, to_ms), newest first (see ReadingPage).
  // Batches are read from the database newest first, a few at a time, and only until the
  // page is certain, with one unwrap of the patient's data key for the whole page: the cost
  // follows the page size, not the patient's history. kInvalidArgument for a bad patient id,
  // range, limit or cursor; AuthenticationFailed() (crypto/kdf.h) if a row read was tampered
  // with; kNotFound from the envelope if the patient's data key was destroyed while rows
  // remain; kDataLoss if a row decrypts but does not decode (written by incompatible code).
  Result<ReadingPage> Query(std::string_view patient_id, const ReadingQuery& query) const;

  // Convenience: the first page of all kinds in [from_ms, to_ms), default limit.
  Result<ReadingPage> Query(std::string_view patient_id, std::int64_t from_ms,
                            std::int64_t to_ms) const {
    ReadingQuery query;
    query.from_ms = from_ms;
    query.to_ms = to_ms;
    return Query(patient_id, query);
  }

  // True if this batch is stored (the duplicate check, without storing).
  Result<bool> Contains(std::string_view patient_id, std::string_view device_id,
                        std::string_view batch_id) const;

  // Counts for one patient (zeros if none), and for every patient (sorted by id), for metrics.
  Result<PatientReadingCounts> CountsFor(std::string_view patient_id) const;
  Result<std::vector<PatientReadingCounts>> CountsPerPatient() const;

  // The newest `limit` rows of a patient as stored (ciphertext included), newest first.
  Result<std::vector<EncryptedBatchRow>> ListEncrypted(std::string_view patient_id,
                                                       std::size_t limit) const;

  // Retention: deletes these batches' rows in one transaction (one disk sync) and returns how
  // many were there. Idempotent; the data keys stay (the patients' other batches need them).
  // kInvalidArgument for a bad id (nothing is deleted).
  Result<std::uint64_t> DeleteBatches(std::span<const StoredBatchKey> batches);

  // Deletes every row of the patient and destroys the patient's readings data key
  // (crypto-shredding: copies of the rows in backups become unreadable too). Returns the
  // number of rows deleted. A missing data key is not an error.
  Result<std::uint64_t> DeletePatient(std::string_view patient_id);

 private:
  ReadingStore(std::unique_ptr<SQLite::Database> db, crypto::EnvelopeAead& aead,
               const Clock& clock);
  struct Prepared;  // a validated, encrypted batch ready to insert
  Result<Prepared> Prepare(const ReadingBatchToStore& batch) const;

  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
  crypto::EnvelopeAead& aead_;
  const Clock& clock_;
};

}  // namespace medmesh::store
