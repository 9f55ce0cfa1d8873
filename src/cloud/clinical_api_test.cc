// The clinical routes (clinical_api.h) over loopback HTTP, on SQLite stores: each workflow end
// to end through JSON, and the HTTP side of refusals (401, 403, 404 alike for unknown and
// foreign ids, 400 for bad bodies, 415, 413). The authorisation rules themselves are tested at
// domain level on both backends (clinical_service_test.cc).
#include "cloud/clinical_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cloud/sqlite_clinical_store.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "store/record_store_test_backend.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"

namespace medmesh::cloud {
namespace {

using accounts::Principal;
using accounts::Role;
using Json = nlohmann::json;

constexpr std::string_view kInjection = "'); DROP TABLE answers; -- <script>alert(1)</script>";

// Records nothing; the domain tests check the entries.
class NullAuditSink final : public audit::AuditSink {
 public:
  Status Append(const audit::AuditEntry& /*entry*/) override { return OkStatus(); }
};

// Test authentication: the header "X-Test-As: <role>:<id>" names the principal.
Result<Principal> TestAuthenticate(const net::Request& r) {
  const auto as = r.Header("X-Test-As");
  if (!as) return Unauthenticated("no session");
  const std::string value(*as);
  const std::size_t colon = value.find(':');
  const std::string role = value.substr(0, colon);
  const std::string id = colon == std::string::npos ? "" : value.substr(colon + 1);
  if (role == "patient") return Principal{"acc_" + id, Role::kPatient, id, "", "s", 0, false};
  if (role == "doctor") return Principal{id, Role::kDoctor, "", "", "s", 0, false};
  if (role == "operator") return Principal{"acc_op", Role::kOperator, "", id, "s", 0, false};
  if (role == "admin") return Principal{"acc_admin", Role::kAdmin, "", "", "s", 0, false};
  // What accounts::Authenticator answers for a cookie request without its CSRF header.
  if (role == "cookie-without-csrf") return PermissionDenied("missing or wrong X-CSRF-Token");
  return Unauthenticated("bad test session");
}

class ClinicalApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = store::testing::MakeTestBackend(store::testing::BackendKind::kSqlite).value();
    record_store_ = backend_->Open().value();
    medmesh::testing::DeterministicRandom r(5);
    SecretBytes index(kThreePartSecretBytes);
    SecretBytes pseudonym(kThreePartSecretBytes);
    r.Fill(index.mutable_bytes());
    r.Fill(pseudonym.mutable_bytes());
    three_ = ThreePartStore::Create(
                 *record_store_,
                 {crypto::KeyEncryptionKey::Generate(r), crypto::KeyEncryptionKey::Generate(r),
                  crypto::KeyEncryptionKey::Generate(r), std::move(index), std::move(pseudonym)},
                 random_, clock_)
                 .value();
    clinical_ = SqliteClinicalStore::Open(dir_.File("clinical.db")).value();
    ClinicalHooks hooks;
    hooks.is_approved_doctor = [](std::string_view id) -> Result<bool> {
      return id == "acc_dr_who";
    };
    hooks.cloudlets_of_patient = [](std::string_view) -> Result<std::vector<std::string>> {
      return std::vector<std::string>{"cloudlet-1"};
    };
    service_ =
        ClinicalService::Create(*clinical_, *three_, three_->envelope(store::RecordPart::kEi),
                                audit_, clock_, random_, std::move(hooks), {.statistics_k = 2})
            .value();
    for (const std::string patient : {"pat-a", "pat-b"}) {
      wire::PatientRecord rec;
      rec.record_id = "r1";
      rec.patient_id = patient;
      rec.device_id = "watch-" + patient;
      rec.created_ms = 1'799'000'000'000;
      rec.name = "Name " + patient;
      rec.symptoms = {"cough"};
      rec.conditions = {"J20"};
      rec.pulse_bpm = 80;
      ASSERT_TRUE(three_->PutRecord(rec, Bytes{1, 2, 3}));
    }
    net::Router router;
    AddClinicalRoutes(router, *service_, TestAuthenticate);
    server_ = net::HttpServer::Start({}, std::move(router)).value();
    url_ = "http://127.0.0.1:" + std::to_string(server_->port());
    client_ = net::HttpClient::Create({}).value();
  }

  void TearDown() override { server_->Stop(std::chrono::seconds(1)); }

