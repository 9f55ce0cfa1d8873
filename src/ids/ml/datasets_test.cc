#include "ids/ml/datasets.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <string>

#include "testing/temp_dir.h"

namespace medmesh::ids::ml {
namespace {

constexpr std::string_view kCsic =
    "GET http://localhost:8080/tienda1/publico/anadir.jsp?id=2&nombre=Jam%F3n+Ib%E9rico "
    "HTTP/1.1\r\n"
    "User-Agent: Mozilla/5.0 (compatible; Konqueror/3.5; Linux)\r\n"
    "Host: localhost:8080\r\n"
    "Connection: close\r\n"
    "\r\n"
    "\r\n"
    "\r\n"
    "POST http://localhost:8080/tienda1/publico/autenticar.jsp HTTP/1.1\r\n"
    "User-Agent: Mozilla/5.0 (compatible; Konqueror/3.5; Linux)\r\n"
    "Content-Type: application/x-www-form-urlencoded\r\n"
    "Content-Length: 27\r\n"
    "\r\n"
    "modo=entrar&login=choong&pwd=d1se3ci%F3n\r\n"
    "\r\n";

TEST(ParseCsicRequests, SplitsRequestsAndTheirParts) {
  auto requests = ParseCsicRequests(kCsic, 1, "test");
  ASSERT_TRUE(requests.has_value()) << requests.error().ToString();
  ASSERT_EQ(requests->size(), 2u);
  const LabeledRequest& get = (*requests)[0];
  EXPECT_EQ(get.method, "GET");
  EXPECT_EQ(get.path, "/tienda1/publico/anadir.jsp");
  EXPECT_EQ(get.query, "id=2&nombre=Jam%F3n+Ib%E9rico");
  EXPECT_EQ(get.body, "");
  EXPECT_EQ(get.label, 1);
  const LabeledRequest& post = (*requests)[1];
  EXPECT_EQ(post.method, "POST");
  EXPECT_EQ(post.query, "");
  EXPECT_EQ(post.body, "modo=entrar&login=choong&pwd=d1se3ci%F3n");
}

TEST(ParseCsicRequests, RejectsGarbageWithTheLineNumber) {
  auto bad = ParseCsicRequests("hello world\r\n", 0, "f.txt");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("f.txt:1"), std::string::npos);
  auto no_version = ParseCsicRequests("GET http://h/ x\r\n", 0, "f.txt");
  EXPECT_FALSE(no_version.has_value());
  auto bad_header = ParseCsicRequests("GET http://h/ HTTP/1.1\r\nnot a header\r\n", 0, "f.txt");
  ASSERT_FALSE(bad_header.has_value());
  EXPECT_NE(bad_header.error().message().find("f.txt:2"), std::string::npos);
}

TEST(ParseHttpParamsCsv, HandlesQuotesCommasAndNewlines) {
  const std::string csv =
      "\"payload\",\"length\",\"attack_type\",\"label\"\n"
      "\"O'Brien, Ann\",\"12\",\"norm\",\"norm\"\n"
      "\"1\"\" or \"\"1\"\"=\"\"1\",\"14\",\"sqli\",\"anom\"\n"
      "\"two\nlines\",\"9\",\"norm\",\"norm\"\n";
  auto values = ParseHttpParamsCsv(csv, "p.csv");
  ASSERT_TRUE(values.has_value()) << values.error().ToString();
  ASSERT_EQ(values->size(), 3u);
  EXPECT_EQ((*values)[0].payload, "O'Brien, Ann");
  EXPECT_EQ((*values)[0].label, 0);
  EXPECT_EQ((*values)[1].payload, "1\" or \"1\"=\"1");
  EXPECT_EQ((*values)[1].attack_type, "sqli");
  EXPECT_EQ((*values)[1].label, 1);
  EXPECT_EQ((*values)[2].payload, "two\nlines");
}

TEST(ParseHttpParamsCsv, RejectsMalformedFiles) {
  const std::string header = "\"payload\",\"length\",\"attack_type\",\"label\"\n";
  for (const std::string& bad :
       {std::string("\"a\",\"b\"\n"), header + "\"x\",\"1\",\"norm\",\"maybe\"\n",
        header + "\"x\",\"1\",\"norm\"\n", header + "\"unterminated,\"1\",\"norm\",\"norm\"\n",
        header + "\"x\"y,\"1\",\"norm\",\"norm\"\n"}) {
    auto values = ParseHttpParamsCsv(bad, "p.csv");
    ASSERT_FALSE(values.has_value());
    EXPECT_EQ(values.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(values.error().message().find("p.csv:"), std::string::npos);
  }
}

TEST(ParseKddText, NamesTheBadLine) {
  const std::string good =
      "0,udp,private,SF,105,146,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,0.00,0.00,1.00,"
      "0.00,0.00,255,254,1.00,0.01,0.00,0.00,0.00,0.00,0.00,0.00,normal,21\n";
  auto ok = ParseKddText(good + good, "k.txt");
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->size(), 2u);
  auto bad = ParseKddText(good + "0,tcp\n", "k.txt");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message().find("k.txt:2"), std::string::npos);
  std::string unlabelled = good.substr(0, good.find(",normal")) + "\n";
  EXPECT_FALSE(ParseKddText(unlabelled, "k.txt").has_value());
}

TEST(ReadMaybeGzip, ReadsPlainAndGzipFiles) {
  testing::TempDir dir;
  const std::string text = "line one\nline two\n";
  {
    std::ofstream(dir.File("plain.txt")) << text;
    gzFile gz = gzopen(dir.File("packed.txt.gz").c_str(), "wb");
    ASSERT_NE(gz, nullptr);
    ASSERT_EQ(gzwrite(gz, text.data(), static_cast<unsigned>(text.size())),
              static_cast<int>(text.size()));
    gzclose(gz);
  }
  auto plain = ReadMaybeGzip(dir.File("plain.txt"));
  auto packed = ReadMaybeGzip(dir.File("packed.txt.gz"));
  ASSERT_TRUE(plain.has_value());
  ASSERT_TRUE(packed.has_value());
  EXPECT_EQ(*plain, text);
  EXPECT_EQ(*packed, text);
  // A truncated gzip stream is an error, not a short read.
  std::ifstream in(dir.File("packed.txt.gz"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir.File("cut.gz"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_FALSE(ReadMaybeGzip(dir.File("cut.gz")).has_value());
  EXPECT_EQ(ReadMaybeGzip(dir.File("missing")).error().code(), ErrorCode::kNotFound);
}

TEST(CsicLabelFromFileName, ReadsTheLabelFromTheName) {
  EXPECT_EQ(*CsicLabelFromFileName("/x/anomalousTrafficTest.txt.gz"), 1);
  EXPECT_EQ(*CsicLabelFromFileName("normalTrafficTest.txt"), 0);
  EXPECT_FALSE(CsicLabelFromFileName("traffic.txt").has_value());
}

}  // namespace
}  // namespace medmesh::ids::ml
