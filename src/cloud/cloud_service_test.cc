// The cloud over loopback HTTP: a real service in a temp folder (SQLite, or the PostgreSQL test
// cluster when built as cloud_service_postgres_test), with forwards sealed by a test cloudlet
// from uploads sealed by a test device, all with the production wire code.
#include "cloud/cloud_service.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cloud/cloud_readings.h"
#include "crypto/session_seal.h"
#include "net/error_mapping.h"
#include "net/test_support.h"
#include "node/kek_ring.h"
#include "node/test_support.h"
#include "store/ids_event_log.h"
#include "testing/test_backend.h"
#include "testing/wait.h"
#include "wire/enrolment.h"
#include "wire/readings_codec.h"
#include "wire/receipt.h"
#include "wire/record_codec.h"

namespace medmesh::cloud {
namespace {

using nlohmann::json;
using node::testing::HeartRate;

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

// A cloudlet for tests: its identity, a device enrolled at it, and forwards of that device's
// uploads, made with wire::OpenUpload and wire::SealForward as the real cloudlet does.
class TestCloudlet {
 public:
  TestCloudlet(node::NodeIdentity identity, Random& random, const Clock& clock)
      : identity_(std::move(identity)),
        random_(random),
        clock_(clock),
        signer_(crypto::NewEd25519Signer(identity_.signing_key.Clone())),
        opener_(identity_.kem_key.Clone(), clock),
        device_signer_(crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(random))),
        device_sealer_(identity_.kem_key.public_key(), random, clock) {}

  ByteView certificate() const { return identity_.certificate.encoded(); }

  // Enrols "watch-1" to "patient-1" (or others) and returns the signed record.
  Bytes Enrol(std::string device = "watch-1", std::string patient = "patient-1") {
    enrolment_ = wire::Enrolment{std::move(device), std::move(patient),
                                 device_signer_->public_key(), identity_.id(), NowMs()};
    return wire::IssueEnrolment(*enrolment_, *signer_).value();
  }

  wire::OpenedUpload Upload(wire::ContentType type, const Bytes& payload,
                            std::optional<wire::BatchId> batch_id = std::nullopt) {
    const wire::UploadHeader header{.content_type = type,
                                    .device_id = enrolment_->device_id,
                                    .patient_id = enrolment_->patient_id,
                                    .sequence = ++sequence_,
                                    .batch_id = batch_id ? *batch_id : wire::NewBatchId(random_),
                                    .created_ms = NowMs()};
    const Bytes upload =
        wire::SealUpload(header, payload, device_sealer_, *device_signer_, random_).value();
    return wire::OpenUpload(wire::ParseUpload(upload).value(), *enrolment_, opener_).value();
  }

  wire::OpenedUpload Readings(std::optional<wire::BatchId> batch_id = std::nullopt, int count = 60,
                              std::int64_t bpm_milli = 72000) {
    return Upload(wire::ContentType::kReadingsBatch,
                  wire::EncodeReadings(HeartRate(NowMs(), count, bpm_milli)).value(), batch_id);
  }

  wire::PatientRecord Record(std::string record_id) const {
    node::testing::TestDevice shape(enrolment_->device_id, enrolment_->patient_id, random_, clock_);
    return shape.Record(std::move(record_id));
  }

  Bytes Forward(const wire::OpenedUpload& opened, const wire::VerifiedCertificate& cloud,
                std::optional<wire::ForwardId> id = std::nullopt) {
    auto sealer = crypto::NewHybridSealer(*cloud.certificate().kem_key, random_);
    return wire::SealForward(
               {opened.header.content_type, identity_.id(), id ? *id : wire::NewBatchId(random_)},
               opened, *sealer, *signer_)
        .value();
  }

