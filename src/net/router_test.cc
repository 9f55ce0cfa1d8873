#include "net/router.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "net/internal/request_target.h"

namespace medmesh::net {
namespace {

Handler Named(std::string name) {
  return
      [name = std::move(name)](const Request&) -> Result<Response> { return Response::Text(name); };
}

std::vector<std::string> Segments(std::string_view target) {
  return internal::ParseRequestTarget(target).value().segments;
}

// The name of the handler a request reaches, or "404"/"405 <Allow>".
std::string Resolve(const Router& router, Method method, std::string_view target) {
  const RouteMatch match = router.Find(method, Segments(target));
  switch (match.kind) {
    case RouteMatch::Kind::kNotFound: return "404";
    case RouteMatch::Kind::kMethodNotAllowed: return "405 " + match.allow;
    case RouteMatch::Kind::kFound: break;
  }
  return match.route->handler(Request{}).value().body;
}

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() {
    router_.Get("/", Named("root"));
    router_.Get("/healthz", Named("health"));
    router_.Get("/api/patients/{id}", Named("patient"));
    router_.Delete("/api/patients/{id}", Named("delete patient"));
    router_.Get("/api/patients/me", Named("me"));
    router_.Get("/api/patients/{id}/readings", Named("readings"));
    router_.Post("/api/patients/{id}/readings", Named("add readings"));
    router_.Get("/a/{x}/c", Named("a-x-c"));
    router_.Get("/a/b/d", Named("a-b-d"));
  }
  Router router_;
};

TEST_F(RouterTest, MatchesLiteralsAndParameters) {
  EXPECT_EQ(Resolve(router_, Method::kGet, "/"), "root");
  EXPECT_EQ(Resolve(router_, Method::kGet, "/healthz"), "health");
  EXPECT_EQ(Resolve(router_, Method::kGet, "/api/patients/p17"), "patient");
  EXPECT_EQ(Resolve(router_, Method::kGet, "/api/patients/p17/readings"), "readings");
  EXPECT_EQ(Resolve(router_, Method::kPost, "/api/patients/p17/readings"), "add readings");
  EXPECT_EQ(Resolve(router_, Method::kDelete, "/api/patients/p17"), "delete patient");
}

TEST_F(RouterTest, ExtractsDecodedParameters) {
  const RouteMatch match =
      router_.Find(Method::kGet, Segments("/api/patients/p%2F1%20x/readings?from=3"));
  ASSERT_EQ(match.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(match.route->pattern, "/api/patients/{id}/readings");
  ASSERT_EQ(match.params.size(), 1u);
  EXPECT_EQ(match.params[0].first, "id");
  EXPECT_EQ(match.params[0].second, "p/1 x");  // %2F stays inside the parameter
}

TEST_F(RouterTest, LiteralsWinAndSearchBacktracks) {
  EXPECT_EQ(Resolve(router_, Method::kGet, "/api/patients/me"), "me");
  // "me" as a literal leads nowhere for .../readings, so the parameter branch is taken.
  EXPECT_EQ(Resolve(router_, Method::kGet, "/api/patients/me/readings"), "readings");
  EXPECT_EQ(Resolve(router_, Method::kGet, "/a/b/d"), "a-b-d");
  EXPECT_EQ(Resolve(router_, Method::kGet, "/a/b/c"), "a-x-c");
  // A literal that has the path but not the method does not hide a parameter that has both.
  EXPECT_EQ(Resolve(router_, Method::kDelete, "/api/patients/me"), "delete patient");
}

TEST_F(RouterTest, UnknownPathsAre404) {
  EXPECT_EQ(Resolve(router_, Method::kGet, "/nope"), "404");
  EXPECT_EQ(Resolve(router_, Method::kGet, "/api/patients"), "404");
  EXPECT_EQ(Resolve(router_, Method::kGet, "/healthz/"), "404");  // trailing slash matters
  EXPECT_EQ(Resolve(router_, Method::kGet, "/api/patients//readings"), "404");  // empty param
  EXPECT_EQ(Resolve(router_, Method::kGet, "/api/patients/p1/readings/x"), "404");
}

TEST_F(RouterTest, WrongMethodIs405WithAllow) {
  EXPECT_EQ(Resolve(router_, Method::kPost, "/healthz"), "405 GET, HEAD");
  EXPECT_EQ(Resolve(router_, Method::kPut, "/api/patients/p1/readings"), "405 GET, HEAD, POST");
  EXPECT_EQ(Resolve(router_, Method::kPost, "/api/patients/p1"), "405 GET, HEAD, DELETE");
}

TEST_F(RouterTest, HeadFallsBackToGet) {
  EXPECT_EQ(Resolve(router_, Method::kHead, "/healthz"), "health");
  router_.Add(Method::kHead, "/api/patients/{id}", Named("head patient"));
  EXPECT_EQ(Resolve(router_, Method::kHead, "/api/patients/p1"), "head patient");
  EXPECT_EQ(Resolve(router_, Method::kPost, "/api/patients/p1"), "405 GET, HEAD, DELETE");
}

TEST_F(RouterTest, KeepsRouteOptionsAndListsRoutes) {
  router_.Put("/upload", Named("upload"), RouteOptions{.body_limit_bytes = 123});
  const RouteMatch match = router_.Find(Method::kPut, Segments("/upload"));
  ASSERT_EQ(match.kind, RouteMatch::Kind::kFound);
  EXPECT_EQ(match.route->options.body_limit_bytes, 123u);
  EXPECT_EQ(router_.Find(Method::kGet, Segments("/")).route->options.body_limit_bytes,
            kDefaultBodyLimitBytes);
  EXPECT_EQ(router_.routes().size(), 10u);
}

TEST_F(RouterTest, SurvivesAMove) {
  const Route* before = router_.Find(Method::kGet, Segments("/healthz")).route;
  Router moved = std::move(router_);
  EXPECT_EQ(moved.Find(Method::kGet, Segments("/healthz")).route, before);
}

TEST(RouterDeathTest, BadPatternsAbort) {
  Router router;
  router.Get("/a/{id}", Named("a"));
  EXPECT_DEATH(router.Get("a", Named("x")), "must start with '/'");
  EXPECT_DEATH(router.Get("/a/", Named("x")), "empty segment");
  EXPECT_DEATH(router.Get("/a//b", Named("x")), "empty segment");
  EXPECT_DEATH(router.Get("/{1x}", Named("x")), "bad route parameter name");
  EXPECT_DEATH(router.Get("/{x", Named("x")), "unclosed");
  EXPECT_DEATH(router.Get("/{x}/{x}", Named("x")), "used twice");
  EXPECT_DEATH(router.Get("/a/{name}", Named("x")), "differently");
  EXPECT_DEATH(router.Get("/a/{id}", Named("x")), "registered twice");
  EXPECT_DEATH(router.Get("/a/../b", Named("x")), "dot segment");
  EXPECT_DEATH(router.Get("/a b", Named("x")), "bad character");
  EXPECT_DEATH(router.Get("/b", nullptr), "empty");
}

}  // namespace
}  // namespace medmesh::net
