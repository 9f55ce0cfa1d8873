#include "fhir/codes.h"

#include <array>

#include "core/check.h"

namespace medmesh::fhir {
namespace {

using wire::VitalKind;

// LOINC codes and displays as in the FHIR R4 vital-signs profiles where one exists. Glucose,
// steps and the ECG rhythm are not vital signs in HL7's sense (observation-category), so they
// carry the category that fits them and no vital-signs profile.
constexpr std::array<VitalCoding, wire::kNumVitalKinds> kCodings{{
    {VitalKind::kHeartRate, "8867-4", "Heart rate", "", "", "vital-signs",
     "http://hl7.org/fhir/StructureDefinition/heartrate", "/min", "beats/minute"},
    {VitalKind::kSpO2, "2708-6", "Oxygen saturation in Arterial blood", "59408-5",
     "Oxygen saturation in Arterial blood by Pulse oximetry", "vital-signs",
     "http://hl7.org/fhir/StructureDefinition/oxygensat", "%", "%"},
    {VitalKind::kBodyTemperature, "8310-5", "Body temperature", "", "", "vital-signs",
     "http://hl7.org/fhir/StructureDefinition/bodytemp", "Cel", "C"},
    {VitalKind::kSystolicBp, "8480-6", "Systolic blood pressure", "", "", "vital-signs", "",
     "mm[Hg]", "mmHg"},
    {VitalKind::kDiastolicBp, "8462-4", "Diastolic blood pressure", "", "", "vital-signs", "",
     "mm[Hg]", "mmHg"},
    {VitalKind::kRespiratoryRate, "9279-1", "Respiratory rate", "", "", "vital-signs",
     "http://hl7.org/fhir/StructureDefinition/resprate", "/min", "breaths/minute"},
    {VitalKind::kGlucose, "2339-0", "Glucose [Mass/volume] in Blood", "", "", "laboratory", "",
     "mg/dL", "mg/dL"},
    {VitalKind::kSteps, "55423-8", "Number of steps in unspecified time Pedometer", "", "",
     "activity", "", "{steps}", "steps"},
    {VitalKind::kEcgRhythm, "8884-9", "Heart rate rhythm", "", "", "procedure", "", "", ""},
}};

// SNOMED CT findings as used for ECG rhythm labels (e.g. the PhysioNet/CinC 2020 label set).
constexpr std::array<RhythmCoding, 5> kRhythms{{
    {wire::EcgRhythm::kSinus, "426783006", "Sinus rhythm"},
    {wire::EcgRhythm::kSinusTachycardia, "427084000", "Sinus tachycardia"},
    {wire::EcgRhythm::kSinusBradycardia, "426177001", "Sinus bradycardia"},
    {wire::EcgRhythm::kAtrialFibrillation, "164889003", "Atrial fibrillation"},
    {wire::EcgRhythm::kOther, "", "Other"},
}};

}  // namespace

const VitalCoding& CodingFor(wire::VitalKind kind) {
  for (const VitalCoding& c : kCodings) {
    if (c.kind == kind) return c;
  }
  MEDMESH_CHECK(false, "VitalKind without a FHIR coding");
  return kCodings[0];
}

std::span<const VitalCoding> AllVitalCodings() { return kCodings; }

const RhythmCoding* RhythmCodingFor(std::int64_t value_milli) {
  if (value_milli % 1000 != 0) return nullptr;
  for (const RhythmCoding& r : kRhythms) {
    if (static_cast<std::int64_t>(r.rhythm) * 1000 == value_milli) return &r;
  }
  return nullptr;
}

}  // namespace medmesh::fhir
