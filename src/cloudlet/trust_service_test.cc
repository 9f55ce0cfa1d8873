// TrustService (trust_service.h) over loopback HTTP: a real TrustStore (SQLite, encrypted under
// an EnvelopeAead) and the real trust library behind the routes; the cloudlet's authenticators
// are replaced by a header naming the caller ("Bearer patient:<id>", "Bearer operator",
// "Bearer doctor"), the readings and records by maps. Sessions and every role against every
// route over a real cloud and cloudlets: tests/authz_matrix_test.cc. Output names no patient id.
#include "cloudlet/trust_service.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "crypto/envelope.h"
#include "crypto/hybrid_seal.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"
#include "wire/grant_assertion.h"

namespace medmesh::cloudlet {
namespace {

using nlohmann::json;

class RecordingAudit final : public audit::AuditSink {
 public:
  Status Append(const audit::AuditEntry& entry) override {
    std::lock_guard lock(mu_);
    entries_.push_back(entry);
    return OkStatus();
  }
  std::vector<audit::AuditEntry> entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<audit::AuditEntry> entries_;
};

constexpr char kAda[] = "pat-ada";
constexpr char kBen[] = "pat-ben";
constexpr char kCy[] = "pat-cy";
constexpr char kStranger[] = "pat-elsewhere";  // approved, but no device at this cloudlet

std::vector<wire::Reading> Pulse(std::int64_t now_ms, std::int64_t bpm) {
  std::vector<wire::Reading> out;
  for (int i = 0; i < 10; ++i) {
    out.push_back({now_ms - (i + 1) * 60'000, wire::VitalKind::kHeartRate, (bpm + i % 3) * 1000});
    out.push_back({now_ms - (i + 1) * 60'000, wire::VitalKind::kSpO2, 96'000});
  }
  return out;
}

class TrustServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    envelope_ = std::make_unique<crypto::EnvelopeAead>(crypto::KeyEncryptionKey::Generate(random_),
                                                       keys_, random_);
    auto opened =
        TrustStore::Open((dir_.path() / "trust.db").string(), *envelope_, clock_, random_);
    ASSERT_TRUE(opened) << opened.error().ToString();
    store_ = std::move(*opened);
    const std::int64_t now = wire::NowMs(clock_);
    readings_[kAda] = Pulse(now, 88);
    readings_[kBen] = Pulse(now, 90);
    readings_[kCy] = Pulse(now, 62);
    records_[kBen] = {{"rec-1", now - 1000, {"palpitations"}, 92, "atrial fibrillation"}};
    TrustContext context{
        .cloudlet_id = "cloudlet-1",
        .store = *store_,
        .audit = audit_,
        .clock = clock_,
        .identify = [](const net::Request& r) -> Result<ConsoleCaller> {
          const std::string auth(r.Header("Authorization").value_or(""));
          ConsoleCaller who;
          if (auth == "Bearer operator") {
            who.own_operator = true;
            who.role = "operator";
          } else if (auth == "Bearer doctor") {
            who.role = "doctor";
            who.account_id = "acc-doctor";
          } else if (auth.starts_with("Bearer patient:")) {
            who.patient_id = auth.substr(15);
            who.account_id = "acc-" + who.patient_id;
            who.role = "patient";
          } else {
            return Unauthenticated("missing or wrong operator token or session");
          }
          return who;
        },
        .known_patient = [](std::string_view id) { return id != kStranger; },
        .readings = [this](std::string_view id,
                           std::int64_t) -> Result<std::vector<wire::Reading>> {
          const auto it = readings_.find(std::string(id));
          return it == readings_.end() ? std::vector<wire::Reading>{} : it->second;
        },
        .records = [this](std::string_view id) -> Result<std::vector<SharedRecord>> {
          const auto it = records_.find(std::string(id));
          return it == records_.end() ? std::vector<SharedRecord>{} : it->second;
        },
        .cloud_link = [] { return std::string("down"); },
        .relay_state =
            [this] {
              std::lock_guard lock(relay_mu_);
              return relay_state_;
            },
        .record_ids = [this](store::IdsEventKind, const net::Request&,
                             std::string) { ++ids_events_; },
        // Sharing inside this cloudlet only (share_federation_test.cc shares across).
        .share = nullptr,
        .share_peers = {},
        .root = &root_public_};
    service_ = std::make_unique<TrustService>(std::move(context));
    net::Router router;
    service_->AddRoutes(router);
    net::ServerOptions options;
    options.name = "trust-test";
    options.io_threads = 2;
    auto server = net::HttpServer::Start(std::move(options), std::move(router));
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    auto client = net::HttpClient::Create({});
    ASSERT_TRUE(client) << client.error().ToString();
    client_ = std::move(*client);
  }

  void TearDown() override {
    if (server_) server_->Stop(std::chrono::milliseconds(1000));
  }

  net::Response Call(net::Method method, const std::string& path, const std::string& who,
                     const json& body = nullptr) {
    net::ClientRequest request;
    request.method = method;
    request.url = "http://127.0.0.1:" + std::to_string(server_->port()) + path;
    if (!who.empty()) request.headers.emplace_back("Authorization", "Bearer " + who);
    if (!body.is_null()) {
      request.body = body.dump();
      request.content_type = "application/json";
    }
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }
  static std::string As(const char* patient) { return std::string("patient:") + patient; }
  static json Body(const net::Response& r) { return json::parse(r.body, nullptr, false); }

  // Opts `patient` in with these conditions and consent; returns the handle.
  std::string OptIn(const char* patient, const std::vector<std::string>& conditions,
                    json consent = {
                        {"vitals_summary", true}, {"diagnoses", false}, {"full_records", false}}) {
    const net::Response r = Call(net::Method::kPut, "/api/v1/trust/profile", As(patient),
                                 {{"opted_in", true},
                                  {"conditions", conditions},
                                  {"symptoms", {"Palpitations ", "tired"}},
                                  {"consent", consent}});
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r).value("handle", "");
  }