 private:
  node::NodeIdentity identity_;
  Random& random_;
  const Clock& clock_;
  std::unique_ptr<crypto::Signer> signer_;
  crypto::SessionOpener opener_;
  std::unique_ptr<crypto::Signer> device_signer_;
  crypto::SessionSealer device_sealer_;
  std::optional<wire::Enrolment> enrolment_;
  std::uint64_t sequence_ = 0;
};

class CloudServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartService(); }

  // Stops the running service, if any, and starts one with `options` (data folder, access log
  // and store filled in).
  void StartService(CloudOptions options = {}) {
    if (service_) service_->Stop(std::chrono::seconds(1));
    service_.reset();
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      options.store.backend = node::StoreBackend::kPostgres;
      options.store.postgres_url = pg;
      // A fresh prefix per test, so tests never see each other's rows.
      options.store.schema_prefix = "t" + HexEncode(random_.Generate(6)) + "_";
    }
    auto secrets = Secrets();
    ASSERT_TRUE(secrets) << secrets.error().ToString();
    cloud_certificate_.emplace(wire::VerifyCertificate(secrets->identity.certificate.encoded(),
                                                       secrets->identity.root.key,
                                                       wire::CertificateRole::kCloud, NowMs())
                                   .value());
    auto service = CloudService::Start(std::move(options), std::move(*secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    url_ = "http://127.0.0.1:" + std::to_string(service_->port());
    auto cloudlet = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(cloudlet) << cloudlet.error().ToString();
    cloudlet_ = std::make_unique<TestCloudlet>(std::move(*cloudlet), random_, clock_);
  }

  // The cloud's identity with fresh keys.
  Result<CloudSecrets> Secrets() {
    MEDMESH_ASSIGN_OR_RETURN(node::NodeIdentity identity,
                             deployment_.Identity(wire::CertificateRole::kCloud, "cloud"));
    SecretBytes index(32);
    SecretBytes pseudonym(32);
    random_.Fill(index.mutable_bytes());
    random_.Fill(pseudonym.mutable_bytes());
    return CloudSecrets{std::move(identity), crypto::KeyEncryptionKey::Generate(random_),
                        std::move(index), std::move(pseudonym), operator_token_.Clone()};
  }

  net::Response Post(std::string_view path, ByteView body) {
    auto r = client_->Post(url_ + std::string(path), std::string(AsStringView(body)),
                           "application/octet-stream");
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  // Registers the test cloudlet and enrols its device.
  void Introduce() {
    const net::Response registered = Post("/api/v1/cloudlets", cloudlet_->certificate());
    ASSERT_EQ(registered.status, 200) << registered.body;
    EXPECT_EQ(json::parse(registered.body)["status"], "stored");
    const net::Response enrolled = Post("/api/v1/enrolments", cloudlet_->Enrol());
    ASSERT_EQ(enrolled.status, 200) << enrolled.body;
    EXPECT_EQ(json::parse(enrolled.body)["device_id"], "watch-1");
  }

  net::Response Withdraw(const std::string& device, const SecretBytes& token) {
    net::ClientRequest request;
    request.method = net::Method::kPost;
    request.url = url_ + "/api/v1/devices/" + device + "/withdrawal";
    request.headers.emplace_back("Authorization", "Bearer " + node::testing::TokenText(token));
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  // The IDS events of one kind the cloud recorded (read from its ids.db).
  std::size_t IdsEvents(store::IdsEventKind kind) {
    auto log = store::IdsEventLog::Open((dir_.path() / "cloud" / "ids.db").string());
    EXPECT_TRUE(log) << log.error().ToString();
    store::IdsEventFilter filter;
    filter.kind = kind;
    auto count = (*log)->Count(filter);
    EXPECT_TRUE(count) << count.error().ToString();
    return count ? static_cast<std::size_t>(*count) : 0;
  }

  // A second registered cloudlet of the same deployment.
  std::unique_ptr<TestCloudlet> SecondCloudlet() {
    auto identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-2");
    EXPECT_TRUE(identity) << identity.error().ToString();
    auto second = std::make_unique<TestCloudlet>(std::move(*identity), random_, clock_);
    EXPECT_EQ(Post("/api/v1/cloudlets", second->certificate()).status, 200);
    return second;
  }

  // GET /api/v1/stats, anonymously or with the operator token.
  json Stats(bool as_operator = false) {
    net::ClientRequest request;
    request.url = url_ + "/api/v1/stats";
    if (as_operator) {
      request.headers.emplace_back("Authorization",
                                   "Bearer " + node::testing::TokenText(operator_token_));
    }
    auto r = client_->Send(request);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : r.error().ToString());
    return json::parse(r->body);
  }

  static void ExpectError(const net::Response& r, int status, std::string_view error) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(json::parse(r.body)["error"], error) << r.body;
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  SystemClock clock_;
  SystemRandom random_;
  SecretBytes operator_token_ = node::testing::RandomToken(random_);
  SecretBytes enrol_like_token_ = node::testing::RandomToken(random_);  // not the operator's
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::unique_ptr<CloudService> service_;
  std::optional<wire::VerifiedCertificate> cloud_certificate_;
  std::unique_ptr<TestCloudlet> cloudlet_;
  std::string url_;
};

// The schema prefix goes into SQL identifiers: a bad one is refused when the cloud starts, on
// either backend (this one runs on SQLite), and the error names the rule, not the value.
TEST_F(CloudServiceTest, RefusesABadSchemaPrefixAtStart) {
  CloudOptions options;
  options.data_dir = dir_.path() / "other-cloud";
  options.access_log = false;
  options.store.schema_prefix = "Bad\"prefix";
  auto secrets = Secrets();
  ASSERT_TRUE(secrets) << secrets.error().ToString();
  auto service = CloudService::Start(std::move(options), std::move(*secrets), clock_, random_);
  ASSERT_FALSE(service);
  EXPECT_EQ(service.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(service.error().message().find("schema prefix"), std::string::npos);
  EXPECT_EQ(service.error().message().find("Bad"), std::string::npos);
}

// The cloud's maintenance thread writes IDS aggregates whose window closed, with no reader
// asking.
// The cloud scores its live requests with the request model too (ids/payload_scoring.h): FHIR
// search parameters and JSON bodies carrying injections get their source blocked; a FHIR search
// with ordinary parameters from another address is answered as before.
TEST_F(CloudServiceTest, InjectionPayloadsGetTheirSourceBlockedByTheRequestClassifier) {
  CloudOptions options;
  options.ids.models_dir = MEDMESH_IDS_MODELS_DIR;
  StartService(std::move(options));
  const auto send_from = [&](std::string_view from, const std::string& request) {
    net::testing::RawConnection c(service_->port(), std::chrono::seconds(10), from);
    EXPECT_TRUE(c.connected() && c.Send(request));
    auto reply = c.Read();
    return reply ? reply->status : 0;
  };
  const auto get = [](const std::string& target) {
    return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
  };
  const std::string search =
      "/fhir/r4/Observation?patient=psd-4f5e6d&code=8867-4&date=ge2026-12-01";
  const int plain = send_from("127.0.0.42", get(search));
  EXPECT_NE(plain, 403);
  for (const char* payload :
       {"%27%20OR%20%271%27%3D%271%27%20--", "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd", "1%3B%20DROP%20TABLE%20records%3B%20--"}) {
    EXPECT_NE(send_from("127.0.0.41", get("/fhir/r4/Observation?patient=" + std::string(payload))),
              403);
  }
  const std::string body = R"({"email":"' OR '1'='1' --","password":"x"})";
  EXPECT_NE(send_from("127.0.0.41",
                      "POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      "application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body),
            403);
  EXPECT_EQ(send_from("127.0.0.41", get(search)), 403);
  EXPECT_EQ(send_from("127.0.0.42", get(search)), plain);

  net::ClientRequest request;
  request.url = url_ + "/api/v1/ids/alerts";
  request.headers.emplace_back("Authorization",
                               "Bearer " + node::testing::TokenText(operator_token_));
  const json alerts = json::parse(client_->Send(request).value().body);
  EXPECT_TRUE(alerts["payload_scorer"]["enabled"].get<bool>());
  ASSERT_FALSE(alerts["alerts"].empty()) << alerts.dump();
  EXPECT_EQ(alerts["alerts"][0]["detector"], "payloads");
  EXPECT_EQ(alerts["alerts"][0]["scope"]["value"], "127.0.0.41");
}

TEST_F(CloudServiceTest, TheMaintenanceThreadWritesClosedIdsAggregates) {
  CloudOptions options;
  options.retention.maintenance_interval = std::chrono::seconds(1);
  options.ids_aggregation.source_burst = 0;  // every event aggregated
  options.ids_aggregation.window = std::chrono::milliseconds(1);
  StartService(std::move(options));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(client_->Get(url_ + "/api/v1/integrity").value().status, 401);
  }
  SQLite::Database raw((dir_.path() / "cloud" / "ids.db").string(), SQLite::OPEN_READONLY);
  const auto stored = [&] {
    SQLite::Statement st(raw, "SELECT COALESCE(SUM(count), 0) FROM ids_events");
    st.executeStep();
    return st.getColumn(0).getInt64();
  };
  testing::WaitUntil([&] { return stored() >= 3; });
  EXPECT_EQ(stored(), 3);
}

TEST_F(CloudServiceTest, OwnsAnAuditLogSignedWithItsNodeKey) {
  audit::AuditEntry entry;
  entry.time_ms = NowMs();
  entry.event = "session.login";
  entry.action = audit::Action::kExecute;
  entry.outcome = audit::Outcome::kMinorFailure;
  entry.actor_role = "anonymous";
  entry.source_address = "127.0.0.1";
  ASSERT_TRUE(service_->audit().Append(entry));
  if (!medmesh::testing::OnPostgres()) {
    EXPECT_TRUE(std::filesystem::exists(dir_.path() / "cloud" / audit::kAuditDbFileName));
  }
  auto verifier = crypto::NewEd25519Verifier(cloud_certificate_->certificate().signing_key);
  auto report = service_->audit().Verify(*verifier, {.observer = "cloud"});
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->ok()) << report->message;
  EXPECT_EQ(report->entries, 1u);
  EXPECT_EQ(service_->audit().Query({}).value().events.size(), 1u);
}

