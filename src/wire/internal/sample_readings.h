// Plausible 1 Hz reading streams for the codec tests and the wire benchmark: bounded random
// walks at each kind's usual resolution (whole bpm, whole %, 0.1 degC, whole mmHg...), the
// shape a wearable produces. Not a physiological model (that is the wearable simulator's job).
// TEST AND BENCHMARK ONLY: header-only, never part of medmesh_wire.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "testing/fake_random.h"
#include "wire/model.h"

namespace medmesh::wire::sample {

struct WalkShape {
  std::int64_t start;       // milli-units
  std::int64_t resolution;  // milli-units per step
  int change_percent;       // chance per second of one step up or down
  std::int64_t low;
  std::int64_t high;
};

inline WalkShape ShapeOf(VitalKind kind) {
  switch (kind) {
    case VitalKind::kHeartRate: return {72'000, 1'000, 40, 55'000, 110'000};
    case VitalKind::kSpO2: return {97'000, 1'000, 10, 93'000, 99'000};
    case VitalKind::kBodyTemperature: return {36'600, 100, 5, 36'000, 37'500};
    case VitalKind::kSystolicBp: return {121'000, 1'000, 30, 105'000, 140'000};
    case VitalKind::kDiastolicBp: return {79'000, 1'000, 30, 65'000, 90'000};
    case VitalKind::kRespiratoryRate: return {16'000, 1'000, 10, 12'000, 20'000};
    case VitalKind::kGlucose: return {108'000, 1'000, 30, 80'000, 160'000};
    case VitalKind::kSteps: return {0, 1'000, 0, 0, 3'000};  // handled below
    case VitalKind::kEcgRhythm: return {0, 1'000, 1, 0, 0};  // sinus, rare changes
  }
  return {0, 1'000, 0, 0, 0};
}

// `seconds` readings of `kind`, one per second from `start_ms`.
inline std::vector<Reading> Stream(VitalKind kind, int seconds, std::int64_t start_ms,
                                   std::uint64_t seed) {
  testing::DeterministicRandom random(seed);
  auto roll = [&random](int n) {
    return static_cast<int>(random.NextU64() % static_cast<std::uint64_t>(n));
  };
  const WalkShape shape = ShapeOf(kind);
  std::vector<Reading> out;
  std::int64_t value = shape.start;
  bool walking = false;
  for (int i = 0; i < seconds; ++i) {
    if (kind == VitalKind::kSteps) {
      // Bouts of walking (about 2 steps/s) between rests.
      if (roll(100) < 5) walking = !walking;
      value = walking ? std::int64_t{1'000} * (1 + roll(3)) : 0;
    } else if (kind == VitalKind::kEcgRhythm) {
      if (roll(1000) == 0) value = std::int64_t{1'000} * roll(2);
    } else if (roll(100) < shape.change_percent) {
      value += roll(2) == 0 ? -shape.resolution : shape.resolution;
      value = std::clamp(value, shape.low, shape.high);
    }
    out.push_back({start_ms + std::int64_t{1000} * i, kind, value});
  }
  return out;
}

// Every kind at 1 Hz for `seconds`, as one batch would carry them.
inline std::vector<Reading> AllKinds(int seconds, std::int64_t start_ms, std::uint64_t seed) {
  std::vector<Reading> out;
  for (const VitalInfo& info : AllVitals()) {
    const std::vector<Reading> s =
        Stream(info.kind, seconds, start_ms, seed + static_cast<std::uint64_t>(info.kind));
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

}  // namespace medmesh::wire::sample
