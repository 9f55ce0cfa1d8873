// Sharing across cloudlets (issue 10; cloudlet/share_federation.h, docs/trust_system.md "Sharing
// across cloudlets"), three cloudlets in one process over loopback HTTP: each is a real
// TrustService over a real TrustStore (SQLite, encrypted), with its own root-issued node identity
// and the node-signed share channel; C is a lying peer whose answers are not signed by its node
// key. A patient of A finds similar patients at its partner B (never at a peer that is not a
// partner), messages one, asks for their vitals summary; B's owner decides; the data comes back
// signed by B and verified at A, each verification a "shared_data" peer event. C's answer does
// not verify: A refuses it with an IDS event, C's trust drops and it stops being a partner.
// Patient sessions are replaced by a header naming the caller, as in trust_service_test.cc.
// Output names no patient id.
#include "cloudlet/share_federation.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "cloudlet/share_forget.h"
#include "cloudlet/trust_service.h"
#include "crypto/envelope.h"
#include "crypto/keyed_hash.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "node/test_support.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

namespace medmesh::cloudlet {
namespace {

using nlohmann::json;

class NullAudit final : public audit::AuditSink {
 public:
  Status Append(const audit::AuditEntry& entry) override {
    std::lock_guard lock(mu_);
    entries_.push_back(entry);
    return OkStatus();
  }
  bool Has(std::string_view event, std::string_view detail_part) const {
    std::lock_guard lock(mu_);
    for (const audit::AuditEntry& e : entries_) {
      if (e.event == event && e.detail.find(detail_part) != std::string::npos) return true;
    }
    return false;
  }
  std::vector<audit::AuditEntry> Entries() const {
    std::lock_guard lock(mu_);
    return entries_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<audit::AuditEntry> entries_;
};

std::vector<wire::Reading> Pulse(std::int64_t now_ms, std::int64_t bpm) {
  std::vector<wire::Reading> out;
  for (int i = 0; i < 10; ++i) {
    out.push_back({now_ms - (i + 1) * 60'000, wire::VitalKind::kHeartRate, (bpm + i % 3) * 1000});
    out.push_back({now_ms - (i + 1) * 60'000, wire::VitalKind::kSpO2, 96'000});
  }
  return out;
}

// One cloudlet: its identity, trust store and service, the share channel, an HTTP server.
struct Node {
  std::string id;
  std::optional<node::NodeIdentity> identity;
  std::unique_ptr<crypto::Signer> signer;
  crypto::InMemoryWrappedKeyStore keys;
  std::unique_ptr<crypto::EnvelopeAead> envelope;
  std::unique_ptr<TrustStore> store;
  NullAudit audit;
  std::unique_ptr<net::HttpClient> client;
  std::unique_ptr<ShareClient> share;
  std::unique_ptr<TrustService> service;
  std::unique_ptr<net::HttpServer> server;
  Bytes certificate;
  std::vector<SharePeer> peers;  // configured, set before the first question
  std::mutex peers_mu;
  std::map<std::string, std::vector<wire::Reading>> readings;
  std::atomic<int> ids_events{0};
  std::atomic<int> forged_ids_events{0};
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server->port()); }
};

class ShareFederationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"cloudlet-a", "cloudlet-b", "cloudlet-c"}) {
      nodes_[id] = Start(id);
      ASSERT_NE(nodes_[id], nullptr);
    }
    a_ = nodes_["cloudlet-a"].get();
    b_ = nodes_["cloudlet-b"].get();
    c_ = nodes_["cloudlet-c"].get();
    // Everyone is configured with everyone; C lies: its answers are signed with a key that is
    // not its certificate's.
    for (Node* n : {a_, b_, c_}) {
      std::lock_guard lock(n->peers_mu);
      for (Node* m : {a_, b_, c_}) {
        if (m != n) n->peers.push_back({m->id, m->url()});
      }
    }
  }

  void TearDown() override {
    for (auto& [id, n] : nodes_) {
      if (n && n->server) n->server->Stop(std::chrono::milliseconds(1000));
    }
  }

  std::unique_ptr<Node> Start(const std::string& id) {
    auto n = std::make_unique<Node>();
    n->id = id;
    auto identity = deployment_.Identity(wire::CertificateRole::kCloudlet, id);
    EXPECT_TRUE(identity) << identity.error().ToString();
    if (!identity) return nullptr;
    n->identity.emplace(std::move(*identity));
    // The lying peer signs with a key of its own making, not its certified node key.
    n->signer =
        crypto::NewEd25519Signer(id == "cloudlet-c" ? crypto::SigningSecretKey::Generate(random_)
                                                    : n->identity->signing_key.Clone());
    n->envelope = std::make_unique<crypto::EnvelopeAead>(
        crypto::KeyEncryptionKey::Generate(random_), n->keys, random_);
    auto store =
        TrustStore::Open((dir_.path() / (id + ".db")).string(), *n->envelope, clock_, random_);
    EXPECT_TRUE(store) << store.error().ToString();
    if (!store) return nullptr;
    n->store = std::move(*store);
    n->client = net::HttpClient::Create({}).value();
    const Bytes certificate(n->identity->certificate.encoded().begin(),
                            n->identity->certificate.encoded().end());
    n->share = std::make_unique<ShareClient>(
        ShareIdentity{id, n->identity->root.key, certificate, *n->signer}, *n->client, clock_,
        random_);
    Node* self = n.get();
    TrustContext context{
        .cloudlet_id = id,
        .store = *n->store,
        .audit = n->audit,
        .clock = clock_,
        .identify = [](const net::Request& r) -> Result<ConsoleCaller> {
          const std::string auth(r.Header("Authorization").value_or(""));
          ConsoleCaller who;
          if (auth == "Bearer operator") {
            who.own_operator = true;
            who.role = "operator";
          } else if (auth.starts_with("Bearer patient:")) {
            who.patient_id = auth.substr(15);
            who.account_id = "acc-" + who.patient_id;
            who.role = "patient";
          } else {
            return Unauthenticated("missing or wrong operator token or session");
          }
          return who;
        },
        .known_patient = [id](std::string_view p) { return p.starts_with(id + "-pat"); },
        .readings = [self](std::string_view p, std::int64_t) -> Result<std::vector<wire::Reading>> {
          const auto it = self->readings.find(std::string(p));
          return it == self->readings.end() ? std::vector<wire::Reading>{} : it->second;
        },
        .records = [](std::string_view) -> Result<std::vector<SharedRecord>> {
          return std::vector<SharedRecord>{};
        },
        .cloud_link = [] { return std::string("up"); },
        .relay_state = {},
        .record_ids =
            [self](store::IdsEventKind kind, const net::Request&, std::string) {
              ++self->ids_events;
              if (kind == store::IdsEventKind::kForgedSignature) ++self->forged_ids_events;
            },
        .share = n->share.get(),
        .share_peers =
            [self] {
              std::lock_guard lock(self->peers_mu);
              return self->peers;
            }};
    n->service = std::make_unique<TrustService>(std::move(context));
    n->certificate = certificate;
    if (!Serve(*n)) return nullptr;
    return n;
  }

  // Starts (or restarts, on a new port) the node's HTTP server: its trust and share routes.
  bool Serve(Node& node) {
    Node* self = &node;
    const std::string& id = node.id;
    net::Router router;
    node.service->AddRoutes(router);
    AddShareRoutes(
        router, {.identity = {id, node.identity->root.key, node.certificate, *node.signer},
                 .is_peer =
                     [self](std::string_view origin) {
                       std::lock_guard lock(self->peers_mu);
                       for (const SharePeer& p : self->peers) {
                         if (p.id == origin) return true;
                       }
                       return false;
                     },
                 .handler =
                     [self](std::string_view origin, std::string_view kind, const std::string& body,
                            const net::Request& r) {
                       return self->service->AnswerPeer(origin, kind, body, r);
                     },
                 .clock = clock_,
                 .random = random_,
                 .record_ids =
                     [self](store::IdsEventKind kind, const net::Request&, std::string) {
                       ++self->ids_events;
                       if (kind == store::IdsEventKind::kForgedSignature) {
                         ++self->forged_ids_events;
                       }
                     }});
    net::ServerOptions options;
    options.name = id;
    options.io_threads = 2;
    options.access_log = false;
    auto server = net::HttpServer::Start(std::move(options), std::move(router));
    EXPECT_TRUE(server) << server.error().ToString();
    if (!server) return false;
    node.server = std::move(*server);
    return true;
  }

  net::Response Call(Node& n, net::Method method, const std::string& path, const std::string& who,
                     const json& body = nullptr) {
    net::ClientRequest request;
    request.method = method;
    request.url = n.url() + path;
    if (!who.empty()) request.headers.emplace_back("Authorization", "Bearer " + who);
    if (!body.is_null()) {
      request.body = body.dump();
      request.content_type = "application/json";
    }
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }
  static json Body(const net::Response& r) { return json::parse(r.body, nullptr, false); }

  // Opts a patient of `n` in; returns their handle.
  // Ada at A and Ben at B opted in, each cloudlet the other's partner; their handles.
  std::pair<std::string, std::string> AdaAndBenAtPartners();

  std::string OptIn(Node& n, const std::string& patient, const std::vector<std::string>& conditions,
                    std::int64_t bpm) {
    n.readings[patient] = Pulse(wire::NowMs(clock_), bpm);
    const net::Response r = Call(
        n, net::Method::kPut, "/api/v1/trust/profile", "patient:" + patient,
        {{"opted_in", true},
         {"conditions", conditions},
         {"symptoms", {"palpitations"}},
         {"consent", {{"vitals_summary", true}, {"diagnoses", false}, {"full_records", false}}}});
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r).value("handle", "");
  }

  // `of` trusts peer `peer` this much: `good` confirmed forwards (the operator's route).
  void PeerEvents(Node& of, const std::string& peer, int good) {
    for (int i = 0; i < good; ++i) {
      const net::Response r =
          Call(of, net::Method::kPost, "/api/v1/trust/peers/" + peer + "/events", "operator",
               {{"kind", "forward"}, {"good", true}});
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }

  json PeerOf(Node& of, const std::string& peer) {
    const json peers = Body(Call(of, net::Method::kGet, "/api/v1/trust/peers", "operator"));
    for (const json& p : peers["peers"]) {
      if (p["peer_id"] == peer) return p;
    }
    return nullptr;
  }

  static std::vector<json> From(const json& similar, const std::string& cloudlet) {
    std::vector<json> out;
    for (const json& p : similar["patients"]) {
      if (p["cloudlet"] == cloudlet) out.push_back(p);
    }
    return out;
  }

  testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  SystemClock clock_;
  SystemRandom random_;
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  Node* a_ = nullptr;
  Node* b_ = nullptr;
  Node* c_ = nullptr;
};

