#include "net/http_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "core/log.h"
#include "net/builtin_endpoints.h"
#include "net/error_mapping.h"
#include "net/http_client.h"
#include "net/test_support.h"
#include "testing/fake_clock.h"
#include "testing/wait.h"

namespace medmesh::net {
namespace {

using namespace std::chrono_literals;
using testing::RawConnection;
using testing::RawExchange;

constexpr std::size_t kEchoLimit = 1024;

std::string Get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

nlohmann::json Json(const std::string& body) { return nlohmann::json::parse(body); }

// A POST head announcing `length` body bytes with "Expect: 100-continue": once the client
// reads the "100 Continue", the server has read the head and waits for the body (a request
// in progress, so never evicted).
std::string ContinuePost(std::string_view target, std::size_t length) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(length) +
         "\r\nExpect: 100-continue\r\n\r\n";
}

// Polls `condition` until it holds (true) or 10 s pass (false).
template <typename Fn>
bool WaitFor(Fn condition) {
  return medmesh::testing::WaitUntil(condition, 10s);
}

class HttpServerTest : public ::testing::Test {
 protected:
  // The routes most tests use:
  //   GET  /api/patients/{id}/readings  echoes the id, the "from" query value and the peer
  //   POST /echo                        echoes the body (limit 1 KiB)
  //   GET  /error/{code}                returns Error(code, "detail /secret/path")
  //   GET  /throw                       throws
  Router DemoRouter() {
    Router router;
    router.Get("/api/patients/{id}/readings", [this](const Request& r) -> Result<Response> {
      ++calls_;
      nlohmann::json body = {{"id", *r.PathParam("id")},
                             {"from", r.QueryParam("from").value_or("")},
                             {"peer", r.peer_address},
                             {"route", r.route}};
      return Response::Json(body.dump());
    });
    router.Post(
        "/echo",
        [this](const Request& r) -> Result<Response> {
          ++calls_;
          Response response = Response::Binary(r.body);
          response.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: stolen=1");
          return response;
        },
        RouteOptions{.body_limit_bytes = kEchoLimit});
    router.Get("/error/{code}", [](const Request& r) -> Result<Response> {
      const std::string_view name = *r.PathParam("code");
      for (int c = 0; c <= static_cast<int>(ErrorCode::kInternal); ++c) {
        const auto code = static_cast<ErrorCode>(c);
        if (ErrorCodeName(code) == name) return Error(code, "detail /secret/path");
      }
      return Response::Text("no such code", 400);
    });
    router.Get("/throw", [](const Request&) -> Result<Response> {
      throw std::runtime_error("exception with /secret/path");
    });
    return router;
  }

  std::unique_ptr<HttpServer> Start(Router router, std::vector<Filter> filters = {},
                                    const std::function<void(ServerOptions&)>& tweak = {}) {
    ServerOptions options;
    options.name = "test";
    options.io_threads = 2;
    options.metrics = &metrics_;
    if (tweak) tweak(options);
    auto server = HttpServer::Start(options, std::move(router), std::move(filters));
    EXPECT_TRUE(server) << server.error().ToString();
    return server ? std::move(server).value() : nullptr;
  }

