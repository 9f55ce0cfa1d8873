#include "eval/crypto_eval.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "testing/fake_random.h"

namespace medmesh::eval {
namespace {

// Monotonic time moves 1 microsecond per reading, so every timed run has a known, non-zero
// duration whatever the machine's speed (the code under test reads the clock around each run;
// the session sealer reads it too, which only adds whole steps).
class StepClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::hours(24 * 365 * 50));
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::time_point(std::chrono::microseconds(++ticks_));
  }

 private:
  mutable std::atomic<long long> ticks_{0};
};

CryptoEvalOptions TinyOptions() {
  CryptoEvalOptions o;
  o.iterations = 1;
  o.rsa_keygen_iterations = 1;
  o.batch_readings = 20;
  o.batch_keys = 3;
  o.batches_per_session = 10;
  return o;
}

std::vector<std::string> Split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, sep)) out.push_back(field);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

const CryptoEvalRow* Find(const CryptoEvalReport& report, const std::string& scheme,
                          const std::string& operation) {
  for (const CryptoEvalRow& r : report.rows) {
    if (r.scheme == scheme && r.operation == operation) return &r;
  }
  return nullptr;
}

class CryptoEvalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    testing::DeterministicRandom random(7);
    StepClock clock;
    auto run = RunCryptoEval(TinyOptions(), random, clock);
    ASSERT_TRUE(run.has_value()) << run.error().ToString();
    report_ = new CryptoEvalReport(std::move(run).value());
  }
  static void TearDownTestSuite() {
    delete report_;
    report_ = nullptr;
  }
  static CryptoEvalReport* report_;
};
CryptoEvalReport* CryptoEvalTest::report_ = nullptr;

TEST_F(CryptoEvalTest, HasEveryRowOnce) {
  ASSERT_NE(report_, nullptr);
  std::set<std::pair<std::string, std::string>> seen;
  for (const CryptoEvalRow& r : report_->rows) {
    EXPECT_TRUE(seen.emplace(r.scheme, r.operation).second) << r.scheme << " " << r.operation;
  }
  for (const char* set : {"ntruhps2048509", "ntruhps2048677", "ntruhps4096821", "ntruhrss701"}) {
    for (const char* op :
         {"keypair", "keypair per key in a batch of 3", "encaps", "decaps", "KEM-DEM seal"}) {
      EXPECT_NE(Find(*report_, set, op), nullptr) << set << " " << op;
    }
  }
  for (const char* scheme : {"x25519", "rsa2048", "rsa3072"}) {
    for (const char* op : {"keypair", "encaps", "decaps", "KEM-DEM seal"}) {
      EXPECT_NE(Find(*report_, scheme, op), nullptr) << scheme << " " << op;
    }
  }
  EXPECT_NE(Find(*report_, "hybrid", "seal (NTRU + X25519 + AEAD)"), nullptr);
  EXPECT_NE(Find(*report_, "session", "seal (steady state)"), nullptr);
  EXPECT_NE(Find(*report_, "session", "seal (first batch of a session)"), nullptr);
  EXPECT_NE(Find(*report_, "session", "seal (mean over 10 batches)"), nullptr);
  EXPECT_EQ(report_->rows.size(), 4u * 5 + 3 * 4 + 4);
}

