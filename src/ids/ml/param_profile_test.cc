// The benign parameter profile (request model v2): what it learns, the features it gives, its
// scope, and its JSON form.
#include "ids/ml/param_profile.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace medmesh::ids::ml {
namespace {

float At(const std::array<float, kProfileFeatureCount>& f, std::string_view name) {
  for (std::size_t i = 0; i < kProfileFeatureCount; ++i) {
    if (ProfileFeatureNames()[i] == name) return f[i];
  }
  ADD_FAILURE() << "no profile feature " << name;
  return -1;
}

// A small shop: product pages with a numeric id and a quantity, a login form.
ParamProfile Shop() {
  ParamProfile p;
  for (int i = 1; i <= 20; ++i) {
    const std::string query = "id=" + std::to_string(i % 3 + 1) + "&cantidad=" + std::to_string(i);
    p.AddBenign({"GET", "/shop/public/add.jsp", query, ""});
    const std::string body = "login=user" + std::to_string(i) + "&pwd=Secret" + std::to_string(i);
    p.AddBenign({"POST", "/shop/public/login.jsp", "", body});
  }
  return p;
}

TEST(ParamProfile, BenignRequestsLookNormal) {
  const ParamProfile p = Shop();
  const auto f = p.Features({"GET", "/shop/public/add.jsp", "id=2&cantidad=7", ""});
  for (std::size_t i = 0; i < kProfileFeatureCount; ++i) {
    SCOPED_TRACE(std::string(ProfileFeatureNames()[i]));
    EXPECT_EQ(f[i], 0.0f);
  }
}

TEST(ParamProfile, UnusualValuesNamesAndPathsStandOut) {
  const ParamProfile p = Shop();
  // A quote and letters in a numeric parameter: new bytes, a new value and a new shape.
  auto f = p.Features({"GET", "/shop/public/add.jsp", "id=2&cantidad=7%27+or+1", ""});
  EXPECT_GE(At(f, "novel_chars"), 3);
  EXPECT_GT(At(f, "novel_char_frac"), 0.5f);
  EXPECT_EQ(At(f, "shape_miss"), 1);  // cantidad's only shape was "9"
  EXPECT_EQ(At(f, "enum_miss"), 1);   // and its 20 values are few enough to be a closed set
  EXPECT_GT(At(f, "len_over"), 0);
  // id took three values only: a fourth is an enumeration miss.
  f = p.Features({"GET", "/shop/public/add.jsp", "id=9&cantidad=7", ""});
  EXPECT_EQ(At(f, "enum_miss"), 1);
  EXPECT_EQ(At(f, "novel_chars"), 1);  // '9' never appeared in id
  // An unknown parameter, a known one on the wrong page, a missing one, an unknown page.
  f = p.Features({"GET", "/shop/public/add.jsp", "id=2&debug=1&login=user1", ""});
  EXPECT_EQ(At(f, "unknown_names"), 1);
  EXPECT_EQ(At(f, "names_new_for_path"), 1);
  EXPECT_EQ(At(f, "missing_names"), 1);  // cantidad
  EXPECT_EQ(At(f, "path_unknown"), 0);
  f = p.Features({"GET", "/shop/public/add.jsp.bak", "", ""});
  EXPECT_EQ(At(f, "path_unknown"), 1);
}

TEST(ParamProfile, RequestsOutsideTheApplicationAreNotProfiled) {
  const ParamProfile p = Shop();
  EXPECT_TRUE(p.InScope("/shop/public/anything.jsp"));
  EXPECT_FALSE(p.InScope("/api/v1/readings"));
  const auto f = p.Features({"POST", "/api/v1/readings", "", "note=headache"});
  for (float v : f) EXPECT_TRUE(std::isnan(v));
  for (float v : ParamProfile().Features({"GET", "/shop/public/add.jsp", "id=1", ""})) {
    EXPECT_TRUE(std::isnan(v));
  }
}

TEST(ParamProfile, JsonRoundTripKeepsTheFeaturesAndRefusesGarbage) {
  const ParamProfile p = Shop();
  const std::string json = p.ToJson();
  EXPECT_EQ(json.find("cantidad"), std::string::npos);  // names are stored as hashes only
  EXPECT_EQ(json.find("Secret"), std::string::npos);
  auto back = ParamProfile::FromJson(json);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(back->ToJson(), json);
  for (const HttpRequestInput& r :
       {HttpRequestInput{"GET", "/shop/public/add.jsp", "id=2&cantidad=7%27", ""},
        HttpRequestInput{"POST", "/shop/public/login.jsp", "", "login=x&pwd=%3Cscript%3E"}}) {
    const auto a = p.Features(r);
    const auto b = back->Features(r);
    for (std::size_t i = 0; i < kProfileFeatureCount; ++i) EXPECT_EQ(a[i], b[i]);
  }
  EXPECT_FALSE(ParamProfile::FromJson("{}").has_value());
  EXPECT_FALSE(ParamProfile::FromJson("not json").has_value());
  std::string broken = json;
  broken.replace(broken.find("\"bytes\": \"") + 10, 1, "2");
  EXPECT_FALSE(ParamProfile::FromJson(broken).has_value());
}

}  // namespace
}  // namespace medmesh::ids::ml
