// Enforcement and detection end to end on a real HTTP server over loopback: decisions answered
// before the body is read, detectors fed by the server's observer and the IDS log's, the
// operator routes.
#include "ids/enforcer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ids/detection_engine.h"
#include "ids/ids_api.h"
#include "ids/payload_scoring.h"
#include "net/error_mapping.h"
#include "net/http_server.h"
#include "net/test_support.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace medmesh::ids {
namespace {

using Json = nlohmann::json;
using net::testing::RawConnection;

constexpr std::string_view kToken = "Bearer op";

std::string Get(std::string_view path, bool auth = false) {
  std::string r = "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n";
  if (auth) r += "Authorization: " + std::string(kToken) + "\r\n";
  return r + "\r\n";
}

std::string Post(std::string_view path, std::string_view body) {
  return "POST " + std::string(path) +
         " HTTP/1.1\r\nHost: x\r\nAuthorization: " + std::string(kToken) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

// Scores "union select" in a value as an attack (a stand-in for src/ids/ml's classifier;
// payload_scoring_test.cc uses the real one).
class KeywordScorer final : public PayloadScorer {
 public:
  std::string_view name() const override { return "keyword"; }
  Result<double> Score(std::span<const std::string> values) const override {
    for (const std::string& v : values) {
      if (v.find("union select") != std::string::npos) return 0.99;
    }
    return 0.01;
  }
};

class EnforcerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = store::IdsEventLog::Open(dir_.File("ids.db"));
    ASSERT_TRUE(log);
    log_ = std::move(*log);
    auto table = DecisionTable::Open(dir_.File("decisions.db"), "node-1", clock_, random_);
    ASSERT_TRUE(table);
    table_ = std::move(*table);
    engine_ = std::make_unique<DetectionEngine>(*table_, DefaultDetectors());
    log_->SetObserver(engine_->EventObserver());
    payloads_ = std::make_unique<PayloadScoring>(std::make_unique<KeywordScorer>(), *engine_,
                                                 clock_, nullptr);
    enforcer_ = std::make_unique<Enforcer>(*table_, clock_);

    net::Router router;
    router.Get("/ok", [](const net::Request&) { return net::Response::Text("ok"); });
    router.Get("/things/{id}", [](const net::Request&) -> Result<net::Response> {
      return NotFound("no such thing");
    });
    router.Post("/upload", [](const net::Request&) { return net::Response::Text("stored"); },
                {.body_limit_bytes = 100});
    AddIdsRoutes(router, {*table_, *engine_, *enforcer_, clock_,
                          [](const net::Request& r) -> std::optional<net::Response> {
                            if (r.Header("Authorization") == kToken) return std::nullopt;
                            return net::ErrorResponse(Unauthenticated("operator token"));
                          },
                          [this](const net::Request&, std::string_view what, const Scope&) {
                            changes_.push_back(std::string(what));
                          }});
    net::ServerOptions options;
    options.access_log = false;
    options.head_timeout = std::chrono::milliseconds(300);
    options.observer = ServerObserverFor(*engine_, *log_, "node-1", clock_);
    options.connection_filter = enforcer_->AsConnectionFilter();
    auto server = net::HttpServer::Start(options, std::move(router),
                                         {enforcer_->AsFilter(), payloads_->HeadFilter()});
    ASSERT_TRUE(server);
    server_ = std::move(*server);
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::seconds(1));
  }

  std::optional<RawConnection::Reply> Ask(std::string_view request, std::string_view from) {
    RawConnection c(server_->port(), std::chrono::seconds(10), from);
    if (!c.connected() || !c.Send(request)) return std::nullopt;
    return c.Read();
  }
  std::uint64_t Events(std::string_view peer, store::IdsEventKind kind) {
    store::IdsEventFilter f;
    f.source_ip = std::string(peer);
    f.kind = kind;
    auto n = log_->Count(f);
    return n ? *n : 0;
  }

  testing::TempDir dir_;
  SystemClock clock_;
  testing::DeterministicRandom random_{3};
  std::unique_ptr<store::IdsEventLog> log_;
  std::unique_ptr<DecisionTable> table_;
  std::unique_ptr<DetectionEngine> engine_;
  std::unique_ptr<Enforcer> enforcer_;
  std::unique_ptr<net::HttpServer> server_;
  std::vector<std::string> changes_;
  std::unique_ptr<PayloadScoring> payloads_;
};