TEST_F(CloudServiceTest, ServesTheRootAndItsCertificate) {
  const net::Response root = client_->Get(url_ + "/api/v1/root").value();
  ASSERT_EQ(root.status, 200);
  EXPECT_EQ(root.body_bytes().size(), deployment_.Root().certificate.size());
  EXPECT_TRUE(std::equal(root.body.begin(), root.body.end(), deployment_.Root().certificate.begin(),
                         [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; }));
  const net::Response cert = client_->Get(url_ + "/api/v1/certificate").value();
  ASSERT_EQ(cert.status, 200);
  EXPECT_TRUE(wire::VerifyCertificate(cert.body_bytes(), deployment_.Root().key,
                                      wire::CertificateRole::kCloud, NowMs()));
}

// Every acknowledgement of an item from a cloudlet carries the cloud's receipt, signed with its
// node key, of exactly that request (wire/receipt.h); a refusal carries none.
TEST_F(CloudServiceTest, AcknowledgementsCarryTheCloudsReceiptOfExactlyThatRequest) {
  const auto receipt_of = [](const net::Response& r) {
    const json body = json::parse(r.body);
    EXPECT_TRUE(body.contains("receipt")) << r.body;
    auto decoded = HexDecode(body.value("receipt", ""));
    return decoded ? *decoded : Bytes{};
  };
  const net::Response registered = Post("/api/v1/cloudlets", cloudlet_->certificate());
  ASSERT_EQ(registered.status, 200) << registered.body;
  const std::string cloudlet_id = json::parse(registered.body)["cloudlet_id"];
  EXPECT_TRUE(wire::CheckReceipt(receipt_of(registered), *cloud_certificate_,
                                 wire::ReceiptKind::kCloudlet, cloudlet_id, cloudlet_id,
                                 cloudlet_->certificate(), std::nullopt));
  const Bytes record = cloudlet_->Enrol();
  const net::Response enrolled = Post("/api/v1/enrolments", record);
  ASSERT_EQ(enrolled.status, 200) << enrolled.body;
  EXPECT_TRUE(wire::CheckReceipt(receipt_of(enrolled), *cloud_certificate_,
                                 wire::ReceiptKind::kEnrolment, cloudlet_id, "watch-1", record,
                                 std::nullopt));

  const wire::OpenedUpload upload = cloudlet_->Readings();
  const Bytes forward = cloudlet_->Forward(upload, *cloud_certificate_);
  const net::Response first = Post("/api/v1/forward", forward);
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string forward_id = json::parse(first.body)["forward_id"];
  const Bytes receipt = receipt_of(first);
  EXPECT_TRUE(wire::CheckReceipt(receipt, *cloud_certificate_, wire::ReceiptKind::kForward,
                                 cloudlet_id, forward_id, forward, std::nullopt));
  auto opened = wire::VerifyReceipt(receipt, *cloud_certificate_);
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->cloud_id, "cloud");
  EXPECT_NEAR(static_cast<double>(opened->accepted_ms), static_cast<double>(NowMs()), 60'000.0);

  // A duplicate is acknowledged with a receipt too; a resealed attempt's receipt matches only
  // its own bytes.
  const Bytes resealed = cloudlet_->Forward(upload, *cloud_certificate_);
  const net::Response again = Post("/api/v1/forward", resealed);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["status"], "duplicate");
  const std::string again_id = json::parse(again.body)["forward_id"];
  EXPECT_TRUE(wire::CheckReceipt(receipt_of(again), *cloud_certificate_,
                                 wire::ReceiptKind::kForward, cloudlet_id, again_id, resealed,
                                 std::nullopt));
  EXPECT_FALSE(wire::CheckReceipt(receipt_of(again), *cloud_certificate_,
                                  wire::ReceiptKind::kForward, cloudlet_id, again_id, forward,
                                  std::nullopt));

  // A refusal carries no receipt.
  Bytes damaged = forward;
  damaged.resize(damaged.size() / 2);
  const net::Response refused = Post("/api/v1/forward", damaged);
  EXPECT_EQ(refused.status, 400);
  EXPECT_FALSE(json::parse(refused.body).contains("receipt"));
}

