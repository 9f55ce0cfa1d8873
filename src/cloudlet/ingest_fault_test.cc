// The cloudlet's ingest on a failing disk: a real service on loopback whose databases do their
// I/O through testing::FaultySqliteVfs. Step 10 (ingest.h) must acknowledge nothing that is not
// durable: a failed commit is a 503 with Retry-After and leaves no ledger row; the group
// commit's fallback stores each member alone or refuses it; once the disk is healed, the
// device's retries store every batch exactly once (one ledger row, one forward, its readings
// once).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cloudlet/cloudlet_service.h"
#include "cloudlet/ingest_ledger.h"
#include "net/test_support.h"
#include "node/test_support.h"
#include "testing/faulty_sqlite_vfs.h"
#include "testing/wait.h"

namespace medmesh::cloudlet {
namespace {

using nlohmann::json;
using node::testing::HeartRate;
using node::testing::TestDevice;
using Vfs = ::medmesh::testing::FaultySqliteVfs;

constexpr int kReadings = 60;

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

class IngestFaultTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { StartService(); }
  void TearDown() override { StopService(); }

  void StartService() {
    CloudletOptions options;
    options.data_dir = dir_.path() / "data";
    options.access_log = false;
    options.ingest.max_upload_bytes = std::size_t{64} * 1024;
    // Step 4 reads the forward queue's backpressure from a cache, so uploads do not wait on the
    // forward queue's lock while a group commit holds it and reach the commit queue.
    options.backpressure_refresh = std::chrono::hours(1);
    options.sqlite_vfs = vfs_.name();
    auto identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(identity) << identity.error().ToString();
    CloudletSecrets secrets{std::move(*identity), kek_.Clone(), enrol_token_.Clone(),
                            operator_token_.Clone()};
    auto service = CloudletService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    url_ = "http://127.0.0.1:" + std::to_string(service_->port());
  }

  void StopService() {
    if (!service_) return;
    service_->Stop(std::chrono::seconds(1));
    service_.reset();
  }

  std::unique_ptr<TestDevice> EnrolledDevice(const std::string& device,
                                             const std::string& patient) {
    auto d = std::make_unique<TestDevice>(device, patient, random_, clock_);
    const Status enrolled = d->Enrol(*client_, url_, enrol_token_, deployment_.Root().key);
    EXPECT_TRUE(enrolled) << enrolled.error().ToString();
    return d;
  }

  static net::Response Post(net::HttpClient& client, const std::string& url, ByteView body) {
    auto r = client.Post(url + "/api/v1/ingest", std::string(AsStringView(body)),
                         "application/octet-stream");
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }
  net::Response Post(ByteView body) { return Post(*client_, url_, body); }

  // Expects a 503 that asks the device to retry, and no ledger row for the batch.
  void ExpectRefusedAndNotInLedger(const net::Response& r, const TestDevice& device,
                                   const wire::BatchId& batch_id) {
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(json::parse(r.body)["error"], "unavailable") << r.body;
    bool retry_after = false;
    for (const auto& [name, value] : r.headers) retry_after |= name == "Retry-After";
    EXPECT_TRUE(retry_after);
    EXPECT_FALSE(InLedger(device, batch_id));
  }

  // Read through a connection of its own (the service's may be failing).
  bool InLedger(const TestDevice& device, const wire::BatchId& batch_id) {
    // Find does not use the digest key; the service's open has migrated the ledger already.
    auto ledger =
        IngestLedger::Open((dir_.path() / "data" / "cloudlet.db").string(),
                           crypto::HashKey::FromBytes(Bytes(crypto::HashKey::kBytes)).value());
    EXPECT_TRUE(ledger) << ledger.error().ToString();
    if (!ledger) return false;
    auto row = (*ledger)->Find(device.device_id(), HexEncode(batch_id));
    EXPECT_TRUE(row) << row.error().ToString();
    return row && row->has_value();
  }

  // Items in the forward queue, counted through a connection of its own (the stats serve a
  // cached count here, see backpressure_refresh).
  std::uint64_t ForwardDepth() {
    auto queue =
        store::ForwardQueue::Open((dir_.path() / "data" / "forward.db").string(), clock_, random_);
    EXPECT_TRUE(queue) << queue.error().ToString();
    if (!queue) return 0;
    auto stats = (*queue)->Stats();
    EXPECT_TRUE(stats) << stats.error().ToString();
    return stats ? stats->count : 0;
  }

  json Stats() {
    auto r = client_->Get(url_ + "/api/v1/stats");
    EXPECT_TRUE(r && r->status == 200);
    return json::parse(r->body);
  }

  std::size_t ReadingsOf(const std::string& patient) {
    net::ClientRequest request;
    request.url = url_ + "/api/v1/patients/" + patient + "/readings?from=0";
    request.headers.emplace_back("Authorization",
                                 "Bearer " + node::testing::TokenText(operator_token_));
    auto r = client_->Send(request);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : r.error().ToString());
    return r && r->status == 200 ? json::parse(r->body)["readings"].size() : 0;
  }

