// Workflow 8 and the audit log routes (admin_api.h, audit_api.h) over loopback HTTP: a real
// CloudService with its own audit log, in a temp folder on SQLite, or on the PostgreSQL test
// cluster when built as cloud_admin_api_postgres_test. Identities never appear in test output:
// checks on bodies compare booleans.
#include "cloud/admin_api.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>

#include "cloud/audit_api.h"
#include "cloud/cloud_service.h"
#include "node/test_support.h"
#include "testing/fake_clock.h"
#include "testing/test_backend.h"

namespace medmesh::cloud {
namespace {

using nlohmann::json;

constexpr char kPassword[] = "correct horse battery";
constexpr char kAdminEmail[] = "admin@example.org";
constexpr std::string_view kInjection = "'); DROP TABLE audit_entry; -- <script>x</script> \"é\"";

struct Patient {
  std::string account_id;
  std::string patient_id;
  std::string token;
  std::string email;
  std::string name;
};

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CloudOptions options;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    options.password_hasher = {.ops_limit = 1, .mem_limit_bytes = 1 << 20};
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      options.store.backend = node::StoreBackend::kPostgres;
      options.store.postgres_url = pg;
      prefix_ = "t" + HexEncode(random_.Generate(6)) + "_";
      options.store.schema_prefix = prefix_;
    }
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    SecretBytes index(32), pseudonym(32);
    random_.Fill(index.mutable_bytes());
    random_.Fill(pseudonym.mutable_bytes());
    CloudSecrets secrets{std::move(*identity), crypto::KeyEncryptionKey::Generate(random_),
                         std::move(index), std::move(pseudonym), SecretBytes()};
    auto service = CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    url_ = "http://127.0.0.1:" + std::to_string(service_->port());
    ASSERT_TRUE(service_->accounts().service().CreateAdmin({kAdminEmail, kPassword}, "Admin"));
    admin_ = LoginToken(kAdminEmail, kPassword);
  }

  net::Response Send(net::Method method, const std::string& path, const std::string& token,
                     const std::string& body = {},
                     const std::string& content_type = "application/json") {
    net::ClientRequest request;
    request.method = method;
    request.url = url_ + path;
    request.body = body;
    request.content_type = content_type;
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }
  net::Response Get(const std::string& path, const std::string& token) {
    return Send(net::Method::kGet, path, token);
  }
  net::Response Post(const std::string& path, const std::string& token, const json& body) {
    return Send(net::Method::kPost, path, token, body.dump());
  }
  static json Body(const net::Response& r) { return json::parse(r.body, nullptr, false); }

  std::string LoginToken(const std::string& email, const std::string& password) {
    const net::Response r = Post("/api/v1/session", "", {{"email", email}, {"password", password}});
    EXPECT_EQ(r.status, 200);
    return r.status == 200 ? Body(r)["token"].get<std::string>() : "";
  }

  void Approve(const std::string& account_id) {
    const net::Response r =
        Send(net::Method::kPost, "/api/v1/admin/registrations/" + account_id + "/approval", admin_);
    EXPECT_EQ(r.status, 200) << r.body;
  }

  std::string Doctor(const std::string& email, const std::string& name, bool approve) {
    clock_.Advance(std::chrono::milliseconds(1));  // registration times tell doctors apart
    const net::Response r = Post("/api/v1/accounts/doctors", "",
                                 {{"email", email},
                                  {"password", kPassword},
                                  {"display_name", name},
                                  {"licence_number", "GMC-" + email.substr(0, email.find('@'))},
                                  {"speciality", "cardiology"},
                                  {"hospital", "St Elsewhere"}});
    EXPECT_EQ(r.status, 201) << r.body;
    const std::string id = r.status == 201 ? Body(r)["account_id"].get<std::string>() : "";
    if (approve) Approve(id);
    return id;
  }

  // A registered, approved, logged-in patient; with `records` stored records of their own.
  Patient NewPatient(const std::string& tag, int records) {
    Patient p;
    p.email = "patient." + tag + "@example.org";
    p.name = "Zebedee Quux " + tag;
    const net::Response r = Post("/api/v1/accounts/patients", "",
                                 {{"email", p.email},
                                  {"password", kPassword},
                                  {"display_name", "P " + tag},
                                  {"full_name", p.name},
                                  {"phone", "+44 20 7946 0958"},
                                  {"birth_date", "1980-04-02"},
                                  {"sex", "female"}});
    EXPECT_EQ(r.status, 201) << r.body;
    p.account_id = Body(r).value("account_id", "");
    Approve(p.account_id);
    const net::Response login =
        Post("/api/v1/session", "", {{"email", p.email}, {"password", kPassword}});
    EXPECT_EQ(login.status, 200);
    p.token = Body(login).value("token", "");
    p.patient_id = Body(login).value("patient_id", "");
    for (int i = 0; i < records; ++i) PutRecord(p.patient_id, p.name, i);
    return p;
  }

  // A record as a device would upload it (its patient may have no account).
  void PutRecord(const std::string& patient_id, const std::string& name, int i) {
    wire::PatientRecord rec;
    rec.record_id = "r" + std::to_string(i);
    rec.patient_id = patient_id;
    rec.device_id = "watch-" + patient_id;
    rec.created_ms = wire::NowMs(clock_) - 1000 + i;
    rec.name = name;
    rec.email = "device." + patient_id + "@example.org";
    rec.phone = "+44 20 7946 0958";
    rec.national_id = "QZ123456C";
    rec.birth_date = "1980-04-02";
    rec.sex = "female";
    rec.postcode = "NW1 6XE";
    rec.symptoms = {"cough"};
    rec.pulse_bpm = 70;
    ASSERT_TRUE(service_->records().PutRecord(rec, Bytes{1, 2, 3}));
  }

  std::string Pseudonym(const std::string& patient_id) {
    return service_->records().Pseudonym(patient_id);
  }

  void ExpectError(const net::Response& r, int status, std::string_view error) {
    EXPECT_EQ(r.status, status) << r.body;
    const json body = Body(r);
    ASSERT_TRUE(body.is_object());
    EXPECT_EQ(body.value("error", ""), error) << r.body;
    EXPECT_TRUE(body.contains("message"));
  }

  // Tampers with the audit log as the database's owner would.
  void TamperWithAuditEntry(std::uint64_t seq) {
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      pqxx::connection c(pg);
      pqxx::work w(c);
      const std::string table = "\"" + prefix_ + "audit_log\".entry";
      w.exec("DROP TRIGGER entry_append_only ON " + table);
      w.exec("UPDATE " + table + " SET detail = 'rewritten' WHERE seq = " + std::to_string(seq));
      w.commit();
      return;
    }
    SQLite::Database db((dir_.path() / "cloud" / audit::kAuditDbFileName).string(),
                        SQLite::OPEN_READWRITE);
    db.exec("PRAGMA busy_timeout = 5000");
    db.exec("DROP TRIGGER audit_entry_no_update");
    db.exec("UPDATE audit_entry SET detail = 'rewritten' WHERE seq = " + std::to_string(seq));
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  testing::FakeClock clock_{std::chrono::system_clock::now()};
  SystemRandom random_;
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::unique_ptr<CloudService> service_;
  std::string url_;
  std::string admin_;
  std::string prefix_;
};