constexpr char kAda[] = "cloudlet-a-pat-ada";
constexpr char kBen[] = "cloudlet-b-pat-ben";
constexpr char kCy[] = "cloudlet-b-pat-cy";
constexpr char kDee[] = "cloudlet-c-pat-dee";

std::pair<std::string, std::string> ShareFederationTest::AdaAndBenAtPartners() {
  std::pair<std::string, std::string> handles{OptIn(*a_, kAda, {"I48.0", "I10"}, 88),
                                              OptIn(*b_, kBen, {"I48", "I10"}, 90)};
  PeerEvents(*a_, "cloudlet-b", 3);
  PeerEvents(*b_, "cloudlet-a", 3);
  return handles;
}

TEST_F(ShareFederationTest, OnlyPartnersAreAskedAndTheirPatientsComeBackVerified) {
  OptIn(*a_, kAda, {"I48.0", "I10"}, 88);
  const std::string ben = OptIn(*b_, kBen, {"I48", "E11"}, 90);
  OptIn(*b_, kCy, {"J45"}, 62);
  OptIn(*c_, kDee, {"I48"}, 88);

  // No peer is a partner yet: nobody is asked.
  json similar =
      Body(Call(*a_, net::Method::kGet, "/api/v1/trust/similar", std::string("patient:") + kAda));
  EXPECT_TRUE(similar["cloudlets"].empty()) << similar.dump();
  EXPECT_TRUE(PeerOf(*a_, "cloudlet-b").is_null());

  // B becomes a partner (confirmed forwards); C has no evidence and is not asked.
  PeerEvents(*a_, "cloudlet-b", 3);
  ASSERT_TRUE(PeerOf(*a_, "cloudlet-b")["partner"].get<bool>());
  similar =
      Body(Call(*a_, net::Method::kGet, "/api/v1/trust/similar", std::string("patient:") + kAda));
  ASSERT_EQ(similar["cloudlets"].size(), 1u) << similar.dump();
  EXPECT_EQ(similar["cloudlets"][0]["cloudlet_id"], "cloudlet-b");
  EXPECT_TRUE(similar["cloudlets"][0]["answered"].get<bool>());
  const std::vector<json> remote = From(similar, "cloudlet-b");
  ASSERT_EQ(remote.size(), 2u) << similar.dump();
  // Most similar first: Ben shares I48 (category level) and a close pulse.
  EXPECT_EQ(remote[0]["handle"], ben);
  EXPECT_EQ(remote[0]["address"], ben + "@cloudlet-b");
  EXPECT_GT(remote[0]["similarity"].get<double>(), remote[1]["similarity"].get<double>());
  ASSERT_EQ(remote[0]["shared_conditions"].size(), 1u);
  EXPECT_EQ(remote[0]["shared_conditions"][0]["code"], "I48");
  EXPECT_TRUE(From(similar, "cloudlet-c").empty());
  // Nothing but categories crossed: B's explanation names no subcode, no symptom.
  for (const json& e : remote[0]["explanation"]) {
    EXPECT_NE(e["kind"], "symptom");
    EXPECT_EQ(e["term"].get<std::string>().find('.'), std::string::npos) << e.dump();
  }
  // The verified answer is one good "shared data" event for B.
  const json b_at_a = PeerOf(*a_, "cloudlet-b");
  EXPECT_EQ(b_at_a["good"].get<int>(), 4);
  EXPECT_EQ(a_->forged_ids_events.load(), 0);
}

