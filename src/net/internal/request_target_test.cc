#include "net/internal/request_target.h"

#include <gtest/gtest.h>

namespace medmesh::net::internal {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;
using Strings = std::vector<std::string>;

TEST(RequestTargetTest, SplitsAndDecodesPathAndQuery) {
  const auto t = ParseRequestTarget("/api/patients/p%201/readings?from=1&tag=a+b&tag=c%26d&flag");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->path, "/api/patients/p%201/readings");  // as received
  EXPECT_EQ(t->segments, (Strings{"api", "patients", "p 1", "readings"}));
  EXPECT_EQ(t->query, (Pairs{{"from", "1"}, {"tag", "a b"}, {"tag", "c&d"}, {"flag", ""}}));
}

TEST(RequestTargetTest, RootEmptyAndTrailingSegments) {
  EXPECT_EQ(ParseRequestTarget("/")->segments, Strings{});
  EXPECT_EQ(ParseRequestTarget("/a/")->segments, (Strings{"a", ""}));
  EXPECT_EQ(ParseRequestTarget("//a")->segments, (Strings{"", "a"}));
  EXPECT_EQ(ParseRequestTarget("/a?")->query, Pairs{});
  EXPECT_EQ(ParseRequestTarget("/a?&x=1&&")->query, (Pairs{{"x", "1"}}));
  EXPECT_EQ(ParseRequestTarget("/a?=v")->query, (Pairs{{"", "v"}}));
  EXPECT_EQ(ParseRequestTarget("/a%2Fb")->segments, Strings{"a/b"});
}

TEST(RequestTargetTest, RefusesWhatIsNotOriginForm) {
  for (const char* bad :
       {"", "*", "api/x", "http://host/x", "host:80", "/a b", "/a#frag", "/%zz", "/a\r\n"}) {
    const auto t = ParseRequestTarget(bad);
    ASSERT_FALSE(t) << bad;
    EXPECT_EQ(t.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(RequestTargetTest, RefusesDotSegmentsEvenEncoded) {
  for (const char* bad : {"/a/../b", "/a/./b", "/..", "/a/%2e%2e/b", "/a/%2E/b"}) {
    EXPECT_FALSE(ParseRequestTarget(bad)) << bad;
  }
  EXPECT_TRUE(ParseRequestTarget("/a/...b/.c"));  // not dot segments
}

TEST(RequestTargetTest, RefusesNulBytes) {
  EXPECT_FALSE(ParseRequestTarget("/a%00b"));
  EXPECT_FALSE(ParseRequestTarget("/a?k=%00"));
  EXPECT_FALSE(ParseRequestTarget("/a?%00=v"));
}

}  // namespace
}  // namespace medmesh::net::internal
