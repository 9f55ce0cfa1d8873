#include "net/internal/dispatcher.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "net/error_mapping.h"
#include "net/test_support.h"

namespace medmesh::net::internal {
namespace {

std::string ErrorName(const Response& r) {
  return nlohmann::json::parse(r.body)["error"].get<std::string>();
}

class DispatcherTest : public ::testing::Test {
 protected:
  Dispatcher Make(std::vector<Filter> filters = {}) {
    Router router;
    router.Get("/api/patients/{id}", [](const Request& r) -> Result<Response> {
      return Response::Text(std::string(*r.PathParam("id")));
    });
    router.Post(
        "/upload", [](const Request&) -> Result<Response> { return Response{}; },
        RouteOptions{.body_limit_bytes = 100});
    router.Get("/fail", [](const Request&) -> Result<Response> {
      return Internal("disk /srv/secret full");
    });
    router.Get("/throw", [](const Request&) -> Result<Response> {
      throw std::runtime_error("secret detail");
    });
    return {"test", std::move(router), std::move(filters), &metrics_};
  }

  Dispatcher::HeadOutcome Head(const Dispatcher& d, std::string_view method,
                               std::string_view target,
                               std::optional<std::uint64_t> length = std::nullopt) {
    request_ = Request{};
    request_.peer_address = "192.0.2.7";
    return d.OnHead(method, target, length, request_);
  }

  MetricsRegistry metrics_;
  Request request_;
};

TEST_F(DispatcherTest, RoutesAndFillsTheRequest) {
  const Dispatcher d = Make();
  const auto out = Head(d, "GET", "/api/patients/p%201?x=1");
  ASSERT_FALSE(out.response);
  ASSERT_NE(out.route, nullptr);
  EXPECT_EQ(out.route_label, "/api/patients/{id}");
  EXPECT_EQ(request_.method, Method::kGet);
  EXPECT_EQ(request_.path, "/api/patients/p%201");
  EXPECT_EQ(request_.route, "/api/patients/{id}");
  EXPECT_EQ(request_.PathParam("id"), "p 1");
  EXPECT_EQ(request_.QueryParam("x"), "1");
  EXPECT_EQ(d.Invoke(*out.route, request_).body, "p 1");
}

TEST_F(DispatcherTest, AnswersProtocolErrorsBeforeTheBody) {
  const Dispatcher d = Make();
  auto out = Head(d, "GET", "/nowhere");
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status, 404);
  EXPECT_EQ(out.route_label, "unmatched");

  out = Head(d, "DELETE", "/upload");
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status, 405);
  EXPECT_EQ(out.response->Header("Allow"), "POST");
  EXPECT_EQ(out.route_label, "/upload");

  out = Head(d, "POST", "/upload", 101);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status, 413);
  EXPECT_EQ(ErrorName(*out.response), "payload_too_large");
  out = Head(d, "POST", "/upload", 100);
  EXPECT_FALSE(out.response);

  EXPECT_FALSE(out.close_connection);  // a well-formed request: the connection stays usable

  out = Head(d, "BREW", "/upload");
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status, 501);
  EXPECT_TRUE(out.close_connection);

  out = Head(d, "GET", "/a/../upload");
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status, 400);
  EXPECT_EQ(ErrorName(*out.response), "invalid_argument");
  EXPECT_TRUE(out.close_connection);
}

TEST_F(DispatcherTest, FiltersRunFirstInOrderAndSeeTheHead) {
  std::vector<std::string> seen;
  const Dispatcher d = Make({
      [&](const Request& r) -> std::optional<Response> {
        seen.push_back("first " + r.peer_address + " " + std::string(r.path) +
                       " route=" + std::string(r.route));
        return std::nullopt;
      },
      [&](const Request& r) -> std::optional<Response> {
        if (r.QueryParam("block")) return JsonErrorResponse(403, "permission_denied", "blocked");
        return std::nullopt;
      },
      [&](const Request&) -> std::optional<Response> {
        seen.emplace_back("third");
        return std::nullopt;
      },
  });
  // Blocked before routing: the unknown path is not a 404, the big body not a 413.
  const auto out = Head(d, "POST", "/nowhere?block=1", 1 << 30);
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status, 403);
  EXPECT_EQ(out.route_label, "filtered");
  EXPECT_TRUE(out.close_connection);  // a filter refuses a client, not one request
  EXPECT_EQ(seen, (std::vector<std::string>{"first 192.0.2.7 /nowhere route="}));
  EXPECT_FALSE(Head(d, "GET", "/api/patients/1").response);
  EXPECT_EQ(seen.back(), "third");
}

