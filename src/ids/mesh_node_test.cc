// The IDS mesh between in-process nodes over real HTTP (mesh_node.h): a detection on one node
// is adopted on another only with a second origin; a mesh-wide revoke; a peer that is down gets
// its reports when it is back, also after the sender restarts; the report route's refusals
// (malformed, forged, not a peer, replay); a lying peer loses its influence; a silent peer
// delays only its own reports; a report whose decision ended is not sent.
#include "ids/mesh_node.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ids/enforcer.h"
#include "net/http_server.h"
#include "node/test_support.h"
#include "testing/wait.h"
#include "wire/model.h"

namespace medmesh::ids {
namespace {

using Json = nlohmann::json;
using ::medmesh::testing::WaitUntil;
using node::testing::TempDir;
using node::testing::TestDeployment;

constexpr std::string_view kAttacker = "203.0.113.7";

struct TestNode {
  std::string id;
  TempDir dir;
  std::optional<node::NodeIdentity> identity;
  std::unique_ptr<crypto::Signer> signer;
  std::unique_ptr<store::IdsEventLog> events;
  std::unique_ptr<DecisionTable> table;
  std::unique_ptr<DetectionEngine> engine;
  std::unique_ptr<Enforcer> enforcer;
  std::unique_ptr<MeshNode> mesh;
  std::unique_ptr<net::HttpServer> server;
  std::uint16_t port = 0;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

class MeshNodeTest : public ::testing::Test {
 protected:
  MeshNodeTest() : deployment_(root_dir_.path()) {
    auto client = net::HttpClient::Create({});
    EXPECT_TRUE(client);
    client_ = std::move(*client);
  }

  MeshOptions Options(const std::string& self, const std::vector<std::string>& all) {
    MeshOptions o;
    for (const std::string& id : all) {
      if (id != self) o.peers.push_back({id, "http://127.0.0.1:1", false});
    }
    o.initial_backoff = std::chrono::milliseconds(10);
    o.max_backoff = std::chrono::milliseconds(50);
    o.poll_interval = std::chrono::milliseconds(20);
    o.connect_timeout = std::chrono::milliseconds(2000);
    return o;
  }

  // Opens a node's stores and mesh (from its folder: a second call is a restart).
  void Open(TestNode& n, MeshOptions options) {
    n.mesh.reset();
    n.engine.reset();
    n.table.reset();
    n.events.reset();
    if (!n.identity) {
      auto id = deployment_.Identity(wire::CertificateRole::kCloudlet, n.id);
      ASSERT_TRUE(id) << id.error().ToString();
      n.identity.emplace(std::move(*id));
      n.signer = crypto::NewEd25519Signer(n.identity->signing_key.Clone());
    }
    auto events = store::IdsEventLog::Open((n.dir.path() / "ids.db").string());
    ASSERT_TRUE(events);
    n.events = std::move(*events);
    auto table =
        DecisionTable::Open((n.dir.path() / "decisions.db").string(), n.id, clock_, random_);
    ASSERT_TRUE(table);
    n.table = std::move(*table);
    n.engine = std::make_unique<DetectionEngine>(*n.table, DefaultDetectors());
    n.events->SetObserver(n.engine->EventObserver());
    n.enforcer = std::make_unique<Enforcer>(*n.table, clock_);
    auto mesh = MeshNode::Open(
        {n.id, n.identity->root.key,
         Bytes(n.identity->certificate.encoded().begin(), n.identity->certificate.encoded().end()),
         *n.signer, *n.table, *n.engine, *n.events, clock_, random_, n.dir.path()},
        std::move(options));
    ASSERT_TRUE(mesh) << mesh.error().ToString();
    n.mesh = std::move(*mesh);
  }

  void Serve(TestNode& n, std::uint16_t port = 0) {
    net::Router router;
    AddMeshRoutes(router, *n.mesh, [](const net::Request&) { return std::nullopt; });
    net::ServerOptions options;
    options.port = port;
    options.observer = ServerObserverFor(*n.engine, *n.events, n.id, clock_);
    auto server =
        net::HttpServer::Start(std::move(options), std::move(router), {n.enforcer->AsFilter()});
    ASSERT_TRUE(server) << server.error().ToString();
    n.server = std::move(*server);
    n.port = n.server->port();
  }

