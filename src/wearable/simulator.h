// Simulated wearable: realistic body readings for one patient with a disease profile.
//
// The model (docs/wearable.md has the numbers): each patient draws personal baselines from the
// profile's distributions (resting heart rate, blood pressure, SpO2, glucose, temperature,
// respiratory rate, daily steps, sleep times). Every tick the simulator updates
//  - a daily rhythm: sleep at night (lower heart rate, blood pressure and respiratory rate,
//    a blood-pressure dip), body temperature peaking in the late afternoon;
//  - activity while awake: rest, walks and exercise bouts, which drive steps, heart rate,
//    blood pressure and respiratory rate; meals, which drive glucose;
//  - events of the profile: hypertensive spikes, hypoglycaemia after exercise (type 2
//    diabetes), atrial-fibrillation episodes with a fast, irregular rate and the AF rhythm code,
//    desaturations in COPD, fever bouts;
//  - slow physiological drift (Ornstein-Uhlenbeck noise) and sensor noise, then rounding to
//    what a device reports (whole beats, whole percent, 0.01 °C, ...).
// Sensors sample at their own rates (SamplingPeriods). All values stay inside the plausible
// ranges of wire::Info().
//
// Deterministic: the same options (seed, start time, profile, periods, tick) give the same
// readings on the same build. Time comes from options.start_ms, never from a clock.
// Thread safety: not thread-safe; one simulator per device.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "wearable/internal/prng.h"
#include "wire/model.h"

