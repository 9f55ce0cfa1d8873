#include "wearable/simulator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

namespace medmesh::wearable {
namespace {

using wire::Reading;
using wire::VitalKind;

constexpr double kHourMs = 3'600'000.0;
constexpr double kMinuteMs = 60'000.0;
constexpr std::int64_t kDayMs = 86'400'000;

constexpr std::array<Profile, 6> kProfiles = {
    Profile::kHealthy, Profile::kHypertension,       Profile::kType2Diabetes,
    Profile::kCopd,    Profile::kAtrialFibrillation, Profile::kFeverInfection,
};

struct Spread {
  double mean;
  double sd;
};

// Per-profile distributions of the personal baselines (docs/wearable.md).
struct ProfileModel {
  std::string_view name;
  Spread hr, spo2, temp, sbp, dbp, rr, fasting_glucose, meal_rise, daily_steps;
  double exercise_per_day;  // probability of one exercise bout on a day
  double walk_cadence_lo, walk_cadence_hi;
  double meal_tau_min;  // time to the glucose peak after a meal
};

constexpr std::array<ProfileModel, 6> kModels = {{
    {"healthy",
     {64, 5},
     {98.0, 0.6},
     {36.6, 0.15},
     {116, 6},
     {75, 4},
     {14, 1.2},
     {88, 5},
     {30, 6},
     {9000, 1500},
     0.6,
     100,
     118,
     40},
    {"hypertension",
     {72, 5},
     {97.5, 0.6},
     {36.6, 0.15},
     {152, 7},
     {96, 4},
     {15, 1.2},
     {95, 6},
     {35, 6},
     {6000, 1200},
     0.3,
     95,
     112,
     45},
    {"type2_diabetes",
     {76, 5},
     {97.3, 0.6},
     {36.6, 0.15},
     {132, 6},
     {84, 4},
     {15, 1.2},
     {150, 15},
     {85, 12},
     {5000, 1200},
     0.5,
     92,
     110,
     60},
    {"copd",
     {84, 5},
     {92.0, 1.0},
     {36.6, 0.15},
     {128, 6},
     {80, 4},
     {21, 1.5},
     {98, 6},
     {35, 6},
     {2500, 700},
     0.0,
     78,
     94,
     45},
    {"atrial_fibrillation",
     {74, 5},
     {97.0, 0.6},
     {36.6, 0.15},
     {132, 6},
     {84, 4},
     {15, 1.2},
     {95, 6},
     {35, 6},
     {5000, 1200},
     0.2,
     92,
     110,
     45},
    {"fever",
     {84, 5},
     {96.5, 0.6},
     {37.6, 0.2},
     {112, 6},
     {72, 4},
     {19, 1.5},
     {100, 6},
     {35, 6},
     {1500, 500},
     0.0,
     84,
     96,
     45},
}};

const ProfileModel& Model(Profile p) { return kModels[static_cast<std::size_t>(p)]; }

// Moves x towards target with time constant tau_s over dt_s (first-order lag).
double Approach(double x, double target, double dt_s, double tau_s) {
  return x + (target - x) * (1.0 - std::exp(-dt_s / tau_s));
}

// Ornstein-Uhlenbeck step: mean 0, stationary standard deviation sd, time constant tau_s.
double OuStep(double x, double dt_s, double tau_s, double sd, internal::Prng& prng) {
  const double a = std::exp(-dt_s / tau_s);
  return x * a + sd * std::sqrt(1.0 - a * a) * prng.Normal();
}

double ProbabilityIn(double dt_s, double mean_interval_s) {
  return 1.0 - std::exp(-dt_s / mean_interval_s);
}

std::int64_t Milli(double v) { return static_cast<std::int64_t>(std::llround(v * 1000.0)); }

double Clamp(double v, double lo, double hi) { return std::min(hi, std::max(lo, v)); }

}  // namespace

std::string_view ProfileName(Profile profile) { return Model(profile).name; }

std::optional<Profile> ProfileFromName(std::string_view name) {
  for (Profile p : kProfiles) {
    if (Model(p).name == name) return p;
  }
  return std::nullopt;
}

std::span<const Profile> AllProfiles() { return kProfiles; }

std::string_view EventKindName(EventKind kind) {
  switch (kind) {
    case EventKind::kHypertensiveSpike: return "hypertensive_spike";
    case EventKind::kHypoglycaemia: return "hypoglycaemia";
    case EventKind::kAfEpisode: return "af_episode";
    case EventKind::kDesaturation: return "desaturation";
    case EventKind::kFeverBout: return "fever_bout";
    case EventKind::kExercise: return "exercise";
  }
  return "unknown";
}

Result<Simulator> Simulator::Create(const SimulatorOptions& options) {
  const auto& p = options.periods;
  for (auto period :
       {options.tick, p.heart_rate, p.spo2, p.respiratory_rate, p.body_temperature,
        p.blood_pressure_day, p.blood_pressure_night, p.glucose, p.steps, p.ecg_rhythm}) {
    if (period.count() <= 0) return InvalidArgument("simulator tick and periods must be positive");
  }
  if (options.start_ms < 0 || options.start_ms > wire::kMaxTimeMs) {
    return InvalidArgument("simulator start time out of range");
  }
  if (options.utc_offset_minutes < -14 * 60 || options.utc_offset_minutes > 14 * 60) {
    return InvalidArgument("UTC offset must be within ±14 h");
  }
  if (static_cast<std::size_t>(options.profile) >= kProfiles.size()) {
    return InvalidArgument("unknown profile");
  }
  return Simulator(options);
}

Simulator::Simulator(const SimulatorOptions& options)
    : options_(options),
      // The profile is mixed in so that one seed under two profiles gives two different people.
      prng_(options.seed * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(options.profile)),
      now_ms_(options.start_ms) {
  const ProfileModel& m = Model(options.profile);
  auto draw = [&](Spread s) { return prng_.Normal(s.mean, s.sd); };
  traits_.resting_hr_bpm = Clamp(draw(m.hr), 48, 110);
  traits_.spo2_pct = Clamp(draw(m.spo2), 86, 99.5);
  traits_.temperature_c = Clamp(draw(m.temp), 36.0, 38.2);
  traits_.systolic_mmhg = Clamp(draw(m.sbp), 95, 185);
  traits_.diastolic_mmhg = Clamp(draw(m.dbp), 55, 115);
  traits_.respiratory_rate = Clamp(draw(m.rr), 10, 28);
  traits_.fasting_glucose_mgdl = Clamp(draw(m.fasting_glucose), 70, 220);
  traits_.meal_glucose_rise_mgdl = Clamp(draw(m.meal_rise), 15, 140);
  traits_.daily_steps = Clamp(draw(m.daily_steps), 300, 20'000);
  traits_.bedtime_h = Clamp(prng_.Normal(23.0, 0.5), 21.5, 24.5);
  traits_.wake_h = traits_.bedtime_h + Clamp(prng_.Normal(7.6, 0.5), 6.0, 9.0);

  // Start in a steady state: true values at their targets, no transient.
  hr_ = traits_.resting_hr_bpm;
  spo2_ = traits_.spo2_pct;
  temp_ = traits_.temperature_c;
  sbp_ = traits_.systolic_mmhg;
  dbp_ = traits_.diastolic_mmhg;
  rr_ = traits_.respiratory_rate;
  glucose_ = traits_.fasting_glucose_mgdl;
  if (Asleep(LocalHour(now_ms_))) {
    activity_ = Activity::kSleep;
    hr_ -= 8;
  }

  const std::int64_t t0 = options.start_ms;
  next_hr_ = next_spo2_ = next_rr_ = next_temp_ = next_bp_ = next_glucose_ = next_ecg_ = t0;
  next_steps_ = t0 + options.periods.steps.count();

  // Some patients are already in an episode when the recording starts.
  if (options.profile == Profile::kAtrialFibrillation && prng_.Bernoulli(0.3)) {
    StartEvent(EventKind::kAfEpisode, t0, Clamp(prng_.Exponential(2400), 600, 3 * 3600), af_,
               prng_.Uniform(105, 145));
    hr_ = af_.magnitude;
  }
  if (options.profile == Profile::kFeverInfection && prng_.Bernoulli(0.5)) {
    StartEvent(EventKind::kFeverBout, t0, prng_.Uniform(2, 5) * 3600, fever_,
               prng_.Uniform(1.2, 2.3));
    fever_level_c_ = fever_.magnitude * 0.8;
  }
}

double Simulator::LocalHour(std::int64_t t_ms) const {
  const std::int64_t local = t_ms + std::int64_t{options_.utc_offset_minutes} * 60'000;
  const std::int64_t in_day = ((local % kDayMs) + kDayMs) % kDayMs;
  return static_cast<double>(in_day) / kHourMs;
}

bool Simulator::Asleep(double local_h) const {
  // Bedtime is in [21.5, 24.5] and wake-up in [27.5, 33.5] on a clock that runs past 24 h
  // after midnight; afternoons are never asleep.
  const double h = local_h < 12.0 ? local_h + 24.0 : local_h;
  return h >= traits_.bedtime_h && h < traits_.wake_h;
}

wire::EcgRhythm Simulator::current_rhythm() const {
  if (af_.active) return wire::EcgRhythm::kAtrialFibrillation;
  if (hr_ > 100) return wire::EcgRhythm::kSinusTachycardia;
  if (hr_ < 55) return wire::EcgRhythm::kSinusBradycardia;
  return wire::EcgRhythm::kSinus;
}

void Simulator::StartEvent(EventKind kind, std::int64_t t_ms, double duration_s, Running& running,
                           double magnitude) {
  running.active = true;
  running.end_ms = t_ms + static_cast<std::int64_t>(duration_s * 1000.0);
  running.magnitude = magnitude;
  events_.push_back({kind, t_ms, running.end_ms});
}

double Simulator::MealGlucose(std::int64_t t_ms) const {
  const double tau = Model(options_.profile).meal_tau_min * kMinuteMs;
  double rise = 0;
  for (const Meal& meal : meals_) {
    const auto x = static_cast<double>(t_ms - meal.start_ms);
    if (x < 0 || x > 6 * tau) continue;
    // A gamma-shaped response peaking at tau: (x/tau) e^(1 - x/tau).
    rise += traits_.meal_glucose_rise_mgdl * meal.size * (x / tau) * std::exp(1.0 - x / tau);
  }
  return rise;
}

void Simulator::UpdateActivity(std::int64_t t_ms, double dt_s, double local_h) {
  const ProfileModel& m = Model(options_.profile);
  // Plan meals and the day's exercise one local day ahead.
  while (meals_planned_until_ms_ <= t_ms + kDayMs) {
    if (meals_planned_until_ms_ == 0) {
      const std::int64_t local = t_ms + std::int64_t{options_.utc_offset_minutes} * 60'000;
      meals_planned_until_ms_ = t_ms - (((local % kDayMs) + kDayMs) % kDayMs) - kDayMs;
    }
    const std::int64_t day = meals_planned_until_ms_;
    auto at = [&](double hour) {
      return day + static_cast<std::int64_t>((hour + prng_.Normal(0, 0.4)) * kHourMs);
    };
    meals_.push_back({at(7.6), 0.8 * prng_.Normal(1, 0.15)});
    meals_.push_back({at(12.8), 1.0 * prng_.Normal(1, 0.15)});
    if (prng_.Bernoulli(0.4)) meals_.push_back({at(16.0), 0.4 * prng_.Normal(1, 0.2)});
    meals_.push_back({at(19.2), 1.2 * prng_.Normal(1, 0.15)});
    if (prng_.Bernoulli(m.exercise_per_day)) {
      const std::int64_t start =
          prng_.Bernoulli(0.4) ? at(prng_.Uniform(7.8, 8.6)) : at(prng_.Uniform(17.0, 19.5));
      if (start > t_ms) planned_exercise_.push_back(start);
    }
    meals_planned_until_ms_ += kDayMs;
  }
  std::erase_if(meals_, [&](const Meal& meal) { return meal.start_ms < t_ms - 2 * kDayMs; });

  const bool asleep = Asleep(local_h);
  const Activity before = activity_;
  if (asleep) {
    activity_ = Activity::kSleep;
    cadence_ = 0;
  } else {
    // A planned exercise bout starts when its time comes (if not asleep).
    if (!planned_exercise_.empty() && t_ms >= planned_exercise_.front()) {
      planned_exercise_.erase(planned_exercise_.begin());
      const double minutes = prng_.Uniform(25, 50);
      activity_ = Activity::kExercise;
      activity_end_ms_ = t_ms + static_cast<std::int64_t>(minutes * kMinuteMs);
      cadence_ = prng_.Uniform(140, 165);
      events_.push_back({EventKind::kExercise, t_ms, activity_end_ms_});
    } else if (activity_ == Activity::kSleep || t_ms >= activity_end_ms_) {
      // Next awake segment: a walk with a probability that meets the daily step target on
      // average, otherwise rest with a little pottering about.
      const double awake_min = (traits_.wake_h - traits_.bedtime_h > 0)
                                   ? (24.0 - (traits_.wake_h - traits_.bedtime_h)) * 60.0
                                   : 16.0 * 60.0;
      const double rest_cadence = Clamp(traits_.daily_steps / (2.0 * awake_min), 0.4, 4.0);
      const double walk_min = 10.0;  // mean walk, minutes
      const double rest_min = 15.0;  // mean rest, minutes
      const double walk_cadence = (m.walk_cadence_lo + m.walk_cadence_hi) / 2.0;
      // Steps the walks must supply on average, beside the expected exercise bout.
      const double s = std::max(0.0, traits_.daily_steps - m.exercise_per_day * 37.5 * 152.5);
      const double p_walk =
          Clamp((s * rest_min - awake_min * rest_min * rest_cadence) /
                    (awake_min * (walk_min * walk_cadence - rest_min * rest_cadence) -
                     s * (walk_min - rest_min)),
                0.0, 0.9);
      const Activity previous = activity_;
      if (previous != Activity::kWalk && prng_.Bernoulli(p_walk)) {
        activity_ = Activity::kWalk;
        activity_end_ms_ = t_ms + static_cast<std::int64_t>(prng_.Uniform(5, 15) * kMinuteMs);
        cadence_ = prng_.Uniform(m.walk_cadence_lo, m.walk_cadence_hi);
      } else {
        activity_ = Activity::kRest;
        activity_end_ms_ =
            t_ms + static_cast<std::int64_t>(prng_.Exponential(rest_min) * kMinuteMs);
        cadence_ = rest_cadence * prng_.Uniform(0.2, 1.8);
      }
    }
  }
  // Exercise (and long walks) can bring on hypoglycaemia in type 2 diabetes a while later.
  if (before != activity_ && (before == Activity::kExercise || before == Activity::kWalk) &&
      options_.profile == Profile::kType2Diabetes) {
    const double p = before == Activity::kExercise ? 0.5 : 0.12;
    if (!hypo_.active && !hypo_pending_ && prng_.Bernoulli(p)) {
      hypo_pending_ = true;
      hypo_start_ms_ = t_ms + static_cast<std::int64_t>(prng_.Uniform(20, 60) * kMinuteMs);
    }
  }
  steps_accumulated_ += cadence_ * dt_s / 60.0;
}

void Simulator::UpdateEvents(std::int64_t t_ms, double dt_s) {
  for (Running* r : {&spike_, &hypo_, &af_, &desat_, &fever_}) {
    if (r->active && t_ms >= r->end_ms) r->active = false;
  }
  const bool asleep = activity_ == Activity::kSleep;
  switch (options_.profile) {
    case Profile::kHypertension:
      if (!spike_.active && !asleep && prng_.Bernoulli(ProbabilityIn(dt_s, 6 * 3600))) {
        StartEvent(EventKind::kHypertensiveSpike, t_ms, prng_.Uniform(30, 90) * 60, spike_,
                   prng_.Uniform(30, 45));
      }
      break;
    case Profile::kType2Diabetes:
      if (hypo_pending_ && t_ms >= hypo_start_ms_) {
        hypo_pending_ = false;
        StartEvent(EventKind::kHypoglycaemia, t_ms, prng_.Uniform(25, 50) * 60, hypo_,
                   prng_.Uniform(52, 66));
      }
      break;
    case Profile::kAtrialFibrillation:
      if (!af_.active && prng_.Bernoulli(ProbabilityIn(dt_s, 2 * 3600))) {
        StartEvent(EventKind::kAfEpisode, t_ms, Clamp(prng_.Exponential(2400), 600, 3 * 3600), af_,
                   prng_.Uniform(105, 145));
      }
      break;
    case Profile::kCopd: {
      const double mean_interval = activity_ == Activity::kWalk ? 3600 : 4 * 3600;
      if (!desat_.active && prng_.Bernoulli(ProbabilityIn(dt_s, mean_interval))) {
        StartEvent(EventKind::kDesaturation, t_ms, prng_.Uniform(10, 40) * 60, desat_,
                   prng_.Uniform(4, 8));
      }
      break;
    }
    case Profile::kFeverInfection:
      if (!fever_.active && prng_.Bernoulli(ProbabilityIn(dt_s, 7 * 3600))) {
        StartEvent(EventKind::kFeverBout, t_ms, prng_.Uniform(3, 6) * 3600, fever_,
                   prng_.Uniform(1.2, 2.3));
      }
      break;
    case Profile::kHealthy: break;
  }
}

void Simulator::Step(std::int64_t t_ms, double dt_s) {
  const double local_h = LocalHour(t_ms);
  UpdateActivity(t_ms, dt_s, local_h);
  UpdateEvents(t_ms, dt_s);
  const Profile profile = options_.profile;
  const bool sleep = activity_ == Activity::kSleep;
  const bool walk = activity_ == Activity::kWalk;
  const bool exercise = activity_ == Activity::kExercise;
  const bool copd = profile == Profile::kCopd;

  fever_level_c_ = Approach(fever_level_c_, fever_.active ? fever_.magnitude : 0.0, dt_s, 1200);

  drift_hr_ = OuStep(drift_hr_, dt_s, 120, 3.0, prng_);
  drift_spo2_ = OuStep(drift_spo2_, dt_s, 300, 0.4, prng_);
  drift_temp_ = OuStep(drift_temp_, dt_s, 1800, 0.05, prng_);
  drift_bp_ = OuStep(drift_bp_, dt_s, 1800, 4.0, prng_);
  drift_rr_ = OuStep(drift_rr_, dt_s, 300, 0.8, prng_);
  drift_glucose_ = OuStep(drift_glucose_, dt_s, 3600, 6.0, prng_);

  // Heart rate: activity, sleep, fever (about 10/min per °C), events.
  double activity_hr = sleep ? -8.0 : exercise ? 0.5 * cadence_ : walk ? 0.22 * cadence_ : 2.0;
  if (copd && !sleep) activity_hr *= 1.25;
  double hr_target = traits_.resting_hr_bpm + activity_hr + 10.0 * fever_level_c_;
  if (spike_.active) hr_target += 8;
  if (hypo_.active) hr_target += 12;
  if (desat_.active) hr_target += 10;
  if (af_.active) hr_target = af_.magnitude + 0.6 * activity_hr;
  hr_ = Approach(hr_, hr_target, dt_s, 20);

  double spo2_target = traits_.spo2_pct - (sleep ? 0.8 : 0.0);
  if (copd && walk) spo2_target -= 3;
  if (copd && exercise) spo2_target -= 5;
  if (desat_.active) spo2_target -= desat_.magnitude;
  spo2_ = Approach(spo2_, spo2_target, dt_s, 30);

  // Core temperature: a daily rhythm peaking around 17:00, fever, a little from exercise.
  const double circadian = std::cos(2.0 * std::numbers::pi * (local_h - 17.0) / 24.0);
  const double temp_target =
      traits_.temperature_c + 0.3 * circadian + fever_level_c_ + (exercise ? 0.3 : 0.0);
  temp_ = Approach(temp_, temp_target, dt_s, 600);

  double sbp_target = traits_.systolic_mmhg * (sleep ? 0.88 : 1.0) +
                      (exercise ? 28.0
                       : walk   ? 12.0
                                : 0.0) -
                      3.0 * fever_level_c_;
  double dbp_target = traits_.diastolic_mmhg * (sleep ? 0.86 : 1.0) +
                      (exercise ? 6.0
                       : walk   ? 4.0
                                : 0.0) -
                      2.0 * fever_level_c_;
  if (spike_.active) {
    sbp_target += spike_.magnitude;
    dbp_target += 0.55 * spike_.magnitude;
  }
  sbp_ = Approach(sbp_, sbp_target, dt_s, 120);
  dbp_ = Approach(dbp_, dbp_target, dt_s, 120);

  double rr_activity = exercise ? 14.0 : walk ? 5.0 : sleep ? -2.0 : 0.0;
  if (copd && rr_activity > 0) rr_activity *= 1.4;
  double rr_target = traits_.respiratory_rate + rr_activity + 3.0 * fever_level_c_;
  if (desat_.active) rr_target += 5;
  rr_ = Approach(rr_, rr_target, dt_s, 30);

  double glucose_target = traits_.fasting_glucose_mgdl + MealGlucose(t_ms) -
                          (exercise ? 20.0
                           : walk   ? 8.0
                                    : 0.0);
  if (profile == Profile::kType2Diabetes && local_h >= 4.0 && local_h < 8.0) {
    glucose_target += 18.0 * std::sin(std::numbers::pi * (local_h - 4.0) / 4.0);  // dawn rise
  }
  if (hypo_.active) {
    glucose_ = Approach(glucose_, hypo_.magnitude, dt_s, 600);
  } else {
    glucose_ = Approach(glucose_, glucose_target, dt_s, 600);
  }
}

void Simulator::Sample(std::int64_t t_ms, std::vector<Reading>& out) {
  const auto& p = options_.periods;
  // True for a sensor whose sample is due at this tick; schedules its next sample.
  auto due = [&](std::int64_t& next, std::chrono::milliseconds period) {
    if (t_ms < next) return false;
    next += period.count();
    if (next <= t_ms) next = t_ms + period.count();  // periods shorter than a tick
    return true;
  };
  const bool sleep = activity_ == Activity::kSleep;
  double hr_sample = hr_ + drift_hr_;
  if (due(next_hr_, p.heart_rate)) {
    // In AF the ventricular rate is irregularly irregular: large beat-to-beat scatter.
    hr_sample += af_.active ? prng_.Normal(0, 12) : prng_.Normal(0, 1.2);
    out.push_back({t_ms, VitalKind::kHeartRate, Milli(std::round(Clamp(hr_sample, 30, 220)))});
  }
  if (due(next_spo2_, p.spo2)) {
    const double v = std::round(Clamp(spo2_ + drift_spo2_ + prng_.Normal(0, 0.6), 70, 100));
    out.push_back({t_ms, VitalKind::kSpO2, Milli(v)});
  }
  if (due(next_rr_, p.respiratory_rate)) {
    const double v = std::round(Clamp(rr_ + drift_rr_ + prng_.Normal(0, 0.8), 6, 45));
    out.push_back({t_ms, VitalKind::kRespiratoryRate, Milli(v)});
  }
  if (due(next_temp_, p.body_temperature)) {
    const double v = Clamp(temp_ + drift_temp_ + prng_.Normal(0, 0.04), 34, 42.5);
    out.push_back({t_ms, VitalKind::kBodyTemperature, Milli(std::round(v * 100.0) / 100.0)});
  }
  if (due(next_bp_, sleep ? p.blood_pressure_night : p.blood_pressure_day)) {
    const double sbp = std::round(Clamp(sbp_ + drift_bp_ + prng_.Normal(0, 3), 70, 240));
    const double dbp = std::round(
        Clamp(dbp_ + 0.6 * drift_bp_ + prng_.Normal(0, 2), 40, std::min(150.0, sbp - 15)));
    out.push_back({t_ms, VitalKind::kSystolicBp, Milli(sbp)});
    out.push_back({t_ms, VitalKind::kDiastolicBp, Milli(dbp)});
  }
  if (due(next_glucose_, p.glucose)) {
    const double v = std::round(Clamp(glucose_ + drift_glucose_ + prng_.Normal(0, 4), 40, 450));
    out.push_back({t_ms, VitalKind::kGlucose, Milli(v)});
  }
  if (due(next_steps_, p.steps)) {
    const double steps = std::floor(steps_accumulated_);
    steps_accumulated_ -= steps;
    out.push_back({t_ms, VitalKind::kSteps, Milli(steps)});
  }
  if (due(next_ecg_, p.ecg_rhythm)) {
    wire::EcgRhythm rhythm = wire::EcgRhythm::kSinus;
    if (af_.active) {
      rhythm = wire::EcgRhythm::kAtrialFibrillation;
    } else if (hr_sample > 100) {
      rhythm = wire::EcgRhythm::kSinusTachycardia;
    } else if (hr_sample < 55) {
      rhythm = wire::EcgRhythm::kSinusBradycardia;
    }
    out.push_back({t_ms, VitalKind::kEcgRhythm, static_cast<std::int64_t>(rhythm) * 1000});
  }
}

void Simulator::Advance(std::int64_t until_ms, std::vector<Reading>& out) {
  const std::int64_t tick = options_.tick.count();
  const double dt_s = static_cast<double>(tick) / 1000.0;
  while (now_ms_ < until_ms) {
    Step(now_ms_, dt_s);
    Sample(now_ms_, out);
    now_ms_ += tick;
  }
}

std::vector<Reading> Simulator::Generate(std::chrono::milliseconds duration) {
  std::vector<Reading> out;
  Advance(now_ms_ + duration.count(), out);
  return out;
}

// --- Similarity ------------------------------------------------------------------------------

VitalsSummary Summarize(std::span<const Reading> readings) {
  struct Acc {
    double sum = 0, sum_sq = 0, min = 1e300, max = -1e300;
    std::size_t n = 0;
    void Add(double v) {
      sum += v;
      sum_sq += v * v;
      min = std::min(min, v);
      max = std::max(max, v);
      ++n;
    }
    double Mean() const { return n ? sum / static_cast<double>(n) : 0.0; }
    double Sd() const {
      if (n < 2) return 0.0;
      const double m = Mean();
      return std::sqrt(std::max(0.0, sum_sq / static_cast<double>(n) - m * m));
    }
  };
  std::array<Acc, wire::kNumVitalKinds + 1> acc;
  std::vector<std::pair<std::int64_t, double>> hr;
  std::size_t ecg = 0;
  std::size_t af = 0;
  std::int64_t first = INT64_MAX;
  std::int64_t last = INT64_MIN;
  for (const Reading& r : readings) {
    const auto k = static_cast<std::size_t>(r.kind);
    if (k == 0 || k > wire::kNumVitalKinds) continue;
    const double v = static_cast<double>(r.value_milli) / 1000.0;
    acc[k].Add(v);
    first = std::min(first, r.time_ms);
    last = std::max(last, r.time_ms);
    if (r.kind == VitalKind::kHeartRate) hr.emplace_back(r.time_ms, v);
    if (r.kind == VitalKind::kEcgRhythm) {
      ++ecg;
      if (r.value_milli == static_cast<std::int64_t>(wire::EcgRhythm::kAtrialFibrillation) * 1000) {
        ++af;
      }
    }
  }
  auto at = [&](VitalKind k) -> const Acc& { return acc[static_cast<std::size_t>(k)]; };
  VitalsSummary s;
  s.heart_rate = at(VitalKind::kHeartRate).Mean();
  s.spo2 = at(VitalKind::kSpO2).Mean();
  s.min_spo2 = at(VitalKind::kSpO2).n ? at(VitalKind::kSpO2).min : 0.0;
  s.temperature = at(VitalKind::kBodyTemperature).Mean();
  s.max_temperature = at(VitalKind::kBodyTemperature).n ? at(VitalKind::kBodyTemperature).max : 0.0;
  s.systolic = at(VitalKind::kSystolicBp).Mean();
  s.diastolic = at(VitalKind::kDiastolicBp).Mean();
  s.respiratory_rate = at(VitalKind::kRespiratoryRate).Mean();
  s.glucose = at(VitalKind::kGlucose).Mean();
  s.glucose_sd = at(VitalKind::kGlucose).Sd();
  if (last > first) {
    s.steps_per_minute =
        at(VitalKind::kSteps).sum / (static_cast<double>(last - first) / kMinuteMs);
  }
  s.af_fraction = ecg ? static_cast<double>(af) / static_cast<double>(ecg) : 0.0;
  std::sort(hr.begin(), hr.end());
  if (hr.size() >= 2) {
    double sum = 0;
    for (std::size_t i = 1; i < hr.size(); ++i) sum += std::abs(hr[i].second - hr[i - 1].second);
    s.hr_irregularity = sum / static_cast<double>(hr.size() - 1);
  }
  return s;
}

double VitalsSimilarity(const VitalsSummary& a, const VitalsSummary& b) {
  // Scales: a difference of one scale unit is clinically noticeable.
  const std::array<std::pair<double, double>, 11> terms = {{
      {a.heart_rate - b.heart_rate, 12.0},
      {a.hr_irregularity - b.hr_irregularity, 3.0},
      {a.spo2 - b.spo2, 1.5},
      {a.temperature - b.temperature, 0.4},
      {a.systolic - b.systolic, 15.0},
      {a.diastolic - b.diastolic, 10.0},
      {a.respiratory_rate - b.respiratory_rate, 3.0},
      {a.glucose - b.glucose, 25.0},
      {a.glucose_sd - b.glucose_sd, 10.0},
      {a.steps_per_minute - b.steps_per_minute, 4.0},
      // AF burden varies a lot between AF patients; its square root separates "none" from
      // "some" more than "some" from "more".
      {std::sqrt(a.af_fraction) - std::sqrt(b.af_fraction), 0.2},
  }};
  double d2 = 0;
  for (const auto& [diff, scale] : terms) d2 += (diff / scale) * (diff / scale);
  return 1.0 / (1.0 + std::sqrt(d2));
}

}  // namespace medmesh::wearable
