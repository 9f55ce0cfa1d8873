// The cloudlet over loopback HTTP: a real service on port 0 in a temp folder, devices enrolled
// through the API, uploads sealed and signed with the production code.
#include "cloudlet/cloudlet_service.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cloudlet/ingest_ledger.h"
#include "core/log.h"
#include "ids/decision_table.h"
#include "net/error_mapping.h"
#include "net/test_support.h"
#include "node/test_support.h"
#include "store/ids_event_log.h"
#include "testing/wait.h"
#include "wire/readings_codec.h"
#include "wire/record_codec.h"

namespace medmesh::cloudlet {
namespace {

using nlohmann::json;
using node::testing::HeartRate;
using node::testing::TestDevice;

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

class CloudletServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartService(); }

  void StartService(CloudletOptions options = {}) {
    if (options.data_dir.empty()) options.data_dir = dir_.path() / "data";
    options.access_log = false;
    options.backpressure_refresh = std::chrono::milliseconds(0);
    if (options.ingest.max_upload_bytes == wire::kMaxUploadBytes) {
      options.ingest.max_upload_bytes = std::size_t{64} * 1024;
    }
    auto identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(identity) << identity.error().ToString();
    CloudletSecrets secrets{std::move(*identity), kek_.Clone(), enrol_token_.Clone(),
                            operator_token_.Clone()};
    auto service = CloudletService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    url_ = "http://127.0.0.1:" + std::to_string(service_->port());
  }

  void RestartService(CloudletOptions options = {}) {
    service_->Stop(std::chrono::seconds(1));
    service_.reset();
    StartService(std::move(options));
  }

  std::unique_ptr<TestDevice> EnrolledDevice(const std::string& device,
                                             const std::string& patient) {
    auto d = std::make_unique<TestDevice>(device, patient, random_, clock_);
    const Status enrolled = d->Enrol(*client_, url_, enrol_token_, deployment_.Root().key);
    EXPECT_TRUE(enrolled) << enrolled.error().ToString();
    return d;
  }

  net::Response Post(std::string_view path, ByteView body) {
    auto r = client_->Post(url_ + std::string(path), std::string(AsStringView(body)),
                           "application/octet-stream");
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  net::Response GetAsOperator(const std::string& path) {
    net::ClientRequest request;
    request.url = url_ + path;
    request.headers.emplace_back("Authorization",
                                 "Bearer " + node::testing::TokenText(operator_token_));
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  // A device enrolled (its enrolment push is queued) with two uploads stored: three items in
  // the forward queue, which no cloud drains here.
  std::unique_ptr<TestDevice> ThreeQueuedItems() {
    auto device = EnrolledDevice("watch-1", "patient-1");
    for (int i = 0; i < 2; ++i) {
      const Bytes upload =
          device->SealReadings(HeartRate(NowMs() - std::int64_t{i} * 60'000, 10)).value();
      EXPECT_EQ(Post("/api/v1/ingest", upload).status, 200);
    }
    return device;
  }

  json Stats() {
    auto r = client_->Get(url_ + "/api/v1/stats");
    EXPECT_TRUE(r && r->status == 200);
    return json::parse(r->body);
  }

  // The IDS events of one kind recorded so far.
  std::vector<json> Events(std::string_view kind) {
    const net::Response r = GetAsOperator("/api/v1/ids/events?since=0");
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<json> out;
    for (const json& e : json::parse(r.body)) {
      if (e["kind"] == kind) out.push_back(e);
    }
    return out;
  }

  // Expects `response` to be a refusal with this status and error, recorded as an IDS event of
  // `kind` with the client's address.
  void ExpectRejected(const net::Response& response, int status, std::string_view error,
                      std::string_view kind) {
    EXPECT_EQ(response.status, status) << response.body;
    EXPECT_EQ(json::parse(response.body)["error"], error) << response.body;
    const std::vector<json> events = Events(kind);
    ASSERT_FALSE(events.empty()) << "no IDS event of kind " << kind;
    EXPECT_EQ(events.back()["source_ip"], "127.0.0.1");
    EXPECT_EQ(events.back()["node"], "cloudlet-1");
    EXPECT_FALSE(events.back()["detail"].get<std::string>().empty());
  }

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

TEST_F(CloudletServiceTest, OwnsAnAuditLogInItsDataFolderSignedWithItsNodeKey) {
  audit::AuditEntry entry;
  entry.time_ms = NowMs();
  entry.event = "readings.read";
  entry.actor_account_id = "acc_operator";
  entry.actor_role = "operator";
  entry.patient_id = "p-1";
  ASSERT_TRUE(service_->audit().Append(entry));
  RestartService();  // the same audit.db, its chain continued
  ASSERT_TRUE(service_->audit().Append(entry));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "data" / audit::kAuditDbFileName));
  auto identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
  ASSERT_TRUE(identity);
  auto verifier = crypto::NewEd25519Verifier(identity->signing_key.public_key());
  auto report = service_->audit().Verify(*verifier, {.observer = "cloudlet-1"});
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->ok()) << report->message;
  EXPECT_EQ(report->entries, 2u);
}

TEST_F(CloudletServiceTest, StoresAnUploadThenAnswersItsRetryAsDuplicate) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  const Bytes upload = device->SealReadings(HeartRate(NowMs(), 60)).value();

  net::Response first = Post("/api/v1/ingest", upload);
  ASSERT_EQ(first.status, 200) << first.body;
  const json ack = json::parse(first.body);
  EXPECT_EQ(ack["status"], "stored");
  EXPECT_EQ(ack["batch_id"], HexEncode(device->last_batch_id()));

  net::Response again = Post("/api/v1/ingest", upload);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["status"], "duplicate");

  const json stats = Stats();
  EXPECT_EQ(stats["node"], "cloudlet-1");
  EXPECT_EQ(stats["batches_stored"], 1);
  EXPECT_EQ(stats["readings_stored"], 60);
  EXPECT_EQ(stats["duplicates"], 1);
  EXPECT_EQ(json::parse(GetAsOperator("/api/v1/stats").body)["rejected"], 0);
  EXPECT_EQ(stats["forward_queue_depth"], 2);  // the upload and the enrolment push

  const net::Response readings = GetAsOperator("/api/v1/patients/patient-1/readings?from=0");
  ASSERT_EQ(readings.status, 200) << readings.body;
  const json body = json::parse(readings.body);
  ASSERT_EQ(body["readings"].size(), 60u);
  EXPECT_TRUE(body["next_cursor"].is_null());
  EXPECT_EQ(body["readings"][59]["kind"], "heart_rate");
  EXPECT_EQ(body["readings"][59]["unit"], "/min");
  EXPECT_DOUBLE_EQ(body["readings"][59]["value"].get<double>(), 72.0);  // the oldest, last

