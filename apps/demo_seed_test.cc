// The demo's seeding (demo_seed.h) against a real cloud and three real cloudlets in one process,
// over loopback HTTP, with devices that enrol for the patient ids the seeded accounts carry.
// Checks through the API that every workflow's data is there and every login works, and that
// seeding again (a restart) adds nothing. Ids, logins and passwords are never printed:
// failures compare counts or booleans.
#include "apps/demo_seed.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cloud/cloud_service.h"
#include "cloudlet/cloudlet_service.h"
#include "net/http_client.h"
#include "net/test_support.h"
#include "node/test_support.h"
#include "testing/wait.h"
#include "wire/record_codec.h"

namespace medmesh {
namespace {

using accounts::Role;
using nlohmann::json;
using node::testing::HeartRate;
using node::testing::TestDevice;

constexpr int kCloudlets = 3;

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }
std::string RecordIdOf(const std::string& device_id) { return "rec-" + device_id; }

// What the API shows of the seeded workflows; compared between the first and second seeding.
struct Snapshot {
  std::size_t pending_registrations = 0;
  std::size_t activations = 0;
  std::size_t approved_activations = 0;
  std::size_t consents = 0;
  std::size_t revoked_consents = 0;
  std::size_t patient_answers = 0;
  std::size_t patient_prescriptions = 0;
  std::size_t doctor_prescriptions = 0;
  std::size_t inbox_grants = 0;
  std::size_t unanswered_grants = 0;
  std::uint64_t counted_answers = 0;
  std::uint64_t counted_prescriptions = 0;
  std::size_t chart_doctors = 0;
  bool operator==(const Snapshot&) const = default;
};

class DemoSeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cloud::CloudOptions options;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    options.password_hasher = {.ops_limit = 1, .mem_limit_bytes = 1 << 20};
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloud::CloudSecrets secrets{std::move(*identity), kek_.Clone(), index_key_.Clone(),
                                pseudonym_key_.Clone(), SecretBytes()};
    auto cloud =
        cloud::CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(cloud) << cloud.error().ToString();
    cloud_ = std::move(*cloud);
    url_ = "http://127.0.0.1:" + std::to_string(cloud_->port());

