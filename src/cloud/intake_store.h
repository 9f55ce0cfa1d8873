// IntakeStore: what the remote cloud keeps about the data path besides the three-part records
// (cloud/three_part.h): the certificates of the cloudlets that forward to it, the devices'
// enrolment records, and the forwarded reading batches. SQLite (sqlite_intake_store.h) is the
// embedded default; PostgreSQL (postgres_intake_store.h) the scale-out backend, chosen by the
// same config as the RecordStore.
//
// The store holds what the caller (forward_intake.h) hands it and never sees a key:
//   cloudlets        cloudlet id → its certificate (public), the one with the latest
//                    not_before wins
//   enrolments       keyed device reference → patient id, issuing cloudlet, a keyed binding
//                    digest (to tell a repeat from a conflict) and the record encrypted under
//                    the patient's EI data key: the identity side. A device reference belongs
//                    to the cloudlet that enrolled it first, for good
//   withdrawn_devices  keyed device reference → when it was withdrawn; a withdrawn device is
//                    never enrolled again
//   reading_batches  keyed batch reference → keyed patient pseudonym, time range, count, keyed
//                    content digest and the readings (with the device's upload evidence)
//                    encrypted under the pseudonym's MI data key: the medical side, with no
//                    patient id, device id or batch id in the clear
//   reading_rollups  per (pseudonym, reading kind, bucket width, chunk start): the count,
//                    sum, min and max of the plausible readings of each bucket of the chunk,
//                    encrypted by the caller under the pseudonym's MI data key
//                    (cloud/my_data_rollups.h, ADR 0021); merged in the transaction that
//                    stores a batch, so charts never decrypt batches
//   rollup_complete  the pseudonyms whose roll-ups account for every batch stored
//   patients         the pseudonyms seen, for statistics
//   restores         every restore of a tampered record or batch from a cloudlet's copy
//                    (cloud/integrity_service.h): who, when, what, which check had failed
//   deletions        patients whose deletion was asked for (pending until done), and
//   deletion_feed    one entry per (cloudlet, deleted patient): what each cloudlet must shred
//                    (ADR 0018), numbered so a cloudlet polls from its last seq
// Errors: kInvalidArgument for a field out of range; kUnavailable when the database is busy or
// unreachable (every write is idempotent: retry); kResourceExhausted, kDataLoss, kInternal as
// in store/record_store.h. Messages never carry values.
// Thread safety: implementations are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace medmesh::cloud {

struct CloudletCertificateRow {
  std::string cloudlet_id;
  Bytes certificate;
  std::int64_t not_before_ms = 0;
  bool operator==(const CloudletCertificateRow&) const = default;
};

struct EnrolmentRow {
  std::string device_ref;  // keyed reference of the device id
  std::string patient_id;
  std::string cloudlet_id;  // the issuing cloudlet
  Bytes binding;            // keyed digest of (patient id, device key)
  Bytes ciphertext;         // the signed record, encrypted under the patient's EI data key
  // Set by GetEnrolment when the device was withdrawn; ignored by PutEnrolment.
  std::optional<std::int64_t> withdrawn_ms;
  bool operator==(const EnrolmentRow&) const = default;
};

struct ReadingBatchRow {
  std::string batch_ref;  // keyed reference of (device id, batch id)
  std::string pseudonym;  // keyed pseudonym of the patient
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::uint32_t readings = 0;
  std::int64_t stored_ms = 0;
  Bytes digest;      // keyed digest of the payload: a repeat vs another batch under the same ref
  Bytes ciphertext;  // evidence ‖ payload under the pseudonym's MI data key
  bool operator==(const ReadingBatchRow&) const = default;
};

// One restore (cloud/integrity_service.h).
struct RestoreRow {
  std::string restore_id;  // "rst_" + 26 base32 characters
  std::int64_t restored_ms = 0;
  std::string cloudlet_id;       // whose copy it came from (the device's enrolling cloudlet)
  std::string patient_id;        // whose data it is
  std::string kind;              // "record" or "readings"
  std::string device_id;         // the item's device
  std::string item_id;           // the record id, or the batch id (hex)
  std::string failed_check;      // IntegrityCheckName of what had failed
  std::string actor_account_id;  // who asked for it
  std::string actor_role;        // accounts::RoleName
  bool operator==(const RestoreRow&) const = default;
};

