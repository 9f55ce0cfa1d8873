#include "cloud/clinical_api.h"

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "accounts/authenticator.h"
#include "net/error_mapping.h"
#include "net/json_body.h"

namespace medmesh::cloud {
namespace {

using Json = nlohmann::json;
using net::JsonField;
using net::JsonType;

constexpr std::size_t kBodyLimit = std::size_t{64} * 1024;

Json Nullable(std::optional<std::int64_t> v) { return v ? Json(*v) : Json(nullptr); }

Json KeysJson(const std::vector<RecordKey>& keys) {
  Json out = Json::array();
  for (const RecordKey& k : keys)
    out.push_back({{"device_id", k.device_id}, {"record_id", k.record_id}});
  return out;
}

Json ActivationJson(const ActivationRow& a) {
  return {{"activation_id", a.activation_id},
          {"patient_id", a.patient_id},
          {"cloudlet_id", a.cloudlet_id},
          {"status", ActivationStatusName(a.status)},
          {"reason", a.reason},
          {"decided_by", a.decided_by.empty() ? Json(nullptr) : Json(a.decided_by)},
          {"requested_ms", a.requested_ms},
          {"decided_ms", a.decided_ms == 0 ? Json(nullptr) : Json(a.decided_ms)}};
}

Json ConsentJson(const ConsentRow& c) {
  return {{"consent_id", c.consent_id}, {"patient_id", c.patient_id},
          {"doctor_id", c.doctor_id},   {"records", KeysJson(c.records)},
          {"created_ms", c.created_ms}, {"revoked_ms", Nullable(c.revoked_ms)},
          {"active", c.active()}};
}

Json AnswerJson(const Answer& a) {
  Json prescription = nullptr;
  if (const auto& p = a.content.prescription) {
    prescription = {{"drug", p->drug},
                    {"dose", p->dose},
                    {"frequency", p->frequency},
                    {"duration", p->duration}};
  }
  return {{"answer_id", a.answer_id},
          {"consent_id", a.consent_id},
          {"patient_id", a.patient_id},
          {"doctor_id", a.doctor_id},
          {"created_ms", a.created_ms},
          {"records", KeysJson(a.records)},
          {"diagnosis", a.content.diagnosis},
          {"medication", a.content.medication},
          {"prescription", std::move(prescription)}};
}

// What a doctor is shown of a granted record: who (name, birth date, sex) and the medical part.
// Contact details, national id, photo and document bytes stay out of this JSON.
Json RecordJson(const StoredRecord& stored) {
  const wire::PatientRecord& r = stored.record;
  return {{"device_id", r.device_id},      {"record_id", r.record_id},
          {"created_ms", r.created_ms},    {"name", r.name},
          {"birth_date", r.birth_date},    {"sex", r.sex},
          {"symptoms", r.symptoms},        {"conditions", r.conditions},
          {"pulse_bpm", r.pulse_bpm},      {"ecg_summary", r.ecg_summary},
          {"has_photo", !r.photo.empty()}, {"has_symptoms_document", !r.symptoms_document.empty()}};
}

Json ReadingJson(const wire::Reading& reading) {
  const wire::VitalInfo& info = wire::Info(reading.kind);
  return {{"time_ms", reading.time_ms},
          {"kind", info.name},
          {"value", static_cast<double>(reading.value_milli) / 1000.0},
          {"unit", info.unit}};
}

Json InboxJson(const std::vector<InboxPatient>& inbox) {
  Json patients = Json::array();
  for (const InboxPatient& p : inbox) {
    Json grants = Json::array();
    for (const InboxGrant& g : p.grants) {
      Json records = Json::array();
      for (const StoredRecord& r : g.records) records.push_back(RecordJson(r));
      grants.push_back({{"consent", ConsentJson(g.consent)},
                        {"records", records},
                        {"answer_ids", g.answer_ids}});
    }
    Json readings = Json::array();
    for (const wire::Reading& r : p.recent_readings) readings.push_back(ReadingJson(r));
    patients.push_back(
        {{"patient_id", p.patient_id}, {"grants", grants}, {"recent_readings", readings}});
  }
  return {{"patients", patients}};
}

Json StatisticsJson(const ChartStatistics& s) {
  Json symptoms = Json::array();
  for (const MedicalCount& c : s.symptoms) {
    symptoms.push_back({{"symptom", c.value}, {"patients", c.patients}});
  }
  Json doctors = Json::array();
  for (const DoctorCount& d : s.doctors) {
    doctors.push_back({{"doctor_id", d.doctor_id}, {"patients", d.patients}});
  }
  return {{"k", s.k},
          {"symptoms", symptoms},
          {"suppressed_symptoms", s.suppressed_symptoms},
          {"doctors", doctors},
          {"suppressed_doctors", s.suppressed_doctors}};
}

template <typename T, typename F>
Json List(const std::vector<T>& rows, F render) {
  Json out = Json::array();
  for (const T& row : rows) out.push_back(render(row));
  return out;
}

net::Response Created(const Json& body) { return net::Response::Json(body.dump(), 201); }
net::Response Ok(const Json& body) { return net::Response::Json(body.dump()); }

Result<std::vector<RecordKey>> ParseRecords(const Json& records) {
  static constexpr JsonField kKeyFields[] = {{"device_id", JsonType::kString},
                                             {"record_id", JsonType::kString}};
  if (records.size() > kMaxRecordsPerConsent) {
    return InvalidArgument("records: at most " + std::to_string(kMaxRecordsPerConsent));
  }
  std::vector<RecordKey> keys;
  for (const Json& item : records) {
    if (auto st = net::CheckJsonFields(item, kKeyFields); !st) {
      return InvalidArgument("records: " + st.error().message());
    }
    keys.push_back({item["device_id"].get<std::string>(), item["record_id"].get<std::string>()});
  }
  return keys;
}

Result<AnswerContent> ParseAnswer(const Json& body) {
  AnswerContent content;
  content.diagnosis = body["diagnosis"].get<std::string>();
  if (body.contains("medication")) content.medication = body["medication"].get<std::string>();
  if (body.contains("prescription")) {
    static constexpr JsonField kPrescriptionFields[] = {{"drug", JsonType::kString},
                                                        {"dose", JsonType::kString},
                                                        {"frequency", JsonType::kString},
                                                        {"duration", JsonType::kString}};
    const Json& p = body["prescription"];
    if (auto st = net::CheckJsonFields(p, kPrescriptionFields); !st) {
      return InvalidArgument("prescription: " + st.error().message());
    }
    content.prescription =
        Prescription{p["drug"].get<std::string>(), p["dose"].get<std::string>(),
                     p["frequency"].get<std::string>(), p["duration"].get<std::string>()};
  }
  return content;
}

std::string Param(const net::Request& r, std::string_view name) {
  return std::string(r.PathParam(name).value_or(""));
}

// A route's work once the caller is known.
using PrincipalHandler =
    std::function<Result<net::Response>(const net::Request&, const accounts::Principal&)>;

// The service's refusal with the machine-readable reason clients act on (docs/openapi.yaml,
// schema Error): "portal_inactive" for the portal gate (ask for activation first), none for a
// role refusal; the message and code as net/error_mapping.h maps them.
net::Response ClinicalRefusal(const Error& error) {
  net::Response response = net::ErrorResponse(error);
  if (error.code() == ErrorCode::kPermissionDenied && error.message() == kPortalInactiveMessage) {
    net::AddReason(response, "portal_inactive");
  }
  return response;
}

// Authenticates, then runs `handler`; a refused session is answered as on the account routes
// (accounts::AuthenticationRefusal: WWW-Authenticate on 401, "reason": "csrf_required").
net::Handler Authenticated(std::shared_ptr<Authenticate> auth, PrincipalHandler handler) {
  return [auth = std::move(auth),
          handler = std::move(handler)](const net::Request& r) -> Result<net::Response> {
    Result<accounts::Principal> who = (*auth)(r);
    if (!who) return accounts::AuthenticationRefusal(who.error());
    Result<net::Response> response = handler(r, *who);
    if (!response) return ClinicalRefusal(response.error());
    return response;
  };
}

}  // namespace

void AddClinicalRoutes(net::Router& router, ClinicalService& service, Authenticate authenticate) {
  auto auth = std::make_shared<Authenticate>(std::move(authenticate));
  ClinicalService* s = &service;
  const net::RouteOptions small{.body_limit_bytes = kBodyLimit};

  // --- 1. Portal activation ---
  router.Post(
      "/api/v1/activations",
      Authenticated(
          auth,
          [s](const net::Request& r, const accounts::Principal& who) -> Result<net::Response> {
            static constexpr JsonField kFields[] = {{"cloudlet_id", JsonType::kString}};
            net::JsonBody body = net::ParseJsonBody(r, kFields);
            if (auto* refusal = std::get_if<net::Response>(&body)) return std::move(*refusal);
            const Json& j = std::get<Json>(body);
            MEDMESH_ASSIGN_OR_RETURN(
                const ActivationRow row,
                s->RequestActivation(who, j["cloudlet_id"].get<std::string>(), r.peer_address));
            return Created(ActivationJson(row));
          }),
      small);
  router.Get(
      "/api/v1/activations",
      Authenticated(
          auth,
          [s](const net::Request& r, const accounts::Principal& who) -> Result<net::Response> {
            std::optional<ActivationStatus> status;
            if (auto q = r.QueryParam("status")) {
              status = ParseActivationStatus(*q);
              if (!status) return InvalidArgument("status must be requested, approved or denied");
            }
            std::vector<ActivationRow> rows;
            if (who.is(accounts::Role::kOperator)) {
              MEDMESH_ASSIGN_OR_RETURN(rows,
                                       s->ListActivationRequests(who, status, r.peer_address));
            } else {
              MEDMESH_ASSIGN_OR_RETURN(rows, s->ListMyActivations(who, r.peer_address));
              if (status)
                std::erase_if(rows, [&](const ActivationRow& a) { return a.status != *status; });
            }
            return Ok({{"activations", List(rows, ActivationJson)}});
          }));
  router.Post(
      "/api/v1/activations/{activation_id}/decision",
      Authenticated(
          auth,
          [s](const net::Request& r, const accounts::Principal& who) -> Result<net::Response> {
            static constexpr JsonField kFields[] = {{"approve", JsonType::kBoolean},
                                                    {"reason", JsonType::kString, false}};
            net::JsonBody body = net::ParseJsonBody(r, kFields);
            if (auto* refusal = std::get_if<net::Response>(&body)) return std::move(*refusal);
            const Json& j = std::get<Json>(body);
            const std::string reason = j.contains("reason") ? j["reason"].get<std::string>() : "";
            MEDMESH_ASSIGN_OR_RETURN(
                const ActivationRow row,
                s->DecideActivation(who, Param(r, "activation_id"), j["approve"].get<bool>(),
                                    reason, r.peer_address));
            return Ok(ActivationJson(row));
          }),
      small);

  // --- 3. Consent ---
  router.Post(
      "/api/v1/consents",
      Authenticated(
          auth,
          [s](const net::Request& r, const accounts::Principal& who) -> Result<net::Response> {
            static constexpr JsonField kFields[] = {{"doctor_id", JsonType::kString},
                                                    {"records", JsonType::kArray}};
            net::JsonBody body = net::ParseJsonBody(r, kFields);
            if (auto* refusal = std::get_if<net::Response>(&body)) return std::move(*refusal);
            const Json& j = std::get<Json>(body);
            MEDMESH_ASSIGN_OR_RETURN(std::vector<RecordKey> records, ParseRecords(j["records"]));
            MEDMESH_ASSIGN_OR_RETURN(const ConsentRow row,
                                     s->GrantConsent(who, j["doctor_id"].get<std::string>(),
                                                     std::move(records), r.peer_address));
            return Created(ConsentJson(row));
          }),
      small);
  router.Get(
      "/api/v1/consents",
      Authenticated(
          auth,
          [s](const net::Request& r, const accounts::Principal& who) -> Result<net::Response> {
            MEDMESH_ASSIGN_OR_RETURN(const auto rows, s->ListMyConsents(who, r.peer_address));
            return Ok({{"consents", List(rows, ConsentJson)}});
          }));
  router.Post(
      "/api/v1/consents/{consent_id}/revocation",
      Authenticated(
          auth,
          [s](const net::Request& r, const accounts::Principal& who) -> Result<net::Response> {
            if (!r.body.empty()) return InvalidArgument("this request takes no body");
            MEDMESH_ASSIGN_OR_RETURN(const ConsentRow row,
                                     s->RevokeConsent(who, Param(r, "consent_id"), r.peer_address));
            return Ok(ConsentJson(row));
          }),
      small);

  // --- 4. Doctor's answers ---
  router.Post(
      "/api/v1/consents/{consent_id}/answers",
      Authenticated(
          auth,
          [s](const net::Request& r, const accounts::Principal& who) -> Result<net::Response> {
            static constexpr JsonField kFields[] = {{"diagnosis", JsonType::kString},
                                                    {"medication", JsonType::kString, false},
                                                    {"prescription", JsonType::kObject, false}};
            net::JsonBody body = net::ParseJsonBody(r, kFields);
            if (auto* refusal = std::get_if<net::Response>(&body)) return std::move(*refusal);
            MEDMESH_ASSIGN_OR_RETURN(AnswerContent content, ParseAnswer(std::get<Json>(body)));
            MEDMESH_ASSIGN_OR_RETURN(
                const Answer answer,
                s->AnswerConsent(who, Param(r, "consent_id"), std::move(content), r.peer_address));
            return Created(AnswerJson(answer));
          }),
      small);
  router.Get(
      "/api/v1/inbox",
      Authenticated(
          auth,
          [s](const net::Request& r, const accounts::Principal& who) -> Result<net::Response> {
            MEDMESH_ASSIGN_OR_RETURN(const auto inbox, s->Inbox(who, r.peer_address));
            return Ok(InboxJson(inbox));
          }));
  router.Get(
      "/api/v1/answers",
      Authenticated(
          auth,
          [s](const net::Request& r, const accounts::Principal& who) -> Result<net::Response> {
            MEDMESH_ASSIGN_OR_RETURN(const auto answers, s->ListMyAnswers(who, r.peer_address));
            return Ok({{"answers", List(answers, AnswerJson)}});
          }));
  router.Get(
      "/api/v1/answers/counts",
      Authenticated(
          auth,
          [s](const net::Request& r, const accounts::Principal& who) -> Result<net::Response> {
            MEDMESH_ASSIGN_OR_RETURN(const AnswerCounts counts,
                                     s->CountAnswers(who, r.peer_address));
            return Ok({{"answers", counts.answers}, {"prescriptions", counts.prescriptions}});
          }));
  router.Get("/api/v1/prescriptions",
             Authenticated(auth,
                           [s](const net::Request& r,
                               const accounts::Principal& who) -> Result<net::Response> {
                             MEDMESH_ASSIGN_OR_RETURN(const auto answers,
                                                      s->ListMyPrescriptions(who, r.peer_address));
                             return Ok({{"prescriptions", List(answers, AnswerJson)}});
                           }));

  // --- 7. Statistics ---
  router.Get("/api/v1/statistics/charts",
             Authenticated(auth,
                           [s](const net::Request& r,
                               const accounts::Principal& who) -> Result<net::Response> {
                             MEDMESH_ASSIGN_OR_RETURN(const ChartStatistics stats,
                                                      s->Statistics(who, r.peer_address));
                             return Ok(StatisticsJson(stats));
                           }));
}

}  // namespace medmesh::cloud
