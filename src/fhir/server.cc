#include "fhir/server.h"

#include <algorithm>

#include "fhir/fhir_time.h"
#include "fhir/ids.h"

namespace medmesh::fhir {
namespace {

bool IsAbsoluteHttpUrl(std::string_view url) {
  std::string_view rest;
  if (url.starts_with("https://")) {
    rest = url.substr(8);
  } else if (url.starts_with("http://")) {
    rest = url.substr(7);
  } else {
    return false;
  }
  if (rest.empty() || rest[0] == '/') return false;
  // FHIR's uri is any text without whitespace; a self link may hold a raw '|' from a token.
  return std::ranges::none_of(
      url, [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

Status CheckBase(const ServerInfo& server) {
  if (!IsAbsoluteHttpUrl(server.base_url) || server.base_url.ends_with('/')) {
    return InvalidArgument("base URL must be absolute http(s) without a trailing slash");
  }
  return {};
}

Result<Json> Entry(const ServerInfo& server, BundleEntry entry) {
  const Json& r = entry.resource;
  const auto type = r.find("resourceType");
  const auto id = r.find("id");
  if (type == r.end() || !type->is_string() || id == r.end() || !id->is_string() ||
      !IsValidFhirId(id->get<std::string>())) {
    return InvalidArgument("a bundle entry needs a resource with resourceType and a FHIR id");
  }
  std::string full_url =
      server.base_url + "/" + type->get<std::string>() + "/" + id->get<std::string>();
  return Json{{"fullUrl", std::move(full_url)},
              {"resource", std::move(entry.resource)},
              {"search", {{"mode", entry.mode == SearchMode::kMatch ? "match" : "include"}}}};
}

Json SearchParam(std::string_view name, std::string_view type, std::string_view doc) {
  return Json{{"name", name}, {"type", type}, {"documentation", doc}};
}

Json ResourceCapability(std::string_view type, Json params) {
  Json r{{"type", type},
         {"interaction", Json::array({{{"code", "read"}}, {{"code", "search-type"}}})},
         {"versioning", "no-version"},
         {"readHistory", false},
         {"updateCreate", false}};
  if (!params.empty()) r["searchParam"] = std::move(params);
  return r;
}

}  // namespace

Result<Json> SearchSetBundle(const ServerInfo& server, std::string_view self_url,
                             std::vector<BundleEntry> entries, std::int64_t now_ms,
                             std::optional<std::uint64_t> total) {
  MEDMESH_RETURN_IF_ERROR(CheckBase(server));
  if (!IsAbsoluteHttpUrl(self_url)) return InvalidArgument("self URL must be absolute http(s)");
  MEDMESH_ASSIGN_OR_RETURN(std::string timestamp, FormatInstant(now_ms));
  std::uint64_t matches = 0;
  Json list = Json::array();
  for (BundleEntry& e : entries) {
    if (e.mode == SearchMode::kMatch) ++matches;
    MEDMESH_ASSIGN_OR_RETURN(Json entry, Entry(server, std::move(e)));
    list.push_back(std::move(entry));
  }
  Json b{{"resourceType", "Bundle"},
         {"type", "searchset"},
         {"timestamp", std::move(timestamp)},
         {"total", total.value_or(matches)},
         {"link", Json::array({{{"relation", "self"}, {"url", self_url}}})}};
  if (!list.empty()) b["entry"] = std::move(list);
  return b;
}

Result<Json> EverythingBundle(const ServerInfo& server, std::string_view self_url, Json patient,
                              std::vector<Json> others, std::int64_t now_ms) {
  if (!patient.is_object() || patient.value("resourceType", "") != "Patient") {
    return InvalidArgument("$everything starts with a Patient");
  }
  std::vector<BundleEntry> entries;
  entries.reserve(others.size() + 1);
  entries.push_back({std::move(patient), SearchMode::kMatch});
  for (Json& r : others) entries.push_back({std::move(r), SearchMode::kMatch});
  return SearchSetBundle(server, self_url, std::move(entries), now_ms);
}

const std::vector<std::string_view>& ServedResourceTypes() {
  static const std::vector<std::string_view> kTypes{"Patient", "Observation", "MedicationRequest",
                                                    "Consent", "AuditEvent"};
  return kTypes;
}

Result<Json> CapabilityStatementResource(const ServerInfo& server, std::int64_t now_ms) {
  MEDMESH_RETURN_IF_ERROR(CheckBase(server));
  MEDMESH_ASSIGN_OR_RETURN(std::string date, FormatInstant(now_ms));
  const Json patient_param =
      SearchParam("patient", "reference", "Patient/<id> or <id>: resources about this patient");
  const Json date_doc_note = "prefixes eq, ge, le, gt, lt; partial dates (YYYY, YYYY-MM, ...)";
  Json resources = Json::array();
  Json patient = ResourceCapability(
      "Patient", Json::array({SearchParam("_id", "token", "the patient's FHIR id")}));
  patient["operation"] =
      Json::array({{{"name", "everything"},
                    {"definition", "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
                    {"documentation",
                     "Patient/<id>/$everything: the patient and everything about them "
                     "the caller may see, as a searchset Bundle; start and end (dates) bound "
                     "the Observations, _count pages them (a next link)"}}});
  resources.push_back(std::move(patient));
  resources.push_back(ResourceCapability(
      "Observation",
      Json::array(
          {patient_param,
           SearchParam("code", "token", "LOINC code, system|code or code; comma = OR"),
           SearchParam("date", "date", "effective time; " + date_doc_note.get<std::string>()),
           SearchParam("_count", "number", "page size (next link), 1..1000, default 100")})));
  resources.push_back(ResourceCapability(
      "MedicationRequest",
      Json::array({patient_param,
                   SearchParam("authoredon", "date",
                               "when it was written; " + date_doc_note.get<std::string>())})));
  resources.push_back(ResourceCapability(
      "Consent", Json::array({patient_param, SearchParam("date", "date",
                                                         "when it was granted; " +
                                                             date_doc_note.get<std::string>())})));
  resources.push_back(ResourceCapability(
      "AuditEvent",
      Json::array(
          {patient_param,
           SearchParam("date", "date", "when it was recorded; " + date_doc_note.get<std::string>()),
           SearchParam("_count", "number", "page size (next link), 1..1000, default 100")})));
  Json rest{{"mode", "server"},
            {"documentation",
             "Read-only. Every read and search is subject to the same consent "
             "checks as MedMesh's JSON API and is recorded in the audit log."},
            {"security",
             {{"cors", false},
              {"description",
               "MedMesh session token: Authorization: Bearer <token>, or the "
               "mm_session cookie"}}},
            {"resource", std::move(resources)}};
  return Json{{"resourceType", "CapabilityStatement"},
              {"status", "active"},
              {"date", std::move(date)},
              {"publisher", "MedMesh"},
              {"kind", "instance"},
              {"software", {{"name", server.software_name}, {"version", server.software_version}}},
              {"implementation",
               {{"description", "MedMesh cloud FHIR R4 read-only API"}, {"url", server.base_url}}},
              {"fhirVersion", "4.0.1"},
              {"format", Json::array({"json"})},
              {"rest", Json::array({std::move(rest)})}};
}

Status AddNextLink(Json& bundle, std::string_view next_url) {
  if (!IsAbsoluteHttpUrl(next_url)) return InvalidArgument("next URL must be absolute http(s)");
  if (!bundle.is_object() || !bundle.contains("link") || !bundle["link"].is_array()) {
    return InvalidArgument("not a bundle with links");
  }
  bundle["link"].push_back({{"relation", "next"}, {"url", next_url}});
  return {};
}

Json OperationOutcomeResource(const Error& error) {
  std::string_view code = "exception";
  std::string diagnostics = error.message();
  switch (error.code()) {
    case ErrorCode::kInvalidArgument: code = "invalid"; break;
    case ErrorCode::kNotFound: code = "not-found"; break;
    case ErrorCode::kAlreadyExists: code = "duplicate"; break;
    case ErrorCode::kPermissionDenied: code = "forbidden"; break;
    case ErrorCode::kUnauthenticated: code = "login"; break;
    case ErrorCode::kFailedPrecondition: code = "business-rule"; break;
    case ErrorCode::kPayloadTooLarge: code = "too-costly"; break;
    case ErrorCode::kResourceExhausted: code = "throttled"; break;
    case ErrorCode::kUnavailable:
      code = "transient";
      diagnostics = "service unavailable";
      break;
    case ErrorCode::kDataLoss:
    case ErrorCode::kInternal:
      code = "exception";
      diagnostics = "internal error";
      break;
  }
  Json issue{{"severity", "error"}, {"code", code}};
  if (!diagnostics.empty()) issue["diagnostics"] = diagnostics;
  return Json{{"resourceType", "OperationOutcome"}, {"issue", Json::array({std::move(issue)})}};
}

}  // namespace medmesh::fhir
