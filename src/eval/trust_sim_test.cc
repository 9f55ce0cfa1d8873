#include "eval/trust_sim.h"

#include <gtest/gtest.h>

#include <sstream>

namespace medmesh::eval {
namespace {

TrustSimOptions Tiny(std::uint64_t seed) {
  TrustSimOptions o;
  o.seed = seed;
  o.patients = 80;
  o.rounds = 6;
  o.malicious_fractions = {0.0, 0.3};
  o.convergence_fraction = 0.3;
  return o;
}

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream in(line);
  std::string cell;
  while (std::getline(in, cell, ',')) out.push_back(cell);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

TEST(TrustSimulation, SameSeedSameCsvAndProgressReachesTheTotal) {
  long last_done = 0;
  long last_total = 0;
  const std::string a = TrustSimCsv(RunTrustSimulation(Tiny(7), [&](long done, long total) {
    EXPECT_EQ(done, last_done + 1);
    last_done = done;
    last_total = total;
  }));
  EXPECT_EQ(last_total, 2L * 3 * 6);
  EXPECT_EQ(last_done, last_total);
  const std::string b = TrustSimCsv(RunTrustSimulation(Tiny(7), nullptr));
  EXPECT_TRUE(a == b);
  const std::string c = TrustSimCsv(RunTrustSimulation(Tiny(8), nullptr));
  EXPECT_FALSE(a == c);
}

TEST(TrustSimulation, CsvHasItsColumnsAndRows) {
  const std::vector<TrustSimRow> rows = RunTrustSimulation(Tiny(3), nullptr);
  // Per fraction and model: "all" and "steady"; per round at the convergence fraction.
  EXPECT_EQ(rows.size(), 2u * 3 * 2 + 3u * 6);
  const std::string csv = TrustSimCsv(rows);
  std::stringstream in(csv);
  std::string header;
  std::getline(in, header);
  const std::vector<std::string> columns = Split(header);
  ASSERT_EQ(columns.size(), 18u);
  EXPECT_EQ(columns[0], "model");
  EXPECT_EQ(columns[9], "exposure_rate");
  EXPECT_EQ(columns[11], "honest_refusal_rate");
  EXPECT_EQ(columns[12], "trust_error");
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(Split(line).size(), columns.size()) << "line " << lines;
    ++lines;
  }
  EXPECT_EQ(lines, static_cast<int>(rows.size()));
}

TEST(TrustSimulation, WithoutAttackersNothingIsExposedAndRequestsAreDecided) {
  for (const TrustSimRow& r : RunTrustSimulation(Tiny(5), nullptr)) {
    if (r.scope != "all") continue;
    EXPECT_GT(r.requests, 0);
    if (r.malicious_fraction == 0.0) {
      EXPECT_EQ(r.malicious_requests, 0);
      EXPECT_EQ(r.exposures, 0);
    } else {
      EXPECT_GT(r.malicious_requests, 0);
    }
    EXPECT_GE(r.honest_refusal_rate, 0.0);
    EXPECT_LE(r.honest_refusal_rate, 1.0);
  }
}

TEST(TrustSimulation, FiguresForEachMetricBothWays) {
  const auto rows = RunTrustSimulation(Tiny(3), nullptr);
  const auto figures = TrustSimFigures(rows, 0.3);
  ASSERT_EQ(figures.size(), 6u);
  EXPECT_EQ(figures[0].name, "exposure_vs_fraction.svg");
  EXPECT_EQ(figures[1].name, "exposure_over_time.svg");
  for (const NamedSvg& f : figures) {
    EXPECT_NE(f.svg.find("<polyline"), std::string::npos) << f.name;
    EXPECT_NE(f.svg.find(">eigentrust</text>"), std::string::npos) << f.name;
  }
}

TEST(TrustSimulation, SeedSummaryHasMeanSpreadAndRange) {
  auto row = [](TrustModelKind model, double fraction, std::string scope, double exposure,
                double refusal) {
    TrustSimRow r;
    r.model = model;
    r.malicious_fraction = fraction;
    r.scope = std::move(scope);
    r.exposure_rate = exposure;
    r.honest_refusal_rate = refusal;
    r.trust_error = 0.1;
    return r;
  };
  const std::vector<std::vector<TrustSimRow>> runs = {
      {row(TrustModelKind::kOurs, 0.3, "steady", 0.02, 0.10),
       row(TrustModelKind::kOurs, 0.3, "all", 0.9, 0.5),
       row(TrustModelKind::kOurs, 0.3, "round", 0.7, 0.7),
       row(TrustModelKind::kPlainBeta, 0.3, "steady", 0.20, 0.01)},
      {row(TrustModelKind::kOurs, 0.3, "steady", 0.04, 0.20),
       row(TrustModelKind::kOurs, 0.3, "all", 0.7, 0.3),
       row(TrustModelKind::kPlainBeta, 0.3, "steady", 0.30, 0.03)},
      {row(TrustModelKind::kOurs, 0.3, "steady", 0.06, 0.30),
       row(TrustModelKind::kPlainBeta, 0.3, "steady", 0.40, 0.05)},
  };
  const std::vector<TrustSimSeedSummary> s = SummariseSeeds(runs);
  ASSERT_EQ(s.size(), 3u);  // per model, fraction and scope; "round" rows are not summarised
  EXPECT_EQ(s[0].model, TrustModelKind::kOurs);
  EXPECT_EQ(s[0].scope, "steady");
  EXPECT_EQ(s[0].seeds, 3);
  EXPECT_NEAR(s[0].exposure_rate.mean, 0.04, 1e-12);
  EXPECT_NEAR(s[0].exposure_rate.sd, 0.02, 1e-12);  // sample sd of 0.02, 0.04, 0.06
  EXPECT_NEAR(s[0].exposure_rate.min, 0.02, 1e-12);
  EXPECT_NEAR(s[0].exposure_rate.max, 0.06, 1e-12);
  EXPECT_NEAR(s[0].honest_refusal_rate.mean, 0.2, 1e-12);
  EXPECT_NEAR(s[0].honest_refusal_rate.sd, 0.1, 1e-12);
  // The whole run, from the two seeds that have it: mean of 0.9 and 0.7, of 0.5 and 0.3.
  EXPECT_EQ(s[1].model, TrustModelKind::kOurs);
  EXPECT_EQ(s[1].scope, "all");
  EXPECT_EQ(s[1].seeds, 2);
  EXPECT_NEAR(s[1].exposure_rate.mean, 0.8, 1e-12);
  EXPECT_NEAR(s[1].honest_refusal_rate.mean, 0.4, 1e-12);
  EXPECT_NEAR(s[1].honest_refusal_rate.min, 0.3, 1e-12);
  EXPECT_EQ(s[2].model, TrustModelKind::kPlainBeta);
  EXPECT_NEAR(s[2].exposure_rate.mean, 0.3, 1e-12);
  EXPECT_NEAR(s[2].honest_refusal_rate.max, 0.05, 1e-12);
  const std::string csv = TrustSimSeedsCsv(s);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), kTrustSimSeedsCsvHeader);
  EXPECT_NE(csv.find("ours,0.30,steady,3,0.0400,0.0200,0.0200,0.0600,0.2000,0.1000"),
            std::string::npos);
  EXPECT_NE(csv.find("ours,0.30,all,2,0.8000,"), std::string::npos);
  // The sweep figures plot the seed means of the whole runs when given.
  const auto figures = TrustSimFigures(runs.front(), 0.3, s);
  EXPECT_NE(figures[0].svg.find("whole run, mean of 3 seeds"), std::string::npos);
}