    for (int i = 1; i <= kCloudlets; ++i) {
      const std::string id = "cloudlet-" + std::to_string(i);
      cloudlet::CloudletOptions edge;
      edge.data_dir = dir_.path() / id;
      edge.access_log = false;
      edge.forwarder.cloud_url = url_;
      edge.forwarder.poll_interval = std::chrono::milliseconds(50);
      edge.forward_queue.initial_backoff = std::chrono::milliseconds(50);
      edge.forward_queue.max_backoff = std::chrono::milliseconds(200);
      auto edge_identity = deployment_.Identity(wire::CertificateRole::kCloudlet, id);
      ASSERT_TRUE(edge_identity) << edge_identity.error().ToString();
      cloudlet::CloudletSecrets edge_secrets{std::move(*edge_identity), cloudlet_kek_.Clone(),
                                             enrol_token_.Clone(), SecretBytes()};
      auto started = cloudlet::CloudletService::Start(std::move(edge), std::move(edge_secrets),
                                                      clock_, random_);
      ASSERT_TRUE(started) << started.error().ToString();
      cloudlet_urls_[id] = "http://127.0.0.1:" + std::to_string((*started)->port());
      cloudlets_.push_back(std::move(*started));
    }
  }

  demo::SeedContext Context() {
    return demo::SeedContext{*client_,
                             clock_,
                             url_,
                             [](const std::string& device_id) {
                               return std::optional<std::string>(RecordIdOf(device_id));
                             },
                             [](std::chrono::milliseconds) {
                               std::this_thread::yield();
                               return true;
                             },
                             std::chrono::seconds(60)};
  }

  // The wards' devices: each enrols at its ward's cloudlet for its account's patient id and
  // sends readings and its record; returns once everything is at the cloud.
  void RunDevices(const demo::DemoSeed& seed) {
    std::size_t devices = 0;
    for (const demo::DemoAccount& a : seed.accounts) {
      if (a.device_id.empty()) continue;
      ASSERT_TRUE(a.patient_id.starts_with("pat_"));
      TestDevice device(a.device_id, a.patient_id, random_, clock_);
      const std::string& cloudlet_url = cloudlet_urls_.at(a.cloudlet_id);
      ASSERT_TRUE(device.Enrol(*client_, cloudlet_url, enrol_token_, deployment_.Root().key));
      auto readings = device.SealReadings(HeartRate(NowMs() - 60'000, 20));
      ASSERT_TRUE(readings);
      const Bytes record =
          wire::EncodePatientRecord(device.Record(RecordIdOf(a.device_id))).value();
      auto sealed_record = device.Seal(wire::ContentType::kPatientRecord, record);
      ASSERT_TRUE(sealed_record);
      for (const Bytes* upload : {&*readings, &*sealed_record}) {
        auto r = client_->Post(cloudlet_url + "/api/v1/ingest", std::string(AsStringView(*upload)),
                               "application/octet-stream");
        ASSERT_TRUE(r && r->status == 200);
      }
      ++devices;
    }
    ASSERT_EQ(devices, 12u);
    ASSERT_TRUE(testing::WaitUntil([&] {
      auto stats = cloud_->Stats();
      if (!stats || stats->records != devices || stats->reading_batches != devices) return false;
      for (const auto& c : cloudlets_) {
        if (c->Stats().forward_queue_depth != 0) return false;
      }
      return true;
    }));
  }

  net::Response Call(net::Method method, const std::string& path, const std::string& token,
                     const std::string& body = {}) {
    net::ClientRequest request;
    request.method = method;
    request.url = url_ + path;
    request.body = body;
    if (!body.empty()) request.content_type = "application/json";
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }
  json GetJson(const std::string& path, const std::string& token) {
    const net::Response r = Call(net::Method::kGet, path, token);
    EXPECT_EQ(r.status, 200);
    return json::parse(r.body, nullptr, false);
  }
  net::Response Login(const demo::DemoAccount& a) {
    return Call(net::Method::kPost, "/api/v1/session", "",
                json{{"email", a.login}, {"password", a.password}}.dump());
  }
  // The cloud's Argon2id password checks for logins so far (its /metrics).
  double PasswordChecks() {
    const net::Response r = Call(net::Method::kGet, "/metrics", "");
    const auto value = net::testing::FindSample(net::testing::ParseExposition(r.body),
                                                "medmesh_login_password_checks_total", {});
    EXPECT_TRUE(value.has_value()) << "the counter is exported";
    return value ? std::stod(*value) : -1;
  }
  std::string Token(const demo::DemoAccount& a) {
    const net::Response r = Login(a);
    EXPECT_EQ(r.status, 200);
    return r.status == 200 ? json::parse(r.body)["token"].get<std::string>() : "";
  }

  // Every login, and what each role sees.
  Snapshot Look(const demo::DemoSeed& seed) {
    Snapshot s;
    std::map<std::string, std::string> doctor_ids;  // login -> account id
    std::string cardiologist;
    for (const demo::DemoAccount& a : seed.accounts) {
      SCOPED_TRACE(std::string(accounts::RoleName(a.role)) + (a.approved ? "" : " (pending)"));
      const net::Response login = Login(a);
      if (!a.approved) {
        EXPECT_EQ(login.status, 403);
        EXPECT_TRUE(login.body.find("account_pending") != std::string::npos);
        continue;
      }
      EXPECT_EQ(login.status, 200);
      if (login.status != 200) continue;
      const json session = json::parse(login.body);
      EXPECT_TRUE(session["account_id"] == a.account_id);
      const std::string token = session["token"].get<std::string>();
      switch (a.role) {
        case Role::kAdmin: {
          s.pending_registrations =
              GetJson("/api/v1/admin/registrations", token)["registrations"].size();
          const json counts = GetJson("/api/v1/answers/counts", token);
          s.counted_answers = counts["answers"].get<std::uint64_t>();
          s.counted_prescriptions = counts["prescriptions"].get<std::uint64_t>();
          const json charts = GetJson("/api/v1/statistics/charts", token);
          s.chart_doctors = charts["doctors"].size();
          for (const json& d : charts["doctors"]) {
            cardiologist = d["doctor_id"].get<std::string>();
            EXPECT_EQ(d["patients"].get<int>(), 5);
          }
          break;
        }
        case Role::kOperator: {
          const json mine = GetJson("/api/v1/activations", token)["activations"];
          EXPECT_EQ(mine.size(), 4u);  // the four patients of the operator's ward
          break;
        }
        case Role::kDoctor: {
          doctor_ids[a.login] = a.account_id;
          const json inbox = GetJson("/api/v1/inbox", token);
          for (const json& p : inbox["patients"]) {
            for (const json& g : p["grants"]) {
              ++s.inbox_grants;
              if (g["answer_ids"].empty()) ++s.unanswered_grants;
              EXPECT_EQ(g["records"].size(), 1u);  // the record is readable by its doctor
            }
            EXPECT_FALSE(p["recent_readings"].empty());
          }
          s.doctor_prescriptions += GetJson("/api/v1/prescriptions", token)["prescriptions"].size();
          break;
        }
        case Role::kPatient: {
          EXPECT_TRUE(session["patient_id"] == a.patient_id);
          const json activations = GetJson("/api/v1/activations", token)["activations"];
          s.activations += activations.size();
          for (const json& act : activations) {
            if (act["status"] == "approved") ++s.approved_activations;
            EXPECT_TRUE(act["cloudlet_id"] == a.cloudlet_id);
          }
          const json consents = GetJson("/api/v1/consents", token)["consents"];
          s.consents += consents.size();
          EXPECT_EQ(consents.size(), a.doctor_login.empty() ? 0u : 1u);
          for (const json& c : consents) {
            if (!c["active"].get<bool>()) ++s.revoked_consents;
            EXPECT_EQ(c["active"].get<bool>(), !a.revoked);
            EXPECT_TRUE(c["records"][0]["device_id"] == a.device_id);
          }
          const json answers = GetJson("/api/v1/answers", token)["answers"];
          s.patient_answers += answers.size();
          EXPECT_EQ(answers.size(), a.answered ? 1u : 0u);
          for (const json& an : answers) {
            EXPECT_FALSE(an["diagnosis"].get<std::string>().empty());
            if (!an["prescription"].is_null()) ++s.patient_prescriptions;
            EXPECT_EQ(!an["prescription"].is_null(), a.prescription);
          }
          break;
        }
      }
    }
    // The chart's one bar is the cardiologist's (five patients; the others are suppressed).
    const demo::DemoAccount* first_doctor = nullptr;
    for (const demo::DemoAccount& a : seed.accounts) {
      if (a.role == Role::kDoctor && first_doctor == nullptr) first_doctor = &a;
    }
    EXPECT_TRUE(first_doctor != nullptr && cardiologist == first_doctor->account_id);
    return s;
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
  std::unique_ptr<cloud::CloudService> cloud_;
  std::vector<std::unique_ptr<cloudlet::CloudletService>> cloudlets_;
  std::map<std::string, std::string> cloudlet_urls_;
  std::string url_;
};

TEST(DemoSeedPlan, PasswordsAreRandomPerFolderAndTheFileIs0600) {
  SystemRandom random;
  const demo::DemoSeed a = demo::NewDemoSeed(demo::DemoWards(kCloudlets), random);
  const demo::DemoSeed b = demo::NewDemoSeed(demo::DemoWards(kCloudlets), random);
  ASSERT_EQ(a.accounts.size(), b.accounts.size());
  std::set<std::string> passwords;
  std::set<std::string> logins;
  std::set<std::string> names;  // people are told apart by name on every page
  for (std::size_t i = 0; i < a.accounts.size(); ++i) {
    names.insert(a.accounts[i].display_name);
    EXPECT_TRUE(a.accounts[i].login == b.accounts[i].login);         // the same plan
    EXPECT_FALSE(a.accounts[i].password == b.accounts[i].password);  // other passwords
    EXPECT_GE(a.accounts[i].password.size(), 12u);
    passwords.insert(a.accounts[i].password);
    logins.insert(a.accounts[i].login);
  }
  EXPECT_EQ(passwords.size(), a.accounts.size());
  EXPECT_EQ(logins.size(), a.accounts.size());
  EXPECT_EQ(names.size(), a.accounts.size());

  node::testing::TempDir dir;
  const auto file = dir.path() / "demo-logins.json";
  auto none = demo::LoadDemoSeed(file);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(demo::SaveDemoSeed(file, a));
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = demo::LoadDemoSeed(file);
  ASSERT_TRUE(loaded && loaded->has_value());
  ASSERT_EQ((*loaded)->accounts.size(), a.accounts.size());
  for (std::size_t i = 0; i < a.accounts.size(); ++i) {
    EXPECT_TRUE((*loaded)->accounts[i].password == a.accounts[i].password);
    EXPECT_TRUE((*loaded)->accounts[i].doctor_login == a.accounts[i].doctor_login);
  }
  ASSERT_TRUE(WriteFileAtomically(file, AsBytes(std::string_view("{\"version\":1}")), 0600));
  auto bad = demo::LoadDemoSeed(file);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), ErrorCode::kDataLoss);
}

