#include "wearable/agent.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/random.h"
#include "crypto/session_seal.h"
#include "crypto/signing.h"
#include "net/error_mapping.h"
#include "testing/fake_clock.h"
#include "wire/certificate.h"
#include "wire/enrolment.h"
#include "wire/envelope.h"

namespace medmesh::wearable {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A cloudlet in memory with the real formats and crypto: certificate, enrolment, session opening,
// duplicate detection by batch id and payload, per-reading plausibility, an upload size limit,
// and refusals through the real net::RejectionResponse. It can be taken down, restarted
// (forgetting its sessions, as a process restart does), made to lose one acknowledgement, to
// throw, or to answer the next uploads with scripted responses (a proxy's, say).
class FakeCloudlet final : public CloudletLink {
 public:
  FakeCloudlet(std::string id, const crypto::Signer& root, Random& random, const Clock& clock)
      : id_(std::move(id)),
        clock_(clock),
        signer_(crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(random))),
        kem_(crypto::HybridPrivateKey::Generate(random)),
        opener_(std::make_unique<crypto::SessionOpener>(kem_.Clone(), clock)) {
    const std::int64_t now = wire::ToUnixMs(clock.Now());
    const wire::Certificate c{wire::CertificateRole::kCloudlet,
                              id_,
                              signer_->public_key(),
                              kem_.public_key(),
                              now - 3'600'000,
                              now + 30LL * 86'400'000};
    auto issued = wire::IssueCertificate(c, root);
    EXPECT_TRUE(issued.has_value());
    certificate_ = *issued;
  }

  Result<Bytes> FetchCertificate() override {
    std::lock_guard lock(mu_);
    ++certificate_fetches;
    if (down) return Unavailable("connection refused");
    return certificate_;
  }

  Result<Bytes> Enrol(ByteView signed_request) override {
    std::lock_guard lock(mu_);
    if (down) return Unavailable("connection refused");
    ++enrolments;
    // Like the cloudlet: the request must be signed by the device key it names, for this
    // cloudlet.
    MEDMESH_ASSIGN_OR_RETURN(wire::Enrolment request, wire::VerifyEnrolmentRequest(signed_request));
    if (request.cloudlet_id != id_) return InvalidArgument("request for another cloudlet");
    const crypto::SigningPublicKey key = request.device_key;
    wire::Enrolment e{request.device_id, request.patient_id, key, id_,
                      wire::ToUnixMs(clock_.Now())};
    if (auto it = devices_.find(e.device_id);
        it != devices_.end() && !(it->second.device_key == key)) {
      return AlreadyExists("device enrolled with another key");
    }
    devices_.insert_or_assign(e.device_id, e);
    return wire::IssueEnrolment(e, *signer_);
  }