  const auto metrics = net::testing::ParseExposition(client_->Get(url_ + "/metrics").value().body);
  EXPECT_TRUE(metrics.errors.empty());
  EXPECT_EQ(net::testing::FindSample(metrics, "medmesh_cloudlet_ingest_total",
                                     {{"content_type", "readings_batch"}, {"status", "stored"}}),
            "1");
  EXPECT_EQ(net::testing::FindSample(metrics, "medmesh_cloudlet_readings_stored_total", {}), "60");
}

// Anyone may read /api/v1/stats: it names no patient or device and leaves out what tells a
// prober how much of its probing was seen; the operator token adds those counts.
TEST_F(CloudletServiceTest, AnonymousStatsShowFlowCountsOnlyAndTheOperatorSeesMore) {
  auto device = EnrolledDevice("watch-stats-7", "patient-stats-7");
  ASSERT_EQ(Post("/api/v1/ingest", device->SealReadings(HeartRate(NowMs(), 10)).value()).status,
            200);
  ASSERT_EQ(Post("/api/v1/ingest", AsBytes(std::string_view("not an envelope"))).status, 400);

  auto anonymous = client_->Get(url_ + "/api/v1/stats");
  ASSERT_TRUE(anonymous);
  ASSERT_EQ(anonymous->status, 200) << anonymous->body;
  EXPECT_EQ(anonymous->body.find("watch-stats-7"), std::string::npos);
  EXPECT_EQ(anonymous->body.find("patient-stats-7"), std::string::npos);
  const json view = json::parse(anonymous->body);
  std::set<std::string> keys;
  for (const auto& [key, value] : view.items()) {
    keys.insert(key);
    if (key != "node") {
      EXPECT_TRUE(value.is_number_unsigned()) << key;
    }
  }
  EXPECT_EQ(keys,
            (std::set<std::string>{"node", "batches_stored", "readings_stored", "records_stored",
                                   "duplicates", "forward_queue_depth", "forwarded"}));

  const net::Response full = GetAsOperator("/api/v1/stats");
  ASSERT_EQ(full.status, 200) << full.body;
  const json body = json::parse(full.body);
  EXPECT_EQ(body["readings_stored"], 10);
  EXPECT_EQ(body["rejected"], 1);
  EXPECT_EQ(body["ids_events"], 1);
  EXPECT_EQ(full.body.find("watch-stats-7"), std::string::npos);

  // A wrong token is refused (and recorded), not served the anonymous view.
  net::ClientRequest wrong;
  wrong.url = url_ + "/api/v1/stats";
  wrong.headers.emplace_back("Authorization", "Bearer not-the-token");
  auto refused = client_->Send(wrong);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(json::parse(GetAsOperator("/api/v1/stats").body)["ids_events"], 2);
  // So is a session cookie: without a cloud this cloudlet has no sessions.
  wrong.headers = {{"Cookie", "mm_session=mm1.e30.AAAA"}};
  refused = client_->Send(wrong);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
}

// Without a cloud there is no one to log in with: the session routes say so.
TEST_F(CloudletServiceTest, SessionRoutesWithoutACloudRefuse) {
  net::ClientRequest login;
  login.method = net::Method::kPost;
  login.url = url_ + "/api/v1/session";
  login.content_type = "application/json";
  login.body = R"({"email":"a@example.test","password":"correct horse battery"})";
  auto r = client_->Send(login);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->body;
  for (const net::Method method : {net::Method::kGet, net::Method::kDelete}) {
    net::ClientRequest request;
    request.method = method;
    request.url = url_ + "/api/v1/session";
    r = client_->Send(request);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << r->body;
  }
}