  // The group commit histogram: how many groups were stored and how many uploads they held.
  std::pair<double, double> GroupCommits() {
    const auto exposition = net::testing::ParseExposition(client_->Get(url_ + "/metrics")->body);
    EXPECT_TRUE(exposition.errors.empty());
    auto count =
        net::testing::FindSample(exposition, "medmesh_cloudlet_group_commit_uploads_count", {});
    auto sum =
        net::testing::FindSample(exposition, "medmesh_cloudlet_group_commit_uploads_sum", {});
    EXPECT_TRUE(count && sum);
    return {count ? std::stod(*count) : 0, sum ? std::stod(*sum) : 0};
  }

  // Declared first: destroyed after the service, which must close its databases first.
  Vfs vfs_{"faulty-cloudlet"};
  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  SystemClock clock_;
  SystemRandom random_;
  crypto::KeyEncryptionKey kek_ = crypto::KeyEncryptionKey::Generate(random_);
  SecretBytes enrol_token_ = node::testing::RandomToken(random_);
  SecretBytes operator_token_ = node::testing::RandomToken(random_);
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::unique_ptr<CloudletService> service_;
  std::string url_;
};

// --- One upload, one failing database ------------------------------------------------------------

TEST_P(IngestFaultTest, AFailedCommitIsNotAcknowledgedAndItsRetryStoresItOnce) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  const Bytes upload = device->SealReadings(HeartRate(NowMs(), kReadings)).value();
  const wire::BatchId batch_id = device->last_batch_id();

  // Every database of step 10, each with a full disk and with failing fsyncs.
  vfs_.Inject({.op = Vfs::Op::kWrite, .failure = Vfs::Failure::kFull, .file = GetParam()});
  ExpectRefusedAndNotInLedger(Post(upload), *device, batch_id);
  vfs_.Clear();
  vfs_.Inject({.op = Vfs::Op::kSync, .failure = Vfs::Failure::kIoError, .file = GetParam()});
  ExpectRefusedAndNotInLedger(Post(upload), *device, batch_id);
  EXPECT_GE(vfs_.injected(), 2u);
  EXPECT_EQ(Stats()["batches_stored"], 0);

  // Healed: the device's retry is stored, and only once.
  vfs_.Clear();
  net::Response stored = Post(upload);
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(json::parse(stored.body)["status"], "stored");
  EXPECT_TRUE(InLedger(*device, batch_id));
  net::Response again = Post(upload);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["status"], "duplicate");

  const json stats = Stats();
  EXPECT_EQ(stats["batches_stored"], 1);
  EXPECT_EQ(stats["readings_stored"], kReadings);
  EXPECT_EQ(ForwardDepth(), 2u);  // the upload and the enrolment push, once each
  EXPECT_EQ(ReadingsOf("patient-1"), std::size_t{kReadings});

  // And so after a restart.
  StopService();
  StartService();
  EXPECT_EQ(Stats()["batches_stored"], 1);
  EXPECT_EQ(ForwardDepth(), 2u);
  EXPECT_EQ(ReadingsOf("patient-1"), std::size_t{kReadings});
}

TEST_P(IngestFaultTest, AFailedRecordCommitIsNotAcknowledged) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  const Bytes payload = wire::EncodePatientRecord(device->Record("record-1")).value();
  const Bytes upload = device->Seal(wire::ContentType::kPatientRecord, payload).value();
  const wire::BatchId batch_id = device->last_batch_id();

  vfs_.Inject({.op = Vfs::Op::kWrite, .failure = Vfs::Failure::kFull, .file = GetParam()});
  if (GetParam() == "readings.db") {
    // A record is written to forward.db and cloudlet.db only.
    EXPECT_EQ(Post(upload).status, 200);
    EXPECT_EQ(vfs_.injected(), 0u);
  } else {
    ExpectRefusedAndNotInLedger(Post(upload), *device, batch_id);
    EXPECT_GT(vfs_.injected(), 0u);
  }
  vfs_.Clear();
  net::Response stored = Post(upload);
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(json::parse(stored.body)["status"],
            GetParam() == "readings.db" ? "duplicate" : "stored");
  EXPECT_TRUE(InLedger(*device, batch_id));
  const json stats = Stats();
  EXPECT_EQ(stats["records_stored"], 1);
  EXPECT_EQ(ForwardDepth(), 2u);
}

// --- The group commit ----------------------------------------------------------------------------

// Builds a group: the first upload's forward-queue sync is held until the others (one per
// device) wait behind it for the next group commit, then `fault` is armed and everything goes
// on. Returns the answers, in device order (the first one first).
class GroupCommitFaultTest : public IngestFaultTest {
 protected:
  static constexpr int kDevices = 5;