  Result<IngestReply> Ingest(ByteView upload) override {
    std::lock_guard lock(mu_);
    ++ingest_calls;
    if (down) return Unavailable("connection refused");
    if (throw_next) {
      throw_next = false;
      throw std::runtime_error("a library failed while holding patient-01's upload");
    }
    if (!script.empty()) {
      net::Response scripted = script.front();
      script.erase(script.begin());
      return IngestReplyFromResponse(scripted);
    }
    if (upload.size() > max_upload_bytes) {
      ++too_large;
      return Refuse(PayloadTooLarge("upload is larger than the cloudlet accepts"), false);
    }
    auto parsed = wire::ParseUpload(upload);
    if (!parsed) return Refuse(InvalidArgument("malformed upload"), true);
    auto device = devices_.find(parsed->header.device_id);
    if (device == devices_.end()) return Refuse(PermissionDenied("not enrolled"), false);
    const std::string batch = HexEncode(parsed->header.batch_id);
    const Bytes bytes(upload.begin(), upload.end());
    if (auto it = stored_bytes_.find(batch); it != stored_bytes_.end() && it->second == bytes) {
      return Ack("duplicate");
    }
    if (!wire::VerifyUpload(*parsed, device->second)) {
      return Refuse(Unauthenticated("signature"), false);
    }
    auto opened = wire::OpenUpload(*parsed, device->second, *opener_);
    if (!opened) return Refuse(Unauthenticated("did not open"), false);
    // As the cloudlet: the same payload resealed is a duplicate, other content a replay.
    if (auto it = stored_payloads_.find(batch); it != stored_payloads_.end()) {
      if (it->second == opened->payload) return Ack("duplicate");
      return Refuse(AlreadyExists("batch id was already used for a different upload"), true);
    }
    if (refuse_next) {
      refuse_next = false;
      return Refuse(InvalidArgument("refused for good"), true);
    }
    std::uint64_t refused = 0;
    if (opened->header.content_type == wire::ContentType::kReadingsBatch) {
      auto readings = wire::ReadingBatchFromUpload(opened->header, opened->payload,
                                                   {.require_plausible = false});
      if (!readings) return Refuse(InvalidArgument("malformed readings"), true);
      const std::int64_t latest_ms = wire::ToUnixMs(clock_.Now()) + 86'400'000;
      for (const wire::Reading& r : readings->readings) {
        if (!wire::CheckPlausible(r) || r.time_ms > latest_ms) {
          ++refused;
          continue;
        }
        ++readings_per_device[opened->header.device_id][{r.time_ms, static_cast<int>(r.kind)}];
        ++readings_stored;
      }
    } else {
      auto record = wire::PatientRecordFromUpload(opened->header, opened->payload);
      if (!record) return Refuse(InvalidArgument("invalid record"), true);
      ++records_stored;
    }
    stored_bytes_[batch] = bytes;
    stored_payloads_[batch] = opened->payload;
    if (lose_next_ack) {
      lose_next_ack = false;
      return Unavailable("connection reset after the commit");
    }
    return Ack("stored", refused);
  }

  std::string_view name() const override { return id_; }

  // A process restart: stored data survives, sessions do not.
  void Restart() {
    std::lock_guard lock(mu_);
    opener_ = std::make_unique<crypto::SessionOpener>(kem_.Clone(), clock_);
  }

  // True if no reading of any device was stored twice.
  bool ExactlyOnce() const {
    for (const auto& [device, readings] : readings_per_device) {
      for (const auto& [key, count] : readings) {
        if (count != 1) return false;
      }
    }
    return true;
  }

  const std::string& id() const { return id_; }
  const Bytes& certificate() const { return certificate_; }

  std::atomic<bool> down{false};
  bool lose_next_ack = false;
  bool refuse_next = false;
  bool throw_next = false;
  std::size_t max_upload_bytes = SIZE_MAX;
  std::vector<net::Response> script;  // answers to the next uploads, before anything else
  int too_large = 0;
  int certificate_fetches = 0;
  int enrolments = 0;
  int ingest_calls = 0;
  std::uint64_t readings_stored = 0;
  int records_stored = 0;
  std::map<std::string, std::map<std::pair<std::int64_t, int>, int>> readings_per_device;

 private:
  // Answers as the real cloudlet does: its JSON acknowledgement, or net::RejectionResponse.
  static IngestReply Ack(std::string_view status, std::uint64_t refused = 0) {
    const nlohmann::json body = {{"status", status}, {"refused", refused}};
    return IngestReplyFromResponse(net::Response::Json(body.dump()));
  }
  static IngestReply Refuse(Error error, bool permanent) {
    return IngestReplyFromResponse(
        net::RejectionResponse(net::Rejection(std::move(error), permanent)));
  }

  std::mutex mu_;
  const std::string id_;
  const Clock& clock_;
  std::unique_ptr<crypto::Signer> signer_;
  crypto::HybridPrivateKey kem_;
  std::unique_ptr<crypto::SessionOpener> opener_;
  Bytes certificate_;
  std::map<std::string, wire::Enrolment> devices_;
  std::map<std::string, Bytes> stored_bytes_;
  std::map<std::string, Bytes> stored_payloads_;
};

// An answer from something in front of the cloudlet: status and body as given.
net::Response ProxyAnswer(int status, std::string body, std::string content_type = "text/html") {
  net::Response r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = std::move(content_type);
  return r;
}