// The same enrolment record sent twice with two challenges (X-MedMesh-Receipt-Challenge) gets
// two version 2 receipts, each bound to its own attempt's challenge, so the first attempt's
// receipt does not pass for the second; a malformed challenge is refused before anything is
// stored.
TEST_F(CloudServiceTest, AReceiptCarriesTheChallengeOfItsAttempt) {
  const auto post = [&](std::string_view path, ByteView body, std::string challenge) {
    net::ClientRequest request;
    request.method = net::Method::kPost;
    request.url = url_ + std::string(path);
    request.body = std::string(AsStringView(body));
    request.content_type = "application/octet-stream";
    request.headers.emplace_back(std::string(wire::kReceiptChallengeHeader), std::move(challenge));
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  };
  const auto receipt_of = [](const net::Response& r) {
    auto decoded = HexDecode(json::parse(r.body).value("receipt", ""));
    return decoded ? *decoded : Bytes{};
  };
  const wire::ReceiptChallenge first{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const wire::ReceiptChallenge second{16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  const net::Response registered =
      post("/api/v1/cloudlets", cloudlet_->certificate(), HexEncode(first));
  ASSERT_EQ(registered.status, 200) << registered.body;
  const std::string cloudlet_id = json::parse(registered.body)["cloudlet_id"];
  EXPECT_TRUE(wire::CheckReceipt(receipt_of(registered), *cloud_certificate_,
                                 wire::ReceiptKind::kCloudlet, cloudlet_id, cloudlet_id,
                                 cloudlet_->certificate(), first));

  const Bytes record = cloudlet_->Enrol();
  // Malformed challenges: 400, and the device is not enrolled by it.
  const std::vector<std::string> malformed = {"", "zz", HexEncode(first) + "00",
                                              HexEncode(first).substr(2)};
  for (const std::string& bad : malformed) {
    SCOPED_TRACE(bad);
    const net::Response refused = post("/api/v1/enrolments", record, bad);
    EXPECT_EQ(refused.status, 400) << refused.body;
    EXPECT_FALSE(json::parse(refused.body).contains("receipt"));
  }
  const net::Response one = post("/api/v1/enrolments", record, HexEncode(first));
  const net::Response two = post("/api/v1/enrolments", record, HexEncode(second));
  ASSERT_EQ(one.status, 200) << one.body;
  ASSERT_EQ(two.status, 200) << two.body;
  EXPECT_EQ(json::parse(one.body)["status"], "stored");
  for (const auto& [answer, challenge] : {std::pair{&one, first}, std::pair{&two, second}}) {
    auto opened = wire::VerifyReceipt(receipt_of(*answer), *cloud_certificate_);
    ASSERT_TRUE(opened);
    EXPECT_EQ(opened->challenge, challenge);
  }
  EXPECT_TRUE(wire::CheckReceipt(receipt_of(two), *cloud_certificate_,
                                 wire::ReceiptKind::kEnrolment, cloudlet_id, "watch-1", record,
                                 second));
  // The first attempt's receipt is refused for the second attempt.
  EXPECT_FALSE(wire::CheckReceipt(receipt_of(one), *cloud_certificate_,
                                  wire::ReceiptKind::kEnrolment, cloudlet_id, "watch-1", record,
                                  second));
}

TEST_F(CloudServiceTest, StoresForwardedReadingsOnceUnderAPseudonym) {
  Introduce();
  const wire::OpenedUpload upload = cloudlet_->Readings();
  const Bytes forward = cloudlet_->Forward(upload, *cloud_certificate_);
  const net::Response first = Post("/api/v1/forward", forward);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(json::parse(first.body)["status"], "stored");

  // The same forward again, and the same batch in a new forward (a cloudlet retry): stored once.
  EXPECT_EQ(json::parse(Post("/api/v1/forward", forward).body)["status"], "duplicate");
  const net::Response again =
      Post("/api/v1/forward", cloudlet_->Forward(upload, *cloud_certificate_));
  EXPECT_EQ(json::parse(again.body)["status"], "duplicate") << again.body;

  const json stats = Stats();
  EXPECT_EQ(stats["node"], "cloud");
  EXPECT_EQ(stats["reading_batches"], 1);
  EXPECT_EQ(stats["readings"], 60);
  EXPECT_EQ(stats["patients"], 1);
  EXPECT_EQ(stats["duplicates"], 2);
  EXPECT_EQ(Stats(/*as_operator=*/true)["records"], 0);

  // The medical side names the patient only by pseudonym.
  const std::string pseudonym = service_->records().Pseudonym("patient-1");
  auto rows = service_->intake_store().ListReadingBatches(pseudonym, 0, NowMs() + 1000, 10);
  ASSERT_TRUE(rows) << rows.error().ToString();
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].readings, 60u);
  EXPECT_NE((*rows)[0].pseudonym, "patient-1");
  EXPECT_EQ((*rows)[0].batch_ref, service_->intake().BatchRef("watch-1", upload.header.batch_id));
  const std::string ciphertext(AsStringView((*rows)[0].ciphertext));
  EXPECT_EQ(ciphertext.find("patient-1"), std::string::npos);
  EXPECT_EQ(ciphertext.find("watch-1"), std::string::npos);

  // The one reader of stored batches (cloud_readings.h) gives exactly the readings back.
  const CloudReadings reader(service_->intake_store(), service_->records());
  auto back = reader.Read("patient-1", 0, NowMs() + 1000);
  ASSERT_TRUE(back) << back.error().ToString();
  EXPECT_EQ(*back, wire::DecodeReadings(upload.payload).value());
  EXPECT_TRUE(reader.Read("patient-2", 0, NowMs() + 1000).value().empty());
  // The range is half-open and applies reading by reading.
  const std::int64_t first_ms = back->front().time_ms;
  EXPECT_EQ(reader.Read("patient-1", first_ms + 1, NowMs() + 1000).value().size(), 59u);
}

