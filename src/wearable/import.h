// Import of readings recorded elsewhere: CSV files and FHIR R4 Observation bundles.
//
// CSV (RFC 4180 quoting, UTF-8, LF or CRLF; blank lines and lines starting with '#' are
// skipped). The first line is a header naming the columns, in any order, case-insensitive;
// other columns are ignored:
//   time   ISO-8601 with a zone ("2027-01-15T08:30:00Z", "2027-01-15T09:30:00.250+01:00",
//          a space instead of 'T' is accepted) or Unix epoch milliseconds ("1800000000000")
//   kind   heart_rate | spo2 | body_temperature | systolic_bp | diastolic_bp |
//          respiratory_rate | glucose | steps | ecg_rhythm (wire::Info names), a common alias
//          (hr, pulse, temp, sbp, dbp, rr, bg, ...) or the kind's LOINC code
//   value  a decimal number; for ecg_rhythm a code 0..4 or a name (sinus, sinus_tachycardia,
//          sinus_bradycardia, atrial_fibrillation / afib, other)
//   unit   optional; empty means the kind's own unit. Converted: degF / [degF] / K → Cel,
//          mmol/L → mg/dL (glucose, × 18.016), kPa → mm[Hg]; synonyms such as bpm, degC, mmHg.
// FHIR: a Bundle whose entries are Observations (other resources are skipped), or a single
// Observation. The LOINC coding (system http://loinc.org) picks the kind: 8867-4, 59408-5 /
// 2708-6, 8310-5 / 8331-1 / 8332-9 / 8333-7, 8480-6, 8462-4, 9279-1, 2339-0 / 2345-7 /
// 15074-8 / 41653-7, 55423-8, 8884-9 (rhythm, valueCodeableConcept or valueString); the blood
// pressure panels 85354-9 / 55284-4 give two readings from their components 8480-6 / 8462-4.
// Values come from valueQuantity (UCUM `code`, else `unit`); the time from effectiveDateTime,
// effectiveInstant or effectivePeriod.start. Observations with status entered-in-error or
// cancelled are rejected.
//
// Every reading must pass wire::CheckPlausible. A bad row (CSV) or Observation (FHIR) is
// rejected with its line or entry number and the reason, and the rest is imported; the caller
// decides whether any rejection fails the whole import (ImportResult::AllAccepted()).
// The input is untrusted: sizes are capped and malformed input is an error, never a crash.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "wire/model.h"

namespace medmesh::wearable {

struct ImportOptions {
  std::size_t max_input_bytes = std::size_t{64} << 20;
  std::size_t max_readings = 5'000'000;
  // At most this many rejections are listed (all are counted).
  std::size_t max_listed_rejections = 100;
};

struct Rejection {
  std::size_t number = 0;  // CSV line (1 = the header) or FHIR entry (1-based)
  std::string location;    // "line 12" or "entry 3 (Observation/obs-3)"
  std::string reason;
};

struct ImportResult {
  std::vector<wire::Reading> readings;  // in input order
  std::size_t rejected = 0;             // all rejected rows / entries
  std::vector<Rejection> rejections;    // the first max_listed_rejections of them
  std::size_t skipped = 0;              // blank and comment lines; non-Observation entries

  // OK if nothing was rejected, else kInvalidArgument listing the first few rejections.
  Status AllAccepted() const;
};

// kInvalidArgument for input that cannot be imported at all (a missing or incomplete CSV
// header, an unterminated quote, not JSON, JSON nested deeper than 64 levels, neither a Bundle
// nor an Observation); kResourceExhausted over the size or reading limits. Rejected rows are
// not errors. Text is not checked to be valid UTF-8.
Result<ImportResult> ImportCsv(std::string_view text, const ImportOptions& options = {});
Result<ImportResult> ImportFhir(std::string_view text, const ImportOptions& options = {});

// Parses an ISO-8601 date-time with a zone (Z or ±hh:mm / ±hhmm), seconds and fraction
// optional, into Unix epoch ms. Exposed for tests and other importers.
std::optional<std::int64_t> ParseIsoDateTime(std::string_view s);

// Converts a value in `unit` to the milli-units of `kind`. kInvalidArgument naming the
// accepted units if the unit is unknown for the kind, or for a non-finite value.
Result<std::int64_t> ToMilliUnits(wire::VitalKind kind, double value, std::string_view unit);

}  // namespace medmesh::wearable
