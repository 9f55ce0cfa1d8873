#include "cloud/clinical_service.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>
#include <utility>

#include "accounts/encoding.h"
#include "core/bytes.h"
#include "crypto/kdf.h"

namespace medmesh::cloud {
namespace {

using accounts::Principal;
using accounts::Role;
using audit::Outcome;
using Json = nlohmann::json;

constexpr std::string_view kAnswersPart = "answers";
constexpr std::string_view kAnswerFormat = "medmesh answer v1";

Error NotFoundError() { return NotFound(std::string(kNotFoundMessage)); }
Error RoleDenied() { return PermissionDenied(std::string(kRoleDeniedMessage)); }
Error AnswerIntegrityFailure() { return DataLoss("stored answer failed its integrity check"); }

// Ids that name things in this service (patients, devices, records, accounts, cloudlets) are
// wire ids: 1..64 of [A-Za-z0-9._-]. Anything else cannot exist, so it is "not found".
bool PlausibleId(std::string_view id) { return wire::IsValidId(id); }

// One UTF-8 code point starting at s[i]; its length, or 0 if malformed (overlong forms,
// surrogates and values past U+10FFFF included).
std::size_t Utf8Length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](std::size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

// Free text is data: any UTF-8 (quotes, angle brackets, SQL) is kept as it is; only control
// characters other than tab and newline are refused, so that no reader is surprised by them.
Status ValidateText(std::string_view field, std::string_view value, std::size_t max_bytes,
                    bool required) {
  if (value.size() > max_bytes) {
    return InvalidArgument(std::string(field) + " is longer than " + std::to_string(max_bytes) +
                           " bytes");
  }
  bool blank = true;
  for (std::size_t i = 0; i < value.size();) {
    const std::size_t n = Utf8Length(value, i);
    if (n == 0) return InvalidArgument(std::string(field) + " is not valid UTF-8");
    const auto c = static_cast<unsigned char>(value[i]);
    if (n == 1 && (c < 0x20 || c == 0x7F) && c != '\t' && c != '\n') {
      return InvalidArgument(std::string(field) + " holds a control character");
    }
    if (!(n == 1 && (c == ' ' || c == '\t' || c == '\n'))) blank = false;
    i += n;
  }
  if (required && blank) return InvalidArgument(std::string(field) + " is required");
  return OkStatus();
}

Status ValidateContent(const AnswerContent& content) {
  MEDMESH_RETURN_IF_ERROR(ValidateText("diagnosis", content.diagnosis, kMaxDiagnosisBytes, true));
  MEDMESH_RETURN_IF_ERROR(
      ValidateText("medication", content.medication, kMaxMedicationBytes, false));
  if (const auto& p = content.prescription) {
    MEDMESH_RETURN_IF_ERROR(ValidateText("prescription.drug", p->drug, kMaxDrugBytes, true));
    MEDMESH_RETURN_IF_ERROR(ValidateText("prescription.dose", p->dose, kMaxDoseBytes, true));
    MEDMESH_RETURN_IF_ERROR(
        ValidateText("prescription.frequency", p->frequency, kMaxFrequencyBytes, true));
    MEDMESH_RETURN_IF_ERROR(
        ValidateText("prescription.duration", p->duration, kMaxDurationBytes, true));
  }
  return OkStatus();
}

Bytes EncodeContent(const AnswerContent& content) {
  Json j{{"diagnosis", content.diagnosis},
         {"medication", content.medication},
         {"prescription", nullptr}};
  if (const auto& p = content.prescription) {
    j["prescription"] = Json{{"drug", p->drug},
                             {"dose", p->dose},
                             {"frequency", p->frequency},
                             {"duration", p->duration}};
  }
  const std::string text = j.dump();
  const ByteView bytes = AsBytes(text);
  return {bytes.begin(), bytes.end()};
}

std::optional<AnswerContent> DecodeContent(ByteView plaintext) {
  const Json j = Json::parse(plaintext.begin(), plaintext.end(), nullptr, false);
  if (!j.is_object()) return std::nullopt;
  AnswerContent out;
  try {
    out.diagnosis = j.at("diagnosis").get<std::string>();
    out.medication = j.at("medication").get<std::string>();
    const Json& p = j.at("prescription");
    if (!p.is_null()) {
      out.prescription =
          Prescription{p.at("drug").get<std::string>(), p.at("dose").get<std::string>(),
                       p.at("frequency").get<std::string>(), p.at("duration").get<std::string>()};
    }
  } catch (const Json::exception&) {
    return std::nullopt;
  }
  return out;
}

// Binds an answer's ciphertext to every clear column of its row: a ciphertext moved to another
// row, or a row whose ids, time or prescription flag were changed, fails to decrypt.
Bytes AnswerAd(const AnswerRow& row) {
  Bytes ad;
  for (std::string_view field :
       {kAnswerFormat, std::string_view(row.answer_id), std::string_view(row.consent_id),
        std::string_view(row.patient_id), std::string_view(row.doctor_id)}) {
    AppendU32Le(ad, static_cast<std::uint32_t>(field.size()));
    AppendBytes(ad, AsBytes(field));
  }
  AppendU64Le(ad, static_cast<std::uint64_t>(row.created_ms));
  AppendU8(ad, row.has_prescription ? 1 : 0);
  return ad;
}

crypto::DataKeyContext AnswersKey(std::string_view patient_id) {
  return {std::string(patient_id), std::string(kAnswersPart)};
}

// A refusal is a minor failure; anything else (the store, a hook) a serious one.
Outcome OutcomeOf(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kFailedPrecondition:
    case ErrorCode::kPayloadTooLarge: return Outcome::kMinorFailure;
    default: return Outcome::kSeriousFailure;
  }
}

}  // namespace