TEST_F(EnforcerTest, ABlockedSourceGets403BeforeItsBodyIsReadAndIsDisconnected) {
  ASSERT_TRUE(table_->Impose({"test", 1, *SourceScope("127.0.0.2"), Action::kBlock, "scripted"}));
  RawConnection c(server_->port(), std::chrono::seconds(10), "127.0.0.2");
  ASSERT_TRUE(c.connected());
  // Declares a body it never sends: a server that read bodies first would wait for it.
  ASSERT_TRUE(c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n"));
  auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 403);
  EXPECT_LT(reply->body.size(), 64u);
  EXPECT_FALSE(reply->keep_alive);
  EXPECT_TRUE(c.ReadsEof());
  EXPECT_EQ(enforcer_->blocked(), 1u);
  // Others are served.
  auto other = Ask(Get("/ok"), "127.0.0.3");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
}

TEST_F(EnforcerTest, AConnectionOpenedBeforeTheBlockIsRefusedAtItsNextHead) {
  RawConnection c(server_->port(), std::chrono::seconds(10), "127.0.0.21");
  ASSERT_TRUE(c.Send(Get("/ok")));
  auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  EXPECT_TRUE(reply->keep_alive);
  ASSERT_TRUE(table_->Impose({"test", 1, *SourceScope("127.0.0.21"), Action::kBlock, "scripted"}));
  // Accepted before the block: the head-time filter refuses its next request.
  ASSERT_TRUE(c.Send(Get("/ok")));
  reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 403);
  EXPECT_FALSE(reply->keep_alive);
  // A new connection is refused at accept, with the same answer.
  reply = Ask(Get("/ok"), "127.0.0.21");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 403);
  EXPECT_EQ(Json::parse(reply->body)["message"], "blocked");
  EXPECT_EQ(enforcer_->blocked(), 2u);
}

TEST_F(EnforcerTest, AThrottledSourceGets429WithRetryAfterBeyondItsRate) {
  ASSERT_TRUE(
      table_->Impose({"test", 1, *SourceScope("127.0.0.4"), Action::kThrottle, "scripted"}));
  int passed = 0, throttled = 0;
  for (int i = 0; i < 5; ++i) {
    auto reply = Ask(Get("/ok"), "127.0.0.4");
    ASSERT_TRUE(reply);
    if (reply->status == 200) ++passed;
    if (reply->status == 429) {
      ++throttled;
      EXPECT_TRUE(reply->headers.contains("retry-after"));
    }
  }
  EXPECT_GE(throttled, 3);
  EXPECT_GE(passed, 1);
}

TEST_F(EnforcerTest, ProbingForIdsGetsTheSourceBlocked) {
  for (int i = 0; i < 20; ++i) {
    auto reply = Ask(Get("/things/" + std::to_string(i)), "127.0.0.5");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 404);
  }
  auto reply = Ask(Get("/ok"), "127.0.0.5");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 403);
  ASSERT_FALSE(engine_->Alerts(10).empty());
  EXPECT_EQ(engine_->Alerts(10)[0].alert.detector, "authz_probing");
}

TEST_F(EnforcerTest, RepeatedInjectionPayloadsGetTheSourceBlocked) {
  for (int i = 0; i < 5; ++i) {
    auto reply = Ask(Get("/ok?q=1%20union%20select%20" + std::to_string(i)), "127.0.0.11");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);  // a score alone answers nothing
  }
  auto reply = Ask(Get("/ok"), "127.0.0.11");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 403);
  EXPECT_EQ(engine_->Alerts(1)[0].alert.detector, "payloads");
  // Benign text from another source is never flagged.
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(Ask(Get("/ok?note=chest%20pain%20since%20monday"), "127.0.0.12")->status, 200);
  }
}