bool Contains(const std::string& body, const std::string& needle) {
  return body.find(needle) != std::string::npos;
}

TEST_F(AdminApiTest, TheDirectoryListsOnlyApprovedDoctorsWithoutLicenceOrEmail) {
  const std::string approved = Doctor("house@example.org", "Dr House", true);
  const std::string pending = Doctor("quinn@example.org", "Dr Quinn", false);
  const std::string rejected = Doctor("who@example.org", "Dr Who", false);
  ASSERT_EQ(Post("/api/v1/admin/registrations/" + rejected + "/rejection", admin_,
                 {{"reason", "licence unknown"}})
                .status,
            200);
  const Patient patient = NewPatient("a", 0);
  const std::string doctor_token = LoginToken("house@example.org", kPassword);
  for (const std::string& token : {patient.token, doctor_token, admin_}) {
    const net::Response r = Get("/api/v1/doctors", token);
    ASSERT_EQ(r.status, 200) << r.body;
    const json doctors = Body(r)["doctors"];
    ASSERT_EQ(doctors.size(), 1u);
    EXPECT_TRUE(doctors[0]["account_id"] == approved);
    EXPECT_EQ(doctors[0]["display_name"], "Dr House");
    EXPECT_EQ(doctors[0]["speciality"], "cardiology");
    EXPECT_EQ(doctors[0]["hospital"], "St Elsewhere");
    EXPECT_FALSE(Contains(r.body, "GMC-"));
    EXPECT_FALSE(Contains(r.body, "@example.org"));
    EXPECT_FALSE(Contains(r.body, pending));
  }
  ExpectError(Get("/api/v1/doctors", ""), 401, "unauthenticated");
  ASSERT_EQ(Post("/api/v1/admin/operators", admin_,
                 {{"email", "op@example.org"},
                  {"password", kPassword},
                  {"display_name", "Op"},
                  {"cloudlet_id", "cloudlet-1"}})
                .status,
            201);
  // Operators read the directory too (the doctor chart names doctors by it).
  EXPECT_EQ(Get("/api/v1/doctors", LoginToken("op@example.org", kPassword)).status, 200);
}

