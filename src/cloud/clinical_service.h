// ClinicalService: the cloud's clinical workflows of issue 8 as a domain layer, without HTTP
// (states, roles and storage: docs/workflows.md; the choices: docs/adr/0017):
//
//   1 portal activation  a patient asks one of their cloudlets for access to their data; that
//                        cloudlet's operator approves or denies (with a reason); until an
//                        approval no medical data is shown to the patient (PortalActive)
//   3 consent            a patient sends chosen records to an approved doctor: a grant limited
//                        to those records, which the patient lists and revokes
//   4 doctor's answers   a doctor's inbox (granted records grouped by patient, with recent
//                        readings), answers with a diagnosis, medication and a prescription,
//                        the patient sees them on their records, the doctor lists the
//                        prescriptions they wrote; operators and admins see counts only
//   7 statistics         distinct patients per symptom and per referred doctor over
//                        pseudonyms, counts below k suppressed
//
// Authorisation is decided here, from the accounts::Principal, so that it can be tested
// without HTTP. Every method checks the role first (kPermissionDenied "not allowed for this
// role"), then the ids: an unknown id and someone else's id both give kNotFound with the one
// message kNotFoundMessage. A patient whose portal is not active gets kPermissionDenied
// (kPortalInactiveMessage) from every method but the activation ones. Bad input is
// kInvalidArgument naming the field, never quoting it. Store errors pass through.
//
// Audit: every call appends one audit::AuditEntry per action (several for an inbox, one per
// patient shown, appended together with AuditSink::AppendMany: one transaction), with outcome
// kMinorFailure for a refusal. A write appends its entry inside
// the store transaction just before the commit (ClinicalStore's CommitGate), so a failing
// Append rolls the write back; a read appends before it returns the data. A failing Append
// fails the call with the sink's error, also when the call was being refused anyway.
//
// Answers are medical data: diagnosis, medication and prescription are stored encrypted under
// the patient's own "answers" data key (DataKeyContext{patient_id, "answers"}) of the envelope
// given (the cloud passes the EI part's), bound by associated data to their row. DeletePatient
// destroys that key (crypto-shredding).
// Thread safety: thread-safe if the store, the sink and the hooks are.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "accounts/principal.h"
#include "audit/audit_sink.h"
#include "cloud/clinical_store.h"
#include "cloud/three_part.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "wire/model.h"