class AgentTest : public ::testing::Test {
 protected:
  AgentTest()
      : root_(crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(random_))),
        near_(std::make_shared<FakeCloudlet>("cloudlet-near", *root_, random_, clock_)),
        far_(std::make_shared<FakeCloudlet>("cloudlet-far", *root_, random_, clock_)) {
    dir_ = fs::temp_directory_path() /
           ("medmesh-agent-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  ~AgentTest() override { fs::remove_all(dir_); }

  static AgentOptions Options() {
    AgentOptions o;
    o.batching.max_readings = 100;
    o.batching.max_age = std::chrono::seconds(10);
    o.outbox.initial_backoff = std::chrono::milliseconds(500);
    o.outbox.max_backoff = std::chrono::seconds(2);
    o.connect_retry = std::chrono::seconds(1);
    o.max_uploads_per_tick = 64;
    return o;
  }

  std::vector<CloudletEndpoint> Endpoints() const {
    return {{near_->id(), near_, 5, 0.9}, {far_->id(), far_, 50, 0.9}};
  }

  static DeviceSpec Spec() { return {"wearable-01", "patient-01", Profile::kHypertension, 7, 0}; }

  std::unique_ptr<DeviceAgent> OpenAgent(const std::optional<DeviceSpec>& spec = std::nullopt,
                                         std::vector<CloudletEndpoint> endpoints = {}) {
    auto agent = DeviceAgent::Open(spec.value_or(Spec()), dir_ / "wearable-01", root_->public_key(),
                                   endpoints.empty() ? Endpoints() : std::move(endpoints), clock_,
                                   random_, Options());
    EXPECT_TRUE(agent.has_value()) << agent.error().ToString();
    return agent ? std::move(*agent) : nullptr;
  }

  // Runs the agent for `duration` of simulated time in steps of `step`.
  void Run(DeviceAgent& agent, std::chrono::seconds duration,
           std::chrono::milliseconds step = std::chrono::seconds(1)) {
    for (auto t = std::chrono::milliseconds(0); t < duration; t += step) {
      clock_.Advance(step);
      Status st = agent.Tick();
      ASSERT_TRUE(st.has_value()) << st.error().ToString();
    }
  }

  // Queues what is batched and ticks until the outbox is empty (at most `limit`). A simulating
  // agent keeps producing meanwhile, so compare acknowledged readings with queued ones.
  void Drain(DeviceAgent& agent, std::chrono::seconds limit = std::chrono::seconds(60)) {
    for (auto t = std::chrono::seconds(0); t < limit; t += std::chrono::seconds(1)) {
      clock_.Advance(std::chrono::seconds(1));
      ASSERT_TRUE(agent.Flush().has_value());
      ASSERT_TRUE(agent.Tick().has_value());
      auto stats = agent.OutboxStats();
      ASSERT_TRUE(stats.has_value());
      if (stats->count == 0) return;
    }
    FAIL() << "the outbox did not drain";
  }

  std::vector<nlohmann::json> JournalLines() const {
    std::vector<nlohmann::json> out;
    std::ifstream in(dir_ / "wearable-01" / "sent.jsonl");
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  testing::FakeClock clock_;
  SystemRandom random_;
  std::unique_ptr<crypto::Signer> root_;
  std::shared_ptr<FakeCloudlet> near_;
  std::shared_ptr<FakeCloudlet> far_;
  fs::path dir_;
};

TEST_F(AgentTest, EnrolsAtTheNearestCertifiedCloudletAndKeepsItsFilesPrivate) {
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(2));
  EXPECT_TRUE(agent->connected());
  EXPECT_EQ(agent->cloudlet_id(), "cloudlet-near");
  EXPECT_EQ(near_->enrolments, 1);
  EXPECT_EQ(far_->enrolments, 0);

  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "wearable-01").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat((dir_ / "wearable-01" / "device.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(fs::exists(dir_ / "wearable-01" / "enrolment-cloudlet-near.rec"));
  EXPECT_TRUE(fs::exists(dir_ / "wearable-01" / "cloudlet-cloudlet-near.cert"));
}

TEST_F(AgentTest, NeverSealsToACloudletTheRootDidNotCertify) {
  // The near cloudlet presents a certificate from another root: the agent must use the far one.
  SystemRandom other_random;
  auto other_root = crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(other_random));
  auto impostor = std::make_shared<FakeCloudlet>("cloudlet-near", *other_root, random_, clock_);
  auto agent =
      OpenAgent(std::nullopt, {{"cloudlet-near", impostor, 1, 1.0}, {far_->id(), far_, 50, 0.9}});
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(30));
  EXPECT_EQ(agent->cloudlet_id(), "cloudlet-far");
  EXPECT_EQ(impostor->enrolments, 0);
  EXPECT_EQ(impostor->ingest_calls, 0);
  EXPECT_GT(far_->readings_stored, 0u);
}

