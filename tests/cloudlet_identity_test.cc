// The cloudlet side of identity (docs/accounts.md "At a cloudlet", docs/enrolment.md), in one
// process over loopback HTTP: a real cloud with accounts (the identity provider) and a real
// cloudlet that verifies the cloud's session tokens offline, learns revocations by polling, and
// lets a patient (or an operator of this cloudlet) enrol, list and withdraw devices with the
// device-signed enrolment request. Run twice: the cloud on SQLite, and
// (cloudlet_identity_postgres_test, testing/test_backend.h) on the PostgreSQL test cluster.
//
// Output never carries ids or tokens: failures print the error code and fixed message only.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "accounts/session_token.h"
#include "cloud/cloud_service.h"
#include "cloudlet/cloudlet_service.h"
#include "core/bytes.h"
#include "node/test_support.h"
#include "store/ids_event_log.h"
#include "testing/fake_clock.h"
#include "testing/test_backend.h"
#include "testing/wait.h"
#include "wire/enrolment.h"
#include "wire/record_codec.h"

namespace medmesh {
namespace {

using nlohmann::json;
using node::testing::HeartRate;
using node::testing::TestDevice;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kPassword[] = "correct horse battery";
constexpr char kAdminEmail[] = "admin@example.org";

// What a failed expectation may print: the status and the error body's fixed fields, never ids.
std::string Why(const net::Response& r) {
  const json body = json::parse(r.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return "status " + std::to_string(r.status);
  return "status " + std::to_string(r.status) + " " + body.value("error", "") + ": " +
         body.value("message", "");
}

Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

struct Login {
  std::string token;
  std::string patient_id;  // patients only
  std::string cookie;      // "mm_session=...; mm_csrf=..."
  std::string csrf;
};

class CloudletIdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cloud::CloudOptions options;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    options.password_hasher = {.ops_limit = 1, .mem_limit_bytes = 1 << 20};
    if (const char* pg = medmesh::testing::PostgresTestUrl()) {
      options.store.backend = node::StoreBackend::kPostgres;
      options.store.postgres_url = pg;
      options.store.schema_prefix = "i" + HexEncode(random_.Generate(6)) + "_";
    }
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloud::CloudSecrets secrets{std::move(*identity), crypto::KeyEncryptionKey::Generate(random_),
                                SecretBytes(random_.Generate(32)),
                                SecretBytes(random_.Generate(32)), SecretBytes()};
    auto service =
        cloud::CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    cloud_ = std::move(*service);
    cloud_url_ = "http://127.0.0.1:" + std::to_string(cloud_->port());
    ASSERT_TRUE(cloud_->accounts().service().CreateAdmin({kAdminEmail, kPassword}, "Admin"));
    admin_ = LogIn(kAdminEmail);
  }

  // A cloudlet forwarding to the cloud; `poll_interval` 0: revocations only by PollSessionsNow.
  void StartCloudlet(std::chrono::milliseconds poll_interval = std::chrono::milliseconds(0)) {
    cloudlet::CloudletOptions options;
    options.data_dir = dir_.path() / "cloudlet";
    options.access_log = false;
    options.forwarder.cloud_url = cloud_url_;
    options.accounts.poll_interval = poll_interval;
    options.accounts.max_staleness = std::chrono::seconds(60);
    auto identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloudlet::CloudletSecrets secrets{std::move(*identity),
                                      crypto::KeyEncryptionKey::Generate(random_),
                                      enrol_token_.Clone(), operator_token_.Clone()};
    auto service =
        cloudlet::CloudletService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    cloudlet_ = std::move(*service);
    cloudlet_url_ = "http://127.0.0.1:" + std::to_string(cloudlet_->port());
  }