// Anyone may read /api/v1/stats: flow counts from memory, no ids; the operator token adds the
// rejections and the record store's counts.
TEST_F(CloudServiceTest, AnonymousStatsShowFlowCountsOnlyAndTheOperatorSeesMore) {
  Introduce();
  ASSERT_EQ(Post("/api/v1/forward", cloudlet_->Forward(cloudlet_->Readings(), *cloud_certificate_))
                .status,
            200);
  auto anonymous = client_->Get(url_ + "/api/v1/stats");
  ASSERT_TRUE(anonymous);
  ASSERT_EQ(anonymous->status, 200) << anonymous->body;
  for (const char* id : {"patient-1", "watch-1", "cloudlet-1"}) {
    EXPECT_EQ(anonymous->body.find(id), std::string::npos) << id;
  }
  const json body = json::parse(anonymous->body);
  std::set<std::string> keys;
  for (const auto& [key, value] : body.items()) keys.insert(key);
  EXPECT_EQ(keys, (std::set<std::string>{"node", "reading_batches", "readings", "patients",
                                         "duplicates"}));
  EXPECT_EQ(body["readings"], 60);

  const json full = Stats(/*as_operator=*/true);
  EXPECT_EQ(full["readings"], 60);
  EXPECT_EQ(full["records"], 0);
  EXPECT_EQ(full["chain_length"], 1);  // the batch's entry (integrity_service.h)
  EXPECT_EQ(full["rejected"], 0);
  for (const char* id : {"patient-1", "watch-1", "cloudlet-1"}) {
    EXPECT_EQ(full.dump().find(id), std::string::npos) << id;
  }

  net::ClientRequest wrong;
  wrong.url = url_ + "/api/v1/stats";
  wrong.headers.emplace_back("Authorization", "Bearer wrong");
  const net::Response refused = client_->Send(wrong).value();
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.Header("WWW-Authenticate"), "Bearer");
}

// The anonymous stats come from counters in memory: they answer while a write holds the
// intake store's lock, waiting for the database. Before, the route ran five COUNT/SUM scans
// under that lock.
TEST_F(CloudServiceTest, StatsAnswerWhileTheIntakeStoreWaitsForItsDatabase) {
  if (medmesh::testing::OnPostgres())
    GTEST_SKIP() << "holds the SQLite intake database's write lock";
  Introduce();
  SQLite::Database other((dir_.path() / "cloud" / "intake.db").string(), SQLite::OPEN_READWRITE);
  other.exec("BEGIN IMMEDIATE");
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  std::thread writer([&] {
    started = true;
    // Holds the store's lock while it waits (busy timeout) for the write lock.
    (void)service_->intake_store().AddPatient("pseudonym-waiting");
    finished = true;
  });
  while (!started) std::this_thread::yield();
  const json stats = Stats();
  const bool answered_first = !finished;
  other.exec("ROLLBACK");
  writer.join();
  EXPECT_EQ(stats["patients"], 0);
  EXPECT_TRUE(answered_first) << "the stats waited for the intake store";
  // Had the stats waited for the store's lock, the write would have given up (busy timeout).
  EXPECT_EQ(Stats()["patients"], 1);
}

TEST_F(CloudServiceTest, AnotherBatchUnderAStoredBatchIdIsRefused) {
  Introduce();
  const wire::OpenedUpload upload = cloudlet_->Readings();
  ASSERT_EQ(Post("/api/v1/forward", cloudlet_->Forward(upload, *cloud_certificate_)).status, 200);
  const wire::OpenedUpload other = cloudlet_->Readings(upload.header.batch_id, 30, 90000);
  ExpectError(Post("/api/v1/forward", cloudlet_->Forward(other, *cloud_certificate_)), 409,
              "already_exists");
  EXPECT_EQ(Stats()["readings"], 60);
}

// The cloudlet stores the plausible readings of a batch and forwards the batch whole (the
// device's signature covers every reading): the cloud must take it, count only the plausible
// readings and flag the others, not refuse the batch (which would dead-letter it).
TEST_F(CloudServiceTest, AForwardWithSomeImplausibleReadingsIsStoredAndFlagged) {
  Introduce();
  std::vector<wire::Reading> readings = HeartRate(NowMs(), 20);
  readings[3].value_milli = 500'000;  // 500 beats/min
  const wire::OpenedUpload upload =
      cloudlet_->Upload(wire::ContentType::kReadingsBatch, wire::EncodeReadings(readings).value());
  const net::Response r = Post("/api/v1/forward", cloudlet_->Forward(upload, *cloud_certificate_));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Stats()["readings"], 19);
  const std::string pseudonym = service_->records().Pseudonym("patient-1");
  auto rows = service_->intake_store().ListReadingBatches(pseudonym, 0, NowMs() + 1000, 10);
  ASSERT_TRUE(rows && rows->size() == 1u);
  EXPECT_EQ((*rows)[0].readings, 19u);
  // Read back, the implausible reading stays out.
  EXPECT_EQ(CloudReadings(service_->intake_store(), service_->records())
                .Read("patient-1", 0, NowMs() + 1000)
                .value()
                .size(),
            19u);
  const net::testing::Exposition metrics =
      net::testing::ParseExposition(client_->Get(url_ + "/metrics").value().body);
  EXPECT_EQ(net::testing::FindSample(metrics, "medmesh_cloud_readings_refused_total", {}), "1");

  // Nothing plausible at all: refused for good (the cloudlet never forwards such a batch).
  std::vector<wire::Reading> bad = HeartRate(NowMs(), 3);
  for (wire::Reading& reading : bad) reading.value_milli = 500'000;
  const net::Response refused = Post(
      "/api/v1/forward", cloudlet_->Forward(cloudlet_->Upload(wire::ContentType::kReadingsBatch,
                                                              wire::EncodeReadings(bad).value()),
                                            *cloud_certificate_));
  ExpectError(refused, 400, "invalid_argument");
  EXPECT_TRUE(net::DecodeRefusal(refused).permanent);
}