TEST_F(AgentTest, AcertificateForAnotherIdIsRefused) {
  // The far cloudlet's certificate served under the near cloudlet's name and address.
  auto agent = OpenAgent(std::nullopt, {{"cloudlet-other", near_, 1, 1.0}});
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(5));
  EXPECT_FALSE(agent->connected());
  EXPECT_EQ(near_->enrolments, 0);
}

TEST_F(AgentTest, UntrustedCloudletsAreNotChosen) {
  auto agent = OpenAgent(std::nullopt, {{near_->id(), near_, 5, 0.1}, {far_->id(), far_, 50, 0.9}});
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(2));
  EXPECT_EQ(agent->cloudlet_id(), "cloudlet-far");
}

TEST_F(AgentTest, UploadsEveryQueuedReadingExactlyOnceAndTheRecordOnce) {
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(120));
  Drain(*agent);
  const AgentCounters c = agent->counters();
  EXPECT_GT(c.readings_queued, 200u);
  EXPECT_EQ(c.readings_acked, c.readings_queued);
  EXPECT_EQ(near_->readings_stored, c.readings_acked);
  EXPECT_EQ(near_->records_stored, 1);
  EXPECT_EQ(c.records_queued, 1u);
  EXPECT_TRUE(near_->ExactlyOnce());

  std::uint64_t journal_readings = 0;
  int records = 0;
  for (const auto& line : JournalLines()) {
    EXPECT_EQ(line["status"], "stored");
    EXPECT_EQ(line["cloudlet"], "cloudlet-near");
    journal_readings += line["readings"].get<std::uint64_t>();
    if (line["content"] == "patient_record") ++records;
  }
  EXPECT_EQ(journal_readings, c.readings_acked);
  EXPECT_EQ(records, 1);
}

TEST_F(AgentTest, KeepsEverythingWhileTheCloudletIsDownAndDeliversItAfterwards) {
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(20));
  near_->down = true;
  Run(*agent, std::chrono::seconds(120), std::chrono::seconds(4));
  auto stats = agent->OutboxStats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_GT(stats->count, 3u);
  EXPECT_GT(agent->counters().send_failures, 0u);
  near_->down = false;
  Drain(*agent);
  const AgentCounters c = agent->counters();
  EXPECT_EQ(c.readings_acked, c.readings_queued);
  EXPECT_EQ(near_->readings_stored, c.readings_queued);
  EXPECT_TRUE(near_->ExactlyOnce());
}

TEST_F(AgentTest, ReSealsInANewSessionWhenTheCloudletForgotItsSessions) {
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(30));
  // Take the cloudlet down so batches pile up in the old session, then restart it.
  near_->down = true;
  Run(*agent, std::chrono::seconds(60));
  near_->Restart();
  near_->down = false;
  Drain(*agent);
  const AgentCounters c = agent->counters();
  EXPECT_GT(c.reseals, 0u);
  EXPECT_EQ(c.rejected, 0u);
  EXPECT_EQ(near_->readings_stored, c.readings_queued);
  EXPECT_TRUE(near_->ExactlyOnce());
}