TEST_F(AdminApiTest, TheAdminSeesEveryDoctorWithDetailsAndOthersAreRefused) {
  const std::string approved = Doctor("house@example.org", "Dr House", true);
  const std::string pending = Doctor("quinn@example.org", "Dr Quinn", false);
  const net::Response r = Get("/api/v1/admin/doctors", admin_);
  ASSERT_EQ(r.status, 200) << r.body;
  const json doctors = Body(r)["doctors"];
  ASSERT_EQ(doctors.size(), 2u);
  EXPECT_TRUE(doctors[0]["account_id"] == approved);
  EXPECT_EQ(doctors[0]["status"], "approved");
  EXPECT_EQ(doctors[0]["licence_number"], "GMC-house");
  EXPECT_TRUE(doctors[0]["email"] == "house@example.org");
  EXPECT_GT(doctors[0]["registered_ms"].get<std::int64_t>(), 0);
  EXPECT_TRUE(doctors[1]["account_id"] == pending);
  EXPECT_EQ(doctors[1]["status"], "pending");
  EXPECT_FALSE(Contains(r.body, "argon2"));
  const auto listed =
      service_->audit().QueryEntries({.event = "doctor.list", .outcome = audit::Outcome::kSuccess});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 1u);

  const Patient patient = NewPatient("a", 0);
  const std::string doctor = LoginToken("house@example.org", kPassword);
  for (const std::string path :
       {"/api/v1/admin/doctors", "/api/v1/admin/patients", "/api/v1/admin/audit"}) {
    SCOPED_TRACE(path);
    ExpectError(Get(path, patient.token), 403, "permission_denied");
    ExpectError(Get(path, doctor), 403, "permission_denied");
    ExpectError(Get(path, ""), 401, "unauthenticated");
  }
  ExpectError(Post("/api/v1/admin/patients/" + Pseudonym(patient.patient_id) + "/identity", doctor,
                   {{"reason", "curious"}}),
              403, "permission_denied");
  const auto refused = service_->audit().QueryEntries({.outcome = audit::Outcome::kMinorFailure});
  ASSERT_TRUE(refused);
  std::set<std::string> events;
  for (const auto& e : *refused) events.insert(e.entry.event);
  EXPECT_TRUE(events.count("doctor.list") == 1 && events.count("patient.list") == 1 &&
              events.count("audit.read") == 1 && events.count("patient.identity.read") == 1);
}

