#include "wire/model.h"

#include <algorithm>
#include <array>
#include <string>

#include "core/check.h"

namespace medmesh::wire {
namespace {

// Ranges are wide on purpose: they reject sensor garbage and forged values, not illness. A
// patient in crisis (SpO2 60 %, heart rate 220/min) must still get through.
constexpr std::array<VitalInfo, kNumVitalKinds> kVitals = {{
    {VitalKind::kHeartRate, "heart_rate", "/min", "8867-4", 20'000, 300'000},
    {VitalKind::kSpO2, "spo2", "%", "59408-5", 50'000, 100'000},
    {VitalKind::kBodyTemperature, "body_temperature", "Cel", "8310-5", 30'000, 45'000},
    {VitalKind::kSystolicBp, "systolic_bp", "mm[Hg]", "8480-6", 50'000, 260'000},
    {VitalKind::kDiastolicBp, "diastolic_bp", "mm[Hg]", "8462-4", 30'000, 160'000},
    {VitalKind::kRespiratoryRate, "respiratory_rate", "/min", "9279-1", 4'000, 70'000},
    {VitalKind::kGlucose, "glucose", "mg/dL", "2339-0", 20'000, 800'000},
    {VitalKind::kSteps, "steps", "{steps}", "55423-8", 0, 50'000'000},
    // A rhythm summary code, not a measurement: no LOINC vital-sign code fits.
    {VitalKind::kEcgRhythm, "ecg_rhythm", "{code}", "", 0, 4'000},
}};

constexpr bool TableIsInIdOrder() {
  for (std::size_t i = 0; i < kVitals.size(); ++i) {
    if (static_cast<std::size_t>(kVitals[i].kind) != i + 1) return false;
  }
  return true;
}
static_assert(TableIsInIdOrder(), "kVitals must be indexed by VitalKind id - 1");

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

const VitalInfo& Info(VitalKind kind) {
  const auto id = static_cast<std::size_t>(kind);
  MEDMESH_CHECK(id >= 1 && id <= kVitals.size(), "VitalKind out of range");
  return kVitals[id - 1];
}

std::span<const VitalInfo> AllVitals() { return kVitals; }

std::optional<VitalKind> VitalKindFromId(std::uint8_t id) {
  if (id < 1 || id > kVitals.size()) return std::nullopt;
  return kVitals[id - 1].kind;
}

std::optional<VitalKind> VitalKindFromName(std::string_view name) {
  for (const VitalInfo& info : kVitals) {
    if (info.name == name) return info.kind;
  }
  return std::nullopt;
}

std::int64_t ToUnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t NowMs(const Clock& clock) { return ToUnixMs(clock.Now()); }

Status CheckPlausible(const Reading& reading) {
  const auto id = static_cast<std::uint8_t>(reading.kind);
  if (!VitalKindFromId(id)) {
    return InvalidArgument("reading has unknown kind " + std::to_string(id));
  }
  const VitalInfo& info = Info(reading.kind);
  if (reading.time_ms < 0 || reading.time_ms > kMaxTimeMs) {
    return InvalidArgument(std::string(info.name) + " reading has a time outside the valid range");
  }
  if (reading.value_milli < info.min_milli || reading.value_milli > info.max_milli) {
    return InvalidArgument(std::string(info.name) + " value " +
                           std::to_string(reading.value_milli) + " (milli-" +
                           std::string(info.unit) + ") is outside the plausible range " +
                           std::to_string(info.min_milli) + ".." + std::to_string(info.max_milli));
  }
  if (reading.kind == VitalKind::kEcgRhythm && reading.value_milli % 1000 != 0) {
    return InvalidArgument("ecg_rhythm value " + std::to_string(reading.value_milli) +
                           " is not an EcgRhythm code times 1000");
  }
  return OkStatus();
}

bool IsValidId(std::string_view id) {
  return !id.empty() && id.size() <= kMaxIdBytes && std::ranges::all_of(id, IsIdChar);
}

}  // namespace medmesh::wire