TEST_F(EnforcerTest, AnAllowlistedSourceIsNeverBlocked) {
  ASSERT_TRUE(table_->Allow(*NormalizeScope(ScopeKind::kIp, "127.0.0.6"), "monitor"));
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(Ask(Get("/things/x"), "127.0.0.6"));
  auto reply = Ask(Get("/ok"), "127.0.0.6");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  ASSERT_FALSE(engine_->Alerts(10).empty());
  EXPECT_TRUE(engine_->Alerts(10)[0].allowlisted);
}

TEST_F(EnforcerTest, AChunkedOversizeBodyIsRecordedLikeAnyOther) {
  RawConnection c(server_->port(), std::chrono::seconds(10), "127.0.0.7");
  ASSERT_TRUE(c.connected());
  std::string chunk(150, 'a');
  ASSERT_TRUE(
      c.Send("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n96\r\n" +
             chunk + "\r\n0\r\n\r\n"));
  auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413);
  EXPECT_EQ(Events("127.0.0.7", store::IdsEventKind::kOversized), 1u);
  // And a declared one.
  auto declared =
      Ask("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n", "127.0.0.7");
  ASSERT_TRUE(declared);
  EXPECT_EQ(declared->status, 413);
  EXPECT_EQ(Events("127.0.0.7", store::IdsEventKind::kOversized), 2u);
}

TEST_F(EnforcerTest, ASlowHeadIsRecordedAsASlowClient) {
  RawConnection c(server_->port(), std::chrono::seconds(10), "127.0.0.8");
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /ok HTTP/1.1\r\n"));  // and never the rest
  EXPECT_TRUE(c.ReadsEof());
  EXPECT_TRUE(::medmesh::testing::WaitUntil(
      [&] { return Events("127.0.0.8", store::IdsEventKind::kSlowClient) == 1; }));
}

TEST_F(EnforcerTest, OperatorRoutesListRevokeAndAllowlist) {
  auto decided = table_->Impose({"test", 1, *SourceScope("127.0.0.9"), Action::kBlock, "why"});
  ASSERT_TRUE(decided && *decided);
  const std::string id = (**decided).id;

  auto refused = Ask(Get("/api/v1/ids/decisions"), "127.0.0.10");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);

  auto listed = Ask(Get("/api/v1/ids/decisions", true), "127.0.0.10");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->status, 200);
  Json body = Json::parse(listed->body);
  ASSERT_EQ(body["decisions"].size(), 1u);
  EXPECT_EQ(body["decisions"][0]["id"], id);
  EXPECT_EQ(body["decisions"][0]["scope"]["value"], "127.0.0.9");
  EXPECT_EQ(body["decisions"][0]["action"], "block");
  EXPECT_EQ(body["decisions"][0]["reason"], "why");

  auto revoked = Ask(Post("/api/v1/ids/decisions/" + id + "/revocation", ""), "127.0.0.10");
  ASSERT_TRUE(revoked);
  EXPECT_EQ(revoked->status, 200);
  EXPECT_FALSE(table_->Match("127.0.0.9"));
  auto again = Ask(Post("/api/v1/ids/decisions/" + id + "/revocation", ""), "127.0.0.10");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409);
  auto unknown = Ask(Post("/api/v1/ids/decisions/ffff/revocation", ""), "127.0.0.10");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);

  auto added = Ask(Post("/api/v1/ids/allowlist",
                        R"({"scope":"range","value":"2001:db8:7:7::1/64","note":"lab"})"),
                   "127.0.0.10");
  ASSERT_TRUE(added);
  EXPECT_EQ(added->status, 201);
  EXPECT_TRUE(table_->Allowlisted(*NormalizeScope(ScopeKind::kRange, "2001:db8:7:7::/64")));
  auto bad =
      Ask(Post("/api/v1/ids/allowlist", R"({"scope":"range","value":"10.0.0.0/8"})"), "127.0.0.10");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto list = Ask(Get("/api/v1/ids/allowlist", true), "127.0.0.10");
  ASSERT_TRUE(list);
  EXPECT_EQ(Json::parse(list->body)["allowlist"].size(), 1u);
  auto removed =
      Ask(Post("/api/v1/ids/allowlist/removal", R"({"scope":"range","value":"2001:db8:7:7::/64"})"),
          "127.0.0.10");
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->status, 200);
  EXPECT_EQ(Json::parse(removed->body)["removed"], true);
  EXPECT_EQ(changes_,
            (std::vector<std::string>{"decision.revoke", "allowlist.add", "allowlist.remove"}));

  auto alerts = Ask(Get("/api/v1/ids/alerts", true), "127.0.0.10");
  ASSERT_TRUE(alerts);
  EXPECT_EQ(alerts->status, 200);
  EXPECT_TRUE(Json::parse(alerts->body).contains("alerts"));
  // This node reports no kernel drop (no provider in the context).
  EXPECT_TRUE(Json::parse(alerts->body)["kernel_drop"].is_null());
}

