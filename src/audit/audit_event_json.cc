#include "audit/audit_event_json.h"

#include <array>
#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

namespace medmesh::audit {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kAuditEventTypeSystem =
    "http://terminology.hl7.org/CodeSystem/audit-event-type";
constexpr std::string_view kDicomSystem = "http://dicom.nema.org/resources/ontology/DCM";
constexpr std::string_view kRestfulInteractionSystem = "http://hl7.org/fhir/restful-interaction";
constexpr std::string_view kEntityTypeSystem =
    "http://terminology.hl7.org/CodeSystem/audit-entity-type";
constexpr std::string_view kObjectRoleSystem = "http://terminology.hl7.org/CodeSystem/object-role";
constexpr std::string_view kSourceTypeSystem =
    "http://terminology.hl7.org/CodeSystem/security-source-type";
constexpr std::string_view kResourceTypesSystem = "http://hl7.org/fhir/resource-types";

// Entity types that are FHIR R4 resources: referenced as "Type/id". Anything else (Account,
// Kek, Session, ...) is named by an identifier in the urn:medmesh: namespace.
constexpr std::array<std::string_view, 22> kFhirResourceTypes = {"AuditEvent",
                                                                 "Binary",
                                                                 "Bundle",
                                                                 "Communication",
                                                                 "CommunicationRequest",
                                                                 "Composition",
                                                                 "Condition",
                                                                 "Consent",
                                                                 "Device",
                                                                 "DiagnosticReport",
                                                                 "DocumentReference",
                                                                 "Encounter",
                                                                 "MedicationRequest",
                                                                 "Observation",
                                                                 "Organization",
                                                                 "Patient",
                                                                 "Person",
                                                                 "Practitioner",
                                                                 "Provenance",
                                                                 "QuestionnaireResponse",
                                                                 "RelatedPerson",
                                                                 "ServiceRequest"};

bool IsFhirResourceType(std::string_view type) {
  for (std::string_view t : kFhirResourceTypes) {
    if (t == type) return true;
  }
  return false;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Json Coding(std::string_view system, std::string_view code, std::string_view display) {
  Json c = {{"system", system}, {"code", code}};
  if (!display.empty()) c["display"] = display;
  return c;
}

std::string_view RestInteraction(const AuditEntry& e) {
  switch (e.action) {
    case Action::kCreate: return "create";
    case Action::kRead: return e.entity_id.empty() ? "search-type" : "read";
    case Action::kUpdate: return "update";
    case Action::kDelete: return "delete";
    case Action::kExecute: return "operation";
  }
  return "operation";
}

// type and subtype (see the header).
void SetType(const AuditEntry& e, Json& event) {
  Json subtype = Json::array();
  if (StartsWith(e.event, "session.")) {
    event["type"] = Coding(kDicomSystem, "110114", "User Authentication");
    if (e.event == "session.login") subtype.push_back(Coding(kDicomSystem, "110122", "Login"));
    if (e.event == "session.logout") subtype.push_back(Coding(kDicomSystem, "110123", "Logout"));
  } else if (StartsWith(e.event, "audit.")) {
    event["type"] = Coding(kDicomSystem, "110101", "Audit Log Used");
    subtype.push_back(Coding(kRestfulInteractionSystem, RestInteraction(e), ""));
  } else if (StartsWith(e.event, "kek.") || StartsWith(e.event, "keys.")) {
    event["type"] = Coding(kDicomSystem, "110113", "Security Alert");
    subtype.push_back(Coding(kDicomSystem, "110129", "Security Configuration"));
  } else {
    event["type"] = Coding(kAuditEventTypeSystem, "rest", "RESTful Operation");
    subtype.push_back(Coding(kRestfulInteractionSystem, RestInteraction(e), ""));
  }
  subtype.push_back(Coding(kMedMeshEventSystem, e.event, ""));
  event["subtype"] = std::move(subtype);
}

Json Agent(const AuditEntry& e, std::string_view observer_id) {
  Json agent = {{"requestor", true}};
  if (!e.actor_account_id.empty()) {
    agent["who"] = {{"identifier", {{"system", kAccountSystem}, {"value", e.actor_account_id}}}};
  } else if (e.actor_role == "system") {
    agent["who"] = {{"identifier", {{"system", kNodeSystem}, {"value", observer_id}}}};
  } else {
    agent["who"] = {{"display", "anonymous"}};
  }
  agent["role"] = Json::array({{{"coding", Json::array({Coding(kRoleSystem, e.actor_role, "")})}}});
  if (!e.source_address.empty()) {
    // Network access point type 2: IP address.
    agent["network"] = {{"address", e.source_address}, {"type", "2"}};
  }
  if (!e.purpose.empty()) agent["purposeOfUse"] = Json::array({{{"text", e.purpose}}});
  return agent;
}

Json Entities(const AuditEntry& e) {
  Json entities = Json::array();
  if (!e.patient_id.empty()) {
    entities.push_back({{"what", {{"reference", "Patient/" + e.patient_id}}},
                        {"type", Coding(kEntityTypeSystem, "1", "Person")},
                        {"role", Coding(kObjectRoleSystem, "1", "Patient")}});
  }
  if (!e.entity_type.empty()) {
    Json entity;
    if (IsFhirResourceType(e.entity_type)) {
      entity["type"] = Coding(kResourceTypesSystem, e.entity_type, "");
      if (!e.entity_id.empty()) entity["what"] = {{"reference", e.entity_type + "/" + e.entity_id}};
    } else {
      entity["type"] = Coding(kEntityTypeSystem, "2", "System Object");
      entity["description"] = e.entity_type;
      if (!e.entity_id.empty()) {
        entity["what"] = {
            {"identifier", {{"system", "urn:medmesh:" + e.entity_type}, {"value", e.entity_id}}}};
      }
    }
    // Object role 4: domain resource.
    entity["role"] = Coding(kObjectRoleSystem, "4", "Domain Resource");
    entities.push_back(std::move(entity));
  }
  return entities;
}

bool ValidUtf8(const std::string& s) {
  try {
    (void)Json(s).dump(-1, ' ', false, Json::error_handler_t::strict);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

Status CheckField(const std::string& value, std::string_view name, std::size_t limit) {
  if (value.size() > limit) {
    return InvalidArgument("audit entry " + std::string(name) + " is longer than " +
                           std::to_string(limit) + " bytes");
  }
  if (!ValidUtf8(value)) {
    return InvalidArgument("audit entry " + std::string(name) + " is not valid UTF-8");
  }
  return OkStatus();
}

}  // namespace

Status ValidateAuditEntry(const AuditEntry& e) {
  if (e.time_ms <= 0) return InvalidArgument("audit entry time_ms must be positive");
  if (e.event.empty()) return InvalidArgument("audit entry event is empty");
  for (char c : e.event) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return InvalidArgument("audit entry event must be [a-z0-9._-]");
  }
  if (e.actor_role.empty()) return InvalidArgument("audit entry actor_role is empty");
  if (e.entity_type.empty() && !e.entity_id.empty()) {
    return InvalidArgument("audit entry entity_id needs an entity_type");
  }
  switch (e.action) {
    case Action::kCreate:
    case Action::kRead:
    case Action::kUpdate:
    case Action::kDelete:
    case Action::kExecute: break;
    default: return InvalidArgument("audit entry action is not one of C, R, U, D, E");
  }
  switch (e.outcome) {
    case Outcome::kSuccess:
    case Outcome::kMinorFailure:
    case Outcome::kSeriousFailure:
    case Outcome::kMajorFailure: break;
    default: return InvalidArgument("audit entry outcome is not one of 0, 4, 8, 12");
  }
  MEDMESH_RETURN_IF_ERROR(CheckField(e.event, "event", kMaxAuditIdBytes));
  MEDMESH_RETURN_IF_ERROR(CheckField(e.actor_account_id, "actor_account_id", kMaxAuditIdBytes));
  MEDMESH_RETURN_IF_ERROR(CheckField(e.actor_role, "actor_role", kMaxAuditIdBytes));
  MEDMESH_RETURN_IF_ERROR(CheckField(e.source_address, "source_address", kMaxAuditIdBytes));
  MEDMESH_RETURN_IF_ERROR(CheckField(e.patient_id, "patient_id", kMaxAuditIdBytes));
  MEDMESH_RETURN_IF_ERROR(CheckField(e.entity_type, "entity_type", kMaxAuditIdBytes));
  MEDMESH_RETURN_IF_ERROR(CheckField(e.entity_id, "entity_id", kMaxAuditIdBytes));
  MEDMESH_RETURN_IF_ERROR(CheckField(e.purpose, "purpose", kMaxAuditTextBytes));
  MEDMESH_RETURN_IF_ERROR(CheckField(e.detail, "detail", kMaxAuditTextBytes));
  return OkStatus();
}

std::string FormatInstant(std::int64_t time_ms) {
  using std::chrono::days;
  using std::chrono::floor;
  using std::chrono::milliseconds;
  const std::chrono::sys_time<milliseconds> t{milliseconds(time_ms)};
  const auto day = floor<days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<milliseconds> hms{t - day};
  char out[40];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return out;
}

nlohmann::json AuditEventJson(const AuditEntry& e, std::string_view observer_id) {
  Json event = {{"resourceType", "AuditEvent"}};
  SetType(e, event);
  event["action"] = std::string(1, static_cast<char>(e.action));
  event["recorded"] = FormatInstant(e.time_ms);
  event["outcome"] = std::to_string(static_cast<int>(e.outcome));
  if (!e.detail.empty()) event["outcomeDesc"] = e.detail;
  if (!e.purpose.empty()) event["purposeOfEvent"] = Json::array({{{"text", e.purpose}}});
  event["agent"] = Json::array({Agent(e, observer_id)});
  event["source"] = {{"observer",
                      {{"identifier", {{"system", kNodeSystem}, {"value", observer_id}}},
                       {"display", observer_id}}},
                     {"type", Json::array({Coding(kSourceTypeSystem, "4", "Application Server")})}};
  Json entities = Entities(e);
  if (!entities.empty()) event["entity"] = std::move(entities);
  return event;
}

std::string CanonicalAuditEventJson(const AuditEntry& entry, std::string_view observer_id) {
  // nlohmann's objects are std::maps, so keys come out sorted; no whitespace.
  return AuditEventJson(entry, observer_id).dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace medmesh::audit
