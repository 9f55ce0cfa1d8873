#include "core/log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "testing/temp_dir.h"

namespace medmesh::log {
namespace {

using nlohmann::json;

// Parses one formatted line; fails the test (and returns null) if it is not valid JSON.
json Parse(const std::string& line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not valid JSON: " << line;
  return j;
}

TEST(FormatEventTest, ProducesOneJsonObjectWithStandardKeys) {
  const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string line = FormatEvent(Level::kWarn, "batch_rejected", {});
  const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  EXPECT_EQ(line.find('\n'), std::string::npos);
  json j = Parse(line);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 3U);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["event"], "batch_rejected");
  ASSERT_TRUE(j["ts_ms"].is_number_integer());
  EXPECT_GE(j["ts_ms"].get<std::int64_t>(), before);
  EXPECT_LE(j["ts_ms"].get<std::int64_t>(), after);
}

TEST(FormatEventTest, LevelNames) {
  EXPECT_EQ(Parse(FormatEvent(Level::kDebug, "e", {}))["level"], "debug");
  EXPECT_EQ(Parse(FormatEvent(Level::kInfo, "e", {}))["level"], "info");
  EXPECT_EQ(Parse(FormatEvent(Level::kWarn, "e", {}))["level"], "warn");
  EXPECT_EQ(Parse(FormatEvent(Level::kError, "e", {}))["level"], "error");
}

TEST(FormatEventTest, FieldsKeepTheirTypes) {
  const std::string owned = "owned";
  const std::string line = FormatEvent(Level::kInfo, "typed",
                                       {{"view", std::string_view("sv")},
                                        {"cstr", "c"},
                                        {"string", owned},
                                        {"int", -7},
                                        {"unsigned", 7U},
                                        {"i64", std::numeric_limits<std::int64_t>::min()},
                                        {"u64", std::numeric_limits<std::uint64_t>::max()},
                                        {"double", 0.1},
                                        {"tiny", 1.5e-9},
                                        {"huge", 6.02e23},
                                        {"yes", true},
                                        {"no", false}});
  json j = Parse(line);
  EXPECT_EQ(j["view"], "sv");
  EXPECT_EQ(j["cstr"], "c");
  EXPECT_EQ(j["string"], "owned");
  EXPECT_EQ(j["int"].get<std::int64_t>(), -7);
  EXPECT_EQ(j["unsigned"].get<std::uint64_t>(), 7U);
  EXPECT_EQ(j["i64"].get<std::int64_t>(), std::numeric_limits<std::int64_t>::min());
  // A 64-bit id (as drawn by Random::NextU64) is logged as the same unsigned number.
  ASSERT_TRUE(j["u64"].is_number_unsigned());
  EXPECT_EQ(j["u64"].get<std::uint64_t>(), std::numeric_limits<std::uint64_t>::max());
  // Doubles read back exactly, small ones included.
  EXPECT_EQ(j["double"].get<double>(), 0.1);
  EXPECT_EQ(j["tiny"].get<double>(), 1.5e-9);
  EXPECT_EQ(j["huge"].get<double>(), 6.02e23);
  EXPECT_EQ(j["yes"], true);
  EXPECT_EQ(j["no"], false);
}

TEST(FormatEventTest, NonFiniteDoublesBecomeNull) {
  json j = Parse(FormatEvent(Level::kInfo, "e",
                             {{"nan", std::numeric_limits<double>::quiet_NaN()},
                              {"inf", std::numeric_limits<double>::infinity()},
                              {"ninf", -std::numeric_limits<double>::infinity()}}));
  EXPECT_TRUE(j["nan"].is_null());
  EXPECT_TRUE(j["inf"].is_null());
  EXPECT_TRUE(j["ninf"].is_null());
}

TEST(FormatEventTest, EscapesQuotesBackslashesAndControlCharacters) {
  std::string nasty = "say \"hi\"\\ \n{\"level\":\"error\"}\r\t";
  for (int c = 0; c < 0x20; ++c) nasty.push_back(static_cast<char>(c));
  nasty.push_back('\x7f');
  nasty += "end";
  const std::string line = FormatEvent(Level::kInfo, nasty, {{nasty, nasty}});
  // One line, whatever the input: a value cannot forge a second log record.
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  for (char c : line) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << line;
  json j = Parse(line);
  EXPECT_EQ(j["event"], nasty);
  EXPECT_EQ(j[nasty], nasty);
  EXPECT_EQ(j["level"], "info");
}

TEST(FormatEventTest, EmbeddedNulIsEscaped) {
  const std::string with_nul("a\0b", 3);
  const std::string line = FormatEvent(Level::kInfo, "e", {{"v", std::string_view(with_nul)}});
  EXPECT_NE(line.find("a\\u0000b"), std::string::npos) << line;
  EXPECT_EQ(Parse(line)["v"], with_nul);
}

TEST(FormatEventTest, KeepsValidUtf8) {
  // "Zoë 心拍 🫀": two-, three- and four-byte sequences.
  const std::string text = "Zo\xc3\xab \xe5\xbf\x83\xe6\x8b\x8d \xf0\x9f\xab\x80";
  json j = Parse(FormatEvent(Level::kInfo, "e", {{"name", text}}));
  EXPECT_EQ(j["name"], text);
}

