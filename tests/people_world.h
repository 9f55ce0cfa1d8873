// PeopleWorld: the gtest fixture of the authorisation matrix and bad-input tests
// (tests/authz_matrix_test.cc, tests/bad_input_test.cc). In one process, over loopback HTTP: a
// real cloud (SQLite, or the PostgreSQL test cluster when MEDMESH_TEST_PG is set), two
// real cloudlets forwarding to it, and people of every role with data (docs/authorization.md,
// "How to read a row"):
//   patient A: device watch-a and the spare device watch-s at cloudlet-1, records rec-1 and rec-2
//              and a reading batch, an approved portal activation, a grant of rec-1 to doctor D1
//              and D1's answer with a prescription;
//   patient B: device watch-b at cloudlet-2, record rec-b1 and a reading batch, an approved
//              activation, a grant to doctor D2 and D2's answer;
//   op1 runs cloudlet-1, op2 runs cloudlet-2; one admin.
// Each node has its own operator token; each cloudlet its own enrol token. Password hashing is
// cheap (tests only). Ids, names and tokens are never printed: helpers report statuses and the
// error body's fixed fields only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "accounts/encoding.h"
#include "cloud/cloud_service.h"
#include "cloudlet/cloudlet_service.h"
#include "core/bytes.h"
#include "core/log.h"
#include "crypto/signing.h"
#include "net/http_client.h"
#include "node/test_support.h"
#include "testing/test_backend.h"
#include "testing/wait.h"
#include "wire/model.h"
#include "wire/node_request.h"
#include "wire/record_codec.h"

namespace medmesh::people_testing {

using nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

inline constexpr char kPassword[] = "correct horse battery staple";
inline constexpr char kOtherPassword[] = "another long enough password";
inline constexpr char kAdminEmail[] = "admin@hospital.test";
// Well-formed ids that name nothing.
inline constexpr char kUnknownAccount[] = "acc_aaaaaaaaaaaaaaaaaaaaaaaaaa";
inline constexpr char kUnknownActivation[] = "act_aaaaaaaaaaaaaaaaaaaaaaaaaa";
inline constexpr char kUnknownConsent[] = "cns_aaaaaaaaaaaaaaaaaaaaaaaaaa";
inline constexpr char kUnknownDevice[] = "watch-zz";
inline constexpr char kUnknownRecord[] = "rec-zz";
inline constexpr char kUnknownBatch[] = "0123456789abcdef0123456789abcdef";

// What a failed expectation may print: the status and the error body's fixed fields, never ids.
inline std::string Why(const net::Response& r) {
  const json body = json::parse(r.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return "status " + std::to_string(r.status);
  return "status " + std::to_string(r.status) + " " + body.value("error", "") + ": " +
         body.value("message", "");
}

// True if `r` carries the machine-readable error body {"error", "message", ...} (docs/http.md).
inline bool HasErrorBody(const net::Response& r) {
  const json body = json::parse(r.body, nullptr, false);
  return body.is_object() && body.contains("error") && body["error"].is_string() &&
         !body["error"].get<std::string>().empty() && body.contains("message") &&
         body["message"].is_string();
}

inline json Body(const net::Response& r) { return json::parse(r.body, nullptr, false); }

inline Headers Bearer(const std::string& token) {
  if (token.empty()) return {};
  return {{"Authorization", "Bearer " + token}};
}

// A PNG the photo check accepts: its signature and `size` bytes in all, as standard base64.
inline std::string PngBase64(std::size_t size) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  png.resize(std::max<std::size_t>(size, png.size() + 1), 0x42);
  std::string out = accounts::Base64UrlEncode(png);
  std::replace(out.begin(), out.end(), '-', '+');
  std::replace(out.begin(), out.end(), '_', '/');
  while (out.size() % 4 != 0) out += '=';
  return out;
}

// The system clock, moved forward by whatever a test advances it (to expire sessions) while
// everything else keeps running: Monotonic() is not moved, so no wait or timeout is disturbed.
class AdjustableClock final : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::now() + std::chrono::nanoseconds(offset_ns_.load());
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
  void Advance(std::chrono::nanoseconds d) { offset_ns_ += d.count(); }

 private:
  std::atomic<std::int64_t> offset_ns_{0};
};

struct Login {
  std::string email;
  std::string token;
  std::string csrf;
  std::string cookie;  // "mm_session=...; mm_csrf=..."
  std::string account_id;
  std::string patient_id;  // patients only
};