  // Three cloudlets, each the others' peer, all serving.
  void Mesh3() {
    const std::vector<std::string> ids = {"cloudlet-1", "cloudlet-2", "cloudlet-3"};
    for (int i = 0; i < 3; ++i) {
      nodes_[i].id = ids[i];
      Open(nodes_[i], Options(ids[i], ids));
      Serve(nodes_[i]);
    }
    for (auto& n : nodes_) {
      for (auto& other : nodes_) {
        if (&n != &other) {
          ASSERT_TRUE(n.mesh->SetPeerUrl(other.id, other.url()));
        }
      }
    }
  }

  // Six forged batches from `source`: the device_batches detector blocks it on `n`.
  void Attack(TestNode& n, std::string_view source) {
    for (int i = 0; i < 6; ++i) {
      store::IdsEvent e;
      e.time_ms = wire::NowMs(clock_);
      e.node = n.id;
      e.source_ip = std::string(source);
      e.kind = store::IdsEventKind::kForgedSignature;
      ASSERT_TRUE(n.events->Record(e));
    }
  }

  // `n`'s view of its peer `id` (GET /api/v1/ids/peers' row); empty if not a peer.
  static MeshPeerStatus PeerOf(TestNode& n, std::string_view id) {
    for (const MeshPeerStatus& p : n.mesh->Peers()) {
      if (p.address.id == id) return p;
    }
    return MeshPeerStatus{};
  }

  static std::optional<ReceivedReport> LastFrom(TestNode& n, std::string_view origin) {
    for (const ReceivedReport& r : n.mesh->Recent(100)) {
      if (r.origin == origin) return r;
    }
    return std::nullopt;
  }

