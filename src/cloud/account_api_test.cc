// The cloud's identity routes over loopback HTTP: a real CloudService in a temp folder (SQLite,
// or the PostgreSQL test cluster when built as cloud_account_api_postgres_test), with a
// recording audit sink and a fake clock for expiry.
#include "cloud/account_api.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "accounts/account_reference.h"
#include "accounts/authenticator.h"
#include "accounts/encoding.h"
#include "accounts/revocation.h"
#include "accounts/revocation_poller.h"
#include "audit/recording_audit_sink.h"
#include "cloud/cloud_service.h"
#include "net/test_support.h"
#include "node/test_support.h"
#include "testing/fake_clock.h"
#include "testing/test_backend.h"
#include "testing/wait.h"

namespace medmesh::cloud {
namespace {

using nlohmann::json;

using audit::testing::RecordingAuditSink;

constexpr char kPassword[] = "correct horse battery";
constexpr char kAdminEmail[] = "admin@example.org";

// The smallest PNG header the photo check accepts, plus some bytes.
std::string PngBase64(std::size_t size) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  png.resize(size, 0x42);
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < png.size(); i += 3) {
    const std::uint32_t n = std::uint32_t{png[i]} << 16 |
                            (i + 1 < png.size() ? std::uint32_t{png[i + 1]} << 8 : 0) |
                            (i + 2 < png.size() ? std::uint32_t{png[i + 2]} : 0);
    out += kAlphabet[n >> 18 & 63];
    out += kAlphabet[n >> 12 & 63];
    out += i + 1 < png.size() ? kAlphabet[n >> 6 & 63] : '=';
    out += i + 2 < png.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

class AccountApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    random_.Fill(index_.mutable_bytes());
    random_.Fill(pseudonym_.mutable_bytes());
    StartCloud();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(service_->accounts().service().CreateAdmin({kAdminEmail, kPassword}, "Admin"));
    admin_token_ = LoginToken(kAdminEmail, kPassword);
  }