struct DeletionState {
  std::int64_t requested_ms = 0;
  std::optional<std::int64_t> done_ms;  // unset while the deletion is unfinished
};

struct DeletionFeedRow {
  std::uint64_t seq = 0;  // 1, 2, ... in the order deletions were asked for
  std::string cloudlet_id;
  std::string patient_id;
  std::int64_t requested_ms = 0;
  bool operator==(const DeletionFeedRow&) const = default;
};

// One roll-up row (ADR 0021): the buckets of one kind and width over one chunk of time. kind
// is a wire::VitalKind id; width_ms one of the widths of cloud/my_data_rollups.h; start_ms the
// chunk's start, a multiple of width_ms.
struct RollupKey {
  std::string pseudonym;
  std::uint8_t kind = 0;
  std::int64_t width_ms = 0;
  std::int64_t start_ms = 0;
  auto operator<=>(const RollupKey&) const = default;
};

struct RollupRow {
  RollupKey key;
  Bytes ciphertext;  // opaque to the store
  bool operator==(const RollupRow&) const = default;
};

// What a stored batch adds to the roll-ups, computed by the caller (who holds the keys).
class RollupMerger {
 public:
  virtual ~RollupMerger() = default;
  // The buckets the batch touches: distinct, all of the batch's pseudonym.
  virtual const std::vector<RollupKey>& keys() const = 0;
  // The new ciphertext of each of keys(), in order, given the stored one (nullopt where the
  // bucket has none yet). Called inside the store's write transaction, once per attempt: it
  // must be quick and must not call back into this store. An error rolls the batch back.
  virtual Result<std::vector<Bytes>> Merge(
      const std::vector<std::optional<Bytes>>& stored) const = 0;
};

enum class IntakeOutcome {
  kInserted,
  kDuplicate,  // the same row (same binding / digest / certificate) was already there
};

struct IntakeCounts {
  std::uint64_t reading_batches = 0;
  std::uint64_t readings = 0;
  std::uint64_t patients = 0;
  std::uint64_t enrolments = 0;
  std::uint64_t cloudlets = 0;
  bool operator==(const IntakeCounts&) const = default;
};

// The counts behind IntakeStore::Counts(), kept in memory by the implementations: set once
// when the store is opened (the only COUNT/SUM queries), then bumped after each committed
// insert. Thread-safe: atomics, no lock.
class IntakeCounters {
 public:
  void Set(const IntakeCounts& counts);
  void AddReadingBatch(std::uint32_t readings, bool new_patient);
  void AddPatient();
  void AddEnrolment();
  void AddCloudlet();
  IntakeCounts Get() const;

 private:
  std::atomic<std::uint64_t> reading_batches_{0};
  std::atomic<std::uint64_t> readings_{0};
  std::atomic<std::uint64_t> patients_{0};
  std::atomic<std::uint64_t> enrolments_{0};
  std::atomic<std::uint64_t> cloudlets_{0};
};

class IntakeStore {
 public:
  virtual ~IntakeStore() = default;

  // Stores a cloudlet's (already verified) certificate. kDuplicate for the same bytes;
  // kAlreadyExists if a certificate with a later not_before is registered (an old certificate
  // never replaces a renewed one).
  [[nodiscard]] virtual Result<IntakeOutcome> PutCloudletCertificate(
      const CloudletCertificateRow& row) = 0;
  [[nodiscard]] virtual Result<std::optional<CloudletCertificateRow>> GetCloudletCertificate(
      std::string_view cloudlet_id) const = 0;

