// The data path end to end, in one process: a device uploads to a real cloudlet, which forwards
// to a real cloud over loopback HTTP. The cloud is down at first: the cloudlet keeps accepting
// into its forward queue until backpressure refuses new batches, then the cloud comes up on the
// same port and everything acknowledged arrives there exactly once. Run twice: the cloud on
// SQLite, and (data_path_postgres_test, testing/test_backend.h) on the PostgreSQL test cluster.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "cloud/cloud_service.h"
#include "cloudlet/cloudlet_service.h"
#include "core/bytes.h"
#include "net/test_support.h"
#include "node/test_support.h"
#include "testing/test_backend.h"
#include "wire/record_codec.h"

namespace medmesh {
namespace {

using nlohmann::json;
using node::testing::HeartRate;
using node::testing::TestDevice;

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

class DataPathTest : public ::testing::Test {
 protected:
  void StartCloud(std::uint16_t port) {
    cloud::CloudOptions options;
    options.port = port;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      options.store.backend = node::StoreBackend::kPostgres;
      options.store.postgres_url = pg;
      options.store.schema_prefix = schema_prefix_;
    }
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloud::CloudSecrets secrets{std::move(*identity), kek_.Clone(), index_key_.Clone(),
                                pseudonym_key_.Clone(), SecretBytes()};
    auto service =
        cloud::CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    cloud_ = std::move(*service);
  }

  void StartCloudlet(std::uint16_t cloud_port,
                     const std::function<void(cloudlet::CloudletOptions&)>& adjust = {}) {
    cloudlet::CloudletOptions options;
    options.data_dir = dir_.path() / "cloudlet";
    options.access_log = false;
    options.forwarder.cloud_url = "http://127.0.0.1:" + std::to_string(cloud_port);
    options.forwarder.poll_interval = std::chrono::milliseconds(50);
    options.forwarder.connect_timeout = std::chrono::milliseconds(500);
    options.forward_queue.initial_backoff = std::chrono::milliseconds(50);
    options.forward_queue.max_backoff = std::chrono::milliseconds(200);
    options.backpressure.slow_items = 7;
    options.backpressure.refuse_items = 7;
    options.backpressure_refresh = std::chrono::milliseconds(0);
    if (adjust) adjust(options);
    auto identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloudlet::CloudletSecrets secrets{std::move(*identity), cloudlet_kek_.Clone(),
                                      enrol_token_.Clone(), SecretBytes()};
    auto service =
        cloudlet::CloudletService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    cloudlet_ = std::move(*service);
    cloudlet_url_ = "http://127.0.0.1:" + std::to_string(cloudlet_->port());
  }

