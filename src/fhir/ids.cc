#include "fhir/ids.h"

#include <algorithm>
#include <charconv>

namespace medmesh::fhir {
namespace {

bool IsFhirIdChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.';
}

Error UnknownId() { return NotFound("no such resource"); }

// A canonical non-negative decimal (no sign, no leading zero unless "0"); nullopt otherwise.
std::optional<std::int64_t> ParseCanonicalInt(std::string_view s) {
  if (s.empty() || s.size() > 18 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

bool IsValidFhirId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxFhirIdBytes && std::ranges::all_of(id, IsFhirIdChar);
}

Result<std::string> ToFhirId(std::string_view wire_id) {
  if (!wire::IsValidId(wire_id)) return InvalidArgument("not a valid MedMesh id");
  std::string out;
  out.reserve(wire_id.size() + 2);
  for (const char c : wire_id) {
    if (c == '_') {
      out += ".-";
    } else if (c == '.') {
      out += "..";
    } else {
      out += c;
    }
  }
  if (out.size() > kMaxFhirIdBytes) {
    return InvalidArgument("id is too long for a FHIR id once escaped");
  }
  return out;
}

Result<std::string> FromFhirId(std::string_view fhir_id) {
  if (!IsValidFhirId(fhir_id)) return UnknownId();
  std::string out;
  out.reserve(fhir_id.size());
  for (std::size_t i = 0; i < fhir_id.size(); ++i) {
    const char c = fhir_id[i];
    if (c != '.') {
      out += c;
      continue;
    }
    if (i + 1 == fhir_id.size()) return UnknownId();
    const char next = fhir_id[++i];
    if (next == '-') {
      out += '_';
    } else if (next == '.') {
      out += '.';
    } else {
      return UnknownId();
    }
  }
  if (!wire::IsValidId(out)) return UnknownId();
  return out;
}

Result<std::string> ObservationId(const ObservationKey& key) {
  if (key.time_ms < 0 || key.time_ms > wire::kMaxTimeMs) {
    return InvalidArgument("observation time is out of range");
  }
  MEDMESH_ASSIGN_OR_RETURN(std::string patient, ToFhirId(key.patient_id));
  std::string prefix =
      key.kind ? "r" + std::to_string(static_cast<int>(*key.kind)) : std::string("bp");
  std::string id = prefix + "-" + std::to_string(key.time_ms) + "-" + patient;
  if (id.size() > kMaxFhirIdBytes) return InvalidArgument("patient id is too long");
  return id;
}

Result<ObservationKey> ParseObservationId(std::string_view fhir_id) {
  if (!IsValidFhirId(fhir_id)) return UnknownId();
  const std::size_t first = fhir_id.find('-');
  if (first == std::string_view::npos) return UnknownId();
  const std::size_t second = fhir_id.find('-', first + 1);
  if (second == std::string_view::npos) return UnknownId();
  const std::string_view prefix = fhir_id.substr(0, first);
  ObservationKey key;
  if (prefix != "bp") {
    if (prefix.size() < 2 || prefix[0] != 'r') return UnknownId();
    const auto kind_id = ParseCanonicalInt(prefix.substr(1));
    if (!kind_id || *kind_id > 255) return UnknownId();
    key.kind = wire::VitalKindFromId(static_cast<std::uint8_t>(*kind_id));
    if (!key.kind) return UnknownId();
  }
  const auto time = ParseCanonicalInt(fhir_id.substr(first + 1, second - first - 1));
  if (!time || *time > wire::kMaxTimeMs) return UnknownId();
  key.time_ms = *time;
  MEDMESH_ASSIGN_OR_RETURN(key.patient_id, FromFhirId(fhir_id.substr(second + 1)));
  return key;
}

}  // namespace medmesh::fhir
