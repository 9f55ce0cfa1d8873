#include "net/http_message.h"

#include <gtest/gtest.h>

namespace medmesh::net {
namespace {

TEST(MethodTest, NamesRoundTrip) {
  for (Method m : {Method::kGet, Method::kHead, Method::kPost, Method::kPut, Method::kPatch,
                   Method::kDelete, Method::kOptions}) {
    EXPECT_EQ(ParseMethod(MethodName(m)), m);
  }
  EXPECT_EQ(MethodName(Method::kDelete), "DELETE");
}

TEST(MethodTest, ParsingIsCaseSensitiveAndClosed) {
  EXPECT_FALSE(ParseMethod("get"));
  EXPECT_FALSE(ParseMethod("PROPFIND"));
  EXPECT_FALSE(ParseMethod(""));
}

TEST(HeaderNameTest, ComparesIgnoringAsciiCase) {
  EXPECT_TRUE(EqualsIgnoreCase("Content-Type", "content-TYPE"));
  EXPECT_FALSE(EqualsIgnoreCase("Content-Type", "Content-Typ"));
  EXPECT_FALSE(EqualsIgnoreCase("a", "b"));
}

TEST(RequestTest, LooksUpParametersQueryAndHeaders) {
  Request r;
  r.path_params = {{"id", "p1"}};
  r.query = {{"tag", "a"}, {"tag", "b"}, {"empty", ""}};
  r.headers = {{"X-Trace", "t1"}, {"x-trace", "t2"}};
  EXPECT_EQ(r.PathParam("id"), "p1");
  EXPECT_FALSE(r.PathParam("other"));
  EXPECT_EQ(r.QueryParam("tag"), "a");  // the first of repeated keys
  EXPECT_EQ(r.QueryParam("empty"), "");
  EXPECT_FALSE(r.QueryParam("missing"));
  EXPECT_EQ(r.Header("x-TRACE"), "t1");
  EXPECT_FALSE(r.Header("Authorization"));
}

TEST(ResponseTest, FactoriesSetTypeStatusAndBody) {
  const Response json = Response::Json(R"({"a":1})", 201);
  EXPECT_EQ(json.status, 201);
  EXPECT_EQ(json.content_type, "application/json");
  const Response text = Response::Text("hi");
  EXPECT_EQ(text.status, 200);
  EXPECT_EQ(text.content_type, "text/plain; charset=utf-8");
  const Bytes raw = {0, 1, 2, 255};
  const Response binary = Response::Binary(raw);
  EXPECT_EQ(binary.content_type, "application/octet-stream");
  EXPECT_EQ(Bytes(binary.body_bytes().begin(), binary.body_bytes().end()), raw);
}

}  // namespace
}  // namespace medmesh::net