TEST_F(ShareFederationTest, MessagesAndAGrantedRequestCrossAndTheOwnersCloudletDecides) {
  const std::string ada = OptIn(*a_, kAda, {"I48.0", "I10"}, 88);
  const std::string ben = OptIn(*b_, kBen, {"I48", "I10"}, 90);
  PeerEvents(*a_, "cloudlet-b", 3);
  PeerEvents(*b_, "cloudlet-a", 3);
  const std::string ben_address = ben + "@cloudlet-b";
  const std::string ada_address = ada + "@cloudlet-a";

  // Ada messages Ben: B stores it for Ben, from Ada's address; Ben answers her.
  net::Response r = Call(*a_, net::Method::kPost, "/api/v1/trust/messages",
                         std::string("patient:") + kAda, {{"to", ben_address}, {"text", "hello"}});
  ASSERT_EQ(r.status, 201) << r.body;
  json inbox =
      Body(Call(*b_, net::Method::kGet, "/api/v1/trust/messages", std::string("patient:") + kBen));
  ASSERT_EQ(inbox["messages"].size(), 1u) << inbox.dump();
  EXPECT_EQ(inbox["messages"][0]["with"], ada_address);
  EXPECT_EQ(inbox["messages"][0]["text"], "hello");
  EXPECT_TRUE(b_->audit.Has("trust.message.receive", "from " + ada_address));
  r = Call(*b_, net::Method::kPost, "/api/v1/trust/messages", std::string("patient:") + kBen,
           {{"to", ada_address}, {"text", "hi back"}});
  ASSERT_EQ(r.status, 201) << r.body;
  json ada_box =
      Body(Call(*a_, net::Method::kGet, "/api/v1/trust/messages", std::string("patient:") + kAda));
  ASSERT_EQ(ada_box["messages"].size(), 2u) << ada_box.dump();
  // Ben rates his exchanges with Ada, so B's model trusts her (her cloudlet is B's partner).
  for (const json& m : inbox["messages"]) {
    ASSERT_EQ(Call(*b_, net::Method::kPost, "/api/v1/trust/ratings", std::string("patient:") + kBen,
                   {{"interaction_id", m["interaction_id"]}, {"positive", true}})
                  .status,
              201);
  }
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(Call(*a_, net::Method::kPost, "/api/v1/trust/messages",
                   std::string("patient:") + kAda, {{"to", ben_address}, {"text", "news"}})
                  .status,
              201);
  }
  inbox =
      Body(Call(*b_, net::Method::kGet, "/api/v1/trust/messages", std::string("patient:") + kBen));
  for (const json& m : inbox["messages"]) {
    if (m["rated"].get<bool>()) continue;
    ASSERT_EQ(Call(*b_, net::Method::kPost, "/api/v1/trust/ratings", std::string("patient:") + kBen,
                   {{"interaction_id", m["interaction_id"]}, {"positive", true}})
                  .status,
              201);
  }

  // Ada asks for Ben's vitals summary: the request lives at B, Ben sees the assessment.
  r = Call(*a_, net::Method::kPost, "/api/v1/trust/requests", std::string("patient:") + kAda,
           {{"handle", ben_address}, {"category", "vitals_summary"}});
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string request_at_a = Body(r)["request_id"];
  json at_b =
      Body(Call(*b_, net::Method::kGet, "/api/v1/trust/requests", std::string("patient:") + kBen));
  ASSERT_EQ(at_b["incoming"].size(), 1u) << at_b.dump();
  EXPECT_EQ(at_b["incoming"][0]["with"], ada_address);
  const std::string request_at_b = at_b["incoming"][0]["request_id"];
  // Not granted yet: the data route says so, signed by B.
  r = Call(*a_, net::Method::kGet, "/api/v1/trust/requests/" + request_at_a + "/data",
           std::string("patient:") + kAda);
  EXPECT_EQ(r.status, 409) << r.body;

  r = Call(*b_, net::Method::kPost, "/api/v1/trust/requests/" + request_at_b + "/answer",
           std::string("patient:") + kBen, {{"grant", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json decision = Body(r)["decision"];
  ASSERT_EQ(Body(r)["status"], "granted") << decision.dump();
  EXPECT_TRUE(b_->audit.Has("trust.request.answer", "granted vitals_summary"));

  // A sees the owner's decision, and the data: B's signed answer, verified at A.
  json at_a =
      Body(Call(*a_, net::Method::kGet, "/api/v1/trust/requests", std::string("patient:") + kAda));
  ASSERT_EQ(at_a["outgoing"].size(), 1u);
  EXPECT_EQ(at_a["outgoing"][0]["status"], "granted") << at_a.dump();
  const int good_before = PeerOf(*a_, "cloudlet-b")["good"].get<int>();
  r = Call(*a_, net::Method::kGet, "/api/v1/trust/requests/" + request_at_a + "/data",
           std::string("patient:") + kAda);
  ASSERT_EQ(r.status, 200) << r.body;
  const json data = Body(r);
  EXPECT_TRUE(data["verified"].get<bool>());
  EXPECT_EQ(data["cloudlet"], "cloudlet-b");
  ASSERT_FALSE(data["vitals"].empty());
  EXPECT_EQ(data["vitals"][0]["kind"], "heart_rate");
  EXPECT_EQ(PeerOf(*a_, "cloudlet-b")["good"].get<int>(), good_before + 1);
  EXPECT_TRUE(b_->audit.Has("trust.data.read", "vitals_summary shared with " + ada_address));

  // Ben withdraws his consent: B refuses at once, and A shows B's refusal.
  ASSERT_EQ(Call(*b_, net::Method::kPut, "/api/v1/trust/profile", std::string("patient:") + kBen,
                 {{"opted_in", true},
                  {"conditions", {"I48", "I10"}},
                  {"consent",
                   {{"vitals_summary", false}, {"diagnoses", false}, {"full_records", false}}}})
                .status,
            200);
  r = Call(*a_, net::Method::kGet, "/api/v1/trust/requests/" + request_at_a + "/data",
           std::string("patient:") + kAda);
  EXPECT_EQ(r.status, 409) << r.body;
}

TEST_F(ShareFederationTest, ALyingPeerIsRefusedLosesTrustAndStopsBeingAPartner) {
  OptIn(*a_, kAda, {"I48.0"}, 88);
  OptIn(*c_, kDee, {"I48"}, 88);
  PeerEvents(*a_, "cloudlet-c", 3);
  ASSERT_TRUE(PeerOf(*a_, "cloudlet-c")["partner"].get<bool>());
  const double trust_before = PeerOf(*a_, "cloudlet-c")["trust"].get<double>();

  // C answers, but its answer is not signed by its certified key: A shows nothing of it.
  json similar =
      Body(Call(*a_, net::Method::kGet, "/api/v1/trust/similar", std::string("patient:") + kAda));
  ASSERT_EQ(similar["cloudlets"].size(), 1u) << similar.dump();
  EXPECT_FALSE(similar["cloudlets"][0]["answered"].get<bool>());
  EXPECT_TRUE(From(similar, "cloudlet-c").empty());
  EXPECT_EQ(a_->forged_ids_events.load(), 1);
  const json c_at_a = PeerOf(*a_, "cloudlet-c");
  EXPECT_EQ(c_at_a["bad"].get<int>(), 1);
  EXPECT_LT(c_at_a["trust"].get<double>(), trust_before);
  EXPECT_FALSE(c_at_a["partner"].get<bool>()) << c_at_a.dump();

  // No longer a partner: C is not asked again, and nothing can be sent to its patients.
  similar =
      Body(Call(*a_, net::Method::kGet, "/api/v1/trust/similar", std::string("patient:") + kAda));
  EXPECT_TRUE(similar["cloudlets"].empty()) << similar.dump();
  const net::Response r =
      Call(*a_, net::Method::kPost, "/api/v1/trust/messages", std::string("patient:") + kAda,
           {{"to", "heron-0000@cloudlet-c"}, {"text", "hello"}});
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(PeerOf(*a_, "cloudlet-c")["bad"].get<int>(), 1);
}

TEST_F(ShareFederationTest, QuestionsThatAreForgedReplayedOrFromStrangersAreRefused) {
  // A question signed by a key that is not the certified one: 401 and an IDS event at B.
  const Bytes certificate(a_->identity->certificate.encoded().begin(),
                          a_->identity->certificate.encoded().end());
  const auto forger = crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(random_));
  ShareMessage question{"cloudlet-a",
                        "cloudlet-b",
                        "similar",
                        wire::NowMs(clock_),
                        std::string(32, 'a'),
                        "",
                        R"({"conditions":["I48"],"vitals":[]})"};
  const auto post = [&](const Bytes& envelope, const std::string& kind) {
    auto r = client_->Post(b_->url() + "/api/v1/share/" + kind, std::string(AsStringView(envelope)),
                           "application/octet-stream");
    EXPECT_TRUE(r);
    return r ? r->status : 0;
  };
  EXPECT_EQ(post(SignShareMessage(question, *forger, certificate).value(), "similar"), 401);
  EXPECT_EQ(b_->forged_ids_events.load(), 1);

  // Properly signed: answered once; the same envelope again is a replay (401).
  const Bytes good = SignShareMessage(question, *a_->signer, certificate).value();
  EXPECT_EQ(post(good, "similar"), 200);
  EXPECT_EQ(post(good, "similar"), 401);
  EXPECT_EQ(b_->forged_ids_events.load(), 2);
  // Signed for another kind than the path's, or for another cloudlet: 401.
  question.nonce = std::string(32, 'b');
  EXPECT_EQ(post(SignShareMessage(question, *a_->signer, certificate).value(), "message"), 401);
  question.audience = "cloudlet-c";
  EXPECT_EQ(post(SignShareMessage(question, *a_->signer, certificate).value(), "similar"), 401);
  // Not an envelope at all, or an unknown kind: 400.
  EXPECT_EQ(post(Bytes{1, 2, 3}, "similar"), 400);
  EXPECT_EQ(post(good, "everything"), 400);
  // A cloudlet B is not configured with: 403.
  {
    std::lock_guard lock(b_->peers_mu);
    b_->peers.clear();
  }
  question.audience = "cloudlet-b";
  question.nonce = std::string(32, 'c');
  EXPECT_EQ(post(SignShareMessage(question, *a_->signer, certificate).value(), "similar"), 403);
  EXPECT_GE(b_->ids_events.load(), 7);
}

// Cells of every table of a node's trust store that hold `needle` (read straight from the file,
// beside the store's own connection).
int RowsHolding(const std::filesystem::path& db, const std::string& needle) {
  SQLite::Database sqlite(db.string(), SQLite::OPEN_READONLY);
  std::vector<std::string> tables;
  SQLite::Statement list(sqlite, "SELECT name FROM sqlite_master WHERE type = 'table'");
  while (list.executeStep()) tables.push_back(list.getColumn(0).getString());
  int found = 0;
  for (const std::string& table : tables) {
    SQLite::Statement rows(sqlite, "SELECT * FROM \"" + table + "\"");
    while (rows.executeStep()) {
      for (int i = 0; i < rows.getColumnCount(); ++i) {
        if (rows.getColumn(i).isText() &&
            rows.getColumn(i).getString().find(needle) != std::string::npos) {
          ++found;
        }
      }
    }
  }
  return found;
}

// The id under which a cloudlet keeps a remote requester's query profile (trust_service.cc).
std::string QueryProfileIdOf(const std::string& address) {
  const crypto::Digest256 digest = crypto::Blake2b256(AsBytes(address));
  return "rq." + HexEncode(ByteView(digest.data(), digest.size())).substr(0, 40);
}

TEST_F(ShareFederationTest, ADeletedPatientIsForgottenAtAPartnerThatWasDownAcrossARestart) {
  const auto [ada, ben] = AdaAndBenAtPartners();
  const std::string ben_address = ben + "@cloudlet-b";
  const std::string ada_address = ada + "@cloudlet-a";
  const std::string ada_at_b = std::string("patient:") + kBen;

  // Messages both ways, a rating, requests both ways (one granted and read).
  ASSERT_EQ(Call(*a_, net::Method::kPost, "/api/v1/trust/messages", std::string("patient:") + kAda,
                 {{"to", ben_address}, {"text", "hello"}})
                .status,
            201);
  ASSERT_EQ(Call(*b_, net::Method::kPost, "/api/v1/trust/messages", ada_at_b,
                 {{"to", ada_address}, {"text", "hi back"}})
                .status,
            201);
  json inbox = Body(Call(*b_, net::Method::kGet, "/api/v1/trust/messages", ada_at_b));
  ASSERT_EQ(inbox["messages"].size(), 2u) << inbox.dump();
  ASSERT_EQ(Call(*b_, net::Method::kPost, "/api/v1/trust/ratings", ada_at_b,
                 {{"interaction_id", inbox["messages"][1]["interaction_id"]}, {"positive", true}})
                .status,
            201);
  net::Response r =
      Call(*a_, net::Method::kPost, "/api/v1/trust/requests", std::string("patient:") + kAda,
           {{"handle", ben_address}, {"category", "vitals_summary"}});
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_EQ(Call(*b_, net::Method::kPost, "/api/v1/trust/requests", ada_at_b,
                 {{"handle", ada_address}, {"category", "vitals_summary"}})
                .status,
            201);
  json at_b = Body(Call(*b_, net::Method::kGet, "/api/v1/trust/requests", ada_at_b));
  ASSERT_EQ(at_b["incoming"].size(), 1u) << at_b.dump();
  ASSERT_EQ(at_b["outgoing"].size(), 1u) << at_b.dump();
  const std::filesystem::path b_db = dir_.path() / "cloudlet-b.db";
  const std::string query_profile = QueryProfileIdOf(ada_address);
  ASSERT_GT(RowsHolding(b_db, ada), 5);
  ASSERT_EQ(RowsHolding(b_db, query_profile), 1);

  // B goes down. Ada's account is deleted at A: the forget is queued (once, however often the
  // deletion repeats), then her sharing data goes; B cannot be told yet.
  b_->server->Stop(std::chrono::milliseconds(1000));
  testing::FakeClock outbox_clock;
  const std::filesystem::path outbox = dir_.path() / "cloudlet-a-share-outbox.db";
  auto forget = ShareForgetter::Open(outbox.string(), *a_->store, outbox_clock, random_);
  ASSERT_TRUE(forget) << forget.error().ToString();
  ASSERT_EQ((*forget)->Enqueue(kAda).value(), 1u);
  ASSERT_EQ((*forget)->Enqueue(kAda).value(), 1u);
  ASSERT_TRUE(a_->store->DeletePatient(kAda));
  EXPECT_EQ(a_->store->HandleOf(kAda).value(), "");
  const auto peers_of_a = [&] {
    std::lock_guard lock(a_->peers_mu);
    return a_->peers;
  };
  ForgetRound round = (*forget)->DeliverDue(*a_->share, peers_of_a()).value();
  EXPECT_EQ(round.delivered, 0u);
  EXPECT_EQ(round.failed, 1u);
  EXPECT_EQ((*forget)->Stats().value().count, 1u);

  // A restarts (the outbox is reopened from its file) and B comes back on a new address.
  forget->reset();
  forget = ShareForgetter::Open(outbox.string(), *a_->store, outbox_clock, random_);
  ASSERT_TRUE(forget) << forget.error().ToString();
  EXPECT_EQ((*forget)->Stats().value().count, 1u);
  ASSERT_TRUE(Serve(*b_));
  {
    std::lock_guard lock(a_->peers_mu);
    for (SharePeer& p : a_->peers) {
      if (p.id == "cloudlet-b") p.url = b_->url();
    }
  }
  // Not before its backoff; then delivered, and gone from the outbox.
  EXPECT_EQ((*forget)->DeliverDue(*a_->share, peers_of_a()).value().delivered, 0u);
  outbox_clock.Advance(std::chrono::hours(1));
  round = (*forget)->DeliverDue(*a_->share, peers_of_a()).value();
  EXPECT_EQ(round.delivered, 1u);
  EXPECT_EQ((*forget)->Stats().value().count, 0u);

  // B keeps nothing about Ada's handle: no message (either direction, Ben's copies too), no
  // request either way, no interaction or rating, no query profile, no data key.
  EXPECT_EQ(RowsHolding(b_db, ada), 0);
  EXPECT_EQ(RowsHolding(b_db, query_profile), 0);
  auto key = b_->envelope->OpenDataKey({ada_address, std::string(kTrustKeyPart)});
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code(), ErrorCode::kNotFound);
  // Ben's pages list none of it.
  inbox = Body(Call(*b_, net::Method::kGet, "/api/v1/trust/messages", ada_at_b));
  EXPECT_TRUE(inbox["messages"].empty()) << inbox.dump();
  at_b = Body(Call(*b_, net::Method::kGet, "/api/v1/trust/requests", ada_at_b));
  EXPECT_TRUE(at_b["incoming"].empty()) << at_b.dump();
  EXPECT_TRUE(at_b["outgoing"].empty()) << at_b.dump();
  // Audited at B under a pseudonym: the entry names neither the handle nor the address.
  bool audited = false;
  for (const audit::AuditEntry& e : b_->audit.Entries()) {
    if (e.event != "trust.party.forget") continue;
    audited = true;
    EXPECT_EQ(e.entity_id, query_profile);
    EXPECT_EQ(e.detail.find(ada), std::string::npos) << e.detail;
    EXPECT_EQ(e.entity_id.find(ada), std::string::npos);
  }
  EXPECT_TRUE(audited);
  // A's store keeps nothing of Ada's exchanges with B either.
  EXPECT_EQ(RowsHolding(dir_.path() / "cloudlet-a.db", ben), 0);

  // Idempotent: the same forget again is answered 200 and removes nothing.
  const ShareClient::Outcome again =
      a_->share->Ask({"cloudlet-b", b_->url()}, "forget", json{{"handle", ada}}.dump());
  ASSERT_TRUE(again.answer) << again.detail;
  EXPECT_EQ(again.answer->status, 200);
  EXPECT_EQ(json::parse(again.answer->body)["rows"], 0);
  // B still works with A for its other patients.
  EXPECT_EQ(Call(*b_, net::Method::kGet, "/api/v1/trust/similar", ada_at_b).status, 200);
}