TEST_F(EnforcerTest, AnOperatorsDecisionTakesTheExpiryAskedForAndBadInputIs400) {
  auto made =
      Ask(Post("/api/v1/ids/decisions", R"({"scope":"ip","value":"192.0.2.55","action":"throttle",)"
                                        R"("expires_in_minutes":45,"reason":"seen elsewhere"})"),
          "127.0.0.10");
  ASSERT_TRUE(made);
  ASSERT_EQ(made->status, 201) << made->body;
  const Json d = Json::parse(made->body);
  EXPECT_EQ(d["detector"], "operator");
  EXPECT_EQ(d["action"], "throttle");
  EXPECT_EQ(d["expires_ms"].get<std::int64_t>() - d["created_ms"].get<std::int64_t>(),
            45 * 60 * 1000);
  ASSERT_TRUE(table_->Match("192.0.2.55"));
  for (const char* body :
       {R"({"scope":"ip","value":"192.0.2.56","action":"block","expires_in_minutes":0})",
        R"({"scope":"ip","value":"192.0.2.56","action":"block","expires_in_minutes":10081})",
        R"({"scope":"ip","value":"192.0.2.56","action":"block","expires_in_minutes":"soon"})",
        R"({"scope":"ip","value":"192.0.2.56","action":"block","expires_in_minutes":1.5})",
        R"({"scope":"ip","value":"300.1.2.3","action":"block"})"}) {
    auto refused = Ask(Post("/api/v1/ids/decisions", body), "127.0.0.10");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << body;
  }
  EXPECT_FALSE(table_->Match("192.0.2.56"));
}

// The IDS decisions driving the server's kernel drop (http_server.h, "Kernel drop"): a blocked
// source that floods is dropped in the kernel, and let in again as soon as its block ends.
class KernelDropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    DecisionPolicy policy;
    policy.enforce_on_local_proxy = true;  // so that ::1 can play an attacker
    auto table = DecisionTable::Open(dir_.File("decisions.db"), "node-1", clock_, random_, policy);
    ASSERT_TRUE(table);
    table_ = std::move(*table);
    enforcer_ = std::make_unique<Enforcer>(*table_, clock_);
    engine_ = std::make_unique<DetectionEngine>(*table_, DefaultDetectors());
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::seconds(1));
  }
  void StartServer(std::string address) {
    net::Router router;
    router.Get("/ok", [](const net::Request&) { return net::Response::Text("ok"); });
    // The alerts route with this server's kernel drop (as the services wire it).
    AddIdsRoutes(
        router,
        {*table_,
         *engine_,
         *enforcer_,
         clock_,
         [](const net::Request&) -> std::optional<net::Response> { return std::nullopt; },
         {},
         nullptr,
         [this]() -> std::optional<net::KernelDropStats> { return server_->kernel_drop(); }});
    net::ServerOptions options;
    options.address = std::move(address);
    options.access_log = false;
    options.connection_filter = enforcer_->AsConnectionFilter();
    options.kernel_drop_after_per_second = 3;
    options.kernel_drop_recheck = std::chrono::milliseconds(20);
    auto server = net::HttpServer::Start(options, std::move(router), {enforcer_->AsFilter()});
    ASSERT_TRUE(server);
    server_ = std::move(*server);
  }
  // Statuses of requests from `from` until the server drops it in the kernel (0: a reset).
  std::vector<int> FloodUntilDropped(std::string_view from, std::string_view to) {
    std::vector<int> statuses;
    for (int i = 0; i < 200 && server_->kernel_dropped_sources() == 0; ++i) {
      RawConnection c(server_->port(), std::chrono::seconds(5), from, to);
      if (!c.connected()) break;
      (void)c.Send(Get("/ok"));
      auto reply = c.Read();
      statuses.push_back(reply ? reply->status : 0);
    }
    return statuses;
  }
  bool Connects(std::string_view from, std::string_view to, std::chrono::milliseconds wait) {
    return net::testing::ConnectsWithin(server_->port(), from, to, wait);
  }
  int StatusOf(std::string_view from, std::string_view to) {
    RawConnection c(server_->port(), std::chrono::seconds(5), from, to);
    if (!c.connected() || !c.Send(Get("/ok"))) return 0;
    auto reply = c.Read();
    return reply ? reply->status : 0;
  }
  std::string Block(std::string_view address) {
    auto decided = table_->Impose({"test", 1, *SourceScope(address), Action::kBlock, "flood"});
    EXPECT_TRUE(decided && *decided);
    return decided && *decided ? (**decided).id : "";
  }
  // GET /api/v1/ids/alerts' "kernel_drop", asked from an address nobody blocks.
  Json AlertsKernelDrop() {
    RawConnection c(server_->port(), std::chrono::seconds(5), "127.0.0.42", "127.0.0.1");
    if (!c.connected() || !c.Send(Get("/api/v1/ids/alerts"))) return nullptr;
    auto reply = c.Read();
    if (!reply || reply->status != 200) return nullptr;
    return Json::parse(reply->body)["kernel_drop"];
  }
  // Dropped: no handshake within this (a dropped SYN is retransmitted after a second).
  static constexpr std::chrono::milliseconds kDropWait{300};
  static constexpr std::chrono::milliseconds kConnectWait{5000};

  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{5};
  std::unique_ptr<DecisionTable> table_;
  std::unique_ptr<Enforcer> enforcer_;
  std::unique_ptr<DetectionEngine> engine_;
  std::unique_ptr<net::HttpServer> server_;
};