  net::Response Send(const std::string& base, net::Method method, const std::string& path,
                     Headers headers = {}, const std::string& body = {},
                     const std::string& content_type = "application/json") {
    net::ClientRequest request;
    request.method = method;
    request.url = base + path;
    request.headers = std::move(headers);
    request.body = body;
    if (!body.empty()) request.content_type = content_type;
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }
  net::Response AtCloud(net::Method method, const std::string& path, Headers headers = {},
                        const json& body = nullptr) {
    return Send(cloud_url_, method, path, std::move(headers), body.is_null() ? "" : body.dump());
  }
  net::Response AtCloudlet(net::Method method, const std::string& path, Headers headers = {},
                           const std::string& body = {}) {
    return Send(cloudlet_url_, method, path, std::move(headers), body);
  }

  Login LogIn(const std::string& email) {
    const net::Response r = AtCloud(net::Method::kPost, "/api/v1/session", {},
                                    {{"email", email}, {"password", kPassword}});
    EXPECT_EQ(r.status, 200) << Why(r);
    if (r.status != 200) return {};
    const json session = json::parse(r.body);
    Login login{session["token"], session.value("patient_id", ""), "", session["csrf"]};
    for (const auto& [name, value] : r.headers) {
      if (!net::EqualsIgnoreCase(name, "Set-Cookie")) continue;
      if (!login.cookie.empty()) login.cookie += "; ";
      login.cookie += value.substr(0, value.find(';'));
    }
    return login;
  }

  // Registers a patient, has the admin approve them, and logs them in.
  Login Patient(const std::string& email) {
    const net::Response r =
        AtCloud(net::Method::kPost, "/api/v1/accounts/patients", {},
                {{"email", email}, {"password", kPassword}, {"display_name", "Pat"}});
    EXPECT_EQ(r.status, 201) << Why(r);
    const std::string id = json::parse(r.body).value("account_id", "");
    const net::Response approved =
        AtCloud(net::Method::kPost, "/api/v1/admin/registrations/" + id + "/approval",
                Bearer(admin_.token));
    EXPECT_EQ(approved.status, 200) << Why(approved);
    return LogIn(email);
  }

  Login Operator(const std::string& email, const std::string& cloudlet_id) {
    const net::Response r =
        AtCloud(net::Method::kPost, "/api/v1/admin/operators", Bearer(admin_.token),
                {{"email", email},
                 {"password", kPassword},
                 {"display_name", "Op"},
                 {"cloudlet_id", cloudlet_id}});
    EXPECT_EQ(r.status, 201) << Why(r);
    return LogIn(email);
  }

  // POST /api/v1/enrol with `device`'s signed request for this cloudlet.
  net::Response Enrol(TestDevice& device, Headers headers) {
    EXPECT_TRUE(device.UseCloudlet(*client_, cloudlet_url_, deployment_.Root().key));
    auto request = device.EnrolmentRequest("cloudlet-1");
    EXPECT_TRUE(request);
    return AtCloudlet(net::Method::kPost, "/api/v1/enrol", std::move(headers),
                      json{{"request", HexEncode(*request)}}.dump());
  }
  net::Response Devices(Headers headers, const std::string& query = {}) {
    return AtCloudlet(net::Method::kGet, "/api/v1/devices" + query, std::move(headers));
  }
  net::Response Withdraw(const std::string& device_id, Headers headers) {
    return AtCloudlet(net::Method::kPost, "/api/v1/devices/" + device_id + "/withdrawal",
                      std::move(headers));
  }
  net::Response Upload(TestDevice& device) {
    auto sealed = device.SealReadings(HeartRate(wire::ToUnixMs(clock_.Now()) - 1000, 5));
    EXPECT_TRUE(sealed);
    return Send(cloudlet_url_, net::Method::kPost, "/api/v1/ingest", {},
                std::string(AsStringView(*sealed)), "application/octet-stream");
  }

