// The data model shared by the wearable agent, the cloudlet and the cloud: body readings,
// the patient record of the original system, and identifiers. Plain value types, no I/O.
// Encodings live in readings_codec.h, record_codec.h and envelope.h.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/status.h"

namespace medmesh::wire {

// Kinds of body readings. Values are stored as integers in milli-units of the kind's unit
// (e.g. 36.6 degC is 36600), so encodings stay exact and compact.
enum class VitalKind : std::uint8_t {
  kHeartRate = 1,        // beats/min        (LOINC 8867-4)
  kSpO2 = 2,             // percent          (LOINC 59408-5)
  kBodyTemperature = 3,  // degC             (LOINC 8310-5)
  kSystolicBp = 4,       // mmHg             (LOINC 8480-6)
  kDiastolicBp = 5,      // mmHg             (LOINC 8462-4)
  kRespiratoryRate = 6,  // breaths/min      (LOINC 9279-1)
  kGlucose = 7,          // mg/dL            (LOINC 2339-0)
  kSteps = 8,            // steps per interval (LOINC 55423-8)
  kEcgRhythm = 9,        // EcgRhythm code * 1000 (a rhythm summary, not a waveform)
};
inline constexpr int kNumVitalKinds = 9;

enum class EcgRhythm : std::uint8_t {
  kSinus = 0,
  kSinusTachycardia = 1,
  kSinusBradycardia = 2,
  kAtrialFibrillation = 3,
  kOther = 4,
};

struct VitalInfo {
  VitalKind kind;
  std::string_view name;   // "heart_rate"
  std::string_view unit;   // UCUM: "/min", "%", "Cel", "mm[Hg]", "mg/dL", "{steps}", "{code}"
  std::string_view loinc;  // "8867-4" ("" if none)
  // Physiologically plausible range in milli-units: values outside are rejected at ingest.
  std::int64_t min_milli;
  std::int64_t max_milli;
};

// The table entry of a kind (every VitalKind value has one). Thread safety: reads constants.
const VitalInfo& Info(VitalKind kind);
// All nine entries, in id order.
std::span<const VitalInfo> AllVitals();
// nullopt for an id or name that is not a VitalKind.
std::optional<VitalKind> VitalKindFromId(std::uint8_t id);
std::optional<VitalKind> VitalKindFromName(std::string_view name);

// Times on the wire are Unix epoch milliseconds in [0, kMaxTimeMs] (9999-12-31T23:59:59.999Z).
inline constexpr std::int64_t kMaxTimeMs = 253'402'300'799'999;
// Any reading value must satisfy |value_milli| <= kMaxAbsValueMilli to be encodable at all
// (plausibility is a separate, much narrower check).
inline constexpr std::int64_t kMaxAbsValueMilli = 1'000'000'000'000'000;  // 10^15
// Milliseconds since the Unix epoch of a wall-clock time point (truncated towards negative
// infinity, as std::chrono::floor does).
std::int64_t ToUnixMs(std::chrono::system_clock::time_point t);
// ToUnixMs of `clock`'s wall-clock time: the one way a service stamps a time it stores or sends.
std::int64_t NowMs(const Clock& clock);

struct Reading {
  std::int64_t time_ms = 0;  // Unix epoch milliseconds, UTC
  VitalKind kind = VitalKind::kHeartRate;
  std::int64_t value_milli = 0;
  bool operator==(const Reading&) const = default;
};

// OK if the reading is physiologically plausible: its value lies in Info(kind)'s range and, for
// kEcgRhythm, is an EcgRhythm code times 1000; its time is in [0, kMaxTimeMs]. Otherwise
// kInvalidArgument naming the kind and the range (the value is not secret, so it is included).
Status CheckPlausible(const Reading& reading);

// Identifiers are short printable strings ([A-Za-z0-9._-], 1..64 chars), validated at parse.
inline constexpr std::size_t kMaxIdBytes = 64;
bool IsValidId(std::string_view id);

// One batch of readings from one device for one patient. batch_id is unique per device and
// makes every hop idempotent; sequence numbers increase by one per batch of a device.
struct ReadingBatch {
  std::string device_id;
  std::string patient_id;
  std::uint64_t sequence = 0;
  std::vector<Reading> readings;  // in any order; encoders sort by (kind, time)
  bool operator==(const ReadingBatch&) const = default;
};

// The patient record of the original system. Everything but the name travels encrypted;
// at the remote cloud it is split into EI / QI / MI parts (DESIGN.md section 6).
struct PatientRecord {
  std::string record_id;  // unique per device, like a batch id
  std::string patient_id;
  std::string device_id;
  std::int64_t created_ms = 0;
  // Explicit identifiers.
  std::string name;
  std::string phone;
  std::string email;
  std::string address;
  std::string national_id;
  Bytes photo;             // JPEG/PNG bytes, may be empty
  std::string photo_type;  // "image/jpeg", ...
  // Quasi-identifiers.
  std::string birth_date;  // "YYYY-MM-DD"
  std::string sex;         // "female" | "male" | "other" | "unknown"
  std::string postcode;
  // Medical information.
  std::vector<std::string> symptoms;
  std::vector<std::string> conditions;  // ICD-10 codes, e.g. "I10", "E11.9"
  std::int32_t pulse_bpm = 0;
  std::string ecg_summary;             // e.g. "sinus rhythm, 72/min"
  Bytes symptoms_document;             // free text or PDF bytes, may be empty
  std::string symptoms_document_type;  // "text/plain", "application/pdf"
  bool operator==(const PatientRecord&) const = default;
};

}  // namespace medmesh::wire