  net::Response Call(net::Method method, const std::string& path, const std::string& as,
                     std::string body = {}, std::string content_type = "application/json") {
    net::ClientRequest request;
    request.method = method;
    request.url = url_ + path;
    if (!as.empty()) request.headers.emplace_back("X-Test-As", as);
    request.body = std::move(body);
    request.content_type = std::move(content_type);
    auto response = client_->Send(request);
    EXPECT_TRUE(response) << response.error().ToString();
    return response ? *response : net::Response{};
  }
  net::Response Get(const std::string& path, const std::string& as) {
    return Call(net::Method::kGet, path, as);
  }
  net::Response Post(const std::string& path, const std::string& as, const Json& body) {
    return Call(net::Method::kPost, path, as, body.dump());
  }
  static Json Body(const net::Response& r) { return Json::parse(r.body, nullptr, false); }

  // Activates the patient's portal through the API.
  void Activate(const std::string& patient) {
    const auto asked =
        Post("/api/v1/activations", "patient:" + patient, {{"cloudlet_id", "cloudlet-1"}});
    ASSERT_EQ(asked.status, 201) << asked.body;
    const std::string id = Body(asked)["activation_id"];
    const auto decided =
        Post("/api/v1/activations/" + id + "/decision", "operator:cloudlet-1", {{"approve", true}});
    ASSERT_EQ(decided.status, 200) << decided.body;
  }

  medmesh::testing::DeterministicRandom random_{9};
  medmesh::testing::FakeClock clock_;
  medmesh::testing::TempDir dir_;
  NullAuditSink audit_;
  std::unique_ptr<store::testing::TestBackend> backend_;
  std::unique_ptr<store::RecordStore> record_store_;
  std::unique_ptr<ThreePartStore> three_;
  std::unique_ptr<ClinicalStore> clinical_;
  std::unique_ptr<ClinicalService> service_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_;
  std::string url_;
};

TEST_F(ClinicalApiTest, EveryWorkflowRunsThroughTheApi) {
  // 1. Activation: refused data until approved; the patient sees the decision.
  EXPECT_EQ(Get("/api/v1/consents", "patient:pat-a").status, 403);
  Activate("pat-a");
  const Json mine = Body(Get("/api/v1/activations", "patient:pat-a"));
  ASSERT_EQ(mine["activations"].size(), 1U);
  EXPECT_EQ(mine["activations"][0]["status"], "approved");
  EXPECT_EQ(
      Body(Get("/api/v1/activations?status=approved", "operator:cloudlet-1"))["activations"].size(),
      1U);

  // 3. Consent.
  const auto granted =
      Post("/api/v1/consents", "patient:pat-a",
           {{"doctor_id", "acc_dr_who"},
            {"records", Json::array({{{"device_id", "watch-pat-a"}, {"record_id", "r1"}}})}});
  ASSERT_EQ(granted.status, 201) << granted.body;
  const std::string consent_id = Body(granted)["consent_id"];
  EXPECT_EQ(Body(Get("/api/v1/consents", "patient:pat-a"))["consents"][0]["active"], true);

  // 4. Inbox, answer, the patient's view, prescriptions, counts.
  const Json inbox = Body(Get("/api/v1/inbox", "doctor:acc_dr_who"));
  ASSERT_EQ(inbox["patients"].size(), 1U);
  EXPECT_EQ(inbox["patients"][0]["patient_id"], "pat-a");
  EXPECT_EQ(inbox["patients"][0]["grants"][0]["records"][0]["name"], "Name pat-a");
  EXPECT_EQ(inbox["patients"][0]["grants"][0]["records"][0]["symptoms"], Json::array({"cough"}));
  const std::string diagnosis = std::string("Acute bronchitis ") + std::string(kInjection);
  const auto answered = Post("/api/v1/consents/" + consent_id + "/answers", "doctor:acc_dr_who",
                             {{"diagnosis", diagnosis},
                              {"medication", "rest, fluids"},
                              {"prescription",
                               {{"drug", "Salbutamol"},
                                {"dose", "100 µg"},
                                {"frequency", "as needed"},
                                {"duration", "7 days"}}}});
  ASSERT_EQ(answered.status, 201) << answered.body;
  const Json answers = Body(Get("/api/v1/answers", "patient:pat-a"))["answers"];
  ASSERT_EQ(answers.size(), 1U);
  EXPECT_TRUE(answers[0]["diagnosis"] == diagnosis);  // verbatim
  EXPECT_EQ(answers[0]["prescription"]["dose"], "100 µg");
  EXPECT_EQ(answers[0]["records"][0]["record_id"], "r1");
  EXPECT_EQ(Body(Get("/api/v1/prescriptions", "doctor:acc_dr_who"))["prescriptions"].size(), 1U);
  const Json counts = Body(Get("/api/v1/answers/counts", "admin"));
  EXPECT_EQ(counts, (Json{{"answers", 1}, {"prescriptions", 1}}));
  EXPECT_EQ(Get("/api/v1/answers/counts", "doctor:acc_dr_who").status, 403);

  // 7. Charts (k = 2 here: one patient's counts are suppressed).
  const Json charts = Body(Get("/api/v1/statistics/charts", "operator:cloudlet-1"));
  EXPECT_EQ(charts["k"], 2);
  EXPECT_EQ(charts["doctors"].size(), 0U);
  EXPECT_EQ(charts["suppressed_doctors"], 1);

  // Revocation: the doctor's inbox is empty at once.
  const auto revoked =
      Call(net::Method::kPost, "/api/v1/consents/" + consent_id + "/revocation", "patient:pat-a");
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(Body(revoked)["active"], false);
  EXPECT_EQ(Body(Get("/api/v1/inbox", "doctor:acc_dr_who"))["patients"].size(), 0U);
}