  // The cloudlet's device audit entries so far, oldest first, each as
  // "<event> <role> <account|token> <device> <patient> <outcome>", patients named by `names`
  // ("?" for another, "-" for none) so no id is printed.
  std::vector<std::string> DeviceAudit(const std::map<std::string, std::string>& names) {
    auto page = cloudlet_->audit().Query({.limit = 1000});
    EXPECT_TRUE(page) << page.error().ToString();
    std::vector<std::string> out;
    if (!page) return out;
    for (const json& e : page->events) {
      const std::string event = e["subtype"][1]["code"];
      if (event.rfind("device.", 0) != 0) continue;
      const json& agent = e["agent"][0];
      std::string device = "-";
      std::string patient = "-";
      for (const json& entity : e.value("entity", json::array())) {
        const std::string ref = entity.value("what", json::object()).value("reference", "");
        if (ref.rfind("Device/", 0) == 0) device = ref.substr(7);
        if (ref.rfind("Patient/", 0) == 0) {
          const auto named = names.find(ref.substr(8));
          patient = named == names.end() ? "?" : named->second;
        }
      }
      out.push_back(event + " " + agent["role"][0]["coding"][0]["code"].get<std::string>() +
                    (agent["who"].contains("identifier") ? " account " : " token ") + device + " " +
                    patient + " " + e["outcome"].get<std::string>());
    }
    std::reverse(out.begin(), out.end());
    return out;
  }

  // The cloudlet's IDS events of `kind` so far.
  std::size_t CloudletIds(store::IdsEventKind kind) {
    const net::Response r = AtCloudlet(net::Method::kGet, "/api/v1/ids/events",
                                       Bearer(node::testing::TokenText(operator_token_)));
    EXPECT_EQ(r.status, 200) << Why(r);
    std::size_t n = 0;
    const json events = json::parse(r.body);
    for (const json& e : events) {
      if (e["kind"] == store::IdsEventKindName(kind)) n += e["count"].get<std::size_t>();
    }
    return n;
  }

  std::vector<std::string> DeviceIds(const net::Response& listing) {
    std::vector<std::string> ids;
    const json body = json::parse(listing.body);
    for (const json& d : body["devices"]) ids.push_back(d["device_id"]);
    return ids;
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  testing::FakeClock clock_{std::chrono::system_clock::now()};
  SystemRandom random_;
  SecretBytes enrol_token_ = node::testing::RandomToken(random_);
  SecretBytes operator_token_ = node::testing::RandomToken(random_);
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::unique_ptr<cloud::CloudService> cloud_;
  std::unique_ptr<cloudlet::CloudletService> cloudlet_;
  std::string cloud_url_;
  std::string cloudlet_url_;
  Login admin_;
};

TEST_F(CloudletIdentityTest, ForgedExpiredRevokedAndStaleTokensAreRefusedAtTheCloudlet) {
  StartCloudlet();
  const Login pat = Patient("pat@example.org");
  // Before the first poll the cloudlet cannot know what was revoked: it fails closed.
  EXPECT_EQ(Devices(Bearer(pat.token)).status, 503);
  ASSERT_TRUE(cloudlet_->PollSessionsNow());
  const net::Response own = Devices(Bearer(pat.token));
  ASSERT_EQ(own.status, 200) << Why(own);
  EXPECT_TRUE(json::parse(own.body)["devices"].empty());

  const std::size_t failures = CloudletIds(store::IdsEventKind::kAuthFailure);
  // Nobody, a tampered token, a token signed by a key the root did not certify as the cloud's.
  EXPECT_EQ(Devices({}).status, 401);
  std::string tampered = pat.token;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Devices(Bearer(tampered)).status, 401);
  auto impostor = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-9");
  ASSERT_TRUE(impostor);
  accounts::TokenIssuer forger(crypto::NewEd25519Signer(impostor->signing_key.Clone()), "cloud");
  const std::int64_t now_ms = wire::ToUnixMs(clock_.Now());
  auto forged = forger.Issue({.session_id = "ses_aaaaaaaaaaaaaaaaaaaaaaaaaa",
                              .account_id = "acc_aaaaaaaaaaaaaaaaaaaaaaaaaa",
                              .role = accounts::Role::kOperator,
                              .patient_id = "",
                              .cloudlet_id = "cloudlet-1",
                              .issued_ms = now_ms,
                              .expires_ms = now_ms + 60'000,
                              .issuer = "cloud",
                              .csrf = "AAAAAAAAAAAAAAAAAAAAAA"});
  ASSERT_TRUE(forged) << forged.error().ToString();
  EXPECT_EQ(Devices(Bearer(*forged)).status, 401);
  EXPECT_EQ(Withdraw("watch-1", Bearer(*forged)).status, 401);
  EXPECT_GE(CloudletIds(store::IdsEventKind::kAuthFailure), failures + 4);

