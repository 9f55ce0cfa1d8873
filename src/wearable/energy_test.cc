#include "wearable/energy.h"

#include <gtest/gtest.h>

#include <cmath>

#include "crypto/hybrid_seal.h"
#include "crypto/ntru.h"
#include "testing/fake_random.h"

namespace medmesh::wearable {
namespace {

HostMeasurement Synthetic() {
  HostMeasurement m;
  m.sizes.readings_per_batch = 600;
  m.sizes.batch_payload_bytes = 900;
  m.sizes.batch_upload_bytes = 1100;
  m.sizes.session_open_extra_bytes = 1000;
  m.sizes.single_payload_bytes = 12;
  m.sizes.single_upload_bytes = 1200;
  m.costs.upload_batch_s = 200e-6;
  m.costs.session_start_s = 100e-6;
  m.costs.upload_single_s = 150e-6;
  return m;
}

TEST(RadioModelTest, FirstOrderFormulas) {
  const RadioModel radio;
  // 1000 bits over 10 m: 50 nJ/bit * 1000 + 100 pJ/bit/m^2 * 1000 * 100 m^2.
  EXPECT_DOUBLE_EQ(TransmitEnergyJ(radio, 1000, 10), 50e-6 + 10e-6);
  EXPECT_DOUBLE_EQ(TransmitEnergyJ(radio, 1000, 0), 50e-6);
  EXPECT_DOUBLE_EQ(ReceiveEnergyJ(radio, 1000), 50e-6);
  RadioModel multipath;
  multipath.path_loss_exponent = 4;
  multipath.eps_amp_j_per_bit_m_n = 0.0013e-12;
  EXPECT_NEAR(TransmitEnergyJ(multipath, 1000, 100), 50e-6 + 0.0013e-12 * 1000 * 1e8, 1e-15);
}

TEST(EnergyModelTest, EstimateFollowsTheFormulas) {
  const RadioModel radio;
  const CpuModel cpu;  // 30 mW, x100: 3 J per host second
  EnergyScenario scenario;
  scenario.cloudlet_distance_m = 10;
  scenario.cloud_distance_m = 100;
  scenario.batches_per_session = 1000;
  scenario.ack_bytes = 32;
  const EnergyReport r = EstimateEnergy(radio, cpu, scenario, Synthetic());

  const double batch_bits = 8.0 * (1100 + 1000.0 / 1000);
  EXPECT_NEAR(r.batched.bytes_per_reading, batch_bits / 8 / 600, 1e-12);
  EXPECT_NEAR(r.batched.tx_j, (50e-9 * batch_bits + 100e-12 * batch_bits * 100) / 600, 1e-15);
  EXPECT_NEAR(r.batched.rx_j, 50e-9 * 256 / 600, 1e-15);
  EXPECT_NEAR(r.batched.cpu_j, (200e-6 + 100e-6 / 1000) * 3.0 / 600, 1e-15);
  EXPECT_NEAR(r.batched.total_j, r.batched.tx_j + r.batched.rx_j + r.batched.cpu_j, 1e-18);

  const double single_bits = 8.0 * 1200;
  EXPECT_NEAR(r.direct.tx_j, 50e-9 * single_bits + 100e-12 * single_bits * 10'000, 1e-12);
  EXPECT_NEAR(r.direct.rx_j, 50e-9 * 256, 1e-15);
  EXPECT_NEAR(r.direct.cpu_j, 150e-6 * 3.0, 1e-15);
  EXPECT_NEAR(r.direct_over_batched, r.direct.total_j / r.batched.total_j, 1e-9);
  EXPECT_GT(r.direct_over_batched, 100);
}

TEST(EnergyModelTest, FartherCloudAndSmallerBatchesCostMore) {
  const RadioModel radio;
  const CpuModel cpu;
  EnergyScenario near_cloud;
  near_cloud.cloud_distance_m = 20;
  EnergyScenario far_cloud;
  far_cloud.cloud_distance_m = 500;
  const HostMeasurement m = Synthetic();
  EXPECT_LT(EstimateEnergy(radio, cpu, near_cloud, m).direct.total_j,
            EstimateEnergy(radio, cpu, far_cloud, m).direct.total_j);
  EXPECT_DOUBLE_EQ(EstimateEnergy(radio, cpu, near_cloud, m).batched.total_j,
                   EstimateEnergy(radio, cpu, far_cloud, m).batched.total_j);
  HostMeasurement small = m;
  small.sizes.readings_per_batch = 60;
  EXPECT_GT(EstimateEnergy(radio, cpu, near_cloud, small).batched.total_j,
            EstimateEnergy(radio, cpu, near_cloud, m).batched.total_j);
}

TEST(EnergyModelTest, MeasuresTheRealCodeOnThisHost) {
  testing::DeterministicRandom random(3);
  SystemClock clock;
  const auto batch = SampleBatch(600);
  ASSERT_EQ(batch.size(), 600u);
  auto m = MeasureOnThisHost(batch, random, clock, 3);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  const MessageSizes& s = m->sizes;
  EXPECT_EQ(s.readings_per_batch, 600u);
  EXPECT_GT(s.batch_payload_bytes, 0u);
  // A batch costs its payload plus the envelope (header, 46-byte seal overhead, salt,
  // signature), far less than 600 single uploads.
  EXPECT_GT(s.batch_upload_bytes, s.batch_payload_bytes + 46 + 64);
  EXPECT_LT(s.batch_upload_bytes, s.batch_payload_bytes + 400);
  const auto& ntru = crypto::Info(crypto::kDefaultNtruParamSet);
  EXPECT_EQ(s.session_open_extra_bytes, 1 + 16 + ntru.ciphertext_bytes + 32);
  EXPECT_GT(s.single_upload_bytes,
            crypto::SealedBoxBytes(crypto::kDefaultNtruParamSet, s.single_payload_bytes));
  const MeasuredCosts& c = m->costs;
  for (double t : {c.ntru_encapsulate_s, c.session_seal_batch_s, c.sign_s, c.encode_batch_s,
                   c.upload_batch_s, c.hybrid_seal_s, c.upload_single_s}) {
    EXPECT_GT(t, 0.0);
    EXPECT_LT(t, 1.0);
  }
  EXPECT_EQ(c.iterations, 3);

  const EnergyReport r = EstimateEnergy(RadioModel{}, CpuModel{}, EnergyScenario{}, *m);
  EXPECT_LT(r.batched.bytes_per_reading, 5.0);
  EXPECT_GT(r.direct.bytes_per_reading, 1000.0);
  EXPECT_GT(r.direct_over_batched, 10.0);
  const std::string text = FormatEnergyReport(r);
  EXPECT_EQ(text.rfind("MODEL ESTIMATE", 0), 0u);
  for (const char* row : {"bytes on air per reading", "radio transmit", "radio receive (ack)",
                          "cpu (encode, seal, sign)", "total", "NTRU encaps", "Ed25519 sign"}) {
    EXPECT_NE(text.find(row), std::string::npos) << row;
  }
}

TEST(EnergyModelTest, MeasurementArgumentsAreChecked) {
  testing::DeterministicRandom random(3);
  SystemClock clock;
  EXPECT_FALSE(MeasureOnThisHost({}, random, clock, 3).has_value());
  const auto batch = SampleBatch(10);
  EXPECT_FALSE(MeasureOnThisHost(batch, random, clock, 0).has_value());
  EXPECT_FALSE(MeasureOnThisHost(batch, random, clock, 5000).has_value());
}

TEST(CloudletChoiceTest, PicksTheCheapestCertifiedTrustedCloudlet) {
  const RadioModel radio;
  const std::vector<CloudletCandidate> candidates = {
      {"far", 40, 0.9, true},
      {"near-untrusted", 5, 0.3, true},
      {"near-uncertified", 3, 0.95, false},
      {"mid", 12, 0.7, true},
      {"broken", std::nan(""), 0.9, true},
  };
  auto c = ChooseCloudlet(candidates, radio, 8000, 0.5);
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->id, "mid");
  EXPECT_DOUBLE_EQ(c->energy_per_batch_j, TransmitEnergyJ(radio, 8000, 12));
  // A lower threshold admits the nearer one.
  EXPECT_EQ(ChooseCloudlet(candidates, radio, 8000, 0.2)->id, "near-untrusted");
}

TEST(CloudletChoiceTest, TiesGoToTheMoreTrustedThenTheSmallerId) {
  const RadioModel radio;
  std::vector<CloudletCandidate> candidates = {
      {"b", 10, 0.6, true}, {"a", 10, 0.6, true}, {"c", 10, 0.8, true}};
  EXPECT_EQ(ChooseCloudlet(candidates, radio, 8000)->id, "c");
  candidates[2].trust = 0.6;
  EXPECT_EQ(ChooseCloudlet(candidates, radio, 8000)->id, "a");
}

TEST(CloudletChoiceTest, NoEligibleCloudletSaysWhy) {
  const RadioModel radio;
  const std::vector<CloudletCandidate> candidates = {{"c1", 5, 0.9, false}, {"c2", 5, 0.1, true}};
  auto c = ChooseCloudlet(candidates, radio, 8000, 0.5);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code(), ErrorCode::kUnavailable);
  EXPECT_NE(c.error().message().find("c1: certificate not valid"), std::string::npos)
      << c.error().message();
  EXPECT_NE(c.error().message().find("c2: trust 0.10 below 0.50"), std::string::npos);
  EXPECT_FALSE(ChooseCloudlet({}, radio, 8000).has_value());
}

}  // namespace
}  // namespace medmesh::wearable
