// Fuzzes what the /fhir/r4 routes parse from a URL: FHIR ids, Observation ids and the date,
// token and patient search parameters. Nothing may crash, and whatever parses must round-trip:
// FromFhirId and ParseObservationId are exact inverses of ToFhirId and ObservationId, a parsed
// date range is never empty, and a token parse yields at least one alternative.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fhir/fhir_time.h"
#include "fhir/ids.h"
#include "fhir/search.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace medmesh::fhir;  // NOLINT(google-build-using-namespace)
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto wire_id = FromFhirId(text)) {
    auto back = ToFhirId(*wire_id);
    if (!back || *back != text) __builtin_trap();
  }
  if (auto key = ParseObservationId(text)) {
    auto back = ObservationId(*key);
    if (!back || *back != text) __builtin_trap();
  }
  if (auto range = ParseDateTimeRange(text)) {
    if (range->empty()) __builtin_trap();
  }
  if (auto search = ParseDateSearch(text)) {
    (void)MatchingInstants(*search);
  }
  if (auto tokens = ParseTokenSearch(text)) {
    if (tokens->empty()) __builtin_trap();
    (void)VitalKindsForCodes(*tokens);
  }
  (void)ParsePatientSearch(text);
  return 0;
}