// Stats come from counters kept in memory: they answer while an IDS append holds the event
// log's lock, waiting for the database (another connection holds its write lock). Before, the
// route ran COUNT(*) over ids_events under that lock and waited for the append.
TEST_F(CloudletServiceTest, StatsAnswerWhileTheIdsLogWaitsForItsDatabase) {
  SQLite::Database other((dir_.path() / "data" / "ids.db").string(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  std::atomic<bool> finished{false};
  std::thread prober([&] {
    // No token: an auth failure, recorded in the IDS log (which waits for the write lock).
    auto client = net::HttpClient::Create({}).value();
    (void)client->Get(url_ + "/api/v1/ids/events");
    finished = true;
  });
  // The IDS metric is counted just before the append: wait for it (the parser, not strings).
  const auto ids_counted = [&] {
    const auto parsed = net::testing::ParseExposition(service_->metrics().Render());
    return net::testing::FindSample(parsed, "medmesh_cloudlet_ids_events_total",
                                    {{"kind", "auth_failure"}})
        .has_value();
  };
  while (!ids_counted()) std::this_thread::yield();
  auto stats = client_->Get(url_ + "/api/v1/stats");
  const bool answered_first = !finished;
  other.exec("ROLLBACK");
  prober.join();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->status, 200) << stats->body;
  EXPECT_TRUE(answered_first) << "the stats waited for the IDS log";
  // Had the stats waited for the log's lock, the append would have given up (busy timeout)
  // before they were answered, and the event would be lost.
  EXPECT_EQ(Events("auth_failure").size(), 1u);
}

TEST_F(CloudletServiceTest, ConcurrentUploadsAreEachStoredOnceThroughGroupCommits) {
  constexpr int kDevices = 8;
  constexpr int kUploads = 5;
  std::vector<std::unique_ptr<TestDevice>> devices;
  std::vector<std::vector<Bytes>> uploads(kDevices);
  for (int d = 0; d < kDevices; ++d) {
    devices.push_back(EnrolledDevice("watch-" + std::to_string(d), "patient-" + std::to_string(d)));
    for (int i = 0; i < kUploads; ++i) {
      uploads[d].push_back(
          devices.back()
              ->SealReadings(HeartRate(NowMs() - (kUploads - i) * std::int64_t{60'000}, 30))
              .value());
    }
  }
  // Every device sends its uploads in order, all devices at once; then all of it again.
  auto send_all = [&](std::string_view expected) {
    std::vector<std::thread> threads;
    threads.reserve(kDevices);
    for (int d = 0; d < kDevices; ++d) {
      threads.emplace_back([&, d] {
        auto client = net::HttpClient::Create({}).value();
        for (const Bytes& upload : uploads[d]) {
          auto r = client->Post(url_ + "/api/v1/ingest", std::string(AsStringView(upload)),
                                "application/octet-stream");
          ASSERT_TRUE(r) << r.error().ToString();
          ASSERT_EQ(r->status, 200) << r->body;
          EXPECT_EQ(json::parse(r->body)["status"], expected);
        }
      });
    }
    for (auto& t : threads) t.join();
  };
  send_all("stored");
  send_all("duplicate");

  const json stats = Stats();
  EXPECT_EQ(stats["batches_stored"], kDevices * kUploads);
  EXPECT_EQ(stats["readings_stored"], kDevices * kUploads * 30);
  EXPECT_EQ(stats["duplicates"], kDevices * kUploads);
  EXPECT_EQ(stats["forward_queue_depth"], kDevices * kUploads + kDevices);  // + enrolment pushes
  const net::Response readings = GetAsOperator("/api/v1/patients/patient-3/readings?from=0");
  ASSERT_EQ(readings.status, 200) << readings.body;
  EXPECT_EQ(json::parse(readings.body)["readings"].size(), std::size_t{kUploads} * 30);
  // Every stored upload went through exactly one group commit (grouped or alone).
  const auto metrics = net::testing::ParseExposition(client_->Get(url_ + "/metrics").value().body);
  EXPECT_EQ(net::testing::FindSample(metrics, "medmesh_cloudlet_group_commit_uploads_sum", {}),
            std::to_string(kDevices * kUploads));
}

TEST_F(CloudletServiceTest, AcknowledgedUploadsSurviveARestart) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  const Bytes upload = device->SealReadings(HeartRate(NowMs(), 30)).value();
  ASSERT_EQ(Post("/api/v1/ingest", upload).status, 200);
  RestartService();
  // The enrolment, the ledger and the readings are on disk; the retry is still a duplicate.
  const net::Response again = Post("/api/v1/ingest", upload);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["status"], "duplicate");
  EXPECT_EQ(Stats()["readings_stored"], 30);
  // The session was in memory: a new batch of the old session no longer opens, a new one does.
  const Bytes stale = device->SealReadings(HeartRate(NowMs() + 60'000, 30)).value();
  // Recorded as a session the cloudlet forgot, not as tampering (the signature verified).
  ExpectRejected(Post("/api/v1/ingest", stale), 401, "unauthenticated", "unknown_session");
  EXPECT_TRUE(Events("decrypt_failure").empty());
  device->Rekey();
  const Bytes fresh = device->SealReadings(HeartRate(NowMs() + 60'000, 30)).value();
  EXPECT_EQ(Post("/api/v1/ingest", fresh).status, 200);
  // The restart's benign noise raised no alert and blocked nobody (docs/ids.md).
  const net::Response alerts = GetAsOperator("/api/v1/ids/alerts");
  ASSERT_EQ(alerts.status, 200) << alerts.body;
  EXPECT_TRUE(json::parse(alerts.body)["alerts"].empty());
  EXPECT_EQ(json::parse(GetAsOperator("/api/v1/ids/decisions").body)["decisions"].size(), 0u);
}

TEST_F(CloudletServiceTest, EnrolmentIsIdempotentAndRefusesAnotherKey) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  // Again with the same key: fine.
  EXPECT_TRUE(device->Enrol(*client_, url_, enrol_token_, deployment_.Root().key));
  // The same device id with another key: 409.
  TestDevice impostor("watch-1", "patient-1", random_, clock_);
  const Status refused = impostor.Enrol(*client_, url_, enrol_token_, deployment_.Root().key);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kAlreadyExists);
  // A wrong token: 401 and an IDS event.
  TestDevice other("watch-2", "patient-2", random_, clock_);
  const Status unauthorised = other.Enrol(*client_, url_, operator_token_, deployment_.Root().key);
  ASSERT_FALSE(unauthorised);
  EXPECT_EQ(unauthorised.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(Events("auth_failure").size(), 1u);
  // Malformed requests.
  net::ClientRequest request;
  request.method = net::Method::kPost;
  request.url = url_ + "/api/v1/enrol";
  request.headers.emplace_back("Authorization", "Bearer " + node::testing::TokenText(enrol_token_));
  request.content_type = "application/json";
  for (const char* body : {R"({"device_id": "d", "patient_id": "p"})", R"({"request": "00"})",
                           R"({"request": "zz"})", "[]"}) {
    request.body = body;
    EXPECT_EQ(client_->Send(request).value().status, 400) << body;
  }
}

// The enrol body is parsed strictly: with duplicate names the last would win, so they are
// refused, as are members the schema does not have (the old body of ids and a key without the
// device's signature among them), members of the wrong type and bodies not sent as JSON.
TEST_F(CloudletServiceTest, EnrolRefusesDuplicateNamesUnknownFieldsAndOtherContentTypes) {
  TestDevice device("watch-1", "patient-1", random_, clock_);
  ASSERT_TRUE(device.UseCloudlet(*client_, url_, deployment_.Root().key));
  const std::string key = HexEncode(device.signer().public_key().bytes());
  const std::string signed_request = HexEncode(device.EnrolmentRequest("cloudlet-1").value());
  TestDevice other("watch-0", "patient-1", random_, clock_);
  const std::string other_request = HexEncode(other.EnrolmentRequest("cloudlet-1").value());
  net::ClientRequest request;
  request.method = net::Method::kPost;
  request.url = url_ + "/api/v1/enrol";
  request.headers.emplace_back("Authorization", "Bearer " + node::testing::TokenText(enrol_token_));
  auto send = [&](const std::string& body, const std::string& content_type) {
    request.body = body;
    request.content_type = content_type;
    return client_->Send(request).value();
  };
  const std::string good = R"({"request":")" + signed_request + "\"}";
  for (const std::string& body :
       {R"({"request":")" + other_request + R"(","request":")" + signed_request + "\"}",
        R"({"request":")" + signed_request + R"(","role":"admin"})",
        R"({"device_id":"watch-1","patient_id":"patient-1","device_public_key":")" + key + "\"}",
        R"({"request":[")" + signed_request + "\"]}", std::string(R"({"request":7})")}) {
    const net::Response r = send(body, "application/json");
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(json::parse(r.body)["error"], "invalid_argument") << r.body;
  }
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded",
                           "application/octet-stream", "application/json; charset=latin1"}) {
    const net::Response r = send(good, type);
    EXPECT_EQ(r.status, 415) << type;
    EXPECT_EQ(json::parse(r.body)["error"], "unsupported_media_type") << r.body;
  }
  EXPECT_EQ(Events("malformed").size(), 9u);
  // The well-formed request, with a charset parameter, is taken.
  EXPECT_EQ(send(good, "application/json; charset=utf-8").status, 200);
}

TEST_F(CloudletServiceTest, ForgedSignatureIsRefusedWithAnIdsEvent) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  Bytes upload = device->SealReadings(HeartRate(NowMs(), 10)).value();
  upload.back() ^= 0x01;  // the last byte of the device's signature
  ExpectRejected(Post("/api/v1/ingest", upload), 401, "unauthenticated", "forged_signature");
  // Signed by another key than the enrolled one.
  TestDevice impostor("watch-1", "patient-1", random_, clock_);
  ASSERT_TRUE(impostor.UseCloudlet(*client_, url_, deployment_.Root().key));
  ExpectRejected(Post("/api/v1/ingest", impostor.SealReadings(HeartRate(NowMs(), 10)).value()), 401,
                 "unauthenticated", "forged_signature");
  EXPECT_EQ(Events("forged_signature").size(), 2u);
  EXPECT_EQ(Stats()["batches_stored"], 0);
}

