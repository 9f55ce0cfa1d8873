// Issue 8's workflows end to end, in one process, driven only through HTTP: a real cloud, a real
// cloudlet and a device that forwards readings and records through the data path. People
// register, an admin approves them, a patient activates their portal (1), sees their own
// readings and records (2), grants consent (3), a doctor answers with a prescription (4), the
// charts are suppressed (7), the node's audit log holds the reads and writes and verifies.
// Run twice: the cloud on SQLite, and (workflows_postgres_test, testing/test_backend.h) on the
// PostgreSQL test cluster.
// Ids, names and tokens are never printed: failures compare booleans or statuses only.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cloud/cloud_service.h"
#include "cloudlet/cloudlet_service.h"
#include "core/bytes.h"
#include "crypto/signing.h"
#include "net/test_support.h"
#include "node/test_support.h"
#include "store/ids_event_log.h"
#include "testing/test_backend.h"
#include "testing/wait.h"
#include "wire/record_codec.h"

namespace medmesh {
namespace {

using nlohmann::json;
using node::testing::HeartRate;
using node::testing::TestDevice;

constexpr char kPassword[] = "correct horse battery staple";
constexpr char kDiagnosis[] = "Paroxysmal atrial fibrillation'); DROP TABLE answers; --";
constexpr char kDrug[] = "apixaban <script>x</script>";

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

using Headers = std::vector<std::pair<std::string, std::string>>;

class WorkflowsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cloud::CloudOptions options;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      options.store.backend = node::StoreBackend::kPostgres;
      options.store.postgres_url = pg;
      options.store.schema_prefix = "w" + HexEncode(random_.Generate(6)) + "_";
    }
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloud_certificate_.emplace(identity->certificate);
    cloud::CloudSecrets secrets{std::move(*identity), kek_.Clone(), index_key_.Clone(),
                                pseudonym_key_.Clone(), SecretBytes()};
    auto cloud =
        cloud::CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(cloud) << cloud.error().ToString();
    cloud_ = std::move(*cloud);
    url_ = "http://127.0.0.1:" + std::to_string(cloud_->port());

    cloudlet::CloudletOptions edge;
    edge.data_dir = dir_.path() / "cloudlet";
    edge.access_log = false;
    edge.forwarder.cloud_url = url_;
    edge.forwarder.poll_interval = std::chrono::milliseconds(50);
    edge.forward_queue.initial_backoff = std::chrono::milliseconds(50);
    edge.forward_queue.max_backoff = std::chrono::milliseconds(200);
    auto edge_identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(edge_identity) << edge_identity.error().ToString();
    cloudlet::CloudletSecrets edge_secrets{std::move(*edge_identity), cloudlet_kek_.Clone(),
                                           enrol_token_.Clone(), SecretBytes()};
    auto cloudlet =
        cloudlet::CloudletService::Start(std::move(edge), std::move(edge_secrets), clock_, random_);
    ASSERT_TRUE(cloudlet) << cloudlet.error().ToString();
    cloudlet_ = std::move(*cloudlet);
    cloudlet_url_ = "http://127.0.0.1:" + std::to_string(cloudlet_->port());

