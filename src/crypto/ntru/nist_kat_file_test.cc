#include "crypto/ntru/nist_kat_file.h"

#include <gtest/gtest.h>

#include <string>

namespace medmesh::crypto::testing {
namespace {

TEST(NistKatFileTest, ParsesRecordsCommentsAndBlankLines) {
  Result<NistKatFile> file = ParseNistKatFile(
      "# ntruhps2048677\n"
      "\n"
      "count = 0\n"
      "seed = 00ff\n"
      "pk = AbCd\n"
      "\n"
      "# a comment between records\n"
      "count = 1\r\n"
      "seed = 0102 \r\n"
      "\n",
      "mem");
  ASSERT_TRUE(file) << file.error().ToString();
  ASSERT_EQ(file->comments.size(), 2U);
  EXPECT_EQ(file->comments[0], "ntruhps2048677");
  ASSERT_EQ(file->records.size(), 2U);

  const NistKatRecord& r0 = file->records[0];
  EXPECT_EQ(r0.count, 0U);
  EXPECT_EQ(r0.line, 3U);
  ASSERT_TRUE(r0.Field("seed"));
  EXPECT_EQ(HexEncode(*r0.Field("seed")), "00ff");
  ASSERT_TRUE(r0.Field("pk"));
  EXPECT_EQ(HexEncode(*r0.Field("pk")), "abcd");
  EXPECT_FALSE(r0.Field("sk"));
  EXPECT_FALSE(r0.Field("count"));

  const NistKatRecord& r1 = file->records[1];
  EXPECT_EQ(r1.count, 1U);
  ASSERT_TRUE(r1.Field("seed"));
  EXPECT_EQ(HexEncode(*r1.Field("seed")), "0102");
}

TEST(NistKatFileTest, SplitsOnFirstSeparator) {
  // The name is "msg" and the value "00 = 11", which is not hex.
  Result<NistKatFile> file = ParseNistKatFile("count = 7\nmsg = 00 = 11\n", "mem");
  ASSERT_FALSE(file);
  EXPECT_NE(file.error().message().find("mem:2: field 'msg'"), std::string::npos)
      << file.error().message();
}

TEST(NistKatFileTest, EmptyValueIsEmptyBytes) {
  // PQCgenKAT writes zero-length values as "msg = ".
  Result<NistKatFile> file = ParseNistKatFile("count = 0\nmsg = \n", "mem");
  ASSERT_TRUE(file) << file.error().ToString();
  ASSERT_EQ(file->records.size(), 1U);
  ASSERT_TRUE(file->records[0].Field("msg"));
  EXPECT_TRUE(file->records[0].Field("msg")->empty());

  // The request files write "pk =" without a trailing space.
  Result<NistKatFile> req = ParseNistKatFile("count = 0\nseed = 00\npk =\nsk =\r\n", "mem");
  ASSERT_TRUE(req) << req.error().ToString();
  ASSERT_EQ(req->records.size(), 1U);
  ASSERT_TRUE(req->records[0].Field("pk"));
  EXPECT_TRUE(req->records[0].Field("pk")->empty());
  ASSERT_TRUE(req->records[0].Field("sk"));
  EXPECT_TRUE(req->records[0].Field("sk")->empty());
}

struct BadInput {
  const char* text;
  const char* expected_in_message;
};

class NistKatFileErrorTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(NistKatFileErrorTest, RejectsWithLineNumber) {
  Result<NistKatFile> file = ParseNistKatFile(GetParam().text, "f.rsp");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(file.error().message().find(GetParam().expected_in_message), std::string::npos)
      << file.error().message();
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, NistKatFileErrorTest,
    ::testing::Values(BadInput{"count = 0\nseed=00\n", "f.rsp:2: expected"},
                      BadInput{"count = 0\n =\n", "f.rsp:2: expected"},
                      BadInput{"seed = 00\n", "f.rsp:1: field 'seed' before the first count"},
                      BadInput{"count = x\n", "f.rsp:1: bad count"},
                      BadInput{"count = -1\n", "f.rsp:1: bad count"},
                      BadInput{"count = 0\nseed = 0\n", "f.rsp:2: field 'seed'"},
                      BadInput{"count = 0\nseed = zz\n", "f.rsp:2: field 'seed'"},
                      BadInput{"\n\ncount = 0\nss = 00\nss = 00\n", "f.rsp:5: repeated field"}));

TEST(NistKatFileTest, MissingFileIsNotFound) {
  Result<NistKatFile> file = ReadNistKatFile("/nonexistent/medmesh/none.rsp");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace medmesh::crypto::testing
