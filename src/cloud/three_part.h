// ThreePartStore: the remote cloud's patient records, each split into three parts that are
// stored apart and protected in their own way (DESIGN.md section 6; the full design, the keys
// and what a leak of each store reveals: docs/three_part_store.md).
//
//   EI  name, national id, phone, e-mail, address, photo, device id and signature
//       → encrypted under the patient's EI data key; exact lookup of e-mail, phone and national
//         id through keyed blind indexes (HMAC-SHA256 truncated to 16 bytes, one key per field,
//         normalised input), never by plaintext.
//   QI  birth date, sex, postcode
//       → encrypted in full under the patient's QI data key; a generalised copy (age band, sex,
//         postcode prefix) kept k-anonymous (k_anonymity.h) serves cohort statistics.
//   MI  time, symptoms, conditions, pulse, ECG summary, symptoms document
//       → encrypted under a data key named by the patient's pseudonym; the MI row carries only
//         that keyed pseudonym, never the patient or record id. The pseudonym key is a separate
//         secret, held apart from the MI store and from the other keys.
//
// Every record's digest (keyed BLAKE2b-256 over wire::EncodePatientRecord, the canonical
// encoding) goes into a hash-chained log (keyed BLAKE2b-256 over the previous entry hash, the
// digest and the entry's metadata). Verify() recomputes the chain and every stored record's
// digest from its decrypted parts and reports the first broken entry.
//
// Errors: kInvalidArgument for bad input, naming the field but never quoting its content;
// kNotFound for an unknown patient; kAlreadyExists for a record id already stored with other
// content; kDataLoss, with one fixed message, for stored data that fails authentication or its
// digest (a tampered or corrupted row; which part and why is deliberately not said); store
// errors (kUnavailable, ...) as they are.
// Thread safety: thread-safe (the RecordStore is). DeletePatient must not race with puts for
// the same patient (the caller stops the patient's intake first): a put that encrypted under
// the old data keys just before they are destroyed leaves unreadable rows behind.
//
// WARNING: whoever holds all the keys (this object) can read and link everything; the
// separation protects against a leak of one store or one key, not against this process.
// WARNING: blind indexes reveal equality (two patients with the same phone number share a
// token), and with the index key a low-entropy identifier such as a phone number can be
// found by trying every candidate. Keep the index key as secret as the KEKs.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cloud/k_anonymity.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "store/record_store.h"
#include "wire/model.h"