// What a cloudlet may retry (register, enrol, reseal) is not permanent; what can never pass is.
TEST_F(CloudServiceTest, RefusalsSayWhetherTheyArePermanent) {
  const wire::OpenedUpload upload = [&] {
    (void)cloudlet_->Enrol();
    return cloudlet_->Readings();
  }();
  const Bytes forward = cloudlet_->Forward(upload, *cloud_certificate_);
  const net::Refusal unknown = net::DecodeRefusal(Post("/api/v1/forward", forward));
  EXPECT_EQ(unknown.error.code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(unknown.medmesh);
  EXPECT_FALSE(unknown.permanent);
  Introduce();
  const net::Refusal malformed =
      net::DecodeRefusal(Post("/api/v1/forward", ByteView(forward).first(20)));
  EXPECT_TRUE(malformed.medmesh);
  EXPECT_FALSE(malformed.permanent);  // unauthenticated bytes prove nothing
  ASSERT_EQ(Post("/api/v1/forward", forward).status, 200);
  const wire::OpenedUpload other = cloudlet_->Readings(upload.header.batch_id, 30, 90000);
  const net::Refusal replay =
      net::DecodeRefusal(Post("/api/v1/forward", cloudlet_->Forward(other, *cloud_certificate_)));
  EXPECT_EQ(replay.error.code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(replay.permanent);
}

TEST_F(CloudServiceTest, StoresForwardedRecordsInThreePartsAndChecksTheChain) {
  Introduce();
  const wire::PatientRecord record = cloudlet_->Record("rec-1");
  const wire::OpenedUpload upload = cloudlet_->Upload(wire::ContentType::kPatientRecord,
                                                      wire::EncodePatientRecord(record).value());
  const Bytes forward = cloudlet_->Forward(upload, *cloud_certificate_);
  const net::Response r = Post("/api/v1/forward", forward);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(Post("/api/v1/forward", forward).body)["status"], "duplicate");

  const json stats = Stats(/*as_operator=*/true);
  EXPECT_EQ(stats["records"], 1);
  EXPECT_EQ(stats["chain_length"], 1);
  EXPECT_EQ(stats["patients"], 1);
  auto stored = service_->records().GetPatientRecords("patient-1");
  ASSERT_TRUE(stored) << stored.error().ToString();
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].record, record);
  // The device signature kept with the record is the upload evidence: it re-verifies.
  const wire::UploadEvidence evidence =
      wire::DecodeUploadEvidence((*stored)[0].device_signature).value();
  EXPECT_EQ(evidence, upload.evidence);

  EXPECT_EQ(client_->Get(url_ + "/api/v1/integrity").value().status, 401);
  net::ClientRequest request;
  request.url = url_ + "/api/v1/integrity";
  request.headers.emplace_back("Authorization",
                               "Bearer " + node::testing::TokenText(operator_token_));
  const net::Response integrity = client_->Send(request).value();
  ASSERT_EQ(integrity.status, 200) << integrity.body;
  const json report = json::parse(integrity.body);
  EXPECT_EQ(report["ok"], true);
  EXPECT_EQ(report["entries"], 1);
  EXPECT_TRUE(report["first_broken"].is_null());
}

