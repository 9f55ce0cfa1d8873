// Crash and outage tests with the real `medmesh` binary: a cloud and a cloudlet run as separate
// processes on a data dir made by `medmesh demo --setup-only`, devices upload over loopback HTTP.
//
//   - the cloudlet is killed with SIGKILL while four devices upload concurrently; after a
//     restart the devices resend what was not acknowledged (resealed in a new session, as the
//     agent does), and every acknowledged reading is present exactly once, on the cloudlet and
//     on the cloud;
//   - the cloud is killed with SIGKILL and stays down (MEDMESH_CRASH_TEST_CLOUD_DOWN_SECONDS, a
//     few seconds in `make test`, minutes in `make soak`) while the cloudlet keeps accepting into
//     its forward queue; when the cloud is back, everything arrives exactly once.
//
// The binary runs twice: with the cloud on SQLite, and as crash_postgres_test on the PostgreSQL
// test cluster (testing/test_backend.h).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "net/http_client.h"
#include "node/data_dir.h"
#include "node/identity.h"
#include "node/test_support.h"
#include "testing/test_backend.h"
#include "wire/envelope.h"

namespace medmesh {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using node::testing::HeartRate;
using node::testing::TestDevice;
using testing_process::Child;
using testing_process::ListeningPort;

constexpr int kDevices = 4;
constexpr int kBatchesPerDevice = 60;
constexpr int kReadingsPerBatch = 60;
constexpr int kTotalBatches = kDevices * kBatchesPerDevice;

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

// One batch a device uploads, and what became of it.
struct Planned {
  std::vector<wire::Reading> readings;
  wire::BatchId batch_id{};
  Bytes upload;
  bool acknowledged = false;  // 200 before the crash
};

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.path() / "demo";
    Child setup({MEDMESH_BINARY, "demo", "--setup-only", "--data-dir", data_.string()},
                dir_.path() / "setup.log");
    ASSERT_TRUE(setup.started());
    ASSERT_EQ(setup.Wait(), 0) << "medmesh demo --setup-only failed";
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      const fs::path config_file = data_ / "cloud" / "config.json";
      json config = json::parse(std::ifstream(config_file));
      config["store"] = {{"backend", "postgres"},
                         {"postgres_url", pg},
                         {"schema_prefix", "c" + HexEncode(random_.Generate(6)) + "_"}};
      std::ofstream(config_file) << config.dump(2);
    }
    auto root = node::LoadRootCertificate(data_ / "root" / "root.cert", NowMs());
    ASSERT_TRUE(root) << root.error().ToString();
    root_key_.emplace(root->key);
    auto token = node::ReadTokenFile(data_ / "cloudlet-1" / "enrol.token");
    ASSERT_TRUE(token) << token.error().ToString();
    enrol_token_ = std::move(*token);
  }

  void StartCloud(std::uint16_t port = 0) {
    cloud_ = std::make_unique<Child>(
        std::vector<std::string>{MEDMESH_BINARY, "cloud", "--config",
                                 (data_ / "cloud" / "config.json").string(), "--listen",
                                 "127.0.0.1:" + std::to_string(port)},
        dir_.path() / "cloud.log");
    ASSERT_TRUE(cloud_->started());
    const auto line = cloud_->WaitForLine("listening on", std::chrono::seconds(60));
    ASSERT_TRUE(line) << "the cloud did not start; see " << (dir_.path() / "cloud.log");
    cloud_port_ = ListeningPort(*line).value_or(0);
    ASSERT_NE(cloud_port_, 0) << *line;
  }

  void StartCloudlet() {
    cloudlet_ = std::make_unique<Child>(
        std::vector<std::string>{MEDMESH_BINARY, "cloudlet", "--config",
                                 (data_ / "cloudlet-1" / "config.json").string(), "--listen",
                                 "127.0.0.1:0", "--cloud-url",
                                 "http://127.0.0.1:" + std::to_string(cloud_port_)},
        dir_.path() / "cloudlet.log");
    ASSERT_TRUE(cloudlet_->started());
    const auto line = cloudlet_->WaitForLine("listening on", std::chrono::seconds(60));
    ASSERT_TRUE(line) << "the cloudlet did not start; see " << (dir_.path() / "cloudlet.log");
    const std::uint16_t port = ListeningPort(*line).value_or(0);
    ASSERT_NE(port, 0) << *line;
    cloudlet_url_ = "http://127.0.0.1:" + std::to_string(port);
  }

  json GetJson(const std::string& url) {
    auto r = client_->Get(url);
    if (!r || r->status != 200) return {};
    return json::parse(r->body, nullptr, false);
  }
  json CloudletStats() { return GetJson(cloudlet_url_ + "/api/v1/stats"); }
  json CloudStats() {
    return GetJson("http://127.0.0.1:" + std::to_string(cloud_port_) + "/api/v1/stats");
  }

  // Polls `done` every 100 ms until `timeout`.
  template <typename F>
  bool Eventually(F done, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
  }

  // Enrols kDevices devices and seals kBatchesPerDevice batches for each.
  void PlanUploads() {
    const std::int64_t start = NowMs() - 3'600'000;
    for (int d = 0; d < kDevices; ++d) {
      devices_.push_back(std::make_unique<TestDevice>("crash-watch-" + std::to_string(d),
                                                      "crash-patient-" + std::to_string(d), random_,
                                                      clock_));
      ASSERT_TRUE(devices_.back()->Enrol(*client_, cloudlet_url_, enrol_token_, *root_key_));
      plans_.emplace_back();
      for (int b = 0; b < kBatchesPerDevice; ++b) {
        Planned p;
        p.readings = HeartRate(start + std::int64_t{b + 1} * kReadingsPerBatch * 1000,
                               kReadingsPerBatch, 60'000 + 1000 * d + 100 * b);
        auto sealed = devices_.back()->SealReadings(p.readings);
        ASSERT_TRUE(sealed) << sealed.error().ToString();
        p.upload = std::move(*sealed);
        p.batch_id = devices_.back()->last_batch_id();
        plans_.back().push_back(std::move(p));
      }
    }
  }

  // One thread per device uploads its batches in order until the first failure; the main thread
  // kills the cloudlet with SIGKILL once `kill_after` uploads were acknowledged.
  void UploadAndKillCloudlet(int kill_after) {
    std::atomic<int> acked{0};
    std::vector<std::thread> threads;
    threads.reserve(kDevices);
    for (int d = 0; d < kDevices; ++d) {
      threads.emplace_back([this, d, &acked] {
        net::ClientOptions options;
        options.request_timeout = std::chrono::seconds(10);
        auto client = net::HttpClient::Create(options).value();
        for (Planned& p : plans_[static_cast<std::size_t>(d)]) {
          auto r = client->Post(cloudlet_url_ + "/api/v1/ingest",
                                std::string(AsStringView(p.upload)), "application/octet-stream");
          if (!r || r->status != 200) return;  // the cloudlet is gone
          p.acknowledged = true;
          acked.fetch_add(1);
        }
      });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (acked.load() < kill_after && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_GE(acked.load(), kill_after);
    cloudlet_->Signal(SIGKILL);
    const int status = cloudlet_->Wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    for (std::thread& t : threads) t.join();
  }

  // What a device's outbox does after the cloudlet restarted: unacknowledged batches are
  // resealed in a new session under the same batch id (answered "stored", or "duplicate" if
  // stored before the crash with the acknowledgement lost); acknowledged batches are resent
  // byte for byte and must be answered "duplicate".
  void Redeliver() {
    std::map<std::string, int> outcomes;
    for (int d = 0; d < kDevices; ++d) {
      TestDevice& device = *devices_[static_cast<std::size_t>(d)];
      device.Rekey();
      ASSERT_TRUE(device.UseCloudlet(*client_, cloudlet_url_, *root_key_));
      for (Planned& p : plans_[static_cast<std::size_t>(d)]) {
        if (p.acknowledged) {
          auto r = client_->Post(cloudlet_url_ + "/api/v1/ingest",
                                 std::string(AsStringView(p.upload)), "application/octet-stream");
          ASSERT_TRUE(r) << r.error().ToString();
          ASSERT_EQ(r->status, 200) << r->body;
          EXPECT_EQ(json::parse(r->body)["status"], "duplicate");
          ++outcomes["acknowledged, resent: duplicate"];
          continue;
        }
        // "duplicate" when it was stored but its acknowledgement was lost in the crash.
        auto resealed = device.SealReadings(p.readings, p.batch_id);
        ASSERT_TRUE(resealed) << resealed.error().ToString();
        auto r = client_->Post(cloudlet_url_ + "/api/v1/ingest",
                               std::string(AsStringView(*resealed)), "application/octet-stream");
        ASSERT_TRUE(r) << r.error().ToString();
        ASSERT_EQ(r->status, 200) << r->body;
        ++outcomes["not acknowledged, resealed: " +
                   json::parse(r->body)["status"].get<std::string>()];
      }
    }
    for (const auto& [what, count] : outcomes) std::cout << "  " << what << ": " << count << "\n";
  }

  node::testing::TempDir dir_;
  fs::path data_;
  SystemClock clock_;
  SystemRandom random_;
  std::optional<crypto::SigningPublicKey> root_key_;
  SecretBytes enrol_token_;
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::unique_ptr<Child> cloud_;
  std::unique_ptr<Child> cloudlet_;
  std::uint16_t cloud_port_ = 0;
  std::string cloudlet_url_;
  std::vector<std::unique_ptr<TestDevice>> devices_;
  std::vector<std::vector<Planned>> plans_;
};

TEST_F(CrashTest, CloudletKilledMidIngestLosesNothingAcknowledged) {
  ASSERT_NO_FATAL_FAILURE(StartCloud());
  ASSERT_NO_FATAL_FAILURE(StartCloudlet());
  ASSERT_NO_FATAL_FAILURE(PlanUploads());
  ASSERT_NO_FATAL_FAILURE(UploadAndKillCloudlet(kTotalBatches / 3));
  int acknowledged = 0;
  for (const auto& plan : plans_) {
    for (const Planned& p : plan) acknowledged += p.acknowledged ? 1 : 0;
  }
  std::cout << "  acknowledged before SIGKILL: " << acknowledged << " of " << kTotalBatches << "\n";
  ASSERT_LT(acknowledged, kTotalBatches) << "the kill came too late to test anything";

  // Restart on the same data dir: everything acknowledged is there (the counts come from the
  // databases, not from memory).
  ASSERT_NO_FATAL_FAILURE(StartCloudlet());
  json stats = CloudletStats();
  ASSERT_TRUE(stats.is_object());
  EXPECT_GE(stats["batches_stored"].get<int>(), acknowledged);

  ASSERT_NO_FATAL_FAILURE(Redeliver());
  ASSERT_TRUE(Eventually([&] {
    stats = CloudletStats();
    return stats.is_object() && stats["forward_queue_depth"] == 0;
  })) << stats.dump();
  EXPECT_EQ(stats["batches_stored"], kTotalBatches);
  EXPECT_EQ(stats["readings_stored"], kTotalBatches * kReadingsPerBatch);

  json cloud;
  ASSERT_TRUE(Eventually([&] {
    cloud = CloudStats();
    return cloud.is_object() && cloud["reading_batches"] == kTotalBatches;
  })) << cloud.dump();
  EXPECT_EQ(cloud["readings"], kTotalBatches * kReadingsPerBatch);
  EXPECT_EQ(cloud["patients"], kDevices);

  // A clean stop on SIGTERM.
  cloudlet_->Signal(SIGTERM);
  const int status = cloudlet_->Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST_F(CrashTest, ASecondCloudletOnTheSameDataDirIsRefused) {
  ASSERT_NO_FATAL_FAILURE(StartCloud());
  ASSERT_NO_FATAL_FAILURE(StartCloudlet());
  Child second({MEDMESH_BINARY, "cloudlet", "--config",
                (data_ / "cloudlet-1" / "config.json").string(), "--listen", "127.0.0.1:0"},
               dir_.path() / "second.log");
  ASSERT_TRUE(second.started());
  const int status = second.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
  std::ifstream log(dir_.path() / "second.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("in use by another running process"), std::string::npos) << text;
  EXPECT_TRUE(CloudletStats().is_object());  // the first one is unharmed
}

TEST_F(CrashTest, ADemoOrWardOnAFolderInUseIsRefused) {
  auto refused = [&](const fs::path& locked, const std::vector<std::string>& args) {
    auto lock = node::DataDirLock::Acquire(locked);
    ASSERT_TRUE(lock) << lock.error().ToString();
    Child child(args, dir_.path() / "refused.log");
    ASSERT_TRUE(child.started());
    const int status = child.Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
    std::ifstream log(dir_.path() / "refused.log");
    const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("in use by another running process"), std::string::npos) << text;
  };
  refused(data_, {MEDMESH_BINARY, "demo", "--data-dir", data_.string()});
  refused(data_ / "ward-1" / "data",
          {MEDMESH_BINARY, "wearable", "--config", (data_ / "ward-1" / "config.json").string()});
}

TEST_F(CrashTest, CloudKilledAndDownForAWhileLosesNothing) {
  const char* env = std::getenv("MEDMESH_CRASH_TEST_CLOUD_DOWN_SECONDS");
  const int down_seconds = env != nullptr ? static_cast<int>(std::strtol(env, nullptr, 10)) : 3;
  ASSERT_NO_FATAL_FAILURE(StartCloud());
  ASSERT_NO_FATAL_FAILURE(StartCloudlet());
  ASSERT_NO_FATAL_FAILURE(PlanUploads());
  const std::uint16_t cloud_port = cloud_port_;

  // The cloud dies with SIGKILL; the cloudlet keeps acknowledging into its forward queue.
  cloud_->Signal(SIGKILL);
  cloud_->Wait();
  const auto down_since = std::chrono::steady_clock::now();
  int acknowledged = 0;
  int refused = 0;
  for (int d = 0; d < kDevices; ++d) {
    for (Planned& p : plans_[static_cast<std::size_t>(d)]) {
      auto r = client_->Post(cloudlet_url_ + "/api/v1/ingest", std::string(AsStringView(p.upload)),
                             "application/octet-stream");
      ASSERT_TRUE(r) << r.error().ToString();
      if (r->status == 200) {
        p.acknowledged = true;
        ++acknowledged;
      } else {
        // Backpressure: 429 or 503 with Retry-After; the batch waits in the device's outbox.
        ASSERT_TRUE(r->status == 429 || r->status == 503) << r->status << " " << r->body;
        ++refused;
      }
    }
  }
  std::cout << "  accepted while the cloud was down: " << acknowledged << ", deferred by "
            << "backpressure: " << refused << "\n";
  ASSERT_GT(acknowledged, 0);
  // Every accepted batch waits in the queue (with enrolments not yet forwarded before the kill);
  // the depth in the stats is refreshed periodically, not on every upload.
  json stats;
  EXPECT_TRUE(Eventually([&] {
    stats = CloudletStats();
    return stats.is_object() && stats["forward_queue_depth"].get<int>() >= acknowledged;
  })) << stats.dump();

  const auto elapsed = std::chrono::steady_clock::now() - down_since;
  if (elapsed < std::chrono::seconds(down_seconds)) {
    std::this_thread::sleep_for(std::chrono::seconds(down_seconds) - elapsed);
  }
  ASSERT_NO_FATAL_FAILURE(StartCloud(cloud_port));
  const auto back_since = std::chrono::steady_clock::now();

  // The deferred batches are sent again until accepted (the outbox's retry).
  for (int d = 0; d < kDevices; ++d) {
    for (Planned& p : plans_[static_cast<std::size_t>(d)]) {
      if (p.acknowledged) continue;
      ASSERT_TRUE(Eventually(
          [&] {
            auto r = client_->Post(cloudlet_url_ + "/api/v1/ingest",
                                   std::string(AsStringView(p.upload)), "application/octet-stream");
            return r && r->status == 200;
          },
          std::chrono::seconds(330 + down_seconds)));
    }
  }
  json cloud;
  ASSERT_TRUE(Eventually(
      [&] {
        cloud = CloudStats();
        return cloud.is_object() && cloud["reading_batches"] == kTotalBatches;
      },
      std::chrono::seconds(330 + down_seconds)))
      << cloud.dump();
  std::cout << "  cloud down for "
            << std::chrono::duration_cast<std::chrono::seconds>(back_since - down_since).count()
            << " s; everything at the cloud "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - back_since)
                   .count()
            << " ms after it was back\n";
  EXPECT_EQ(cloud["readings"], kTotalBatches * kReadingsPerBatch);
  stats = CloudletStats();
  EXPECT_EQ(stats["batches_stored"], kTotalBatches);
  EXPECT_EQ(stats["readings_stored"], kTotalBatches * kReadingsPerBatch);
}

}  // namespace
}  // namespace medmesh