namespace medmesh::cloud {

inline constexpr std::size_t kThreePartSecretBytes = 32;

// The keys of the three-part store. Where each one is held: docs/three_part_store.md.
struct ThreePartKeys {
  // Wrap the data keys of each part (crypto::EnvelopeAead); may be three different keys or
  // clones of one node KEK.
  crypto::KeyEncryptionKey ei_kek;
  crypto::KeyEncryptionKey qi_kek;
  crypto::KeyEncryptionKey mi_kek;
  // 32 bytes. Derives (HKDF-SHA256) the blind-index key of each field, the keys of the record
  // and snapshot references, the record digest key and the chain key.
  SecretBytes index_key;
  // 32 bytes. Derives the pseudonym key and the MI reference key. Never stored with the MI
  // rows, and never derived from the index key.
  SecretBytes pseudonym_key;
};

struct ThreePartOptions {
  // k for the generalised QI table, and the threshold below which statistics suppress a count.
  KAnonymityOptions k_anonymity;
  // The largest device signature (with whatever signed header the caller keeps) stored.
  std::size_t max_signature_bytes = 16 * 1024;
};

struct StoredRecord {
  wire::PatientRecord record;
  Bytes device_signature;
  Bytes digest;  // keyed BLAKE2b-256 of wire::EncodePatientRecord(record)
  bool operator==(const StoredRecord&) const = default;
};

// A registered patient's own profile (issue 8): identity data, so it is sealed under the
// patient's EI data key and shredded with it (DeletePatient). Bodies in patient_profile.cc.
struct PatientProfile {
  std::string full_name;
  std::string phone;
  std::string address;
  std::string birth_date;  // "YYYY-MM-DD" or ""
  std::string sex;         // "female", "male", "other" or ""
  std::string photo_type;  // "image/png", "image/jpeg" or "" (no photo)
  Bytes photo;
  bool operator==(const PatientProfile&) const = default;
};

struct PutRecordResult {
  store::PutOutcome outcome = store::PutOutcome::kInserted;
  std::uint64_t chain_seq = 0;  // the record's entry in the chain
};

struct GeneralisationReport {
  GeneralisationLevel level;
  std::size_t released = 0;    // rows in the generalised table
  std::size_t suppressed = 0;  // patients left out to keep it k-anonymous
  std::int32_t reference_year = 0;
};

// Which generalised attributes to group by; the others are summed over.
struct CohortQuery {
  bool by_age_band = true;
  bool by_sex = true;
  bool by_postcode_prefix = false;
};

struct CohortCell {
  std::string age_band;         // "*" when not grouped by it
  std::string sex;              // likewise
  std::string postcode_prefix;  // likewise
  std::uint64_t patients = 0;
  bool operator==(const CohortCell&) const = default;
};

struct CohortStatistics {
  std::vector<CohortCell> cells;       // groups of at least k patients, ordered by their values
  std::uint64_t suppressed_cells = 0;  // groups left out for having fewer than k patients
  std::uint64_t patients = 0;          // patients in the cells shown
  std::int32_t reference_year = 0;     // the year the ages refer to
};

struct MedicalCount {
  std::string value;  // an ICD-10 code or a symptom
  std::uint64_t patients = 0;
  bool operator==(const MedicalCount&) const = default;
};

struct MedicalStatistics {
  std::vector<MedicalCount> conditions;     // distinct patients per condition, at least k each
  std::vector<MedicalCount> symptoms;       // distinct patients per symptom, at least k each
  std::uint64_t suppressed = 0;             // values left out for having fewer than k patients
  std::uint64_t suppressed_conditions = 0;  // of which conditions
  std::uint64_t suppressed_symptoms = 0;    // of which symptoms
};

struct IntegrityProblem {
  std::uint64_t seq = 0;   // the chain entry; 0 for a problem with the chain head
  std::string record_ref;  // the keyed record reference of the entry ("" if none)
  std::string reason;      // for operators; names no personal data
};

// The checks that one stored record or reading batch must pass ("verify my data",
// cloud/integrity_service.h), in the order they are made; the first that fails is reported.
enum class IntegrityCheck : std::uint8_t {
  kMissing = 1,    // the chain says the item is stored, but its row (or a row it needs) is gone
  kDecrypt = 2,    // a ciphertext fails authentication, or its row is bound to another one
  kDigest = 3,     // decrypts, but the content does not match the digest its row records
  kSignature = 4,  // the device's signature (upload evidence) does not verify over the content
  kChain = 5,      // the item's chain entry is missing, altered, unlinked or names another digest
};
// "missing", "decrypt", "digest", "signature", "chain".
std::string_view IntegrityCheckName(IntegrityCheck check);

// One record's decrypt, digest and chain checks (the signature needs the device's enrolment:
// the caller checks it over `record`).
struct RecordCheck {
  std::optional<IntegrityCheck> failed;  // the first failed check of those made here
  std::optional<StoredRecord> record;    // set when decrypt and digest passed
  std::uint64_t chain_seq = 0;           // the record's latest chain entry (0 if none)
  Bytes chained_digest;                  // the digest that entry names (empty if none)
};

// A record's rows as stored, for showing a patient the stored form of their data (issue 8
// workflow 2). Ciphertexts are opaque bytes; a row that is missing is empty.
struct RecordStoredForm {
  Bytes link_ciphertext;  // EI side: record id, device id, device signature, snapshot refs
  Bytes ei_ciphertext;    // EI snapshot: the identifiers
  Bytes qi_ciphertext;    // QI snapshot: birth date, sex, postcode
  Bytes mi_ciphertext;    // MI row: the medical part
  Bytes digest;           // the digest the link row records
};

// One of a patient's records: reassembled and checked, or the check it failed.
struct PatientRecordEntry {
  std::string device_id;
  std::string record_id;
  std::int64_t created_ms = 0;           // 0 when the record did not reassemble
  std::optional<StoredRecord> record;    // set when every part decrypted and the digest held
  std::optional<IntegrityCheck> failed;  // kMissing, kDecrypt or kDigest otherwise
};

struct VerifyReport {
  std::uint64_t entries_checked = 0;             // chain entries whose hashes were recomputed
  std::uint64_t records_checked = 0;             // stored records decrypted and re-digested
  store::ChainHead head;                         // compare with an externally anchored copy
  std::optional<IntegrityProblem> first_broken;  // the lowest broken entry
  std::uint64_t unchained_rows = 0;  // record or MI rows that no chain entry accounts for
  bool ok() const { return !first_broken && unchained_rows == 0; }
};

// One patient of the partitioned view (issue 8 workflow 8): the pseudonym and the generalised
// QI at the level of the k-anonymous table, never the identity.
struct GeneralisedPatient {
  std::string patient_id;   // for the caller's joins (accounts, audit); not for display
  std::string pseudonym;    // Pseudonym(patient_id)
  GeneralisedQi qi;         // at the table's level; "*" everywhere when suppressed
  bool suppressed = false;  // the patient's class has fewer than k members
};

struct GeneralisedPatientTable {
  GeneralisationLevel level;
  std::int32_t reference_year = 0;           // the year the ages refer to
  std::vector<GeneralisedPatient> patients;  // every patient with a current QI, by pseudonym
};

struct PatientRecordActivity {
  std::uint64_t records = 0;        // stored records
  std::int64_t last_stored_ms = 0;  // when the newest chain entry of one of them was written
};

class ThreePartStore {
 public:
  // kInvalidArgument if a secret is not 32 bytes or the k-anonymity options are out of range.
  // `store`, `random` and `clock` must outlive the object.
  static Result<std::unique_ptr<ThreePartStore>> Create(store::RecordStore& store,
                                                        ThreePartKeys keys, Random& random,
                                                        const Clock& clock,
                                                        ThreePartOptions options = {});
  ThreePartStore(const ThreePartStore&) = delete;
  ThreePartStore& operator=(const ThreePartStore&) = delete;
  ~ThreePartStore();