TEST_F(DemoSeedTest, SeedsEveryWorkflowThroughTheApiAndSeedingAgainAddsNothing) {
  demo::DemoSeed seed = demo::NewDemoSeed(demo::DemoWards(kCloudlets), random_);
  // The admin (the demo runs `medmesh admin create`; here the same account from the service).
  const demo::DemoAccount& admin = seed.accounts.front();
  ASSERT_TRUE(admin.role == Role::kAdmin);
  ASSERT_TRUE(
      cloud_->accounts().service().CreateAdmin({admin.login, admin.password}, admin.display_name));

  // Before any device data, the accounts: every approved patient learns their patient id.
  const demo::SeedContext context = Context();
  Status accounts = demo::SeedAccounts(context, seed);
  ASSERT_TRUE(accounts) << accounts.error().ToString();
  // Each approved account logged in (concurrently) once, the admin also for its first calls.
  std::size_t approved = 0;
  for (const demo::DemoAccount& a : seed.accounts) approved += a.approved ? 1 : 0;
  const double checks_after_accounts = PasswordChecks();
  EXPECT_EQ(checks_after_accounts, static_cast<double>(approved + 1));
  ASSERT_NO_FATAL_FAILURE(RunDevices(seed));
  Status workflows = demo::SeedWorkflows(context, seed);
  ASSERT_TRUE(workflows) << workflows.error().ToString();
  // The workflows use the sessions of the accounts step: no login, no Argon2id work, again.
  EXPECT_EQ(PasswordChecks(), checks_after_accounts);

  const Snapshot first = Look(seed);
  EXPECT_EQ(first.pending_registrations, 2u);  // the pending patient and doctor
  EXPECT_EQ(first.activations, 12u);
  EXPECT_EQ(first.approved_activations, 12u);
  EXPECT_EQ(first.consents, 11u);  // all but the last patient
  EXPECT_EQ(first.revoked_consents, 1u);
  EXPECT_EQ(first.patient_answers, 10u);       // all but the one waiting; the revoked one too
  EXPECT_EQ(first.patient_prescriptions, 9u);  // one answer is advice only
  EXPECT_EQ(first.doctor_prescriptions, 9u);
  EXPECT_EQ(first.inbox_grants, 10u);  // the revoked grant left its doctor's inbox
  EXPECT_EQ(first.unanswered_grants, 1u);
  EXPECT_EQ(first.counted_answers, 10u);
  EXPECT_EQ(first.counted_prescriptions, 9u);
  EXPECT_EQ(first.chart_doctors, 1u);

  // A restart of an interrupted seeding: the same plan from its file, run again.
  const auto file = dir_.path() / "demo-logins.json";
  ASSERT_TRUE(demo::SaveDemoSeed(file, seed));
  auto reloaded = demo::LoadDemoSeed(file);
  ASSERT_TRUE(reloaded && reloaded->has_value());
  demo::DemoSeed again = std::move(**reloaded);
  accounts = demo::SeedAccounts(context, again);
  ASSERT_TRUE(accounts) << accounts.error().ToString();
  workflows = demo::SeedWorkflows(context, again);
  ASSERT_TRUE(workflows) << workflows.error().ToString();
  EXPECT_TRUE(Look(again) == first);
}

}  // namespace
}  // namespace medmesh