TEST_F(AdminApiTest, ThePartitionedViewShowsPseudonymsAndGeneralisedQiButNoIdentity) {
  std::vector<Patient> patients;
  for (const char* tag : {"a", "b", "c"}) patients.push_back(NewPatient(tag, 2));
  const Patient without_records = NewPatient("d", 0);
  // Patients known only from their devices' uploads (no account).
  for (int i = 0; i < 3; ++i) PutRecord("pat-sim-" + std::to_string(i), "Sim Person", 0);

  std::vector<json> rows;
  std::string after;
  int pages = 0;
  for (;;) {
    const net::Response r =
        Get("/api/v1/admin/patients?limit=2" + (after.empty() ? "" : "&after=" + after), admin_);
    ASSERT_EQ(r.status, 200) << r.body;
    ++pages;
    for (const Patient& p : patients) {
      EXPECT_FALSE(Contains(r.body, p.name) || Contains(r.body, p.email) ||
                   Contains(r.body, p.patient_id) || Contains(r.body, p.account_id));
    }
    EXPECT_FALSE(Contains(r.body, "pat-sim-") || Contains(r.body, "Sim Person") ||
                 Contains(r.body, "@example.org") || Contains(r.body, "NW1 6XE"));
    const json body = Body(r);
    EXPECT_EQ(body["generalisation"]["reference_year"].is_number(), true);
    for (const json& row : body["patients"]) rows.push_back(row);
    if (body["next_after"].is_null()) break;
    after = body["next_after"].get<std::string>();
  }
  EXPECT_EQ(pages, 4);
  ASSERT_EQ(rows.size(), 7u);
  std::map<std::string, json> by_pseudonym;
  for (const json& row : rows) by_pseudonym[row["pseudonym"].get<std::string>()] = row;
  EXPECT_EQ(by_pseudonym.size(), 7u);  // no row twice across pages

  const json& a = by_pseudonym[Pseudonym(patients[0].patient_id)];
  EXPECT_EQ(a["records"], 2);
  EXPECT_EQ(a["account_status"], "approved");
  EXPECT_TRUE(a["last_upload_ms"].is_number());
  // Six patients share one class (same birth date, sex, postcode) at the finest level: k = 5.
  EXPECT_EQ(a["suppressed"], false);
  EXPECT_EQ(a["qi"]["sex"], "female");
  EXPECT_EQ(a["qi"]["postcode_prefix"], "NW1");
  EXPECT_NE(a["qi"]["age_band"], "*");
  const json& sim = by_pseudonym[Pseudonym("pat-sim-0")];
  EXPECT_TRUE(sim["account_status"].is_null());
  EXPECT_EQ(sim["records"], 1);
  const json& none = by_pseudonym[Pseudonym(without_records.patient_id)];
  EXPECT_TRUE(none["qi"].is_null());
  EXPECT_EQ(none["records"], 0);
  EXPECT_TRUE(none["last_upload_ms"].is_null());

  ExpectError(Get("/api/v1/admin/patients?limit=0", admin_), 400, "invalid_argument");
  ExpectError(Get("/api/v1/admin/patients?limit=201", admin_), 400, "invalid_argument");
  ExpectError(Get("/api/v1/admin/patients?limit=x", admin_), 400, "invalid_argument");
  const auto listed = service_->audit().QueryEntries(
      {.event = "patient.list", .outcome = audit::Outcome::kSuccess});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 4u);
}