TEST_F(ClinicalApiTest, RefusalsAreClearAndForeignIdsLookUnknown) {
  Activate("pat-a");
  Activate("pat-b");
  const auto granted =
      Post("/api/v1/consents", "patient:pat-a",
           {{"doctor_id", "acc_dr_who"},
            {"records", Json::array({{{"device_id", "watch-pat-a"}, {"record_id", "r1"}}})}});
  const std::string consent_id = Body(granted)["consent_id"];

  // No session: 401; wrong role: 403.
  EXPECT_EQ(Get("/api/v1/inbox", "").status, 401);
  EXPECT_EQ(Get("/api/v1/inbox", "patient:pat-a").status, 403);
  EXPECT_EQ(Body(Get("/api/v1/inbox", "patient:pat-a"))["error"], "permission_denied");
  EXPECT_FALSE(Body(Get("/api/v1/inbox", "patient:pat-a")).contains("reason"));
  // Someone else's grant and an unknown one: the same 404 body.
  const auto foreign =
      Call(net::Method::kPost, "/api/v1/consents/" + consent_id + "/revocation", "patient:pat-b");
  const auto unknown =
      Call(net::Method::kPost, "/api/v1/consents/cns_nothing/revocation", "patient:pat-b");
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(foreign.body, unknown.body);
  // Bodies: unknown member, missing member, wrong type, nested junk, bad status filter, 415.
  const std::string path = "/api/v1/consents/" + consent_id + "/answers";
  EXPECT_EQ(Post(path, "doctor:acc_dr_who", {{"diagnosis", "x"}, {"extra", 1}}).status, 400);
  EXPECT_EQ(Post(path, "doctor:acc_dr_who", {{"medication", "x"}}).status, 400);
  EXPECT_EQ(Post(path, "doctor:acc_dr_who", {{"diagnosis", 5}}).status, 400);
  EXPECT_EQ(Post(path, "doctor:acc_dr_who",
                 {{"diagnosis", "x"}, {"prescription", {{"drug", "a"}, {"dose", "b"}}}})
                .status,
            400);
  EXPECT_EQ(Post("/api/v1/consents", "patient:pat-a",
                 {{"doctor_id", "acc_dr_who"}, {"records", Json::array({"watch-pat-a/r1"})}})
                .status,
            400);
  EXPECT_EQ(Get("/api/v1/activations?status=maybe", "patient:pat-a").status, 400);
  EXPECT_EQ(
      Call(net::Method::kPost, path, "doctor:acc_dr_who", "{\"diagnosis\":\"x\"}", "text/plain")
          .status,
      415);
  EXPECT_EQ(Call(net::Method::kPost, path, "doctor:acc_dr_who",
                 "{\"diagnosis\":\"a\",\"diagnosis\":\"b\"}")
                .status,
            400);
  EXPECT_EQ(Call(net::Method::kPost, path, "doctor:acc_dr_who",
                 "{\"diagnosis\":\"" + std::string(std::size_t{70} * 1024, 'x') + "\"}")
                .status,
            413);
  // Nothing was stored by any of these.
  EXPECT_EQ(Body(Get("/api/v1/prescriptions", "doctor:acc_dr_who"))["prescriptions"].size(), 0U);
  EXPECT_EQ(Body(Get("/api/v1/answers", "patient:pat-a"))["answers"].size(), 0U);
}