// Issue 7 item 6: a flood of forged uploads from one source costs O(1) IDS rows, and every
// refusal is still counted.
TEST_F(CloudletServiceTest, AForgedSignatureFloodIsAggregatedInTheIdsLog) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  Bytes upload = device->SealReadings(HeartRate(NowMs(), 10)).value();
  upload.back() ^= 0x01;
  constexpr int kFlood = 200;
  for (int i = 0; i < kFlood; ++i) {
    ASSERT_EQ(Post("/api/v1/ingest", upload).status, 401) << i;
  }
  EXPECT_EQ(json::parse(GetAsOperator("/api/v1/stats").body)["ids_events"], kFlood);
  const std::vector<json> rows = Events("forged_signature");
  std::uint64_t counted = 0;
  for (const json& row : rows) {
    EXPECT_EQ(row["source_ip"], "127.0.0.1");
    EXPECT_GE(row["last_time_ms"].get<std::int64_t>(), row["time_ms"].get<std::int64_t>());
    counted += row["count"].get<std::uint64_t>();
  }
  EXPECT_EQ(counted, static_cast<std::uint64_t>(kFlood));
  // The source's burst of single rows, then aggregates (one per minute the flood lasted).
  EXPECT_LT(rows.size(), static_cast<std::size_t>(kFlood) / 4) << rows.size();
}

