// FHIR R4 resources built from MedMesh's domain values: pure functions, no I/O, no clock.
// Profiles, code systems and identifier systems: docs/fhir.md and codes.h.
//
// Every function returns the resource as nlohmann::json, or kInvalidArgument naming the field
// (never quoting its content) when an input cannot make a valid resource: an invalid MedMesh
// id, a time outside [0, wire::kMaxTimeMs], a missing required value. Empty optional strings
// are left out (FHIR forbids empty strings). Free text is carried verbatim as JSON strings when
// it is valid UTF-8 without control characters (tab, CR and LF allowed); otherwise each bad
// byte or control character becomes U+FFFD, so the output always serialises.
// WARNING: these functions decide nothing about who may see what: a route calls them only
// after the same consent checks as the JSON API, and gives a Patient (which carries explicit
// identifiers and the photo) only to those allowed to see them.
// Thread safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "nlohmann/json.hpp"
#include "wire/model.h"

namespace medmesh::fhir {

using Json = nlohmann::json;

// --- Patient --------------------------------------------------------------------------------

// A Patient from the explicit identifiers and quasi-identifiers of a patient record: id
// (ToFhirId of patient_id), identifier (MedMesh patient id; national id with type NI), name
// (as text: MedMesh keeps one name string and does not guess given and family names), telecom
// (phone, email), gender, birthDate, address (text, postalCode), photo (base64 attachment).
// Medical information (symptoms, conditions, ECG, document) and record/device ids are not
// used. Errors: invalid patient_id; photo without a type.
Result<Json> PatientResource(const wire::PatientRecord& record);

// --- Observation ----------------------------------------------------------------------------

// One reading of one patient from one device.
struct ReadingSource {
  std::string patient_id;
  std::string device_id;  // "" if unknown: no device reference
};

// The Observation of one reading: status final, category and LOINC code of its kind
// (codes.h), subject, device (a logical reference by MedMesh device id: Device resources are
// not served), effectiveDateTime, and a UCUM valueQuantity (value_milli / 1000) or, for an
// ECG rhythm, a SNOMED CT valueCodeableConcept. Vital signs carry meta.profile (the R4
// vital-signs profile and the kind's own). Errors: invalid ids or time; a value the kind's
// plausibility check (wire::CheckPlausible) rejects.
Result<Json> ReadingObservation(const ReadingSource& source, const wire::Reading& reading);

// The R4 blood-pressure panel (LOINC 85354-9) with systolic (8480-6) and diastolic (8462-4)
// components in mm[Hg], for two readings taken at the same time. Errors: as above, and
// kinds other than systolic and diastolic.
Result<Json> BloodPressureObservation(const ReadingSource& source, const wire::Reading& systolic,
                                      const wire::Reading& diastolic);

// The Observations of a series of readings of one source, in (time, kind) order: a systolic
// and a diastolic reading at the same millisecond become one panel; every other reading one
// Observation. Errors: the first error of a single Observation.
Result<std::vector<Json>> ReadingObservations(const ReadingSource& source,
                                              std::span<const wire::Reading> readings);

// --- MedicationRequest ----------------------------------------------------------------------

// FHIR Timing units (a required value set): s, min, h, d, wk, mo, a.
enum class TimeUnit { kSecond, kMinute, kHour, kDay, kWeek, kMonth, kYear };

enum class PrescriptionStatus { kActive, kCompleted, kCancelled, kStopped };

struct Dose {
  double value = 0;  // > 0
  std::string unit;  // UCUM code, e.g. "mg", "mL", "{tbl}" (printable ASCII, no spaces)
};

// `times` administrations per `period` `period_unit`: "3 times per 1 d".
struct Frequency {
  int times = 1;  // >= 1
  double period = 1;
  TimeUnit period_unit = TimeUnit::kDay;
};

struct Duration {
  double value = 0;  // > 0
  TimeUnit unit = TimeUnit::kDay;
};

// A doctor's prescription, as the clinical workflow stores it.
struct Prescription {
  std::string id;          // MedMesh id of the prescription
  std::string patient_id;  // the patient it is for
  std::string doctor_id;   // the prescribing doctor's account id (a Practitioner)
  std::int64_t authored_ms = 0;
  PrescriptionStatus status = PrescriptionStatus::kActive;
  std::string drug;          // required, free text (no drug coding system is assumed)
  std::optional<Dose> dose;  // per administration
  std::optional<Frequency> frequency;
  std::optional<Duration> duration;  // how long to take it
  std::string instructions;          // free text for the patient, optional
  // The dosage as free text when it is not structured ("5 mg, twice daily, for 3 months"):
  // dosageInstruction.text, in place of the sentence built from dose, frequency and duration.
  std::string dosage_text;
  std::string reason;  // the diagnosis it answers, free text, optional
};

// MedicationRequest: intent order, medicationCodeableConcept.text = drug, subject, requester
// (Practitioner), authoredOn, reasonCode.text, dosageInstruction (text (dosage_text if given),
// patientInstruction, timing.repeat with
// frequency/period/periodUnit and boundsDuration, doseAndRate.doseQuantity in UCUM).
// Errors: invalid ids or time, empty drug, non-positive dose/period/duration/frequency.
Result<Json> MedicationRequestResource(const Prescription& prescription);

// --- Practitioner ---------------------------------------------------------------------------

// A registered doctor.
struct Doctor {
  std::string id;              // account id
  std::string name;            // required
  std::string licence_number;  // required
  std::string speciality;      // optional
  std::string hospital;        // optional
  std::string email;           // optional
  bool active = true;          // false once the account is disabled
};

// Practitioner: identifier (licence number, type MD), name (text), telecom (email),
// qualification (the licence, with the speciality as its code text). Errors: invalid id,
// empty name or licence number.
Result<Json> PractitionerResource(const Doctor& doctor);

// PractitionerRole (same id as the Practitioner): the doctor at their hospital (organization
// by display name; hospitals are not Organization resources here) with their speciality.
Result<Json> PractitionerRoleResource(const Doctor& doctor);

// --- Consent --------------------------------------------------------------------------------

// A patient's grant to one doctor to see some of their records.
struct ConsentGrant {
  std::string id;                       // MedMesh consent id ("cns_...")
  std::string patient_id;               // who grants
  std::string doctor_id;                // who may see (account id)
  std::vector<std::string> record_ids;  // what: at least one record
  std::int64_t granted_ms = 0;
  std::optional<std::int64_t> expires_ms;  // end of the grant, if it has one
  std::optional<std::int64_t> revoked_ms;  // set once the patient revoked it
};

// Consent: status active (inactive once revoked), scope patient-privacy, category LOINC
// 59284-0, patient and performer (the patient), dateTime, policyRule OPTIN, and a permit
// provision for the doctor (actor, role PRCP) to access (action) exactly the listed records
// (data, by record id), with the grant's period (ending at the revocation or expiry).
// Errors: invalid ids or times; no record ids (a permit without data would read as "all").
Result<Json> ConsentResource(const ConsentGrant& grant);

}  // namespace medmesh::fhir