  // Revoked at the cloud (logout): the cloudlet learns it with its next poll.
  const Login other = LogIn("pat@example.org");
  ASSERT_EQ(AtCloud(net::Method::kDelete, "/api/v1/session", Bearer(pat.token)).status, 204);
  EXPECT_EQ(Devices(Bearer(pat.token)).status, 200);  // within the bound: the poll interval
  ASSERT_TRUE(cloudlet_->PollSessionsNow());
  EXPECT_EQ(Devices(Bearer(pat.token)).status, 401);
  EXPECT_EQ(Devices(Bearer(other.token)).status, 200);

  // No successful poll for longer than the max staleness: every token is refused (503).
  clock_.Advance(std::chrono::seconds(61));
  EXPECT_EQ(Devices(Bearer(other.token)).status, 503);
  ASSERT_TRUE(cloudlet_->PollSessionsNow());
  EXPECT_EQ(Devices(Bearer(other.token)).status, 200);

  // Expired: 15 minutes after it was issued, whatever the revocation list says.
  clock_.Advance(std::chrono::minutes(15));
  ASSERT_TRUE(cloudlet_->PollSessionsNow());
  const net::Response expired = Devices(Bearer(other.token));
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(json::parse(expired.body).value("message", ""), "session expired");
}

TEST_F(CloudletIdentityTest, RevocationReachesTheCloudletThroughItsPollThread) {
  StartCloudlet(std::chrono::milliseconds(20));
  const Login pat = Patient("pat@example.org");
  ASSERT_TRUE(testing::WaitUntil([&] { return Devices(Bearer(pat.token)).status == 200; }));
  ASSERT_EQ(AtCloud(net::Method::kDelete, "/api/v1/session", Bearer(pat.token)).status, 204);
  EXPECT_TRUE(testing::WaitUntil([&] { return Devices(Bearer(pat.token)).status == 401; }));
}

TEST_F(CloudletIdentityTest, CookieRequestsThatChangeStateNeedTheCsrfHeader) {
  StartCloudlet();
  const Login pat = Patient("pat@example.org");
  ASSERT_TRUE(cloudlet_->PollSessionsNow());
  TestDevice device("watch-1", pat.patient_id, random_, clock_);
  const Headers cookie{{"Cookie", pat.cookie}};
  // Reading needs no CSRF header; enrolling and withdrawing do.
  EXPECT_EQ(Devices(cookie).status, 200);
  const net::Response no_csrf = Enrol(device, cookie);
  EXPECT_EQ(no_csrf.status, 403) << Why(no_csrf);
  EXPECT_EQ(json::parse(no_csrf.body).value("reason", ""), "csrf_required");
  Headers wrong = cookie;
  wrong.emplace_back("X-CSRF-Token", "AAAAAAAAAAAAAAAAAAAAAA");
  EXPECT_EQ(Enrol(device, wrong).status, 403);
  Headers with_csrf = cookie;
  with_csrf.emplace_back("X-CSRF-Token", pat.csrf);
  const net::Response enrolled = Enrol(device, with_csrf);
  ASSERT_EQ(enrolled.status, 200) << Why(enrolled);
  EXPECT_EQ(Withdraw("watch-1", cookie).status, 403);
  const net::Response withdrawn = Withdraw("watch-1", with_csrf);
  ASSERT_EQ(withdrawn.status, 200) << Why(withdrawn);
  EXPECT_EQ(json::parse(withdrawn.body)["status"], "withdrawn");
}

TEST_F(CloudletIdentityTest, PatientEnrolsListsAndWithdrawsOwnDevicesOnly) {
  StartCloudlet();
  const Login pat = Patient("pat@example.org");
  const Login bob = Patient("bob@example.org");
  ASSERT_TRUE(cloudlet_->PollSessionsNow());

  TestDevice watch("watch-1", pat.patient_id, random_, clock_);
  const net::Response enrolled = Enrol(watch, Bearer(pat.token));
  ASSERT_EQ(enrolled.status, 200) << Why(enrolled);
  auto record = wire::ParseEnrolment(enrolled.body_bytes());
  ASSERT_TRUE(record);
  EXPECT_TRUE(record->enrolment.device_id == "watch-1" &&
              record->enrolment.patient_id == pat.patient_id &&
              record->enrolment.device_key == watch.signer().public_key());
  // Enrolling the same device again with the same key answers the same record.
  EXPECT_EQ(Enrol(watch, Bearer(pat.token)).body, enrolled.body);
  ASSERT_EQ(Upload(watch).status, 200);

  // Pat cannot enrol a device to Bob, nor see, nor withdraw Bob's device.
  TestDevice for_bob("watch-2", bob.patient_id, random_, clock_);
  const std::size_t conflicts = CloudletIds(store::IdsEventKind::kEnrolmentConflict);
  const net::Response foreign = Enrol(for_bob, Bearer(pat.token));
  EXPECT_EQ(foreign.status, 403) << Why(foreign);
  EXPECT_EQ(CloudletIds(store::IdsEventKind::kEnrolmentConflict), conflicts + 1);
  ASSERT_EQ(Enrol(for_bob, Bearer(bob.token)).status, 200);
  const net::Response unknown = Withdraw("watch-9", Bearer(pat.token));
  const net::Response other = Withdraw("watch-2", Bearer(pat.token));
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.body, unknown.body);  // another patient's device is not even said to exist
  EXPECT_EQ(DeviceIds(Devices(Bearer(pat.token))), std::vector<std::string>{"watch-1"});
  EXPECT_EQ(DeviceIds(Devices(Bearer(bob.token))), std::vector<std::string>{"watch-2"});
  EXPECT_EQ(Devices(Bearer(pat.token), "?patient_id=x").status, 400);