TEST(FormatEventTest, ReplacesInvalidUtf8) {
  const std::vector<std::string> invalid = {
      "\xff",              // never valid
      "\x80",              // stray continuation byte
      "\xc3",              // truncated two-byte sequence
      "\xc0\xaf",          // overlong '/'
      "\xe0\x80\xaf",      // overlong, three bytes
      "\xed\xa0\x80",      // UTF-16 surrogate
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\xf0\x9f\xab",      // truncated four-byte sequence
  };
  for (const std::string& bad : invalid) {
    const std::string value = "a" + bad + "b";
    const std::string line = FormatEvent(Level::kInfo, "e", {{"v", value}});
    json j = Parse(line);
    ASSERT_TRUE(j.is_object()) << HexEncode(AsBytes(bad));
    const std::string got = j["v"].get<std::string>();
    EXPECT_EQ(got.front(), 'a');
    EXPECT_EQ(got.back(), 'b');
    EXPECT_NE(got.find("\xef\xbf\xbd"), std::string::npos);  // U+FFFD
  }
}

// --- Emit, SetLevel, SetFile ---------------------------------------------------------------

class LogFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            (std::string("medmesh_log_test_") + info->name() + ".jsonl");
    std::filesystem::remove(path_);
  }
  void TearDown() override {
    SetLevel(Level::kInfo);
    std::filesystem::remove(path_);
  }

  std::vector<json> ReadLines() const {
    std::ifstream in(path_);
    std::vector<json> out;
    for (std::string line; std::getline(in, line);) out.push_back(Parse(line));
    return out;
  }

  std::filesystem::path path_;
};

TEST_F(LogFileTest, WritesOneFlushedJsonLinePerEvent) {
  SetFile(path_.string());
  SetLevel(Level::kInfo);
  Info("node_started", {{"port", 8443}});
  Error("store_failed", {{"reason", "disk full"}});
  // Read without closing the logger: every line must already be on disk.
  const std::vector<json> lines = ReadLines();
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0]["event"], "node_started");
  EXPECT_EQ(lines[0]["port"], 8443);
  EXPECT_EQ(lines[1]["level"], "error");
  EXPECT_EQ(lines[1]["reason"], "disk full");
}

TEST_F(LogFileTest, LevelFiltersLowerEvents) {
  SetFile(path_.string());
  SetLevel(Level::kWarn);
  Debug("d");
  Info("i");
  Warn("w");
  Error("e");
  const std::vector<json> lines = ReadLines();
  ASSERT_EQ(lines.size(), 2U);
  EXPECT_EQ(lines[0]["event"], "w");
  EXPECT_EQ(lines[1]["event"], "e");
}

// --- Rotation -------------------------------------------------------------------------------

// Regular files in `dir` and their sizes.
std::map<std::string, std::uintmax_t> FilesIn(const std::filesystem::path& dir) {
  std::map<std::string, std::uintmax_t> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.is_regular_file()) out[entry.path().filename().string()] = entry.file_size();
  }
  return out;
}

TEST(LogRotationTest, TheLogIsRotatedBySizeAndKeepsABoundedNumberOfFiles) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "node.log").string();
  ASSERT_TRUE(LogToFile(path, {.max_file_bytes = 4096, .max_files = 3}));
  SetLevel(Level::kInfo);
  const std::string padding(100, 'x');
  for (int i = 0; i < 2000; ++i) Info("flood", {{"i", i}, {"padding", padding}});
  Info("last_line");
  // Back to stderr before looking, so no file is written while it is read.
  ASSERT_TRUE(LogToFile((dir.path() / "other.log").string()));

  const auto files = FilesIn(dir.path());
  EXPECT_EQ(files.size(), 4U);  // node.log, node.1.log, node.2.log, other.log
  for (const char* name : {"node.log", "node.1.log", "node.2.log"}) {
    ASSERT_TRUE(files.contains(name)) << name;
    EXPECT_LE(files.at(name), 4096U) << name;
    const auto mode = std::filesystem::status(dir.path() / name).permissions();
    EXPECT_EQ(mode & (std::filesystem::perms::group_all | std::filesystem::perms::others_all),
              std::filesystem::perms::none)
        << name;
  }
  std::ifstream in(path);
  std::string line;
  std::string last;
  while (std::getline(in, line)) last = line;
  EXPECT_EQ(Parse(last)["event"], "last_line");
  std::ifstream older(dir.path() / "node.1.log");
  ASSERT_TRUE(std::getline(older, line));
  EXPECT_EQ(Parse(line)["event"], "flood");
}

TEST(LogRotationTest, ARotationOutOfRangeIsRefusedAndTheLoggerKept) {
  testing::TempDir dir;
  EXPECT_EQ(LogToFile((dir.path() / "a.log").string(), {.max_file_bytes = 0}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(LogToFile((dir.path() / "a.log").string(), {.max_files = 0}).error().code(),
            ErrorCode::kInvalidArgument);
  std::filesystem::create_directory(dir.path() / "a_folder");
  EXPECT_EQ(LogToFile((dir.path() / "a_folder").string()).error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(FilesIn(dir.path()).empty());
}

TEST(LineFileTest, AppendsFlushedLinesAndRotates) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "sent.jsonl").string();
  auto file = LineFile::Open(path, {.max_file_bytes = 1000, .max_files = 2});
  ASSERT_TRUE(file) << file.error().ToString();
  (*file)->Append(R"({"n":1})");
  {
    std::ifstream in(path);
    std::string line;
    ASSERT_TRUE(std::getline(in, line));  // flushed without closing
    EXPECT_EQ(line, R"({"n":1})");
  }
  for (int i = 0; i < 500; ++i) (*file)->Append(R"({"n":2})");
  file->reset();
  const auto files = FilesIn(dir.path());
  EXPECT_EQ(files.size(), 2U);
  EXPECT_LE(files.at("sent.jsonl"), 1000U);
  EXPECT_LE(files.at("sent.1.jsonl"), 1000U);
}

}  // namespace
}  // namespace medmesh::log