// The IDS end to end (docs/ids.md): forged uploads from one address get it blocked before its
// bodies are read, everyone else is served, the operator sees the alert and the decision and
// revokes it.
TEST_F(CloudletServiceTest, ForgedUploadsGetTheirSourceBlockedUntilAnOperatorRevokes) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  Bytes upload = device->SealReadings(HeartRate(NowMs(), 10)).value();
  upload.back() ^= 0x01;
  const std::string forged =
      "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/octet-stream\r\nContent-Length: " +
      std::to_string(upload.size()) + "\r\n\r\n" + std::string(AsStringView(upload));
  const auto send_from = [&](std::string_view from, const std::string& request) {
    net::testing::RawConnection c(service_->port(), std::chrono::seconds(10), from);
    EXPECT_TRUE(c.connected() && c.Send(request));
    auto reply = c.Read();
    return reply ? reply->status : 0;
  };
  int refused = 0;
  for (int i = 0; i < 6; ++i) refused += send_from("127.0.0.9", forged) == 401 ? 1 : 0;
  EXPECT_EQ(refused, 6);
  EXPECT_EQ(send_from("127.0.0.9", forged), 403);
  EXPECT_EQ(send_from("127.0.0.9", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 403);
  // The device itself, from another address, is served (in a new session: the forged batch
  // opened none).
  device->Rekey();
  const Bytes good = device->SealReadings(HeartRate(NowMs() + 1000, 10)).value();
  EXPECT_EQ(Post("/api/v1/ingest", good).status, 200);

  const json alerts = json::parse(GetAsOperator("/api/v1/ids/alerts").body);
  ASSERT_EQ(alerts["alerts"].size(), 1u) << alerts.dump();
  EXPECT_EQ(alerts["alerts"][0]["detector"], "device_batches");
  EXPECT_EQ(alerts["alerts"][0]["scope"]["value"], "127.0.0.9");
  EXPECT_GE(alerts["blocked_requests"].get<int>(), 2);
  const json decisions = json::parse(GetAsOperator("/api/v1/ids/decisions").body);
  ASSERT_EQ(decisions["decisions"].size(), 1u);
  EXPECT_EQ(decisions["decisions"][0]["origin"], "cloudlet-1");
  EXPECT_EQ(decisions["decisions"][0]["action"], "block");
  const std::string id = decisions["decisions"][0]["id"];

  // Decisions survive a restart.
  RestartService();
  EXPECT_EQ(send_from("127.0.0.9", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 403);
  net::ClientRequest revoke;
  revoke.method = net::Method::kPost;
  revoke.url = url_ + "/api/v1/ids/decisions/" + id + "/revocation";
  revoke.headers.emplace_back("Authorization",
                              "Bearer " + node::testing::TokenText(operator_token_));
  ASSERT_EQ(client_->Send(revoke).value().status, 200);
  EXPECT_EQ(send_from("127.0.0.9", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 200);
}

// The request classifier on a running cloudlet (ids/payload_scoring.h, ADR 0041): injection
// payloads in query strings and JSON bodies from one address are scored as payloads and the
// payloads detector blocks that address; a user's plain requests with free text, from another
// address, are served and leave nothing behind. Without a model the node starts with scoring off.
TEST_F(CloudletServiceTest, InjectionPayloadsGetTheirSourceBlockedByTheRequestClassifier) {
  const json off = json::parse(GetAsOperator("/api/v1/ids/alerts").body);
  EXPECT_FALSE(off["payload_scorer"]["enabled"].get<bool>());
  CloudletOptions options;
  options.ids.models_dir = MEDMESH_IDS_MODELS_DIR;
  RestartService(std::move(options));
  const json on = json::parse(GetAsOperator("/api/v1/ids/alerts").body);
  EXPECT_TRUE(on["payload_scorer"]["enabled"].get<bool>());
  EXPECT_EQ(on["payload_scorer"]["model"], "http-v2");

  const auto send_from = [&](std::string_view from, const std::string& request) {
    net::testing::RawConnection c(service_->port(), std::chrono::seconds(10), from);
    EXPECT_TRUE(c.connected() && c.Send(request));
    auto reply = c.Read();
    return reply ? reply->status : 0;
  };
  const auto get = [](const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  };
  const auto post_json = [](const std::string& target, const std::string& body) {
    return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  // A user, before, between and after the attack: free text, an apostrophe in an e-mail.
  const auto user = [&] {
    EXPECT_EQ(send_from("127.0.0.32", get("/api/v1/stats?from=2026-12-01&note=chest+pain%2C+"
                                          "it%27s+3%2F10+%28worse+at+night%29")),
              200);
    // No cloud to log in with: refused, but not for its content.
    EXPECT_EQ(send_from("127.0.0.32",
                        post_json("/api/v1/session",
                                  R"({"email":"ann.o'brien@example.org","password":"x' or 1=1"})")),
              503);
  };
  user();
  // The attacker: two query payloads, two JSON ones, one more query; answered as usual (a
  // score alone refuses nothing), then blocked.
  EXPECT_EQ(send_from("127.0.0.31", get("/api/v1/stats?q=%27%20OR%20%271%27%3D%271%27%20--")), 200);
  EXPECT_EQ(send_from("127.0.0.31", get("/api/v1/stats?sort=..%2F..%2F..%2F..%2Fetc%2Fpasswd")),
            200);
  user();
  EXPECT_NE(send_from("127.0.0.31",
                      post_json("/api/v1/session", R"({"email":"<script>alert(1)</script>"})")),
            403);
  EXPECT_NE(
      send_from("127.0.0.31", post_json("/api/v1/session",
                                        R"({"email":"' UNION SELECT token FROM sessions --"})")),
      403);
  EXPECT_EQ(send_from("127.0.0.31", get("/api/v1/stats?q=%3B%20cat%20%2Fetc%2Fpasswd")), 200);
  EXPECT_EQ(send_from("127.0.0.31", get("/api/v1/stats")), 403);
  user();

  const json alerts = json::parse(GetAsOperator("/api/v1/ids/alerts").body);
  ASSERT_EQ(alerts["alerts"].size(), 1u) << alerts.dump();
  EXPECT_EQ(alerts["alerts"][0]["detector"], "payloads");
  EXPECT_EQ(alerts["alerts"][0]["scope"]["value"], "127.0.0.31");
  EXPECT_EQ(alerts["payload_scorer"]["flagged_requests"], 5);
  const json decisions = json::parse(GetAsOperator("/api/v1/ids/decisions").body);
  ASSERT_EQ(decisions["decisions"].size(), 1u);
  EXPECT_EQ(decisions["decisions"][0]["action"], "block");
  EXPECT_EQ(decisions["decisions"][0]["scope"]["value"], "127.0.0.31");
  const auto metrics = net::testing::ParseExposition(service_->metrics().Render());
  EXPECT_EQ(net::testing::FindSample(metrics, "medmesh_ids_payload_scorer_enabled",
                                     {{"scorer", "http-v2"}}),
            "1");
  EXPECT_EQ(
      net::testing::FindSample(metrics, "medmesh_ids_payload_flagged_total", {{"part", "body"}}),
      "2");
}

// A device-scope block (an operator's or the mesh's) refuses that device's batches at ingest,
// and only that device's: its address and other devices are served.
TEST_F(CloudletServiceTest, ABlockedDevicesBatchesAreRefusedAtIngest) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  auto other = EnrolledDevice("watch-2", "patient-2");
  ASSERT_EQ(Post("/api/v1/ingest", device->SealReadings(HeartRate(NowMs(), 10)).value()).status,
            200);
  service_->Stop(std::chrono::seconds(1));
  service_.reset();
  {
    auto table = ids::DecisionTable::Open((dir_.path() / "data" / "decisions.db").string(),
                                          "cloudlet-1", clock_, random_);
    ASSERT_TRUE(table) << table.error().ToString();
    // Field by field: GCC 12 at -O3 (release preset) warns maybe-uninitialized about the
    // strings of an aggregate-initialised Proposal.
    ids::Proposal lost;
    lost.detector = "operator";
    lost.detector_version = 1;
    lost.scope.kind = ids::ScopeKind::kDevice;
    lost.scope.value = "watch-1";
    lost.action = ids::Action::kBlock;
    lost.reason = "lost watch";
    auto blocked = (*table)->Impose(lost);
    ASSERT_TRUE(blocked && *blocked);
  }
  StartService();
  device->Rekey();  // the restart forgot its session
  other->Rekey();
  const net::Response refused =
      Post("/api/v1/ingest", device->SealReadings(HeartRate(NowMs() + 1000, 10)).value());
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(json::parse(refused.body)["error"], "permission_denied");
  EXPECT_EQ(
      Post("/api/v1/ingest", other->SealReadings(HeartRate(NowMs() + 1000, 10)).value()).status,
      200);
  EXPECT_EQ(client_->Get(url_ + "/healthz").value().status, 200);
}

// The service's maintenance thread writes aggregates whose window closed, with no reader asking.
TEST_F(CloudletServiceTest, TheMaintenanceThreadWritesClosedIdsAggregates) {
  CloudletOptions options;
  options.retention.maintenance_interval = std::chrono::seconds(1);
  options.ids_aggregation.source_burst = 0;  // every event aggregated
  options.ids_aggregation.window = std::chrono::milliseconds(1);
  RestartService(std::move(options));
  auto device = EnrolledDevice("watch-1", "patient-1");
  Bytes upload = device->SealReadings(HeartRate(NowMs(), 10)).value();
  upload.back() ^= 0x01;
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Post("/api/v1/ingest", upload).status, 401);
  // Read the file behind the service's back (Query would write the aggregates itself).
  SQLite::Database raw((dir_.path() / "data" / "ids.db").string(), SQLite::OPEN_READONLY);
  const auto stored = [&] {
    SQLite::Statement st(raw, "SELECT COALESCE(SUM(count), 0) FROM ids_events");
    st.executeStep();
    return st.getColumn(0).getInt64();
  };
  testing::WaitUntil([&] { return stored() >= 5; });
  EXPECT_EQ(stored(), 5);
}

TEST_F(CloudletServiceTest, UnknownDeviceIsRefusedWithAnIdsEvent) {
  TestDevice stranger("watch-9", "patient-9", random_, clock_);
  ASSERT_TRUE(stranger.UseCloudlet(*client_, url_, deployment_.Root().key));
  ExpectRejected(Post("/api/v1/ingest", stranger.SealReadings(HeartRate(NowMs(), 10)).value()), 403,
                 "permission_denied", "unknown_device");
  EXPECT_EQ(Events("unknown_device").back()["device_id"], "watch-9");
}

TEST_F(CloudletServiceTest, AWithdrawnDeviceIsRefusedAtOnceAndCannotEnrolAgain) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  ASSERT_EQ(
      Post("/api/v1/ingest", device->SealReadings(HeartRate(NowMs() - 60'000, 5)).value()).status,
      200);
  auto withdraw = [&](const std::string& id, const SecretBytes& token) {
    net::ClientRequest request;
    request.method = net::Method::kPost;
    request.url = url_ + "/api/v1/devices/" + id + "/withdrawal";
    request.headers.emplace_back("Authorization", "Bearer " + node::testing::TokenText(token));
    return client_->Send(request).value();
  };
  EXPECT_EQ(withdraw("watch-1", enrol_token_).status, 401);
  EXPECT_EQ(withdraw("watch-9", operator_token_).status, 404);
  const net::Response done = withdraw("watch-1", operator_token_);
  ASSERT_EQ(done.status, 200) << done.body;
  EXPECT_EQ(json::parse(done.body)["status"], "withdrawn");
  EXPECT_EQ(json::parse(withdraw("watch-1", operator_token_).body)["status"], "unchanged");
  ExpectRejected(Post("/api/v1/ingest", device->SealReadings(HeartRate(NowMs(), 5)).value()), 403,
                 "permission_denied", "unknown_device");
  const Status again = device->Enrol(*client_, url_, enrol_token_, deployment_.Root().key);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kFailedPrecondition);
}

// Log lines are shipped and read more widely than the data: they name devices by keyed
// references, and patients not at all.
TEST_F(CloudletServiceTest, LogLinesCarryNoDeviceOrPatientIds) {
  const std::string log_path = (dir_.path() / "cloudlet.log").string();
  log::SetFile(log_path);
  auto device = EnrolledDevice("watch-logged", "patient-logged");
  std::vector<wire::Reading> implausible = HeartRate(NowMs(), 5);
  implausible[2].value_milli = 500'000;
  // One implausible reading is left out on its own (an out_of_range IDS event and log line).
  const net::Response partly = Post("/api/v1/ingest", device->SealReadings(implausible).value());
  ASSERT_EQ(partly.status, 200) << partly.body;
  EXPECT_EQ(json::parse(partly.body)["refused"], 1);
  TestDevice stranger("watch-stranger", "patient-stranger", random_, clock_);
  ASSERT_TRUE(stranger.UseCloudlet(*client_, url_, deployment_.Root().key));
  ExpectRejected(Post("/api/v1/ingest", stranger.SealReadings(HeartRate(NowMs(), 3)).value()), 403,
                 "permission_denied", "unknown_device");
  TestDevice impostor("watch-logged", "patient-logged", random_, clock_);
  EXPECT_FALSE(impostor.Enrol(*client_, url_, enrol_token_, deployment_.Root().key));

  std::ifstream in(log_path);
  std::string line;
  std::vector<std::string> enrolled;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.find("watch-"), std::string::npos) << line;
    EXPECT_EQ(line.find("patient-"), std::string::npos) << line;
    const json event = json::parse(line);
    if (event["event"] == "cloudlet_device_enrolled") enrolled.push_back(event["device"]);
  }
  EXPECT_GE(lines, 3);
  ASSERT_EQ(enrolled.size(), 1u);
  EXPECT_EQ(enrolled[0].size(), 16u);
  EXPECT_TRUE(HexDecode(enrolled[0]).has_value());
}

TEST_F(CloudletServiceTest, UploadForAnotherPatientIsRefused) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  TestDevice liar("watch-1", "patient-2", random_, clock_);
  ASSERT_TRUE(liar.UseCloudlet(*client_, url_, deployment_.Root().key));
  const net::Response r = Post("/api/v1/ingest", liar.SealReadings(HeartRate(NowMs(), 5)).value());
  EXPECT_EQ(r.status, 403) << r.body;
}

TEST_F(CloudletServiceTest, ReplayOfABatchIdWithOtherContentIsRefused) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  ASSERT_EQ(Post("/api/v1/ingest", device->SealReadings(HeartRate(NowMs(), 10)).value()).status,
            200);
  const wire::BatchId reused = device->last_batch_id();
  const Bytes replay = device->SealReadings(HeartRate(NowMs(), 20, 80000), reused).value();
  ExpectRejected(Post("/api/v1/ingest", replay), 409, "already_exists", "replay");
  EXPECT_EQ(Stats()["readings_stored"], 10);
}