namespace medmesh::cloud {

inline constexpr std::string_view kNotFoundMessage = "not found";
inline constexpr std::string_view kRoleDeniedMessage = "not allowed for this role";
inline constexpr std::string_view kPortalInactiveMessage = "the patient portal is not activated";

// Field limits of an answer (bytes of UTF-8). Diagnosis is required; medication may be empty; a
// prescription, if given, needs all four fields.
inline constexpr std::size_t kMaxDiagnosisBytes = 4000;
inline constexpr std::size_t kMaxMedicationBytes = 4000;
inline constexpr std::size_t kMaxDrugBytes = 200;
inline constexpr std::size_t kMaxDoseBytes = 100;
inline constexpr std::size_t kMaxFrequencyBytes = 100;
inline constexpr std::size_t kMaxDurationBytes = 100;

struct Prescription {
  std::string drug;       // "Amlodipine"
  std::string dose;       // "5 mg"
  std::string frequency;  // "once daily"
  std::string duration;   // "30 days"
  bool operator==(const Prescription&) const = default;
};

struct AnswerContent {
  std::string diagnosis;
  std::string medication;  // details: what to take, how, what to watch for
  std::optional<Prescription> prescription;
  bool operator==(const AnswerContent&) const = default;
};

// An answer as its readers see it (decrypted).
struct Answer {
  std::string answer_id;
  std::string consent_id;
  std::string patient_id;
  std::string doctor_id;
  std::int64_t created_ms = 0;
  std::vector<RecordKey> records;  // the records of the grant it answers
  AnswerContent content;
};

// One grant in a doctor's inbox.
struct InboxGrant {
  ConsentRow consent;
  std::vector<StoredRecord> records;    // the granted records still stored, oldest first
  std::vector<std::string> answer_ids;  // this doctor's answers to it so far
};

struct InboxPatient {
  std::string patient_id;
  std::vector<InboxGrant> grants;  // newest first
  // The patient's readings of the last ClinicalOptions::inbox_readings_window (at most
  // inbox_max_readings, the newest), sorted by time; empty without a readings hook.
  std::vector<wire::Reading> recent_readings;
};

// What ReadPatient loads and how it records the read (see there).
struct PatientReadRequest {
  std::string event{};        // the audit entry's event, e.g. "fhir.observation.search"
  std::string entity_type{};  // and the entity read: a FHIR type, and an id for a single read
  std::string entity_id{};
  bool records = false;
  bool consents = false;
  bool answers = false;
  // Readings in [first, second) milliseconds, of `reading_kinds` (empty: every kind); nullopt:
  // none. With readings_limit > 0 the read stops, oldest first, once at least that many are
  // loaded, after the last reading of that millisecond (PatientView::readings_end_ms).
  std::optional<std::pair<std::int64_t, std::int64_t>> readings{};
  std::vector<wire::VitalKind> reading_kinds{};
  std::size_t readings_limit = 0;
};

// One patient's data as one caller may see it (ReadPatient).
struct PatientView {
  std::string patient_id;
  bool own = false;  // the caller is the patient
  // Own: every stored record. Doctor: the records their active grants name, still stored.
  std::vector<StoredRecord> records;
  // Own: every grant, revoked ones too, newest first. Doctor: their active grants from the
  // patient, newest first.
  std::vector<ConsentRow> consents;
  // Own: every answer to their grants. Doctor: the answers they wrote to this patient (also to
  // grants revoked since, as ListMyPrescriptions). Oldest first.
  std::vector<Answer> answers;
  // In the requested range, sorted by (time, kind, value). Doctor: only the readings the inbox
  // shows (the last inbox_readings_window, at most inbox_max_readings, the newest).
  std::vector<wire::Reading> readings;
  // `readings` holds every reading of the range before this time: the range's end, or less
  // when readings_limit stopped the read.
  std::int64_t readings_end_ms = 0;
};

struct DoctorCount {
  std::string doctor_id;
  std::uint64_t patients = 0;
  bool operator==(const DoctorCount&) const = default;
};

// The original system's two charts.
struct ChartStatistics {
  std::vector<MedicalCount> symptoms;  // distinct patients per symptom, at least k each
  std::uint64_t suppressed_symptoms = 0;
  std::vector<DoctorCount> doctors;  // distinct patients who sent records to each doctor
  std::uint64_t suppressed_doctors = 0;
  std::size_t k = 0;  // the threshold applied
};

struct ClinicalHooks {
  // Whether the account is a doctor the cloud admin approved (the accounts store answers).
  std::function<Result<bool>(std::string_view account_id)> is_approved_doctor;
  // The cloudlets that hold the patient's data (IntakeStore::CloudletsOfPatient).
  std::function<Result<std::vector<std::string>>(std::string_view patient_id)> cloudlets_of_patient;
  // The patient's readings in [from_ms, to_ms), any order (e.g. CloudReadings::Read). Optional:
  // without it inboxes carry no readings.
  std::function<Result<std::vector<wire::Reading>>(std::string_view patient_id,
                                                   std::int64_t from_ms, std::int64_t to_ms)>
      readings;
  // Optional (CloudReadings::FirstBatchFrom): the earliest time in [from_ms, to_ms) at which the
  // patient may have readings, nullopt if none. ReadPatient then skips stretches without data
  // instead of reading ever longer windows across them.
  std::function<Result<std::optional<std::int64_t>>(std::string_view patient_id,
                                                    std::int64_t from_ms, std::int64_t to_ms)>
      first_readings_ms;
};

struct ClinicalOptions {
  // Statistics suppress counts below this (at least 2). The symptom chart also keeps the
  // three-part store's own k (ThreePartOptions): the larger of the two applies.
  std::size_t statistics_k = 5;
  std::chrono::milliseconds inbox_readings_window = std::chrono::hours(24);
  std::size_t inbox_max_readings = 5000;
};

class ClinicalService {
 public:
  // kInvalidArgument if statistics_k < 2 or a required hook (is_approved_doctor,
  // cloudlets_of_patient) is empty. Every reference must outlive the service.
  static Result<std::unique_ptr<ClinicalService>> Create(
      ClinicalStore& store, ThreePartStore& records, crypto::EnvelopeAead& answers_envelope,
      audit::AuditSink& audit, const Clock& clock, Random& random, ClinicalHooks hooks,
      ClinicalOptions options = {});