  // Withdrawn: listed as such, its uploads refused with an IDS event, never enrolled again.
  const std::size_t unknown_devices = CloudletIds(store::IdsEventKind::kUnknownDevice);
  const net::Response withdrawn = Withdraw("watch-1", Bearer(pat.token));
  ASSERT_EQ(withdrawn.status, 200) << Why(withdrawn);
  EXPECT_EQ(json::parse(withdrawn.body)["status"], "withdrawn");
  EXPECT_EQ(json::parse(Devices(Bearer(pat.token)).body)["devices"][0]["status"], "withdrawn");
  const net::Response refused = Upload(watch);
  EXPECT_EQ(refused.status, 403) << Why(refused);
  EXPECT_EQ(CloudletIds(store::IdsEventKind::kUnknownDevice), unknown_devices + 1);
  EXPECT_EQ(Enrol(watch, Bearer(pat.token)).status, 409);
  EXPECT_EQ(Upload(for_bob).status, 200);  // Bob's device is untouched

  // Doctors and admins do not manage devices at a cloudlet.
  EXPECT_EQ(Devices(Bearer(admin_.token)).status, 403);
  EXPECT_EQ(Withdraw("watch-2", Bearer(admin_.token)).status, 403);

  // Every enrolment and withdrawal past identification is in the cloudlet's audit log, refusals
  // included; a refused caller's entry names no patient (not even the device's).
  const std::vector<std::string> expected = {
      "device.enrol patient account watch-1 pat 0",
      "device.enrol patient account watch-1 pat 0",  // the same record again
      "device.enrol patient account watch-2 - 4",    // to another patient
      "device.enrol patient account watch-2 bob 0",
      "device.withdraw patient account watch-9 - 4",  // unknown
      "device.withdraw patient account watch-2 - 4",  // another patient's
      "device.withdraw patient account watch-1 pat 0",
      "device.enrol patient account watch-1 pat 4",  // withdrawn: never again
      "device.withdraw admin account watch-2 - 4",
  };
  EXPECT_EQ(DeviceAudit({{pat.patient_id, "pat"}, {bob.patient_id, "bob"}}), expected);
}