// What one call does, for its audit entry.
struct ClinicalService::Action {
  const Principal& who;
  std::string_view from;
  std::string event;
  audit::Action action;
  std::string patient_id;
  std::string entity_type;
  std::string entity_id;
};

ClinicalService::ClinicalService(ClinicalStore& store, ThreePartStore& records,
                                 crypto::EnvelopeAead& answers_envelope, audit::AuditSink& audit,
                                 const Clock& clock, Random& random, ClinicalHooks hooks,
                                 ClinicalOptions options)
    : store_(store),
      records_(records),
      answers_(answers_envelope),
      audit_(audit),
      clock_(clock),
      random_(random),
      hooks_(std::move(hooks)),
      options_(options) {}

Result<std::unique_ptr<ClinicalService>> ClinicalService::Create(
    ClinicalStore& store, ThreePartStore& records, crypto::EnvelopeAead& answers_envelope,
    audit::AuditSink& audit, const Clock& clock, Random& random, ClinicalHooks hooks,
    ClinicalOptions options) {
  if (options.statistics_k < 2) return InvalidArgument("statistics_k must be at least 2");
  if (!hooks.is_approved_doctor || !hooks.cloudlets_of_patient) {
    return InvalidArgument("the is_approved_doctor and cloudlets_of_patient hooks are required");
  }
  return std::unique_ptr<ClinicalService>(new ClinicalService(
      store, records, answers_envelope, audit, clock, random, std::move(hooks), options));
}

std::int64_t ClinicalService::NowMs() const { return wire::NowMs(clock_); }

Status ClinicalService::Record(const Action& action, Outcome outcome, std::string detail) {
  return audit_.Append(EntryOf(action, outcome, std::move(detail)));
}

audit::AuditEntry ClinicalService::EntryOf(const Action& action, Outcome outcome,
                                           std::string detail) const {
  audit::AuditEntry entry;
  entry.time_ms = NowMs();
  entry.event = action.event;
  entry.action = action.action;
  entry.outcome = outcome;
  entry.actor_account_id = action.who.account_id;
  entry.actor_role = std::string(accounts::RoleName(action.who.role));
  entry.source_address = std::string(action.from);
  entry.patient_id = action.patient_id;
  entry.entity_type = action.entity_type;
  entry.entity_id = action.entity_id;
  entry.detail = std::move(detail);
  return entry;
}

Error ClinicalService::Refuse(const Action& action, Error error) {
  Status recorded = Record(action, OutcomeOf(error), std::string(ErrorCodeName(error.code())));
  if (!recorded) return recorded.error();
  return error;
}

Status ClinicalService::RequirePatient(const Principal& who, const Action& action) {
  if (!who.is(Role::kPatient) || who.patient_id.empty()) return Refuse(action, RoleDenied());
  return OkStatus();
}

Status ClinicalService::RequireActivePatient(const Principal& who, const Action& action) {
  MEDMESH_RETURN_IF_ERROR(RequirePatient(who, action));
  auto active = store_.HasApprovedActivation(who.patient_id);
  if (!active) return Refuse(action, active.error());
  if (!*active) return Refuse(action, PermissionDenied(std::string(kPortalInactiveMessage)));
  return OkStatus();
}

// --- 1. Portal activation ----------------------------------------------------------------------