  // `from` in every method is the caller's network address, for the audit log.

  // --- 1. Portal activation ---
  // Patient: asks `cloudlet_id` (one holding their data, else kNotFound) for access.
  // kAlreadyExists if a request there is pending or approved already.
  [[nodiscard]] Result<ActivationRow> RequestActivation(const accounts::Principal& who,
                                                        std::string_view cloudlet_id,
                                                        std::string_view from);
  // Patient: their requests and the answers (with the operator's reason), newest first.
  [[nodiscard]] Result<std::vector<ActivationRow>> ListMyActivations(const accounts::Principal& who,
                                                                     std::string_view from);
  // Operator: the requests at their own cloudlet, newest first (only `status` ones if given).
  [[nodiscard]] Result<std::vector<ActivationRow>> ListActivationRequests(
      const accounts::Principal& who, std::optional<ActivationStatus> status,
      std::string_view from);
  // Operator of the activation's cloudlet: approves (reason optional) or denies (reason
  // required, 1..kMaxReasonBytes). kNotFound for another cloudlet's activation;
  // kFailedPrecondition if it was decided already.
  [[nodiscard]] Result<ActivationRow> DecideActivation(const accounts::Principal& who,
                                                       std::string_view activation_id, bool approve,
                                                       std::string_view reason,
                                                       std::string_view from);
  // For other slices: whether the patient has an approved activation (patient data endpoints
  // refuse until it is true). Not audited.
  [[nodiscard]] Result<bool> PortalActive(std::string_view patient_id) const;

  // --- 3. Consent ---
  // Patient: grants `doctor_id` (an approved doctor, else kNotFound) the chosen records (1..
  // kMaxRecordsPerConsent of their own, else kNotFound; repeats are merged).
  [[nodiscard]] Result<ConsentRow> GrantConsent(const accounts::Principal& who,
                                                std::string_view doctor_id,
                                                std::vector<RecordKey> records,
                                                std::string_view from);
  // Patient: their grants, newest first, revoked ones included.
  [[nodiscard]] Result<std::vector<ConsentRow>> ListMyConsents(const accounts::Principal& who,
                                                               std::string_view from);
  // Patient: revokes their grant (at once: the doctor's next read no longer sees it). Revoking
  // a revoked grant returns it unchanged.
  [[nodiscard]] Result<ConsentRow> RevokeConsent(const accounts::Principal& who,
                                                 std::string_view consent_id,
                                                 std::string_view from);
  // Doctor: the records of `patient_id` their active grants name, sorted; kNotFound if none
  // (the same as for an unknown patient). For the other slices' doctor-facing reads (FHIR):
  // not audited, the caller audits the read it authorises.
  [[nodiscard]] Result<std::vector<RecordKey>> RecordsGrantedTo(const accounts::Principal& who,
                                                                std::string_view patient_id) const;

  // --- Read-only views of one patient (the FHIR API, fhir_api.h) ---
  // What `who` may see of `patient_id`, by the rules of the methods here: a patient only
  // themself (another id: kNotFound) and only with an active portal (kPermissionDenied
  // kPortalInactiveMessage, checked first as everywhere); a doctor only through an active grant
  // from the patient (none: kNotFound) and only what the inbox shows; operators and admins
  // kPermissionDenied (no clinical content). Loads what `request` asks for and appends one
  // audit entry (request.event, action read, the patient, request's entity), a refusal too.
  [[nodiscard]] Result<PatientView> ReadPatient(const accounts::Principal& who,
                                                std::string_view patient_id,
                                                const PatientReadRequest& request,
                                                std::string_view from);