  // Splits, encrypts and stores a record with the device's signature (opaque bytes, 1 ..
  // max_signature_bytes). Idempotent by (device id, record id): the same record again is
  // kDuplicate; other content under the same ids is kAlreadyExists. kInvalidArgument for a
  // record that wire::ValidatePatientRecord refuses, a malformed e-mail, phone, national id or
  // postcode, or a birth date after today.
  [[nodiscard]] Result<PutRecordResult> PutRecord(const wire::PatientRecord& record,
                                                  ByteView device_signature);

  // Every stored record of the patient, reassembled from its three parts, each checked against
  // its digest; ordered by creation time, then record id. kNotFound for an unknown patient (or
  // one whose data keys were destroyed); kDataLoss if any record fails its check.
  [[nodiscard]] Result<std::vector<StoredRecord>> GetPatientRecords(
      std::string_view patient_id) const;

  // The same, but a damaged record does not hide the others: it is an entry with the check it
  // failed and no record (a record whose link row does not decrypt cannot be named and is left
  // out). Ordered by creation time, then device and record id. Empty for an unknown patient.
  [[nodiscard]] Result<std::vector<PatientRecordEntry>> ListPatientRecords(
      std::string_view patient_id) const;

  // The stored rows of the record (device id, record id) of `patient_id`; the EI and QI
  // snapshots are found through the link row, so they are empty when it does not decrypt, and
  // a link row naming another patient is not shown. The caller decides whose record it is
  // (the device's enrolment). kNotFound if neither a link row of the patient nor an MI row is
  // there.
  [[nodiscard]] Result<RecordStoredForm> GetRecordStoredForm(std::string_view patient_id,
                                                             std::string_view device_id,
                                                             std::string_view record_id) const;

  // Patient ids whose records carried this identifier (any version), found by blind index;
  // empty if none. Input is normalised first: e-mail trimmed and lower-cased, phone reduced
  // to its digits, national id without spaces, dots, dashes and slashes and upper-cased.
  // kInvalidArgument if it is not a plausible value of its kind.
  [[nodiscard]] Result<std::vector<std::string>> LookupByEmail(std::string_view email) const;
  [[nodiscard]] Result<std::vector<std::string>> LookupByPhone(std::string_view phone) const;
  [[nodiscard]] Result<std::vector<std::string>> LookupByNationalId(
      std::string_view national_id) const;

  // Rebuilds the generalised QI table from every patient's current QI (decrypting them), with
  // ages as of today, and makes it k-anonymous.
  [[nodiscard]] Result<GeneralisationReport> RefreshGeneralisedQi();

  // Patient counts over the generalised QI table (rebuilt first if records came or went since),
  // with groups of fewer than k patients suppressed.
  [[nodiscard]] Result<CohortStatistics> Cohorts(const CohortQuery& query);