    // The first admin, as `medmesh admin create` would make it.
    ASSERT_TRUE(cloud_->accounts().service().CreateAdmin({"admin@hospital.test", kPassword}, "A"));
  }

  net::Response Send(net::Method method, const std::string& path, const std::string& body,
                     Headers headers, const std::string& content_type = "application/json") {
    net::ClientRequest request;
    request.method = method;
    request.url = url_ + path;
    request.body = body;
    request.content_type = content_type;
    request.headers = std::move(headers);
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }
  static Headers Bearer(const std::string& token) {
    if (token.empty()) return {};
    return {{"Authorization", "Bearer " + token}};
  }
  net::Response Post(const std::string& path, const json& body, const std::string& token = {}) {
    return Send(net::Method::kPost, path, body.dump(), Bearer(token));
  }
  net::Response PostEmpty(const std::string& path, const std::string& token) {
    return Send(net::Method::kPost, path, "", Bearer(token));
  }
  net::Response Get(const std::string& path, const std::string& token) {
    return Send(net::Method::kGet, path, "", Bearer(token));
  }
  static json Body(const net::Response& r) {
    return json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  }

  net::Response Login(const std::string& email) {
    return Post("/api/v1/session", {{"email", email}, {"password", kPassword}});
  }
  // The bearer token of a successful login (and its CSRF value in `csrf`).
  std::string Token(const std::string& email, std::string* csrf = nullptr) {
    const net::Response r = Login(email);
    EXPECT_EQ(r.status, 200);
    if (r.status != 200) return "";
    const json body = Body(r);
    if (csrf != nullptr) *csrf = body["csrf"].get<std::string>();
    return body["token"].get<std::string>();
  }
  std::string RegisterDoctor(const std::string& email) {
    const net::Response r = Post("/api/v1/accounts/doctors", {{"email", email},
                                                              {"password", kPassword},
                                                              {"display_name", "Dr"},
                                                              {"licence_number", "GMC-7"},
                                                              {"speciality", "cardiology"},
                                                              {"hospital", "St Elsewhere"}});
    EXPECT_EQ(r.status, 201);
    return r.status == 201 ? Body(r)["account_id"].get<std::string>() : "";
  }
  std::string CreateOperator(const std::string& admin, const std::string& email,
                             const std::string& cloudlet_id) {
    const net::Response r = Post("/api/v1/admin/operators",
                                 {{"email", email},
                                  {"password", kPassword},
                                  {"display_name", "Op"},
                                  {"cloudlet_id", cloudlet_id}},
                                 admin);
    EXPECT_EQ(r.status, 201);
    return r.status == 201 ? Body(r)["account_id"].get<std::string>() : "";
  }
  net::Response Upload(ByteView upload) {
    auto r = client_->Post(cloudlet_url_ + "/api/v1/ingest", std::string(AsStringView(upload)),
                           "application/octet-stream");
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }
  static std::string Reason(const net::Response& r) {
    const json body = Body(r);
    return body.is_object() ? body.value("reason", std::string()) : std::string();
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
  std::optional<wire::VerifiedCertificate> cloud_certificate_;
  std::unique_ptr<cloud::CloudService> cloud_;
  std::unique_ptr<cloudlet::CloudletService> cloudlet_;
  std::string url_;
  std::string cloudlet_url_;
};