  MetricsRegistry metrics_;  // outlives the servers (declared first)
  std::atomic<int> calls_{0};
};

TEST_F(HttpServerTest, RoutesWithPathAndQueryParameters) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  ASSERT_NE(server->port(), 0);
  const auto reply =
      RawExchange(server->port(), Get("/api/patients/p%201/readings?from=2024-01-01&x=y"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->headers.at("content-type"), "application/json");
  EXPECT_EQ(Json(reply->body), (nlohmann::json{{"id", "p 1"},
                                               {"from", "2024-01-01"},
                                               {"peer", "127.0.0.1"},
                                               {"route", "/api/patients/{id}/readings"}}));
  EXPECT_EQ(reply->headers.at("x-content-type-options"), "nosniff");
  EXPECT_EQ(reply->headers.at("cache-control"), "no-store");
}

TEST_F(HttpServerTest, ListsTheRoutesItServes) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  auto routes = server->routes();
  std::sort(routes.begin(), routes.end());
  const std::vector<std::pair<Method, std::string>> want = {
      {Method::kGet, "/api/patients/{id}/readings"},
      {Method::kGet, "/error/{code}"},
      {Method::kGet, "/throw"},
      {Method::kPost, "/echo"}};
  EXPECT_EQ(routes, want);
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  auto reply = RawExchange(server->port(), Get("/api/nothing"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 404);
  EXPECT_EQ(Json(reply->body)["error"], "not_found");

  reply = RawExchange(server->port(), "DELETE /echo HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 405);
  EXPECT_EQ(reply->headers.at("allow"), "POST");
  EXPECT_EQ(Json(reply->body)["error"], "method_not_allowed");

  reply = RawExchange(server->port(), "BREW /echo HTTP/1.1\r\nHost: test\r\n\r\n");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 501);
}

TEST_F(HttpServerTest, HeadAnswersWithTheGetLengthAndNoBody) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  ASSERT_TRUE(c.Send("HEAD /api/patients/p1/readings HTTP/1.1\r\nHost: test\r\n\r\n"));
  const auto head = c.Read(/*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->body.empty());
  // The same connection still frames the next answer correctly.
  ASSERT_TRUE(c.Send(Get("/api/patients/p1/readings")));
  const auto get = c.Read();
  ASSERT_TRUE(get);
  EXPECT_EQ(head->headers.at("content-length"), std::to_string(get->body.size()));
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnectionIncludingPipelined) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.Send(Get("/api/patients/p" + std::to_string(i) + "/readings")));
    const auto reply = c.Read();
    ASSERT_TRUE(reply) << i;
    EXPECT_TRUE(reply->keep_alive);
    EXPECT_EQ(Json(reply->body)["id"], "p" + std::to_string(i));
  }
  ASSERT_TRUE(c.Send(Get("/api/patients/a/readings") + Get("/api/patients/b/readings")));
  EXPECT_EQ(Json(c.Read().value().body)["id"], "a");
  EXPECT_EQ(Json(c.Read().value().body)["id"], "b");
  EXPECT_EQ(server->active_connections(), 1u);
  EXPECT_EQ(calls_, 7);
}

TEST_F(HttpServerTest, Http10WithoutKeepAliveIsClosedAfterTheResponse) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  ASSERT_TRUE(c.Send("GET /api/patients/p/readings HTTP/1.0\r\n\r\n"));
  const auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  EXPECT_FALSE(reply->keep_alive);
  EXPECT_TRUE(c.ReadsEof());
}

TEST_F(HttpServerTest, BodyWithinTheLimitReachesTheHandlerPlainOrChunked) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  std::string body(kEchoLimit, '\0');
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7);
  RawConnection c(server->port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body));
  auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, body);
  EXPECT_EQ(reply->headers.at("content-type"), "application/octet-stream");
  // The header with CR LF in its value was dropped, so nothing was injected.
  EXPECT_FALSE(reply->headers.contains("set-cookie"));
  EXPECT_FALSE(reply->headers.contains("x-evil"));

  ASSERT_TRUE(
      c.Send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->body, "hello world");
}

TEST_F(HttpServerTest, DeclaredBodyOverTheLimitGets413AndACleanClose) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  // 10 MiB declared, 4 KiB sent: the answer must not wait for (or read) the rest.
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 10485760\r\n\r\n" +
                     std::string(4096, 'x')));
  const auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413);
  EXPECT_FALSE(reply->keep_alive);
  EXPECT_EQ(Json(reply->body)["error"], "payload_too_large");
  c.ShutdownSend();
  EXPECT_TRUE(c.ReadsEof());
  EXPECT_EQ(calls_, 0);
  // The server is fine afterwards.
  EXPECT_EQ(RawExchange(server->port(), Get("/api/patients/x/readings")).value().status, 200);
}

TEST_F(HttpServerTest, ChunkedBodyOverTheLimitGets413) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  const std::string chunk(kEchoLimit / 2 + 1, 'c');
  std::ostringstream request;
  request << "POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 2; ++i) request << std::hex << chunk.size() << "\r\n" << chunk << "\r\n";
  ASSERT_TRUE(c.Send(request.str()));
  const auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413);
  EXPECT_FALSE(reply->keep_alive);
  c.ShutdownSend();
  EXPECT_TRUE(c.ReadsEof());
  EXPECT_EQ(calls_, 0);
}

TEST_F(HttpServerTest, MalformedRequestsGet400AndTheConnectionCloses) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  for (const std::string& bad : {
           std::string("THIS IS NOT HTTP\r\n\r\n"),
           std::string("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n"),
           std::string("GET /api/patients/../admin HTTP/1.1\r\nHost: t\r\n\r\n"),
           std::string("GET http://elsewhere/x HTTP/1.1\r\nHost: t\r\n\r\n"),
           std::string("GET /a\x01 HTTP/1.1\r\nHost: t\r\n\r\n"),
       }) {
    RawConnection c(server->port());
    ASSERT_TRUE(c.Send(bad));
    const auto reply = c.Read();
    ASSERT_TRUE(reply) << bad;
    EXPECT_EQ(reply->status, 400) << bad;
    EXPECT_EQ(Json(reply->body)["error"], "invalid_argument");
    EXPECT_FALSE(reply->keep_alive);
    c.ShutdownSend();
    EXPECT_TRUE(c.ReadsEof()) << bad;
  }
}

TEST_F(HttpServerTest, OversizedHeadGets431AndTheConnectionCloses) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  ASSERT_TRUE(
      c.Send(Get("/api/patients/p/readings", "X-Big: " + std::string(10000, 'a') + "\r\n")));
  const auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 431);
  EXPECT_EQ(Json(reply->body)["error"], "headers_too_large");
  c.ShutdownSend();
  EXPECT_TRUE(c.ReadsEof());
  EXPECT_EQ(calls_, 0);
}

TEST_F(HttpServerTest, ExpectContinueGetsAnInterimResponse) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  ASSERT_TRUE(c.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  const auto interim = c.Read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(c.Send("hello"));
  const auto reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "hello");
}

TEST_F(HttpServerTest, ASlowBodyIsCutOffByTheReadTimeout) {
  auto server = Start(DemoRouter(), {}, [](ServerOptions& o) { o.read_timeout = 200ms; });
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhe"));
  EXPECT_TRUE(c.ReadsEof());  // well before the 5 s read timeout of RawConnection
}

TEST_F(HttpServerTest, ErrorsAreMappedAndServerErrorsDoNotLeak) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  const std::pair<std::string, int> expected[] = {
      {"invalid_argument", 400},   {"unauthenticated", 401}, {"permission_denied", 403},
      {"not_found", 404},          {"already_exists", 409},  {"failed_precondition", 409},
      {"resource_exhausted", 429}, {"unavailable", 503},     {"data_loss", 500},
      {"internal", 500},
  };
  for (const auto& [name, status] : expected) {
    const auto reply = RawExchange(server->port(), Get("/error/" + name));
    ASSERT_TRUE(reply) << name;
    EXPECT_EQ(reply->status, status) << name;
    const auto body = Json(reply->body);
    EXPECT_EQ(body["error"], name);
    if (status < 500) {
      EXPECT_EQ(body["message"], "detail /secret/path");
    } else {
      EXPECT_EQ(reply->body.find("secret"), std::string::npos) << reply->body;
    }
  }
  const auto thrown = RawExchange(server->port(), Get("/throw"));
  ASSERT_TRUE(thrown);
  EXPECT_EQ(thrown->status, 500);
  EXPECT_EQ(Json(thrown->body),
            (nlohmann::json{{"error", "internal"}, {"message", "internal error"}}));
}

TEST_F(HttpServerTest, FiltersBlockAndThrottleBeforeRoutingAndBeforeTheBody) {
  std::atomic<int> filtered{0};
  Filter verdicts = [&](const Request& r) -> std::optional<Response> {
    ++filtered;
    EXPECT_EQ(r.peer_address, "127.0.0.1");
    EXPECT_TRUE(r.body.empty());
    const auto verdict = r.Header("X-Test-Verdict");
    if (verdict == "block") return JsonErrorResponse(403, "permission_denied", "blocked");
    if (verdict == "throttle") {
      Response response = JsonErrorResponse(429, "resource_exhausted", "slow down");
      response.headers.emplace_back("Retry-After", "7");
      return response;
    }
    return std::nullopt;
  };
  auto server = Start(DemoRouter(), {verdicts});
  ASSERT_TRUE(server);

  auto reply =
      RawExchange(server->port(), Get("/api/patients/p/readings", "X-Test-Verdict: block\r\n"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 403);
  EXPECT_EQ(Json(reply->body)["error"], "permission_denied");

  reply = RawExchange(server->port(), Get("/no/such/path", "X-Test-Verdict: throttle\r\n"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 429);
  EXPECT_EQ(reply->headers.at("retry-after"), "7");

  // A blocked upload is answered without reading its (never sent) body.
  RawConnection c(server->port());
  ASSERT_TRUE(c.Send(
      "POST /echo HTTP/1.1\r\nHost: t\r\nX-Test-Verdict: block\r\nContent-Length: 500\r\n\r\n"));
  reply = c.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 403);
  EXPECT_FALSE(reply->keep_alive);

  EXPECT_EQ(RawExchange(server->port(), Get("/api/patients/p/readings")).value().status, 200);
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(filtered, 4);
}

TEST_F(HttpServerTest, TheConnectionFilterRefusesASourceAtAcceptWithoutASession) {
  std::atomic<int> head_filtered{0};
  Filter count_heads = [&](const Request&) -> std::optional<Response> {
    ++head_filtered;
    return std::nullopt;
  };
  std::atomic<int> asked{0};
  auto server = Start(DemoRouter(), {count_heads}, [&](ServerOptions& o) {
    o.connection_filter = [&](std::string_view peer) {
      ++asked;
      return peer == "127.0.0.66";
    };
  });
  ASSERT_TRUE(server);

  // The refused source reads the canned 403 and the close, its head never reaches a filter,
  // the router or a handler.
  for (const std::string& request :
       {Get("/api/patients/p/readings"),
        std::string("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n")}) {
    RawConnection c(server->port(), 5s, "127.0.0.66");
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.Send(request));
    auto reply = c.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 403);
    EXPECT_EQ(Json(reply->body)["message"], "blocked");
    EXPECT_FALSE(reply->keep_alive);
    EXPECT_EQ(reply->headers.at("x-content-type-options"), "nosniff");
    EXPECT_TRUE(c.ReadsEof());
  }
  // A refused client that sends nothing is closed too.
  {
    RawConnection silent(server->port(), 5s, "127.0.0.66");
    ASSERT_TRUE(silent.connected());
    auto reply = silent.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 403);
  }
  EXPECT_EQ(head_filtered, 0);
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(metrics_.AddCounter("medmesh_http_connections_refused_total", "", {"server"})
                .WithLabels({"test"})
                .Value(),
            3.0);

  // Other sources are served as before; the filter was asked once per connection.
  EXPECT_EQ(RawExchange(server->port(), Get("/api/patients/p/readings")).value().status, 200);
  EXPECT_EQ(head_filtered, 1);
  EXPECT_EQ(calls_, 1);
  EXPECT_EQ(asked, 4);
  ASSERT_TRUE(WaitFor([&] { return server->active_connections() == 0; }));
}

TEST_F(HttpServerTest, RefusalsBeyondTheAnswerRateAreResetWithoutAnAnswer) {
  auto server = Start(DemoRouter(), {}, [&](ServerOptions& o) {
    o.connection_filter = [](std::string_view peer) { return peer == "127.0.0.66"; };
    o.refusal_answers_per_second = 0;
  });
  ASSERT_TRUE(server);
  RawConnection c(server->port(), 5s, "127.0.0.66");
  ASSERT_TRUE(c.connected());
  (void)c.Send(Get("/api/patients/p/readings"));  // may already fail: the reset can come first
  EXPECT_FALSE(c.Read());
  EXPECT_EQ(calls_, 0);
  EXPECT_EQ(metrics_.AddCounter("medmesh_http_connections_refused_total", "", {"server"})
                .WithLabels({"test"})
                .Value(),
            1.0);
  EXPECT_EQ(RawExchange(server->port(), Get("/api/patients/p/readings")).value().status, 200);
}

// Connects from `from` to `to` and sends a request until the server has a source in its
// kernel drop (at most 200 times); the statuses read (0: reset or closed without an answer).
// Each refusal is complete when its answer or reset is read, and the server escalates before
// it refuses, so the loop stops before a connect could meet a dropped SYN.
std::vector<int> RefuseUntilDropped(const HttpServer& server, std::string_view from,
                                    std::string_view to = "127.0.0.1") {
  std::vector<int> statuses;
  for (int i = 0; i < 200 && server.kernel_dropped_sources() == 0; ++i) {
    RawConnection c(server.port(), 5s, from, to);
    if (!c.connected()) break;
    (void)c.Send(Get("/api/patients/p/readings"));  // may fail: a reset can come first
    auto reply = c.Read();
    statuses.push_back(reply ? reply->status : 0);
  }
  return statuses;
}

constexpr std::chrono::milliseconds kDropWait = 300ms;  // see ConnectsWithin
constexpr std::chrono::milliseconds kConnectWait = 5s;

std::optional<std::string> Metric(const MetricsRegistry& metrics, std::string_view name) {
  return FindSample(testing::ParseExposition(metrics.Render()), name, {{"server", "test"}});
}

TEST_F(HttpServerTest, AFloodingRefusedSourceIsDroppedInTheKernelUntilTheFilterLetsItIn) {
  std::atomic<bool> blocked{true};
  std::atomic<int> rechecked{0};
  auto server = Start(DemoRouter(), {}, [&](ServerOptions& o) {
    o.connection_filter =
        ConnectionFilter([&](std::string_view peer) { return blocked && peer == "127.0.0.66"; },
                         [&](std::string_view peer) {
                           ++rechecked;
                           return blocked && peer == "127.0.0.66";
                         });
    o.kernel_drop_after_per_second = 3;
    o.kernel_drop_recheck = 20ms;
  });
  ASSERT_TRUE(server);
  const std::vector<int> statuses = RefuseUntilDropped(*server, "127.0.0.66");
  ASSERT_EQ(server->kernel_dropped_sources(), 1u);
  // The first refusals of a second are answered (a blocked person learns why); the one that
  // crossed the budget was reset.
  ASSERT_GE(statuses.size(), 4u);
  EXPECT_EQ(statuses.front(), 403);
  EXPECT_EQ(statuses.back(), 0);
  EXPECT_EQ(Metric(metrics_, "medmesh_http_kernel_drop_sources"), "1");
  EXPECT_EQ(Metric(metrics_, "medmesh_http_kernel_drop_escalations_total"), "1");
  EXPECT_EQ(Metric(metrics_, "medmesh_http_connections_refused_total"),
            std::to_string(statuses.size()));

  // Its SYNs are dropped now: no handshake, nothing accepted, nothing refused or counted.
  EXPECT_FALSE(testing::ConnectsWithin(server->port(), "127.0.0.66", "127.0.0.1", kDropWait));
  EXPECT_EQ(Metric(metrics_, "medmesh_http_connections_refused_total"),
            std::to_string(statuses.size()));
  // Everyone else is served, on connections that inherited the listener's filter.
  RawConnection other(server->port(), 5s, "127.0.0.67");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(other.Send(Get("/api/patients/p/readings")));
    auto reply = other.Read();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 200);
  }
  // The server keeps asking the uncounted recheck, and lets the source in once it is no longer
  // refused.
  ASSERT_TRUE(WaitFor([&] { return rechecked >= 2; }));
  blocked = false;
  ASSERT_TRUE(WaitFor([&] { return server->kernel_dropped_sources() == 0; }));
  EXPECT_EQ(Metric(metrics_, "medmesh_http_kernel_drop_sources"), "0");
  EXPECT_TRUE(testing::ConnectsWithin(server->port(), "127.0.0.66", "127.0.0.1", kConnectWait));
  RawConnection again(server->port(), 5s, "127.0.0.66");
  ASSERT_TRUE(again.Send(Get("/api/patients/p/readings")));
  auto reply = again.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  // Blocked again: it gets answers before it is dropped again.
  blocked = true;
  // (Its first refusals may be resets: its count for this second can already be over.)
  ASSERT_FALSE(RefuseUntilDropped(*server, "127.0.0.66").empty());
  EXPECT_EQ(server->kernel_dropped_sources(), 1u);
  EXPECT_EQ(Metric(metrics_, "medmesh_http_kernel_drop_escalations_total"), "2");
}

TEST_F(HttpServerTest, TheKernelDropWorksForIpv6AndForIpv4ClientsOfADualStackListener) {
  // IPv6 on an IPv6 listener.
  {
    auto server = Start(DemoRouter(), {}, [&](ServerOptions& o) {
      o.address = "::1";
      o.connection_filter = [](std::string_view peer) { return peer == "::1"; };
      o.kernel_drop_after_per_second = 2;
    });
    ASSERT_TRUE(server);
    const std::vector<int> statuses = RefuseUntilDropped(*server, "::1", "::1");
    ASSERT_EQ(server->kernel_dropped_sources(), 1u);
    EXPECT_EQ(statuses.front(), 403);
    EXPECT_FALSE(testing::ConnectsWithin(server->port(), "::1", "::1", kDropWait));
  }
  // IPv4 clients of a dual-stack "::" listener: the peer is ::ffff:127.0.0.66, the filter
  // is asked with 127.0.0.66, and the kernel sees IPv4 packets.
  std::atomic<bool> blocked{true};
  auto server = Start(DemoRouter(), {}, [&](ServerOptions& o) {
    o.address = "::";
    o.connection_filter = [&](std::string_view peer) { return blocked && peer == "127.0.0.66"; };
    o.kernel_drop_after_per_second = 2;
    o.kernel_drop_recheck = 20ms;
  });
  ASSERT_TRUE(server);
  const std::vector<int> statuses = RefuseUntilDropped(*server, "127.0.0.66");
  ASSERT_EQ(server->kernel_dropped_sources(), 1u);
  EXPECT_EQ(statuses.front(), 403);
  EXPECT_FALSE(testing::ConnectsWithin(server->port(), "127.0.0.66", "127.0.0.1", kDropWait));
  EXPECT_TRUE(testing::ConnectsWithin(server->port(), "::1", "::1", kConnectWait));
  EXPECT_EQ(RawExchange(server->port(), Get("/api/patients/p/readings")).value().status, 200);
  blocked = false;
  ASSERT_TRUE(WaitFor([&] { return server->kernel_dropped_sources() == 0; }));
  EXPECT_TRUE(testing::ConnectsWithin(server->port(), "127.0.0.66", "127.0.0.1", kConnectWait));
}

TEST_F(HttpServerTest, AnIpv6SourceWhoseWholeSlash64IsRefusedIsDroppedByItsRange) {
  // ::1 is the only IPv6 loopback address, and its /64 is ::/64.
  std::atomic<bool> range_refused{true};
  std::vector<std::string> ranges_asked;  // the acceptor's strand only, read after the waits
  std::mutex mu;
  auto server = Start(DemoRouter(), {}, [&](ServerOptions& o) {
    o.address = "::1";
    o.connection_filter = [](std::string_view peer) { return peer == "::1"; };
    o.connection_filter.refuses_range = [&](std::string_view range) {
      std::lock_guard lock(mu);
      ranges_asked.emplace_back(range);
      return range_refused.load();
    };
    o.kernel_drop_after_per_second = 2;
    o.kernel_drop_recheck = 20ms;
  });
  ASSERT_TRUE(server);
  const std::uint64_t drops_before = server->kernel_dropped_segments();
  ASSERT_FALSE(RefuseUntilDropped(*server, "::1", "::1").empty());
  ASSERT_EQ(server->kernel_dropped_sources(), 1u);
  EXPECT_EQ(Metric(metrics_, "medmesh_http_kernel_drop_ranges"), "1");
  {
    std::lock_guard lock(mu);
    ASSERT_FALSE(ranges_asked.empty());
    EXPECT_EQ(ranges_asked.front(), "::/64");
  }
  EXPECT_FALSE(testing::ConnectsWithin(server->port(), "::1", "::1", kDropWait));
  // The kernel's count of the listener's drops shows the dropped SYN (read at the recheck).
  ASSERT_TRUE(WaitFor([&] { return server->kernel_dropped_segments() > drops_before; }));
  const auto counted = Metric(metrics_, "medmesh_http_listener_dropped_segments_total");
  ASSERT_TRUE(counted);
  EXPECT_GE(std::stod(*counted), 1.0);
  // No longer the whole range (e.g. an address in it allowlisted): the range leaves the drop,
  // and the source, still refused, is refused at accept until it floods again - by address.
  range_refused = false;
  ASSERT_TRUE(WaitFor([&] { return server->kernel_dropped_sources() == 0; }));
  EXPECT_EQ(Metric(metrics_, "medmesh_http_kernel_drop_ranges"), "0");
  // One attempt: the handshake completes; the server then resets it at accept (ConnectsWithin
  // counts that as connected - before, a reset that beat the client's poll read as a failure,
  // and retrying made the source flood into a drop by address).
  EXPECT_TRUE(testing::ConnectsWithin(server->port(), "::1", "::1", kDropWait));
  ASSERT_TRUE(WaitFor([&] {
    (void)RefuseUntilDropped(*server, "::1", "::1");
    return server->kernel_dropped_sources() == 1u;
  }));
  EXPECT_EQ(Metric(metrics_, "medmesh_http_kernel_drop_ranges"), "0");
  EXPECT_FALSE(testing::ConnectsWithin(server->port(), "::1", "::1", kDropWait));
}

TEST_F(HttpServerTest, TheKernelDropIsBoundedAndCanBeTurnedOff) {
  const auto refuses = [](std::string_view peer) {
    return peer == "127.0.0.66" || peer == "127.0.0.68";
  };
  {
    auto server = Start(DemoRouter(), {}, [&](ServerOptions& o) {
      o.connection_filter = refuses;
      o.kernel_drop_after_per_second = 2;
      o.kernel_drop_max_sources = 1;
    });
    ASSERT_TRUE(server);
    RefuseUntilDropped(*server, "127.0.0.66");
    ASSERT_EQ(server->kernel_dropped_sources(), 1u);
    // No room for a second source: it is refused at accept however much it floods.
    for (int i = 0; i < 20; ++i) {
      RawConnection c(server->port(), 5s, "127.0.0.68");
      ASSERT_TRUE(c.connected());
      (void)c.Send(Get("/api/patients/p/readings"));
      auto reply = c.Read();
      EXPECT_TRUE(!reply || reply->status == 403);
    }
    EXPECT_EQ(server->kernel_dropped_sources(), 1u);
    EXPECT_EQ(Metric(metrics_, "medmesh_http_kernel_drop_escalations_total"), "1");
  }
  // 0: never dropped in the kernel, every connection refused at accept.
  auto server = Start(DemoRouter(), {}, [&](ServerOptions& o) {
    o.name = "off";
    o.connection_filter = refuses;
    o.kernel_drop_after_per_second = 0;
  });
  ASSERT_TRUE(server);
  for (int i = 0; i < 30; ++i) {
    RawConnection c(server->port(), 5s, "127.0.0.66");
    ASSERT_TRUE(c.connected());
    (void)c.Send(Get("/api/patients/p/readings"));
    auto reply = c.Read();
    EXPECT_TRUE(!reply || reply->status == 403);
  }
  EXPECT_EQ(server->kernel_dropped_sources(), 0u);
  EXPECT_TRUE(testing::ConnectsWithin(server->port(), "127.0.0.66", "127.0.0.1", kConnectWait));
}

TEST_F(HttpServerTest, MetricsEndpointExposesPerRouteCountersAndLatency) {
  Router router = DemoRouter();
  AddMetricsEndpoint(router, metrics_);
  AddHealthEndpoints(router, [] { return true; });
  auto server = Start(std::move(router));
  ASSERT_TRUE(server);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(RawExchange(server->port(), Get("/api/patients/" + std::to_string(i) + "/readings"))
                  .value()
                  .status,
              200);
  }
  ASSERT_EQ(RawExchange(server->port(), Get("/missing")).value().status, 404);
  ASSERT_EQ(RawExchange(server->port(), Get("/healthz")).value().status, 200);

  const auto route = [](std::string r, std::string status) {
    return std::map<std::string, std::string>{
        {"server", "test"}, {"method", "GET"}, {"route", std::move(r)}, {"status", status}};
  };
  // Every request is counted before its response is sent: the first scrape shows them all.
  const std::optional<RawConnection::Reply> reply = RawExchange(server->port(), Get("/metrics"));
  ASSERT_TRUE(reply);
  const testing::Exposition parsed = testing::ParseExposition(reply->body);
  EXPECT_EQ(reply->headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_TRUE(parsed.errors.empty());
  EXPECT_EQ(FindSample(parsed, "medmesh_http_requests_total",
                       route("/api/patients/{id}/readings", "200")),
            "3");
  EXPECT_EQ(FindSample(parsed, "medmesh_http_requests_total", route("unmatched", "404")), "1");
  EXPECT_EQ(FindSample(parsed, "medmesh_http_requests_total", route("/healthz", "200")), "1");
  EXPECT_EQ(
      FindSample(parsed, "medmesh_http_request_duration_seconds_count",
                 {{"server", "test"}, {"method", "GET"}, {"route", "/api/patients/{id}/readings"}}),
      "3");
  EXPECT_EQ(parsed.type.at("medmesh_http_request_duration_seconds"), "histogram");
  EXPECT_TRUE(FindSample(parsed, "medmesh_http_connections_active", {{"server", "test"}}));
}

// A client that has read its response finds it counted, at once: the counter is updated before
// the response is written, not after the write completes (the completion can run after the
// client has read everything, and did on a busy machine).
TEST_F(HttpServerTest, AResponseTheClientHasReadIsAlreadyCounted) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  Counter& ok =
      metrics_
          .AddCounter("medmesh_http_requests_total", "", {"server", "method", "route", "status"})
          .WithLabels({"test", "GET", "/api/patients/{id}/readings", "200"});
  Counter& missing =
      metrics_
          .AddCounter("medmesh_http_requests_total", "", {"server", "method", "route", "status"})
          .WithLabels({"test", "GET", "unmatched", "404"});
  RawConnection c(server->port());
  constexpr int kRounds = 300;
  for (int i = 1; i <= kRounds; ++i) {
    ASSERT_TRUE(c.Send(Get(i % 2 == 0 ? "/api/patients/p/readings" : "/missing")));
    const auto reply = c.Read();
    ASSERT_TRUE(reply);
    ASSERT_EQ(reply->status, i % 2 == 0 ? 200 : 404);
    ASSERT_EQ(ok.Value(), i / 2) << "round " << i;
    ASSERT_EQ(missing.Value(), (i + 1) / 2) << "round " << i;
  }
}

TEST_F(HttpServerTest, AccessLogHasTheRequestButNoQueryBodyOrCredentials) {
  testing::TempDir dir;
  const std::string log_path = (dir.path() / "access.log").string();
  log::SetFile(log_path);
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  const std::string body = "body-secret";
  ASSERT_TRUE(
      c.Send("POST /echo?token=query-secret HTTP/1.1\r\nHost: t\r\n"
             "Authorization: Bearer auth-secret\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body));
  ASSERT_EQ(c.Read().value().status, 200);
  server->Stop(1s);

  std::ifstream in(log_path);
  std::string line;
  int access_lines = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(line.find("secret"), std::string::npos) << line;
    const auto event = nlohmann::json::parse(line);
    if (event["event"] != "http_access") continue;
    ++access_lines;
    EXPECT_EQ(event["method"], "POST");
    EXPECT_FALSE(event.contains("path"));  // raw paths may carry patient ids
    EXPECT_EQ(event["route"], "/echo");
    EXPECT_EQ(event["status"], 200);
    EXPECT_EQ(event["peer"], "127.0.0.1");
    EXPECT_TRUE(event["duration_ms"].is_number());
  }
  EXPECT_EQ(access_lines, 1);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheCapAreClosedAtOnce) {
  auto server = Start(DemoRouter(), {}, [](ServerOptions& o) {
    o.max_connections = 1;
    o.reserved_connections = 0;
  });
  ASSERT_TRUE(server);
  {
    // A request in progress (its head read, the body awaited): not a candidate for eviction.
    RawConnection first(server->port());
    ASSERT_TRUE(first.Send(ContinuePost("/echo", 5)));
    ASSERT_EQ(first.Read().value().status, 100);  // registered and busy
    RawConnection second(server->port());
    ASSERT_TRUE(second.connected());  // the kernel accepted it ...
    EXPECT_TRUE(second.ReadsEof());   // ... and the server closed it
    EXPECT_EQ(metrics_.AddCounter("medmesh_http_connections_rejected_total", "", {"server"})
                  .WithLabels({"test"})
                  .Value(),
              1.0);
  }
  // Once the first connection is gone there is room again.
  ASSERT_TRUE(WaitFor([&] { return server->active_connections() == 0; }));
  EXPECT_EQ(RawExchange(server->port(), Get("/api/patients/p/readings")).value().status, 200);
}

TEST_F(HttpServerTest, ConcurrentClientsAreAllServed) {
  auto server = Start(DemoRouter(), {}, [](ServerOptions& o) { o.io_threads = 3; });
  ASSERT_TRUE(server);
  auto client = HttpClient::Create({}).value();
  constexpr int kThreads = 8;
  constexpr int kRequests = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRequests; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        const auto reply = client->Get("http://127.0.0.1:" + std::to_string(server->port()) +
                                       "/api/patients/" + id + "/readings");
        if (reply && reply->status == 200 && Json(reply->body)["id"] == id) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, kThreads * kRequests);
  EXPECT_EQ(calls_, kThreads * kRequests);
}

TEST_F(HttpServerTest, StopLetsAnInFlightRequestFinish) {
  std::promise<void> entered;
  Router router;
  router.Get("/slow", [&](const Request&) -> Result<Response> {
    entered.set_value();
    std::this_thread::sleep_for(400ms);
    return Response::Text("done");
  });
  auto server = Start(std::move(router));
  ASSERT_TRUE(server);
  const std::uint16_t port = server->port();

  std::optional<RawConnection::Reply> reply;
  std::thread client([&] { reply = RawExchange(port, Get("/slow")); });
  entered.get_future().wait();
  const auto start = std::chrono::steady_clock::now();
  server->Stop(5s);
  const auto stop_took = std::chrono::steady_clock::now() - start;
  client.join();

  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "done");
  EXPECT_FALSE(reply->keep_alive);                // "Connection: close" while draining
  EXPECT_GE(stop_took, 200ms);                    // it waited for the handler ...
  EXPECT_LT(stop_took, 4s);                       // ... not for the grace period
  EXPECT_FALSE(RawConnection(port).connected());  // no longer listening
  server->Stop(5s);                               // idempotent
}

TEST_F(HttpServerTest, StopClosesIdleKeepAliveConnectionsAtOnce) {
  auto server = Start(DemoRouter());
  ASSERT_TRUE(server);
  RawConnection idle(server->port());
  ASSERT_TRUE(idle.Send(Get("/api/patients/p/readings")));
  ASSERT_TRUE(idle.Read().value().keep_alive);
  const auto start = std::chrono::steady_clock::now();
  server->Stop(10s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_TRUE(idle.ReadsEof());
}

TEST_F(HttpServerTest, StopGivesUpOnARequestThatOutlastsTheGracePeriod) {
  std::promise<void> entered;
  Router router;
  router.Get("/stuck", [&](const Request&) -> Result<Response> {
    entered.set_value();
    std::this_thread::sleep_for(500ms);
    return Response::Text("late");
  });
  auto server = Start(std::move(router));
  ASSERT_TRUE(server);
  std::thread client([port = server->port()] { (void)RawExchange(port, Get("/stuck")); });
  entered.get_future().wait();
  const auto start = std::chrono::steady_clock::now();
  server->Stop(50ms);
  // Bounded by the handler (it cannot be interrupted), not by anything the client does.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(server->active_connections(), 0u);
  client.join();
}

TEST_F(HttpServerTest, StartReportsBadOptionsAndBusyPorts) {
  auto first = Start(DemoRouter());
  ASSERT_TRUE(first);
  ServerOptions busy;
  busy.port = first->port();
  auto second = HttpServer::Start(busy, DemoRouter());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kUnavailable);

  ServerOptions bad_address;
  bad_address.address = "localhost";  // names are refused: bind to an address
  EXPECT_EQ(HttpServer::Start(bad_address, DemoRouter()).error().code(),
            ErrorCode::kInvalidArgument);
  ServerOptions no_threads;
  no_threads.io_threads = 0;
  EXPECT_EQ(HttpServer::Start(no_threads, DemoRouter()).error().code(),
            ErrorCode::kInvalidArgument);
  ServerOptions missing_tls;
  missing_tls.tls = TlsFiles{"/nonexistent/cert.pem", "/nonexistent/key.pem"};
  EXPECT_EQ(HttpServer::Start(missing_tls, DemoRouter()).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(HttpServerTest, DualStackListenerReportsIpv4ClientsAsIpv4) {
  auto server = HttpServer::Start(
      [] {
        ServerOptions o;
        o.address = "::";
        return o;
      }(),
      DemoRouter());
  if (!server) GTEST_SKIP() << "no IPv6 here: " << server.error().ToString();
  const auto reply = RawExchange((*server)->port(), Get("/api/patients/p/readings"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(Json(reply->body)["peer"], "127.0.0.1");  // not "::ffff:127.0.0.1"
}

// The routes of the limit tests:
//   GET  /hello   200 "hi"
//   GET  /login   marks the peer authenticated (as a handler does after a signature check)
//   POST /upload  answers the body's size (limit 32 bytes)
Router LimitsRouter() {
  Router router;
  router.Get("/hello", [](const Request&) -> Result<Response> { return Response::Text("hi"); });
  router.Get("/login", [](const Request& r) -> Result<Response> {
    r.MarkPeerAuthenticated();
    return Response::Text("welcome");
  });
  router.Post(
      "/upload",
      [](const Request& r) -> Result<Response> {
        return Response::Text(std::to_string(r.body.size()));
      },
      RouteOptions{.body_limit_bytes = 32});
  return router;
}

std::uint64_t CounterValue(MetricsRegistry& metrics, const std::string& name,
                           const std::map<std::string, std::string>& labels) {
  const auto parsed = testing::ParseExposition(metrics.Render());
  const auto value = testing::FindSample(parsed, name, labels);
  return value ? std::stoull(*value) : 0;
}

TEST_F(HttpServerTest, OneSourceIsCappedWithoutLockingOthersOut) {
  auto server =
      Start(LimitsRouter(), {}, [](ServerOptions& o) { o.max_connections_per_source = 2; });
  ASSERT_TRUE(server);
  RawConnection a(server->port(), 5s, "127.0.0.2");
  RawConnection b(server->port(), 5s, "127.0.0.2");
  ASSERT_TRUE(a.Send(ContinuePost("/upload", 5)));
  ASSERT_TRUE(b.Send(ContinuePost("/upload", 5)));
  ASSERT_EQ(a.Read().value().status, 100);
  ASSERT_EQ(b.Read().value().status, 100);
  // Both of 127.0.0.2's connections have a request in progress: a third has no room.
  RawConnection c(server->port(), 5s, "127.0.0.2");
  ASSERT_TRUE(c.connected());
  EXPECT_TRUE(c.ReadsEof());
  EXPECT_EQ(CounterValue(metrics_, "medmesh_http_connections_rejected_total", {{"server", "test"}}),
            1u);
  // Another source is served, and so are the two requests in progress.
  RawConnection d(server->port(), 5s, "127.0.0.3");
  ASSERT_TRUE(d.Send(Get("/hello")));
  EXPECT_EQ(d.Read().value().status, 200);
  ASSERT_TRUE(a.Send("hello"));
  EXPECT_EQ(a.Read().value().body, "5");
}

TEST_F(HttpServerTest, WhenFullTheOldestSlowHeadMakesRoomForANewClient) {
  auto server = Start(LimitsRouter(), {}, [](ServerOptions& o) {
    o.max_connections = 3;
    o.reserved_connections = 1;  // two slots for unauthenticated sources
  });
  ASSERT_TRUE(server);
  RawConnection slow1(server->port(), 5s, "127.0.0.2");
  ASSERT_TRUE(slow1.Send("GET /hello HTTP/1.1\r\nHost:"));
  ASSERT_TRUE(WaitFor([&] { return server->active_connections() == 1; }));
  RawConnection slow2(server->port(), 5s, "127.0.0.3");
  ASSERT_TRUE(slow2.Send("GET /hello HTTP/1.1\r\nHost:"));
  ASSERT_TRUE(WaitFor([&] { return server->active_connections() == 2; }));

  RawConnection fresh(server->port(), 5s, "127.0.0.4");
  ASSERT_TRUE(fresh.Send(Get("/hello")));
  EXPECT_EQ(fresh.Read().value().status, 200);
  EXPECT_TRUE(slow1.ReadsEof());  // the oldest head in progress was evicted
  EXPECT_EQ(CounterValue(metrics_, "medmesh_http_connections_evicted_total", {{"server", "test"}}),
            1u);
  ASSERT_TRUE(slow2.Send(" t\r\n\r\n"));  // the younger one can still finish
  EXPECT_EQ(slow2.Read().value().status, 200);
}

TEST_F(HttpServerTest, ReservedSlotsLetAnAuthenticatedSourceInWhenOthersAreBusy) {
  auto server = Start(LimitsRouter(), {}, [](ServerOptions& o) {
    o.max_connections = 3;
    o.reserved_connections = 1;
  });
  ASSERT_TRUE(server);
  {
    RawConnection login(server->port(), 5s, "127.0.0.5");
    ASSERT_TRUE(login.Send(Get("/login")));
    ASSERT_EQ(login.Read().value().status, 200);
  }
  ASSERT_TRUE(WaitFor([&] { return server->active_connections() == 0; }));
  RawConnection a(server->port(), 5s, "127.0.0.2");
  RawConnection b(server->port(), 5s, "127.0.0.3");
  ASSERT_TRUE(a.Send(ContinuePost("/upload", 5)));
  ASSERT_TRUE(b.Send(ContinuePost("/upload", 5)));
  ASSERT_EQ(a.Read().value().status, 100);
  ASSERT_EQ(b.Read().value().status, 100);

  RawConnection stranger(server->port(), 5s, "127.0.0.4");
  EXPECT_TRUE(stranger.ReadsEof());  // only the reserved slot is left
  RawConnection known(server->port(), 5s, "127.0.0.5");
  ASSERT_TRUE(known.Send(Get("/hello")));
  EXPECT_EQ(known.Read().value().status, 200);
}

TEST_F(HttpServerTest, AHeadMustArriveWithinTheHeadTimeoutAlsoOnAKeptAliveConnection) {
  auto server = Start(LimitsRouter(), {}, [](ServerOptions& o) {
    o.head_timeout = 200ms;
    o.idle_timeout = 60s;
    o.read_timeout = 60s;
  });
  ASSERT_TRUE(server);
  RawConnection first(server->port());
  ASSERT_TRUE(first.Send("GET /hello HTTP/1.1\r\nHost:"));
  EXPECT_TRUE(first.ReadsEof());  // well before the 5 s read timeout of RawConnection

  RawConnection kept(server->port());
  ASSERT_TRUE(kept.Send(Get("/hello")));
  ASSERT_EQ(kept.Read().value().status, 200);
  // One byte of a next head starts the head deadline, not another idle wait.
  ASSERT_TRUE(kept.Send("G"));
  EXPECT_TRUE(kept.ReadsEof());
}

TEST_F(HttpServerTest, KeptAliveConnectionsWaitLessUnderPressure) {
  auto server = Start(LimitsRouter(), {}, [](ServerOptions& o) {
    o.max_connections = 2;  // pressure from one open connection on
    o.reserved_connections = 0;
    o.idle_timeout = 60s;
    o.idle_timeout_under_pressure = 100ms;
  });
  ASSERT_TRUE(server);
  RawConnection kept(server->port());
  ASSERT_TRUE(kept.Send(Get("/hello")));
  ASSERT_EQ(kept.Read().value().status, 200);
  EXPECT_TRUE(kept.ReadsEof());  // closed after 100 ms, not 60 s
}

TEST_F(HttpServerTest, LargeBodiesNeedRoomInTheBodyBudget) {
  auto server = Start(LimitsRouter(), {}, [](ServerOptions& o) {
    o.body_budget = {.large_body_bytes = 8,
                     .total_bytes = 64,
                     .reserved_bytes = 16,
                     .per_source_bytes = 32,
                     .max_large_bodies = 4,
                     .reserved_large_bodies = 1,
                     .max_large_bodies_per_source = 2};
  });
  ASSERT_TRUE(server);
  RawConnection a(server->port(), 5s, "127.0.0.2");
  ASSERT_TRUE(a.Send(ContinuePost("/upload", 30)));
  ASSERT_EQ(a.Read().value().status, 100);

  // The same source over its share: 429, not read, connection closed.
  RawConnection b(server->port(), 5s, "127.0.0.2");
  ASSERT_TRUE(b.Send(ContinuePost("/upload", 30)));
  const auto too_many = b.Read();
  ASSERT_TRUE(too_many);
  EXPECT_EQ(too_many->status, 429);
  EXPECT_EQ(too_many->headers.at("retry-after"), "5");
  EXPECT_EQ(Json(too_many->body)["error"], "resource_exhausted");
  EXPECT_TRUE(b.ReadsEof());

  // Another source takes the rest of the unreserved budget (48 of 64) ...
  RawConnection c(server->port(), 5s, "127.0.0.3");
  ASSERT_TRUE(c.Send(ContinuePost("/upload", 18)));
  ASSERT_EQ(c.Read().value().status, 100);
  // ... so a third gets 503 ...
  RawConnection d(server->port(), 5s, "127.0.0.4");
  ASSERT_TRUE(d.Send(ContinuePost("/upload", 9)));
  const auto full = d.Read();
  ASSERT_TRUE(full);
  EXPECT_EQ(full->status, 503);
  EXPECT_EQ(full->headers.at("retry-after"), "5");
  EXPECT_TRUE(d.ReadsEof());
  // ... while an authenticated source still has the reserved part, and small bodies need
  // no budget at all.
  RawConnection e(server->port(), 5s, "127.0.0.5");
  ASSERT_TRUE(e.Send(Get("/login")));
  ASSERT_EQ(e.Read().value().status, 200);
  ASSERT_TRUE(e.Send(ContinuePost("/upload", 16)));
  ASSERT_EQ(e.Read().value().status, 100);
  RawConnection small(server->port(), 5s, "127.0.0.6");
  ASSERT_TRUE(small.Send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 8\r\n\r\n12345678"));
  EXPECT_EQ(small.Read().value().body, "8");

  // A finished body gives its share back.
  ASSERT_TRUE(a.Send(std::string(30, 'x')));
  EXPECT_EQ(a.Read().value().body, "30");
  RawConnection d2(server->port(), 5s, "127.0.0.4");
  ASSERT_TRUE(d2.Send(ContinuePost("/upload", 9)));
  EXPECT_EQ(d2.Read().value().status, 100);
  EXPECT_EQ(CounterValue(metrics_, "medmesh_http_body_refused_total",
                         {{"server", "test"}, {"reason", "source"}}),
            1u);
  EXPECT_EQ(CounterValue(metrics_, "medmesh_http_body_refused_total",
                         {{"server", "test"}, {"reason", "node"}}),
            1u);
}

TEST_F(HttpServerTest, StartRefusesLimitsThatCannotWork) {
  ServerOptions reserved_all;
  reserved_all.max_connections = 4;
  reserved_all.reserved_connections = 4;
  EXPECT_EQ(HttpServer::Start(reserved_all, LimitsRouter()).error().code(),
            ErrorCode::kInvalidArgument);
  ServerOptions reserved_budget;
  reserved_budget.body_budget.reserved_bytes = reserved_budget.body_budget.total_bytes;
  EXPECT_EQ(HttpServer::Start(reserved_budget, LimitsRouter()).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(HttpServerTest, AccessLinesAreSampledAndLogRoutesNotPaths) {
  testing::TempDir dir;
  const std::string log_path = (dir.path() / "access.log").string();
  log::SetFile(log_path);
  ::medmesh::testing::FakeClock clock;
  auto server = Start(DemoRouter(), {}, [&](ServerOptions& o) {
    o.access_log_lines_per_second = 2;
    o.clock = &clock;
  });
  ASSERT_TRUE(server);
  RawConnection c(server->port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.Send(Get("/api/patients/patient-4711/readings")));
    ASSERT_EQ(c.Read().value().status, 200);
  }
  ASSERT_TRUE(c.Send(Get("/throw")));  // server errors are always logged
  ASSERT_EQ(c.Read().value().status, 500);
  clock.Advance(1s);
  ASSERT_TRUE(c.Send(Get("/api/patients/patient-4711/readings")));
  ASSERT_EQ(c.Read().value().status, 200);
  server->Stop(1s);
  EXPECT_EQ(
      CounterValue(metrics_, "medmesh_http_access_log_suppressed_total", {{"server", "test"}}), 3u);

  std::ifstream in(log_path);
  std::string line;
  int access_lines = 0;
  int errors_logged = 0;
  std::uint64_t summarised = 0;
  while (std::getline(in, line)) {
    EXPECT_EQ(line.find("4711"), std::string::npos) << "patient id in the log: " << line;
    const auto event = nlohmann::json::parse(line);
    if (event["event"] == "http_access_suppressed")
      summarised += event["lines"].get<std::uint64_t>();
    if (event["event"] != "http_access") continue;
    ++access_lines;
    if (event["status"] == 500) ++errors_logged;
    if (event["status"] == 200) {
      EXPECT_EQ(event["route"], "/api/patients/{id}/readings");
    }
  }
  EXPECT_EQ(access_lines, 4);  // 2 of the first 5, the 500, the one in the next second
  EXPECT_EQ(errors_logged, 1);
  EXPECT_EQ(summarised, 3u);
}

// Deferred answers (Router::AddAsync): the I/O thread is free while the work runs elsewhere.
class DeferredAnswerTest : public HttpServerTest {
 protected:
  // POST /deferred hands its Responder and a copy of the body to `waiting_`;
  // POST /dropped drops the Responder; POST /now answers inside the handler;
  // POST /throwing throws; GET /api/patients/{id}/readings as in DemoRouter.
  Router AsyncRouter() {
    Router router = DemoRouter();
    router.AddAsync(Method::kPost, "/deferred", [this](const Request& r, Responder respond) {
      std::lock_guard lock(mu_);
      waiting_.emplace_back(std::string(r.body_text()), std::move(respond));
    });
    router.AddAsync(Method::kPost, "/dropped", [](const Request&, Responder) {});
    router.AddAsync(Method::kPost, "/now", [](const Request&, const Responder& respond) {
      respond(Error(ErrorCode::kResourceExhausted, "busy"));
    });
    router.AddAsync(Method::kPost, "/throwing", [](const Request&, const Responder&) {
      throw std::runtime_error("exception with /secret/path");
    });
    return router;
  }

  std::size_t Waiting() {
    std::lock_guard lock(mu_);
    return waiting_.size();
  }
  std::pair<std::string, Responder> TakeWaiting() {
    std::lock_guard lock(mu_);
    auto first = std::move(waiting_.front());
    waiting_.erase(waiting_.begin());
    return first;
  }

  std::mutex mu_;
  std::vector<std::pair<std::string, Responder>> waiting_;
};

std::string Post(std::string_view target, std::string_view body) {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

TEST_F(DeferredAnswerTest, AnotherThreadAnswersWhileTheOnlyIoThreadServesOthers) {
  auto server = Start(AsyncRouter(), {}, [](ServerOptions& o) { o.io_threads = 1; });
  ASSERT_TRUE(server);
  RawConnection slow(server->port());
  ASSERT_TRUE(slow.Send(Post("/deferred", "work")));
  ASSERT_TRUE(WaitFor([&] { return Waiting() == 1; }));
  // The single I/O thread is not held by the pending request.
  const auto other = RawExchange(server->port(), Get("/api/patients/x/readings"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);

  auto [body, respond] = TakeWaiting();
  std::thread worker([body = body, respond = respond] {
    respond(Response::Text("done " + body), /*peer_authenticated=*/true);
    respond(Response::Text("second answer ignored"));
  });
  worker.join();
  const auto reply = slow.Read();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "done work");
  EXPECT_TRUE(reply->keep_alive);
  // The connection carries the next request as usual.
  ASSERT_TRUE(slow.Send(Get("/api/patients/y/readings")));
  ASSERT_EQ(slow.Read().value().status, 200);
}