  net::Response Upload(ByteView upload) {
    auto r = client_->Post(cloudlet_url_ + "/api/v1/ingest", std::string(AsStringView(upload)),
                           "application/octet-stream");
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  // The cloudlet's medmesh_cloudlet_forward_failures_total{reason}, read through the
  // exposition parser; nullopt while no such failure was counted.
  std::optional<std::string> ForwardFailures(const std::string& reason) {
    return net::testing::FindSample(net::testing::ParseExposition(cloudlet_->metrics().Render()),
                                    "medmesh_cloudlet_forward_failures_total",
                                    {{"reason", reason}});
  }

  // Polls `done` every 50 ms for up to 30 s.
  template <typename F>
  bool Eventually(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done();
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  SystemClock clock_;
  SystemRandom random_;
  crypto::KeyEncryptionKey kek_ = crypto::KeyEncryptionKey::Generate(random_);
  crypto::KeyEncryptionKey cloudlet_kek_ = crypto::KeyEncryptionKey::Generate(random_);
  SecretBytes index_key_ = SecretBytes(random_.Generate(32));
  SecretBytes pseudonym_key_ = SecretBytes(random_.Generate(32));
  SecretBytes enrol_token_ = node::testing::RandomToken(random_);
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  // A fresh PostgreSQL schema prefix per test; the cloud keeps it across its restarts.
  std::string schema_prefix_ = "d" + HexEncode(random_.Generate(6)) + "_";
  std::unique_ptr<cloud::CloudService> cloud_;
  std::unique_ptr<cloudlet::CloudletService> cloudlet_;
  std::string cloudlet_url_;
};

TEST_F(DataPathTest, CloudDownThenUpEverythingArrivesExactlyOnce) {
  // A port the cloud can come back on (not one the kernel may hand out meanwhile), then take the
  // cloud down.
  const std::uint16_t cloud_port = net::testing::RestartablePort();
  StartCloud(cloud_port);
  cloud_->Stop(std::chrono::seconds(1));
  cloud_.reset();

  StartCloudlet(cloud_port);
  TestDevice device("watch-1", "patient-1", random_, clock_);
  ASSERT_TRUE(device.Enrol(*client_, cloudlet_url_, enrol_token_, deployment_.Root().key));

  // Five readings batches and a record are accepted while the cloud is down.
  std::vector<Bytes> uploads;
  for (int i = 0; i < 5; ++i) {
    uploads.push_back(
        device.SealReadings(HeartRate(NowMs() - std::int64_t{5 - i} * 60'000, 60)).value());
    ASSERT_EQ(Upload(uploads.back()).status, 200);
  }
  const Bytes record = wire::EncodePatientRecord(device.Record("rec-1")).value();
  uploads.push_back(device.Seal(wire::ContentType::kPatientRecord, record).value());
  ASSERT_EQ(Upload(uploads.back()).status, 200);

  // The forwarder keeps failing; the queue holds everything and backpressure shows.
  ASSERT_TRUE(Eventually([&] { return ForwardFailures("unreachable").has_value(); }));
  EXPECT_EQ(cloudlet_->Stats().forward_queue_depth, 7u);  // six uploads and the enrolment push
  EXPECT_EQ(cloudlet_->Stats().forwarded, 0u);
  EXPECT_EQ(cloudlet_->Pressure().level, store::BackpressureLevel::kRefuse);
  const Bytes late = device.SealReadings(HeartRate(NowMs(), 60)).value();
  const net::Response refused = Upload(late);
  EXPECT_EQ(refused.status, 503) << refused.body;

  // The cloud comes back on the same port, with its data: the queue drains.
  StartCloud(cloud_port);
  ASSERT_TRUE(Eventually([&] { return cloudlet_->Stats().forward_queue_depth == 0; }))
      << "queue depth " << cloudlet_->Stats().forward_queue_depth;
  EXPECT_EQ(cloudlet_->Stats().forwarded, 6u);

  // The refused batch is accepted now (the device retried it from its outbox).
  ASSERT_EQ(Upload(late).status, 200);
  // Retries of acknowledged uploads change nothing anywhere.
  for (const Bytes& upload : uploads) {
    EXPECT_EQ(json::parse(Upload(upload).body)["status"], "duplicate");
  }
  ASSERT_TRUE(Eventually([&] { return cloudlet_->Stats().forward_queue_depth == 0; }));

  const cloud::CloudStats stats = cloud_->Stats().value();
  EXPECT_EQ(stats.reading_batches, 6u);
  EXPECT_EQ(stats.readings, std::uint64_t{6} * 60);
  EXPECT_EQ(stats.records, 1u);
  EXPECT_EQ(stats.chain_length, 7u);  // 1 record and 6 reading batches (docs/integrity.md)
  EXPECT_EQ(stats.patients, 1u);
  const cloudlet::CloudletStats edge = cloudlet_->Stats();
  EXPECT_EQ(edge.batches_stored, 6u);
  EXPECT_EQ(edge.readings_stored, 6u * 60u);
  EXPECT_EQ(edge.records_stored, 1u);
  EXPECT_EQ(edge.duplicates, 6u);
  EXPECT_EQ(edge.forwarded, 7u);
  auto records = cloud_->records().GetPatientRecords("patient-1");
  ASSERT_TRUE(records) << records.error().ToString();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].record, wire::DecodePatientRecord(record).value());
}

TEST_F(DataPathTest, AfterAnOutageDeliveryResumesWithoutWaitingOutTheBackoff) {
  const std::uint16_t cloud_port = net::testing::RestartablePort();
  StartCloud(cloud_port);
  cloud_->Stop(std::chrono::seconds(1));
  cloud_.reset();
  // Backoff as after a long outage (minutes); the forwarder probes the cloud every 100 ms.
  StartCloudlet(cloud_port, [](cloudlet::CloudletOptions& options) {
    options.forward_queue.initial_backoff = std::chrono::minutes(5);
    options.forward_queue.max_backoff = std::chrono::minutes(5);
    options.forwarder.outage_probe_interval = std::chrono::milliseconds(100);
  });
  TestDevice device("watch-3", "patient-3", random_, clock_);
  ASSERT_TRUE(device.Enrol(*client_, cloudlet_url_, enrol_token_, deployment_.Root().key));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Upload(device.SealReadings(HeartRate(NowMs() - std::int64_t{i} * 60'000, 30)).value())
                  .status,
              200);
  }
  ASSERT_TRUE(Eventually([&] { return ForwardFailures("unreachable").has_value(); }));
  StartCloud(cloud_port);
  // Well inside the 5-minute backoff (Eventually gives up after 30 s).
  ASSERT_TRUE(Eventually([&] { return cloudlet_->Stats().forward_queue_depth == 0; }))
      << "queue depth " << cloudlet_->Stats().forward_queue_depth;
  EXPECT_EQ(cloud_->Stats().value().readings, 90u);
}

TEST_F(DataPathTest, ACloudletRestartLosesNothingQueued) {
  const std::uint16_t cloud_port = net::testing::RestartablePort();
  StartCloud(cloud_port);
  cloud_->Stop(std::chrono::seconds(1));
  cloud_.reset();
  StartCloudlet(cloud_port);
  TestDevice device("watch-2", "patient-2", random_, clock_);
  ASSERT_TRUE(device.Enrol(*client_, cloudlet_url_, enrol_token_, deployment_.Root().key));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Upload(device.SealReadings(HeartRate(NowMs() - std::int64_t{i} * 60'000, 30)).value())
                  .status,
              200);
  }
  // Restart the cloudlet with the queue full and the cloud still away, then bring the cloud up.
  cloudlet_->Stop(std::chrono::seconds(1));
  cloudlet_.reset();
  StartCloudlet(cloud_port);
  EXPECT_EQ(cloudlet_->Stats().forward_queue_depth, 4u);
  EXPECT_EQ(cloudlet_->Stats().batches_stored, 3u);
  StartCloud(cloud_port);
  ASSERT_TRUE(Eventually([&] { return cloudlet_->Stats().forward_queue_depth == 0; }));
  EXPECT_EQ(cloud_->Stats().value().reading_batches, 3u);
  EXPECT_EQ(cloud_->Stats().value().readings, 90u);
}

}  // namespace
}  // namespace medmesh