Result<ActivationRow> ClinicalService::RequestActivation(const Principal& who,
                                                         std::string_view cloudlet_id,
                                                         std::string_view from) {
  Action action{who,          from, "activation.request", audit::Action::kCreate, who.patient_id,
                "Activation", ""};
  MEDMESH_RETURN_IF_ERROR(RequirePatient(who, action));
  if (!PlausibleId(cloudlet_id)) return Refuse(action, NotFoundError());
  auto cloudlets = hooks_.cloudlets_of_patient(who.patient_id);
  if (!cloudlets) return Refuse(action, cloudlets.error());
  if (std::find(cloudlets->begin(), cloudlets->end(), cloudlet_id) == cloudlets->end()) {
    return Refuse(action, NotFoundError());
  }
  ActivationRow row;
  row.activation_id = accounts::NewId("act_", random_);
  row.patient_id = who.patient_id;
  row.cloudlet_id = std::string(cloudlet_id);
  row.status = ActivationStatus::kRequested;
  row.requested_ms = NowMs();
  action.entity_id = row.activation_id;
  Status stored =
      store_.InsertActivation(row, [&] { return Record(action, Outcome::kSuccess, ""); });
  if (!stored) return Refuse(action, stored.error());
  return row;
}

Result<std::vector<ActivationRow>> ClinicalService::ListMyActivations(const Principal& who,
                                                                      std::string_view from) {
  Action action{who,          from, "activation.read", audit::Action::kRead, who.patient_id,
                "Activation", ""};
  MEDMESH_RETURN_IF_ERROR(RequirePatient(who, action));
  auto rows = store_.ListActivationsOfPatient(who.patient_id);
  if (!rows) return Refuse(action, rows.error());
  MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess, std::to_string(rows->size())));
  return rows;
}

Result<std::vector<ActivationRow>> ClinicalService::ListActivationRequests(
    const Principal& who, std::optional<ActivationStatus> status, std::string_view from) {
  Action action{who, from, "activation.read", audit::Action::kRead, "", "Activation", ""};
  if (!who.is(Role::kOperator) || who.cloudlet_id.empty()) return Refuse(action, RoleDenied());
  auto rows = store_.ListActivationsOfCloudlet(who.cloudlet_id, status);
  if (!rows) return Refuse(action, rows.error());
  MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess, std::to_string(rows->size())));
  return rows;
}

Result<ActivationRow> ClinicalService::DecideActivation(const Principal& who,
                                                        std::string_view activation_id,
                                                        bool approve, std::string_view reason,
                                                        std::string_view from) {
  Action action{who,
                from,
                approve ? "activation.approve" : "activation.deny",
                audit::Action::kUpdate,
                "",
                "Activation",
                std::string(activation_id.substr(0, 64))};
  if (!who.is(Role::kOperator) || who.cloudlet_id.empty()) return Refuse(action, RoleDenied());
  if (!PlausibleId(activation_id)) return Refuse(action, NotFoundError());
  auto row = store_.GetActivation(activation_id);
  if (!row) return Refuse(action, row.error());
  if (!*row || (*row)->cloudlet_id != who.cloudlet_id) return Refuse(action, NotFoundError());
  action.patient_id = (*row)->patient_id;
  if (Status ok = ValidateText("reason", reason, kMaxReasonBytes, !approve); !ok) {
    return Refuse(action, ok.error());
  }
  const ActivationStatus decision =
      approve ? ActivationStatus::kApproved : ActivationStatus::kDenied;
  const std::int64_t now = NowMs();
  Status decided = store_.DecideActivation(activation_id, decision, reason, who.account_id, now,
                                           [&] { return Record(action, Outcome::kSuccess, ""); });
  if (!decided) return Refuse(action, decided.error());
  ActivationRow out = **row;
  out.status = decision;
  out.reason = std::string(reason);
  out.decided_by = who.account_id;
  out.decided_ms = now;
  return out;
}

Result<bool> ClinicalService::PortalActive(std::string_view patient_id) const {
  if (!PlausibleId(patient_id)) return false;
  return store_.HasApprovedActivation(patient_id);
}

// --- 3. Consent --------------------------------------------------------------------------------