TEST_F(KernelDropTest, ABlockedFloodIsAnsweredThenDroppedAndLetInAgainWhenRevoked) {
  StartServer("127.0.0.1");
  const std::string id = Block("127.0.0.41");
  EXPECT_EQ(StatusOf("127.0.0.41", "127.0.0.1"), 403);
  const std::vector<int> statuses = FloodUntilDropped("127.0.0.41", "127.0.0.1");
  ASSERT_EQ(server_->kernel_dropped_sources(), 1u);
  EXPECT_EQ(statuses.back(), 0);  // the refusal over the budget was a reset
  // Every refusal at accept was counted; the kernel's drops are not.
  EXPECT_EQ(enforcer_->blocked(), statuses.size() + 1);
  EXPECT_FALSE(Connects("127.0.0.41", "127.0.0.1", kDropWait));
  EXPECT_EQ(enforcer_->blocked(), statuses.size() + 1);
  EXPECT_EQ(StatusOf("127.0.0.42", "127.0.0.1"), 200);
  // The operator sees the flood the kernel drops (GET /api/v1/ids/alerts).
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] { return server_->kernel_dropped_segments() > 0; },
                                          std::chrono::seconds(10)));
  Json drop = AlertsKernelDrop();
  EXPECT_EQ(drop["sources"], 1);
  EXPECT_EQ(drop["ranges"], 0);
  EXPECT_EQ(drop["escalations"], 1);
  EXPECT_GE(drop["dropped_segments"].get<std::uint64_t>(), 1u);

  ASSERT_TRUE(table_->Revoke(id));
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] { return server_->kernel_dropped_sources() == 0; },
                                          std::chrono::seconds(10)));
  drop = AlertsKernelDrop();
  EXPECT_EQ(drop["sources"], 0);
  EXPECT_EQ(drop["escalations"], 1);
  EXPECT_TRUE(Connects("127.0.0.41", "127.0.0.1", kConnectWait));
  EXPECT_EQ(StatusOf("127.0.0.41", "127.0.0.1"), 200);
}