TEST_F(CloudletIdentityTest, OnlyOperatorsOfThisCloudletEnrolForPatients) {
  StartCloudlet();
  const Login pat = Patient("pat@example.org");
  const Login mine = Operator("op1@example.org", "cloudlet-1");
  const Login theirs = Operator("op2@example.org", "cloudlet-2");
  ASSERT_TRUE(cloudlet_->PollSessionsNow());

  TestDevice watch("watch-1", pat.patient_id, random_, clock_);
  const net::Response refused = Enrol(watch, Bearer(theirs.token));
  EXPECT_EQ(refused.status, 403) << Why(refused);
  EXPECT_EQ(Devices(Bearer(theirs.token)).status, 403);
  const net::Response enrolled = Enrol(watch, Bearer(mine.token));
  ASSERT_EQ(enrolled.status, 200) << Why(enrolled);
  // The patient sees the device the operator enrolled for them.
  EXPECT_EQ(DeviceIds(Devices(Bearer(pat.token))), std::vector<std::string>{"watch-1"});
  EXPECT_EQ(DeviceIds(Devices(Bearer(mine.token), "?patient_id=" + pat.patient_id)),
            std::vector<std::string>{"watch-1"});
  EXPECT_TRUE(DeviceIds(Devices(Bearer(mine.token), "?patient_id=nobody")).empty());
  EXPECT_EQ(Withdraw("watch-1", Bearer(theirs.token)).status, 403);
  const net::Response withdrawn = Withdraw("watch-1", Bearer(mine.token));
  ASSERT_EQ(withdrawn.status, 200) << Why(withdrawn);
  EXPECT_EQ(Upload(watch).status, 403);
  // The operator token withdraws too: audited as the operator, without an account.
  EXPECT_EQ(Withdraw("watch-1", Bearer(node::testing::TokenText(operator_token_))).status, 200);
  const std::vector<std::string> expected = {
      "device.enrol operator account watch-1 - 4",  // another cloudlet's operator
      "device.enrol operator account watch-1 pat 0",
      "device.withdraw operator account watch-1 - 4",
      "device.withdraw operator account watch-1 pat 0",
      "device.withdraw operator token watch-1 pat 0",
  };
  EXPECT_EQ(DeviceAudit({{pat.patient_id, "pat"}}), expected);
}