Result<ConsentRow> ClinicalService::GrantConsent(const Principal& who, std::string_view doctor_id,
                                                 std::vector<RecordKey> records,
                                                 std::string_view from) {
  Action action{who, from, "consent.grant", audit::Action::kCreate, who.patient_id, "Consent", ""};
  MEDMESH_RETURN_IF_ERROR(RequireActivePatient(who, action));
  if (records.empty() || records.size() > kMaxRecordsPerConsent) {
    return Refuse(action, InvalidArgument("records must name 1.." +
                                          std::to_string(kMaxRecordsPerConsent) + " records"));
  }
  if (!PlausibleId(doctor_id)) return Refuse(action, NotFoundError());
  auto approved = hooks_.is_approved_doctor(doctor_id);
  if (!approved) return Refuse(action, approved.error());
  if (!*approved) return Refuse(action, NotFoundError());
  std::sort(records.begin(), records.end());
  records.erase(std::unique(records.begin(), records.end()), records.end());
  for (const RecordKey& key : records) {
    if (!PlausibleId(key.device_id) || !PlausibleId(key.record_id)) {
      return Refuse(action, NotFoundError());
    }
  }
  auto stored = records_.GetPatientRecords(who.patient_id);
  if (!stored) return Refuse(action, stored.error());  // kNotFound: the patient has no records
  std::set<RecordKey> own;
  for (const StoredRecord& r : *stored) own.insert({r.record.device_id, r.record.record_id});
  for (const RecordKey& key : records) {
    if (!own.contains(key)) return Refuse(action, NotFoundError());
  }
  ConsentRow row;
  row.consent_id = accounts::NewId("cns_", random_);
  row.patient_id = who.patient_id;
  row.doctor_id = std::string(doctor_id);
  row.records = std::move(records);
  row.created_ms = NowMs();
  action.entity_id = row.consent_id;
  const std::string detail = std::to_string(row.records.size()) + " records";
  Status inserted =
      store_.InsertConsent(row, [&] { return Record(action, Outcome::kSuccess, detail); });
  if (!inserted) return Refuse(action, inserted.error());
  return row;
}

Result<std::vector<ConsentRow>> ClinicalService::ListMyConsents(const Principal& who,
                                                                std::string_view from) {
  Action action{who, from, "consent.read", audit::Action::kRead, who.patient_id, "Consent", ""};
  MEDMESH_RETURN_IF_ERROR(RequireActivePatient(who, action));
  auto rows = store_.ListConsentsOfPatient(who.patient_id);
  if (!rows) return Refuse(action, rows.error());
  MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess, std::to_string(rows->size())));
  return rows;
}

Result<ConsentRow> ClinicalService::RevokeConsent(const Principal& who, std::string_view consent_id,
                                                  std::string_view from) {
  Action action{who,
                from,
                "consent.revoke",
                audit::Action::kUpdate,
                who.patient_id,
                "Consent",
                std::string(consent_id.substr(0, 64))};
  MEDMESH_RETURN_IF_ERROR(RequireActivePatient(who, action));
  if (!PlausibleId(consent_id)) return Refuse(action, NotFoundError());
  auto row = store_.GetConsent(consent_id);
  if (!row) return Refuse(action, row.error());
  if (!*row || (*row)->patient_id != who.patient_id) return Refuse(action, NotFoundError());
  ConsentRow out = **row;
  if (!out.active()) {
    MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess, "already revoked"));
    return out;
  }
  const std::int64_t now = NowMs();
  auto revoked =
      store_.RevokeConsent(consent_id, now, [&] { return Record(action, Outcome::kSuccess, ""); });
  if (!revoked) return Refuse(action, revoked.error());
  if (*revoked) {
    out.revoked_ms = now;
  } else {
    // Revoked by a concurrent call between the read and the update: report what is stored.
    MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess, "already revoked"));
    auto again = store_.GetConsent(consent_id);
    if (again && *again) out = **again;
  }
  return out;
}

Result<std::vector<RecordKey>> ClinicalService::RecordsGrantedTo(
    const Principal& who, std::string_view patient_id) const {
  if (!who.is(Role::kDoctor)) return RoleDenied();
  if (!PlausibleId(patient_id)) return NotFoundError();
  MEDMESH_ASSIGN_OR_RETURN(const auto consents,
                           store_.ListConsentsOfDoctor(who.account_id, /*active_only=*/true));
  std::set<RecordKey> granted;
  for (const ConsentRow& c : consents) {
    if (c.patient_id == patient_id) granted.insert(c.records.begin(), c.records.end());
  }
  if (granted.empty()) return NotFoundError();
  return std::vector<RecordKey>(granted.begin(), granted.end());
}

// --- Read-only views of one patient -------------------------------------------------------------