  void SetUp() override {
    IngestFaultTest::SetUp();
    for (int d = 0; d < kDevices; ++d) {
      devices_.push_back(
          EnrolledDevice("watch-" + std::to_string(d), "patient-" + std::to_string(d)));
      uploads_.push_back(devices_.back()->SealReadings(HeartRate(NowMs(), kReadings)).value());
      batch_ids_.push_back(devices_.back()->last_batch_id());
    }
  }

  std::vector<net::Response> SendAsAGroup(const Vfs::Fault& fault) {
    std::vector<net::Response> answers(kDevices);
    std::vector<std::thread> threads;
    auto send = [&](int d) {
      threads.emplace_back([this, &answers, d] {
        auto client = net::HttpClient::Create({}).value();
        answers[d] = Post(*client, url_, uploads_[d]);
      });
    };
    vfs_.PauseSyncs("forward.db");
    send(0);
    EXPECT_TRUE(vfs_.WaitUntilPaused(1, std::chrono::seconds(60)));
    for (int d = 1; d < kDevices; ++d) send(d);
    // The leader's write plus the kDevices - 1 uploads queued behind it.
    testing::WaitUntil(
        [&] { return service_->ingest().QueuedForCommit() >= std::size_t{kDevices}; });
    EXPECT_EQ(service_->ingest().QueuedForCommit(), std::size_t{kDevices});
    vfs_.Inject(fault);
    vfs_.Resume();
    for (auto& t : threads) t.join();
    return answers;
  }

  // Each upload stored exactly once: one ledger row, its readings once, its forward once.
  void ExpectEachStoredOnce() {
    for (int d = 0; d < kDevices; ++d) {
      net::Response again = Post(uploads_[d]);
      ASSERT_EQ(again.status, 200) << again.body;
      EXPECT_EQ(json::parse(again.body)["status"], "duplicate");
      EXPECT_TRUE(InLedger(*devices_[d], batch_ids_[d]));
      EXPECT_EQ(ReadingsOf("patient-" + std::to_string(d)), std::size_t{kReadings});
    }
    const json stats = Stats();
    EXPECT_EQ(stats["batches_stored"], kDevices);
    EXPECT_EQ(ForwardDepth(), 2u * kDevices);  // + the enrolment pushes
  }

  std::vector<std::unique_ptr<TestDevice>> devices_;
  std::vector<Bytes> uploads_;
  std::vector<wire::BatchId> batch_ids_;
};

TEST_P(GroupCommitFaultTest, AFailedGroupIsStoredOneByOne) {
  // The leader's own commit to this file passes; the group's fails once; the members' own
  // commits pass.
  const auto answers = SendAsAGroup({.op = Vfs::Op::kSync,
                                     .failure = Vfs::Failure::kIoError,
                                     .file = GetParam(),
                                     .pass_ops = 1,
                                     .times = 1});
  EXPECT_EQ(vfs_.injected(), 1u);
  for (int d = 0; d < kDevices; ++d) {
    ASSERT_EQ(answers[d].status, 200) << d << ": " << answers[d].body;
    EXPECT_EQ(json::parse(answers[d].body)["status"], "stored");
  }
  // The leader alone, the group of the others (it failed), then each of them alone.
  const auto [groups, uploads] = GroupCommits();
  EXPECT_EQ(groups, 2.0);
  EXPECT_EQ(uploads, double{kDevices});
  ExpectEachStoredOnce();
}

TEST_P(GroupCommitFaultTest, AGroupWhoseMembersFailAloneIsRefusedAndStoredOnceByTheRetries) {
  const auto answers =
      SendAsAGroup({.op = Vfs::Op::kWrite, .failure = Vfs::Failure::kFull, .file = GetParam()});
  // The leader's write was done before the disk filled; its next commits may fail too, so it
  // is stored or refused; every member is refused.
  for (int d = 0; d < kDevices; ++d) {
    if (d == 0 && answers[d].status == 200) continue;
    ExpectRefusedAndNotInLedger(answers[d], *devices_[d], batch_ids_[d]);
  }
  vfs_.Clear();
  for (int d = 0; d < kDevices; ++d) {
    net::Response retried = Post(uploads_[d]);
    ASSERT_EQ(retried.status, 200) << retried.body;
  }
  ExpectEachStoredOnce();
}

INSTANTIATE_TEST_SUITE_P(Databases, IngestFaultTest,
                         ::testing::Values("forward.db", "readings.db", "cloudlet.db"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           return p.param.substr(0, p.param.find('.'));
                         });
INSTANTIATE_TEST_SUITE_P(Databases, GroupCommitFaultTest,
                         ::testing::Values("forward.db", "readings.db", "cloudlet.db"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           return p.param.substr(0, p.param.find('.'));
                         });

}  // namespace
}  // namespace medmesh::cloudlet