TEST_F(WorkflowsTest, RegisterApproveActivateConsentAnswerChartsAndAudit) {
  // --- Identity: self-registration, nobody unapproved logs in, the admin approves ---
  const net::Response registered = Post("/api/v1/accounts/patients", {{"email", "pat@example.test"},
                                                                      {"password", kPassword},
                                                                      {"display_name", "P"},
                                                                      {"full_name", "Pat Example"},
                                                                      {"birth_date", "1970-01-02"},
                                                                      {"sex", "female"}});
  ASSERT_EQ(registered.status, 201);
  const std::string patient_account = Body(registered)["account_id"].get<std::string>();
  const std::string doctor_id = RegisterDoctor("doc@example.test");
  const std::string other_doctor_id = RegisterDoctor("doc2@example.test");
  ASSERT_FALSE(doctor_id.empty());
  ASSERT_FALSE(other_doctor_id.empty());

  for (const char* email : {"pat@example.test", "doc@example.test"}) {
    const net::Response pending = Login(email);
    EXPECT_EQ(pending.status, 403);
    EXPECT_TRUE(Reason(pending) == "account_pending");
    EXPECT_TRUE(Body(pending).value("token", std::string()).empty());
  }
  const std::string admin = Token("admin@hospital.test");
  ASSERT_FALSE(admin.empty());
  for (const std::string& id : {patient_account, doctor_id, other_doctor_id}) {
    EXPECT_EQ(PostEmpty("/api/v1/admin/registrations/" + id + "/approval", admin).status, 200);
  }
  ASSERT_FALSE(CreateOperator(admin, "op1@hospital.test", "cloudlet-1").empty());
  ASSERT_FALSE(CreateOperator(admin, "op2@hospital.test", "cloudlet-2").empty());

  std::string patient_csrf;
  const std::string patient = Token("pat@example.test", &patient_csrf);
  const std::string doctor = Token("doc@example.test");
  const std::string other_doctor = Token("doc2@example.test");
  const std::string operator1 = Token("op1@hospital.test");
  const std::string operator2 = Token("op2@hospital.test");
  ASSERT_FALSE(patient.empty() || doctor.empty() || other_doctor.empty() || operator1.empty() ||
               operator2.empty());

  // The patient id the account carries is the one the patient's devices use.
  const net::Response me = Get("/api/v1/session", patient);
  ASSERT_EQ(me.status, 200);
  const std::string patient_id = Body(me).value("patient_id", std::string());
  ASSERT_TRUE(patient_id.starts_with("pat_"));

  // --- The patient's device data arrives through the cloudlet ---
  // (Enrolment by a logged-in patient is not built yet: the device enrols with the cloudlet's
  // enrol token, for the account's patient id.)
  TestDevice device("watch-1", patient_id, random_, clock_);
  ASSERT_TRUE(device.Enrol(*client_, cloudlet_url_, enrol_token_, deployment_.Root().key));
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(
        Upload(device.SealReadings(HeartRate(NowMs() - std::int64_t{2 - i} * 60'000, 20)).value())
            .status,
        200);
  }
  for (const char* id : {"rec-1", "rec-2"}) {
    const Bytes record = wire::EncodePatientRecord(device.Record(id)).value();
    ASSERT_EQ(Upload(device.Seal(wire::ContentType::kPatientRecord, record).value()).status, 200);
  }
  ASSERT_TRUE(testing::WaitUntil([&] {
    auto stats = cloud_->Stats();
    return stats && stats->records == 2 && stats->reading_batches == 2 &&
           cloudlet_->Stats().forward_queue_depth == 0;
  }));

  // --- Workflow 1: portal activation ---
  EXPECT_EQ(Get("/api/v1/consents", patient).status, 403);  // not activated: no data calls
  EXPECT_EQ(Get("/api/v1/answers", patient).status, 403);
  EXPECT_EQ(Get("/api/v1/me/records", patient).status, 403);
  EXPECT_EQ(Get("/api/v1/me/readings?kind=heart_rate", patient).status, 403);
  EXPECT_EQ(Post("/api/v1/consents",
                 {{"doctor_id", doctor_id},
                  {"records", {{{"device_id", "watch-1"}, {"record_id", "rec-1"}}}}},
                 patient)
                .status,
            403);
  // A cloudlet that holds none of the patient's data is 404.
  EXPECT_EQ(Post("/api/v1/activations", {{"cloudlet_id", "cloudlet-2"}}, patient).status, 404);
  const net::Response asked = Post("/api/v1/activations", {{"cloudlet_id", "cloudlet-1"}}, patient);
  ASSERT_EQ(asked.status, 201);
  const std::string activation = Body(asked)["activation_id"].get<std::string>();
  EXPECT_TRUE(Body(asked)["status"] == "requested");

  const std::string decision = "/api/v1/activations/" + activation + "/decision";
  const net::Response foreign = Post(decision, {{"approve", true}}, operator2);
  const net::Response unknown = Post("/api/v1/activations/act_aaaaaaaaaaaaaaaaaaaaaaaaaa/decision",
                                     {{"approve", true}}, operator2);
  EXPECT_EQ(foreign.status, 404);
  EXPECT_TRUE(foreign.body == unknown.body);  // another cloudlet's request is "not found"
  EXPECT_EQ(Post(decision, {{"approve", true}}, doctor).status, 403);
  EXPECT_EQ(Post(decision, {{"approve", true}}, patient).status, 403);
  EXPECT_TRUE(Body(Get("/api/v1/activations", operator2))["activations"].empty());
  const json listed = Body(Get("/api/v1/activations", operator1))["activations"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_TRUE(listed[0]["activation_id"] == activation);

  const net::Response approved =
      Post(decision, {{"approve", true}, {"reason", "identity checked at the desk"}}, operator1);
  ASSERT_EQ(approved.status, 200);
  EXPECT_EQ(Post(decision, {{"approve", false}, {"reason", "late"}}, operator1).status, 409);
  const json mine = Body(Get("/api/v1/activations", patient))["activations"];
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_TRUE(mine[0]["status"] == "approved");
  EXPECT_TRUE(mine[0]["reason"] == "identity checked at the desk");
  EXPECT_EQ(Get("/api/v1/consents", patient).status, 200);

  // --- Workflow 2: the patient's own readings and records, decrypted, with the stored form ---
  const net::Response readings = Get("/api/v1/me/readings?kind=heart_rate", patient);
  ASSERT_EQ(readings.status, 200);
  EXPECT_EQ(Body(readings)["count"], 40);
  EXPECT_EQ(Body(readings)["readings"].size(), 40u);
  const net::Response year =
      Get("/api/v1/me/readings?kind=heart_rate&points=12&from=" +
              std::to_string(NowMs() - 365 * 86'400'000LL) + "&to=" + std::to_string(NowMs() + 1),
          patient);
  ASSERT_EQ(year.status, 200);
  EXPECT_EQ(Body(year)["count"], 40);
  EXPECT_FALSE(Body(year)["bucket_ms"].is_null());
  const json own = Body(Get("/api/v1/me/records", patient));
  ASSERT_EQ(own["records"].size(), 2u);
  const net::Response stored = Get("/api/v1/me/records/watch-1/rec-1", patient);
  ASSERT_EQ(stored.status, 200);
  EXPECT_TRUE(Body(stored)["verification"]["ok"] == true);
  EXPECT_TRUE(Body(stored)["stored"]["mi"].is_string());
  EXPECT_EQ(Get("/api/v1/me/records/watch-9/rec-1", patient).status, 404);
  EXPECT_EQ(Get("/api/v1/me/records", doctor).status, 403);
  EXPECT_EQ(Get("/api/v1/me/readings?kind=pulse", patient).status, 400);

  // --- Workflow 3: consent for chosen records ---
  const net::Response granted = Post(
      "/api/v1/consents",
      {{"doctor_id", doctor_id}, {"records", {{{"device_id", "watch-1"}, {"record_id", "rec-1"}}}}},
      patient);
  ASSERT_EQ(granted.status, 201);
  const std::string consent = Body(granted)["consent_id"].get<std::string>();
  // A record that is not the patient's, and a doctor who is not one, are 404.
  EXPECT_EQ(Post("/api/v1/consents",
                 {{"doctor_id", doctor_id},
                  {"records", {{{"device_id", "watch-9"}, {"record_id", "rec-1"}}}}},
                 patient)
                .status,
            404);
  EXPECT_EQ(Post("/api/v1/consents",
                 {{"doctor_id", patient_account},
                  {"records", {{{"device_id", "watch-1"}, {"record_id", "rec-1"}}}}},
                 patient)
                .status,
            404);

  // The doctor without a grant sees nothing of the patient.
  const net::Response empty_inbox = Get("/api/v1/inbox", other_doctor);
  ASSERT_EQ(empty_inbox.status, 200);
  EXPECT_TRUE(Body(empty_inbox)["patients"].empty());
  EXPECT_EQ(empty_inbox.body.find(patient_id), std::string::npos);

  // --- Workflow 4: the doctor's inbox and answer ---
  const net::Response inbox = Get("/api/v1/inbox", doctor);
  ASSERT_EQ(inbox.status, 200);
  const json patients = Body(inbox)["patients"];
  ASSERT_EQ(patients.size(), 1u);
  EXPECT_TRUE(patients[0]["patient_id"] == patient_id);
  ASSERT_EQ(patients[0]["grants"].size(), 1u);
  const json records = patients[0]["grants"][0]["records"];
  ASSERT_EQ(records.size(), 1u);  // only the chosen record
  EXPECT_TRUE(records[0]["record_id"] == "rec-1");
  EXPECT_TRUE(records[0]["name"] == device.Record("rec-1").name);
  EXPECT_EQ(patients[0]["recent_readings"].size(), 40u);  // both batches, within 24 hours
  EXPECT_EQ(inbox.body.find("rec-2"), std::string::npos);

  const std::string answer_path = "/api/v1/consents/" + consent + "/answers";
  const json answer_body = {{"diagnosis", kDiagnosis},
                            {"medication", "stop caffeine"},
                            {"prescription",
                             {{"drug", kDrug},
                              {"dose", "5 mg"},
                              {"frequency", "twice daily"},
                              {"duration", "3 months"}}}};
  // Another doctor answering this grant: the same 404 as an unknown grant.
  const net::Response foreign_answer = Post(answer_path, answer_body, other_doctor);
  const net::Response unknown_answer =
      Post("/api/v1/consents/cns_aaaaaaaaaaaaaaaaaaaaaaaaaa/answers", answer_body, other_doctor);
  EXPECT_EQ(foreign_answer.status, 404);
  EXPECT_TRUE(foreign_answer.body == unknown_answer.body);
  // A patient revoking someone else's grant id: the same 404 too.
  EXPECT_EQ(PostEmpty("/api/v1/consents/cns_aaaaaaaaaaaaaaaaaaaaaaaaaa/revocation", patient).status,
            404);

  const net::Response answered = Post(answer_path, answer_body, doctor);
  ASSERT_EQ(answered.status, 201);
  const net::Response answers = Get("/api/v1/answers", patient);
  ASSERT_EQ(answers.status, 200);
  const json seen = Body(answers)["answers"];
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0]["diagnosis"] == kDiagnosis);  // verbatim
  EXPECT_TRUE(seen[0]["medication"] == "stop caffeine");
  EXPECT_TRUE(seen[0]["prescription"]["drug"] == kDrug);
  EXPECT_TRUE(seen[0]["consent_id"] == consent);

  const json written = Body(Get("/api/v1/prescriptions", doctor))["prescriptions"];
  ASSERT_EQ(written.size(), 1u);
  EXPECT_TRUE(written[0]["prescription"]["dose"] == "5 mg");
  EXPECT_TRUE(Body(Get("/api/v1/prescriptions", other_doctor))["prescriptions"].empty());

  // Operators and admins see counts, never contents; doctors and patients are refused.
  for (const std::string* token : {&operator1, &admin}) {
    const net::Response counts = Get("/api/v1/answers/counts", *token);
    ASSERT_EQ(counts.status, 200);
    EXPECT_EQ(Body(counts)["answers"], 1);
    EXPECT_EQ(Body(counts)["prescriptions"], 1);
    EXPECT_EQ(counts.body.find("fibrillation"), std::string::npos);
    EXPECT_EQ(counts.body.find("apixaban"), std::string::npos);
    EXPECT_EQ(counts.body.find(patient_id), std::string::npos);
  }
  EXPECT_EQ(Body(Get("/api/v1/answers/counts", operator2))["answers"], 0);  // not their cloudlet
  EXPECT_EQ(Get("/api/v1/answers/counts", patient).status, 403);
  EXPECT_EQ(Get("/api/v1/answers", operator1).status, 403);
  EXPECT_EQ(Get("/api/v1/inbox", admin).status, 403);

  // Revocation works at once: the doctor's next read sees nothing, a new answer is 404, the
  // doctor's own prescriptions stay.
  const net::Response revoked = PostEmpty("/api/v1/consents/" + consent + "/revocation", patient);
  ASSERT_EQ(revoked.status, 200);
  EXPECT_TRUE(Body(revoked)["active"] == false);
  EXPECT_TRUE(Body(Get("/api/v1/inbox", doctor))["patients"].empty());
  EXPECT_EQ(Post(answer_path, answer_body, doctor).status, 404);
  EXPECT_EQ(Body(Get("/api/v1/prescriptions", doctor))["prescriptions"].size(), 1u);
  EXPECT_EQ(Body(Get("/api/v1/answers", patient))["answers"].size(), 1u);

  // --- Workflow 7: the charts, with one patient everything is suppressed ---
  for (const std::string* token : {&doctor, &operator1, &admin}) {
    const net::Response charts = Get("/api/v1/statistics/charts", *token);
    ASSERT_EQ(charts.status, 200);
    const json c = Body(charts);
    EXPECT_GE(c["k"].get<int>(), 2);
    EXPECT_TRUE(c["symptoms"].empty());
    EXPECT_GE(c["suppressed_symptoms"].get<int>(), 1);
    EXPECT_TRUE(c["doctors"].empty());
    EXPECT_EQ(c["suppressed_doctors"].get<int>(), 1);
    EXPECT_EQ(charts.body.find(doctor_id), std::string::npos);
    EXPECT_EQ(charts.body.find(patient_id), std::string::npos);
  }
  EXPECT_EQ(Get("/api/v1/statistics/charts", patient).status, 403);

  // --- Bad input through HTTP ---
  const json grant_body = {{"doctor_id", doctor_id},
                           {"records", {{{"device_id", "watch-1"}, {"record_id", "rec-2"}}}}};
  EXPECT_EQ(
      Send(net::Method::kPost, "/api/v1/consents", grant_body.dump(), Bearer(patient), "text/plain")
          .status,
      415);
  json extra = grant_body;
  extra["purpose"] = "x";
  EXPECT_EQ(Post("/api/v1/consents", extra, patient).status, 400);
  EXPECT_EQ(Post(answer_path, {{"medication", "x"}}, doctor).status, 400);  // diagnosis missing
  EXPECT_EQ(Send(net::Method::kPost, "/api/v1/consents", "{\"doctor_id\":", Bearer(patient)).status,
            400);
  // A cookie-authenticated POST needs the CSRF header; with it, it is accepted.
  const Headers cookie = {{"Cookie", "mm_session=" + patient}};
  const net::Response no_csrf =
      Send(net::Method::kPost, "/api/v1/consents", grant_body.dump(), cookie);
  EXPECT_EQ(no_csrf.status, 403);
  EXPECT_TRUE(Reason(no_csrf) == "csrf_required");
  // The account routes name the same reason (docs/accounts.md).
  const net::Response no_csrf_account =
      Send(net::Method::kPost, "/api/v1/account/password",
           json{{"current_password", kPassword}, {"new_password", "another long password"}}.dump(),
           cookie);
  EXPECT_EQ(no_csrf_account.status, 403);
  EXPECT_TRUE(Reason(no_csrf_account) == "csrf_required");
  Headers with_csrf = cookie;
  with_csrf.emplace_back("X-CSRF-Token", patient_csrf);
  EXPECT_EQ(Send(net::Method::kPost, "/api/v1/consents", grant_body.dump(), with_csrf).status, 201);
  // A forged token (its signature changed) and no token at all are 401.
  std::string forged = patient;
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(Get("/api/v1/consents", forged).status, 401);
  EXPECT_EQ(Get("/api/v1/inbox", "").status, 401);
  EXPECT_EQ(Post("/api/v1/activations", {{"cloudlet_id", "cloudlet-1"}}).status, 401);
  // Both refusals on the clinical routes are IDS events, as on the account routes.
  {
    auto ids = store::IdsEventLog::Open((dir_.path() / "cloud" / "ids.db").string());
    ASSERT_TRUE(ids) << ids.error().ToString();
    store::IdsEventFilter filter;
    filter.kind = store::IdsEventKind::kAuthFailure;
    auto failures = (*ids)->Query(filter);
    ASSERT_TRUE(failures) << failures.error().ToString();
    int csrf = 0;
    int token = 0;
    for (const store::IdsEvent& e : *failures) {
      if (e.detail == "cookie request without a valid CSRF token on /api/v1/consents") ++csrf;
      if (e.detail == "invalid, expired or revoked session token on /api/v1/consents") ++token;
    }
    EXPECT_EQ(csrf, 1);
    EXPECT_EQ(token, 1);
  }

  // --- The audit log: intact, and it holds the patient's reads and writes ---
  auto verifier = crypto::NewEd25519Verifier(cloud_certificate_->certificate().signing_key);
  auto report = cloud_->audit().Verify(*verifier, {.observer = "cloud"});
  ASSERT_TRUE(report) << report.error().ToString();
  EXPECT_TRUE(report->ok()) << report->message;
  auto page = cloud_->audit().Query({.patient_id = patient_id, .limit = 1000});
  ASSERT_TRUE(page) << page.error().ToString();
  std::string events;
  for (const json& e : page->events) events += e.dump();
  for (const char* event :
       {"activation.request", "activation.approve", "activation.read", "consent.grant",
        "consent.revoke", "inbox.read", "answer.create", "answer.read", "readings.read",
        "record.list", "record.read", "record.verify"}) {
    SCOPED_TRACE(event);
    EXPECT_NE(events.find(std::string("\"") + event + "\""), std::string::npos);
  }
  // Entries carry ids and counts, never the answer's contents.
  EXPECT_EQ(events.find("fibrillation"), std::string::npos);
  EXPECT_EQ(events.find("apixaban"), std::string::npos);
}

}  // namespace
}  // namespace medmesh