Result<PatientView> ClinicalService::ReadPatient(const Principal& who, std::string_view patient_id,
                                                 const PatientReadRequest& request,
                                                 std::string_view from) {
  Action action{who,
                from,
                request.event,
                audit::Action::kRead,
                PlausibleId(patient_id) ? std::string(patient_id) : "",
                request.entity_type,
                request.entity_id};
  PatientView view;
  view.patient_id = std::string(patient_id);
  if (who.is(Role::kPatient)) {
    MEDMESH_RETURN_IF_ERROR(RequireActivePatient(who, action));
    if (patient_id != who.patient_id) return Refuse(action, NotFoundError());
    view.own = true;
  } else if (who.is(Role::kDoctor)) {
    if (!PlausibleId(patient_id)) return Refuse(action, NotFoundError());
    auto grants = store_.ListConsentsOfDoctor(who.account_id, /*active_only=*/true);
    if (!grants) return Refuse(action, grants.error());
    for (ConsentRow& c : *grants) {
      if (c.patient_id == patient_id) view.consents.push_back(std::move(c));
    }
    if (view.consents.empty()) return Refuse(action, NotFoundError());
  } else {
    return Refuse(action, RoleDenied());
  }

  if (request.records) {
    auto stored = records_.GetPatientRecords(patient_id);
    if (!stored && stored.error().code() != ErrorCode::kNotFound) {
      return Refuse(action, stored.error());
    }
    if (stored) {
      std::set<RecordKey> granted;
      for (const ConsentRow& c : view.consents) granted.insert(c.records.begin(), c.records.end());
      for (StoredRecord& r : *stored) {
        if (view.own || granted.contains({r.record.device_id, r.record.record_id})) {
          view.records.push_back(std::move(r));
        }
      }
    }
  }
  // The grants a doctor holds are already loaded (they decided the access).
  if ((request.consents || request.answers) && view.own) {
    auto consents = store_.ListConsentsOfPatient(patient_id);
    if (!consents) return Refuse(action, consents.error());
    view.consents = std::move(*consents);
  }
  if (request.answers) {
    auto rows = view.own ? store_.ListAnswersOfPatient(patient_id)
                         : store_.ListAnswersOfDoctor(who.account_id);
    if (!rows) return Refuse(action, rows.error());
    std::erase_if(*rows, [&](const AnswerRow& a) { return a.patient_id != patient_id; });
    auto consents = view.own ? Result<std::vector<ConsentRow>>(view.consents)
                             : store_.ListConsentsOfPatient(patient_id);
    if (!consents) return Refuse(action, consents.error());
    auto answers = Decrypt(*rows, *consents);
    if (!answers) return Refuse(action, answers.error());
    view.answers = std::move(*answers);
  }
  if (!request.consents) view.consents.clear();
  if (request.readings) {
    auto readings = ReadingsFor(view.own, patient_id, request);
    if (!readings) return Refuse(action, readings.error());
    view.readings_end_ms = readings->second;
    view.readings = std::move(readings->first);
  }
  MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess,
                                 std::to_string(view.records.size()) + " records, " +
                                     std::to_string(view.consents.size()) + " consents, " +
                                     std::to_string(view.answers.size()) + " answers, " +
                                     std::to_string(view.readings.size()) + " readings"));
  return view;
}

namespace {

bool ByTimeKindValue(const wire::Reading& a, const wire::Reading& b) {
  return std::tie(a.time_ms, a.kind, a.value_milli) < std::tie(b.time_ms, b.kind, b.value_milli);
}

// Keeps the first `limit` readings (sorted) and the rest of the last one's millisecond; returns
// the end of what is kept, or `end_ms` when nothing was dropped.
std::int64_t TrimToLimit(std::vector<wire::Reading>& readings, std::size_t limit,
                         std::int64_t end_ms) {
  if (limit == 0 || readings.size() <= limit) return end_ms;
  const std::int64_t last = readings[limit - 1].time_ms;
  std::size_t keep = limit;
  while (keep < readings.size() && readings[keep].time_ms == last) ++keep;
  if (keep == readings.size()) return end_ms;
  readings.resize(keep);
  return last + 1;
}

}  // namespace

