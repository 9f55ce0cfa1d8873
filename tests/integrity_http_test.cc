// Verify, restore and delete live over loopback HTTP between a real cloud and a real cloudlet
// in one process (issue 8, workflows 5 and 6; docs/integrity.md "Between nodes"): a patient
// registered, approved and logged in through the account routes deletes their data and the
// cloudlet shreds its copy after polling the cloud's signed feed; a record tampered in the
// cloud's SQLite file is found by the verify route and restored from the cloudlet over HTTP;
// callers without the right node signature or session are refused.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cloud/cloud_service.h"
#include "cloudlet/cloudlet_service.h"
#include "core/bytes.h"
#include "crypto/signing.h"
#include "net/http_client.h"
#include "node/test_support.h"
#include "store/ids_event_log.h"
#include "wire/node_request.h"
#include "wire/record_codec.h"

namespace medmesh {
namespace {

using nlohmann::json;
using node::testing::HeartRate;
using node::testing::TestDevice;

constexpr char kPassword[] = "correct horse battery";

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

class IntegrityHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cloud::CloudOptions options;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    options.password_hasher = {.ops_limit = 1, .mem_limit_bytes = 1 << 20};
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloud::CloudSecrets secrets{std::move(*identity), crypto::KeyEncryptionKey::Generate(random_),
                                SecretBytes(random_.Generate(32)),
                                SecretBytes(random_.Generate(32)), SecretBytes()};
    auto cloud =
        cloud::CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(cloud) << cloud.error().ToString();
    cloud_ = std::move(*cloud);
    cloud_url_ = "http://127.0.0.1:" + std::to_string(cloud_->port());

