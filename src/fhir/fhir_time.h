// FHIR R4 date and time values: formatting MedMesh times (Unix epoch milliseconds, UTC) as FHIR
// instants and dates, and parsing the partial dates a client may send in a `date` search
// parameter into the range of time they stand for.
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/status.h"

namespace medmesh::fhir {

// "2024-03-05T07:08:09.010Z": a FHIR `instant` (also a valid `dateTime`), always UTC with
// milliseconds. kInvalidArgument unless unix_ms is in [0, wire::kMaxTimeMs].
Result<std::string> FormatInstant(std::int64_t unix_ms);

// "2024-03-05": the UTC calendar day of unix_ms, a FHIR `date`. Same range as FormatInstant.
Result<std::string> FormatDate(std::int64_t unix_ms);

// A half-open range of Unix epoch milliseconds [begin_ms, end_ms). An open side is the int64
// minimum or maximum. Empty when begin_ms >= end_ms.
struct TimeRange {
  std::int64_t begin_ms = std::numeric_limits<std::int64_t>::min();
  std::int64_t end_ms = std::numeric_limits<std::int64_t>::max();
  bool Contains(std::int64_t t_ms) const { return begin_ms <= t_ms && t_ms < end_ms; }
  bool empty() const { return begin_ms >= end_ms; }
  bool operator==(const TimeRange&) const = default;
};

// The range a FHIR date or dateTime of any precision covers:
//   "2024"                    the whole year (UTC)
//   "2024-03"                 the month
//   "2024-03-05"              the day
//   "2024-03-05T07:08"        the minute (seconds may be left out in search values)
//   "2024-03-05T07:08:09"     the second
//   "2024-03-05T07:08:09.5"   the tenth of a second (1..9 fraction digits; past 3, 1 ms)
// A time may end in "Z" or "+hh:mm"/"-hh:mm"; without one it is read as UTC (FHIR lets the
// server choose). Years 0001..9999. kInvalidArgument for anything else, including impossible
// dates ("2023-02-29") and hours past 23; the message quotes no input.
Result<TimeRange> ParseDateTimeRange(std::string_view text);

}  // namespace medmesh::fhir
