// RecordStore: where the remote cloud keeps patient records split into three parts
// (DESIGN.md section 6; docs/three_part_store.md). The store holds only what the caller
// (cloud/three_part.h) hands it: ciphertexts, keyed references and keyed index tokens. It never
// sees a key or a plaintext, so it cannot tell whether a ciphertext is genuine; it keeps rows
// apart, makes every multi-row change atomic, and keeps the hash-chained log append-only.
//
// Logical tables (SQLite: one file, these names; PostgreSQL: schemas ei, qi, mi, audit,
// keyring and meta, optionally prefixed):
//   ei               EI snapshots: one row per distinct version of a patient's identifiers
//   ei_record_link   one row per record: patient id, record digest, encrypted link
//                    (record id, device id, device signature, snapshot references)
//   ei_blind_index   (field, keyed token, patient id): exact lookup of identifiers
//   qi               QI snapshots, one marked current per patient
//   qi_generalised   the k-anonymous generalised QI table used for statistics
//   mi               (MI reference, pseudonym, ciphertext): no patient id, no record id
//   chain_log        the hash-chained log: (seq, kind, record reference, digest, time, hashes)
//   wrapped_keys     wrapped data keys, one key ring per part (crypto::WrappedKeyStore)
// Schemas are migrated in numbered steps when a store opens; a database written by a newer
// build is refused (kFailedPrecondition).
//
// Errors common to every method: kInvalidArgument for arguments out of range (named in the
// message), kUnavailable when the database cannot be reached or is busy (retry; every write is
// idempotent), kResourceExhausted for a full disk, kDataLoss for a corrupt database, kInternal
// for anything else. Messages name the operation, never a bound value.
// Thread safety: implementations are thread-safe. Ownership: returned rows are copies.
//
// WARNING: the store enforces no access control of its own; whoever holds a RecordStore can
// read every ciphertext and every keyed reference. Confidentiality rests on the keys, which
// never come here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/envelope.h"

