// The code systems and codes MedMesh's FHIR resources use, in one place: the LOINC code, UCUM
// unit, observation category and FHIR profile of every reading kind, and MedMesh's own
// identifier systems. docs/fhir.md lists them for readers.
// Thread safety: constants only.
#pragma once

#include <span>
#include <string_view>

#include "wire/model.h"

namespace medmesh::fhir {

inline constexpr std::string_view kLoincSystem = "http://loinc.org";
inline constexpr std::string_view kUcumSystem = "http://unitsofmeasure.org";
inline constexpr std::string_view kSnomedSystem = "http://snomed.info/sct";
inline constexpr std::string_view kObservationCategorySystem =
    "http://terminology.hl7.org/CodeSystem/observation-category";
inline constexpr std::string_view kV2IdentifierTypeSystem =
    "http://terminology.hl7.org/CodeSystem/v2-0203";

// MedMesh's own identifier systems. The host is under the reserved .invalid top-level domain
// (RFC 2606) on purpose: MedMesh is not a registered naming authority, and a deployment that
// is one replaces these with its own URIs.
inline constexpr std::string_view kPatientIdSystem = "https://medmesh.invalid/fhir/sid/patient-id";
inline constexpr std::string_view kDeviceIdSystem = "https://medmesh.invalid/fhir/sid/device-id";
inline constexpr std::string_view kRecordIdSystem = "https://medmesh.invalid/fhir/sid/record-id";
inline constexpr std::string_view kAccountIdSystem = "https://medmesh.invalid/fhir/sid/account-id";
inline constexpr std::string_view kLicenceSystem =
    "https://medmesh.invalid/fhir/sid/medical-licence";
inline constexpr std::string_view kPrescriptionIdSystem =
    "https://medmesh.invalid/fhir/sid/prescription-id";

// The FHIR R4 vital-signs profiles (http://hl7.org/fhir/R4/observation-vitalsigns.html).
inline constexpr std::string_view kVitalSignsProfile =
    "http://hl7.org/fhir/StructureDefinition/vitalsigns";
inline constexpr std::string_view kBloodPressureProfile =
    "http://hl7.org/fhir/StructureDefinition/bp";

// The blood-pressure panel that pairs a systolic and a diastolic reading.
inline constexpr std::string_view kBloodPressurePanelLoinc = "85354-9";
inline constexpr std::string_view kBloodPressurePanelDisplay =
    "Blood pressure panel with all children optional";

// How one reading kind appears as an Observation.
struct VitalCoding {
  wire::VitalKind kind;
  std::string_view loinc;          // Observation.code.coding[0] (LOINC)
  std::string_view loinc_display;  // its LOINC long common name
  std::string_view extra_loinc;    // a second, more specific LOINC coding ("" if none)
  std::string_view extra_display;
  std::string_view category;  // observation-category code: vital-signs, laboratory, ...
  std::string_view profile;   // the specific R4 profile URL ("" if none applies)
  std::string_view ucum;      // valueQuantity.code ("" for a coded value: ECG rhythm)
  std::string_view unit;      // valueQuantity.unit, for people
};

// The entry of `kind` (every VitalKind has one).
const VitalCoding& CodingFor(wire::VitalKind kind);
// All entries, in VitalKind id order.
std::span<const VitalCoding> AllVitalCodings();

// How an ECG rhythm summary is coded (SNOMED CT ECG findings; kOther has text only).
struct RhythmCoding {
  wire::EcgRhythm rhythm;
  std::string_view snomed;  // "" for kOther
  std::string_view display;
};
// nullptr if `value_milli` is not an EcgRhythm code times 1000.
const RhythmCoding* RhythmCodingFor(std::int64_t value_milli);

}  // namespace medmesh::fhir