TEST_F(CloudletServiceTest, AResealedCopyOfAStoredBatchIsADuplicateNotAReplay) {
  // The cloudlet stored a batch, then restarted before the device saw the acknowledgement: the
  // device reseals the same readings under the same batch id in a new session.
  auto device = EnrolledDevice("watch-1", "patient-1");
  const std::vector<wire::Reading> readings = HeartRate(NowMs(), 30);
  ASSERT_EQ(Post("/api/v1/ingest", device->SealReadings(readings).value()).status, 200);
  const wire::BatchId batch = device->last_batch_id();
  RestartService();
  device->Rekey();
  const net::Response resealed =
      Post("/api/v1/ingest", device->SealReadings(readings, batch).value());
  ASSERT_EQ(resealed.status, 200) << resealed.body;
  EXPECT_EQ(json::parse(resealed.body)["status"], "duplicate");
  EXPECT_TRUE(Events("replay").empty());
  // What told the copies apart is a keyed digest (its key derived from the KEK), not the plain
  // BLAKE2b of the readings, which anyone with the file could check a guess against.
  {
    auto ledger = IngestLedger::Open((dir_.path() / "data" / "cloudlet.db").string(),
                                     crypto::HashKey::FromBytes(Bytes(32)).value())
                      .value();
    const auto row = ledger->Find("watch-1", HexEncode(batch)).value();
    ASSERT_TRUE(row && row->payload_digest);
    const Bytes payload = wire::EncodeReadings(readings).value();
    const auto type = static_cast<std::uint8_t>(wire::ContentType::kReadingsBatch);
    const crypto::Digest256 plain = crypto::Blake2b256Parts({ByteView(&type, 1), payload});
    EXPECT_NE(*row->payload_digest, plain);
    EXPECT_NE(*row->payload_digest, crypto::Blake2b256(payload));
    const auto key =
        crypto::HashKey::Derive(kek_.bytes(), "MedMesh cloudlet ledger v1", "payload digest");
    EXPECT_EQ(*row->payload_digest, crypto::KeyedBlake2b256(key.value(), plain));
  }
  // The resealed copy was the new session's first batch: the session is set up, so the next
  // batch of it opens.
  const net::Response next =
      Post("/api/v1/ingest", device->SealReadings(HeartRate(NowMs() + 60'000, 30)).value());
  ASSERT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(json::parse(next.body)["status"], "stored");
  EXPECT_EQ(Stats()["readings_stored"], 60);
  // Other readings under the stored batch id are still a replay.
  ExpectRejected(
      Post("/api/v1/ingest", device->SealReadings(HeartRate(NowMs(), 30, 90000), batch).value()),
      409, "already_exists", "replay");
}

TEST_F(CloudletServiceTest, TruncatedAndOversizedBodiesAreRefused) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  const Bytes upload = device->SealReadings(HeartRate(NowMs(), 10)).value();
  ExpectRejected(Post("/api/v1/ingest", ByteView(upload).first(40)), 400, "invalid_argument",
                 "malformed");
  ExpectRejected(Post("/api/v1/ingest", {}), 400, "invalid_argument", "malformed");
  // Over the route's 64 KiB limit: refused by the HTTP layer, recorded by the cloudlet's filter.
  const Bytes big(std::size_t{100} * 1024, 0x42);
  const net::Response r = Post("/api/v1/ingest", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(Events("oversized").size(), 1u);
  // Cut short inside the signature: parses, but does not verify.
  const net::Response cut = Post("/api/v1/ingest", ByteView(upload).first(upload.size() - 3));
  EXPECT_EQ(cut.status, 401) << cut.body;
}

// One implausible value (a loose electrode) costs that reading, not the batch: the others are
// stored, the device learns how many were refused, and the refusal is an IDS event.
TEST_F(CloudletServiceTest, ImplausibleReadingsAreRefusedOneByOneNotTheBatch) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  std::vector<wire::Reading> readings = HeartRate(NowMs(), 10);
  readings[4].value_milli = 500'000;                 // 500 beats/min
  readings[7].time_ms = NowMs() + 2LL * 86'400'000;  // stamped two days ahead
  const Bytes upload = device->SealReadings(readings).value();
  const net::Response r = Post("/api/v1/ingest", upload);
  ASSERT_EQ(r.status, 200) << r.body;
  const json ack = json::parse(r.body);
  EXPECT_EQ(ack["status"], "stored");
  EXPECT_EQ(ack["readings"], 8);
  EXPECT_EQ(ack["refused"], 2);

  const std::vector<json> events = Events("out_of_range");
  ASSERT_EQ(events.size(), 1u);  // one per batch, not one per reading
  const std::string detail = events[0]["detail"].get<std::string>();
  EXPECT_NE(detail.find("2 of 10"), std::string::npos) << detail;
  EXPECT_EQ(detail.find("500"), std::string::npos) << "a health value in the IDS log: " << detail;
  EXPECT_EQ(events[0]["device_id"], "watch-1");

  const json stats = json::parse(GetAsOperator("/api/v1/stats").body);  // "rejected" too
  EXPECT_EQ(stats["batches_stored"], 1);
  EXPECT_EQ(stats["readings_stored"], 8);
  EXPECT_EQ(stats["rejected"], 0);
  const net::Response stored = GetAsOperator("/api/v1/patients/patient-1/readings?from=0");
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(json::parse(stored.body)["readings"].size(), 8u);
  const net::testing::Exposition metrics =
      net::testing::ParseExposition(client_->Get(url_ + "/metrics").value().body);
  EXPECT_EQ(net::testing::FindSample(metrics, "medmesh_cloudlet_readings_refused_total", {}), "2");

  // The retry of the same upload is a duplicate, as for any stored batch.
  const net::Response again = Post("/api/v1/ingest", upload);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["status"], "duplicate");
}

// A batch of nothing but implausible readings is acknowledged (the device must not retry it
// forever) with every reading refused, and nothing is stored or forwarded.
TEST_F(CloudletServiceTest, ABatchWithNoPlausibleReadingIsAcknowledgedAsAllRefused) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  const Bytes upload = device->SealReadings(HeartRate(NowMs() + std::int64_t{2} * 86'400'000, 5))
                           .value();  // two days ahead
  const net::Response r = Post("/api/v1/ingest", upload);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["readings"], 0);
  EXPECT_EQ(json::parse(r.body)["refused"], 5);
  EXPECT_EQ(Stats()["readings_stored"], 0);
  EXPECT_EQ(Stats()["forward_queue_depth"], 1);  // the enrolment push only
  EXPECT_EQ(Events("out_of_range").size(), 1u);
  const net::Response again = Post("/api/v1/ingest", upload);
  EXPECT_EQ(json::parse(again.body)["status"], "duplicate") << again.body;
}