TEST_F(AdminApiTest, AnIdentityNeedsAReasonAndTheReasonIsAudited) {
  const Patient patient = NewPatient("a", 1);
  const std::string path = "/api/v1/admin/patients/" + Pseudonym(patient.patient_id) + "/identity";
  ExpectError(Post(path, admin_, json::object()), 400, "invalid_argument");
  ExpectError(Post(path, admin_, {{"reason", ""}}), 400, "invalid_argument");
  ExpectError(Post(path, admin_, {{"reason", " \n\t "}}), 400, "invalid_argument");
  ExpectError(Post(path, admin_, {{"reason", std::string(kMaxIdentityReasonBytes + 1, 'x')}}), 400,
              "invalid_argument");
  ExpectError(Post(path, admin_, {{"reason", "a\x01"}}), 400, "invalid_argument");
  ExpectError(Post(path, admin_, {{"reason", 7}}), 400, "invalid_argument");
  ExpectError(Post(path, admin_, {{"reason", "ok"}, {"extra", 1}}), 400, "invalid_argument");
  EXPECT_EQ(Send(net::Method::kPost, path, admin_, "reason=ok", "text/plain").status, 415);
  ExpectError(Post("/api/v1/admin/patients/" + std::string(64, 'a') + "/identity", admin_,
                   {{"reason", "ticket 12"}}),
              404, "not_found");
  ExpectError(
      Post("/api/v1/admin/patients/not-a-pseudonym/identity", admin_, {{"reason", "ticket 12"}}),
      404, "not_found");

  const std::string reason = "Court order 2026/17\n" + std::string(kInjection);
  const net::Response r = Post(path, admin_, {{"reason", reason}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = Body(r);
  EXPECT_TRUE(body["patient_id"] == patient.patient_id);
  EXPECT_TRUE(body["records_identity"]["name"] == patient.name);
  EXPECT_TRUE(body["records_identity"]["national_id"] == "QZ123456C");
  EXPECT_TRUE(body["account"]["email"] == patient.email);
  EXPECT_TRUE(body["account"]["profile"]["full_name"] == patient.name);
  EXPECT_TRUE(body["reason"] == reason);

  const auto revealed = service_->audit().QueryEntries({.event = "patient.identity.read"});
  ASSERT_TRUE(revealed);
  int successes = 0;
  for (const auto& e : *revealed) {
    if (e.entry.outcome != audit::Outcome::kSuccess) continue;
    ++successes;
    EXPECT_TRUE(e.entry.purpose == reason);
    EXPECT_TRUE(e.entry.patient_id == patient.patient_id);
    EXPECT_EQ(e.entry.actor_role, "admin");
  }
  EXPECT_EQ(successes, 1);
  EXPECT_GE(revealed->size(), 9u);  // the refusals above are audited too

  // The admin's audit view shows the reason verbatim, and the patient only as a pseudonym.
  const net::Response audit =
      Get("/api/v1/admin/audit?event=patient.identity.read&outcome=0&verify=false", admin_);
  ASSERT_EQ(audit.status, 200) << audit.body;
  const json entries = Body(audit)["entries"];
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_TRUE(entries[0]["purpose"] == reason);
  EXPECT_TRUE(entries[0]["patient"] == Pseudonym(patient.patient_id));
  EXPECT_FALSE(Contains(audit.body, patient.patient_id) ||
               Contains(audit.body, patient.account_id));
  EXPECT_FALSE(Body(audit).contains("verification"));
}

TEST_F(AdminApiTest, AnIdentityAskedWithTheSessionCookieNeedsTheCsrfTokenAndASmallBody) {
  const Patient patient = NewPatient("a", 1);
  const std::string path = "/api/v1/admin/patients/" + Pseudonym(patient.patient_id) + "/identity";
  const net::Response login =
      Post("/api/v1/session", "", {{"email", kAdminEmail}, {"password", kPassword}});
  ASSERT_EQ(login.status, 200);
  std::string cookie;
  for (const auto& [name, value] : login.headers) {
    if (!net::EqualsIgnoreCase(name, "Set-Cookie")) continue;
    if (!cookie.empty()) cookie += "; ";
    cookie += value.substr(0, value.find(';'));
  }
  auto send = [&](bool with_csrf) {
    net::ClientRequest request;
    request.method = net::Method::kPost;
    request.url = url_ + path;
    request.body = json{{"reason", "ticket 7"}}.dump();
    request.content_type = "application/json";
    request.headers.emplace_back("Cookie", cookie);
    if (with_csrf)
      request.headers.emplace_back("X-CSRF-Token", Body(login)["csrf"].get<std::string>());
    return client_->Send(request).value();
  };
  const net::Response no_token = send(false);
  ExpectError(no_token, 403, "permission_denied");
  EXPECT_EQ(Body(no_token).value("reason", ""), "csrf_required");
  EXPECT_EQ(send(true).status, 200);
  // Reading with the cookie needs no token.
  net::ClientRequest read;
  read.url = url_ + "/api/v1/admin/patients";
  read.headers.emplace_back("Cookie", cookie);
  EXPECT_EQ(client_->Send(read).value().status, 200);

  const net::Response huge = Post(path, admin_, {{"reason", std::string(20 * 1024, 'x')}});
  EXPECT_EQ(huge.status, 413);
}

TEST_F(AdminApiTest, TheAuditRouteFiltersPagesAndVerifiesTheChain) {
  const Patient a = NewPatient("a", 1);
  const Patient b = NewPatient("b", 1);
  ASSERT_EQ(Get("/api/v1/account/profile", a.token).status, 200);
  ASSERT_EQ(Get("/api/v1/account/profile", b.token).status, 200);

  const net::Response all = Get("/api/v1/admin/audit?limit=200", admin_);
  ASSERT_EQ(all.status, 200) << all.body;
  const json body = Body(all);
  EXPECT_EQ(body["verification"]["ok"], true);
  EXPECT_EQ(body["verification"]["failure"], "ok");
  EXPECT_TRUE(body["verification"]["first_bad_seq"].is_null());
  const json head = body["verification"]["head"];
  EXPECT_EQ(head["observer"], "cloud");
  EXPECT_EQ(head["signature"].get<std::string>().size(), 128u);
  EXPECT_EQ(head["seq"], body["entries"][0]["seq"]);  // newest first, the head is the newest
  // Account entries name accounts, data entries pseudonyms: no entry holds both, and no patient
  // id or e-mail appears anywhere.
  for (const Patient& p : {a, b}) {
    EXPECT_FALSE(Contains(all.body, p.patient_id) || Contains(all.body, p.email));
    bool account_seen = false;
    for (const json& e : body["entries"]) {
      const std::string entry = e.dump();
      const bool names_account = Contains(entry, p.account_id);
      account_seen = account_seen || names_account;
      EXPECT_FALSE(names_account && Contains(entry, Pseudonym(p.patient_id)));
      if (names_account) {
        EXPECT_TRUE(e["patient"].is_null());
      }
    }
    EXPECT_TRUE(account_seen);  // their registration and approval
  }

  // By patient: only entries about a, shown by pseudonym.
  const std::string pa = Pseudonym(a.patient_id);
  const net::Response by_patient = Get("/api/v1/admin/audit?verify=false&patient=" + pa, admin_);
  ASSERT_EQ(by_patient.status, 200) << by_patient.body;
  const json about_a = Body(by_patient)["entries"];
  ASSERT_FALSE(about_a.empty());
  bool profile_read = false;
  for (const json& e : about_a) {
    EXPECT_TRUE(e["patient"] == pa);
    if (e["event"] == "patient.profile.read") {
      profile_read = true;
      EXPECT_EQ(e["actor"]["role"], "patient");
      EXPECT_TRUE(e["actor"]["account_id"].is_null());
      EXPECT_TRUE(e["actor"]["pseudonym"] == pa);
      EXPECT_TRUE(e["source_address"].is_null());
    }
    EXPECT_FALSE(e["entity"]["type"] == "Account");
  }
  EXPECT_TRUE(profile_read);

  // By action and outcome, and by a staff account.
  const json reads = Body(Get("/api/v1/admin/audit?verify=false&action=R&limit=200", admin_));
  for (const json& e : reads["entries"]) EXPECT_EQ(e["action"], "R");
  const json approvals =
      Body(Get("/api/v1/admin/audit?verify=false&event=account.approve&outcome=0&account=" +
                   service_->accounts().store().FindByLogin(kAdminEmail).value()->account_id,
               admin_));
  ASSERT_EQ(approvals["entries"].size(), 2u);
  EXPECT_TRUE(approvals["entries"][0]["entity"]["id"] == b.account_id);
  EXPECT_TRUE(approvals["entries"][0]["patient"].is_null());
  EXPECT_TRUE(approvals["entries"][1]["entity"]["id"] == a.account_id);

  // Pages of 3, newest first, no entry twice.
  std::set<std::uint64_t> seen;
  std::uint64_t before = 0;
  std::uint64_t last = 0;
  for (int page = 0; page < 100; ++page) {
    std::string path =
        "/api/v1/admin/audit?verify=false&limit=3&to=" + std::to_string(wire::NowMs(clock_) + 1);
    if (before != 0) path += "&before=" + std::to_string(before);
    const json p = Body(Get(path, admin_));
    for (const json& e : p["entries"]) {
      const auto seq = e["seq"].get<std::uint64_t>();
      if (last != 0) {
        EXPECT_LT(seq, last);
      }
      last = seq;
      EXPECT_TRUE(seen.insert(seq).second);
    }
    if (p["next_before"].is_null()) break;
    before = p["next_before"].get<std::uint64_t>();
  }
  EXPECT_EQ(last, 1u);

  // Bad filters.
  for (const std::string query : {"action=X", "outcome=3", "limit=0", "limit=201", "from=5&to=4",
                                  "from=-1", "before=x", "verify=maybe", "event=Record%20read"}) {
    SCOPED_TRACE(query);
    ExpectError(Get("/api/v1/admin/audit?" + query, admin_), 400, "invalid_argument");
  }
  ExpectError(Get("/api/v1/admin/audit?patient=" + std::string(64, 'f'), admin_), 404, "not_found");
  ExpectError(Get("/api/v1/admin/audit?patient=x'%20OR%20'1'='1", admin_), 404, "not_found");
  // An injection string as a filter is a value like any other: it matches nothing.
  const net::Response injected = Get(
      "/api/v1/admin/audit?verify=false&account=x'%20OR%20'1'='1;%20DROP%20TABLE%20entry", admin_);
  ASSERT_EQ(injected.status, 200) << injected.body;
  EXPECT_TRUE(Body(injected)["entries"].empty());
  const net::Response after = Get("/api/v1/admin/patients?after=z%27%3B--%3Cscript%3E", admin_);
  ASSERT_EQ(after.status, 200);
  EXPECT_TRUE(Body(after)["patients"].empty());  // pseudonyms are hex: all sort before "z"
  ExpectError(Get("/api/v1/admin/audit?account=" + a.account_id, admin_), 400, "invalid_argument");
}

TEST_F(AdminApiTest, ATamperedAuditStoreIsReportedWithTheEntryThatBroke) {
  const Patient a = NewPatient("a", 1);
  ASSERT_EQ(Get("/api/v1/account/profile", a.token).status, 200);
  ASSERT_EQ(Body(Get("/api/v1/admin/audit", admin_))["verification"]["ok"], true);
  TamperWithAuditEntry(2);
  const net::Response r = Get("/api/v1/admin/audit", admin_);
  ASSERT_EQ(r.status, 200) << r.body;
  const json v = Body(r)["verification"];
  EXPECT_EQ(v["ok"], false);
  EXPECT_EQ(v["failure"], "content_altered");
  EXPECT_EQ(v["first_bad_seq"], 2);
}

TEST_F(AdminApiTest, APatientSeesWhoSawTheirDataAndNothingAboutOthers) {
  const Patient a = NewPatient("a", 1);
  const Patient b = NewPatient("b", 1);
  const std::string doctor = Doctor("house@example.org", "Dr House", true);
  // A doctor's read of a's record, as the clinical service records it.
  audit::AuditEntry read;
  read.time_ms = wire::NowMs(clock_);
  read.event = "record.read";
  read.actor_account_id = doctor;
  read.actor_role = "doctor";
  read.source_address = "192.0.2.7";
  read.patient_id = a.patient_id;
  read.entity_type = "DocumentReference";
  read.entity_id = "watch/r0";
  ASSERT_TRUE(service_->audit().Append(read));
  ASSERT_EQ(Post("/api/v1/admin/patients/" + Pseudonym(a.patient_id) + "/identity", admin_,
                 {{"reason", "billing dispute"}})
                .status,
            200);
  ASSERT_EQ(Get("/api/v1/account/profile", a.token).status, 200);

  const net::Response mine = Get("/api/v1/me/audit", a.token);
  ASSERT_EQ(mine.status, 200) << mine.body;
  const json entries = Body(mine)["entries"];
  bool doctor_seen = false, admin_seen = false, self_seen = false;
  for (const json& e : entries) {
    if (e["event"] == "record.read") {
      doctor_seen = true;
      EXPECT_EQ(e["actor"]["role"], "doctor");
      EXPECT_TRUE(e["actor"]["account_id"] == doctor);
      EXPECT_EQ(e["actor"]["name"], "Dr House");
      EXPECT_EQ(e["entity"]["id"], "watch/r0");
    }
    if (e["event"] == "patient.identity.read") {
      admin_seen = true;
      EXPECT_EQ(e["actor"]["role"], "admin");
      EXPECT_EQ(e["purpose"], "billing dispute");
      EXPECT_EQ(e["outcome"], 0);
    }
    if (e["event"] == "patient.profile.read") self_seen = e["actor"]["self"] == true;
  }
  EXPECT_TRUE(doctor_seen && admin_seen && self_seen);
  EXPECT_FALSE(Contains(mine.body, b.patient_id) || Contains(mine.body, b.account_id));

  // b sees none of that; the read of a's log is itself in a's log.
  const json theirs = Body(Get("/api/v1/me/audit", b.token))["entries"];
  for (const json& e : theirs) {
    EXPECT_NE(e["event"], "record.read");
    EXPECT_NE(e["event"], "patient.identity.read");
  }
  const json again = Body(Get("/api/v1/me/audit?limit=1", a.token));
  ASSERT_EQ(again["entries"].size(), 1u);
  EXPECT_EQ(again["entries"][0]["event"], "audit.read");
  EXPECT_TRUE(again["next_before"].is_number());

  ExpectError(Get("/api/v1/me/audit", admin_), 403, "permission_denied");
  ExpectError(Get("/api/v1/me/audit", LoginToken("house@example.org", kPassword)), 403,
              "permission_denied");
  ExpectError(Get("/api/v1/me/audit", ""), 401, "unauthenticated");
  ExpectError(Get("/api/v1/me/audit?limit=0", a.token), 400, "invalid_argument");
  ExpectError(Get("/api/v1/me/audit?from=9&to=1", a.token), 400, "invalid_argument");
}

}  // namespace
}  // namespace medmesh::cloud