  // Every patient with a current QI (decrypting each), generalised at the level Anonymise
  // chooses for the whole population (the level of the generalised table), with the rows that
  // the table suppresses shown as "*" everywhere; ordered by pseudonym. Nothing is written. The
  // result is kept in memory until the next put or delete (the QI generation) or the next day
  // (ages), so paging through it decrypts the QI part once.
  [[nodiscard]] Result<GeneralisedPatientTable> GeneralisedPatients() const;
  // How many records the patient has and when the last one was stored (from the chain, nothing
  // decrypted). Zero counts for an unknown patient; kInvalidArgument for a malformed id.
  [[nodiscard]] Result<PatientRecordActivity> RecordActivity(std::string_view patient_id) const;

  // The patient with a current QI (any stored record) whose pseudonym is `pseudonym`, found by
  // recomputing the pseudonym of each (nothing decrypted); nullopt if none.
  [[nodiscard]] Result<std::optional<std::string>> PatientOfPseudonym(
      std::string_view pseudonym) const;

  // Distinct patients per condition and per symptom over every MI row (decrypting them),
  // counted by pseudonym; values with fewer than k patients suppressed. The result is kept in
  // memory until the next put or delete (the QI generation, which every put, delete and restore
  // bumps in the store, so this holds for other processes on the same store too): the charts
  // then cost one read of the generation instead of decrypting every MI row. One caller
  // computes at a time; the others wait for its result.
  [[nodiscard]] Result<MedicalStatistics> MedicalCounts() const;

  // Recomputes the whole chain (every entry hash, the links and the head) and every live
  // record's digest from its decrypted parts. A broken store is a successful call whose report
  // says what broke; errors are only those of the store.
  [[nodiscard]] Result<VerifyReport> Verify() const;
  // The same for one patient's records ("verify my data"); the chain is still checked whole.
  // kNotFound for an unknown patient.
  [[nodiscard]] Result<VerifyReport> VerifyPatient(std::string_view patient_id) const;

  // Removes every row of the patient (logging a delete entry per record) and destroys the
  // patient's EI, QI and MI data keys (crypto-shredding): copies of the rows elsewhere, such as
  // backups, become unreadable. Safe to repeat after a failure part-way. kNotFound if the
  // patient has neither rows nor keys.
  [[nodiscard]] Status DeletePatient(std::string_view patient_id);

  // The profile sealed under the patient's EI data key (created on first use), bound to the
  // patient id; the caller stores the bytes (the accounts store does). kInvalidArgument for an
  // empty patient id. OpenPatientProfile: kNotFound once the patient's keys were destroyed;
  // kDataLoss for bytes that fail authentication or do not decode.
  [[nodiscard]] Result<Bytes> SealPatientProfile(std::string_view patient_id,
                                                 const PatientProfile& profile) const;
  [[nodiscard]] Result<PatientProfile> OpenPatientProfile(std::string_view patient_id,
                                                          ByteView sealed) const;
  // --- One item ("verify and restore", cloud/integrity_service.h) ----------------------------

  // Decrypts, re-digests and places in the chain the record (device id, record id) of
  // `patient_id`. A damaged record is a successful call whose result names the failed check.
  // kNotFound if the record has neither a row nor a chain entry, or its last entry is a
  // delete; store errors as they are.
  [[nodiscard]] Result<RecordCheck> CheckRecord(std::string_view patient_id,
                                                std::string_view device_id,
                                                std::string_view record_id) const;

  // Puts a stored record back from an authentic copy (the caller verified the device's
  // signature): re-encrypts its parts and overwrites its rows, appending a restore entry to the
  // chain. kFailedPrecondition if its canonical digest differs from the digest first chained
  // for it (a copy of other content) or its chain entry is damaged; kNotFound if it was never
  // stored (or was deleted); the errors of PutRecord for bad input.
  [[nodiscard]] Result<std::uint64_t> RestoreRecord(const wire::PatientRecord& record,
                                                    ByteView device_signature);

  // Whether the latest chain entry of `ref` is live, names `digest` (and, if given, was
  // stored at `stored_ms`), recomputes under the chain key and links to its neighbours.
  // nullopt if all hold, else kChain (kMissing never). Store errors as they are.
  [[nodiscard]] Result<std::optional<IntegrityCheck>> CheckChainPlace(
      std::string_view ref, ByteView digest, std::optional<std::int64_t> stored_ms) const;
  // The latest chain entry naming `ref`, nullopt if none.
  [[nodiscard]] Result<std::optional<store::ChainEntry>> LatestChainEntry(
      std::string_view ref) const;