namespace medmesh::wearable {

enum class Profile : std::uint8_t {
  kHealthy,
  kHypertension,
  kType2Diabetes,
  kCopd,
  kAtrialFibrillation,
  kFeverInfection,
};
// "healthy", "hypertension", "type2_diabetes", "copd", "atrial_fibrillation", "fever".
std::string_view ProfileName(Profile profile);
std::optional<Profile> ProfileFromName(std::string_view name);
std::span<const Profile> AllProfiles();

struct SamplingPeriods {
  std::chrono::milliseconds heart_rate{1000};
  std::chrono::milliseconds spo2{1000};
  std::chrono::milliseconds respiratory_rate{15'000};
  std::chrono::milliseconds body_temperature{60'000};
  std::chrono::milliseconds blood_pressure_day{std::chrono::minutes(15)};
  std::chrono::milliseconds blood_pressure_night{std::chrono::minutes(30)};
  std::chrono::milliseconds glucose{std::chrono::minutes(5)};  // like a CGM
  std::chrono::milliseconds steps{std::chrono::minutes(1)};    // steps in the last period
  std::chrono::milliseconds ecg_rhythm{30'000};                // one rhythm summary per period
};

struct SimulatorOptions {
  Profile profile = Profile::kHealthy;
  std::uint64_t seed = 1;  // the patient: same seed, same person and same day
  std::int64_t start_ms = 0;
  // Local time offset for the daily rhythm (sleep, meals), in minutes east of UTC.
  int utc_offset_minutes = 0;
  SamplingPeriods periods;
  // Simulation step; readings fall on ticks. Periods shorter than a tick are sampled once per
  // tick. 1 s matches the fastest default sensors; tests may use a coarser tick.
  std::chrono::milliseconds tick{1000};
};

// The personal baselines drawn for a patient (exposed for tests and the demo).
struct PatientTraits {
  double resting_hr_bpm;
  double spo2_pct;
  double temperature_c;
  double systolic_mmhg;
  double diastolic_mmhg;
  double respiratory_rate;
  double fasting_glucose_mgdl;
  double meal_glucose_rise_mgdl;
  double daily_steps;
  double bedtime_h;  // local hour, may exceed 24 (after midnight)
  double wake_h;
};

enum class EventKind : std::uint8_t {
  kHypertensiveSpike,
  kHypoglycaemia,
  kAfEpisode,
  kDesaturation,
  kFeverBout,
  kExercise,
};
std::string_view EventKindName(EventKind kind);

struct SimEvent {
  EventKind kind;
  std::int64_t start_ms;
  std::int64_t end_ms;
};

class Simulator {
 public:
  // kInvalidArgument if the tick or a period is not positive or the start time is outside
  // [0, wire::kMaxTimeMs].
  static Result<Simulator> Create(const SimulatorOptions& options);

  // Appends the readings of [now_ms(), until_ms) to `out` and advances to until_ms (rounded up
  // to a tick). Readings come in time order.
  void Advance(std::int64_t until_ms, std::vector<wire::Reading>& out);
  // Convenience: the readings of the next `duration`.
  std::vector<wire::Reading> Generate(std::chrono::milliseconds duration);

  std::int64_t now_ms() const { return now_ms_; }
  Profile profile() const { return options_.profile; }
  const SimulatorOptions& options() const { return options_; }
  const PatientTraits& traits() const { return traits_; }
  // Events started so far (an event still running has its planned end).
  const std::vector<SimEvent>& events() const { return events_; }
  // The current true (noise-free) heart rate and rhythm, for the patient record.
  double current_heart_rate() const { return hr_; }
  wire::EcgRhythm current_rhythm() const;

 private:
  enum class Activity : std::uint8_t { kSleep, kRest, kWalk, kExercise };
  // A running event with its own parameters.
  struct Running {
    bool active = false;
    std::int64_t end_ms = 0;
    double magnitude = 0;  // event-specific: mmHg, °C, % SpO2, bpm, mg/dL target
  };

  explicit Simulator(const SimulatorOptions& options);
  void Step(std::int64_t t_ms, double dt_s);
  void Sample(std::int64_t t_ms, std::vector<wire::Reading>& out);
  void UpdateActivity(std::int64_t t_ms, double dt_s, double local_h);
  void UpdateEvents(std::int64_t t_ms, double dt_s);
  void StartEvent(EventKind kind, std::int64_t t_ms, double duration_s, Running& running,
                  double magnitude);
  double MealGlucose(std::int64_t t_ms) const;
  double LocalHour(std::int64_t t_ms) const;
  bool Asleep(double local_h) const;

  SimulatorOptions options_;
  internal::Prng prng_;
  PatientTraits traits_;
  std::int64_t now_ms_;
  std::vector<SimEvent> events_;

  // Activity.
  Activity activity_ = Activity::kRest;
  std::int64_t activity_end_ms_ = 0;
  double cadence_ = 0;            // steps per minute now
  double steps_accumulated_ = 0;  // since the last steps sample
  bool hypo_pending_ = false;
  std::int64_t hypo_start_ms_ = 0;

  // Meals of the current and previous day: start times and sizes.
  struct Meal {
    std::int64_t start_ms;
    double size;  // multiple of the patient's meal rise
  };
  std::vector<Meal> meals_;
  std::vector<std::int64_t> planned_exercise_;  // start times, ascending
  std::int64_t meals_planned_until_ms_ = 0;

  // Events.
  Running spike_, hypo_, af_, desat_, fever_;
  double fever_level_c_ = 0;  // smoothed temperature added by a fever bout

  // Smoothed true values.
  double hr_ = 0, spo2_ = 0, temp_ = 0, sbp_ = 0, dbp_ = 0, rr_ = 0, glucose_ = 0;
  // Ornstein-Uhlenbeck drift per vital.
  double drift_hr_ = 0, drift_spo2_ = 0, drift_temp_ = 0, drift_bp_ = 0, drift_rr_ = 0,
         drift_glucose_ = 0;

  // Next sample time per sensor.
  std::int64_t next_hr_, next_spo2_, next_rr_, next_temp_, next_bp_, next_glucose_, next_steps_,
      next_ecg_;
};

// --- How similar two patients' readings are --------------------------------------------------

// Features of a stretch of readings (ideally a day or more): means of each vital, the share of
// ECG summaries that are atrial fibrillation, heart-rate irregularity and steps per minute.
struct VitalsSummary {
  double heart_rate = 0;
  double hr_irregularity = 0;  // mean |Δ| between consecutive heart-rate samples
  double spo2 = 0;
  double temperature = 0;
  double systolic = 0;
  double diastolic = 0;
  double respiratory_rate = 0;
  double glucose = 0;
  double glucose_sd = 0;
  double steps_per_minute = 0;
  double af_fraction = 0;
  double max_temperature = 0;
  double min_spo2 = 0;
};
VitalsSummary Summarize(std::span<const wire::Reading> readings);

// Similarity in (0, 1]: 1 / (1 + d), d the Euclidean distance between summaries with each
// feature divided by a clinically meaningful scale (e.g. 12 bpm, 1.5 % SpO2, 15 mmHg systolic;
// the AF share enters as its square root). docs/wearable.md lists all scales.
double VitalsSimilarity(const VitalsSummary& a, const VitalsSummary& b);

}  // namespace medmesh::wearable