// POST /api/v1/admin/keys/{part}/rotation on the running cloud: operator only, the part is
// checked, the rotation runs while the service answers, the record stays readable and the
// part's KEK file ends up holding the new KEK alone.
TEST_F(CloudServiceTest, RotatesOnePartsKekLiveThroughTheAdminRoute) {
  const std::filesystem::path keys = dir_.path() / "keys";
  std::filesystem::create_directories(keys);
  auto ring = [&](const char* name) {
    return node::LoadKekRing(keys / name, keys / "kek.key", random_, true).value();
  };
  auto secrets = Secrets();
  ASSERT_TRUE(secrets) << secrets.error().ToString();
  service_.reset();
  {
    CloudOptions options;
    options.data_dir = dir_.path() / "cloud-keys";
    options.access_log = false;
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      options.store.backend = node::StoreBackend::kPostgres;
      options.store.postgres_url = pg;
      options.store.schema_prefix = "t" + HexEncode(random_.Generate(6)) + "_";
    }
    secrets->keks = CloudPartKeks(ring("ei_kek.key"), ring("qi_kek.key"), ring("mi_kek.key"));
    auto service = CloudService::Start(std::move(options), std::move(*secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    url_ = "http://127.0.0.1:" + std::to_string(service_->port());
  }
  Introduce();
  const wire::PatientRecord record = cloudlet_->Record("rec-1");
  const Bytes forward =
      cloudlet_->Forward(cloudlet_->Upload(wire::ContentType::kPatientRecord,
                                           wire::EncodePatientRecord(record).value()),
                         *cloud_certificate_);
  ASSERT_EQ(Post("/api/v1/forward", forward).status, 200);
  const crypto::KeyId old_ei = node::LoadKekFile(keys / "ei_kek.key", random_, false)->key_id();
  const crypto::KeyId old_qi = node::LoadKekFile(keys / "qi_kek.key", random_, false)->key_id();

  // An admin's and an operator's account sessions, as the accounts routes issue them.
  const std::string password = "correct horse battery staple";
  auto admin = service_->accounts().service().CreateAdmin({"admin@hospital.test", password}, "A");
  ASSERT_TRUE(admin) << admin.error().ToString();
  const accounts::Principal admin_principal{
      admin->account_id, accounts::Role::kAdmin, "", "", "", 0, false};
  auto op = service_->accounts().service().CreateOperator(
      admin_principal, {"op@hospital.test", password}, "Op", "cloudlet-1", "test");
  ASSERT_TRUE(op) << op.error().ToString();
  const auto login = [&](const std::string& email) {
    net::ClientRequest request;
    request.method = net::Method::kPost;
    request.url = url_ + "/api/v1/session";
    request.content_type = "application/json";
    request.body = json{{"email", email}, {"password", password}}.dump();
    auto r = client_->Send(request);
    EXPECT_TRUE(r && r->status == 200);
    return r ? json::parse(r->body, nullptr, false).value("token", "") : "";
  };
  const std::string admin_session = login("admin@hospital.test");
  const std::string operator_session = login("op@hospital.test");
  ASSERT_FALSE(admin_session.empty());
  ASSERT_FALSE(operator_session.empty());

  const auto call = [&](net::Method method, const std::string& part, bool with_token,
                        const std::string& session = {}) {
    net::ClientRequest request;
    request.method = method;
    request.url = url_ + "/api/v1/admin/keys/" + part + "/rotation";
    if (with_token) {
      request.headers.emplace_back("Authorization",
                                   "Bearer " + node::testing::TokenText(operator_token_));
    } else if (!session.empty()) {
      request.headers.emplace_back("Authorization", "Bearer " + session);
    }
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  };
  ExpectError(call(net::Method::kPost, "ei", false), 401, "unauthenticated");
  ExpectError(call(net::Method::kGet, "ei", false), 401, "unauthenticated");
  ExpectError(call(net::Method::kPost, "ei", false, "not-a-token"), 401, "unauthenticated");
  ExpectError(call(net::Method::kPost, "xx", true), 400, "invalid_argument");
  EXPECT_EQ(json::parse(call(net::Method::kGet, "ei", true).body)["state"], "never_run");
  // Another role's session is refused; an admin's session reads the status.
  ExpectError(call(net::Method::kPost, "qi", false, operator_session), 403, "permission_denied");
  ExpectError(call(net::Method::kGet, "qi", false, operator_session), 403, "permission_denied");
  EXPECT_EQ(json::parse(call(net::Method::kGet, "ei", false, admin_session).body)["state"],
            "never_run");

  const net::Response started = call(net::Method::kPost, "ei", true);
  ASSERT_EQ(started.status, 202) << started.body;
  json done;
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] {
    done = json::parse(call(net::Method::kGet, "ei", true).body);
    return done["state"] != "running";
  }));
  ASSERT_EQ(done["state"], "done") << done.dump();
  EXPECT_EQ(done["rewrapped"], 1);
  EXPECT_EQ(done["retired"], json::array({HexEncode(old_ei)}));
  const crypto::KeyId new_ei = node::LoadKekFile(keys / "ei_kek.key", random_, false)->key_id();
  EXPECT_EQ(done["kek_id"], HexEncode(new_ei));
  EXPECT_FALSE(new_ei == old_ei);
  EXPECT_FALSE(std::filesystem::exists(node::NextKekFile(keys / "ei_kek.key")));
  // Only the EI part changed.
  EXPECT_TRUE(node::LoadKekFile(keys / "qi_kek.key", random_, false)->key_id() == old_qi);

  // An admin's session rotates the MI part the same way.
  const net::Response by_admin = call(net::Method::kPost, "mi", false, admin_session);
  ASSERT_EQ(by_admin.status, 202) << by_admin.body;
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] {
    done = json::parse(call(net::Method::kGet, "mi", false, admin_session).body);
    return done["state"] != "running";
  }));
  EXPECT_EQ(done["state"], "done");

  // Every POST past authentication is audited: the bad part, the operator's refusal, the
  // operator token's rotation and the admin's, each with who and the outcome.
  auto page = service_->audit().Query({});
  ASSERT_TRUE(page) << page.error().ToString();
  std::vector<std::string> rotations;  // "<role> <account?> <part> <outcome>"
  for (const json& event : page->events) {
    if (event["subtype"][1]["code"] != "kek.rotate") continue;
    const json& agent = event["agent"][0];
    const bool by_account = agent["who"].contains("identifier");
    const json what = event.value("entity", json::array()).back().value("what", json::object());
    const std::string part = what.value("identifier", json::object()).value("value", "");
    rotations.push_back(agent["role"][0]["coding"][0]["code"].get<std::string>() +
                        (by_account ? " account " : " token ") + part + " " +
                        event["outcome"].get<std::string>());
  }
  const std::vector<std::string> expected = {
      // newest first
      "admin account mi 0", "operator token ei 0", "operator account qi 4", "operator token  4"};
  EXPECT_EQ(rotations, expected);
  auto stored = service_->records().GetPatientRecords("patient-1");
  ASSERT_TRUE(stored) << stored.error().ToString();
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ((*stored)[0].record, record);
}

TEST_F(CloudServiceTest, ACloudWithoutKekFilesRefusesToRotate) {
  net::ClientRequest request;
  request.method = net::Method::kPost;
  request.url = url_ + "/api/v1/admin/keys/mi/rotation";
  request.headers.emplace_back("Authorization",
                               "Bearer " + node::testing::TokenText(operator_token_));
  const net::Response r = client_->Send(request).value();
  ExpectError(r, 409, "failed_precondition");
}

TEST_F(CloudServiceTest, RefusesACloudletCertificateFromAnotherRoot) {
  node::testing::TestDeployment rogue(dir_.path() / "rogue");
  auto impostor = rogue.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
  ASSERT_TRUE(impostor);
  ExpectError(Post("/api/v1/cloudlets", impostor->certificate.encoded()), 401, "unauthenticated");
  // Not a cloudlet's certificate at all.
  auto cloud = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
  ExpectError(Post("/api/v1/cloudlets", cloud->certificate.encoded()), 403, "permission_denied");
  ExpectError(Post("/api/v1/cloudlets", AsBytes("not a certificate")), 401, "unauthenticated");

  // With the genuine cloudlet registered, a forward signed by the impostor's key is refused.
  Introduce();
  TestCloudlet fake(std::move(*impostor), random_, clock_);
  (void)fake.Enrol();
  ExpectError(Post("/api/v1/forward", fake.Forward(fake.Readings(), *cloud_certificate_)), 401,
              "unauthenticated");
  EXPECT_EQ(Stats()["reading_batches"], 0);
  EXPECT_GE(Stats(/*as_operator=*/true)["rejected"], 4);
}