  // kDuplicate if the device_ref is there from the same cloudlet with the same binding;
  // kAlreadyExists if it is there from another cloudlet or with another binding (another
  // patient or key); kFailedPrecondition if the device was withdrawn. Atomic with respect to
  // concurrent Put and Withdraw calls, across processes sharing the database.
  [[nodiscard]] virtual Result<IntakeOutcome> PutEnrolment(const EnrolmentRow& row) = 0;
  // The row, with withdrawn_ms set if the device was withdrawn; nullopt if never enrolled.
  [[nodiscard]] virtual Result<std::optional<EnrolmentRow>> GetEnrolment(
      std::string_view device_ref) const = 0;
  // The distinct cloudlets that enrolled any device of the patient (withdrawn devices too: the
  // cloudlet still holds the patient's data), sorted; empty if none.
  [[nodiscard]] virtual Result<std::vector<std::string>> CloudletsOfPatient(
      std::string_view patient_id) const = 0;
  // Marks an enrolled device withdrawn at `withdrawn_ms`. kInserted the first time, kDuplicate
  // if it was already withdrawn (the first time is kept); kNotFound if it was never enrolled.
  [[nodiscard]] virtual Result<IntakeOutcome> WithdrawEnrolment(std::string_view device_ref,
                                                                std::int64_t withdrawn_ms) = 0;

  // Stores a batch and records its pseudonym among the patients, in one transaction.
  // kDuplicate if the batch_ref is there with the same digest; kAlreadyExists with another.
  // A batch stored this way is not in the roll-ups: the pseudonym's roll-ups are marked
  // incomplete (the next reader rebuilds them, ReplaceRollups).
  [[nodiscard]] virtual Result<IntakeOutcome> PutReadingBatch(const ReadingBatchRow& row) = 0;
  // The same, and when the batch is inserted (not for kDuplicate or kAlreadyExists) its
  // roll-ups are merged in the same transaction (`rollups`, whose keys must name the row's
  // pseudonym). The first batch of a pseudonym marks its roll-ups complete. Concurrent puts
  // for one pseudonym are serialised, also across processes sharing the database.
  [[nodiscard]] virtual Result<IntakeOutcome> PutReadingBatch(const ReadingBatchRow& row,
                                                              const RollupMerger& rollups) = 0;

