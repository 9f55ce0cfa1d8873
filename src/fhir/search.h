// Parsing the FHIR search parameters MedMesh's read-only server supports, so that routes stay
// thin: `date` (prefixes eq, ge, le, gt, lt with partial dates), `code` (token: system|code,
// |code, system| or code; comma means OR) and `patient` (Patient/<id> or <id>).
// https://hl7.org/fhir/R4/search.html defines the semantics followed here.
// Thread safety: free functions without shared state.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "fhir/fhir_time.h"
#include "nlohmann/json.hpp"
#include "wire/model.h"

namespace medmesh::fhir {

enum class DatePrefix { kEq, kGe, kLe, kGt, kLt };

struct DateSearch {
  DatePrefix prefix = DatePrefix::kEq;
  TimeRange value;  // the range the date names (ParseDateTimeRange)
  bool operator==(const DateSearch&) const = default;
};

// One `date` value: an optional prefix (eq, ge, le, gt, lt; none means eq) and a date of any
// precision. kInvalidArgument for the other FHIR prefixes (ne, sa, eb, ap: not supported),
// and for a malformed date.
Result<DateSearch> ParseDateSearch(std::string_view value);

// The instants t a search matches, as [begin, end): eq: t in the value's range; ge: t >= its
// start; gt: t >= its end; le: t < its end; lt: t < its start.
TimeRange MatchingInstants(const DateSearch& search);

// Every `date` value of a request (repeated parameters are ANDed, as in `date=ge2024&date=lt2025`)
// as one range: the intersection, possibly empty. No values: the unbounded range. A value with
// a comma (OR) is kInvalidArgument: not supported for dates.
Result<TimeRange> ParseDateSearches(std::span<const std::string_view> values);

// One alternative of a token parameter.
struct TokenSearch {
  std::optional<std::string> system;  // nullopt: any system; "" : codes without a system
  std::optional<std::string> code;    // nullopt: any code of `system` ("system|")
  bool operator==(const TokenSearch&) const = default;
};

// A token value: comma-separated alternatives (OR), each "code", "system|code", "|code" or
// "system|". "\," "\|" and "\\" escape those characters. kInvalidArgument for an empty value
// or alternative, a lone "|", or more than one unescaped '|' in one alternative.
Result<std::vector<TokenSearch>> ParseTokenSearch(std::string_view value);

// True if a coding (system, code) matches any of `alternatives`.
bool TokenMatches(std::span<const TokenSearch> alternatives, std::string_view system,
                  std::string_view code);

// True if any coding in `codeable_concept` (a FHIR CodeableConcept as JSON) matches.
bool CodeableConceptMatches(std::span<const TokenSearch> alternatives,
                            const nlohmann::json& codeable_concept);

// The reading kinds whose Observations can match `code=...`: those whose own codes match,
// plus systolic and diastolic for the blood-pressure panel code. A store query over these
// kinds, then CodeableConceptMatches on each built Observation's `code`, gives exactly the
// matching Observations.
std::vector<wire::VitalKind> VitalKindsForCodes(std::span<const TokenSearch> alternatives);

// A `patient` (or `subject`) value: "Patient/<FHIR id>" or "<FHIR id>", as the MedMesh patient
// id. kNotFound (fixed message) for an id no MedMesh patient can have; kInvalidArgument for a
// reference to another resource type or an absolute URL.
Result<std::string> ParsePatientSearch(std::string_view value);

}  // namespace medmesh::fhir
