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

}  // namespace
}  // namespace medmesh::eval