TEST_F(AgentTest, ALostAcknowledgementIsRetriedAndRecognisedAsADuplicate) {
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(5));
  near_->lose_next_ack = true;
  Run(*agent, std::chrono::seconds(60));
  Drain(*agent);
  const AgentCounters c = agent->counters();
  EXPECT_EQ(c.duplicates, 1u);
  EXPECT_EQ(near_->readings_stored, c.readings_queued);
  EXPECT_TRUE(near_->ExactlyOnce());
}

TEST_F(AgentTest, NothingQueuedIsLostWhenTheAgentCrashes) {
  std::uint64_t queued_before = 0;
  {
    auto agent = OpenAgent();
    ASSERT_NE(agent, nullptr);
    Run(*agent, std::chrono::seconds(10));
    near_->down = true;
    Run(*agent, std::chrono::seconds(60));
    queued_before = agent->counters().readings_queued;
    // The agent object goes away without a flush, as in a crash: its outbox stays on disk.
  }
  const std::uint64_t stored_before = near_->readings_stored;
  near_->down = false;
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Drain(*agent);
  EXPECT_EQ(near_->enrolments, 1) << "the kept enrolment is reused";
  EXPECT_EQ(near_->records_stored, 1) << "the record is sent once per device";
  EXPECT_LT(stored_before, queued_before) << "some batches were still in the outbox";
  EXPECT_EQ(near_->readings_stored, queued_before + agent->counters().readings_queued);
  EXPECT_TRUE(near_->ExactlyOnce()) << "the restarted simulator does not repeat queued times";
}

TEST_F(AgentTest, AResumedAgentUsesItsKeptCredentialWithoutTheNetwork) {
  {
    auto agent = OpenAgent();
    ASSERT_NE(agent, nullptr);
    Run(*agent, std::chrono::seconds(3));
    ASSERT_TRUE(agent->connected());
  }
  near_->down = true;
  far_->down = true;
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(1));
  EXPECT_TRUE(agent->connected());
  EXPECT_EQ(agent->cloudlet_id(), "cloudlet-near");
}

// Only the cloudlet's explicit, machine-readable "permanent": true removes an upload it did not
// store; the journal says why.
TEST_F(AgentTest, ABatchRefusedForGoodIsJournalledAndRemoved) {
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(2));
  near_->refuse_next = true;
  Run(*agent, std::chrono::seconds(30));
  Drain(*agent);
  EXPECT_EQ(agent->counters().rejected, 1u);
  int rejected = 0;
  for (const auto& line : JournalLines()) rejected += line["status"] == "rejected" ? 1 : 0;
  EXPECT_EQ(rejected, 1);
  auto stats = agent->OutboxStats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->count, 0u);
}

// A misrouted URL, a proxy's 404 or 408, a 4xx page that is not a MedMesh error body: none of
// them says the upload is wrong, so it is kept and delivered once the path is right again.
TEST_F(AgentTest, AnswersThatAreNotTheCloudletsOwnNeverDeleteABatch) {
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(15));
  near_->script = {
      ProxyAnswer(404, "<html><body><h1>404 Not Found</h1>nginx</body></html>"),
      ProxyAnswer(408, ""),
      ProxyAnswer(400, "<html>Bad Request</html>"),
      ProxyAnswer(409, ""),
      ProxyAnswer(400, R"({"error":"invalid_argument","message":"no permanent field"})",
                  "application/json"),
      ProxyAnswer(413, "<html>Request Entity Too Large</html>"),
  };
  Run(*agent, std::chrono::seconds(120));
  Drain(*agent);
  EXPECT_TRUE(near_->script.empty());
  const AgentCounters c = agent->counters();
  EXPECT_EQ(c.rejected, 0u);
  EXPECT_EQ(c.uploads_held, 0u);
  EXPECT_GT(c.send_failures, 0u);
  EXPECT_EQ(c.readings_acked, c.readings_queued);
  EXPECT_EQ(near_->readings_stored, c.readings_queued);
  EXPECT_TRUE(near_->ExactlyOnce());
  for (const auto& line : JournalLines()) EXPECT_NE(line["status"], "rejected") << line;
}