TEST_F(DispatcherTest, AThrowingFilterIsAGeneric500) {
  const Dispatcher d = Make({[](const Request&) -> std::optional<Response> {
    throw std::runtime_error("filter secret");
  }});
  const auto out = Head(d, "GET", "/api/patients/1");
  ASSERT_TRUE(out.response);
  EXPECT_EQ(out.response->status, 500);
  EXPECT_EQ(out.response->body.find("secret"), std::string::npos);
}

TEST_F(DispatcherTest, HandlerErrorsAndExceptionsAreMappedWithoutLeaking) {
  const Dispatcher d = Make();
  auto out = Head(d, "GET", "/fail");
  const Response failed = d.Invoke(*out.route, request_);
  EXPECT_EQ(failed.status, 500);
  EXPECT_EQ(failed.body.find("secret"), std::string::npos);
  out = Head(d, "GET", "/throw");
  const Response thrown = d.Invoke(*out.route, request_);
  EXPECT_EQ(thrown.status, 500);
  EXPECT_EQ(ErrorName(thrown), "internal");
  EXPECT_EQ(thrown.body.find("secret"), std::string::npos);
}

TEST(DispatcherSanitizeTest, DropsUnsafeAndServerOwnedHeaders) {
  Response r = Response::Text("x");
  r.headers = {{"X-Ok", "fine"},
               {"X-Split", "a\r\nSet-Cookie: stolen=1"},
               {"Bad Name", "v"},
               {"X-Nul", std::string("a\0b", 3)},
               {"Content-Length", "999"},
               {"connection", "upgrade"},
               {"Transfer-Encoding", "chunked"}};
  Dispatcher::Sanitize(r);
  EXPECT_EQ(
      r.headers,
      (std::vector<std::pair<std::string, std::string>>{
          {"X-Ok", "fine"}, {"X-Content-Type-Options", "nosniff"}, {"Cache-Control", "no-store"}}));
}

TEST(DispatcherSanitizeTest, KeepsAHandlersCacheControl) {
  Response r;
  r.headers = {{"cache-control", "max-age=60"}};
  Dispatcher::Sanitize(r);
  EXPECT_EQ(r.Header("Cache-Control"), "max-age=60");
  EXPECT_EQ(r.headers.size(), 2u);
}

TEST(DispatcherSanitizeTest, FixesBodiesAndStatusesHttpForbids) {
  Response no_content = Response::Text("ignored", 204);
  Dispatcher::Sanitize(no_content);
  EXPECT_TRUE(no_content.body.empty());
  Response informational = Response::Text("x", 101);
  Dispatcher::Sanitize(informational);
  EXPECT_EQ(informational.status, 500);
  Response huge = Response::Text("x", 600);
  Dispatcher::Sanitize(huge);
  EXPECT_EQ(huge.status, 500);
}

TEST_F(DispatcherTest, RecordsRequestMetricsWithBoundedLabels) {
  const Dispatcher d = Make();
  d.Record("GET", "/api/patients/{id}", 200, std::chrono::milliseconds(3), "192.0.2.7");
  d.Record("GET", "/api/patients/{id}", 200, std::chrono::milliseconds(30), "192.0.2.7");
  d.Record("PROPFIND", "unmatched", 501, std::chrono::milliseconds(1), "192.0.2.7");
  const auto parsed = testing::ParseExposition(metrics_.Render());
  ASSERT_TRUE(parsed.errors.empty());
  EXPECT_EQ(testing::FindSample(parsed, "medmesh_http_requests_total",
                                {{"server", "test"},
                                 {"method", "GET"},
                                 {"route", "/api/patients/{id}"},
                                 {"status", "200"}}),
            "2");
  EXPECT_EQ(
      testing::FindSample(
          parsed, "medmesh_http_requests_total",
          {{"server", "test"}, {"method", "other"}, {"route", "unmatched"}, {"status", "501"}}),
      "1");
  EXPECT_EQ(testing::FindSample(parsed, "medmesh_http_request_duration_seconds_bucket",
                                {{"server", "test"},
                                 {"method", "GET"},
                                 {"route", "/api/patients/{id}"},
                                 {"le", "0.005"}}),
            "1");
  EXPECT_EQ(
      testing::FindSample(parsed, "medmesh_http_request_duration_seconds_count",
                          {{"server", "test"}, {"method", "GET"}, {"route", "/api/patients/{id}"}}),
      "2");
}

}  // namespace
}  // namespace medmesh::net::internal