// Each refusal says, machine-readably, whether the device may ever succeed with that upload:
// it drops an upload only on "permanent": true.
TEST_F(CloudletServiceTest, RefusalsSayWhetherTheyArePermanent) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  const Bytes upload = device->SealReadings(HeartRate(NowMs(), 10)).value();
  const wire::BatchId stored_batch = device->last_batch_id();
  ASSERT_EQ(Post("/api/v1/ingest", upload).status, 200);  // opens the session
  auto permanent = [](const net::Response& response) {
    const net::Refusal refusal = net::DecodeRefusal(response);
    EXPECT_TRUE(refusal.medmesh) << response.body;
    return refusal.permanent;
  };
  // Bytes that do not parse prove nothing about the device's upload (damage on the way, a
  // newer envelope): not permanent.
  EXPECT_FALSE(permanent(Post("/api/v1/ingest", ByteView(upload).first(40))));
  // A decompression bomb, signed by the device: permanent.
  const std::vector<std::uint8_t> zeros(std::size_t{8} << 20, 0);
  Bytes frame(ZSTD_compressBound(zeros.size()));
  frame.resize(ZSTD_compress(frame.data(), frame.size(), zeros.data(), zeros.size(), 3));
  Bytes bomb = {wire::kReadingsFormatVersion, 1};
  bomb.insert(bomb.end(), frame.begin(), frame.end());
  EXPECT_TRUE(permanent(
      Post("/api/v1/ingest", device->Seal(wire::ContentType::kReadingsBatch, bomb).value())));
  // A readings format this cloudlet does not know (a newer device): not permanent.
  Bytes newer = bomb;
  newer[0] = static_cast<std::uint8_t>(wire::kReadingsFormatVersion + 1);
  EXPECT_FALSE(permanent(
      Post("/api/v1/ingest", device->Seal(wire::ContentType::kReadingsBatch, newer).value())));
  const net::Response forged = Post("/api/v1/ingest", ByteView(upload).first(upload.size() - 3));
  EXPECT_EQ(forged.status, 401);
  EXPECT_FALSE(permanent(forged));  // re-seal
  TestDevice stranger("watch-9", "patient-9", random_, clock_);
  ASSERT_TRUE(stranger.UseCloudlet(*client_, url_, deployment_.Root().key));
  const net::Response unknown =
      Post("/api/v1/ingest", stranger.SealReadings(HeartRate(NowMs(), 5)).value());
  EXPECT_EQ(unknown.status, 403);
  EXPECT_FALSE(permanent(unknown));  // enrol, then send again
  const Bytes replay = device->SealReadings(HeartRate(NowMs(), 20, 80000), stored_batch).value();
  const net::Response replayed = Post("/api/v1/ingest", replay);
  EXPECT_EQ(replayed.status, 409);
  EXPECT_TRUE(permanent(replayed));
  // Over the upload limit: not permanent, the device splits the batch.
  const net::Response big = Post("/api/v1/ingest", Bytes(std::size_t{100} * 1024, 0x42));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(net::DecodeRefusal(big).error.code(), ErrorCode::kPayloadTooLarge);
  EXPECT_FALSE(net::DecodeRefusal(big).permanent);
}

TEST_F(CloudletServiceTest, DecompressionBombIsRefused) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  // A readings payload whose zstd frame declares and holds 8 MiB of zeros in a few hundred
  // bytes: far past the 2 MiB body limit.
  const std::vector<std::uint8_t> zeros(std::size_t{8} << 20, 0);
  Bytes frame(ZSTD_compressBound(zeros.size()));
  frame.resize(ZSTD_compress(frame.data(), frame.size(), zeros.data(), zeros.size(), 3));
  Bytes payload = {wire::kReadingsFormatVersion, 1};
  payload.insert(payload.end(), frame.begin(), frame.end());
  ASSERT_LT(payload.size(), 2048u);
  ExpectRejected(
      Post("/api/v1/ingest", device->Seal(wire::ContentType::kReadingsBatch, payload).value()), 400,
      "invalid_argument", "decompression_bomb");
}