    cloudlet::CloudletOptions edge;
    edge.data_dir = dir_.path() / "cloudlet";
    edge.access_log = false;
    edge.forwarder.cloud_url = cloud_url_;
    edge.forwarder.poll_interval = std::chrono::milliseconds(50);
    // The maintenance thread polls the deletion feed after each pass.
    edge.retention.maintenance_interval = std::chrono::seconds(1);
    auto cloudlet_identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(cloudlet_identity) << cloudlet_identity.error().ToString();
    cloudlet::CloudletSecrets edge_secrets{std::move(*cloudlet_identity),
                                           crypto::KeyEncryptionKey::Generate(random_),
                                           enrol_token_.Clone(), operator_token_.Clone()};
    auto service =
        cloudlet::CloudletService::Start(std::move(edge), std::move(edge_secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    cloudlet_ = std::move(*service);
    cloudlet_url_ = "http://127.0.0.1:" + std::to_string(cloudlet_->port());
    cloud_->SetCloudletUrl("cloudlet-1", cloudlet_url_);
  }

  net::Response Send(net::Method method, const std::string& url, const std::string& token,
                     const json& body = nullptr) {
    net::ClientRequest request;
    request.method = method;
    request.url = url;
    if (!body.is_null()) {
      request.body = body.dump();
      request.content_type = "application/json";
    }
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  // Registers a patient, has the admin approve them, logs in: {token, patient_id}.
  std::pair<std::string, std::string> PatientSession(const std::string& email) {
    EXPECT_TRUE(cloud_->accounts().service().CreateAdmin({admin_email_, kPassword}, "Admin"));
    const std::string admin = Login(admin_email_);
    const net::Response registered =
        Send(net::Method::kPost, cloud_url_ + "/api/v1/accounts/patients", "",
             {{"email", email},
              {"password", kPassword},
              {"display_name", "Pat"},
              {"full_name", "Patricia Example"},
              {"phone", "+44 20 7946 0958"},
              {"birth_date", "1970-02-03"},
              {"sex", "female"}});
    EXPECT_EQ(registered.status, 201) << registered.body;
    const std::string id = json::parse(registered.body)["account_id"];
    EXPECT_EQ(Send(net::Method::kPost,
                   cloud_url_ + "/api/v1/admin/registrations/" + id + "/approval", admin)
                  .status,
              200);
    const net::Response login = Send(net::Method::kPost, cloud_url_ + "/api/v1/session", "",
                                     {{"email", email}, {"password", kPassword}});
    EXPECT_EQ(login.status, 200);
    const json session = json::parse(login.body);
    return {session["token"], session["patient_id"]};
  }

  std::string Login(const std::string& email) {
    const net::Response r = Send(net::Method::kPost, cloud_url_ + "/api/v1/session", "",
                                 {{"email", email}, {"password", kPassword}});
    EXPECT_EQ(r.status, 200);
    return r.status == 200 ? json::parse(r.body)["token"].get<std::string>() : "";
  }

  void Upload(const Bytes& upload) {
    auto r = client_->Post(cloudlet_url_ + "/api/v1/ingest", std::string(AsStringView(upload)),
                           "application/octet-stream");
    ASSERT_TRUE(r) << r.error().ToString();
    ASSERT_EQ(r->status, 200) << r->body;
  }

  // The device enrols for `patient_id`, uploads a batch of readings and record "rec-1", and
  // everything reaches the cloud.
  void DataOf(TestDevice& device) {
    ASSERT_TRUE(device.Enrol(*client_, cloudlet_url_, enrol_token_, deployment_.Root().key));
    Upload(device.SealReadings(HeartRate(NowMs() - 60'000, 30)).value());
    const Bytes record = wire::EncodePatientRecord(device.Record("rec-1")).value();
    Upload(device.Seal(wire::ContentType::kPatientRecord, record).value());
    ASSERT_TRUE(Eventually([&] { return cloudlet_->Stats().forwarded >= 2; }));
  }

  template <typename F>
  bool Eventually(F done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
  }

  std::size_t CloudletReadings(const std::string& patient_id) {
    const net::Response r =
        Send(net::Method::kGet, cloudlet_url_ + "/api/v1/patients/" + patient_id + "/readings",
             node::testing::TokenText(operator_token_));
    EXPECT_EQ(r.status, 200);
    return r.status == 200 ? json::parse(r.body)["readings"].size() : 0;
  }

  std::int64_t Count(const std::string& file, const std::string& sql, const std::string& arg) {
    SQLite::Database db((dir_.path() / file).string(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db, sql);
    q.bind(1, arg);
    q.executeStep();
    return q.getColumn(0).getInt64();
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  SystemClock clock_;
  SystemRandom random_;
  SecretBytes enrol_token_ = node::testing::RandomToken(random_);
  SecretBytes operator_token_ = node::testing::RandomToken(random_);
  std::string admin_email_ = "admin@example.org";
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::unique_ptr<cloud::CloudService> cloud_;
  std::unique_ptr<cloudlet::CloudletService> cloudlet_;
  std::string cloud_url_;
  std::string cloudlet_url_;
};

TEST_F(IntegrityHttpTest, PatientDeletesTheirDataAndTheCloudletShredsItAfterPolling) {
  const auto session = PatientSession("pat@example.org");
  // Named copies, not a structured binding: clang 14 refuses a binding captured by a lambda.
  const std::string token = session.first;
  const std::string patient_id = session.second;
  TestDevice device("watch-1", patient_id, random_, clock_);
  DataOf(device);
  ASSERT_EQ(CloudletReadings(patient_id), 30u);
  const std::string records_of = "SELECT count(*) FROM records WHERE device_id = ?";
  const std::string keys_of =
      "SELECT count(*) FROM wrapped_data_keys WHERE CAST(patient_id AS TEXT) = ?";
  ASSERT_EQ(Count("cloudlet/cloudlet.db", records_of, "watch-1"), 1);
  ASSERT_GT(Count("cloudlet/keys.db", keys_of, patient_id), 0);
  // Nothing to shred yet (here or in the maintenance thread's polls).
  ASSERT_EQ(cloudlet_->PollDeletionsNow().value(), 0u);
  ASSERT_EQ(CloudletReadings(patient_id), 30u);

  // Without a session: 401; with the patient's: done.
  EXPECT_EQ(Send(net::Method::kPost, cloud_url_ + "/api/v1/integrity/deletion", "").status, 401);
  const net::Response deleted =
      Send(net::Method::kPost, cloud_url_ + "/api/v1/integrity/deletion", token);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  // The account is closed with the data: the browser's cookies are cleared, the session ends,
  // and the login is refused.
  std::size_t cleared = 0;
  for (const auto& [name, value] : deleted.headers) {
    if (net::EqualsIgnoreCase(name, "Set-Cookie") && value.find("Max-Age=0") != std::string::npos) {
      ++cleared;
    }
  }
  EXPECT_EQ(cleared, 2u);
  EXPECT_EQ(
      Send(net::Method::kPost, cloud_url_ + "/api/v1/integrity/records/watch-1/rec-1/verify", token)
          .status,
      401);
  const net::Response login = Send(net::Method::kPost, cloud_url_ + "/api/v1/session", "",
                                   {{"email", "pat@example.org"}, {"password", kPassword}});
  EXPECT_EQ(login.status, 403);
  EXPECT_EQ(json::parse(login.body).value("reason", ""), "account_disabled");

  // The cloudlet's maintenance thread polls the feed and shreds the patient.
  // (Its data keys go last, just before the cursor moves.)
  ASSERT_TRUE(Eventually([&] { return Count("cloudlet/keys.db", keys_of, patient_id) == 0; }));
  EXPECT_EQ(CloudletReadings(patient_id), 0u);
  // The ledger's rows and every data key of the patient are gone from the cloudlet's files:
  // whatever remains of them (forward queue, WAL pages) no longer decrypts.
  EXPECT_EQ(Count("cloudlet/cloudlet.db", records_of, "watch-1"), 0);
  EXPECT_EQ(Count("cloudlet/keys.db", keys_of, patient_id), 0);
  // The cursor moved: a second poll shreds nothing more.
  EXPECT_EQ(cloudlet_->PollDeletionsNow().value(), 0u);
}

TEST_F(IntegrityHttpTest, ARecordTamperedInTheCloudFileIsRestoredFromTheCloudletOverHttp) {
  const auto session = PatientSession("pat@example.org");
  // Named copies, not a structured binding: clang 14 refuses a binding captured by a lambda.
  const std::string token = session.first;
  const std::string patient_id = session.second;
  TestDevice device("watch-1", patient_id, random_, clock_);
  DataOf(device);
  const std::string verify = cloud_url_ + "/api/v1/integrity/records/watch-1/rec-1/verify";
  const std::string restore = cloud_url_ + "/api/v1/integrity/records/watch-1/rec-1/restore";
  const net::Response fine = Send(net::Method::kPost, verify, token);
  ASSERT_EQ(fine.status, 200) << fine.body;
  EXPECT_EQ(json::parse(fine.body)["ok"], true);
  EXPECT_EQ(Send(net::Method::kPost, verify, "").status, 401);

  {
    SQLite::Database db((dir_.path() / "cloud" / "records.db").string(), SQLite::OPEN_READWRITE);
    db.exec("UPDATE mi SET ciphertext = zeroblob(length(ciphertext))");
  }
  const net::Response tampered = Send(net::Method::kPost, verify, token);
  ASSERT_EQ(tampered.status, 200) << tampered.body;
  EXPECT_EQ(json::parse(tampered.body)["ok"], false);
  EXPECT_EQ(json::parse(tampered.body)["failed_check"], "decrypt");

  const net::Response restored = Send(net::Method::kPost, restore, token);
  ASSERT_EQ(restored.status, 200) << restored.body;
  EXPECT_EQ(json::parse(restored.body)["after"]["ok"], true);
  const net::Response again = Send(net::Method::kPost, verify, token);
  EXPECT_EQ(json::parse(again.body)["ok"], true);
  // A second restore has nothing to mend.
  EXPECT_EQ(Send(net::Method::kPost, restore, token).status, 409);
}

TEST_F(IntegrityHttpTest, NodeRoutesRefuseUnsignedAndForeignCallers) {
  const std::string feed = "/api/v1/cloudlets/cloudlet-1/deletions";
  const std::string copy = "/api/v1/copies/records/watch-1/rec-1";
  // No signature.
  EXPECT_EQ(client_->Get(cloud_url_ + feed).value().status, 401);
  EXPECT_EQ(client_->Get(cloudlet_url_ + copy).value().status, 401);

  const auto signed_get = [&](const std::string& url, const std::string& path,
                              const node::NodeIdentity& who, const std::string& callee,
                              std::int64_t at_ms) {
    auto signer = crypto::NewEd25519Signer(who.signing_key.Clone());
    net::ClientRequest request;
    request.url = url + path;
    request.headers.emplace_back(
        "Authorization",
        wire::SignNodeRequest(*signer, who.certificate.encoded(), callee, path, at_ms).value());
    return client_->Send(request).value().status;
  };
  auto other = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-2");
  ASSERT_TRUE(other);
  // Another cloudlet may not read cloudlet-1's feed; it may read its own.
  EXPECT_EQ(signed_get(cloud_url_, feed, *other, "cloud", NowMs()), 401);
  EXPECT_EQ(
      signed_get(cloud_url_, "/api/v1/cloudlets/cloudlet-2/deletions", *other, "cloud", NowMs()),
      200);
  // Signed for another path, for another node, or too old.
  EXPECT_EQ(
      signed_get(cloud_url_, "/api/v1/cloudlets/cloudlet-2/deletions", *other, "cloud-2", NowMs()),
      401);
  EXPECT_EQ(signed_get(cloud_url_, "/api/v1/cloudlets/cloudlet-2/deletions", *other, "cloud",
                       NowMs() - wire::kNodeRequestSkewMs - 60'000),
            401);
  // A cloudlet is not a cloud: it may not ask another cloudlet for copies.
  EXPECT_EQ(signed_get(cloudlet_url_, copy, *other, "cloudlet-1", NowMs()), 401);
  // A cloud may: the record is not kept here (404, not 401).
  auto cloud = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
  ASSERT_TRUE(cloud);
  EXPECT_EQ(signed_get(cloudlet_url_, copy, *cloud, "cloudlet-1", NowMs()), 404);

  // Every refusal is an IDS auth_failure event where it was refused, as a refused token is:
  // the cloud refused four feed requests, the cloudlet two copy requests.
  const auto refused_node_requests = [&](const char* node, const std::string& route) {
    auto ids = store::IdsEventLog::Open((dir_.path() / node / "ids.db").string());
    EXPECT_TRUE(ids) << ids.error().ToString();
    if (!ids) return std::uint64_t{0};
    store::IdsEventFilter filter;
    filter.kind = store::IdsEventKind::kAuthFailure;
    auto events = (*ids)->Query(filter);
    EXPECT_TRUE(events) << events.error().ToString();
    std::uint64_t n = 0;
    for (const store::IdsEvent& e : events ? *events : std::vector<store::IdsEvent>{}) {
      if (e.detail.rfind("node request refused on " + route + ": ", 0) == 0) n += e.count;
    }
    return n;
  };
  EXPECT_EQ(refused_node_requests("cloud", "/api/v1/cloudlets/{cloudlet_id}/deletions"), 4U);
  EXPECT_EQ(refused_node_requests("cloudlet", "/api/v1/copies/records/{device_id}/{record_id}"),
            2U);
}

}  // namespace
}  // namespace medmesh