Result<std::pair<std::vector<wire::Reading>, std::int64_t>> ClinicalService::ReadingsFor(
    bool own, std::string_view patient_id, const PatientReadRequest& request) const {
  // Reading times are in [0, wire::kMaxTimeMs]: a wider range covers no more.
  const std::int64_t begin = std::max<std::int64_t>(request.readings->first, 0);
  const std::int64_t end = std::min(request.readings->second, wire::kMaxTimeMs + 1);
  const auto covered_end = [&](std::int64_t covered) {
    return covered >= end ? request.readings->second : covered;
  };
  const auto wanted = [&](const wire::Reading& r) {
    return r.time_ms >= begin && r.time_ms < end &&
           (request.reading_kinds.empty() ||
            std::find(request.reading_kinds.begin(), request.reading_kinds.end(), r.kind) !=
                request.reading_kinds.end());
  };
  std::vector<wire::Reading> out;
  if (!own) {  // a doctor: what the inbox shows, no more
    MEDMESH_ASSIGN_OR_RETURN(out, RecentReadings(patient_id, NowMs()));
    std::erase_if(out, [&](const wire::Reading& r) { return !wanted(r); });
    const std::int64_t covered = TrimToLimit(out, request.readings_limit, end);
    return std::pair{std::move(out), covered_end(covered)};
  }
  if (!hooks_.readings || begin >= end) return std::pair{std::move(out), covered_end(end)};
  // The patient's own: any range, read in growing windows (a day, then four times longer each
  // time), jumping over stretches without batches, so that a page of a year of readings
  // decrypts about what it returns.
  constexpr std::int64_t kFirstWindowMs = 86'400'000;
  std::int64_t lo = begin;
  std::int64_t window = kFirstWindowMs;
  bool skip_gap = true;  // at the start, and after a window without readings
  while (lo < end) {
    if (skip_gap && hooks_.first_readings_ms) {
      MEDMESH_ASSIGN_OR_RETURN(const std::optional<std::int64_t> next,
                               hooks_.first_readings_ms(patient_id, lo, end));
      if (!next) {
        lo = end;
        break;
      }
      if (*next > lo) {
        lo = *next;
        window = kFirstWindowMs;
      }
    }
    const std::int64_t hi = end - lo <= window ? end : lo + window;
    MEDMESH_ASSIGN_OR_RETURN(std::vector<wire::Reading> part, hooks_.readings(patient_id, lo, hi));
    skip_gap = part.empty();
    std::erase_if(part, [&](const wire::Reading& r) { return !wanted(r); });
    std::sort(part.begin(), part.end(), ByTimeKindValue);
    out.insert(out.end(), part.begin(), part.end());
    lo = hi;
    if (request.readings_limit != 0 && out.size() >= request.readings_limit) break;
    if (window < std::numeric_limits<std::int64_t>::max() / 4) window *= 4;
  }
  const std::int64_t covered = TrimToLimit(out, request.readings_limit, lo);
  return std::pair{std::move(out), covered_end(covered)};
}

Result<std::vector<wire::Reading>> ClinicalService::RecentReadings(std::string_view patient_id,
                                                                   std::int64_t now_ms) const {
  if (!hooks_.readings) return std::vector<wire::Reading>{};
  const std::int64_t since = now_ms - options_.inbox_readings_window.count();
  MEDMESH_ASSIGN_OR_RETURN(std::vector<wire::Reading> readings,
                           hooks_.readings(patient_id, since, now_ms));
  std::sort(readings.begin(), readings.end(), ByTimeKindValue);
  if (readings.size() > options_.inbox_max_readings) {
    readings.erase(readings.begin(),
                   readings.end() - static_cast<std::ptrdiff_t>(options_.inbox_max_readings));
  }
  return readings;
}

// --- 4. Doctor's answers -----------------------------------------------------------------------

Result<std::vector<InboxPatient>> ClinicalService::Inbox(const Principal& who,
                                                         std::string_view from) {
  Action action{who, from, "inbox.read", audit::Action::kRead, "", "Consent", ""};
  if (!who.is(Role::kDoctor)) return Refuse(action, RoleDenied());
  auto consents = store_.ListConsentsOfDoctor(who.account_id, /*active_only=*/true);
  if (!consents) return Refuse(action, consents.error());
  auto answers = store_.ListAnswersOfDoctor(who.account_id);
  if (!answers) return Refuse(action, answers.error());
  std::map<std::string, std::vector<std::string>> answers_of;  // consent id → answer ids
  for (const AnswerRow& a : *answers) answers_of[a.consent_id].push_back(a.answer_id);

  std::vector<InboxPatient> inbox;
  std::map<std::string, std::size_t> index;  // patient id → position in inbox
  for (const ConsentRow& c : *consents) {    // newest first, so patients are too
    auto [it, added] = index.emplace(c.patient_id, inbox.size());
    if (added) inbox.push_back(InboxPatient{c.patient_id, {}, {}});
    inbox[it->second].grants.push_back(InboxGrant{c, {}, answers_of[c.consent_id]});
  }
  const std::int64_t now = NowMs();
  // One entry per patient shown, appended together (one transaction, one commit) once the
  // whole inbox is ready: a failure before that shows nothing and records the refusal only.
  std::vector<audit::AuditEntry> shown_entries;
  shown_entries.reserve(inbox.size());
  for (InboxPatient& patient : inbox) {
    auto stored = records_.GetPatientRecords(patient.patient_id);
    if (!stored && stored.error().code() != ErrorCode::kNotFound) {
      return Refuse(action, stored.error());
    }
    std::size_t shown = 0;
    for (InboxGrant& grant : patient.grants) {
      const std::set<RecordKey> keys(grant.consent.records.begin(), grant.consent.records.end());
      if (!stored) continue;
      for (const StoredRecord& r : *stored) {
        if (keys.contains({r.record.device_id, r.record.record_id})) grant.records.push_back(r);
      }
      shown += grant.records.size();
    }
    auto readings = RecentReadings(patient.patient_id, now);
    if (!readings) return Refuse(action, readings.error());
    patient.recent_readings = std::move(*readings);
    Action read = action;
    read.patient_id = patient.patient_id;
    shown_entries.push_back(EntryOf(read, Outcome::kSuccess,
                                    std::to_string(shown) + " records, " +
                                        std::to_string(patient.recent_readings.size()) +
                                        " readings"));
  }
  if (inbox.empty()) MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess, "empty"));
  MEDMESH_RETURN_IF_ERROR(audit_.AppendMany(shown_entries));
  return inbox;
}

