#include "wearable/simulator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace medmesh::wearable {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using wire::Reading;
using wire::VitalKind;

// 2027-01-15T00:00:00Z, a local midnight for the default UTC offset.
constexpr std::int64_t kMidnight = 1'800'000'000'000 - 1'800'000'000'000 % 86'400'000;
constexpr std::int64_t kHourMs = 3'600'000;

SimulatorOptions Options(Profile profile, std::uint64_t seed, bool coarse = true) {
  SimulatorOptions o;
  o.profile = profile;
  o.seed = seed;
  o.start_ms = kMidnight;
  if (coarse) {  // 5 s steps keep multi-day tests fast
    o.tick = seconds(5);
    o.periods.heart_rate = seconds(5);
    o.periods.spo2 = seconds(5);
  }
  return o;
}

std::vector<Reading> Simulate(const SimulatorOptions& o, std::chrono::milliseconds d) {
  auto sim = Simulator::Create(o);
  EXPECT_TRUE(sim.has_value());
  return sim->Generate(d);
}

std::vector<double> Values(const std::vector<Reading>& rs, VitalKind kind, std::int64_t from_ms,
                           std::int64_t to_ms) {
  std::vector<double> out;
  for (const Reading& r : rs) {
    if (r.kind == kind && r.time_ms >= from_ms && r.time_ms < to_ms) {
      out.push_back(static_cast<double>(r.value_milli) / 1000.0);
    }
  }
  return out;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

// Mean of `kind` between local hours [h0, h1) over every simulated day.
double MeanAtHours(const std::vector<Reading>& rs, VitalKind kind, int days, int h0, int h1) {
  std::vector<double> all;
  for (int d = 0; d < days; ++d) {
    const auto v =
        Values(rs, kind, kMidnight + (d * 24 + h0) * kHourMs, kMidnight + (d * 24 + h1) * kHourMs);
    all.insert(all.end(), v.begin(), v.end());
  }
  return Mean(all);
}

TEST(SimulatorTest, ProfileNamesRoundTrip) {
  for (Profile p : AllProfiles()) EXPECT_EQ(ProfileFromName(ProfileName(p)), p);
  EXPECT_EQ(AllProfiles().size(), 6u);
  EXPECT_FALSE(ProfileFromName("gout").has_value());
}

TEST(SimulatorTest, BadOptionsAreRefused) {
  SimulatorOptions o;
  o.tick = milliseconds(0);
  EXPECT_FALSE(Simulator::Create(o).has_value());
  o = SimulatorOptions();
  o.periods.glucose = milliseconds(-1);
  EXPECT_FALSE(Simulator::Create(o).has_value());
  o = SimulatorOptions();
  o.start_ms = -5;
  EXPECT_FALSE(Simulator::Create(o).has_value());
  o = SimulatorOptions();
  o.utc_offset_minutes = 15 * 60;
  EXPECT_FALSE(Simulator::Create(o).has_value());
}

TEST(SimulatorTest, DeterministicForASeed) {
  const auto a = Simulate(Options(Profile::kCopd, 42), hours(6));
  const auto b = Simulate(Options(Profile::kCopd, 42), hours(6));
  const auto c = Simulate(Options(Profile::kCopd, 43), hours(6));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Advancing in pieces gives the same stream as in one go.
  auto sim = Simulator::Create(Options(Profile::kCopd, 42));
  std::vector<Reading> pieces;
  for (int i = 1; i <= 12; ++i) sim->Advance(kMidnight + i * kHourMs / 2, pieces);
  EXPECT_EQ(pieces, a);
}

TEST(SimulatorTest, DefaultRatesAllKindsAndPlausibleValues) {
  SimulatorOptions o = Options(Profile::kHealthy, 7, /*coarse=*/false);
  o.start_ms = kMidnight + 12 * kHourMs;  // midday: awake, blood pressure every 15 min
  const auto rs = Simulate(o, hours(1));
  std::map<VitalKind, int> count;
  std::int64_t prev = 0;
  for (const Reading& r : rs) {
    ++count[r.kind];
    ASSERT_TRUE(wire::CheckPlausible(r)) << wire::CheckPlausible(r).error().ToString();
    ASSERT_GE(r.time_ms, prev);
    ASSERT_GE(r.time_ms, o.start_ms);
    ASSERT_LT(r.time_ms, o.start_ms + kHourMs);
    prev = r.time_ms;
  }
  EXPECT_EQ(count[VitalKind::kHeartRate], 3600);
  EXPECT_EQ(count[VitalKind::kSpO2], 3600);
  EXPECT_EQ(count[VitalKind::kRespiratoryRate], 240);
  EXPECT_EQ(count[VitalKind::kBodyTemperature], 60);
  EXPECT_EQ(count[VitalKind::kSystolicBp], 4);
  EXPECT_EQ(count[VitalKind::kDiastolicBp], 4);
  EXPECT_EQ(count[VitalKind::kGlucose], 12);
  EXPECT_EQ(count[VitalKind::kSteps], 59);  // the first count comes a minute in
  EXPECT_EQ(count[VitalKind::kEcgRhythm], 120);
}

TEST(SimulatorTest, EveryProfileStaysPlausibleForDays) {
  for (Profile p : AllProfiles()) {
    const auto rs = Simulate(Options(p, 11), hours(72));
    for (const Reading& r : rs) {
      ASSERT_TRUE(wire::CheckPlausible(r))
          << ProfileName(p) << ": " << wire::CheckPlausible(r).error().ToString();
    }
  }
}

TEST(SimulatorTest, DailyRhythm) {
  constexpr int kDays = 3;
  const auto rs = Simulate(Options(Profile::kHealthy, 5), hours(24 * kDays));
  // Asleep 02:00-05:00 vs awake 10:00-18:00.
  EXPECT_LT(MeanAtHours(rs, VitalKind::kHeartRate, kDays, 2, 5) + 5,
            MeanAtHours(rs, VitalKind::kHeartRate, kDays, 10, 18));
  EXPECT_LT(MeanAtHours(rs, VitalKind::kSystolicBp, kDays, 2, 5) + 8,
            MeanAtHours(rs, VitalKind::kSystolicBp, kDays, 10, 18));
  EXPECT_EQ(MeanAtHours(rs, VitalKind::kSteps, kDays, 2, 5), 0.0);
  EXPECT_GT(MeanAtHours(rs, VitalKind::kSteps, kDays, 10, 18), 2.0);
  // Core temperature: trough before dawn, peak in the late afternoon.
  EXPECT_LT(MeanAtHours(rs, VitalKind::kBodyTemperature, kDays, 3, 6) + 0.3,
            MeanAtHours(rs, VitalKind::kBodyTemperature, kDays, 15, 19));
  // Glucose rises after meals (lunch about 12:50) above the early-morning level.
  EXPECT_GT(MeanAtHours(rs, VitalKind::kGlucose, kDays, 13, 14),
            MeanAtHours(rs, VitalKind::kGlucose, kDays, 2, 5) + 10);
  // A realistic day of steps for a healthy adult.
  const double steps_per_day = MeanAtHours(rs, VitalKind::kSteps, kDays, 0, 24) * 60 * 24;
  EXPECT_GT(steps_per_day, 4000);
  EXPECT_LT(steps_per_day, 16000);
}

TEST(SimulatorTest, HypertensionHasSpikes) {
  auto sim = Simulator::Create(Options(Profile::kHypertension, 3));
  const auto rs = sim->Generate(hours(48));
  std::vector<SimEvent> spikes;
  for (const auto& e : sim->events()) {
    if (e.kind == EventKind::kHypertensiveSpike) spikes.push_back(e);
  }
  ASSERT_FALSE(spikes.empty());
  const auto during =
      Values(rs, VitalKind::kSystolicBp, spikes[0].start_ms + 600'000, spikes[0].end_ms);
  const auto all = Values(rs, VitalKind::kSystolicBp, kMidnight, kMidnight + 48 * kHourMs);
  ASSERT_FALSE(during.empty());
  EXPECT_GT(Mean(during), Mean(all) + 15);
  EXPECT_GT(Mean(all), 135);
}

TEST(SimulatorTest, AtrialFibrillationEpisodesAreFastIrregularAndCoded) {
  auto sim = Simulator::Create(Options(Profile::kAtrialFibrillation, 9));
  const auto rs = sim->Generate(hours(24));
  std::vector<SimEvent> episodes;
  for (const auto& e : sim->events()) {
    if (e.kind == EventKind::kAfEpisode) episodes.push_back(e);
  }
  ASSERT_FALSE(episodes.empty());
  const SimEvent& ep = episodes.front();
  auto irregularity = [&](std::int64_t from, std::int64_t to) {
    const auto v = Values(rs, VitalKind::kHeartRate, from, to);
    double sum = 0;
    for (std::size_t i = 1; i < v.size(); ++i) sum += std::abs(v[i] - v[i - 1]);
    return v.size() > 1 ? sum / static_cast<double>(v.size() - 1) : 0.0;
  };
  const std::int64_t in_from = ep.start_ms + 120'000;
  const std::int64_t in_to = std::min(ep.end_ms, ep.start_ms + kHourMs);
  EXPECT_GT(Mean(Values(rs, VitalKind::kHeartRate, in_from, in_to)), 95);
  EXPECT_GT(irregularity(in_from, in_to), 8.0);
  const auto codes = Values(rs, VitalKind::kEcgRhythm, in_from, in_to);
  ASSERT_FALSE(codes.empty());
  for (double c : codes) EXPECT_EQ(c, static_cast<double>(wire::EcgRhythm::kAtrialFibrillation));
  // Outside episodes the rhythm is sinus (or sinus tachy/brady), never AF.
  for (const Reading& r : rs) {
    if (r.kind != VitalKind::kEcgRhythm) continue;
    const bool in_episode = std::any_of(episodes.begin(), episodes.end(), [&](const SimEvent& e) {
      return r.time_ms >= e.start_ms && r.time_ms < e.end_ms;
    });
    if (!in_episode) {
      EXPECT_NE(r.value_milli, 3000) << r.time_ms;
    }
  }
}

TEST(SimulatorTest, CopdDesaturates) {
  auto sim = Simulator::Create(Options(Profile::kCopd, 4));
  const auto rs = sim->Generate(hours(24));
  const auto spo2 = Values(rs, VitalKind::kSpO2, kMidnight, kMidnight + 24 * kHourMs);
  EXPECT_LT(Mean(spo2), 94.5);
  EXPECT_LE(*std::min_element(spo2.begin(), spo2.end()), 88);
  EXPECT_TRUE(std::any_of(sim->events().begin(), sim->events().end(),
                          [](const SimEvent& e) { return e.kind == EventKind::kDesaturation; }));
}

TEST(SimulatorTest, FeverBouts) {
  auto sim = Simulator::Create(Options(Profile::kFeverInfection, 8));
  const auto rs = sim->Generate(hours(24));
  const auto temp = Values(rs, VitalKind::kBodyTemperature, kMidnight, kMidnight + 24 * kHourMs);
  EXPECT_GE(*std::max_element(temp.begin(), temp.end()), 38.5);
  EXPECT_GT(Mean(temp), 37.3);
}

TEST(SimulatorTest, Type2DiabetesHasHighGlucoseAndHypoglycaemiaAfterExercise) {
  int hypos = 0;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    auto sim = Simulator::Create(Options(Profile::kType2Diabetes, seed));
    const auto rs = sim->Generate(hours(72));
    const auto glucose = Values(rs, VitalKind::kGlucose, kMidnight, kMidnight + 72 * kHourMs);
    EXPECT_GT(Mean(glucose), 140);
    for (const auto& e : sim->events()) {
      if (e.kind != EventKind::kHypoglycaemia) continue;
      ++hypos;
      // Some exercise or walk ended before it, and glucose fell below 70 mg/dL during it.
      const auto during = Values(rs, VitalKind::kGlucose, e.start_ms, e.end_ms + 600'000);
      ASSERT_FALSE(during.empty());
      EXPECT_LT(*std::min_element(during.begin(), during.end()), 75);
    }
  }
  EXPECT_GE(hypos, 1);
}

TEST(SimulatorTest, SameProfilePatientsAreMoreSimilarThanOthers) {
  // Two patients per profile, a day each.
  std::map<Profile, std::vector<VitalsSummary>> summaries;
  for (Profile p : AllProfiles()) {
    for (std::uint64_t seed : {101u, 202u}) {
      summaries[p].push_back(Summarize(Simulate(Options(p, seed), hours(24))));
    }
  }
  for (Profile p : AllProfiles()) {
    const double same = VitalsSimilarity(summaries[p][0], summaries[p][1]);
    for (Profile q : AllProfiles()) {
      if (q == p) continue;
      for (const auto& a : summaries[p]) {
        for (const auto& b : summaries[q]) {
          EXPECT_GT(same, VitalsSimilarity(a, b))
              << ProfileName(p) << " pair vs " << ProfileName(p) << "/" << ProfileName(q);
        }
      }
    }
  }
  EXPECT_DOUBLE_EQ(VitalsSimilarity(summaries[Profile::kCopd][0], summaries[Profile::kCopd][0]),
                   1.0);
}

TEST(SimulatorTest, EveryPatientsNearestNeighbourHasItsProfile) {
  struct Patient {
    Profile profile;
    VitalsSummary summary;
  };
  std::vector<Patient> patients;
  for (Profile p : AllProfiles()) {
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
      patients.push_back({p, Summarize(Simulate(Options(p, seed), hours(24)))});
    }
  }
  std::map<Profile, std::pair<double, int>> same;
  std::map<Profile, std::pair<double, int>> cross;  // sum, count
  for (std::size_t i = 0; i < patients.size(); ++i) {
    double best = -1;
    Profile best_profile = patients[i].profile;
    for (std::size_t j = 0; j < patients.size(); ++j) {
      if (i == j) continue;
      const double sim = VitalsSimilarity(patients[i].summary, patients[j].summary);
      auto& acc = patients[i].profile == patients[j].profile ? same : cross;
      acc[patients[i].profile].first += sim;
      ++acc[patients[i].profile].second;
      if (sim > best) {
        best = sim;
        best_profile = patients[j].profile;
      }
    }
    EXPECT_EQ(best_profile, patients[i].profile)
        << ProfileName(patients[i].profile) << " patient " << i % 4 + 1;
  }
  for (Profile p : AllProfiles()) {
    const double mean_same = same[p].first / same[p].second;
    const double mean_cross = cross[p].first / cross[p].second;
    EXPECT_GT(mean_same, mean_cross + 0.05) << ProfileName(p);
  }
}

TEST(SimulatorTest, SummaryReflectsTheProfile) {
  const auto af = Summarize(Simulate(Options(Profile::kAtrialFibrillation, 12), hours(24)));
  const auto healthy = Summarize(Simulate(Options(Profile::kHealthy, 12), hours(24)));
  EXPECT_GT(af.af_fraction, 0.05);
  EXPECT_EQ(healthy.af_fraction, 0.0);
  EXPECT_GT(af.hr_irregularity, healthy.hr_irregularity);
  EXPECT_GT(healthy.steps_per_minute, af.steps_per_minute);
}

TEST(SimulatorTest, UtcOffsetShiftsTheDay) {
  // At 03:00 UTC a patient at UTC+12 is awake (15:00 local) and walks about.
  SimulatorOptions utc = Options(Profile::kHealthy, 21);
  SimulatorOptions east = utc;
  east.utc_offset_minutes = 12 * 60;
  const auto a = Simulate(utc, hours(24));
  const auto b = Simulate(east, hours(24));
  const double utc_steps =
      Mean(Values(a, VitalKind::kSteps, kMidnight + 2 * kHourMs, kMidnight + 5 * kHourMs));
  const double east_steps =
      Mean(Values(b, VitalKind::kSteps, kMidnight + 2 * kHourMs, kMidnight + 5 * kHourMs));
  EXPECT_EQ(utc_steps, 0.0);
  EXPECT_GT(east_steps, 1.0);
}

}  // namespace
}  // namespace medmesh::wearable