// A MedMesh refusal that is not permanent but that the agent cannot act on is held for an
// operator - out of the outbox so that the uploads behind it flow, visible in the counters and
// HeldStats - and delivered when released.
TEST_F(AgentTest, ARefusalThatIsNotPermanentIsHeldForAnOperatorNotDeleted) {
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(15));
  near_->script = {net::RejectionResponse(
      net::Rejection(FailedPrecondition("this cloudlet is being migrated"), false))};
  Run(*agent, std::chrono::seconds(60));
  Drain(*agent);
  AgentCounters c = agent->counters();
  EXPECT_EQ(c.uploads_held, 1u);
  EXPECT_EQ(c.rejected, 0u);
  EXPECT_GT(c.uploads_acked, 0u) << "the uploads behind the held one went on";
  auto held = agent->HeldStats();
  ASSERT_TRUE(held.has_value());
  EXPECT_EQ(held->count, 1u);
  int held_lines = 0;
  for (const auto& line : JournalLines()) held_lines += line["status"] == "held" ? 1 : 0;
  EXPECT_EQ(held_lines, 1);

  auto released = agent->ReleaseHeld();
  ASSERT_TRUE(released.has_value()) << released.error().ToString();
  EXPECT_EQ(*released, 1u);
  Drain(*agent);
  c = agent->counters();
  EXPECT_EQ(agent->HeldStats()->count, 0u);
  EXPECT_EQ(c.readings_acked, c.readings_queued);
  EXPECT_EQ(near_->readings_stored, c.readings_queued);
  EXPECT_TRUE(near_->ExactlyOnce());
}

// A cloudlet whose upload limit is below the batch size: the batch is split (again and again
// if needed) and every reading arrives once, none is dropped.
TEST_F(AgentTest, ABatchTooLargeForTheCloudletIsSplitAndEveryReadingArrives) {
  DeviceSpec spec = Spec();
  spec.profile.reset();
  auto agent = OpenAgent(spec);
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(2));
  ASSERT_TRUE(agent->connected());
  std::vector<wire::Reading> readings;
  const std::int64_t t0 = wire::ToUnixMs(clock_.Now()) - 3'600'000;
  readings.reserve(100);
  for (int i = 0; i < 100; ++i) {
    // Values that do not compress to nothing, so the size follows the count.
    readings.push_back({t0 + std::int64_t{i} * 997, wire::VitalKind::kHeartRate,
                        (55 + (i * 37) % 60) * std::int64_t{1000}});
  }
  ASSERT_TRUE(agent->AddReadings(readings).has_value());
  ASSERT_TRUE(agent->Flush().has_value());
  // A limit the whole batch and its halves are over, and its quarters under (every upload here
  // opens a new session, so each carries the same KEM overhead).
  auto peek = store::Outbox::Open((dir_ / "wearable-01" / "outbox.db").string(), clock_, random_);
  ASSERT_TRUE(peek.has_value()) << peek.error().ToString();
  auto due = (*peek)->NextDue(clock_.Now(), 1);
  ASSERT_TRUE(due.has_value() && due->size() == 1u);
  ASSERT_TRUE((*peek)->MarkFailed(due->front().id).has_value());
  auto decoded = DecodeOutboxItem(due->front().payload);
  ASSERT_TRUE(decoded.has_value());
  near_->max_upload_bytes = decoded->sealed.size() - decoded->payload.size() * 2 / 3;
  Drain(*agent, std::chrono::seconds(600));
  const AgentCounters c = agent->counters();
  EXPECT_GE(near_->too_large, 3);
  EXPECT_GE(c.splits, 3u) << "the batch, then its halves";
  EXPECT_EQ(c.rejected, 0u);
  EXPECT_EQ(c.uploads_held, 0u);
  EXPECT_EQ(near_->readings_stored, 100u);
  EXPECT_EQ(c.readings_acked, 100u);
  EXPECT_TRUE(near_->ExactlyOnce());
}

