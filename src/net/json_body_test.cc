#include "net/json_body.h"

#include <gtest/gtest.h>

#include <string>

namespace medmesh::net {
namespace {

constexpr JsonField kFields[] = {
    {"id", JsonType::kString},           {"count", JsonType::kInteger},
    {"ratio", JsonType::kNumber, false}, {"on", JsonType::kBoolean, false},
    {"tags", JsonType::kArray, false},   {"extra", JsonType::kObject, false}};

Request JsonRequest(const std::string& body, std::string_view content_type = "application/json") {
  Request r;
  r.method = Method::kPost;
  r.body = AsBytes(body);
  if (!content_type.empty()) r.headers.emplace_back("Content-Type", content_type);
  return r;
}

TEST(JsonBodyTest, AcceptsOnlyJsonContentTypes) {
  EXPECT_TRUE(IsJsonContentType("application/json"));
  EXPECT_TRUE(IsJsonContentType("Application/JSON"));
  EXPECT_TRUE(IsJsonContentType("application/json; charset=utf-8"));
  EXPECT_TRUE(IsJsonContentType("application/json;charset=UTF-8"));
  EXPECT_FALSE(IsJsonContentType(std::nullopt));
  EXPECT_FALSE(IsJsonContentType(""));
  EXPECT_FALSE(IsJsonContentType("text/plain"));
  EXPECT_FALSE(IsJsonContentType("application/x-www-form-urlencoded"));
  EXPECT_FALSE(IsJsonContentType("application/jsonx"));
  EXPECT_FALSE(IsJsonContentType("application/json; charset=latin1"));
  EXPECT_FALSE(IsJsonContentType("application/json; boundary=x"));
  EXPECT_FALSE(IsJsonContentType("application/json;"));
}

TEST(JsonBodyTest, RefusesDuplicateNamesAtAnyDepth) {
  EXPECT_TRUE(ParseStrictJson(R"({"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]})").has_value());
  for (const char* text :
       {R"({"a":1,"a":2})", R"({"a":"x","b":1,"a":"y"})", R"({"b":{"x":1,"x":1}})",
        R"({"c":[{"y":1},{"y":1,"y":2}]})", R"([{"z":0,"z":0}])"}) {
    auto parsed = ParseStrictJson(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message().find("twice"), std::string::npos) << text;
  }
}

TEST(JsonBodyTest, RefusesInvalidOrTooDeepJsonWithoutQuotingIt) {
  for (const std::string& text :
       {std::string(R"({"secret-value":)"), std::string("{\"a\":\"\xff\"}"), std::string(""),
        std::string(R"({"a":1} {"b":2})"),
        std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']')}) {
    auto parsed = ParseStrictJson(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(parsed.error().message().find("secret"), std::string::npos);
  }
  EXPECT_TRUE(ParseStrictJson(std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']'))
                  .has_value());
}

TEST(JsonBodyTest, ChecksFieldsAndTypes) {
  auto ok = [](const char* text) {
    return CheckJsonFields(nlohmann::json::parse(text), kFields).has_value();
  };
  EXPECT_TRUE(ok(R"({"id":"x","count":3})"));
  EXPECT_TRUE(ok(R"({"id":"x","count":3,"ratio":0.5,"on":true,"tags":[],"extra":{}})"));
  EXPECT_TRUE(ok(R"({"id":"x","count":3,"ratio":2})"));   // an integer is a number
  EXPECT_FALSE(ok(R"({"id":"x"})"));                      // required field missing
  EXPECT_FALSE(ok(R"({"id":"x","count":3,"other":1})"));  // unknown field
  EXPECT_FALSE(ok(R"({"id":1,"count":3})"));
  EXPECT_FALSE(ok(R"({"id":"x","count":3.0})"));
  EXPECT_FALSE(ok(R"({"id":"x","count":"3"})"));
  EXPECT_FALSE(ok(R"({"id":"x","count":3,"on":1})"));
  EXPECT_FALSE(ok(R"({"id":null,"count":3})"));
  EXPECT_FALSE(ok(R"(["id","count"])"));
  const Status unknown =
      CheckJsonFields(nlohmann::json::parse(R"({"id":"x","count":1,"p-42":1})"), kFields);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().message().find("p-42"), std::string::npos);  // input not echoed
}

TEST(JsonBodyTest, ParseJsonBodyAnswers415Or400) {
  const std::string good = R"({"id":"x","count":1})";
  JsonBody body = ParseJsonBody(JsonRequest(good), kFields);
  ASSERT_TRUE(std::holds_alternative<nlohmann::json>(body));
  EXPECT_EQ(std::get<nlohmann::json>(body)["id"], "x");

  for (std::string_view type : {"", "text/plain", "application/octet-stream"}) {
    body = ParseJsonBody(JsonRequest(good, type), kFields);
    ASSERT_TRUE(std::holds_alternative<Response>(body)) << type;
    EXPECT_EQ(std::get<Response>(body).status, 415) << type;
    EXPECT_EQ(nlohmann::json::parse(std::get<Response>(body).body)["error"],
              "unsupported_media_type");
  }
  for (const std::string& bad : {std::string(R"({"id":"x","id":"y","count":1})"),
                                 std::string(R"({"id":"x","count":1,"more":true})"),
                                 std::string(R"({"id":"x","count":"1"})"), std::string("{")}) {
    body = ParseJsonBody(JsonRequest(bad), kFields);
    ASSERT_TRUE(std::holds_alternative<Response>(body)) << bad;
    EXPECT_EQ(std::get<Response>(body).status, 400) << bad;
    EXPECT_EQ(nlohmann::json::parse(std::get<Response>(body).body)["error"], "invalid_argument");
  }
}

}  // namespace
}  // namespace medmesh::net