TEST_F(ShareFederationTest, EnvelopesRoundTripAndRefuseTampering) {
  const Bytes certificate(b_->identity->certificate.encoded().begin(),
                          b_->identity->certificate.encoded().end());
  const ShareMessage m{"cloudlet-b",
                       "cloudlet-a",
                       "answer",
                       1'700'000'000'000,
                       std::string(32, 'f'),
                       std::string(64, '0'),
                       R"({"status":200,"body":{}})"};
  Bytes envelope = SignShareMessage(m, *b_->signer, certificate).value();
  auto opened = OpenShareMessage(envelope, b_->identity->root.key, wire::NowMs(clock_));
  ASSERT_TRUE(opened) << opened.error().ToString();
  EXPECT_EQ(opened->message.body, m.body);
  EXPECT_EQ(opened->message.reply_to, m.reply_to);
  envelope[envelope.size() - 80] ^= 1;  // inside the message: the signature fails
  auto tampered = OpenShareMessage(envelope, b_->identity->root.key, wire::NowMs(clock_));
  ASSERT_FALSE(tampered);
  // Another cloudlet's certificate with B's message: the origin is not the subject.
  const Bytes other(a_->identity->certificate.encoded().begin(),
                    a_->identity->certificate.encoded().end());
  auto wrong = OpenShareMessage(SignShareMessage(m, *b_->signer, other).value(),
                                b_->identity->root.key, wire::NowMs(clock_));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kUnauthenticated);
  // Bad fields are refused before signing.
  ShareMessage bad = m;
  bad.kind = "everything";
  EXPECT_FALSE(SignShareMessage(bad, *b_->signer, certificate));
  bad = m;
  bad.reply_to = "";
  EXPECT_FALSE(SignShareMessage(bad, *b_->signer, certificate));
}

}  // namespace
}  // namespace medmesh::cloudlet