// The halves of a split carry batch ids derived from the original's: a split repeated after a
// crash (the halves queued, the original not yet removed) makes the same ids, so the cloudlet
// recognises the halves it has and nothing is stored twice.
TEST_F(AgentTest, ASplitRepeatedAfterACrashStoresNothingTwice) {
  DeviceSpec spec = Spec();
  spec.profile.reset();
  auto agent = OpenAgent(spec);
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(2));
  ASSERT_TRUE(agent->connected());
  std::vector<wire::Reading> readings;
  const std::int64_t t0 = wire::ToUnixMs(clock_.Now()) - 3'600'000;
  readings.reserve(40);
  for (int i = 0; i < 40; ++i) {
    readings.push_back({t0 + std::int64_t{i} * 991, wire::VitalKind::kHeartRate,
                        (55 + (i * 37) % 60) * std::int64_t{1000}});
  }
  ASSERT_TRUE(agent->AddReadings(readings).has_value());
  ASSERT_TRUE(agent->Flush().has_value());

  // Keep a copy of the original outbox entry (a second connection to the same file).
  auto peek = store::Outbox::Open((dir_ / "wearable-01" / "outbox.db").string(), clock_, random_);
  ASSERT_TRUE(peek.has_value()) << peek.error().ToString();
  auto due = (*peek)->NextDue(clock_.Now(), 1);
  ASSERT_TRUE(due.has_value() && due->size() == 1u);
  const store::QueueItem original = due->front();
  ASSERT_TRUE((*peek)->MarkFailed(original.id).has_value());
  auto decoded = DecodeOutboxItem(original.payload);
  ASSERT_TRUE(decoded.has_value());
  near_->max_upload_bytes = decoded->sealed.size() - 1;  // the halves fit, the whole does not

  Drain(*agent);
  EXPECT_EQ(agent->counters().splits, 1u);
  EXPECT_EQ(near_->readings_stored, 40u);

  // As after a crash before the original left the outbox: the agent restarts with the original
  // still queued, sends it, and splits it again.
  agent.reset();
  ASSERT_TRUE((*peek)->Enqueue(original.id, original.payload).has_value());
  agent = OpenAgent(spec);
  ASSERT_NE(agent, nullptr);
  Drain(*agent);
  const AgentCounters c = agent->counters();
  EXPECT_EQ(c.splits, 1u);
  EXPECT_EQ(c.duplicates, 2u);
  EXPECT_EQ(near_->readings_stored, 40u);
  EXPECT_TRUE(near_->ExactlyOnce());
}