  // Starts the cloud on the fixture's folder and secrets (again after a Stop: the same node).
  void StartCloud() {
    CloudOptions options;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    options.audit = &audit_;
    options.password_hasher = {.ops_limit = 1, .mem_limit_bytes = 1 << 20};
    options.account_service.account_throttle = {3, 60'000, 300'000};
    options.account_service.source_throttle = {50, 60'000, 300'000};
    Configure(options);
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      options.store.backend = node::StoreBackend::kPostgres;
      options.store.postgres_url = pg;
      if (schema_prefix_.empty()) schema_prefix_ = "t" + HexEncode(random_.Generate(6)) + "_";
      options.store.schema_prefix = schema_prefix_;
    }
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloud_certificate_.emplace(identity->certificate);
    CloudSecrets secrets{std::move(*identity), kek_.Clone(), index_.Clone(), pseudonym_.Clone(),
                         SecretBytes()};
    auto service = CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    url_ = "http://127.0.0.1:" + std::to_string(service_->port());
  }

  // For fixtures that need other options.
  virtual void Configure(CloudOptions& /*options*/) {}

  net::Response Send(net::Method method, const std::string& path, const std::string& body = {},
                     std::vector<std::pair<std::string, std::string>> headers = {},
                     const std::string& content_type = "application/json") {
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
  net::Response PostJson(const std::string& path, const json& body, const std::string& token = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return Send(net::Method::kPost, path, body.dump(), headers);
  }
  net::Response Get(const std::string& path, const std::string& token = {}) {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    return Send(net::Method::kGet, path, {}, headers);
  }

  net::Response Login(const std::string& email, const std::string& password) {
    return PostJson("/api/v1/session", {{"email", email}, {"password", password}});
  }
  std::string LoginToken(const std::string& email, const std::string& password) {
    const net::Response r = Login(email, password);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body)["token"].get<std::string>() : "";
  }

  // Registers a doctor and returns the account id.
  std::string RegisterDoctor(const std::string& email, const std::string& hospital = "St E") {
    const net::Response r = PostJson("/api/v1/accounts/doctors", {{"email", email},
                                                                  {"password", kPassword},
                                                                  {"display_name", "Dr X"},
                                                                  {"licence_number", "GMC-1"},
                                                                  {"speciality", "cardiology"},
                                                                  {"hospital", hospital}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? json::parse(r.body)["account_id"].get<std::string>() : "";
  }

  void ExpectError(const net::Response& r, int status, std::string_view error,
                   std::string_view reason = {}) {
    EXPECT_EQ(r.status, status) << r.body;
    const json body = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << r.body;
    EXPECT_EQ(body.value("error", ""), error) << r.body;
    if (!reason.empty()) {
      EXPECT_EQ(body.value("reason", ""), reason) << r.body;
    }
  }

  std::size_t IdsEvents(store::IdsEventKind kind) {
    auto log = store::IdsEventLog::Open((dir_.path() / "cloud" / "ids.db").string());
    EXPECT_TRUE(log);
    store::IdsEventFilter filter;
    filter.kind = kind;
    return log ? static_cast<std::size_t>((*log)->Count(filter).value()) : 0;
  }

  // "mm_session=...; mm_csrf=..." from a login's Set-Cookie headers, and the csrf value.
  std::pair<std::string, std::string> Cookies(const net::Response& login) {
    std::string cookie;
    for (const auto& [name, value] : login.headers) {
      if (!net::EqualsIgnoreCase(name, "Set-Cookie")) continue;
      if (!cookie.empty()) cookie += "; ";
      cookie += value.substr(0, value.find(';'));
    }
    return {cookie, json::parse(login.body)["csrf"].get<std::string>()};
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  testing::FakeClock clock_{std::chrono::system_clock::now()};
  SystemRandom random_;
  crypto::KeyEncryptionKey kek_ = crypto::KeyEncryptionKey::Generate(random_);
  SecretBytes index_{32}, pseudonym_{32};
  std::string schema_prefix_;  // PostgreSQL: the same schemas after a restart
  RecordingAuditSink audit_;
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::unique_ptr<CloudService> service_;
  std::optional<wire::VerifiedCertificate> cloud_certificate_;
  std::string url_;
  std::string admin_token_;
};

TEST_F(AccountApiTest, PatientRegistersWithPhotoIsApprovedAndSeesOwnProfile) {
  const std::string photo = PngBase64(2000);
  const net::Response registered = PostJson(
      "/api/v1/accounts/patients", {{"email", "Pat@Example.org"},
                                    {"password", kPassword},
                                    {"display_name", "Pat"},
                                    {"full_name", "Patricia O'Neil"},
                                    {"phone", "+44 20 7946 0958"},
                                    {"birth_date", "1970-02-03"},
                                    {"sex", "female"},
                                    {"photo", {{"content_type", "image/png"}, {"data", photo}}}});
  ASSERT_EQ(registered.status, 201) << registered.body;
  const json account = json::parse(registered.body);
  EXPECT_EQ(account["status"], "pending");
  EXPECT_EQ(account["email"], "pat@example.org");
  EXPECT_FALSE(account.contains("password_hash"));

  ExpectError(Login("pat@example.org", kPassword), 403, "permission_denied", "account_pending");
  const net::Response pending = Get("/api/v1/admin/registrations", admin_token_);
  ASSERT_EQ(pending.status, 200) << pending.body;
  ASSERT_EQ(json::parse(pending.body)["registrations"].size(), 1u);
  const std::string id = account["account_id"];
  ASSERT_EQ(Send(net::Method::kPost, "/api/v1/admin/registrations/" + id + "/approval", "",
                 {{"Authorization", "Bearer " + admin_token_}})
                .status,
            200);
  EXPECT_EQ(
      json::parse(Get("/api/v1/admin/registrations", admin_token_).body)["registrations"].size(),
      0u);

  const net::Response login = Login("pat@example.org", kPassword);
  ASSERT_EQ(login.status, 200) << login.body;
  const json session = json::parse(login.body);
  const std::string token = session["token"];
  EXPECT_EQ(session["role"], "patient");
  EXPECT_TRUE(session.contains("patient_id"));
  const net::Response me = Get("/api/v1/session", token);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(json::parse(me.body)["patient_id"], session["patient_id"]);
  EXPECT_EQ(json::parse(me.body)["status"], "approved");
  const net::Response profile = Get("/api/v1/account/profile", token);
  ASSERT_EQ(profile.status, 200) << profile.body;
  EXPECT_EQ(json::parse(profile.body)["full_name"], "Patricia O'Neil");
  EXPECT_EQ(json::parse(profile.body)["has_photo"], true);
  const net::Response image = Get("/api/v1/account/photo", token);
  ASSERT_EQ(image.status, 200);
  EXPECT_EQ(image.content_type, "image/png");
  EXPECT_TRUE(accounts::Base64Decode(photo).value() == Bytes(image.body.begin(), image.body.end()));
  // Deleting the patient shreds their EI data key: the sealed profile no longer opens.
  ASSERT_TRUE(service_->records().DeletePatient(session["patient_id"].get<std::string>()));
  ExpectError(Get("/api/v1/account/profile", token), 404, "not_found");
  // Doctors and admins have no profile here.
  ExpectError(Get("/api/v1/account/profile", admin_token_), 403, "permission_denied");
  EXPECT_EQ(audit_.Count("patient.profile.read", audit::Outcome::kSuccess), 1u);
  EXPECT_EQ(audit_.Count("patient.profile.read", audit::Outcome::kMinorFailure), 2u);
  EXPECT_EQ(audit_.Count("account.approve", audit::Outcome::kSuccess), 1u);
}

TEST_F(AccountApiTest, InjectionLookingTextIsStoredAndReturnedVerbatim) {
  const std::string evil = "Robert'); DROP TABLE accounts;-- <script>alert(1)</script>";
  const std::string id = RegisterDoctor("doc@example.org", evil);
  const json list = json::parse(Get("/api/v1/admin/registrations", admin_token_).body);
  ASSERT_EQ(list["registrations"].size(), 1u);
  EXPECT_EQ(list["registrations"][0]["hospital"], evil);
  const std::string reason = "'; UPDATE accounts SET role='admin';--";
  const net::Response rejected = PostJson("/api/v1/admin/registrations/" + id + "/rejection",
                                          {{"reason", reason}}, admin_token_);
  ASSERT_EQ(rejected.status, 200) << rejected.body;
  auto stored = service_->accounts().store().GetAccount(id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->status_reason, reason);
  EXPECT_EQ((*stored)->role, accounts::Role::kDoctor);
  ExpectError(Login("doc@example.org", kPassword), 403, "permission_denied", "account_rejected");
}

TEST_F(AccountApiTest, BadBodiesAreRefusedAndNothingIsWritten) {
  const json good = {{"email", "d@example.org"}, {"password", kPassword}, {"display_name", "D"},
                     {"licence_number", "L"},    {"speciality", "S"},     {"hospital", "H"}};
  const std::string path = "/api/v1/accounts/doctors";
  EXPECT_EQ(Send(net::Method::kPost, path, good.dump(), {}, "text/plain").status, 415);
  json extra = good;
  extra["role"] = "admin";
  ExpectError(PostJson(path, extra), 400, "invalid_argument");
  json missing = good;
  missing.erase("hospital");
  ExpectError(PostJson(path, missing), 400, "invalid_argument");
  ExpectError(Send(net::Method::kPost, path, "{\"email\":"), 400, "invalid_argument");
  std::string dup = good.dump();
  dup.insert(1, "\"email\":\"x@example.org\",");
  ExpectError(Send(net::Method::kPost, path, dup), 400, "invalid_argument");
  json wrong_type = good;
  wrong_type["password"] = 12345678901234;
  ExpectError(PostJson(path, wrong_type), 400, "invalid_argument");
  json short_password = good;
  short_password["password"] = "short";
  ExpectError(PostJson(path, short_password), 400, "invalid_argument");

  const json patient = {{"email", "p@example.org"}, {"password", kPassword}, {"display_name", "P"}};
  json big = patient;
  big["photo"] = {{"content_type", "image/png"}, {"data", PngBase64(kMaxPhotoBytes + 1)}};
  ExpectError(PostJson("/api/v1/accounts/patients", big), 413, "payload_too_large");
  json not_png = patient;
  not_png["photo"] = {{"content_type", "image/png"}, {"data", "aGVsbG8gd29ybGQ="}};
  ExpectError(PostJson("/api/v1/accounts/patients", not_png), 400, "invalid_argument");
  json bad_date = patient;
  bad_date["birth_date"] = "1970-13-01";
  ExpectError(PostJson("/api/v1/accounts/patients", bad_date), 400, "invalid_argument");
  ExpectError(PostJson("/api/v1/session", {{"email", "x@example.org"}}), 400, "invalid_argument");

  EXPECT_EQ(
      json::parse(Get("/api/v1/admin/registrations", admin_token_).body)["registrations"].size(),
      0u);
}

// A registration of an e-mail that has an account is answered as a new one (so the answer does
// not tell a stranger the e-mail is known), and makes nothing: the first account is untouched.
TEST_F(AccountApiTest, ATakenEmailIsAnsweredAsANewRegistrationAndMakesNoAccount) {
  const json doctor = {{"email", "twice@example.org"}, {"password", kPassword},
                       {"display_name", "Dr X"},       {"licence_number", "GMC-1"},
                       {"speciality", "cardiology"},   {"hospital", "St E"}};
  const net::Response first = PostJson("/api/v1/accounts/doctors", doctor);
  ASSERT_EQ(first.status, 201) << first.body;
  const json first_body = json::parse(first.body);
  const std::size_t refused_before =
      audit_.Count("account.register", audit::Outcome::kMinorFailure);

  json again = doctor;
  again["email"] = "TWICE@example.org";
  again["password"] = "another long enough password";
  again["display_name"] = "Someone else";
  const net::Response second = PostJson("/api/v1/accounts/doctors", again);
  ASSERT_EQ(second.status, 201) << second.body;
  const json second_body = json::parse(second.body);
  std::vector<std::string> first_keys, second_keys;
  for (const auto& [k, v] : first_body.items()) first_keys.push_back(k);
  for (const auto& [k, v] : second_body.items()) second_keys.push_back(k);
  EXPECT_EQ(first_keys, second_keys);
  EXPECT_EQ(second_body["status"], "pending");
  EXPECT_EQ(second_body["role"], "doctor");
  EXPECT_EQ(second_body["email"], "twice@example.org");
  EXPECT_EQ(second_body["display_name"], "Someone else");
  const std::string decoy = second_body["account_id"];
  EXPECT_TRUE(decoy.starts_with("acc_"));
  EXPECT_EQ(decoy.size(), first_body["account_id"].get<std::string>().size());
  EXPECT_NE(decoy, first_body["account_id"].get<std::string>());

  // A patient registering with the same e-mail: the same.
  const net::Response as_patient =
      PostJson("/api/v1/accounts/patients",
               {{"email", "twice@example.org"}, {"password", kPassword}, {"display_name", "P"}});
  EXPECT_EQ(as_patient.status, 201) << as_patient.body;
  EXPECT_EQ(json::parse(as_patient.body)["role"], "patient");

  // Nothing was made: one pending registration, the decoy id names nothing, the second password
  // is not the account's, and the refusals are audited.
  const json list = json::parse(Get("/api/v1/admin/registrations", admin_token_).body);
  ASSERT_EQ(list["registrations"].size(), 1u);
  EXPECT_EQ(list["registrations"][0]["display_name"], "Dr X");
  ExpectError(Send(net::Method::kPost, "/api/v1/admin/registrations/" + decoy + "/approval", {},
                   {{"Authorization", "Bearer " + admin_token_}}),
              404, "not_found");
  ExpectError(Login("twice@example.org", "another long enough password"), 401, "unauthenticated",
              "invalid_credentials");
  ExpectError(Login("twice@example.org", kPassword), 403, "permission_denied", "account_pending");
  EXPECT_EQ(audit_.Count("account.register", audit::Outcome::kMinorFailure), refused_before + 2);
}

TEST_F(AccountApiTest, ForgedExpiredAndLoggedOutTokensAreRefused) {
  ASSERT_EQ(Get("/api/v1/session", admin_token_).status, 200);
  std::string forged = admin_token_;
  forged[forged.size() - 5] = forged[forged.size() - 5] == 'A' ? 'B' : 'A';
  ExpectError(Get("/api/v1/session", forged), 401, "unauthenticated");
  ExpectError(Get("/api/v1/session", "mm1.not.a-token"), 401, "unauthenticated");
  ExpectError(Get("/api/v1/session"), 401, "unauthenticated");
  EXPECT_EQ(
      Send(net::Method::kGet, "/api/v1/session", {}, {{"Authorization", "Basic YTpi"}}).status,
      401);

  // Logout, then the same token again (a replay) is refused.
  const std::string second = LoginToken(kAdminEmail, kPassword);
  EXPECT_EQ(
      Send(net::Method::kDelete, "/api/v1/session", {}, {{"Authorization", "Bearer " + second}})
          .status,
      204);
  ExpectError(Get("/api/v1/session", second), 401, "unauthenticated");
  // The revocation reaches cloudlets through the signed list.
  const net::Response page = Get("/api/v1/sessions/revocations?since=0");
  ASSERT_EQ(page.status, 200) << page.body;
  auto verified = accounts::VerifyRevocationPage(page.body, *cloud_certificate_,
                                                 wire::NowMs(clock_), std::chrono::minutes(1));
  ASSERT_TRUE(verified) << verified.error().ToString();
  EXPECT_EQ(verified->revocations.size(), 1u);
  ExpectError(Get("/api/v1/sessions/revocations?since=-1"), 400, "invalid_argument");
  ExpectError(Get("/api/v1/sessions/revocations?since=1x"), 400, "invalid_argument");

  clock_.Advance(std::chrono::minutes(15));
  ExpectError(Get("/api/v1/session", admin_token_), 401, "unauthenticated");
  EXPECT_GE(IdsEvents(store::IdsEventKind::kAuthFailure), 4u);
}

TEST_F(AccountApiTest, CookieSessionsNeedTheCsrfHeaderToChangeState) {
  const net::Response login = Login(kAdminEmail, kPassword);
  ASSERT_EQ(login.status, 200);
  std::vector<std::string> set_cookies;
  for (const auto& [name, value] : login.headers) {
    if (net::EqualsIgnoreCase(name, "Set-Cookie")) set_cookies.push_back(value);
  }
  ASSERT_EQ(set_cookies.size(), 2u);
  EXPECT_NE(set_cookies[0].find("HttpOnly"), std::string::npos);
  EXPECT_NE(set_cookies[0].find("SameSite=Strict"), std::string::npos);
  EXPECT_EQ(set_cookies[1].find("HttpOnly"), std::string::npos);
  const auto [cookie, csrf] = Cookies(login);

  const net::Response me = Send(net::Method::kGet, "/api/v1/session", {}, {{"Cookie", cookie}});
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(json::parse(me.body)["via_cookie"], true);
  EXPECT_EQ(json::parse(me.body)["csrf"], csrf);
  ExpectError(Send(net::Method::kDelete, "/api/v1/session", {}, {{"Cookie", cookie}}), 403,
              "permission_denied", "csrf_required");
  ExpectError(Send(net::Method::kDelete, "/api/v1/session", {},
                   {{"Cookie", cookie}, {"X-CSRF-Token", "AAAAAAAAAAAAAAAAAAAAAA"}}),
              403, "permission_denied", "csrf_required");
  const net::Response out = Send(net::Method::kDelete, "/api/v1/session", {},
                                 {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  EXPECT_EQ(out.status, 204);
  bool cleared = false;
  for (const auto& [name, value] : out.headers) {
    if (net::EqualsIgnoreCase(name, "Set-Cookie") && value.find("Max-Age=0") != std::string::npos) {
      cleared = true;
    }
  }
  EXPECT_TRUE(cleared);
  EXPECT_EQ(Send(net::Method::kGet, "/api/v1/session", {}, {{"Cookie", cookie}}).status, 401);
}

TEST_F(AccountApiTest, WrongPasswordsLockTheAccountWithRetryAfter) {
  for (int i = 0; i < 3; ++i) {
    ExpectError(Login(kAdminEmail, "wrong password!"), 401, "unauthenticated",
                "invalid_credentials");
  }
  const net::Response locked = Login(kAdminEmail, kPassword);
  ExpectError(locked, 429, "resource_exhausted", "locked_out");
  ASSERT_TRUE(locked.Header("Retry-After").has_value());
  EXPECT_GE(IdsEvents(store::IdsEventKind::kAuthFailure), 3u);
  EXPECT_GE(IdsEvents(store::IdsEventKind::kRateLimited), 1u);
  EXPECT_EQ(audit_.Count("session.login", audit::Outcome::kMinorFailure), 3u);
  clock_.Advance(std::chrono::minutes(6));
  EXPECT_EQ(Login(kAdminEmail, kPassword).status, 200);
}

TEST_F(AccountApiTest, PasswordChangeRevokesEverySession) {
  const std::string other = LoginToken(kAdminEmail, kPassword);
  ExpectError(PostJson("/api/v1/account/password",
                       {{"current_password", "not it at all"}, {"new_password", "a brand new one"}},
                       admin_token_),
              401, "unauthenticated", "invalid_credentials");
  EXPECT_EQ(
      PostJson("/api/v1/account/password",
               {{"current_password", kPassword}, {"new_password", "a brand new one"}}, admin_token_)
          .status,
      204);
  ExpectError(Get("/api/v1/session", admin_token_), 401, "unauthenticated");
  ExpectError(Get("/api/v1/session", other), 401, "unauthenticated");
  EXPECT_EQ(Login(kAdminEmail, "a brand new one").status, 200);
}

TEST_F(AccountApiTest, AdminRoutesAreForAdminsOnly) {
  const std::string id = RegisterDoctor("doc@example.org");
  ExpectError(Get("/api/v1/admin/registrations"), 401, "unauthenticated");
  ASSERT_EQ(Send(net::Method::kPost, "/api/v1/admin/registrations/" + id + "/approval", "",
                 {{"Authorization", "Bearer " + admin_token_}})
                .status,
            200);
  const std::string doctor = LoginToken("doc@example.org", kPassword);
  ExpectError(Get("/api/v1/admin/registrations", doctor), 403, "permission_denied");
  ExpectError(PostJson("/api/v1/admin/operators",
                       {{"email", "op@example.org"},
                        {"password", kPassword},
                        {"display_name", "Op"},
                        {"cloudlet_id", "cloudlet-1"}},
                       doctor),
              403, "permission_denied");
  ExpectError(PostJson("/api/v1/admin/registrations/acc_aaaaaaaaaaaaaaaaaaaaaaaaaa/rejection",
                       {{"reason", "x"}}, admin_token_),
              404, "not_found");
  ExpectError(PostJson("/api/v1/admin/registrations/" + id + "/rejection", {{"reason", "late"}},
                       admin_token_),
              409, "failed_precondition");
  ExpectError(
      PostJson("/api/v1/admin/registrations/" + id + "/rejection", json::object(), admin_token_),
      400, "invalid_argument");
  const net::Response op = PostJson("/api/v1/admin/operators",
                                    {{"email", "op@example.org"},
                                     {"password", kPassword},
                                     {"display_name", "Op"},
                                     {"cloudlet_id", "cloudlet-1"}},
                                    admin_token_);
  ASSERT_EQ(op.status, 201) << op.body;
  const json session = json::parse(Login("op@example.org", kPassword).body);
  EXPECT_EQ(session["role"], "operator");
  EXPECT_EQ(session["cloudlet_id"], "cloudlet-1");
}

TEST_F(AccountApiTest, TheAdminSeesThePhotoOfAPendingPatientRegistrationOnly) {
  const std::string photo = PngBase64(1000);
  auto register_patient = [this](const std::string& email, const json& extra) {
    json body = {{"email", email}, {"password", kPassword}, {"display_name", "P"}};
    body.update(extra);
    const net::Response r = PostJson("/api/v1/accounts/patients", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? json::parse(r.body)["account_id"].get<std::string>() : "";
  };
  const std::string with_photo = register_patient(
      "p1@example.org", {{"photo", {{"content_type", "image/png"}, {"data", photo}}}});
  const std::string without = register_patient("p2@example.org", {{"full_name", "No Photo"}});
  const std::string doctor = RegisterDoctor("doc@example.org");
  const auto photo_of = [](const std::string& id) {
    return "/api/v1/admin/registrations/" + id + "/photo";
  };

  const net::Response image = Get(photo_of(with_photo), admin_token_);
  ASSERT_EQ(image.status, 200) << image.body;
  EXPECT_EQ(image.content_type, "image/png");
  EXPECT_TRUE(accounts::Base64Decode(photo).value() == Bytes(image.body.begin(), image.body.end()));
  EXPECT_EQ(audit_.Count("patient.photo.read", audit::Outcome::kSuccess), 1u);

  // No photo, a doctor, an unknown id: the same 404.
  for (const std::string& id : {without, doctor, std::string("acc_aaaaaaaaaaaaaaaaaaaaaaaaaa")}) {
    ExpectError(Get(photo_of(id), admin_token_), 404, "not_found");
  }
  ExpectError(Get(photo_of(with_photo)), 401, "unauthenticated");
  ASSERT_EQ(Send(net::Method::kPost, "/api/v1/admin/registrations/" + doctor + "/approval", "",
                 {{"Authorization", "Bearer " + admin_token_}})
                .status,
            200);
  ExpectError(Get(photo_of(with_photo), LoginToken("doc@example.org", kPassword)), 403,
              "permission_denied");
  // Once decided, the registration's photo is no longer served here.
  ASSERT_EQ(Send(net::Method::kPost, "/api/v1/admin/registrations/" + with_photo + "/approval", "",
                 {{"Authorization", "Bearer " + admin_token_}})
                .status,
            200);
  ExpectError(Get(photo_of(with_photo), admin_token_), 404, "not_found");
  EXPECT_EQ(audit_.Count("patient.photo.read", audit::Outcome::kSuccess), 1u);
  EXPECT_EQ(audit_.Count("patient.photo.read", audit::Outcome::kMinorFailure), 5u);
}

// What a cloudlet does: verify the cloud's tokens offline with the pinned cloud certificate, and
// learn revocations by polling the signed list; stale lists fail closed.
TEST_F(AccountApiTest, AnotherNodeVerifiesTokensOfflineAndLearnsRevocationsByPolling) {
  accounts::TokenVerifier verifier(*cloud_certificate_);
  accounts::RevocationSet revocations(clock_, std::chrono::seconds(60));
  accounts::Authenticator offline(verifier, revocations, clock_);
  accounts::RevocationPoller poller(*client_, url_, *cloud_certificate_, revocations, clock_);
  const std::string header = "Bearer " + admin_token_;
  net::Request request;
  request.headers = {{"Authorization", header}};

  // Never polled: the node cannot know what was revoked, so it refuses.
  EXPECT_EQ(offline.PrincipalOf(request).error().code(), ErrorCode::kUnavailable);
  ASSERT_TRUE(poller.PollOnce());
  auto principal = offline.PrincipalOf(request);
  ASSERT_TRUE(principal) << principal.error().ToString();
  EXPECT_TRUE(principal->is(accounts::Role::kAdmin));

  ASSERT_EQ(Send(net::Method::kDelete, "/api/v1/session", {}, {{"Authorization", header}}).status,
            204);
  EXPECT_TRUE(offline.PrincipalOf(request));  // not yet learnt: the bound is the poll interval
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_EQ(offline.PrincipalOf(request).error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(revocations.since(), 1u);

  // A list not refreshed within its max staleness fails closed.
  const std::string other = "Bearer " + LoginToken(kAdminEmail, kPassword);
  net::Request second;
  second.headers = {{"Authorization", other}};
  ASSERT_TRUE(poller.PollOnce());
  EXPECT_TRUE(offline.PrincipalOf(second));
  clock_.Advance(std::chrono::seconds(61));
  EXPECT_EQ(offline.PrincipalOf(second).error().code(), ErrorCode::kUnavailable);

  // A cloud with another key (a page it did not sign) is refused and nothing is applied.
  auto impostor = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-2");
  ASSERT_TRUE(impostor);
  accounts::RevocationSet fresh(clock_, std::chrono::seconds(60));
  accounts::RevocationPoller wrong_key(*client_, url_, impostor->certificate, fresh, clock_);
  EXPECT_EQ(wrong_key.PollOnce().error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(fresh.since(), 0u);
}

// Login flood (docs/accounts.md): the Argon2id check runs on the password pool, never on an
// I/O thread; a full pool answers 429 at once without hashing.
class LoginFloodTest : public AccountApiTest {
 protected:
  // One I/O thread: if a login held it, no other request could be answered meanwhile.
  void Configure(CloudOptions& options) override { options.io_threads = 1; }

  accounts::PasswordPool& Pool() { return service_->accounts().password_pool(); }

  // Occupies every pool thread with a job that waits for Release(); returns once they run.
  void OccupyThreads() {
    for (std::size_t i = 0; i < Pool().threads(); ++i) {
      ASSERT_TRUE(Pool().TrySubmit([this] {
        ++running_;
        {
          std::unique_lock lock(mu_);
          released_cv_.wait(lock, [this] { return released_; });
        }
        ++finished_;  // the job's last touch of the fixture (TearDown waits for it)
      }));
    }
    ASSERT_TRUE(medmesh::testing::WaitUntil(
        [this] { return running_.load() == static_cast<int>(Pool().threads()); }));
  }
  void Release() {
    {
      std::lock_guard lock(mu_);
      released_ = true;
    }
    released_cv_.notify_all();
  }
  // Released jobs must be done with the fixture's members before they are destroyed (the pool
  // itself lives until the base fixture's service goes, after them).
  void TearDown() override {
    Release();
    EXPECT_TRUE(
        medmesh::testing::WaitUntil([this] { return finished_.load() == running_.load(); }));
  }

  std::mutex mu_;
  std::condition_variable released_cv_;
  bool released_ = false;  // guarded by mu_
  std::atomic<int> running_{0};
  std::atomic<int> finished_{0};
};

TEST_F(LoginFloodTest, AFullPoolAnswers429AtOnceWithoutHashingAndOtherRoutesStillAnswer) {
  OccupyThreads();
  // Fill the queue with logins that wait (each on its own connection), as a flood would.
  std::vector<std::thread> waiting;
  std::vector<int> statuses(Pool().queue_capacity(), 0);
  for (std::size_t i = 0; i < Pool().queue_capacity(); ++i) {
    waiting.emplace_back([this, i, &statuses] {
      auto client = net::HttpClient::Create({}).value();
      net::ClientRequest request;
      request.method = net::Method::kPost;
      request.url = url_ + "/api/v1/session";
      request.content_type = "application/json";
      request.body = json{{"email", kAdminEmail}, {"password", kPassword}}.dump();
      auto r = client->Send(request);
      statuses[i] = r ? r->status : -1;
    });
  }
  ASSERT_TRUE(
      medmesh::testing::WaitUntil([this] { return Pool().queued() == Pool().queue_capacity(); }));
  const std::size_t logins_audited = audit_.Count("session.login", audit::Outcome::kSuccess);
  const std::size_t rate_limited = IdsEvents(store::IdsEventKind::kRateLimited);

  // The next login is refused at once: 429 "busy" with Retry-After, no Argon2id work (no
  // audit entry, no failure counted), an IDS rate_limited event.
  const net::Response busy = Login(kAdminEmail, kPassword);
  ExpectError(busy, 429, "resource_exhausted", "busy");
  EXPECT_EQ(busy.Header("Retry-After").value_or(""), "1");
  EXPECT_EQ(audit_.Count("session.login", audit::Outcome::kSuccess), logins_audited);
  EXPECT_EQ(audit_.Count("session.login", audit::Outcome::kMinorFailure), 0u);
  EXPECT_EQ(IdsEvents(store::IdsEventKind::kRateLimited), rate_limited + 1);
  // A wrong password is refused the same way: it is not counted towards the lockout.
  ExpectError(Login(kAdminEmail, "wrong password!"), 429, "resource_exhausted", "busy");

  // Every other route answers meanwhile, on the single I/O thread.
  const net::Response me = Get("/api/v1/session", admin_token_);
  EXPECT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(Get("/api/v1/admin/registrations", admin_token_).status, 200);

  // Once the pool is free, the waiting logins are answered, and logins work again.
  Release();
  for (std::thread& t : waiting) t.join();
  for (const int status : statuses) EXPECT_EQ(status, 200);
  EXPECT_EQ(audit_.Count("session.login", audit::Outcome::kSuccess),
            logins_audited + Pool().queue_capacity());
  EXPECT_EQ(Login(kAdminEmail, kPassword).status, 200);
  EXPECT_EQ(Login(kAdminEmail, "wrong password!").status, 401);
}

TEST_F(LoginFloodTest, ALockedAccountIsRefusedWithoutWaitingForThePool) {
  for (int i = 0; i < 3; ++i) {
    ExpectError(Login(kAdminEmail, "wrong password!"), 401, "unauthenticated",
                "invalid_credentials");
  }
  OccupyThreads();
  // The lock is checked on the I/O thread, before any Argon2id work: answered although no
  // pool thread is free.
  ExpectError(Login(kAdminEmail, kPassword), 429, "resource_exhausted", "locked_out");
}

// The IDS and accounts at the cloud's login (docs/ids.md "Accounts"): login failures carry the
// login's account reference (a keyed hash, never the e-mail), so the credentials detector counts
// per account as well as per source; the IDS's decisions on an account are enforced before any
// Argon2id work (medmesh_login_password_checks_total does not move), the same answer for a
// login no account has; they expire, an admin's revoke lifts them, the allowlist wins.
class AccountDecisionTest : public AccountApiTest {
 protected:
  std::string Ref(const std::string& login) {
    return accounts::AccountReference(accounts::DeriveAccountReferenceKey(index_), login);
  }
  double PasswordChecks() {
    const net::Response r = Get("/metrics");
    const auto value = net::testing::FindSample(net::testing::ParseExposition(r.body),
                                                "medmesh_login_password_checks_total", {});
    EXPECT_TRUE(value.has_value()) << "the counter is exported";
    return value ? std::stod(*value) : -1;
  }
  // The decision (any state) on `value` that GET /api/v1/ids/decisions lists, or null.
  json DecisionOn(const std::string& kind, const std::string& value) {
    const net::Response r = Get("/api/v1/ids/decisions?active=false&limit=1000", admin_token_);
    EXPECT_EQ(r.status, 200) << r.body;
    const json listed = json::parse(r.body);
    for (const json& d : listed["decisions"]) {
      if (d["scope"]["kind"] == kind && d["scope"]["value"] == value) return d;
    }
    return nullptr;
  }
  // A login over its own connection from `from` (any 127.x.y.z): its status, 0 if the
  // connection was refused or closed without an answer.
  int LoginFrom(const std::string& from, const std::string& email, const std::string& password) {
    net::testing::RawConnection c(service_->port(), std::chrono::seconds(10), from);
    if (!c.connected()) return 0;
    const std::string body = json{{"email", email}, {"password", password}}.dump();
    if (!c.Send("POST /api/v1/session HTTP/1.1\r\nHost: cloud\r\n"
                "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body)) {
      return 0;
    }
    const auto reply = c.Read();
    return reply ? reply->status : 0;
  }
  // An admin's own decision on the login's account reference (POST /api/v1/ids/decisions).
  net::Response Impose(const std::string& login, std::string_view action) {
    return PostJson("/api/v1/ids/decisions",
                    {{"scope", "account"},
                     {"value", Ref(login)},
                     {"action", action},
                     {"reason", "reported stolen"}},
                    admin_token_);
  }
};

TEST_F(AccountDecisionTest, AWrongPasswordFloodAtOneAccountThrottlesItUntilItExpires) {
  // 20 wrong passwords (the account's own lock answers from the 4th: rate_limited events,
  // which count too): the credentials detector throttles the account.
  for (int i = 0; i < 20; ++i) {
    const int status = Login(kAdminEmail, "wrong password!").status;
    EXPECT_TRUE(status == 401 || status == 429) << status;
  }
  const json decision = DecisionOn("account", Ref(kAdminEmail));
  ASSERT_TRUE(decision.is_object()) << "an account decision";
  EXPECT_EQ(decision["action"], "throttle");
  EXPECT_EQ(decision["detector"], "credentials");
  EXPECT_EQ(decision["detector_version"], 2);
  EXPECT_TRUE(decision["active"].get<bool>());
  // Its value is the reference: no e-mail in the decisions or the alerts.
  for (const char* route : {"/api/v1/ids/decisions?active=false", "/api/v1/ids/alerts"}) {
    const net::Response r = Get(route, admin_token_);
    EXPECT_EQ(r.body.find("admin@"), std::string::npos) << route;
    EXPECT_EQ(r.body.find("example.org"), std::string::npos) << route;
  }

  // The owner, once the account's own lock (5 min here) ended: one attempt per 20 s passes.
  clock_.Advance(std::chrono::minutes(6));
  EXPECT_EQ(Login(kAdminEmail, kPassword).status, 200);
  const double checks = PasswordChecks();
  const net::Response refused = Login(kAdminEmail, kPassword);
  ExpectError(refused, 429, "resource_exhausted", "account_throttled");
  EXPECT_EQ(refused.Header("Retry-After").value_or(""), "20");
  EXPECT_EQ(PasswordChecks(), checks) << "refused before any Argon2id check";
  // Other accounts are not slowed.
  ExpectError(Login("nobody@example.org", "wrong password!"), 401, "unauthenticated",
              "invalid_credentials");
  clock_.Advance(std::chrono::seconds(20));
  EXPECT_EQ(Login(kAdminEmail, kPassword).status, 200);
  // The decision expires 10 minutes after it was made (first offence): no throttle any more.
  clock_.Advance(std::chrono::minutes(4));
  EXPECT_EQ(Login(kAdminEmail, kPassword).status, 200);
  EXPECT_EQ(Login(kAdminEmail, kPassword).status, 200);
  EXPECT_FALSE(DecisionOn("account", Ref(kAdminEmail))["active"].get<bool>());
}

TEST_F(AccountDecisionTest, ABlockedAccountIsRefusedBeforeHashingExistingOrNotUntilRevoked) {
  const net::Response made = Impose(kAdminEmail, "block");
  ASSERT_EQ(made.status, 201) << made.body;
  const json decision = json::parse(made.body);
  EXPECT_EQ(decision["detector"], "operator");
  EXPECT_EQ(decision["action"], "block");
  EXPECT_EQ(decision["scope"]["value"], Ref(kAdminEmail));
  ASSERT_EQ(Impose("ghost@example.org", "block").status, 201);
  const double checks = PasswordChecks();
  const net::Response right = Login(kAdminEmail, kPassword);
  ExpectError(right, 429, "resource_exhausted", "account_blocked");
  EXPECT_EQ(right.Header("Retry-After").value_or(""), "600");
  // A wrong password, another spelling of the login, and a login no account has: the same
  // answer, byte for byte.
  EXPECT_EQ(Login(" Admin@Example.org", "wrong password!").body, right.body);
  const net::Response ghost = Login("ghost@example.org", kPassword);
  EXPECT_EQ(ghost.status, right.status);
  EXPECT_EQ(ghost.body, right.body);
  EXPECT_EQ(ghost.Header("Retry-After"), right.Header("Retry-After"));
  EXPECT_EQ(PasswordChecks(), checks) << "no Argon2id check for a blocked account";
  // An account without a decision is checked as ever.
  ExpectError(Login("nobody@example.org", "wrong password!"), 401, "unauthenticated");
  EXPECT_EQ(PasswordChecks(), checks + 1);
  EXPECT_GE(IdsEvents(store::IdsEventKind::kRateLimited), 1u);

  // The allowlist wins; removed again, the block holds.
  const json allow{{"scope", "account"}, {"value", Ref(kAdminEmail)}, {"note", "checked"}};
  ASSERT_EQ(PostJson("/api/v1/ids/allowlist", allow, admin_token_).status, 201);
  EXPECT_EQ(Login(kAdminEmail, kPassword).status, 200);
  ASSERT_EQ(PostJson("/api/v1/ids/allowlist/removal",
                     {{"scope", "account"}, {"value", Ref(kAdminEmail)}}, admin_token_)
                .status,
            200);
  ExpectError(Login(kAdminEmail, kPassword), 429, "resource_exhausted", "account_blocked");
  // An admin's revoke lifts it at once.
  const net::Response revoked =
      Send(net::Method::kPost,
           "/api/v1/ids/decisions/" + decision["id"].get<std::string>() + "/revocation", {},
           {{"Authorization", "Bearer " + admin_token_}});
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(Login(kAdminEmail, kPassword).status, 200);
  // The other block still holds, and expires on its own.
  ExpectError(Login("ghost@example.org", kPassword), 429, "resource_exhausted", "account_blocked");
  clock_.Advance(std::chrono::minutes(10));
  ExpectError(Login("ghost@example.org", kPassword), 401, "unauthenticated");

  // Every change is audited: by whom, from where, the kind of scope - not the account's
  // reference (an identity).
  EXPECT_EQ(audit_.Of("ids.decision.impose").size(), 2u);
  EXPECT_EQ(audit_.Of("ids.allowlist.add").size(), 1u);
  EXPECT_EQ(audit_.Of("ids.allowlist.remove").size(), 1u);
  ASSERT_EQ(audit_.Of("ids.decision.revoke").size(), 1u);
  for (const char* event : {"ids.decision.impose", "ids.allowlist.add", "ids.allowlist.remove",
                            "ids.decision.revoke"}) {
    for (const audit::AuditEntry& e : audit_.Of(event)) {
      EXPECT_EQ(e.outcome, audit::Outcome::kSuccess) << event;
      EXPECT_EQ(e.actor_role, "admin") << event;
      EXPECT_FALSE(e.actor_account_id.empty()) << event;
      EXPECT_EQ(e.entity_type, "IdsScope") << event;
      EXPECT_EQ(e.entity_id, "account") << event;
      EXPECT_FALSE(e.source_address.empty()) << event;
      EXPECT_EQ(e.detail.find(Ref(kAdminEmail)), std::string::npos) << event;
    }
  }
}

TEST_F(AccountDecisionTest, AnOperatorsDecisionIsCheckedAndTheAllowlistWins) {
  ExpectError(Impose(kAdminEmail, "ban"), 400, "invalid_argument");
  ExpectError(PostJson("/api/v1/ids/decisions",
                       {{"scope", "account"}, {"value", ""}, {"action", "block"}}, admin_token_),
              400, "invalid_argument");
  ExpectError(PostJson("/api/v1/ids/decisions",
                       {{"scope", "account"},
                        {"value", Ref(kAdminEmail)},
                        {"action", "block"},
                        {"reason", std::string(300, 'r')}},
                       admin_token_),
              400, "invalid_argument");
  EXPECT_EQ(PostJson("/api/v1/ids/decisions",
                     {{"scope", "account"}, {"value", Ref(kAdminEmail)}, {"action", "block"}})
                .status,
            401);
  ASSERT_EQ(PostJson("/api/v1/ids/allowlist", {{"scope", "account"}, {"value", Ref(kAdminEmail)}},
                     admin_token_)
                .status,
            201);
  ExpectError(Impose(kAdminEmail, "block"), 409, "failed_precondition");
  EXPECT_TRUE(DecisionOn("account", Ref(kAdminEmail)).is_null());
  EXPECT_EQ(Login(kAdminEmail, kPassword).status, 200);
  // A throttle, then a block on the same account: the stronger replaces it; a weaker one
  // asked for then is answered with the block in force.
  const net::Response throttle = Impose("other@example.org", "throttle");
  ASSERT_EQ(throttle.status, 201) << throttle.body;
  const net::Response block = Impose("other@example.org", "block");
  ASSERT_EQ(block.status, 201) << block.body;
  EXPECT_EQ(json::parse(block.body)["action"], "block");
  EXPECT_NE(json::parse(block.body)["id"], json::parse(throttle.body)["id"]);
  EXPECT_EQ(json::parse(Impose("other@example.org", "throttle").body)["id"],
            json::parse(block.body)["id"]);
}

TEST_F(AccountDecisionTest, StuffingAcrossAccountsFromOneSourceBlocksTheSource) {
  // One leaked password each for five accounts, from one address.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(LoginFrom("127.0.0.23", "user" + std::to_string(i) + "@example.org",
                        "leaked password " + std::to_string(i)),
              401);
  }
  const json decision = DecisionOn("ip", "127.0.0.23");
  ASSERT_TRUE(decision.is_object());
  EXPECT_EQ(decision["action"], "block");
  EXPECT_NE(decision["reason"].get<std::string>().find("stuffing"), std::string::npos);
  const int next = LoginFrom("127.0.0.23", "user9@example.org", "leaked password 9");
  EXPECT_TRUE(next == 403 || next == 0) << next;
  // One failure per account: no account is throttled; the others log in from elsewhere.
  EXPECT_TRUE(DecisionOn("account", Ref("user0@example.org")).is_null());
  EXPECT_EQ(LoginFrom("127.0.0.24", kAdminEmail, kPassword), 200);
}

TEST_F(AccountDecisionTest, AWrongPasswordFloodFromOneAddressBlocksTheAddress) {
  // 3 wrong passwords, then the account's own lock (429) — rate_limited events, which count
  // too: the 10th event from the address blocks it (refused from then on: 403 or no answer).
  std::vector<int> statuses;
  for (int i = 0; i < 10; ++i) {
    statuses.push_back(LoginFrom("127.0.0.25", kAdminEmail, "wrong password!"));
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(statuses[i], 401);
  for (const int status : statuses) {
    EXPECT_TRUE(status == 401 || status == 429 || status == 403 || status == 0) << status;
  }
  const json decision = DecisionOn("ip", "127.0.0.25");
  ASSERT_TRUE(decision.is_object());
  EXPECT_EQ(decision["action"], "block");
  const int next = LoginFrom("127.0.0.25", kAdminEmail, kPassword);
  EXPECT_TRUE(next == 403 || next == 0) << next;
  // Ten failures are not yet the account's threshold (20): no account decision.
  EXPECT_TRUE(DecisionOn("account", Ref(kAdminEmail)).is_null());
}

}  // namespace
}  // namespace medmesh::cloud