Result<Answer> ClinicalService::AnswerConsent(const Principal& who, std::string_view consent_id,
                                              AnswerContent content, std::string_view from) {
  Action action{who, from, "answer.create", audit::Action::kCreate, "", "Answer", ""};
  if (!who.is(Role::kDoctor)) return Refuse(action, RoleDenied());
  if (!PlausibleId(consent_id)) return Refuse(action, NotFoundError());
  auto consent = store_.GetConsent(consent_id);
  if (!consent) return Refuse(action, consent.error());
  if (!*consent || (*consent)->doctor_id != who.account_id || !(*consent)->active()) {
    return Refuse(action, NotFoundError());
  }
  action.patient_id = (*consent)->patient_id;
  if (Status ok = ValidateContent(content); !ok) return Refuse(action, ok.error());

  AnswerRow row;
  row.answer_id = accounts::NewId("ans_", random_);
  row.consent_id = std::string(consent_id);
  row.patient_id = (*consent)->patient_id;
  row.doctor_id = who.account_id;
  row.created_ms = NowMs();
  row.has_prescription = content.prescription.has_value();
  auto ciphertext =
      answers_.Encrypt(AnswersKey(row.patient_id), EncodeContent(content), AnswerAd(row));
  if (!ciphertext) return Refuse(action, ciphertext.error());
  row.ciphertext = std::move(*ciphertext);
  action.entity_id = row.answer_id;
  Status inserted = store_.InsertAnswer(row, [&] {
    return Record(action, Outcome::kSuccess,
                  row.has_prescription ? "with prescription" : "without prescription");
  });
  if (!inserted) {
    // The grant was revoked between the read and the insert: as if it had never been there.
    if (inserted.error().code() == ErrorCode::kFailedPrecondition) {
      return Refuse(action, NotFoundError());
    }
    return Refuse(action, inserted.error());
  }
  return Answer{row.answer_id,  row.consent_id,      row.patient_id,    row.doctor_id,
                row.created_ms, (*consent)->records, std::move(content)};
}

Result<std::vector<Answer>> ClinicalService::Decrypt(
    const std::vector<AnswerRow>& rows, const std::vector<ConsentRow>& consents) const {
  std::map<std::string, const ConsentRow*> consent_of;
  for (const ConsentRow& c : consents) consent_of[c.consent_id] = &c;
  std::map<std::string, crypto::DataKeyDecryptor> keys;  // patient id → its answers key
  std::vector<Answer> out;
  out.reserve(rows.size());
  for (const AnswerRow& row : rows) {
    auto key = keys.find(row.patient_id);
    if (key == keys.end()) {
      auto opened = answers_.OpenDataKey(AnswersKey(row.patient_id));
      if (!opened) {
        if (crypto::IsAuthenticationFailure(opened.error())) return AnswerIntegrityFailure();
        return opened.error();
      }
      key = keys.emplace(row.patient_id, std::move(*opened)).first;
    }
    auto plain = key->second.Decrypt(row.ciphertext, AnswerAd(row));
    if (!plain) return AnswerIntegrityFailure();
    auto content = DecodeContent(*plain);
    if (!content || content->prescription.has_value() != row.has_prescription) {
      return AnswerIntegrityFailure();
    }
    Answer answer{row.answer_id,      row.consent_id, row.patient_id,
                  row.doctor_id,      row.created_ms, {},
                  std::move(*content)};
    if (auto c = consent_of.find(row.consent_id); c != consent_of.end()) {
      answer.records = c->second->records;
    }
    out.push_back(std::move(answer));
  }
  return out;
}

Result<std::vector<Answer>> ClinicalService::ListMyAnswers(const Principal& who,
                                                           std::string_view from) {
  Action action{who, from, "answer.read", audit::Action::kRead, who.patient_id, "Answer", ""};
  if (who.is(Role::kDoctor)) return ListAnswersWritten(who, action, /*prescriptions_only=*/false);
  MEDMESH_RETURN_IF_ERROR(RequireActivePatient(who, action));
  auto rows = store_.ListAnswersOfPatient(who.patient_id);
  if (!rows) return Refuse(action, rows.error());
  auto consents = store_.ListConsentsOfPatient(who.patient_id);
  if (!consents) return Refuse(action, consents.error());
  auto answers = Decrypt(*rows, *consents);
  if (!answers) return Refuse(action, answers.error());
  MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess, std::to_string(answers->size())));
  return answers;
}