TEST(TrustSimulation, EigenTrustSharesLessAtHigherMultiples) {
  TrustSimOptions lenient = Tiny(4);
  lenient.malicious_fractions = {0.3};
  lenient.eigentrust_multiples = {0.5, 0.5, 0.5};
  TrustSimOptions strict = lenient;
  strict.eigentrust_multiples = {3, 3, 3};
  auto shares = [](const std::vector<TrustSimRow>& rows, TrustModelKind kind) {
    for (const TrustSimRow& r : rows) {
      if (r.model == kind && r.scope == "all") return r.shares;
    }
    return -1L;
  };
  const auto a = RunTrustSimulation(lenient, nullptr);
  const auto b = RunTrustSimulation(strict, nullptr);
  EXPECT_GT(shares(a, TrustModelKind::kEigenTrust), shares(b, TrustModelKind::kEigenTrust));
  // The other models do not depend on EigenTrust's thresholds.
  EXPECT_EQ(shares(a, TrustModelKind::kOurs), shares(b, TrustModelKind::kOurs));
  EXPECT_EQ(shares(a, TrustModelKind::kPlainBeta), shares(b, TrustModelKind::kPlainBeta));
}

TEST(TrustSimulation, OnboardingConsultationsRefuseFewerHonestRequestsEarly) {
  // The same population, roles and draws of requests; only the intake consultations at approval
  // differ, so our model has clinician evidence about every patient from the first round.
  TrustSimOptions without = Tiny(5);
  without.patients = 200;
  without.rounds = 4;
  without.malicious_fractions = {0.3};
  without.onboarding_consultation = false;
  TrustSimOptions with = without;
  with.onboarding_consultation = true;
  EXPECT_TRUE(TrustSimOptions{}.onboarding_consultation) << "on by default (ADR 0049)";
  auto all = [](const std::vector<TrustSimRow>& rows) {
    for (const TrustSimRow& r : rows) {
      if (r.model == TrustModelKind::kOurs && r.scope == "all") return r;
    }
    return TrustSimRow{};
  };
  const TrustSimRow a = all(RunTrustSimulation(without, nullptr));
  const TrustSimRow b = all(RunTrustSimulation(with, nullptr));
  ASSERT_GT(a.requests, 0);
  EXPECT_EQ(a.requests, b.requests) << "the same requests are decided";
  EXPECT_LT(b.honest_refusal_rate, a.honest_refusal_rate);
  // Without the option nothing changes: the same CSV as before for the same seed.
  EXPECT_EQ(TrustSimCsv(RunTrustSimulation(without, nullptr)),
            TrustSimCsv(RunTrustSimulation(without, nullptr)));
}

