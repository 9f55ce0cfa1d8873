#include "ids/ml/flow_features.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

namespace medmesh::ids::ml {
namespace {

constexpr std::string_view kNormal =
    "0,tcp,http,SF,232,8153,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,5,5,0.20,0.20,0.00,0.00,1.00,0.00,"
    "0.00,30,255,1.00,0.00,0.03,0.04,0.03,0.01,0.00,0.01,normal,21";

TEST(ParseKddLine, ParsesALabelledRecord) {
  auto flow = ParseKddLine(kNormal);
  ASSERT_TRUE(flow.has_value());
  EXPECT_EQ(flow->label, "normal");
  EXPECT_EQ(flow->record.protocol_type, "tcp");
  EXPECT_EQ(flow->record.service, "http");
  EXPECT_EQ(flow->record.flag, "SF");
  EXPECT_EQ(flow->record.numeric[1], 232);   // src_bytes
  EXPECT_EQ(flow->record.numeric[2], 8153);  // dst_bytes
  EXPECT_DOUBLE_EQ(flow->record.numeric[37], 0.01);
}

TEST(ParseKddLine, AcceptsUnlabelledAndCrlf) {
  std::string line(kNormal.substr(0, kNormal.rfind(",normal")));
  auto flow = ParseKddLine(line + "\r");
  ASSERT_TRUE(flow.has_value());
  EXPECT_TRUE(flow->label.empty());
}

TEST(ParseKddLine, RejectsMalformedRecordsWithoutEchoingThem) {
  std::string s(kNormal);
  for (std::string bad :
       {std::string("1,2,3"), s + ",extra", s.replace(0, 1, "x"),
        std::string(kNormal).replace(0, 1, "-1"), std::string(kNormal).replace(2, 3, "")}) {
    auto flow = ParseKddLine(bad);
    ASSERT_FALSE(flow.has_value());
    EXPECT_EQ(flow.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(flow.error().message().find("8153"), std::string::npos);
  }
}

TEST(FlowFeatures, LogScalesCountsAndOneHotsSymbols) {
  auto flow = ParseKddLine(kNormal);
  ASSERT_TRUE(flow.has_value());
  const auto f = ExtractFlowFeatures(flow->record);
  const auto& schema = FlowFeatureSchema();
  ASSERT_EQ(f.size(), schema.size());
  EXPECT_EQ(std::set<std::string>(schema.begin(), schema.end()).size(), schema.size());
  auto at = [&](const std::string& name) {
    for (std::size_t i = 0; i < schema.size(); ++i) {
      if (schema[i] == name) return f[i];
    }
    ADD_FAILURE() << name;
    return -1.0f;
  };
  EXPECT_FLOAT_EQ(at("log1p.src_bytes"), static_cast<float>(std::log1p(232.0)));
  EXPECT_FLOAT_EQ(at("same_srv_rate"), 1.0f);
  EXPECT_EQ(at("protocol_type=tcp"), 1);
  EXPECT_EQ(at("protocol_type=udp"), 0);
  EXPECT_EQ(at("service=http"), 1);
  EXPECT_EQ(at("service=?unknown"), 0);
  EXPECT_EQ(at("flag=SF"), 1);

  // v2: groups and derived values after the v1 layout.
  EXPECT_EQ(schema[kFlowV1FeatureCount - 1], "flag=?unknown");
  EXPECT_EQ(at("service_group=web"), 1);
  EXPECT_EQ(at("flag_group=closed"), 1);
  EXPECT_FLOAT_EQ(at("derived.log_bytes_ratio"),
                  static_cast<float>(std::log1p(232.0) - std::log1p(8153.0)));
  EXPECT_EQ(at("derived.zero_payload"), 0);

  FlowRecord unknown = flow->record;
  unknown.service = "gopher_v2";
  const auto g = ExtractFlowFeatures(unknown);
  for (std::size_t i = 0; i < schema.size(); ++i) {
    if (schema[i] == "service=?unknown") {
      EXPECT_EQ(g[i], 1);
    }
    if (schema[i] == "service=http") {
      EXPECT_EQ(g[i], 0);
    }
  }
}

TEST(KddAttackFamily, GroupsNames) {
  EXPECT_EQ(KddAttackFamily("neptune"), "dos");
  EXPECT_EQ(KddAttackFamily("satan"), "probe");
  EXPECT_EQ(KddAttackFamily("guess_passwd"), "r2l");
  EXPECT_EQ(KddAttackFamily("rootkit"), "u2r");
  EXPECT_EQ(KddAttackFamily("normal"), "normal");
  EXPECT_EQ(KddAttackFamily("brand_new"), "unknown");
}

}  // namespace
}  // namespace medmesh::ids::ml