TEST_F(DeferredAnswerTest, ErrorsDroppedRespondersAndExceptionsAreAnswered) {
  auto server = Start(AsyncRouter());
  ASSERT_TRUE(server);
  const auto now = RawExchange(server->port(), Post("/now", "x"));
  ASSERT_TRUE(now);
  EXPECT_EQ(now->status, 429);
  EXPECT_EQ(Json(now->body)["error"], "resource_exhausted");
  const auto dropped = RawExchange(server->port(), Post("/dropped", "x"));
  ASSERT_TRUE(dropped);
  EXPECT_EQ(dropped->status, 503);
  const auto thrown = RawExchange(server->port(), Post("/throwing", "x"));
  ASSERT_TRUE(thrown);
  EXPECT_EQ(thrown->status, 500);
  EXPECT_EQ(thrown->body.find("secret"), std::string::npos);
}

TEST_F(DeferredAnswerTest, AnswersAfterTheClientLeftOrTheServerStoppedAreDropped) {
  auto server = Start(AsyncRouter());
  ASSERT_TRUE(server);
  {
    RawConnection gone(server->port());
    ASSERT_TRUE(gone.Send(Post("/deferred", "a")));
    ASSERT_TRUE(WaitFor([&] { return Waiting() == 1; }));
  }
  RawConnection stays(server->port());
  ASSERT_TRUE(stays.Send(Post("/deferred", "b")));
  ASSERT_TRUE(WaitFor([&] { return Waiting() == 2; }));
  // Nobody answers within the grace period: the server closes the connections and stops.
  server->Stop(50ms);
  EXPECT_TRUE(stays.ReadsEof());
  auto [a, respond_a] = TakeWaiting();
  auto [b, respond_b] = TakeWaiting();
  respond_a(Response::Text("late"));
  respond_b(Response::Text("late"));
  server.reset();
}

}  // namespace
}  // namespace medmesh::net