  // `from` sends a message to `to_handle`: the interaction id.
  std::string Message(const char* from, const std::string& to_handle, const std::string& text) {
    const net::Response r = Call(net::Method::kPost, "/api/v1/trust/messages", As(from),
                                 {{"to", to_handle}, {"text", text}});
    EXPECT_EQ(r.status, 201) << r.body;
    return Body(r).value("interaction_id", "");
  }

  std::string Request(const char* from, const std::string& handle, const std::string& category) {
    const net::Response r = Call(net::Method::kPost, "/api/v1/trust/requests", As(from),
                                 {{"handle", handle}, {"category", category}});
    EXPECT_EQ(r.status, 201) << r.body;
    return Body(r).value("request_id", "");
  }

  // Ben has rated `n` message interactions with Ada positively: Ben's direct trust in Ada.
  void BenTrustsAda(const std::string& ben_handle, int n) {
    for (int i = 0; i < n; ++i) {
      const std::string ix = Message(kAda, ben_handle, "hello " + std::to_string(i));
      const net::Response r = Call(net::Method::kPost, "/api/v1/trust/ratings", As(kBen),
                                   {{"interaction_id", ix}, {"positive", true}});
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }

  // A certificate of `role` for `subject` from the test root, valid a year either side of now.
  Bytes CertificateOf(wire::CertificateRole role, const std::string& subject,
                      const crypto::SigningSecretKey& key) {
    const std::int64_t now = wire::NowMs(clock_);
    return wire::IssueCertificate({.role = role,
                                   .subject_id = subject,
                                   .signing_key = key.public_key(),
                                   .kem_key = kem_key_.public_key(),
                                   .not_before_ms = now - 365LL * 24 * 3600 * 1000,
                                   .not_after_ms = now + 365LL * 24 * 3600 * 1000},
                                  *crypto::NewEd25519Signer(root_key_.Clone()))
        .value();
  }
  // The cloud's grant assertion (wire/grant_assertion.h), hex, as its attestation relay attaches
  // it: for this cloudlet, the test doctor and `patient`, issued now; `change` alters it first.
  std::string Assertion(const std::string& patient,
                        const std::function<void(wire::GrantAssertion&)>& change = {},
                        const crypto::SigningSecretKey* key = nullptr,
                        wire::CertificateRole role = wire::CertificateRole::kCloud) {
    const std::int64_t now = wire::NowMs(clock_);
    wire::GrantAssertion a{"cloud",
                           "cloudlet-1",
                           "acc-doctor",
                           patient,
                           now,
                           now + wire::kMaxGrantAssertionLifetimeMs,
                           HexEncode(key_random_.Generate(16))};
    if (change) change(a);
    const crypto::SigningSecretKey& signing = key ? *key : cloud_key_;
    return HexEncode(wire::SignGrantAssertion(a, *crypto::NewEd25519Signer(signing.Clone()),
                                              CertificateOf(role, a.cloud_id, signing))
                         .value());
  }

  bool Audited(std::string_view event, std::string_view detail_part) const {
    for (const audit::AuditEntry& e : audit_.entries()) {
      if (e.event == event && e.detail.find(detail_part) != std::string::npos) return true;
    }
    return false;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{7};
  // The deployment's root and the cloud's node key (grant assertions); their own randomness, so
  // the rest of the test draws what it drew before.
  testing::DeterministicRandom key_random_{0x600d};
  crypto::SigningSecretKey root_key_ = crypto::SigningSecretKey::Generate(key_random_);
  crypto::SigningPublicKey root_public_ = root_key_.public_key();
  crypto::SigningSecretKey cloud_key_ = crypto::SigningSecretKey::Generate(key_random_);
  crypto::HybridPrivateKey kem_key_ = crypto::HybridPrivateKey::Generate(key_random_);
  crypto::InMemoryWrappedKeyStore keys_;
  std::unique_ptr<crypto::EnvelopeAead> envelope_;
  std::unique_ptr<TrustStore> store_;
  RecordingAudit audit_;
  std::map<std::string, std::vector<wire::Reading>> readings_;
  std::map<std::string, std::vector<SharedRecord>> records_;
  std::atomic<int> ids_events_{0};
  std::mutex relay_mu_;
  RelayState relay_state_;  // guarded by relay_mu_
  std::unique_ptr<TrustService> service_;
  std::unique_ptr<net::HttpServer> server_;
  std::unique_ptr<net::HttpClient> client_;
};

TEST_F(TrustServiceTest, OnlyPatientsOfThisCloudletShareAndOnlyOperatorsSeePeers) {
  EXPECT_EQ(Call(net::Method::kGet, "/api/v1/trust/profile", "").status, 401);
  EXPECT_EQ(Call(net::Method::kGet, "/api/v1/trust/profile", "doctor").status, 403);
  EXPECT_EQ(Call(net::Method::kGet, "/api/v1/trust/profile", "operator").status, 403);
  EXPECT_EQ(Call(net::Method::kGet, "/api/v1/trust/profile", As(kStranger)).status, 403);
  EXPECT_EQ(Call(net::Method::kGet, "/api/v1/trust/profile", As(kAda)).status, 200);
  EXPECT_EQ(Call(net::Method::kGet, "/api/v1/trust/peers", As(kAda)).status, 403);
  EXPECT_EQ(Call(net::Method::kGet, "/api/v1/trust/peers", "operator").status, 200);
}

// The store's file outlives the process: a cloudlet restarted on its data folder opens it again
// (a version check of an older part once refused every reopened file), and a file of version 1
// (before the share-recipients table) gains the table.
TEST_F(TrustServiceTest, TheStoreReopensItsFileAndMovesAVersionOneFileForward) {
  auto again = TrustStore::Open((dir_.path() / "trust.db").string(), *envelope_, clock_, random_);
  ASSERT_TRUE(again) << again.error().ToString();

  const std::string old_file = (dir_.path() / "trust-v1.db").string();
  {
    SQLite::Database db(old_file, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec(
        "CREATE TABLE medmesh_component_schema (component TEXT PRIMARY KEY, version INTEGER NOT "
        "NULL); INSERT INTO medmesh_component_schema VALUES ('cloudlet_trust', 1);");
  }
  auto moved = TrustStore::Open(old_file, *envelope_, clock_, random_);
  ASSERT_TRUE(moved) << moved.error().ToString();
  SQLite::Database db(old_file);
  EXPECT_TRUE(db.tableExists("trust_profiles"));
  EXPECT_TRUE(db.tableExists("trust_share_recipients"));
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = "
                          "'trust_attestation_nonce'")
                .getInt(),
            1);
  EXPECT_EQ(db.execAndGet("SELECT version FROM medmesh_component_schema WHERE component = "
                          "'cloudlet_trust'")
                .getInt(),
            3);
}

TEST_F(TrustServiceTest, AGrantAssertionSettlesOneAttestationAlsoAfterTheStoreIsReopened) {
  ASSERT_TRUE(store_->AddAttestation("acc-doctor", kAda, true, "00ab"));
  const auto again = store_->AddAttestation("acc-doctor", kAda, false, "00ab");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  // A restart: the nonce is on disk, not in the process's memory.
  auto reopened =
      TrustStore::Open((dir_.path() / "trust.db").string(), *envelope_, clock_, random_);
  ASSERT_TRUE(reopened) << reopened.error().ToString();
  const auto replayed = (*reopened)->AddAttestation("acc-doctor", kAda, true, "00ab");
  ASSERT_FALSE(replayed);
  EXPECT_EQ(replayed.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_TRUE((*reopened)->AddAttestation("acc-doctor", kAda, true, "00ac"));
  for (const char* bad : {"", "00AB", "not hex"}) {
    const auto refused = (*reopened)->AddAttestation("acc-doctor", kAda, true, bad);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST_F(TrustServiceTest, ProfileKeepsAHandleThatIsNotTheIdAndIsEncryptedAtRest) {
  const std::string handle = OptIn(kAda, {"I48", "I10"});
  ASSERT_FALSE(handle.empty());
  EXPECT_EQ(handle.find(kAda), std::string::npos);
  const json profile = Body(Call(net::Method::kGet, "/api/v1/trust/profile", As(kAda)));
  EXPECT_EQ(profile["handle"], handle);
  EXPECT_EQ(profile["symptoms"], json({"palpitations", "tired"}));  // normalised
  EXPECT_EQ(profile["conditions"][0]["code"], "I48");
  EXPECT_FALSE(profile["vitals"].empty());  // from the readings held here
  // Saved again: the same handle.
  EXPECT_EQ(OptIn(kAda, {"I48"}), handle);
  // The file holds no condition code or symptom in the clear.
  SQLite::Database db((dir_.path() / "trust.db").string());
  SQLite::Statement q(db, "SELECT sealed FROM trust_profiles");
  ASSERT_TRUE(q.executeStep());
  const std::string sealed = q.getColumn(0).getString();
  EXPECT_EQ(sealed.find("I48"), std::string::npos);
  EXPECT_EQ(sealed.find("palpitations"), std::string::npos);
}

TEST_F(TrustServiceTest, BadProfilesAreRefusedNamingTheField) {
  const auto put = [&](const json& body) {
    return Call(net::Method::kPut, "/api/v1/trust/profile", As(kAda), body);
  };
  EXPECT_EQ(put({{"opted_in", true}, {"conditions", {"X99"}}}).status, 400);
  EXPECT_EQ(put({{"opted_in", true}, {"symptoms", {""}}}).status, 400);
  EXPECT_EQ(put({{"opted_in", true}, {"symptoms", {std::string(81, 'a')}}}).status, 400);
  EXPECT_EQ(put({{"opted_in", true}, {"consent", {{"diagnoses", true}}}}).status, 400);
  EXPECT_EQ(put({{"opted_in", "yes"}}).status, 400);
  EXPECT_EQ(put({{"opted_in", true}, {"patient_id", kBen}}).status, 400);
  const net::Response r = put({{"opted_in", true}, {"conditions", {"X99"}}});
  EXPECT_TRUE(Body(r).value("message", "").starts_with("conditions"));
}

TEST_F(TrustServiceTest, SimilarPatientsAreRankedWithAnExplanationAndNoIds) {
  const std::string ada = OptIn(kAda, {"I48", "I10"});
  const std::string ben = OptIn(kBen, {"I48.0", "I10"});
  const std::string cy = OptIn(kCy, {"J45"});
  const json similar = Body(Call(net::Method::kGet, "/api/v1/trust/similar", As(kAda)));
  ASSERT_EQ(similar["patients"].size(), 2u);
  EXPECT_EQ(similar["patients"][0]["handle"], ben);  // shares I10 and the I48 family
  EXPECT_EQ(similar["patients"][1]["handle"], cy);
  EXPECT_GT(similar["patients"][0]["similarity"].get<double>(),
            similar["patients"][1]["similarity"].get<double>());
  EXPECT_FALSE(similar["patients"][0]["explanation"].empty());
  EXPECT_EQ(similar["patients"][0]["shared_conditions"][0]["code"], "I10");
  EXPECT_EQ(similar.dump().find("pat-"), std::string::npos);
  // A new identity starts at the library's prior, below every sharing threshold.
  EXPECT_LT(similar["patients"][0]["trust"].get<double>(), 0.6);
  // Not opted in: nothing listed, and nobody finds you.
  EXPECT_EQ(OptIn(kCy, {"J45"},
                  json{{"vitals_summary", false}, {"diagnoses", false}, {"full_records", false}}),
            cy);
  ASSERT_EQ(Call(net::Method::kPut, "/api/v1/trust/profile", As(kCy), {{"opted_in", false}}).status,
            200);
  EXPECT_EQ(Body(Call(net::Method::kGet, "/api/v1/trust/similar", As(kAda)))["patients"].size(),
            1u);
  EXPECT_EQ(Body(Call(net::Method::kGet, "/api/v1/trust/similar", As(kCy)))["patients"].size(), 0u);
  const int probes = ids_events_.load();
  EXPECT_EQ(
      Call(net::Method::kPost, "/api/v1/trust/messages", As(kAda), {{"to", cy}, {"text", "hi"}})
          .status,
      404);
  EXPECT_EQ(ids_events_.load(), probes + 1);  // probing handles is an IDS event
  (void)ada;
}

TEST_F(TrustServiceTest, MessagesAreEncryptedAtRestAndEachIsALoggedInteraction) {
  OptIn(kAda, {"I48"});
  const std::string ben = OptIn(kBen, {"I48"});
  const std::string ix = Message(kAda, ben, "does the new beta-blocker tire you too?");
  ASSERT_FALSE(ix.empty());
  const json ben_view = Body(Call(net::Method::kGet, "/api/v1/trust/messages", As(kBen)));
  ASSERT_EQ(ben_view["messages"].size(), 1u);
  EXPECT_EQ(ben_view["messages"][0]["text"], "does the new beta-blocker tire you too?");
  EXPECT_EQ(ben_view["messages"][0]["direction"], "received");
  EXPECT_EQ(ben_view["messages"][0]["interaction_id"], ix);
  SQLite::Database db((dir_.path() / "trust.db").string());
  SQLite::Statement q(db, "SELECT from_copy || to_copy FROM trust_messages");
  ASSERT_TRUE(q.executeStep());
  EXPECT_EQ(q.getColumn(0).getString().find("beta-blocker"), std::string::npos);
  // Bad input.
  EXPECT_EQ(
      Call(net::Method::kPost, "/api/v1/trust/messages", As(kAda), {{"to", ben}, {"text", ""}})
          .status,
      400);
  EXPECT_EQ(Call(net::Method::kPost, "/api/v1/trust/messages", As(kAda),
                 {{"to", ben}, {"text", std::string(4001, 'x')}})
                .status,
            400);
  EXPECT_EQ(
      Call(net::Method::kPost, "/api/v1/trust/messages", As(kCy), {{"to", ben}, {"text", "x"}})
          .status,
      409);  // Cy has not opted in
}

TEST_F(TrustServiceTest, UnbackedRatingsAreRefusedAndForeignIdsLookUnknown) {
  OptIn(kAda, {"I48"});
  const std::string ben = OptIn(kBen, {"I48"});
  OptIn(kCy, {"I48"});
  const std::string ix = Message(kAda, ben, "hi");
  const auto rate = [&](const char* who, const std::string& id) {
    return Call(net::Method::kPost, "/api/v1/trust/ratings", As(who),
                {{"interaction_id", id}, {"positive", true}});
  };
  const int before = ids_events_.load();
  const net::Response foreign = rate(kCy, ix);  // Cy took no part in it
  const net::Response unknown = rate(kCy, "ix-0000000000000000");
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(foreign.body, unknown.body);
  EXPECT_EQ(ids_events_.load(), before + 2);
  EXPECT_EQ(rate(kBen, ix).status, 201);
  EXPECT_EQ(rate(kBen, ix).status, 409);  // once per rater and interaction
  EXPECT_EQ(rate(kAda, ix).status, 201);  // each side may rate
  EXPECT_EQ(rate(kAda, "not an id").status, 400);
  EXPECT_TRUE(Audited("trust.rating.create", "positive"));
}

TEST_F(TrustServiceTest, AGrantNeedsTrustAndNeverExceedsConsentAndItsReasonsAreAudited) {
  OptIn(kAda, {"I48", "I10"});
  const std::string ben = OptIn(kBen, {"I48", "I10"});  // shares vitals only

  // A first request, owner grants, but Ada is new to Ben: trust is below the threshold.
  const std::string early = Request(kAda, ben, "vitals_summary");
  const json incoming = Body(Call(net::Method::kGet, "/api/v1/trust/requests", As(kBen)));
  ASSERT_EQ(incoming["incoming"].size(), 1u);
  EXPECT_FALSE(incoming["incoming"][0]["assessment"]["allowed"].get<bool>());
  net::Response answer = Call(net::Method::kPost, "/api/v1/trust/requests/" + early + "/answer",
                              As(kBen), {{"grant", true}});
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(Body(answer)["status"], "refused");
  EXPECT_TRUE(Audited("trust.request.answer", "refused vitals_summary"));
  EXPECT_EQ(Call(net::Method::kGet, "/api/v1/trust/requests/" + early + "/data", As(kAda)).status,
            409);

  // Ben has rated good exchanges with Ada: now a grant stands.
  BenTrustsAda(ben, 6);
  const std::string vitals = Request(kAda, ben, "vitals_summary");
  answer = Call(net::Method::kPost, "/api/v1/trust/requests/" + vitals + "/answer", As(kBen),
                {{"grant", true}});
  ASSERT_EQ(answer.status, 200) << answer.body;
  const json decision = Body(answer)["decision"];
  EXPECT_EQ(Body(answer)["status"], "granted") << decision.dump();
  EXPECT_GE(decision["trust"].get<double>(), decision["threshold"].get<double>());
  std::set<std::string> kinds;
  for (const json& reason : decision["reasons"]) kinds.insert(reason["kind"].get<std::string>());
  EXPECT_EQ(kinds, (std::set<std::string>{"owner", "approval", "consent", "similarity", "trust"}));
  EXPECT_TRUE(Audited("trust.request.answer", "granted vitals_summary"));
  // Answered once only; the requester cannot answer; a stranger's probe is a 404.
  EXPECT_EQ(Call(net::Method::kPost, "/api/v1/trust/requests/" + vitals + "/answer", As(kBen),
                 {{"grant", false}})
                .status,
            409);
  EXPECT_EQ(Call(net::Method::kPost, "/api/v1/trust/requests/" + vitals + "/answer", As(kAda),
                 {{"grant", true}})
                .status,
            403);
  const net::Response foreign =
      Call(net::Method::kGet, "/api/v1/trust/requests/" + vitals + "/data", As(kCy));
  const net::Response unknown =
      Call(net::Method::kGet, "/api/v1/trust/requests/req-0000000000000000/data", As(kCy));
  EXPECT_EQ(foreign.status, 404);
  EXPECT_EQ(foreign.body, unknown.body);

  // The granted data: the vitals summary only, computed from Ben's readings.
  net::Response data =
      Call(net::Method::kGet, "/api/v1/trust/requests/" + vitals + "/data", As(kAda));
  ASSERT_EQ(data.status, 200) << data.body;
  const json shared = Body(data);
  EXPECT_FALSE(shared["vitals"].empty());
  EXPECT_FALSE(shared.contains("conditions"));
  EXPECT_FALSE(shared.contains("records"));
  EXPECT_EQ(shared["vitals"][0]["kind"], "heart_rate");
  EXPECT_NEAR(shared["vitals"][0]["mean"].get<double>(), 91.0, 1.0);
  EXPECT_TRUE(Audited("trust.data.read", "vitals_summary shared"));

  // Diagnoses are not in Ben's consent: the owner's grant does not stand.
  const std::string diagnoses = Request(kAda, ben, "diagnoses");
  answer = Call(net::Method::kPost, "/api/v1/trust/requests/" + diagnoses + "/answer", As(kBen),
                {{"grant", true}});
  EXPECT_EQ(Body(answer)["status"], "refused");
  bool consent_failed = false;
  const json refused = Body(answer);
  for (const json& reason : refused["decision"]["reasons"]) {
    if (reason["kind"] == "consent") consent_failed = !reason["met"].get<bool>();
  }
  EXPECT_TRUE(consent_failed) << answer.body;
  EXPECT_EQ(
      Call(net::Method::kGet, "/api/v1/trust/requests/" + diagnoses + "/data", As(kAda)).status,
      409);

  // Consent withdrawn after the grant: the data stops at once.
  ASSERT_EQ(Call(net::Method::kPut, "/api/v1/trust/profile", As(kBen),
                 {{"opted_in", true},
                  {"conditions", {"I48", "I10"}},
                  {"consent",
                   {{"vitals_summary", false}, {"diagnoses", false}, {"full_records", false}}}})
                .status,
            200);
  EXPECT_EQ(Call(net::Method::kGet, "/api/v1/trust/requests/" + vitals + "/data", As(kAda)).status,
            409);
}

TEST_F(TrustServiceTest, AClinicianVouchingForAPatientAnchorsTheirTrust) {
  OptIn(kAda, {"I48", "I10"});
  const std::string ben = OptIn(kBen, {"I48", "I10"});
  // As the cloud's relay calls it: with a grant assertion for the doctor and the patient.
  const auto attest = [this](const std::string& who, json body) {
    if (body.contains("patient_id") && body["patient_id"].is_string() &&
        wire::IsValidId(body["patient_id"].get<std::string>())) {
      body["grant_assertion"] = Assertion(body["patient_id"].get<std::string>());
    }
    return Call(net::Method::kPost, "/api/v1/trust/attestations", who, body);
  };
  const json vouch_ada = {{"patient_id", kAda}, {"positive", true}};
  // Only a doctor attests, and only for a patient known here.
  EXPECT_EQ(attest(As(kBen), vouch_ada).status, 403);
  EXPECT_EQ(attest("operator", vouch_ada).status, 403);
  EXPECT_EQ(attest("", vouch_ada).status, 401);
  EXPECT_EQ(attest("doctor", {{"patient_id", kStranger}, {"positive", true}}).status, 404);
  EXPECT_EQ(attest("doctor", {{"patient_id", kAda}}).status, 400);
  EXPECT_EQ(attest("doctor", {{"patient_id", "not an id"}, {"positive", true}}).status, 400);

  // Without a clinician, one good exchange is far from enough: T = (1 + 3 * 0.3) / (1 + 3).
  BenTrustsAda(ben, 1);
  const json before = Body(Call(net::Method::kGet, "/api/v1/trust/similar", As(kBen)));
  ASSERT_EQ(before["patients"].size(), 1u);
  EXPECT_NEAR(before["patients"][0]["trust"].get<double>(), 1.9 / 4, 1e-3);

  const net::Response vouched = attest("doctor", vouch_ada);
  ASSERT_EQ(vouched.status, 201) << vouched.body;
  EXPECT_TRUE(Body(vouched)["positive"].get<bool>());
  bool audited = false;
  for (const audit::AuditEntry& e : audit_.entries()) {
    audited = audited || (e.event == "trust.attestation.create" && e.patient_id == kAda &&
                          e.actor_role == "doctor" && e.detail == "positive");
  }
  EXPECT_TRUE(audited);
  // The attestation is the doctor's rating, not an exchange Ada could rate back.
  EXPECT_EQ(
      Call(net::Method::kPost, "/api/v1/trust/ratings", As(kAda),
           {{"interaction_id", Body(vouched).value("interaction_id", "")}, {"positive", true}})
          .status,
      404);

  // The doctor is a clinician of the model: weight 5, times 0.5 for similarity (a doctor has no
  // sharing profile), so R = (2.5 + 0.6) / (2.5 + 2) = 0.689 (ADR 0056), and with Ben's one good
  // exchange (K' = 3 + 0.25 * 2.5) T = (1 + 3.625 * 3.1 / 4.5) / 4.625 = 0.76 >= 0.65: the grant
  // stands after one exchange instead of six.
  const json after = Body(Call(net::Method::kGet, "/api/v1/trust/similar", As(kBen)));
  EXPECT_NEAR(after["patients"][0]["trust"].get<double>(), (1 + 3.625 * 3.1 / 4.5) / 4.625, 1e-3);
  const std::string vitals = Request(kAda, ben, "vitals_summary");
  const net::Response answer =
      Call(net::Method::kPost, "/api/v1/trust/requests/" + vitals + "/answer", As(kBen),
           {{"grant", true}});
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(Body(answer)["status"], "granted");

  // A doctor's warning counts as much: Cy, vouched against, starts below the base rate.
  const std::string cy = OptIn(kCy, {"I48", "I10"});
  ASSERT_EQ(attest("doctor", {{"patient_id", kCy}, {"positive", false}}).status, 201);
  const json ranked = Body(Call(net::Method::kGet, "/api/v1/trust/similar", As(kBen)));
  int seen = 0;
  for (const json& p : ranked["patients"]) {
    if (p["handle"] != cy) continue;
    ++seen;
    EXPECT_NEAR(p["trust"].get<double>(), 0.6 / 4.5, 1e-3);
  }
  EXPECT_EQ(seen, 1);
}

TEST_F(TrustServiceTest, AnAttestationWithoutTheCloudsGrantAssertionIsRefused) {
  OptIn(kAda, {"I48", "I10"});
  const auto attest = [this](const std::string& assertion) {
    json body{{"patient_id", kAda}, {"positive", true}};
    if (!assertion.empty()) body["grant_assertion"] = assertion;
    return Call(net::Method::kPost, "/api/v1/trust/attestations", "doctor", body).status;
  };
  const int ids_before = ids_events_.load();
  // A doctor calling the cloudlet directly, with no proof of a grant.
  EXPECT_EQ(attest(""), 403);
  EXPECT_EQ(attest("00ff"), 403);
  // Proof for another patient, doctor or cloudlet; expired; not yet valid.
  EXPECT_EQ(attest(Assertion(kBen)), 403);
  EXPECT_EQ(attest(Assertion(kAda, [](auto& a) { a.doctor_account_id = "acc-doctor-2"; })), 403);
  EXPECT_EQ(attest(Assertion(kAda, [](auto& a) { a.audience = "cloudlet-2"; })), 403);
  EXPECT_EQ(attest(Assertion(kAda,
                             [](auto& a) {
                               a.issued_ms -= 10 * 60'000;
                               a.expires_ms -= 10 * 60'000;
                             })),
            403);
  EXPECT_EQ(attest(Assertion(kAda,
                             [](auto& a) {
                               a.issued_ms += 10 * 60'000;
                               a.expires_ms += 10 * 60'000;
                             })),
            403);
  // Signed by a cloudlet (its own certificate), or by a key of no certificate of the root.
  const crypto::SigningSecretKey other = crypto::SigningSecretKey::Generate(key_random_);
  EXPECT_EQ(attest(Assertion(kAda, {}, &other, wire::CertificateRole::kCloudlet)), 403);
  std::string forged = Assertion(kAda);
  forged[forged.size() - 3] = forged[forged.size() - 3] == '0' ? '1' : '0';
  EXPECT_EQ(attest(forged), 403);
  EXPECT_EQ(ids_events_.load(), ids_before + 9);
  EXPECT_FALSE(Audited("trust.attestation.create", ""));

  // The cloud's assertion settles one attestation; the same one again is a replay.
  const std::string good = Assertion(kAda);
  EXPECT_EQ(attest(good), 201);
  EXPECT_EQ(attest(good), 403);
  EXPECT_EQ(ids_events_.load(), ids_before + 10);
}

TEST_F(TrustServiceTest, FullRecordsShareTheMedicalPartOnly) {
  OptIn(kAda, {"I48"});
  const std::string ben =
      OptIn(kBen, {"I48"}, {{"vitals_summary", true}, {"diagnoses", true}, {"full_records", true}});
  BenTrustsAda(ben, 20);
  const std::string id = Request(kAda, ben, "full_records");
  const net::Response answer = Call(net::Method::kPost, "/api/v1/trust/requests/" + id + "/answer",
                                    As(kBen), {{"grant", true}});
  ASSERT_EQ(Body(answer)["status"], "granted") << answer.body;
  const json shared =
      Body(Call(net::Method::kGet, "/api/v1/trust/requests/" + id + "/data", As(kAda)));
  ASSERT_EQ(shared["records"].size(), 1u);
  EXPECT_EQ(shared["records"][0]["pulse_bpm"], 92);
  EXPECT_FALSE(shared.contains("vitals"));
}

TEST_F(TrustServiceTest, PeerCloudletsEarnTrustAndTheBestPartnerIsTheRelay) {
  const auto event = [&](const std::string& peer, const std::string& kind, bool good) {
    return Call(net::Method::kPost, "/api/v1/trust/peers/" + peer + "/events", "operator",
                {{"kind", kind}, {"good", good}});
  };
  for (int i = 0; i < 6; ++i) ASSERT_EQ(event("cloudlet-2", "forward", true).status, 201);
  ASSERT_EQ(event("cloudlet-3", "forward", true).status, 201);
  ASSERT_EQ(event("cloudlet-3", "shared_data", false).status, 201);
  EXPECT_EQ(event("cloudlet-1", "forward", true).status, 400);  // itself
  EXPECT_EQ(event("cloudlet-2", "gossip", true).status, 400);
  EXPECT_EQ(Call(net::Method::kPost, "/api/v1/trust/peers/cloudlet-2/events", As(kAda),
                 {{"kind", "forward"}, {"good", true}})
                .status,
            403);
  const json peers = Body(Call(net::Method::kGet, "/api/v1/trust/peers", "operator"));
  ASSERT_EQ(peers["peers"].size(), 2u);
  EXPECT_EQ(peers["peers"][0]["peer_id"], "cloudlet-2");
  EXPECT_TRUE(peers["peers"][0]["partner"].get<bool>());
  EXPECT_FALSE(peers["peers"][1]["partner"].get<bool>());
  EXPECT_EQ(peers["relay"], "cloudlet-2");
  EXPECT_EQ(peers["cloud_link"], "down");
  auto relay = service_->ChooseRelay();
  ASSERT_TRUE(relay);
  EXPECT_EQ(relay->value_or(""), "cloudlet-2");
  // Old evidence fades (the library's forgetting), and past 90 days it is no longer read.
  clock_.Advance(std::chrono::hours(24 * 91));
  EXPECT_TRUE(Body(Call(net::Method::kGet, "/api/v1/trust/peers", "operator"))["peers"].empty());
  relay = service_->ChooseRelay();
  ASSERT_TRUE(relay);
  EXPECT_FALSE(relay->has_value());
}

// One trust per peer from all three kinds of evidence, shown with the breakdown by kind; the
// forwarder's relaying and its last relay round as it reports them.
TEST_F(TrustServiceTest, PeersShowTheirEvidenceByKindAndTheRelayActuallyUsed) {
  const std::int64_t now = wire::NowMs(clock_);
  ASSERT_TRUE(service_->RecordPeerEvent({"cloudlet-2", "forward", true, now}));
  ASSERT_TRUE(service_->RecordPeerEvent({"cloudlet-2", "forward", true, now}));
  ASSERT_TRUE(service_->RecordPeerEvent({"cloudlet-2", "report", true, now}));
  ASSERT_TRUE(service_->RecordPeerEvent({"cloudlet-2", "report", false, now}));
  ASSERT_TRUE(service_->RecordPeerEvent({"cloudlet-2", "shared_data", true, now}));
  EXPECT_EQ(service_->RecordPeerEvent({"cloudlet-2", "gossip", true, now}).error().code(),
            ErrorCode::kInvalidArgument);

  json peers = Body(Call(net::Method::kGet, "/api/v1/trust/peers", "operator"));
  ASSERT_EQ(peers["peers"].size(), 1u);
  const json& p = peers["peers"][0];
  EXPECT_EQ(p["good"], 4);
  EXPECT_EQ(p["bad"], 1);
  EXPECT_EQ(p["evidence"]["forward"], (json{{"good", 2}, {"bad", 0}}));
  EXPECT_EQ(p["evidence"]["report"], (json{{"good", 1}, {"bad", 1}}));
  EXPECT_EQ(p["evidence"]["shared_data"], (json{{"good", 1}, {"bad", 0}}));
  EXPECT_FALSE(peers["relaying"].get<bool>());
  EXPECT_TRUE(peers["last_relay"].is_null());

  // A refuted report lowers the one trust the relay choice reads.
  const double before = p["trust"].get<double>();
  ASSERT_TRUE(service_->RecordPeerEvent({"cloudlet-2", "report", false, now}));
  peers = Body(Call(net::Method::kGet, "/api/v1/trust/peers", "operator"));
  EXPECT_LT(peers["peers"][0]["trust"].get<double>(), before);

  {
    std::lock_guard lock(relay_mu_);
    relay_state_ = {true, "cloudlet-2", now, 3, 0, "delivered"};
  }
  peers = Body(Call(net::Method::kGet, "/api/v1/trust/peers", "operator"));
  EXPECT_TRUE(peers["relaying"].get<bool>());
  EXPECT_EQ(peers["last_relay"], (json{{"peer_id", "cloudlet-2"},
                                       {"time_ms", now},
                                       {"sent", 3},
                                       {"failed", 0},
                                       {"outcome", "delivered"}}));
}

TEST_F(TrustServiceTest, ShreddingAPatientLeavesTheOtherSidesCopy) {
  OptIn(kAda, {"I48"});
  const std::string ben = OptIn(kBen, {"I48"});
  Message(kAda, ben, "see you at the clinic");
  ASSERT_TRUE(store_->DeletePatient(kAda));
  const json ben_view = Body(Call(net::Method::kGet, "/api/v1/trust/messages", As(kBen)));
  ASSERT_EQ(ben_view["messages"].size(), 1u);
  EXPECT_EQ(ben_view["messages"][0]["text"], "see you at the clinic");
  EXPECT_EQ(Body(Call(net::Method::kGet, "/api/v1/trust/messages", As(kAda)))["messages"].size(),
            0u);
  EXPECT_EQ(Body(Call(net::Method::kGet, "/api/v1/trust/similar", As(kBen)))["patients"].size(),
            0u);
}

}  // namespace
}  // namespace medmesh::cloudlet