TEST_F(KernelDropTest, TheDropEndsWhenTheBlockExpiresOrTheSourceIsAllowlisted) {
  StartServer("127.0.0.1");
  Block("127.0.0.43");
  FloodUntilDropped("127.0.0.43", "127.0.0.1");
  ASSERT_EQ(server_->kernel_dropped_sources(), 1u);
  EXPECT_FALSE(Connects("127.0.0.43", "127.0.0.1", kDropWait));
  // Expiry (the table's clock): the recheck finds the block ended and removes the filter.
  clock_.Advance(std::chrono::minutes(10));
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] { return server_->kernel_dropped_sources() == 0; },
                                          std::chrono::seconds(10)));
  EXPECT_EQ(StatusOf("127.0.0.43", "127.0.0.1"), 200);

  // Blocked again (a second offence), dropped again, then allowlisted: allowlists win.
  Block("127.0.0.43");
  ASSERT_FALSE(FloodUntilDropped("127.0.0.43", "127.0.0.1").empty());
  ASSERT_EQ(server_->kernel_dropped_sources(), 1u);
  ASSERT_TRUE(table_->Allow(*NormalizeScope(ScopeKind::kIp, "127.0.0.43"), "lab"));
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] { return server_->kernel_dropped_sources() == 0; },
                                          std::chrono::seconds(10)));
  EXPECT_EQ(StatusOf("127.0.0.43", "127.0.0.1"), 200);
}

TEST_F(KernelDropTest, TheConnectionFilterRefusesAWholeRangeOnlyWhileItsBlockCoversAllOfIt) {
  const net::ConnectionFilter filter = enforcer_->AsConnectionFilter();
  ASSERT_TRUE(filter.refuses_range);
  EXPECT_FALSE(filter.refuses_range("2001:db8:1:2::/64"));
  const std::string id = Block("2001:db8:1:2::10");
  EXPECT_TRUE(filter.refuses_range("2001:db8:1:2::/64"));
  EXPECT_FALSE(filter.refuses_range("2001:db8:1:3::/64"));
  ASSERT_TRUE(table_->Allow(*NormalizeScope(ScopeKind::kIp, "2001:db8:1:2::77"), "monitor"));
  EXPECT_FALSE(filter.refuses_range("2001:db8:1:2::/64"));
  ASSERT_TRUE(table_->Disallow(*NormalizeScope(ScopeKind::kIp, "2001:db8:1:2::77")));
  EXPECT_TRUE(filter.refuses_range("2001:db8:1:2::/64"));
  ASSERT_TRUE(table_->Revoke(id));
  EXPECT_FALSE(filter.refuses_range("2001:db8:1:2::/64"));
  EXPECT_EQ(enforcer_->blocked(), 0u);  // asking is not refusing
}

TEST_F(KernelDropTest, Ipv6AndIpv4MappedSourcesOnADualStackListener) {
  StartServer("::");
  // IPv4 clients arrive as ::ffff:127.0.0.44, decided and dropped as 127.0.0.44.
  const std::string v4 = Block("127.0.0.44");
  EXPECT_EQ(StatusOf("127.0.0.44", "127.0.0.1"), 403);
  FloodUntilDropped("127.0.0.44", "127.0.0.1");
  ASSERT_EQ(server_->kernel_dropped_sources(), 1u);
  EXPECT_FALSE(Connects("127.0.0.44", "127.0.0.1", kDropWait));
  EXPECT_EQ(StatusOf("::1", "::1"), 200);
  ASSERT_TRUE(table_->Revoke(v4));
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] { return server_->kernel_dropped_sources() == 0; },
                                          std::chrono::seconds(10)));
  // IPv6: ::1 blocked by its address, dropped, and let in after the revocation.
  const std::string v6 = Block("::1");
  EXPECT_EQ(StatusOf("::1", "::1"), 403);
  FloodUntilDropped("::1", "::1");
  ASSERT_EQ(server_->kernel_dropped_sources(), 1u);
  EXPECT_FALSE(Connects("::1", "::1", kDropWait));
  EXPECT_TRUE(Connects("127.0.0.44", "127.0.0.1", kConnectWait));
  ASSERT_TRUE(table_->Revoke(v6));
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] { return server_->kernel_dropped_sources() == 0; },
                                          std::chrono::seconds(10)));
  EXPECT_EQ(StatusOf("::1", "::1"), 200);
}

}  // namespace
}  // namespace medmesh::ids