TEST_F(CloudletServiceTest, StoresPatientRecords) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  const Bytes record = wire::EncodePatientRecord(device->Record("rec-1")).value();
  const Bytes upload = device->Seal(wire::ContentType::kPatientRecord, record).value();
  const net::Response r = Post("/api/v1/ingest", upload);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(Post("/api/v1/ingest", upload).body)["status"], "duplicate");
  EXPECT_EQ(Stats()["records_stored"], 1);
  // A record of another device is refused.
  wire::PatientRecord foreign = device->Record("rec-2");
  foreign.device_id = "watch-2";
  const net::Response bad = Post(
      "/api/v1/ingest",
      device->Seal(wire::ContentType::kPatientRecord, wire::EncodePatientRecord(foreign).value())
          .value());
  EXPECT_EQ(bad.status, 400) << bad.body;
}

TEST_F(CloudletServiceTest, BackpressureRefusesNewBatchesWhileTheQueueIsFull) {
  CloudletOptions options;
  options.backpressure.slow_items = 3;
  options.backpressure.refuse_items = 3;
  RestartService(options);
  auto device = ThreeQueuedItems();
  const Bytes next = device->SealReadings(HeartRate(NowMs() - 120'000, 10)).value();
  const net::Response refused = Post("/api/v1/ingest", next);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_TRUE(refused.Header("Retry-After").has_value());
  EXPECT_EQ(service_->Pressure().level, store::BackpressureLevel::kRefuse);
  EXPECT_EQ(Stats()["forward_queue_depth"], 3);
}

// The 429s that legitimate uploads got in blocked_flood_benchmark --runs 5 (ADR 0051): that
// benchmark's cloudlet has no cloud, so every upload stays in the forward queue, and 10,560
// uploads pass slow_items (10,000). The queue's backpressure, not the IDS, answers them: 429
// "busy forwarding" with Retry-After, no IDS event, no decision on the source, and the device's
// next upload is welcome again once the queue has room.
TEST_F(CloudletServiceTest, AFullForwardQueueSlowsDevicesDownWithoutAnyIdsRefusal) {
  CloudletOptions options;
  options.backpressure.slow_items = 3;
  RestartService(options);
  auto device = ThreeQueuedItems();
  const Bytes next = device->SealReadings(HeartRate(NowMs() - 120'000, 10)).value();
  const net::Response slowed = Post("/api/v1/ingest", next);
  EXPECT_EQ(slowed.status, 429) << slowed.body;
  EXPECT_EQ(json::parse(slowed.body)["error"], "resource_exhausted");
  EXPECT_EQ(slowed.Header("Retry-After"), "10");
  EXPECT_EQ(service_->Pressure().level, store::BackpressureLevel::kSlowDown);
  // Nothing of it reached the IDS: no event, no alert, no decision.
  const net::Response events = GetAsOperator("/api/v1/ids/events?since=0");
  ASSERT_EQ(events.status, 200);
  EXPECT_TRUE(json::parse(events.body).empty()) << events.body;
  const net::Response decisions = GetAsOperator("/api/v1/ids/decisions");
  ASSERT_EQ(decisions.status, 200);
  EXPECT_TRUE(json::parse(decisions.body)["decisions"].empty()) << decisions.body;
  // With room in the queue (here: limits a cloud-less deployment such as the benchmark sets),
  // the device's next upload is stored (in a new session: the restart forgot the old one).
  options.backpressure.slow_items = 100;
  RestartService(options);
  device->Rekey();
  EXPECT_EQ(
      Post("/api/v1/ingest", device->SealReadings(HeartRate(NowMs() - 180'000, 10)).value()).status,
      200);
}

TEST_F(CloudletServiceTest, OperatorEndpointsNeedTheOperatorToken) {
  EXPECT_EQ(client_->Get(url_ + "/api/v1/ids/events").value().status, 401);
  EXPECT_EQ(client_->Get(url_ + "/api/v1/patients/p/readings").value().status, 401);
  EXPECT_EQ(GetAsOperator("/api/v1/patients/p/readings?from=10&to=5").status, 400);
  EXPECT_EQ(GetAsOperator("/api/v1/patients/p/readings?from=x").status, 400);
  EXPECT_EQ(GetAsOperator("/api/v1/ids/events").status, 200);
  EXPECT_EQ(Events("auth_failure").size(), 2u);
}

TEST_F(CloudletServiceTest, ReadingsComeNewestFirstInPagesWithACursor) {
  auto device = EnrolledDevice("watch-1", "patient-1");
  const std::int64_t now = NowMs();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Post("/api/v1/ingest",
                   device->SealReadings(HeartRate(now - std::int64_t{i} * 60'000, 10)).value())
                  .status,
              200);
  }
  std::vector<std::int64_t> times;
  std::string path = "/api/v1/patients/patient-1/readings?from=0&limit=7";
  for (int pages = 1;; ++pages) {
    ASSERT_LE(pages, 5);
    const net::Response r = GetAsOperator(path);
    ASSERT_EQ(r.status, 200) << r.body;
    const json body = json::parse(r.body);
    ASSERT_LE(body["readings"].size(), 7u);
    for (const json& reading : body["readings"]) times.push_back(reading["time_ms"]);
    if (body["next_cursor"].is_null()) break;
    path = "/api/v1/patients/patient-1/readings?from=0&limit=7&cursor=" +
           body["next_cursor"].get<std::string>();
  }
  ASSERT_EQ(times.size(), 30u);
  EXPECT_EQ(times.front(), now);
  EXPECT_TRUE(std::is_sorted(times.rbegin(), times.rend()));
  EXPECT_EQ(std::set<std::int64_t>(times.begin(), times.end()).size(), 30u);
  for (const char* bad : {"limit=0", "limit=10001", "limit=x", "cursor=zz", "cursor=00"}) {
    EXPECT_EQ(GetAsOperator("/api/v1/patients/patient-1/readings?" + std::string(bad)).status, 400)
        << bad;
  }
}

TEST_F(CloudletServiceTest, ServesItsCertificateAndHealth) {
  const net::Response cert = client_->Get(url_ + "/api/v1/certificate").value();
  ASSERT_EQ(cert.status, 200);
  EXPECT_EQ(cert.content_type, "application/octet-stream");
  EXPECT_TRUE(wire::VerifyCertificate(cert.body_bytes(), deployment_.Root().key,
                                      wire::CertificateRole::kCloudlet, NowMs()));
  EXPECT_EQ(client_->Get(url_ + "/healthz").value().status, 200);
  EXPECT_EQ(client_->Get(url_ + "/readyz").value().status, 200);
}

}  // namespace
}  // namespace medmesh::cloudlet
