// FHIR logical ids for MedMesh identifiers.
//
// MedMesh ids are [A-Za-z0-9._-]{1,64} (wire::IsValidId); FHIR ids are [A-Za-z0-9.-]{1,64}, with
// no underscore, and generated ids have one ("pat_...", "acc_..."). ToFhirId maps one to the
// other reversibly by using '.' as an escape character:
//   '_' -> ".-"      '.' -> ".."      every other character stays
// so "pat_k3x..." becomes "pat.-k3x..." and "patient-0007" stays "patient-0007". FromFhirId is
// its exact inverse, and rejects every FHIR id that ToFhirId cannot produce, so a route can turn
// a URL's id back into the one MedMesh id it names (or a 404).
//
// Observations have no stored id of their own: a reading is named by its patient, kind and
// time, and a blood-pressure panel by its patient and time (the two readings it pairs):
//   "r<kind id>-<time ms>-<FHIR patient id>"   one reading, e.g. "r1-1700000000000-patient-0007"
//   "bp-<time ms>-<FHIR patient id>"           a systolic/diastolic panel
// WARNING: two devices of one patient that report the same kind at the same millisecond give
// one Observation id; a route that reads by id returns the first such reading.
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"
#include "wire/model.h"

namespace medmesh::fhir {

inline constexpr std::size_t kMaxFhirIdBytes = 64;

// True if `id` matches FHIR R4's id type: [A-Za-z0-9\-\.]{1,64}.
bool IsValidFhirId(std::string_view id);

// kInvalidArgument if `wire_id` is not a valid MedMesh id or its escaped form is longer than
// 64 characters (only possible for ids with many '_' or '.' near the 64-character limit).
Result<std::string> ToFhirId(std::string_view wire_id);

// The MedMesh id whose ToFhirId is `fhir_id`. kNotFound for anything else (a URL's id that no
// MedMesh id can have is simply not found), with a fixed message.
Result<std::string> FromFhirId(std::string_view fhir_id);

// What an Observation id names.
struct ObservationKey {
  std::string patient_id;               // MedMesh id
  std::optional<wire::VitalKind> kind;  // nullopt: a blood-pressure panel
  std::int64_t time_ms = 0;
  bool operator==(const ObservationKey&) const = default;
};

// The Observation id of `key` (formats above). kInvalidArgument if the patient id is invalid,
// the time is outside [0, wire::kMaxTimeMs] or the id would pass 64 characters.
Result<std::string> ObservationId(const ObservationKey& key);

// The inverse of ObservationId; kNotFound (fixed message) for any other string.
Result<ObservationKey> ParseObservationId(std::string_view fhir_id);

}  // namespace medmesh::fhir