  net::Response PostReport(TestNode& to, ByteView envelope) {
    auto r = client_->Post(to.url() + "/api/v1/ids/mesh/reports",
                           std::string(AsStringView(envelope)), "application/octet-stream");
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  Bytes SignedBy(TestNode& origin_node, MeshReport report) {
    auto e =
        SignMeshReport(report, *origin_node.signer, origin_node.identity->certificate.encoded());
    EXPECT_TRUE(e);
    return e ? *e : Bytes{};
  }

  Decision BlockOf(std::string origin, std::string ip, std::string id) {
    Decision d;
    d.id = std::move(id);
    d.origin = std::move(origin);
    d.detector = "credentials";
    d.detector_version = 1;
    d.scope = {ScopeKind::kIp, std::move(ip)};
    d.action = Action::kBlock;
    d.created_ms = wire::NowMs(clock_);
    d.expires_ms = d.created_ms + 600'000;
    d.reason = "test";
    return d;
  }

  TempDir root_dir_;
  TestDeployment deployment_;
  SystemClock clock_;
  SystemRandom random_;
  std::unique_ptr<net::HttpClient> client_;
  TestNode nodes_[3];
};

TEST_F(MeshNodeTest, OneDetectionIsAnAlertElsewhereTwoAreAdoptedAndARevokeIsMeshWide) {
  Mesh3();
  TestNode &a = nodes_[0], &b = nodes_[1], &c = nodes_[2];
  Attack(a, kAttacker);
  ASSERT_TRUE(a.table->Match(kAttacker));
  ASSERT_TRUE(a.mesh->RunOnce());
  ASSERT_TRUE(LastFrom(c, "cloudlet-1"));
  EXPECT_EQ(LastFrom(c, "cloudlet-1")->verdict, FusionVerdict::kAlertOnly);
  EXPECT_FALSE(c.table->Match(kAttacker)) << "one peer alone imposed a block";
  EXPECT_FALSE(b.table->Match(kAttacker));

  // A second origin detects the same source: the third node adopts it.
  Attack(b, kAttacker);
  ASSERT_TRUE(b.mesh->RunOnce());
  ASSERT_TRUE(LastFrom(c, "cloudlet-2"));
  EXPECT_EQ(LastFrom(c, "cloudlet-2")->verdict, FusionVerdict::kAdopted);
  auto adopted = c.table->Match(kAttacker);
  ASSERT_TRUE(adopted);
  EXPECT_EQ(adopted->action, Action::kBlock);
  EXPECT_NE(adopted->origin, "cloudlet-3");
  // Enforced on c's HTTP layer: the attacker's address is 203.0.113.7, not loopback, so check
  // the enforcer's answer through the table it reads (a loopback client cannot pose as it).
  // a's own detection was confirmed by b's report (and vice versa): trust grew.
  const auto peers_of_a = a.mesh->Peers();
  const auto b_at_a =
      std::find_if(peers_of_a.begin(), peers_of_a.end(),
                   [](const MeshPeerStatus& p) { return p.address.id == "cloudlet-2"; });
  ASSERT_NE(b_at_a, peers_of_a.end());
  EXPECT_EQ(b_at_a->record.confirmed, 1u);
  EXPECT_GT(b_at_a->record.trust, 0.75);
  EXPECT_EQ(b_at_a->outbox_depth, 0u);
  EXPECT_EQ(b_at_a->reachable, std::optional<bool>(true));

  // a's operator revokes a's decision: the revocation reaches c, whose support falls to one
  // origin, and c's adopted copy ends.
  const auto own = a.table->Match(kAttacker);
  ASSERT_TRUE(own);
  ASSERT_TRUE(a.table->Revoke(own->id));
  ASSERT_TRUE(a.mesh->RunOnce());
  ASSERT_TRUE(LastFrom(c, "cloudlet-1"));
  EXPECT_EQ(LastFrom(c, "cloudlet-1")->kind, MeshReportKind::kRevocation);
  EXPECT_FALSE(c.table->Match(kAttacker)) << "the adopted copy outlived its support";
  // b keeps its own decision: only a's operator spoke.
  EXPECT_TRUE(b.table->Match(kAttacker));
}

TEST_F(MeshNodeTest, AllowlistHereWinsOverTheMesh) {
  Mesh3();
  TestNode &a = nodes_[0], &b = nodes_[1], &c = nodes_[2];
  auto scope = NormalizeScope(ScopeKind::kIp, kAttacker);
  ASSERT_TRUE(scope);
  ASSERT_TRUE(c.table->Allow(*scope, "our gateway"));
  Attack(a, kAttacker);
  Attack(b, kAttacker);
  ASSERT_TRUE(a.mesh->RunOnce());
  ASSERT_TRUE(b.mesh->RunOnce());
  EXPECT_FALSE(c.table->Match(kAttacker));
  ASSERT_TRUE(LastFrom(c, "cloudlet-2"));
  EXPECT_EQ(LastFrom(c, "cloudlet-2")->verdict, FusionVerdict::kDropped);
}

TEST_F(MeshNodeTest, APeerThatIsDownGetsItsReportsWhenBackAlsoAfterTheSenderRestarts) {
  Mesh3();
  TestNode &a = nodes_[0], &b = nodes_[1];
  const std::uint16_t b_port = b.port;
  b.server->Stop(std::chrono::milliseconds(100));
  b.server.reset();
  Attack(a, kAttacker);
  ASSERT_TRUE(a.mesh->RunOnce());
  auto at_b = [&] { return PeerOf(a, "cloudlet-2"); };
  EXPECT_EQ(at_b().outbox_depth, 1u);
  EXPECT_EQ(at_b().reachable, std::optional<bool>(false));

  // The sender restarts (its outbox is on disk), then b comes back on its old port.
  const std::vector<std::string> ids = {"cloudlet-1", "cloudlet-2", "cloudlet-3"};
  Open(a, Options("cloudlet-1", ids));
  ASSERT_TRUE(a.mesh->SetPeerUrl("cloudlet-2", "http://127.0.0.1:" + std::to_string(b_port)));
  ASSERT_TRUE(a.mesh->SetPeerUrl("cloudlet-3", nodes_[2].url()));
  EXPECT_EQ(at_b().outbox_depth, 1u);
  Serve(b, b_port);
  a.mesh->Start();
  ASSERT_TRUE(WaitUntil([&] { return LastFrom(b, "cloudlet-1").has_value(); }));
  EXPECT_EQ(LastFrom(b, "cloudlet-1")->kind, MeshReportKind::kDecision);
  ASSERT_TRUE(WaitUntil([&] { return at_b().outbox_depth == 0; }));
  a.mesh->Stop();
}

TEST_F(MeshNodeTest, APeerThatAcceptsButNeverAnswersDelaysOnlyItsOwnReports) {
  // "cloudlet-9" listens but never accepts: the handshake completes in the kernel's backlog
  // and a request waits for its answer until request_timeout (a minute here). It is listed
  // first, so one sender draining the outboxes in turn would hold b's report for that minute.
  const int silent = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(silent, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(::listen(silent, 16), 0);
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string silent_url = "http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));

  const std::vector<std::string> ids = {"cloudlet-9", "cloudlet-1", "cloudlet-2"};
  TestNode &a = nodes_[0], &b = nodes_[1];
  a.id = "cloudlet-1";
  b.id = "cloudlet-2";
  MeshOptions options = Options(a.id, ids);
  options.request_timeout = std::chrono::minutes(1);
  Open(a, std::move(options));
  Open(b, Options(b.id, ids));
  Serve(b);
  ASSERT_TRUE(a.mesh->SetPeerUrl("cloudlet-9", silent_url));
  ASSERT_TRUE(a.mesh->SetPeerUrl("cloudlet-2", b.url()));
  a.mesh->Start();
  Attack(a, kAttacker);
  // Well within the silent peer's request timeout (one sender would wait it out first).
  EXPECT_TRUE(
      WaitUntil([&] { return LastFrom(b, "cloudlet-1").has_value(); }, std::chrono::seconds(10)))
      << "the silent peer held the others' reports";
  const auto silent_peer = [&] { return PeerOf(a, "cloudlet-9"); };
  EXPECT_EQ(silent_peer().outbox_depth, 1u);
  EXPECT_EQ(silent_peer().delivered, 0);
  // Closing the listener resets the waiting request, so Stop() need not wait out the minute.
  ::close(silent);
  a.mesh->Stop();
}

TEST_F(MeshNodeTest, AReportWhoseDecisionEndedIsSettledWithoutBeingSent) {
  Mesh3();
  TestNode &a = nodes_[0], &b = nodes_[1];
  const std::uint16_t b_port = b.port;
  b.server->Stop(std::chrono::milliseconds(100));
  b.server.reset();
  Decision ended = BlockOf("cloudlet-1", "198.51.100.20", std::string(32, 'e'));
  ended.expires_ms = ended.created_ms - 1;
  Decision in_force = BlockOf("cloudlet-1", "198.51.100.21", std::string(32, 'f'));
  // The one in force first: the ended one is settled even behind a report that failed.
  ASSERT_TRUE(a.mesh->Publish(MeshReportKind::kDecision, in_force));
  ASSERT_TRUE(a.mesh->Publish(MeshReportKind::kDecision, ended));
  ASSERT_TRUE(a.mesh->RunOnce());
  auto at_b = [&] { return PeerOf(a, "cloudlet-2"); };
  // b is down: the ended decision leaves the outbox unsent, the one in force waits for b.
  EXPECT_EQ(at_b().outbox_depth, 1u);
  EXPECT_EQ(at_b().expired, 1);
  EXPECT_EQ(at_b().reachable, std::optional<bool>(false));
  Serve(b, b_port);
  ASSERT_TRUE(WaitUntil([&] {
    (void)a.mesh->RunOnce();
    return at_b().outbox_depth == 0;
  }));
  EXPECT_EQ(at_b().delivered, 1);
  std::vector<std::string> seen;
  for (const ReceivedReport& r : b.mesh->Recent(100)) {
    if (r.origin == "cloudlet-1" && r.decision) seen.push_back(r.decision->scope.value);
  }
  EXPECT_EQ(seen, std::vector<std::string>{"198.51.100.21"});
}

TEST_F(MeshNodeTest, TheReportRouteRefusesMalformedForgedForeignAndReplayedReports) {
  Mesh3();
  TestNode &a = nodes_[0], &b = nodes_[1];
  MeshReport report;
  report.origin = "cloudlet-1";
  report.sequence = 1'000'000'000'000;
  report.sent_ms = wire::NowMs(clock_);
  report.decision = BlockOf("cloudlet-1", "198.51.100.4", std::string(32, 'a'));
  const Bytes good = SignedBy(a, report);

  EXPECT_EQ(PostReport(b, AsBytes(std::string_view("not a report"))).status, 400);
  Bytes forged = good;
  forged.back() ^= 1;  // the signature
  EXPECT_EQ(PostReport(b, forged).status, 401);
  EXPECT_EQ(PostReport(b, good).status, 202);
  EXPECT_EQ(PostReport(b, good).status, 409);  // the same sequence again
  report.sequence += 1;
  report.sent_ms -= 10 * 60 * 1000;  // older than max_report_age
  EXPECT_EQ(PostReport(b, SignedBy(a, report)).status, 409);

  // A node certified by the same root but not b's peer.
  TestNode stranger;
  stranger.id = "cloudlet-9";
  auto id = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-9");
  ASSERT_TRUE(id);
  stranger.identity.emplace(std::move(*id));
  stranger.signer = crypto::NewEd25519Signer(stranger.identity->signing_key.Clone());
  MeshReport foreign = report;
  foreign.origin = "cloudlet-9";
  foreign.sent_ms = wire::NowMs(clock_);
  foreign.decision.origin = "cloudlet-9";
  EXPECT_EQ(PostReport(b, SignedBy(stranger, foreign)).status, 403);

  // Each refusal is an IDS event at b.
  for (auto kind : {store::IdsEventKind::kMalformed, store::IdsEventKind::kForgedSignature,
                    store::IdsEventKind::kReplay, store::IdsEventKind::kBadCertificate}) {
    store::IdsEventFilter filter;
    filter.kind = kind;
    auto count = b.events->Count(filter);
    ASSERT_TRUE(count);
    EXPECT_GE(*count, 1u) << store::IdsEventKindName(kind);
  }
}

TEST_F(MeshNodeTest, ALyingPeerIsRefutedByBenignTrafficAndCannotTipABlock) {
  const std::vector<std::string> ids = {"cloudlet-1", "cloudlet-2", "cloudlet-3"};
  for (int i = 0; i < 3; ++i) {
    nodes_[i].id = ids[i];
    MeshOptions o = Options(ids[i], ids);
    o.fusion.confirm_window_ms = 300;
    Open(nodes_[i], std::move(o));
    Serve(nodes_[i]);
  }
  TestNode &honest = nodes_[0], &b = nodes_[1], &liar = nodes_[2];
  // The liar (a real cloudlet identity, as the red-team tool would use) names an innocent.
  MeshReport lie;
  lie.origin = "cloudlet-3";
  lie.sequence = 10;
  lie.sent_ms = wire::NowMs(clock_);
  lie.decision = BlockOf("cloudlet-3", "192.0.2.50", std::string(32, 'b'));
  ASSERT_EQ(PostReport(b, SignedBy(liar, lie)).status, 202);
  // The innocent uses b normally (answered requests), and b's detectors see nothing wrong.
  b.engine->Observe(Observation::Response(wire::NowMs(clock_), "192.0.2.50", 200, "/api/v1/x"));
  const std::int64_t started = wire::NowMs(clock_);
  auto liar_at_b = [&] {
    for (const MeshPeerStatus& p : b.mesh->Peers()) {
      if (p.address.id == "cloudlet-3") return p.record;
    }
    return PeerRecord{};
  };
  ASSERT_TRUE(WaitUntil([&] {
    (void)b.mesh->RunOnce();
    return liar_at_b().refuted == 1;
  }));
  EXPECT_EQ(liar_at_b().weight, 0.0);
  // Now the liar and an honest peer name the same innocent: the liar weighs nothing.
  lie.sequence = 11;
  lie.sent_ms = wire::NowMs(clock_);
  lie.decision = BlockOf("cloudlet-3", "192.0.2.51", std::string(32, 'c'));
  ASSERT_EQ(PostReport(b, SignedBy(liar, lie)).status, 202);
  MeshReport mistaken;
  mistaken.origin = "cloudlet-1";
  mistaken.sequence = 10;
  mistaken.sent_ms = wire::NowMs(clock_);
  mistaken.decision = BlockOf("cloudlet-1", "192.0.2.51", std::string(32, 'd'));
  ASSERT_EQ(PostReport(b, SignedBy(honest, mistaken)).status, 202);
  EXPECT_FALSE(b.table->Match("192.0.2.50"));
  EXPECT_FALSE(b.table->Match("192.0.2.51"));
  std::printf(
      "[ lying peer ] refuted and without influence %lld ms after its first lie"
      " (confirm window 300 ms)\n",
      static_cast<long long>(wire::NowMs(clock_) - started));

  // The route's JSON shapes.
  auto peers = client_->Get(b.url() + "/api/v1/ids/peers");
  ASSERT_TRUE(peers);
  const Json p = Json::parse(peers->body);
  ASSERT_EQ(p["peers"].size(), 2u);
  for (const char* member :
       {"id", "url", "cloud", "trust", "weight", "confirmed", "refuted", "reports",
        "last_report_ms", "outbox_depth", "reachable", "last_attempt_ms", "delivered", "expired"}) {
    EXPECT_TRUE(p["peers"][0].contains(member)) << member;
  }
  auto mesh = client_->Get(b.url() + "/api/v1/ids/mesh?limit=10");
  ASSERT_TRUE(mesh);
  const Json m = Json::parse(mesh->body);
  ASSERT_EQ(m["reports"].size(), 3u);
  EXPECT_EQ(m["reports"][0]["verdict"], "alert_only");
  EXPECT_EQ(m["reports"][0]["decision"]["scope"]["value"], "192.0.2.51");
  EXPECT_EQ(client_->Get(b.url() + "/api/v1/ids/mesh?limit=0")->status, 400);
}

}  // namespace
}  // namespace medmesh::ids