TEST(TrustSimulation, ProbationCutsOnOffExposuresOfOursOnly) {
  // The same runs with and without our model's probation (ADR 0056): an on-off attacker whose
  // bad phase was seen stays below every threshold through its next good phase.
  TrustSimOptions with = Tiny(7);
  with.patients = 300;
  with.rounds = 50;
  with.malicious_fractions = {0.3};
  TrustSimOptions without = with;
  without.probation = false;
  EXPECT_TRUE(TrustSimOptions{}.probation) << "on by default (ADR 0056)";
  const auto a = RunTrustSimulation(without, nullptr);
  const auto b = RunTrustSimulation(with, nullptr);
  auto all = [](const std::vector<TrustSimRow>& rows, TrustModelKind kind) {
    for (const TrustSimRow& r : rows) {
      if (r.model == kind && r.scope == "all") return r;
    }
    return TrustSimRow{};
  };
  constexpr int kOnOff = 2;  // exposures_by_attack: bad-mouthing, collusion, on-off, ...
  const TrustSimRow ours_without = all(a, TrustModelKind::kOurs);
  const TrustSimRow ours_with = all(b, TrustModelKind::kOurs);
  ASSERT_GT(ours_without.exposures_by_attack[kOnOff], 0);
  EXPECT_LT(ours_with.exposures_by_attack[kOnOff], ours_without.exposures_by_attack[kOnOff]);
  EXPECT_LT(ours_with.exposure_rate, ours_without.exposure_rate);
  // The baselines do not depend on it.
  for (TrustModelKind kind : {TrustModelKind::kPlainBeta, TrustModelKind::kEigenTrust}) {
    EXPECT_EQ(all(a, kind).shares, all(b, kind).shares);
    EXPECT_EQ(all(a, kind).exposures, all(b, kind).exposures);
  }
}

}  // namespace
}  // namespace medmesh::eval