TEST_F(CryptoEvalTest, BytesAndEnergiesFollowTheModel) {
  ASSERT_NE(report_, nullptr);
  const CryptoEvalOptions o = TinyOptions();
  for (const CryptoEvalRow& r : report_->rows) {
    SCOPED_TRACE(r.scheme + " " + r.operation);
    EXPECT_TRUE(r.group == "operation" || r.group == "sealed batch");
    EXPECT_GT(r.host_us, 0.0);
    EXPECT_NEAR(r.device_cpu_uj, r.host_us * o.cpu.slowdown * o.cpu.active_power_w, 1e-9);
    const double radio_uj =
        r.bytes_sent == 0
            ? 0.0
            : 1e6 * wearable::TransmitEnergyJ(o.radio, 8.0 * static_cast<double>(r.bytes_sent),
                                              o.distance_m);
    EXPECT_NEAR(r.device_radio_uj, radio_uj, 1e-9);
    EXPECT_NEAR(r.device_total_uj, r.device_cpu_uj + r.device_radio_uj, 1e-9);
    // Only what the device sends costs radio energy.
    const bool sends = r.operation == "encaps" || r.group == "sealed batch";
    EXPECT_EQ(r.bytes_sent > 0, sends);
  }
  // Ciphertext sizes of each scheme, and the KEM-DEM seal = ciphertext + nonce + batch + tag.
  const std::pair<const char*, std::size_t> kCiphertext[] = {
      {"ntruhps2048509", 699}, {"ntruhps2048677", 930}, {"ntruhps4096821", 1230},
      {"ntruhrss701", 1138},   {"x25519", 32},          {"rsa2048", 256},
      {"rsa3072", 384}};
  for (const auto& [scheme, ct] : kCiphertext) {
    SCOPED_TRACE(scheme);
    const CryptoEvalRow* enc = Find(*report_, scheme, "encaps");
    const CryptoEvalRow* seal = Find(*report_, scheme, "KEM-DEM seal");
    ASSERT_TRUE(enc != nullptr && seal != nullptr);
    EXPECT_EQ(enc->bytes_sent, ct);
    EXPECT_EQ(seal->bytes_sent, ct + 12 + report_->batch_payload_bytes + 16);
  }
  // A session's first batch carries the KEM; the mean lies between first and steady state.
  const CryptoEvalRow* steady = Find(*report_, "session", "seal (steady state)");
  const CryptoEvalRow* first = Find(*report_, "session", "seal (first batch of a session)");
  const CryptoEvalRow* mean = Find(*report_, "session", "seal (mean over 10 batches)");
  ASSERT_TRUE(steady && first && mean);
  EXPECT_GT(first->bytes_sent, steady->bytes_sent + 930);
  EXPECT_GE(mean->bytes_sent, steady->bytes_sent);
  EXPECT_LE(mean->bytes_sent, first->bytes_sent);
}

TEST_F(CryptoEvalTest, CsvHasTheColumnsAndOneLinePerRow) {
  ASSERT_NE(report_, nullptr);
  const std::string csv = CryptoEvalCsv(*report_);
  std::istringstream in(csv);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  const std::vector<std::string> header = Split(line, ',');
  ASSERT_EQ(header.size(), kCryptoEvalCsvColumns.size());
  for (std::size_t i = 0; i < header.size(); ++i) EXPECT_EQ(header[i], kCryptoEvalCsvColumns[i]);
  EXPECT_EQ(line,
            "group,scheme,operation,host_us,bytes_sent,device_cpu_uj,device_radio_uj,"
            "device_total_uj");
  std::size_t rows = 0;
  while (std::getline(in, line)) {
    const std::vector<std::string> fields = Split(line, ',');
    ASSERT_EQ(fields.size(), header.size()) << line;
    const CryptoEvalRow& r = report_->rows[rows];
    EXPECT_EQ(fields[0], r.group);
    EXPECT_EQ(fields[1], r.scheme);
    EXPECT_EQ(fields[2], r.operation);
    EXPECT_NEAR(std::stod(fields[3]), r.host_us, 1e-3);
    EXPECT_EQ(fields[4], std::to_string(r.bytes_sent));
    EXPECT_NEAR(std::stod(fields[7]), r.device_total_uj, 1e-3);
    ++rows;
  }
  EXPECT_EQ(rows, report_->rows.size());
}

TEST_F(CryptoEvalTest, SvgAndTableShowEveryRow) {
  ASSERT_NE(report_, nullptr);
  const std::string svg = CryptoEvalSvg(*report_);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>\n"), std::string::npos);
  std::size_t rects = 0;
  for (std::size_t p = svg.find("<rect"); p != std::string::npos; p = svg.find("<rect", p + 1)) {
    ++rects;
  }
  EXPECT_EQ(rects, 1 + 2 * report_->rows.size());  // background + two bars per row
  EXPECT_NE(svg.find("MODEL ESTIMATE"), std::string::npos);
  const std::string table = CryptoEvalTable(*report_);
  EXPECT_EQ(table.rfind("MODEL ESTIMATE", 0), 0u);
  for (const CryptoEvalRow& r : report_->rows) {
    EXPECT_NE(table.find(r.operation), std::string::npos) << r.operation;
  }
}

TEST(CryptoEvalOptionsTest, RejectsOutOfRangeOptions) {
  testing::DeterministicRandom random(1);
  StepClock clock;
  CryptoEvalOptions o = TinyOptions();
  o.iterations = 0;
  auto r = RunCryptoEval(o, random, clock);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  o = TinyOptions();
  o.batch_keys = 0;
  EXPECT_FALSE(RunCryptoEval(o, random, clock).has_value());
  o = TinyOptions();
  o.distance_m = -1;
  EXPECT_FALSE(RunCryptoEval(o, random, clock).has_value());
}

}  // namespace
}  // namespace medmesh::eval
