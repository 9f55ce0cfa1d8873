// The FHIR R4 resources of the read-only server itself: search and $everything Bundles, the
// CapabilityStatement served at `metadata`, and OperationOutcome for errors.
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "fhir/resources.h"

namespace medmesh::fhir {

enum class SearchMode { kMatch, kInclude };

struct BundleEntry {
  Json resource;  // a resource with resourceType and id
  SearchMode mode = SearchMode::kMatch;
};

// Where the server lives and what it is: base_url is absolute ("https://host:port/fhir/r4",
// no trailing slash) and prefixes every fullUrl.
struct ServerInfo {
  std::string base_url;
  std::string software_name = "MedMesh";
  std::string software_version;
};

// A searchset Bundle: timestamp (now_ms), total (the number of kMatch entries unless `total`
// is given, e.g. when paging), link self (self_url, absolute), and entries with fullUrl
// (base_url/Type/id) and search.mode. kInvalidArgument for a base or self URL that is not
// absolute http(s), an entry without resourceType or id, or a bad time.
Result<Json> SearchSetBundle(const ServerInfo& server, std::string_view self_url,
                             std::vector<BundleEntry> entries, std::int64_t now_ms,
                             std::optional<std::uint64_t> total = std::nullopt);

// The answer of Patient/{id}/$everything: a searchset Bundle whose first entry is the Patient
// and then everything else about them (Observations, MedicationRequests, Consents, the
// Practitioners they reference...), all with search.mode match, total = entry count.
Result<Json> EverythingBundle(const ServerInfo& server, std::string_view self_url, Json patient,
                              std::vector<Json> others, std::int64_t now_ms);

// The CapabilityStatement of the read-only server (cloud/fhir_api.h serves it): kind instance,
// FHIR 4.0.1, JSON only, read and search-type for Patient, Observation, MedicationRequest,
// Consent and AuditEvent, the search parameters each supports (patient, code, date, _count,
// ...), and the Patient $everything operation. Practitioner and PractitionerRole are built
// (resources.h) but not served. Errors: a bad base URL or time.
Result<Json> CapabilityStatementResource(const ServerInfo& server, std::int64_t now_ms);

// Appends a link with relation "next" (the following page) to a Bundle from SearchSetBundle or
// EverythingBundle. kInvalidArgument for a URL that is not absolute http(s) or a value that
// is not such a Bundle.
Status AddNextLink(Json& bundle, std::string_view next_url);

// The resource types the CapabilityStatement lists, in its order (for routes and tests).
const std::vector<std::string_view>& ServedResourceTypes();

// An OperationOutcome for a refused request, with the issue code for the error's code
// (invalid, not-found, duplicate, forbidden, login, business-rule, too-costly, throttled,
// transient, exception) and the message as diagnostics. WARNING: like net/error_mapping.h,
// internal, data-loss and unavailable errors never carry their message (it may name files or
// keys): their diagnostics are fixed text.
Json OperationOutcomeResource(const Error& error);

}  // namespace medmesh::fhir