// The operator's pages at a cloudlet (docs/ui.md "Cloudlet operator"): the stored data of a
// patient in its encrypted form, security events and the devices' last contact, for the
// operator token and operators of this cloudlet only; every read of stored data is audited.
TEST_F(CloudletIdentityTest, OperatorsOfThisCloudletSeeStoredDataEventsAndLastContact) {
  StartCloudlet();
  const Login pat = Patient("pat@example.org");
  const Login mine = Operator("op1@example.org", "cloudlet-1");
  const Login theirs = Operator("op2@example.org", "cloudlet-2");
  ASSERT_TRUE(cloudlet_->PollSessionsNow());
  const Headers token = Bearer(node::testing::TokenText(operator_token_));

  TestDevice watch("watch-1", pat.patient_id, random_, clock_);
  ASSERT_EQ(Enrol(watch, Bearer(mine.token)).status, 200);
  TestDevice quiet("watch-2", pat.patient_id, random_, clock_);
  ASSERT_EQ(Enrol(quiet, Bearer(mine.token)).status, 200);
  ASSERT_EQ(Upload(watch).status, 200);
  auto record = wire::EncodePatientRecord(watch.Record("rec-1"));
  ASSERT_TRUE(record);
  auto sealed = watch.Seal(wire::ContentType::kPatientRecord, *record);
  ASSERT_TRUE(sealed);
  ASSERT_EQ(Send(cloudlet_url_, net::Method::kPost, "/api/v1/ingest", {},
                 std::string(AsStringView(*sealed)), "application/octet-stream")
                .status,
            200);

  const std::string stored = "/api/v1/patients/" + pat.patient_id + "/stored";
  const net::Response r = AtCloudlet(net::Method::kGet, stored, Bearer(mine.token));
  ASSERT_EQ(r.status, 200) << Why(r);
  const json body = json::parse(r.body);
  const auto is_hex_excerpt = [&](const json& row) {
    const std::size_t bytes = row["ciphertext_bytes"];
    const std::string head = row["ciphertext_head"];
    return bytes > 0 && head.size() == 2 * std::min<std::size_t>(bytes, body["excerpt_bytes"]) &&
           head.find_first_not_of("0123456789abcdef") == std::string::npos;
  };
  ASSERT_EQ(body["reading_batches"].size(), 1u);
  EXPECT_EQ(body["reading_batches"][0]["device_id"], "watch-1");
  EXPECT_EQ(body["reading_batches"][0]["readings"], 5);
  EXPECT_TRUE(is_hex_excerpt(body["reading_batches"][0]));
  ASSERT_EQ(body["records"].size(), 1u);
  EXPECT_EQ(body["records"][0]["record_id"], "rec-1");
  EXPECT_TRUE(is_hex_excerpt(body["records"][0]));
  // The record's ciphertext is not its encoding: nothing of the record shows in clear.
  EXPECT_EQ(
      std::string(body["records"][0]["ciphertext_head"])
          .find(HexEncode(ByteView(record->data(), std::min<std::size_t>(record->size(), 8)))),
      std::string::npos);

  EXPECT_EQ(AtCloudlet(net::Method::kGet, stored, token).status, 200);
  EXPECT_EQ(AtCloudlet(net::Method::kGet, stored).status, 401);
  EXPECT_EQ(AtCloudlet(net::Method::kGet, stored, Bearer(theirs.token)).status, 403);
  EXPECT_EQ(AtCloudlet(net::Method::kGet, stored, Bearer(pat.token)).status, 403);
  EXPECT_EQ(AtCloudlet(net::Method::kGet, stored + "?limit=0", token).status, 400);
  EXPECT_EQ(AtCloudlet(net::Method::kGet, stored + "?limit=201", token).status, 400);
  const net::Response one = AtCloudlet(net::Method::kGet, stored + "?limit=1", token);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body)["records"].size(), 1u);
  const net::Response nobody =
      AtCloudlet(net::Method::kGet, "/api/v1/patients/nobody/stored", Bearer(mine.token));
  ASSERT_EQ(nobody.status, 200);
  EXPECT_TRUE(json::parse(nobody.body)["records"].empty());

  // Each read past the login is audited; only a permitted one names the patient.
  auto page = cloudlet_->audit().Query({.limit = 1000});
  ASSERT_TRUE(page);
  int reads = 0;
  int naming_pat = 0;
  for (const json& e : page->events) {
    if (e["subtype"][1]["code"] != "stored.read") continue;
    ++reads;
    for (const json& entity : e.value("entity", json::array())) {
      if (entity.value("what", json::object()).value("reference", "") ==
          "Patient/" + pat.patient_id) {
        ++naming_pat;
      }
    }
  }
  EXPECT_EQ(reads, 8);       // all but the anonymous call
  EXPECT_EQ(naming_pat, 3);  // the operator, the token, the token with limit=1

  // Devices carry their last contact: the newest upload kept, none for a silent device.
  const net::Response devices = Devices(Bearer(mine.token));
  ASSERT_EQ(devices.status, 200);
  const json listed = json::parse(devices.body);
  std::map<std::string, json> last;
  for (const json& d : listed["devices"]) last[d["device_id"]] = d;
  ASSERT_EQ(last.size(), 2u);
  EXPECT_TRUE(last["watch-1"]["last_contact_ms"].is_number_integer());
  EXPECT_GE(last["watch-1"]["last_contact_ms"].get<std::int64_t>(),
            last["watch-1"]["enrolled_at_ms"].get<std::int64_t>());
  EXPECT_TRUE(last["watch-2"]["last_contact_ms"].is_null());

  // Security events: the token and this cloudlet's operators; the refusals above are there.
  const net::Response events =
      AtCloudlet(net::Method::kGet, "/api/v1/ids/events", Bearer(mine.token));
  ASSERT_EQ(events.status, 200) << Why(events);
  EXPECT_GE(CloudletIds(store::IdsEventKind::kAuthFailure), 1u);
  EXPECT_EQ(AtCloudlet(net::Method::kGet, "/api/v1/ids/events", Bearer(theirs.token)).status, 403);
  EXPECT_EQ(AtCloudlet(net::Method::kGet, "/api/v1/ids/events", Bearer(pat.token)).status, 403);
  EXPECT_EQ(AtCloudlet(net::Method::kGet, "/api/v1/ids/events").status, 401);

  // The operator's counts carry the cloud link as the forwarder sees it.
  const net::Response stats = AtCloudlet(net::Method::kGet, "/api/v1/stats", token);
  ASSERT_EQ(stats.status, 200);
  const json link = json::parse(stats.body)["cloud_link"];
  ASSERT_TRUE(link.is_object());
  const std::string state = link.value("state", "");
  EXPECT_TRUE(state == "unknown" || state == "up" || state == "down");
  EXPECT_TRUE(link.contains("since_ms") && link.contains("last_forward_ms"));
  EXPECT_FALSE(
      json::parse(AtCloudlet(net::Method::kGet, "/api/v1/stats").body).contains("cloud_link"));
}