  // Reading batches of the intake store (cloud/intake_store.h) in the chain: `kind` is
  // kReadingsPut, kReadingsRestore or kReadingsDelete (empty digest). Idempotent: if the
  // latest entry of `ref` already is of this kind with this digest, its seq is returned and
  // nothing is appended. kInvalidArgument otherwise as RecordStore::AppendChainEntry.
  [[nodiscard]] Result<std::uint64_t> ChainReadingBatch(store::ChainEntryKind kind,
                                                        std::string_view batch_ref, ByteView digest,
                                                        std::int64_t stored_ms);

  // The patient's MI pseudonym (64 hex characters), e.g. for the MI-side workflows.
  std::string Pseudonym(std::string_view patient_id) const;

  // The envelope of one part, for KEK rotation (crypto::EnvelopeAead::RotateKek).
  crypto::EnvelopeAead& envelope(store::RecordPart part);

 private:
  struct Keys;
  class Hasher;
  ThreePartStore(store::RecordStore& store, ThreePartKeys keys, Random& random, const Clock& clock,
                 ThreePartOptions options);

  struct SnapshotCache;
  // `failed`, if given, receives the check a failure belongs to (kMissing, kDecrypt, kDigest).
  Result<StoredRecord> Reassemble(const store::RecordLinkRow& link, SnapshotCache& cache,
                                  IntegrityCheck* failed = nullptr) const;
  // The rows of a record, encrypted (PutRecord and RestoreRecord).
  Result<store::NewRecord> BuildRows(const wire::PatientRecord& record,
                                     ByteView device_signature) const;
  Result<std::vector<std::string>> Lookup(std::string_view field,
                                          const std::string& normalised) const;
  Result<VerifyReport> VerifyRecords(const std::optional<std::string>& patient_id) const;
  // MedicalCounts without the cache: decrypts every MI row.
  Result<MedicalStatistics> CountMedical() const;
  // Every current QI, decrypted and ready to generalise (ages as of `today`), by patient id.
  Result<std::vector<std::pair<std::string, QuasiIdentifiers>>> CurrentQi(
      const std::chrono::year_month_day& today) const;

  store::RecordStore& store_;
  const Clock& clock_;
  // GeneralisedPatients' last result, for QI generation `generalised_generation_` on day
  // `generalised_day_` (days since the epoch).
  mutable std::mutex generalised_mu_;
  mutable std::optional<GeneralisedPatientTable> generalised_;  // guarded by generalised_mu_
  mutable std::uint64_t generalised_generation_ = 0;            // guarded by generalised_mu_
  mutable std::int64_t generalised_day_ = 0;                    // guarded by generalised_mu_
  // MedicalCounts' last result, for QI generation `medical_generation_`. medical_compute_mu_
  // is held while one is computed (taken before medical_mu_, never the other way round).
  mutable std::mutex medical_compute_mu_;
  mutable std::mutex medical_mu_;
  mutable std::optional<MedicalStatistics> medical_;  // guarded by medical_mu_
  mutable std::uint64_t medical_generation_ = 0;      // guarded by medical_mu_
  ThreePartOptions options_;
  std::unique_ptr<Keys> keys_;
  std::unique_ptr<Hasher> hasher_;
  crypto::EnvelopeAead ei_;
  crypto::EnvelopeAead qi_;
  crypto::EnvelopeAead mi_;
};

// --- Normalisation of identifiers (exposed for tests and callers that index elsewhere) --------

// E-mail addresses are normalised by accounts::NormaliseEmail (accounts/encoding.h), the one
// form shared with account logins.
// "442079460958" from "+44 20 7946-0958". kInvalidArgument unless it has only digits and
// + ( ) - . and spaces, and 5..15 digits.
Result<std::string> NormalisePhone(std::string_view phone);
// "AB123456C" from "ab 12-34-56 c". kInvalidArgument unless, without spaces . - /, it is 1..64
// letters and digits.
Result<std::string> NormaliseNationalId(std::string_view national_id);
// "SW1A1AA" from "sw1a 1aa". kInvalidArgument unless it has 1..16 letters, digits, spaces and
// dashes.
Result<std::string> NormalisePostcode(std::string_view postcode);

}  // namespace medmesh::cloud