  // --- 4. Doctor's answers ---
  // Doctor: their active grants grouped by patient, with the granted records and recent
  // readings. One audit entry per patient shown.
  [[nodiscard]] Result<std::vector<InboxPatient>> Inbox(const accounts::Principal& who,
                                                        std::string_view from);
  // Doctor holding the active grant: stores an answer to it. kInvalidArgument for content out
  // of the limits above (or not UTF-8, or with control characters other than tab and newline).
  [[nodiscard]] Result<Answer> AnswerConsent(const accounts::Principal& who,
                                             std::string_view consent_id, AnswerContent content,
                                             std::string_view from);
  // Patient: every answer to their grants (revoked ones too), oldest first. Doctor: every
  // answer they wrote, with or without a prescription (also for grants revoked since, as
  // ListMyPrescriptions), oldest first.
  [[nodiscard]] Result<std::vector<Answer>> ListMyAnswers(const accounts::Principal& who,
                                                          std::string_view from);
  // Doctor: every answer they wrote that holds a prescription, oldest first (also for grants
  // revoked since: the prescriptions are the doctor's own record).
  [[nodiscard]] Result<std::vector<Answer>> ListMyPrescriptions(const accounts::Principal& who,
                                                                std::string_view from);
  // Admin: counts over every answer. Operator: over the answers to patients with an approved
  // activation at their cloudlet. Never contents.
  [[nodiscard]] Result<AnswerCounts> CountAnswers(const accounts::Principal& who,
                                                  std::string_view from);

  // --- 7. Statistics ---
  // Doctor, operator or admin: the two charts, over pseudonyms, counts below k suppressed.
  [[nodiscard]] Result<ChartStatistics> Statistics(const accounts::Principal& who,
                                                   std::string_view from);

  // --- Deletion (workflow 6; the caller authorises and audits) ---
  // Removes the patient's activations, grants and answers and destroys their answers data key,
  // so copies of the answer rows (backups) cannot be decrypted. Safe to repeat.
  [[nodiscard]] Status DeletePatient(std::string_view patient_id);

 private:
  ClinicalService(ClinicalStore& store, ThreePartStore& records,
                  crypto::EnvelopeAead& answers_envelope, audit::AuditSink& audit,
                  const Clock& clock, Random& random, ClinicalHooks hooks, ClinicalOptions options);

  struct Action;
  // Appends the entry of a refusal and returns `error` (or the sink's error).
  Error Refuse(const Action& action, Error error);
  Status Record(const Action& action, audit::Outcome outcome, std::string detail);
  audit::AuditEntry EntryOf(const Action& action, audit::Outcome outcome, std::string detail) const;
  Status RequirePatient(const accounts::Principal& who, const Action& action);
  Status RequireActivePatient(const accounts::Principal& who, const Action& action);
  // The doctor's own answers (all, or those with a prescription), decrypted, oldest first.
  Result<std::vector<Answer>> ListAnswersWritten(const accounts::Principal& who,
                                                 const Action& action, bool prescriptions_only);
  // The patient's readings the inbox shows at `now_ms` (ClinicalOptions), sorted; empty
  // without a readings hook.
  Result<std::vector<wire::Reading>> RecentReadings(std::string_view patient_id,
                                                    std::int64_t now_ms) const;
  // ReadPatient's readings: the readings of request.readings `who` may see, and the end of the
  // range they cover.
  Result<std::pair<std::vector<wire::Reading>, std::int64_t>> ReadingsFor(
      bool own, std::string_view patient_id, const PatientReadRequest& request) const;
  Result<std::vector<Answer>> Decrypt(const std::vector<AnswerRow>& rows,
                                      const std::vector<ConsentRow>& consents) const;
  std::int64_t NowMs() const;

  ClinicalStore& store_;
  ThreePartStore& records_;
  crypto::EnvelopeAead& answers_;
  audit::AuditSink& audit_;
  const Clock& clock_;
  Random& random_;
  ClinicalHooks hooks_;
  ClinicalOptions options_;
};

}  // namespace medmesh::cloud