namespace medmesh::store {

// The three parts of a record; also names the key rings in wrapped_keys.
enum class RecordPart : std::uint8_t { kEi = 1, kQi = 2, kMi = 3 };
// "ei", "qi", "mi".
std::string_view RecordPartName(RecordPart part);

// The schema version this build writes (see the migrations of each backend).
inline constexpr int kRecordStoreSchemaVersion = 1;

// Limits the store enforces on what it is given (kInvalidArgument beyond them).
inline constexpr std::size_t kMaxStoreIdBytes = 255;          // patient ids, pseudonyms
inline constexpr std::size_t kMaxStoreRefBytes = 128;         // references, field names
inline constexpr std::size_t kMaxStoreBlobBytes = 80u << 20;  // one ciphertext

// One distinct version of a patient's EI or QI part.
struct SnapshotRow {
  std::string patient_id;
  std::string snapshot_ref;  // caller-chosen, content-derived; unique per patient
  Bytes ciphertext;
  bool operator==(const SnapshotRow&) const = default;
};

// One record, seen from the identity side.
struct RecordLinkRow {
  std::string record_ref;  // caller-chosen, unique per record
  std::string patient_id;
  Bytes digest;      // the record's digest, as in its chain entry (idempotency check)
  Bytes ciphertext;  // the encrypted link
  bool operator==(const RecordLinkRow&) const = default;
};

// One record's medical part. Deliberately no patient id and no record id.
struct MiRow {
  std::string mi_ref;     // caller-chosen, unique per record, unlinkable without a key
  std::string pseudonym;  // keyed pseudonym of the patient
  Bytes ciphertext;
  bool operator==(const MiRow&) const = default;
};

struct BlindIndexRow {
  std::string field;  // "email", "phone", "national_id", ...
  Bytes token;        // keyed, truncated; 1..64 bytes
  std::string patient_id;
  bool operator==(const BlindIndexRow&) const = default;
};

struct GeneralisedQiRow {
  std::string age_band;             // "30-39", "90+", "*"
  std::string sex;                  // "female", "male", "other", "unknown", "*"
  std::string postcode_prefix;      // "SW1", "*"
  std::int32_t reference_year = 0;  // the year the ages were computed for
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  auto operator<=>(const GeneralisedQiRow&) const = default;
};

// kPut/kDelete/kRestore name a record (record_ref is its keyed reference); the kReadings*
// kinds name a reading batch of the cloud's intake store (record_ref is its keyed batch
// reference). A restore entry re-states the digest of the content put back from a cloudlet's
// copy (cloud/integrity_service.h); the digest must equal the one first chained.
enum class ChainEntryKind : std::uint8_t {
  kPut = 1,
  kDelete = 2,
  kRestore = 3,
  kReadingsPut = 4,
  kReadingsDelete = 5,
  kReadingsRestore = 6,
};
// True for the kinds that make their reference live with the entry's digest.
inline bool IsLiveKind(ChainEntryKind kind) {
  return kind == ChainEntryKind::kPut || kind == ChainEntryKind::kRestore ||
         kind == ChainEntryKind::kReadingsPut || kind == ChainEntryKind::kReadingsRestore;
}

struct ChainEntry {
  std::uint64_t seq = 0;  // 1, 2, 3, ... without gaps
  ChainEntryKind kind = ChainEntryKind::kPut;
  std::string record_ref;
  Bytes record_digest;  // empty for kDelete
  std::int64_t stored_ms = 0;
  Bytes prev_hash;  // the previous entry's entry_hash; empty for seq 1
  Bytes entry_hash;
  bool operator==(const ChainEntry&) const = default;
};

struct ChainHead {
  std::uint64_t seq = 0;  // 0 for an empty log
  Bytes hash;             // the last entry_hash; empty for an empty log
  bool operator==(const ChainHead&) const = default;
};

// Computes an entry's hash. Supplied by the caller, so the store needs no key; called inside
// the store's write transaction, so it must be quick and must not call back into the store.
class ChainHasher {
 public:
  virtual ~ChainHasher() = default;
  // The hash of `entry` (every field set except entry_hash). Never empty.
  virtual Bytes EntryHash(const ChainEntry& entry) const = 0;
};

// Everything one record adds, written in one transaction.
struct NewRecord {
  RecordLinkRow link;
  SnapshotRow ei;  // inserted unless the patient already has this snapshot_ref
  SnapshotRow qi;  // likewise; becomes the patient's current QI snapshot
  MiRow mi;
  std::vector<BlindIndexRow> blind_index;  // each inserted unless present
  std::int64_t stored_ms = 0;              // for the chain entry
};

enum class PutOutcome {
  kInserted,   // stored, with a new chain entry
  kDuplicate,  // a record with this record_ref and the same digest was there: nothing done
};
struct PutResult {
  PutOutcome outcome = PutOutcome::kInserted;
  std::uint64_t seq = 0;  // the chain entry of the record (the existing one for kDuplicate)
};

struct DeleteResult {
  std::uint64_t records = 0;  // record links removed (one kDelete chain entry each)
  bool found = false;         // whether the patient had any row at all
};

struct QiState {
  std::uint64_t generation = 0;              // bumped by every put and delete
  std::uint64_t generalised_generation = 0;  // the generation qi_generalised was built from
};

struct RowCounts {
  std::uint64_t record_links = 0;
  std::uint64_t mi = 0;
};

class RecordStore {
 public:
  virtual ~RecordStore() = default;

  // --- Writes (each one transaction) --------------------------------------------------------

  // Stores a record and appends a kPut entry to the chain (prev_hash and seq from the current
  // head, entry_hash from `hasher`). Idempotent by link.record_ref: the same digest again gives
  // kDuplicate; a different digest gives kAlreadyExists and changes nothing. The patient ids of
  // link, ei and qi must agree, and every blind index row must name that patient.
  [[nodiscard]] virtual Result<PutResult> PutRecord(const NewRecord& record,
                                                    const ChainHasher& hasher) = 0;

  // Removes every row of a patient: record links, EI and QI snapshots, blind index rows and
  // the MI rows of `pseudonym`, appending one kDelete chain entry per record link. Succeeds
  // with found = false if there was nothing to remove.
  [[nodiscard]] virtual Result<DeleteResult> DeletePatient(std::string_view patient_id,
                                                           std::string_view pseudonym,
                                                           std::int64_t stored_ms,
                                                           const ChainHasher& hasher) = 0;

  // Appends one entry of `kind` for `ref` with `digest` (empty for the delete kinds) to the
  // chain, in its own transaction; returns its seq. For what lives outside this store (the
  // cloud's reading batches), so it has no row to write with it. kInvalidArgument for kPut,
  // kDelete or kRestore (those come with their rows).
  [[nodiscard]] virtual Result<std::uint64_t> AppendChainEntry(ChainEntryKind kind,
                                                               std::string_view ref,
                                                               ByteView digest,
                                                               std::int64_t stored_ms,
                                                               const ChainHasher& hasher) = 0;

