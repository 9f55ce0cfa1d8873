// ClinicalStore: the rows behind the cloud's clinical workflows (issue 8; docs/workflows.md):
//
//   activations  a patient's request for portal access at one of their cloudlets, and the
//                operator's decision (requested → approved | denied, with a reason)
//   consents     a patient's grant of chosen records to one doctor, until revoked; the records
//                of a grant are rows of consent_records
//   answers      a doctor's answer to a grant (diagnosis, medication, prescription), stored as
//                ciphertext the caller made (clinical_service.h encrypts it under the patient's
//                "answers" data key); only whether it holds a prescription is in the clear
//
// The store keeps what it is given and decides no authorisation; ClinicalService does. Ids,
// times and free text (reasons) are stored verbatim through bound parameters.
//
// Writes that take a `gate` call it inside their transaction after every statement succeeded,
// just before the commit: an error from the gate rolls the transaction back and is returned.
// The service appends its audit entry there, so nothing is written that was not audited. (On
// PostgreSQL an operation whose connection broke before its commit runs once more, gate
// included: an audit entry may then be appended twice.)
//
// Errors: kInvalidArgument for a field out of range (naming the field, never quoting it);
// kNotFound, kAlreadyExists and kFailedPrecondition as each method says; kUnavailable when the
// database is busy or unreachable; kResourceExhausted, kDataLoss, kInternal as in
// store/record_store.h. Messages never carry values.
// Thread safety: implementations are thread-safe.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace medmesh::cloud {

enum class ActivationStatus : std::uint8_t { kRequested, kApproved, kDenied };
// "requested", "approved", "denied": the names in the tables, JSON and docs.
std::string_view ActivationStatusName(ActivationStatus status);
std::optional<ActivationStatus> ParseActivationStatus(std::string_view name);

struct ActivationRow {
  std::string activation_id;
  std::string patient_id;
  std::string cloudlet_id;
  ActivationStatus status = ActivationStatus::kRequested;
  std::string reason;      // the operator's, verbatim; "" until decided (and for most approvals)
  std::string decided_by;  // the operator's account id; "" until decided
  std::int64_t requested_ms = 0;
  std::int64_t decided_ms = 0;  // 0 until decided
  bool operator==(const ActivationRow&) const = default;
};

// One record of the three-part store (cloud/three_part.h): record ids are unique per device.
struct RecordKey {
  std::string device_id;
  std::string record_id;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  auto operator<=>(const RecordKey&) const = default;
};

struct ConsentRow {
  std::string consent_id;
  std::string patient_id;
  std::string doctor_id;           // the doctor's account id
  std::vector<RecordKey> records;  // at least one, sorted, no repeats
  std::int64_t created_ms = 0;
  std::optional<std::int64_t> revoked_ms;
  bool active() const { return !revoked_ms.has_value(); }
  bool operator==(const ConsentRow&) const = default;
};

struct AnswerRow {
  std::string answer_id;
  std::string consent_id;
  std::string patient_id;
  std::string doctor_id;
  std::int64_t created_ms = 0;
  bool has_prescription = false;
  Bytes ciphertext;  // opaque to the store
  bool operator==(const AnswerRow&) const = default;
};

struct AnswerCounts {
  std::uint64_t answers = 0;
  std::uint64_t prescriptions = 0;
  bool operator==(const AnswerCounts&) const = default;
};

// A doctor a patient sent records to (any grant, revoked or not).
struct Referral {
  std::string doctor_id;
  std::string patient_id;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  auto operator<=>(const Referral&) const = default;
};

// Called inside a write's transaction just before the commit (see the top of this file).
using CommitGate = std::function<Status()>;

// The most records one grant may name.
inline constexpr std::size_t kMaxRecordsPerConsent = 100;
// The longest reason an operator may give.
inline constexpr std::size_t kMaxReasonBytes = 1000;

class ClinicalStore {
 public:
  virtual ~ClinicalStore() = default;