// A stray exception below Tick (a link, a library) is caught, counted and reported without the
// patient's id; the agent goes on and loses nothing.
TEST_F(AgentTest, AStrayExceptionNeverLeavesTickAndNothingIsLost) {
  auto agent = OpenAgent();
  ASSERT_NE(agent, nullptr);
  Run(*agent, std::chrono::seconds(15));
  near_->throw_next = true;
  Status failed = OkStatus();
  for (int i = 0; i < 30 && failed; ++i) {
    clock_.Advance(std::chrono::seconds(1));
    Status st = OkStatus();
    EXPECT_NO_THROW(st = agent->Tick());
    if (!st) failed = st;
  }
  ASSERT_FALSE(failed.has_value());
  EXPECT_EQ(failed.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(failed.error().message().find("patient-01"), std::string::npos);
  EXPECT_EQ(agent->counters().tick_exceptions, 1u);
  clock_.Advance(std::chrono::minutes(1));  // the lease of the interrupted upload runs out
  Run(*agent, std::chrono::seconds(30));
  Drain(*agent);
  const AgentCounters c = agent->counters();
  EXPECT_EQ(c.readings_acked, c.readings_queued);
  EXPECT_EQ(near_->readings_stored, c.readings_queued);
  EXPECT_TRUE(near_->ExactlyOnce());
}

// Readings are checked one by one on both sides: the agent leaves out an implausible imported
// value (and sends the rest), and counts what the cloudlet refused in its acknowledgement.
TEST_F(AgentTest, ImplausibleReadingsAreLeftOutOneByOneNeverTheBatch) {
  DeviceSpec spec = Spec();
  spec.profile.reset();
  auto agent = OpenAgent(spec);
  ASSERT_NE(agent, nullptr);
  std::vector<wire::Reading> readings;
  const std::int64_t t0 = wire::ToUnixMs(clock_.Now()) - 3'600'000;
  readings.reserve(50);
  for (int i = 0; i < 50; ++i) {
    readings.push_back({t0 + std::int64_t{i} * 1000, wire::VitalKind::kHeartRate,
                        (60 + i % 20) * std::int64_t{1000}});
  }
  readings[10].value_milli = 500'000;  // 500 beats/min: never leaves the device
  // Plausible to the device, but stamped two days ahead: the cloudlet refuses these two.
  readings[20].time_ms = wire::ToUnixMs(clock_.Now()) + 2LL * 86'400'000;
  readings[21].time_ms = readings[20].time_ms + 1000;
  ASSERT_TRUE(agent->AddReadings(readings).has_value());
  Drain(*agent);
  const AgentCounters c = agent->counters();
  EXPECT_EQ(c.readings_implausible, 1u);
  EXPECT_EQ(c.readings_refused, 2u);
  EXPECT_EQ(c.readings_acked, 47u);
  EXPECT_EQ(near_->readings_stored, 47u);
  EXPECT_EQ(c.rejected, 0u);
}

TEST_F(AgentTest, ImportedReadingsAreUploadedWithoutASimulator) {
  DeviceSpec spec = Spec();
  spec.profile.reset();
  auto agent = OpenAgent(spec);
  ASSERT_NE(agent, nullptr);
  std::vector<wire::Reading> readings;
  const std::int64_t t0 = wire::ToUnixMs(clock_.Now()) - 3'600'000;
  readings.reserve(250);
  for (int i = 0; i < 250; ++i) {
    readings.push_back({t0 + std::int64_t{i} * 1000, wire::VitalKind::kHeartRate,
                        (60 + i % 20) * std::int64_t{1000}});
  }
  ASSERT_TRUE(agent->AddReadings(readings).has_value());
  Drain(*agent);
  EXPECT_EQ(near_->readings_stored, 250u);
  EXPECT_EQ(near_->records_stored, 0);
}

TEST_F(AgentTest, RejectsBadSpecsAndOptions) {
  DeviceSpec bad = Spec();
  bad.device_id = "no spaces allowed";
  EXPECT_FALSE(DeviceAgent::Open(bad, dir_ / "x", root_->public_key(), Endpoints(), clock_, random_,
                                 Options()));
  EXPECT_FALSE(
      DeviceAgent::Open(Spec(), dir_ / "x", root_->public_key(), {}, clock_, random_, Options()));
  auto endpoints = Endpoints();
  endpoints[0].trust = 2;
  EXPECT_FALSE(DeviceAgent::Open(Spec(), dir_ / "x", root_->public_key(), endpoints, clock_,
                                 random_, Options()));
}

TEST(OutboxItemTest, RoundTripsAndRefusesDamage) {
  OutboxItem item;
  item.cloudlet_id = "cloudlet-1";
  item.reseals = 2;
  item.readings = 600;
  item.sealed = {1, 2, 3, 4};
  item.payload = {5, 6};
  const Bytes encoded = EncodeOutboxItem(item);
  auto decoded = DecodeOutboxItem(encoded);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->cloudlet_id, item.cloudlet_id);
  EXPECT_EQ(decoded->reseals, 2);
  EXPECT_EQ(decoded->readings, 600u);
  EXPECT_EQ(decoded->sealed, item.sealed);
  EXPECT_EQ(decoded->payload, item.payload);

  for (std::size_t n = 0; n < encoded.size(); ++n) {
    EXPECT_FALSE(DecodeOutboxItem(ByteView(encoded).first(n))) << "truncated to " << n;
  }
  Bytes trailing = encoded;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeOutboxItem(trailing));
  Bytes magic = encoded;
  magic[0] = 'X';
  auto bad = DecodeOutboxItem(magic);
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("magic"));
}

}  // namespace
}  // namespace medmesh::wearable