TEST_F(CloudletIdentityTest, TheEnrolTokenAloneNoLongerEnrols) {
  StartCloudlet();
  const Headers token = Bearer(node::testing::TokenText(enrol_token_));
  TestDevice watch("watch-1", "patient-1", random_, clock_);
  ASSERT_TRUE(watch.UseCloudlet(*client_, cloudlet_url_, deployment_.Root().key));
  // The old body (ids and a key, no proof that the sender holds the key) is refused.
  const json old{{"device_id", "watch-1"},
                 {"patient_id", "patient-1"},
                 {"device_public_key", HexEncode(watch.signer().public_key().bytes())}};
  EXPECT_EQ(AtCloudlet(net::Method::kPost, "/api/v1/enrol", token, old.dump()).status, 400);

  // A request whose device signature does not verify.
  Bytes request = watch.EnrolmentRequest("cloudlet-1").value();
  request[request.size() - 1] ^= 1;
  const std::size_t forged = CloudletIds(store::IdsEventKind::kForgedSignature);
  EXPECT_EQ(AtCloudlet(net::Method::kPost, "/api/v1/enrol", token,
                       json{{"request", HexEncode(request)}}.dump())
                .status,
            400);
  EXPECT_EQ(CloudletIds(store::IdsEventKind::kForgedSignature), forged + 1);
  // A request for another cloudlet, and one signed too long ago (a replay).
  EXPECT_EQ(
      AtCloudlet(net::Method::kPost, "/api/v1/enrol", token,
                 json{{"request", HexEncode(watch.EnrolmentRequest("cloudlet-2").value())}}.dump())
          .status,
      400);
  const Bytes fresh = watch.EnrolmentRequest("cloudlet-1").value();
  clock_.Advance(std::chrono::minutes(6));
  EXPECT_EQ(AtCloudlet(net::Method::kPost, "/api/v1/enrol", token,
                       json{{"request", HexEncode(fresh)}}.dump())
                .status,
            400);
  // The token with a fresh device-signed request: the device enrols itself (the wearable
  // agent's path, docs/enrolment.md "Migration").
  EXPECT_TRUE(watch.Enrol(*client_, cloudlet_url_, enrol_token_, deployment_.Root().key));
  // Without the token and without a session: 401, even before the cloud was reached.
  EXPECT_EQ(
      AtCloudlet(net::Method::kPost, "/api/v1/enrol", {},
                 json{{"request", HexEncode(watch.EnrolmentRequest("cloudlet-1").value())}}.dump())
          .status,
      401);
}

}  // namespace
}  // namespace medmesh
