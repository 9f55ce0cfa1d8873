#include "net/builtin_endpoints.h"

#include <gtest/gtest.h>

#include <atomic>

#include "net/internal/request_target.h"
#include "net/test_support.h"

namespace medmesh::net {
namespace {

Response Call(const Router& router, std::string_view target) {
  const auto segments = internal::ParseRequestTarget(target).value().segments;
  const RouteMatch match = router.Find(Method::kGet, segments);
  EXPECT_EQ(match.kind, RouteMatch::Kind::kFound) << target;
  return match.route->handler(Request{}).value();
}

TEST(BuiltinEndpointsTest, HealthIsAlwaysOkAndReadinessFollowsTheCallback) {
  std::atomic<bool> ready{false};
  Router router;
  AddHealthEndpoints(router, [&] { return ready.load(); });
  EXPECT_EQ(Call(router, "/healthz").status, 200);
  const Response not_ready = Call(router, "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(not_ready.body, R"({"error":"unavailable","message":"service unavailable"})");
  ready = true;
  EXPECT_EQ(Call(router, "/readyz").status, 200);
}

TEST(BuiltinEndpointsTest, MetricsServesTheRegistryAsText) {
  MetricsRegistry registry;
  registry.AddCounter("medmesh_test_total", "T.").WithLabels({}).Increment(5);
  Router router;
  AddMetricsEndpoint(router, registry);
  const Response r = Call(router, "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(testing::FindSample(testing::ParseExposition(r.body), "medmesh_test_total", {}), "5");
}

}  // namespace
}  // namespace medmesh::net