Result<std::vector<Answer>> ClinicalService::ListMyPrescriptions(const Principal& who,
                                                                 std::string_view from) {
  Action action{who, from, "prescription.read", audit::Action::kRead, "", "MedicationRequest", ""};
  if (!who.is(Role::kDoctor)) return Refuse(action, RoleDenied());
  return ListAnswersWritten(who, action, /*prescriptions_only=*/true);
}

Result<std::vector<Answer>> ClinicalService::ListAnswersWritten(const Principal& who,
                                                                const Action& action,
                                                                bool prescriptions_only) {
  auto rows = store_.ListAnswersOfDoctor(who.account_id);
  if (!rows) return Refuse(action, rows.error());
  if (prescriptions_only) {
    std::erase_if(*rows, [](const AnswerRow& r) { return !r.has_prescription; });
  }
  auto consents = store_.ListConsentsOfDoctor(who.account_id, /*active_only=*/false);
  if (!consents) return Refuse(action, consents.error());
  auto answers = Decrypt(*rows, *consents);
  if (!answers) return Refuse(action, answers.error());
  MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess, std::to_string(answers->size())));
  return answers;
}

Result<AnswerCounts> ClinicalService::CountAnswers(const Principal& who, std::string_view from) {
  Action action{who, from, "answer.count", audit::Action::kRead, "", "Answer", ""};
  std::optional<std::string_view> cloudlet;
  if (who.is(Role::kOperator) && !who.cloudlet_id.empty()) {
    cloudlet = who.cloudlet_id;
  } else if (!who.is(Role::kAdmin)) {
    return Refuse(action, RoleDenied());
  }
  auto counts = store_.CountAnswers(cloudlet);
  if (!counts) return Refuse(action, counts.error());
  MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess,
                                 std::to_string(counts->answers) + " answers, " +
                                     std::to_string(counts->prescriptions) + " prescriptions"));
  return counts;
}

// --- 7. Statistics -----------------------------------------------------------------------------

Result<ChartStatistics> ClinicalService::Statistics(const Principal& who, std::string_view from) {
  Action action{who, from, "statistics.read", audit::Action::kRead, "", "Statistics", ""};
  if (!who.is(Role::kDoctor) && !who.is(Role::kOperator) && !who.is(Role::kAdmin)) {
    return Refuse(action, RoleDenied());
  }
  const std::size_t k = options_.statistics_k;
  ChartStatistics out;
  out.k = k;
  auto medical = records_.MedicalCounts();
  if (!medical) return Refuse(action, medical.error());
  out.suppressed_symptoms = medical->suppressed_symptoms;
  for (MedicalCount& c : medical->symptoms) {
    if (c.patients < k) {
      ++out.suppressed_symptoms;
    } else {
      out.symptoms.push_back(std::move(c));
    }
  }
  // Patients are counted by their MI pseudonym, as the symptom chart counts them: the result
  // (and anything kept while counting) names no patient.
  auto referrals = store_.ListReferrals();
  if (!referrals) return Refuse(action, referrals.error());
  std::map<std::string, std::set<std::string>> pseudonyms_of;  // doctor → patients' pseudonyms
  for (const Referral& r : *referrals) {
    pseudonyms_of[r.doctor_id].insert(records_.Pseudonym(r.patient_id));
  }
  for (const auto& [doctor, pseudonyms] : pseudonyms_of) {
    if (pseudonyms.size() < k) {
      ++out.suppressed_doctors;
    } else {
      out.doctors.push_back({doctor, pseudonyms.size()});
    }
  }
  MEDMESH_RETURN_IF_ERROR(Record(action, Outcome::kSuccess, "k=" + std::to_string(k)));
  return out;
}

// --- Deletion ----------------------------------------------------------------------------------

Status ClinicalService::DeletePatient(std::string_view patient_id) {
  if (!PlausibleId(patient_id)) return InvalidArgument("patient id is not a valid id");
  // Rows first, key second: a repeat after a failure in between still finds the key.
  MEDMESH_RETURN_IF_ERROR(store_.DeletePatient(patient_id));
  Status destroyed = answers_.DestroyDataKey(AnswersKey(patient_id));
  if (!destroyed && destroyed.error().code() != ErrorCode::kNotFound) return destroyed.error();
  return OkStatus();
}

}  // namespace medmesh::cloud