  // --- Activations ---
  // Inserts a new request (status must be kRequested). kAlreadyExists if the id is taken or the
  // patient already has a requested or approved activation at that cloudlet.
  [[nodiscard]] virtual Status InsertActivation(const ActivationRow& row,
                                                const CommitGate& gate) = 0;
  [[nodiscard]] virtual Result<std::optional<ActivationRow>> GetActivation(
      std::string_view activation_id) const = 0;
  // Newest first.
  [[nodiscard]] virtual Result<std::vector<ActivationRow>> ListActivationsOfPatient(
      std::string_view patient_id) const = 0;
  // Newest first; only those with `status` if given.
  [[nodiscard]] virtual Result<std::vector<ActivationRow>> ListActivationsOfCloudlet(
      std::string_view cloudlet_id, std::optional<ActivationStatus> status) const = 0;
  // Moves a requested activation to kApproved or kDenied with the reason, the deciding account
  // and the time. kNotFound for an unknown id; kFailedPrecondition if it is no longer requested
  // (decided meanwhile: the first decision stands); kInvalidArgument for kRequested.
  [[nodiscard]] virtual Status DecideActivation(std::string_view activation_id,
                                                ActivationStatus decision, std::string_view reason,
                                                std::string_view decided_by,
                                                std::int64_t decided_ms,
                                                const CommitGate& gate) = 0;
  // True if the patient has an approved activation at any cloudlet.
  [[nodiscard]] virtual Result<bool> HasApprovedActivation(std::string_view patient_id) const = 0;

  // --- Consents ---
  // Inserts the grant and its records in one transaction. kAlreadyExists if the id is taken;
  // kInvalidArgument for no records, more than kMaxRecordsPerConsent, repeats or a revoked row.
  [[nodiscard]] virtual Status InsertConsent(const ConsentRow& row, const CommitGate& gate) = 0;
  [[nodiscard]] virtual Result<std::optional<ConsentRow>> GetConsent(
      std::string_view consent_id) const = 0;
  // Newest first.
  [[nodiscard]] virtual Result<std::vector<ConsentRow>> ListConsentsOfPatient(
      std::string_view patient_id) const = 0;
  // Newest first; active grants only if `active_only`.
  [[nodiscard]] virtual Result<std::vector<ConsentRow>> ListConsentsOfDoctor(
      std::string_view doctor_id, bool active_only) const = 0;
  // Marks an active grant revoked at `revoked_ms`: true. False (and the gate is not called) if it
  // was revoked already; kNotFound for an unknown id.
  [[nodiscard]] virtual Result<bool> RevokeConsent(std::string_view consent_id,
                                                   std::int64_t revoked_ms,
                                                   const CommitGate& gate) = 0;
  // Every distinct (doctor, patient) pair of any grant, sorted.
  [[nodiscard]] virtual Result<std::vector<Referral>> ListReferrals() const = 0;

  // --- Answers ---
  // Inserts an answer to a grant, in one transaction with a check that the grant exists, is
  // active and names the answer's patient and doctor: kFailedPrecondition otherwise (so an
  // answer never lands on a grant revoked a moment before). kAlreadyExists if the id is taken.
  [[nodiscard]] virtual Status InsertAnswer(const AnswerRow& row, const CommitGate& gate) = 0;
  // Oldest first.
  [[nodiscard]] virtual Result<std::vector<AnswerRow>> ListAnswersOfPatient(
      std::string_view patient_id) const = 0;
  [[nodiscard]] virtual Result<std::vector<AnswerRow>> ListAnswersOfDoctor(
      std::string_view doctor_id) const = 0;
  // Counts over every answer, or (with a cloudlet id) over the answers to patients with an
  // approved activation at that cloudlet.
  [[nodiscard]] virtual Result<AnswerCounts> CountAnswers(
      std::optional<std::string_view> cloudlet_id) const = 0;

  // --- Deletion (workflow 6) ---
  // Removes every activation, grant (with its records) and answer of the patient in one
  // transaction. True if any row was removed.
  [[nodiscard]] virtual Result<bool> DeletePatient(std::string_view patient_id) = 0;
};

// Field checks shared by the implementations (kInvalidArgument naming the field).
[[nodiscard]] Status ValidateActivationRow(const ActivationRow& row);
[[nodiscard]] Status ValidateConsentRow(const ConsentRow& row);
[[nodiscard]] Status ValidateAnswerRow(const AnswerRow& row);
[[nodiscard]] Status ValidateStoreKey(std::string_view field, std::string_view value);
// Passes a gate's result through; an empty gate is OK.
[[nodiscard]] Status RunGate(const CommitGate& gate);

}  // namespace medmesh::cloud