TEST_F(CloudServiceTest, AsksForMissingCertificatesAndEnrolments) {
  const wire::OpenedUpload upload = [&] {
    (void)cloudlet_->Enrol();
    return cloudlet_->Readings();
  }();
  const Bytes forward = cloudlet_->Forward(upload, *cloud_certificate_);
  ExpectError(Post("/api/v1/forward", forward), 409, "failed_precondition");
  ASSERT_EQ(Post("/api/v1/cloudlets", cloudlet_->certificate()).status, 200);
  EXPECT_EQ(json::parse(Post("/api/v1/cloudlets", cloudlet_->certificate()).body)["status"],
            "unchanged");
  ExpectError(Post("/api/v1/forward", forward), 409, "failed_precondition");
  ASSERT_EQ(Post("/api/v1/enrolments", cloudlet_->Enrol()).status, 200);
  EXPECT_EQ(Post("/api/v1/forward", forward).status, 200);
  // An enrolment of the same device with another key is a conflict.
  TestCloudlet other(deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1").value(),
                     random_, clock_);
  ExpectError(Post("/api/v1/enrolments", other.Enrol()), 409, "already_exists");
}

TEST_F(CloudServiceTest, RefusesDamagedAndOversizedForwards) {
  Introduce();
  Bytes forward = cloudlet_->Forward(cloudlet_->Readings(), *cloud_certificate_);
  ExpectError(Post("/api/v1/forward", ByteView(forward).first(20)), 400, "invalid_argument");
  forward[forward.size() / 2] ^= 0x01;
  ExpectError(Post("/api/v1/forward", forward), 401, "unauthenticated");
  forward.back() ^= 0x01;
  ExpectError(Post("/api/v1/forward", forward), 401, "unauthenticated");
  const Bytes huge(wire::kMaxForwardBytes + 1, 0x42);
  EXPECT_EQ(Post("/api/v1/forward", huge).status, 413);
  EXPECT_EQ(Stats()["reading_batches"], 0);
}

// A device belongs to the cloudlet that enrolled it first: another registered cloudlet's claim
// (for the same patient or another) is refused with an IDS event, and so is its forward of data
// the device signed under its first enrolment.
TEST_F(CloudServiceTest, AnotherCloudletCannotClaimOrForwardAnEnrolledDevice) {
  Introduce();
  const wire::OpenedUpload upload = cloudlet_->Readings();
  auto second = SecondCloudlet();
  ExpectError(Post("/api/v1/enrolments", second->Enrol("watch-1", "patient-1")), 409,
              "already_exists");
  ExpectError(Post("/api/v1/enrolments", second->Enrol("watch-1", "patient-2")), 409,
              "already_exists");
  EXPECT_EQ(IdsEvents(store::IdsEventKind::kEnrolmentConflict), 2u);
  // The genuine device's signed upload, forwarded by the other cloudlet.
  ExpectError(Post("/api/v1/forward", second->Forward(upload, *cloud_certificate_)), 403,
              "permission_denied");
  EXPECT_EQ(IdsEvents(store::IdsEventKind::kEnrolmentConflict), 3u);
  EXPECT_EQ(Stats()["reading_batches"], 0);
  // Through its own cloudlet it is taken; the enrolling cloudlet's repeat is a duplicate.
  EXPECT_EQ(Post("/api/v1/forward", cloudlet_->Forward(upload, *cloud_certificate_)).status, 200);
  EXPECT_EQ(json::parse(Post("/api/v1/enrolments", cloudlet_->Enrol()).body)["status"],
            "duplicate");
}

// A withdrawal takes effect at once (the enrolment was cached by the forward before it), needs
// the operator token, and a withdrawn device is never enrolled again.
TEST_F(CloudServiceTest, AWithdrawnDeviceIsRefusedWithoutARestart) {
  Introduce();
  ASSERT_EQ(Post("/api/v1/forward", cloudlet_->Forward(cloudlet_->Readings(), *cloud_certificate_))
                .status,
            200);
  ExpectError(Withdraw("watch-1", enrol_like_token_), 401, "unauthenticated");
  EXPECT_EQ(IdsEvents(store::IdsEventKind::kAuthFailure), 1u);
  ExpectError(Withdraw("watch-9", operator_token_), 404, "not_found");
  const net::Response withdrawn = Withdraw("watch-1", operator_token_);
  ASSERT_EQ(withdrawn.status, 200) << withdrawn.body;
  EXPECT_EQ(json::parse(withdrawn.body)["status"], "withdrawn");
  EXPECT_EQ(json::parse(Withdraw("watch-1", operator_token_).body)["status"], "unchanged");

  ExpectError(
      Post("/api/v1/forward", cloudlet_->Forward(cloudlet_->Readings(), *cloud_certificate_)), 403,
      "permission_denied");
  EXPECT_EQ(IdsEvents(store::IdsEventKind::kUnknownDevice), 1u);
  EXPECT_EQ(Stats()["reading_batches"], 1);
  // Re-enrolment of the withdrawn device, by its cloudlet or another: refused.
  ExpectError(Post("/api/v1/enrolments", cloudlet_->Enrol()), 409, "failed_precondition");
  ExpectError(Post("/api/v1/enrolments", SecondCloudlet()->Enrol()), 409, "failed_precondition");
  EXPECT_EQ(IdsEvents(store::IdsEventKind::kEnrolmentConflict), 2u);
  // Still refused after a fresh read of the store (another process's view).
  auto row = service_->intake_store().GetEnrolment(service_->intake().DeviceRef("watch-1"));
  ASSERT_TRUE(row && *row);
  EXPECT_TRUE((*row)->withdrawn_ms.has_value());
}

}  // namespace
}  // namespace medmesh::cloud