  // Puts a record's rows back as `record` holds them (the patient ids must agree), overwriting
  // the link, the MI row and the EI and QI snapshot rows it names (re-inserting what is
  // missing, keeping which QI snapshot is current), and appends a kRestore entry with
  // link.digest; one transaction. Returns its seq. The caller checks that the chain holds the
  // record with this digest (cloud/three_part.h RestoreRecord).
  [[nodiscard]] virtual Result<std::uint64_t> RestoreRecord(const NewRecord& record,
                                                            const ChainHasher& hasher) = 0;

  // Replaces the whole generalised QI table and records the generation it was built from.
  [[nodiscard]] virtual Status ReplaceGeneralisedQi(const std::vector<GeneralisedQiRow>& rows,
                                                    std::uint64_t generation) = 0;

  // --- Reads ----------------------------------------------------------------------------------

  // A patient's record links, ordered by record_ref; empty if none.
  [[nodiscard]] virtual Result<std::vector<RecordLinkRow>> ListRecordLinks(
      std::string_view patient_id) const = 0;
  // kNotFound if there is no such record.
  [[nodiscard]] virtual Result<RecordLinkRow> GetRecordLink(std::string_view record_ref) const = 0;
  // `part` is kEi or kQi (kInvalidArgument otherwise); kNotFound if absent.
  [[nodiscard]] virtual Result<SnapshotRow> GetSnapshot(RecordPart part,
                                                        std::string_view patient_id,
                                                        std::string_view snapshot_ref) const = 0;
  // Current QI snapshots with patient_id > `after` (keyset paging), ordered by patient_id, at
  // most `limit` (1..10000).
  [[nodiscard]] virtual Result<std::vector<SnapshotRow>> ListCurrentQi(std::string_view after,
                                                                       std::size_t limit) const = 0;
  // kNotFound if absent.
  [[nodiscard]] virtual Result<MiRow> GetMi(std::string_view mi_ref) const = 0;
  // MI rows with mi_ref > `after`, ordered by mi_ref, at most `limit` (1..10000).
  [[nodiscard]] virtual Result<std::vector<MiRow>> ListMi(std::string_view after,
                                                          std::size_t limit) const = 0;
  // Patient ids with this (field, token), ordered; empty if none.
  [[nodiscard]] virtual Result<std::vector<std::string>> FindPatients(std::string_view field,
                                                                      ByteView token) const = 0;
  [[nodiscard]] virtual Result<QiState> GetQiState() const = 0;
  [[nodiscard]] virtual Result<std::vector<GeneralisedQiRow>> ListGeneralisedQi() const = 0;
  // Chain entries with seq >= from_seq, ordered by seq, at most `limit` (1..10000).
  [[nodiscard]] virtual Result<std::vector<ChainEntry>> ReadChain(std::uint64_t from_seq,
                                                                  std::size_t limit) const = 0;
  [[nodiscard]] virtual Result<ChainHead> GetChainHead() const = 0;
  // The entry with the highest seq naming `ref` (any kind); nullopt if none.
  [[nodiscard]] virtual Result<std::optional<ChainEntry>> LatestChainEntry(
      std::string_view ref) const = 0;
  [[nodiscard]] virtual Result<RowCounts> CountRows() const = 0;
  // The schema version of the open database.
  [[nodiscard]] virtual Result<int> SchemaVersion() const = 0;

  // --- Keys -----------------------------------------------------------------------------------

  // The wrapped data keys of one part, as the crypto::WrappedKeyStore an EnvelopeAead uses.
  // The three rings are apart: listing or rotating one never touches another. The reference
  // lives as long as this store.
  virtual crypto::WrappedKeyStore& wrapped_keys(RecordPart part) = 0;
};

// --- Argument checks shared by the implementations ---------------------------------------------

// kInvalidArgument naming the first field of `record` that is empty, too long or inconsistent
// (see the limits above and PutRecord).
[[nodiscard]] Status ValidateNewRecord(const NewRecord& record);
// kInvalidArgument unless `value` is 1..max_bytes bytes; `what` names it in the message.
[[nodiscard]] Status ValidateStoreString(std::string_view what, std::string_view value,
                                         std::size_t max_bytes);
// kInvalidArgument unless `kind` is one of the kReadings* kinds, `ref` is 1..kMaxStoreRefBytes,
// and `digest` is empty for kReadingsDelete and 1..64 bytes otherwise (AppendChainEntry).
[[nodiscard]] Status ValidateChainAppend(ChainEntryKind kind, std::string_view ref,
                                         ByteView digest);
// kInvalidArgument unless 1 <= limit <= kMaxStorePageRows.
inline constexpr std::size_t kMaxStorePageRows = 10000;
[[nodiscard]] Status ValidatePageLimit(std::size_t limit);

}  // namespace medmesh::store