class PeopleWorld : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kError);  // refusals are the point here: their warnings are noise
    StartCloud();
    if (HasFatalFailure()) return;
    for (int i = 0; i < 2; ++i) {
      StartCloudlet(i);
      if (HasFatalFailure()) return;
    }
    ASSERT_TRUE(cloud_->accounts().service().CreateAdmin({kAdminEmail, kPassword}, "Admin"));
    admin_ = LogIn(kAdminEmail);
    a_ = NewPatient("a@example.test", /*photo=*/true);
    b_ = NewPatient("b@example.test", /*photo=*/true);
    d1_ = NewDoctor("d1@example.test");
    d2_ = NewDoctor("d2@example.test");
    op1_ = NewOperator("op1@hospital.test", "cloudlet-1");
    op2_ = NewOperator("op2@hospital.test", "cloudlet-2");
    ASSERT_FALSE(admin_.token.empty() || a_.token.empty() || b_.token.empty() ||
                 d1_.token.empty() || d2_.token.empty() || op1_.token.empty() ||
                 op2_.token.empty());
    // The cloudlets accept sessions once they have polled the cloud's revocations.
    for (const std::string& url : cloudlet_urls_) {
      ASSERT_TRUE(testing::WaitUntil([&] {
        return Send(url, net::Method::kGet, "/api/v1/devices", Bearer(a_.token)).status == 200;
      }));
    }
    MakeData();
    if (HasFatalFailure()) return;
    MakeWorkflows();
  }

  void TearDown() override {
    for (auto& c : cloudlets_) {
      if (c) c->Stop(std::chrono::milliseconds(2000));
    }
    if (cloud_) cloud_->Stop(std::chrono::milliseconds(2000));
  }

  // --- HTTP ------------------------------------------------------------------------------------

  net::Response Send(const std::string& base, net::Method method, const std::string& path,
                     Headers headers = {}, const std::string& body = {},
                     const std::string& content_type = "application/json") {
    net::ClientRequest request;
    request.method = method;
    request.url = base + path;
    request.headers = std::move(headers);
    request.body = body;
    if (!body.empty() && !content_type.empty()) request.content_type = content_type;
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }
  net::Response AtCloud(net::Method method, const std::string& path, const std::string& token = {},
                        const json& body = nullptr) {
    return Send(cloud_url_, method, path, Bearer(token), body.is_null() ? "" : body.dump());
  }

  // --- People ----------------------------------------------------------------------------------

  Login LogIn(const std::string& email, const std::string& password = kPassword) {
    const net::Response r = AtCloud(net::Method::kPost, "/api/v1/session", {},
                                    {{"email", email}, {"password", password}});
    EXPECT_EQ(r.status, 200) << Why(r);
    if (r.status != 200) return {};
    const json session = Body(r);
    Login login{email,
                session["token"],
                session["csrf"],
                "",
                session.value("account_id", ""),
                session.value("patient_id", "")};
    for (const auto& [name, value] : r.headers) {
      if (!net::EqualsIgnoreCase(name, "Set-Cookie")) continue;
      if (!login.cookie.empty()) login.cookie += "; ";
      login.cookie += value.substr(0, value.find(';'));
    }
    return login;
  }

  // A fresh, unique e-mail address.
  std::string NewEmail(const std::string& who) {
    return who + std::to_string(++emails_) + "@example.test";
  }

  json PatientRegistration(const std::string& email, bool photo) const {
    json body{{"email", email},           {"password", kPassword},      {"display_name", "Pat"},
              {"full_name", "Pat Smith"}, {"birth_date", "1970-01-02"}, {"sex", "female"}};
    if (photo) body["photo"] = {{"content_type", "image/png"}, {"data", PngBase64(600)}};
    return body;
  }
  json DoctorRegistration(const std::string& email) const {
    return {{"email", email},
            {"password", kPassword},
            {"display_name", "Dr"},
            {"licence_number", "GMC-7"},
            {"speciality", "cardiology"},
            {"hospital", "St Elsewhere"}};
  }

  // Registers a patient (pending); returns the account id ("" on failure).
  std::string RegisterPatient(const std::string& email, bool photo = false) {
    const net::Response r = AtCloud(net::Method::kPost, "/api/v1/accounts/patients", {},
                                    PatientRegistration(email, photo));
    EXPECT_EQ(r.status, 201) << Why(r);
    return r.status == 201 ? Body(r).value("account_id", "") : "";
  }
  void Approve(const std::string& account_id) {
    const net::Response r =
        AtCloud(net::Method::kPost, "/api/v1/admin/registrations/" + account_id + "/approval",
                admin_.token);
    EXPECT_EQ(r.status, 200) << Why(r);
  }
  Login NewPatient(const std::string& email, bool photo = false) {
    Approve(RegisterPatient(email, photo));
    return LogIn(email);
  }
  Login NewDoctor(const std::string& email) {
    const net::Response r =
        AtCloud(net::Method::kPost, "/api/v1/accounts/doctors", {}, DoctorRegistration(email));
    EXPECT_EQ(r.status, 201) << Why(r);
    Approve(Body(r).value("account_id", ""));
    return LogIn(email);
  }
  Login NewOperator(const std::string& email, const std::string& cloudlet_id) {
    const net::Response r = AtCloud(net::Method::kPost, "/api/v1/admin/operators", admin_.token,
                                    {{"email", email},
                                     {"password", kPassword},
                                     {"display_name", "Op"},
                                     {"cloudlet_id", cloudlet_id}});
    EXPECT_EQ(r.status, 201) << Why(r);
    return LogIn(email);
  }
  // A fresh, approved, logged-in patient with a device enrolled at cloudlet-1 that the cloud
  // knows of (so they may ask cloudlet-1 for portal activation).
  Login NewPatientAtCloudlet1() {
    Login patient = NewPatient(NewEmail("fresh"));
    EXPECT_FALSE(
        EnrolWithToken("watch-f" + std::to_string(emails_), patient.patient_id, 0).empty());
    EXPECT_TRUE(testing::WaitUntil([&] {
      auto cloudlets = cloud_->intake_store().CloudletsOfPatient(patient.patient_id);
      return cloudlets && !cloudlets->empty();
    }));
    return patient;
  }
  // Logs every person in again (after a password change revoked someone's sessions).
  void RefreshLogins() {
    for (Login* l : {&admin_, &a_, &b_, &d1_, &d2_, &op1_, &op2_}) *l = LogIn(l->email);
  }

  // --- Devices and data ------------------------------------------------------------------------

  // Enrols a new device of patient `patient_id` at cloudlet `index` with its enrol token;
  // returns the signed enrolment record (empty on failure).
  Bytes EnrolWithToken(const std::string& device_id, const std::string& patient_id, int index) {
    node::testing::TestDevice device(device_id, patient_id, random_, clock_);
    auto request = device.EnrolmentRequest("cloudlet-" + std::to_string(index + 1));
    EXPECT_TRUE(request);
    if (!request) return {};
    const net::Response r = Send(cloudlet_urls_[index], net::Method::kPost, "/api/v1/enrol",
                                 Bearer(node::testing::TokenText(enrol_tokens_[index])),
                                 json{{"request", HexEncode(*request)}}.dump());
    EXPECT_EQ(r.status, 200) << Why(r);
    return r.status == 200 ? Bytes(r.body.begin(), r.body.end()) : Bytes{};
  }
  net::Response Upload(int index, ByteView upload) {
    return Send(cloudlet_urls_[index], net::Method::kPost, "/api/v1/ingest", {},
                std::string(AsStringView(upload)), "application/octet-stream");
  }
  // A fresh reading batch of A's watch (not yet uploaded).
  Bytes NewBatchOfA() {
    return device_a_->SealReadings(node::testing::HeartRate(wire::ToUnixMs(clock_.Now()), 3))
        .value();
  }
  // A node-signed Authorization header from `signer` (its certificate `certificate`) to node
  // `callee` for `path`.
  std::string NodeSignature(const crypto::Signer& signer, const Bytes& certificate,
                            const std::string& callee, const std::string& path) {
    auto header =
        wire::SignNodeRequest(signer, certificate, callee, path, wire::ToUnixMs(clock_.Now()));
    EXPECT_TRUE(header);
    return header ? *header : "";
  }
  // A's record rec-1 as a forward envelope, from cloudlet-1's copy route (as a restore gets it).
  Bytes ForwardOfRecordA() {
    const std::string path = "/api/v1/copies/records/watch-a/rec-1";
    const net::Response r = Send(
        cloudlet_urls_[0], net::Method::kGet, path,
        {{"Authorization", NodeSignature(*cloud_signer_, cloud_certificate_, "cloudlet-1", path)}});
    EXPECT_EQ(r.status, 200) << Why(r);
    return Bytes(r.body.begin(), r.body.end());
  }

  // --- Workflows -------------------------------------------------------------------------------

  std::string RequestActivation(const Login& patient, const std::string& cloudlet_id) {
    const net::Response r = AtCloud(net::Method::kPost, "/api/v1/activations", patient.token,
                                    {{"cloudlet_id", cloudlet_id}});
    EXPECT_EQ(r.status, 201) << Why(r);
    return r.status == 201 ? Body(r).value("activation_id", "") : "";
  }
  std::string Grant(const Login& patient, const Login& doctor, const std::string& device_id,
                    const std::string& record_id) {
    const net::Response r =
        AtCloud(net::Method::kPost, "/api/v1/consents", patient.token,
                {{"doctor_id", doctor.account_id},
                 {"records", {{{"device_id", device_id}, {"record_id", record_id}}}}});
    EXPECT_EQ(r.status, 201) << Why(r);
    return r.status == 201 ? Body(r).value("consent_id", "") : "";
  }
  static json AnswerBody() {
    return {{"diagnosis", "Paroxysmal atrial fibrillation"},
            {"medication", "stop caffeine"},
            {"prescription",
             {{"drug", "apixaban"},
              {"dose", "5 mg"},
              {"frequency", "twice daily"},
              {"duration", "3 months"}}}};
  }

  cloud::CloudService& cloud() { return *cloud_; }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  AdjustableClock clock_;
  SystemRandom random_;
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  SecretBytes cloud_operator_token_ = node::testing::RandomToken(random_);
  std::array<SecretBytes, 2> cloudlet_operator_tokens_ = {node::testing::RandomToken(random_),
                                                          node::testing::RandomToken(random_)};
  std::array<SecretBytes, 2> enrol_tokens_ = {node::testing::RandomToken(random_),
                                              node::testing::RandomToken(random_)};
  std::unique_ptr<cloud::CloudService> cloud_;
  std::array<std::unique_ptr<cloudlet::CloudletService>, 2> cloudlets_;
  std::string cloud_url_;
  std::array<std::string, 2> cloudlet_urls_;
  // Node keys and certificates, to sign node requests as the cloud and as cloudlet-1.
  std::unique_ptr<crypto::Signer> cloud_signer_;
  Bytes cloud_certificate_;
  std::unique_ptr<crypto::Signer> cloudlet1_signer_;
  std::optional<crypto::SigningSecretKey> cloudlet1_key_;
  Bytes cloudlet1_certificate_;

  Login admin_, a_, b_, d1_, d2_, op1_, op2_;
  std::unique_ptr<node::testing::TestDevice> device_a_;
  std::unique_ptr<node::testing::TestDevice> device_b_;
  Bytes spare_enrolment_;  // watch-s's enrolment record (A's, at cloudlet-1)
  std::string batch_a_;    // A's reading batch at the cloud, 32 hex characters
  std::string consent_a_;  // A's grant of rec-1 to D1
  std::string consent_b_;  // B's grant of rec-b1 to D2
  int emails_ = 0;

 private:
  void StartCloud() {
    cloud::CloudOptions options;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    options.password_hasher = {.ops_limit = 1, .mem_limit_bytes = 1 << 20};
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      options.store.backend = node::StoreBackend::kPostgres;
      options.store.postgres_url = pg;
      options.store.schema_prefix = "z" + HexEncode(random_.Generate(6)) + "_";
    }
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloud_signer_ = crypto::NewEd25519Signer(identity->signing_key.Clone());
    cloud_certificate_ =
        Bytes(identity->certificate.encoded().begin(), identity->certificate.encoded().end());
    cloud::CloudSecrets secrets{std::move(*identity), crypto::KeyEncryptionKey::Generate(random_),
                                SecretBytes(random_.Generate(32)),
                                SecretBytes(random_.Generate(32)), cloud_operator_token_.Clone()};
    auto service =
        cloud::CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    cloud_ = std::move(*service);
    cloud_url_ = "http://127.0.0.1:" + std::to_string(cloud_->port());
  }

  void StartCloudlet(int index) {
    const std::string id = "cloudlet-" + std::to_string(index + 1);
    cloudlet::CloudletOptions options;
    options.data_dir = dir_.path() / id;
    options.access_log = false;
    options.io_threads = 4;
    options.forwarder.cloud_url = cloud_url_;
    options.forwarder.poll_interval = std::chrono::milliseconds(50);
    options.forward_queue.initial_backoff = std::chrono::milliseconds(50);
    options.forward_queue.max_backoff = std::chrono::milliseconds(200);
    options.accounts.poll_interval = std::chrono::milliseconds(50);
    auto identity = deployment_.Identity(wire::CertificateRole::kCloudlet, id);
    ASSERT_TRUE(identity) << identity.error().ToString();
    if (index == 0) {
      cloudlet1_signer_ = crypto::NewEd25519Signer(identity->signing_key.Clone());
      cloudlet1_key_.emplace(identity->signing_key.Clone());
      cloudlet1_certificate_ =
          Bytes(identity->certificate.encoded().begin(), identity->certificate.encoded().end());
    }
    cloudlet::CloudletSecrets secrets{
        std::move(*identity), crypto::KeyEncryptionKey::Generate(random_),
        enrol_tokens_[index].Clone(), cloudlet_operator_tokens_[index].Clone()};
    auto service =
        cloudlet::CloudletService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    cloudlets_[index] = std::move(*service);
    cloudlet_urls_[index] = "http://127.0.0.1:" + std::to_string(cloudlets_[index]->port());
    cloud_->SetCloudletUrl(id, cloudlet_urls_[index]);
  }

  void MakeData() {
    const crypto::SigningPublicKey& root = deployment_.Root().key;
    device_a_ =
        std::make_unique<node::testing::TestDevice>("watch-a", a_.patient_id, random_, clock_);
    device_b_ =
        std::make_unique<node::testing::TestDevice>("watch-b", b_.patient_id, random_, clock_);
    ASSERT_TRUE(device_a_->Enrol(*client_, cloudlet_urls_[0], enrol_tokens_[0], root));
    ASSERT_TRUE(device_b_->Enrol(*client_, cloudlet_urls_[1], enrol_tokens_[1], root));
    spare_enrolment_ = EnrolWithToken("watch-s", a_.patient_id, 0);
    ASSERT_FALSE(spare_enrolment_.empty());

    const std::int64_t now = wire::ToUnixMs(clock_.Now());
    ASSERT_EQ(Upload(0, device_a_->SealReadings(node::testing::HeartRate(now - 60'000, 5)).value())
                  .status,
              200);
    batch_a_ = HexEncode(device_a_->last_batch_id());
    ASSERT_EQ(Upload(1, device_b_->SealReadings(node::testing::HeartRate(now - 60'000, 5)).value())
                  .status,
              200);
    for (const char* id : {"rec-1", "rec-2"}) {
      const Bytes record = wire::EncodePatientRecord(device_a_->Record(id)).value();
      ASSERT_EQ(
          Upload(0, device_a_->Seal(wire::ContentType::kPatientRecord, record).value()).status,
          200);
    }
    const Bytes record_b = wire::EncodePatientRecord(device_b_->Record("rec-b1")).value();
    ASSERT_EQ(
        Upload(1, device_b_->Seal(wire::ContentType::kPatientRecord, record_b).value()).status,
        200);
    // Everything reached the cloud, the spare device's enrolment too (it is pushed with the
    // others, before the uploads queued after it).
    ASSERT_TRUE(testing::WaitUntil([&] {
      auto stats = cloud_->Stats();
      return stats && stats->records == 3 && stats->reading_batches == 2 &&
             cloudlets_[0]->Stats().forward_queue_depth == 0 &&
             cloudlets_[1]->Stats().forward_queue_depth == 0;
    }));
  }

  void MakeWorkflows() {
    for (auto [patient, op, cloudlet] :
         {std::tuple{&a_, &op1_, "cloudlet-1"}, std::tuple{&b_, &op2_, "cloudlet-2"}}) {
      const std::string activation = RequestActivation(*patient, cloudlet);
      const net::Response r =
          AtCloud(net::Method::kPost, "/api/v1/activations/" + activation + "/decision", op->token,
                  {{"approve", true}, {"reason", "identity checked"}});
      ASSERT_EQ(r.status, 200) << Why(r);
    }
    consent_a_ = Grant(a_, d1_, "watch-a", "rec-1");
    consent_b_ = Grant(b_, d2_, "watch-b", "rec-b1");
    ASSERT_FALSE(consent_a_.empty() || consent_b_.empty());
    for (auto [doctor, consent] : {std::pair{&d1_, &consent_a_}, std::pair{&d2_, &consent_b_}}) {
      const net::Response r =
          AtCloud(net::Method::kPost, "/api/v1/consents/" + *consent + "/answers", doctor->token,
                  AnswerBody());
      ASSERT_EQ(r.status, 201) << Why(r);
    }
  }
};

}  // namespace medmesh::people_testing