  // The roll-up rows of (pseudonym, kind, width_ms) with start in [from_ms, to_ms), ordered by
  // start, at most `limit` (1..100000).
  [[nodiscard]] virtual Result<std::vector<RollupRow>> ListRollups(
      std::string_view pseudonym, std::uint8_t kind, std::int64_t width_ms, std::int64_t from_ms,
      std::int64_t to_ms, std::size_t limit) const = 0;
  // Whether the pseudonym's roll-ups account for every one of its batches.
  [[nodiscard]] virtual Result<bool> RollupsComplete(std::string_view pseudonym) const = 0;
  // Replaces every roll-up of the pseudonym by `rows` (all of that pseudonym) and marks them
  // complete, in one transaction, if the pseudonym still has exactly `batches` batches;
  // kFailedPrecondition otherwise (a batch arrived meanwhile: rebuild and try again).
  [[nodiscard]] virtual Status ReplaceRollups(std::string_view pseudonym,
                                              const std::vector<RollupRow>& rows,
                                              std::uint64_t batches) = 0;
  // A pseudonym's batches overlapping [from_ms, to_ms), oldest first, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<ReadingBatchRow>> ListReadingBatches(
      std::string_view pseudonym, std::int64_t from_ms, std::int64_t to_ms,
      std::size_t limit) const = 0;

  // The batch under `batch_ref`, or nullopt.
  [[nodiscard]] virtual Result<std::optional<ReadingBatchRow>> GetReadingBatch(
      std::string_view batch_ref) const = 0;
  // Every batch with batch_ref > `after`, ordered by batch_ref, at most `limit` (1..10000).
  [[nodiscard]] virtual Result<std::vector<ReadingBatchRow>> ListAllReadingBatches(
      std::string_view after, std::size_t limit) const = 0;
  // The batch references of a pseudonym, ordered.
  [[nodiscard]] virtual Result<std::vector<std::string>> ListBatchRefs(
      std::string_view pseudonym) const = 0;
  // Overwrites a stored batch with `row` (a restore). kNotFound if no batch has its batch_ref.
  [[nodiscard]] virtual Status ReplaceReadingBatch(const ReadingBatchRow& row) = 0;
  // Deletes every batch of a pseudonym, its roll-ups and the pseudonym from the patients, in
  // one transaction; returns how many batches. Idempotent. (Counts() is not decreased.)
  [[nodiscard]] virtual Result<std::uint64_t> DeleteReadingBatches(std::string_view pseudonym) = 0;

  // The enrolments of a patient (withdrawn or not), ordered by device_ref.
  [[nodiscard]] virtual Result<std::vector<EnrolmentRow>> ListEnrolments(
      std::string_view patient_id) const = 0;
  // Deletes the enrolments (and withdrawal marks) of a patient; returns how many. Idempotent.
  [[nodiscard]] virtual Result<std::uint64_t> DeleteEnrolments(std::string_view patient_id) = 0;

  // Restores: kAlreadyExists for a restore_id already used. Listed newest first, only those
  // of `cloudlet_id` if given, at most `limit` (1..10000).
  [[nodiscard]] virtual Status AddRestore(const RestoreRow& row) = 0;
  [[nodiscard]] virtual Result<std::vector<RestoreRow>> ListRestores(
      const std::optional<std::string>& cloudlet_id, std::size_t limit) const = 0;

  // Deletions. BeginDeletion records that the patient's deletion was asked for and adds one
  // feed entry per cloudlet, in one transaction; a second call for the same patient changes
  // nothing (the first request stands) but adds feed entries for cloudlets not yet named.
  [[nodiscard]] virtual Status BeginDeletion(std::string_view patient_id,
                                             const std::vector<std::string>& cloudlet_ids,
                                             std::int64_t requested_ms) = 0;
  // Marks it done (the first time is kept). kNotFound if it was never begun.
  [[nodiscard]] virtual Status FinishDeletion(std::string_view patient_id,
                                              std::int64_t done_ms) = 0;
  [[nodiscard]] virtual Result<std::optional<DeletionState>> GetDeletion(
      std::string_view patient_id) const = 0;
  // Patients whose deletion is unfinished, ordered.
  [[nodiscard]] virtual Result<std::vector<std::string>> PendingDeletions() const = 0;
  // The feed entries of one cloudlet with seq > `after_seq`, ordered by seq, at most `limit`.
  [[nodiscard]] virtual Result<std::vector<DeletionFeedRow>> ListDeletionFeed(
      std::string_view cloudlet_id, std::uint64_t after_seq, std::size_t limit) const = 0;

  // Records a pseudonym among the patients (idempotent).
  [[nodiscard]] virtual Status AddPatient(std::string_view pseudonym) = 0;

  // The rows in the store when it was opened plus those this object inserted since. Kept in
  // memory (IntakeCounters): takes no lock and runs no query, so unauthenticated statistics
  // may read it at any rate. Rows written by another process on the same database (a second
  // cloud on one PostgreSQL schema) show after a restart. Never fails today; the Result is
  // kept for implementations that cannot count in memory.
  [[nodiscard]] virtual Result<IntakeCounts> Counts() const = 0;
};

// Field checks shared by the implementations (kInvalidArgument naming the field).
[[nodiscard]] Status ValidateCloudletCertificateRow(const CloudletCertificateRow& row);
[[nodiscard]] Status ValidateEnrolmentRow(const EnrolmentRow& row);
[[nodiscard]] Status ValidateEnrolmentRef(std::string_view device_ref);
[[nodiscard]] Status ValidateReadingBatchRow(const ReadingBatchRow& row);
[[nodiscard]] Status ValidateRestoreRow(const RestoreRow& row);
// A roll-up key (pseudonym 1..255 bytes, width > 0, start a multiple of it) and its ciphertext
// (1..65536 bytes).
[[nodiscard]] Status ValidateRollupRow(const RollupRow& row);
// kInvalidArgument unless 1 <= limit <= 10000.
[[nodiscard]] Status ValidateIntakeLimit(std::size_t limit);

}  // namespace medmesh::cloud