TEST_F(ClinicalApiTest, ADoctorListsEveryAnswerTheyWroteAdviceToo) {
  Activate("pat-a");
  const auto granted =
      Post("/api/v1/consents", "patient:pat-a",
           {{"doctor_id", "acc_dr_who"},
            {"records", Json::array({{{"device_id", "watch-pat-a"}, {"record_id", "r1"}}})}});
  ASSERT_EQ(granted.status, 201) << granted.body;
  const std::string consent_id = Body(granted)["consent_id"];
  const auto answered = Post("/api/v1/consents/" + consent_id + "/answers", "doctor:acc_dr_who",
                             {{"diagnosis", "Tension headache"}, {"medication", "rest, fluids"}});
  ASSERT_EQ(answered.status, 201) << answered.body;

  // Advice without a prescription: among the doctor's answers, not their prescriptions.
  const Json mine = Body(Get("/api/v1/answers", "doctor:acc_dr_who"))["answers"];
  ASSERT_EQ(mine.size(), 1U);
  EXPECT_TRUE(mine[0]["diagnosis"] == "Tension headache");
  EXPECT_FALSE(mine[0].contains("prescription") && !mine[0]["prescription"].is_null());
  EXPECT_EQ(Body(Get("/api/v1/prescriptions", "doctor:acc_dr_who"))["prescriptions"].size(), 0U);
  // Another doctor sees none of it; the patient sees it as theirs.
  EXPECT_EQ(Body(Get("/api/v1/answers", "doctor:acc_dr_other"))["answers"].size(), 0U);
  EXPECT_EQ(Body(Get("/api/v1/answers", "patient:pat-a"))["answers"].size(), 1U);
}

TEST_F(ClinicalApiTest, RefusalsNameTheirReasonAsTheAccountRoutesDo) {
  // No session: 401 with the scheme to use, no reason.
  const auto no_session = Get("/api/v1/consents", "");
  EXPECT_EQ(no_session.status, 401);
  EXPECT_EQ(no_session.Header("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(Body(no_session)["error"], "unauthenticated");
  EXPECT_FALSE(Body(no_session).contains("reason"));
  // A cookie request without its CSRF header: 403 "csrf_required", on every clinical route.
  for (const auto& [method, path] : {std::pair{net::Method::kPost, "/api/v1/consents"},
                                     std::pair{net::Method::kGet, "/api/v1/inbox"},
                                     std::pair{net::Method::kPost, "/api/v1/activations"}}) {
    SCOPED_TRACE(path);
    const auto refused = Call(method, path, "cookie-without-csrf", "{}");
    EXPECT_EQ(refused.status, 403);
    EXPECT_EQ(Body(refused)["error"], "permission_denied");
    EXPECT_EQ(Body(refused)["reason"], "csrf_required");
  }
  // The portal gate: 403 "portal_inactive", until the activation is approved.
  const Json grant = {
      {"doctor_id", "acc_dr_who"},
      {"records", Json::array({{{"device_id", "watch-pat-a"}, {"record_id", "r1"}}})}};
  const auto gated = Post("/api/v1/consents", "patient:pat-a", grant);
  EXPECT_EQ(gated.status, 403);
  EXPECT_EQ(Body(gated)["reason"], "portal_inactive");
  EXPECT_EQ(Body(Get("/api/v1/answers", "patient:pat-a"))["reason"], "portal_inactive");
  Activate("pat-a");
  EXPECT_EQ(Post("/api/v1/consents", "patient:pat-a", grant).status, 201);
  // A role refusal is plain permission_denied; a 404 and a 400 carry no reason either.
  const auto role = Get("/api/v1/prescriptions", "patient:pat-a");
  EXPECT_EQ(role.status, 403);
  EXPECT_FALSE(Body(role).contains("reason"));
  EXPECT_FALSE(
      Body(Call(net::Method::kPost, "/api/v1/consents/cns_none/revocation", "patient:pat-a"))
          .contains("reason"));
}

}  // namespace
}  // namespace medmesh::cloud
