// The normal-flow profile (flow model v2): rarity of unusual records, NaN without a profile, JSON.
#include "ids/ml/flow_profile.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/check.h"

namespace medmesh::ids::ml {
namespace {

constexpr const char* kBrowsing =
    "0,tcp,http,SF,232,8153,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,5,5,0.20,0.20,0.00,0.00,1.00,0.00,"
    "0.00,30,255,1.00,0.00,0.03,0.04,0.03,0.01,0.00,0.01";
// Many failed logins on telnet: nothing like the normal records below.
constexpr const char* kGuessing =
    "2,tcp,telnet,RSTO,125,179,0,0,0,0,4,0,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,1.00,1.00,1.00,0.00,"
    "0.00,1,1,1.00,0.00,1.00,0.00,0.00,0.00,1.00,1.00";

FlowRecord Parse(const char* line) {
  auto flow = ParseKddLine(line);
  MEDMESH_CHECK(flow.has_value(), "test record");
  return flow->record;
}

FlowProfile Normal() {
  FlowProfile p;
  for (int i = 0; i < 2000; ++i) {  // enough for "rarer than 1 in 1,000"
    FlowRecord r = Parse(kBrowsing);
    r.numeric[1] = 200 + i % 200;  // src_bytes varies a little
    p.AddNormal(r);
  }
  return p;
}

float At(const std::array<float, kFlowProfileFeatureCount>& f, std::string_view name) {
  for (std::size_t i = 0; i < kFlowProfileFeatureCount; ++i) {
    if (FlowProfileFeatureNames()[i] == name) return f[i];
  }
  ADD_FAILURE() << name;
  return -1;
}

TEST(FlowProfile, UnusualRecordsAreRarer) {
  const FlowProfile p = Normal();
  const auto normal = p.Features(Parse(kBrowsing));
  const auto attack = p.Features(Parse(kGuessing));
  EXPECT_GT(At(attack, "global_sum"), At(normal, "global_sum") + 10);
  EXPECT_GT(At(attack, "group_max"), At(normal, "group_max"));
  EXPECT_GE(At(attack, "rare_features"), 5);
  EXPECT_EQ(At(normal, "rare_features"), 0);
  EXPECT_GT(At(attack, "service"), At(normal, "service"));
  EXPECT_GT(At(attack, "service_flag"), At(normal, "service_flag"));
  for (float v : FlowProfile().Features(Parse(kGuessing))) EXPECT_TRUE(std::isnan(v));
}

TEST(FlowProfile, JsonRoundTrip) {
  const FlowProfile p = Normal();
  auto back = FlowProfile::FromJson(p.ToJson());
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->ToJson(), p.ToJson());
  EXPECT_TRUE(back->Features(Parse(kGuessing)) == p.Features(Parse(kGuessing)));
  EXPECT_FALSE(FlowProfile::FromJson("{\"format\":\"medmesh-flow-profile-1\"}").has_value());
  EXPECT_FALSE(FlowProfile::FromJson("[]").has_value());
}

}  // namespace
}  // namespace medmesh::ids::ml
