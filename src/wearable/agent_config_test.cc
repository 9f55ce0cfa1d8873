#include "wearable/agent_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

namespace medmesh::wearable {
namespace {

using ::testing::HasSubstr;

constexpr const char* kFull = R"({
  "id": "wearables", "listen": "127.0.0.1:0", "data_dir": "data",
  "root_certificate_file": "root.cert",
  "cloudlets": [
    {"id": "cloudlet-1", "url": "http://127.0.0.1:8081", "enrol_token_file": "../c1/enrol.token",
     "distance_m": 8, "trust": 0.9},
    {"id": "cloudlet-2", "url": "http://127.0.0.1:8082"}],
  "cloud_distance_m": 150,
  "devices": [{"device_id": "w-1", "patient_id": "p-1", "profile": "copd", "seed": 5}],
  "batching": {"max_readings": 300, "max_age_ms": 5000},
  "session": {"max_batches": 500, "max_age_s": 600},
  "outbox": {"initial_backoff_ms": 200, "max_backoff_ms": 5000},
  "backfill_s": 120, "tick_ms": 100, "threads": 3, "min_trust": 0.4
})";

TEST(WearableConfigTest, ParsesEveryMember) {
  auto config = ParseWearableConfig(kFull, "/deploy/wearables");
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_EQ(config->node.id, "wearables");
  EXPECT_TRUE(config->serve_http);
  EXPECT_EQ(config->node.data_dir, "/deploy/wearables/data");
  ASSERT_EQ(config->cloudlets.size(), 2u);
  EXPECT_EQ(config->cloudlets[0].enrol_token_file, "/deploy/c1/enrol.token");
  EXPECT_DOUBLE_EQ(config->cloudlets[0].distance_m, 8);
  EXPECT_DOUBLE_EQ(config->cloudlets[0].trust, 0.9);
  EXPECT_DOUBLE_EQ(config->cloudlets[1].distance_m, 10);
  EXPECT_TRUE(config->cloudlets[1].enrol_token_file.empty());
  ASSERT_EQ(config->devices.size(), 1u);
  EXPECT_EQ(config->devices[0].profile, Profile::kCopd);
  EXPECT_EQ(config->devices[0].seed, 5u);
  EXPECT_EQ(config->agent.batching.max_readings, 300u);
  EXPECT_EQ(config->agent.batching.max_age, std::chrono::milliseconds(5000));
  EXPECT_EQ(config->agent.session.max_batches_per_session, 500u);
  EXPECT_EQ(config->agent.session.max_session_age, std::chrono::seconds(600));
  EXPECT_EQ(config->agent.outbox.initial_backoff, std::chrono::milliseconds(200));
  EXPECT_EQ(config->agent.outbox.max_backoff, std::chrono::milliseconds(5000));
  EXPECT_EQ(config->agent.backfill, std::chrono::seconds(120));
  EXPECT_DOUBLE_EQ(config->agent.min_trust, 0.4);
  EXPECT_DOUBLE_EQ(config->cloud_distance_m, 150);
  EXPECT_EQ(config->tick, std::chrono::milliseconds(100));
  EXPECT_EQ(config->threads, 3u);
}

TEST(WearableConfigTest, TheJournalIsRotatedAsTheRetentionSays) {
  constexpr const char* kMinimal = R"({
    "id": "wearables", "data_dir": "data",
    "cloudlets": [{"id": "cloudlet-1", "url": "http://127.0.0.1:8081"}]%s})";
  char json[512];
  std::snprintf(json, sizeof json, kMinimal, "");
  auto defaults = ParseWearableConfig(json, "/deploy/wearables");
  ASSERT_TRUE(defaults.has_value()) << defaults.error().ToString();
  EXPECT_EQ(defaults->agent.journal.max_file_bytes, std::size_t{16} << 20);
  EXPECT_EQ(defaults->agent.journal.max_files, 4U);
  std::snprintf(json, sizeof json, kMinimal,
                R"(, "retention": {"journal_max_mb": 2, "journal_files": 3})");
  auto set = ParseWearableConfig(json, "/deploy/wearables");
  ASSERT_TRUE(set.has_value()) << set.error().ToString();
  EXPECT_EQ(set->agent.journal.max_file_bytes, std::size_t{2} << 20);
  EXPECT_EQ(set->agent.journal.max_files, 3U);
}

TEST(WearableConfigTest, DefaultsAndNoListener) {
  auto config = ParseWearableConfig(
      R"({"id": "w", "data_dir": "d", "cloudlets": [{"id": "c", "url": "http://h:1"}]})", "/x");
  ASSERT_TRUE(config.has_value()) << config.error().ToString();
  EXPECT_FALSE(config->serve_http);
  EXPECT_TRUE(config->devices.empty());
  EXPECT_EQ(config->agent.batching.max_readings, 600u);
  EXPECT_EQ(config->threads, 2u);
}

TEST(WearableConfigTest, RefusesBadMembersNamingThem) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"id": "w", "data_dir": "d"})", "cloudlets"},
      {R"({"id": "w", "data_dir": "d", "cloudlets": []})", "cloudlets"},
      {R"({"id": "w", "data_dir": "d", "cloudlets": [{"id": "c", "url": "ftp://h"}]})", "url"},
      {R"({"id": "w", "data_dir": "d", "cloudlets": [{"id": "c", "url": "http://h", "trust": 2}]})",
       "trust"},
      {R"({"id": "w", "data_dir": "d", "cloudlets": [{"id": "c", "url": "http://h"},
           {"id": "c", "url": "http://h"}]})",
       "twice"},
      {R"({"id": "w", "data_dir": "d", "cloudlets": [{"id": "c", "url": "http://h"}],
           "devices": [{"device_id": "a", "patient_id": "b", "profile": "flu"}]})",
       "profile"},
      {R"({"id": "w", "data_dir": "d", "cloudlets": [{"id": "c", "url": "http://h"}],
           "batching": {"max_readings": 0}})",
       "max_readings"},
      {R"({"id": "w", "data_dir": "d", "cloudlets": [{"id": "c", "url": "http://h"}],
           "outbox": {"initial_backoff_ms": 10, "max_backoff_ms": 5}})",
       "max_backoff_ms"},
      {R"({"id": "w", "data_dir": "d", "cloudlets": [{"id": "c", "url": "http://h"}],
           "bogus": 1})",
       "bogus"},
      {R"({"id": "w", "data_dir": "d", "cloudlets": [{"id": "c", "url": "http://h", "x": 1}]})",
       "x"},
  };
  for (const auto& [json, word] : cases) {
    auto config = ParseWearableConfig(json, "/x");
    ASSERT_FALSE(config.has_value()) << json;
    EXPECT_EQ(config.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(config.error().message(), HasSubstr(word)) << json;
  }
}

TEST(WearableConfigTest, GeneratesDevicesOverTheProfiles) {
  const Profile profiles[] = {Profile::kCopd, Profile::kHypertension};
  auto devices = GenerateDevices("ward", 3, profiles, 4);
  ASSERT_EQ(devices.size(), 3u);
  EXPECT_EQ(devices[0].device_id, "ward-dev-01");
  EXPECT_EQ(devices[2].patient_id, "ward-patient-03");
  EXPECT_EQ(devices[0].profile, Profile::kCopd);
  EXPECT_EQ(devices[1].profile, Profile::kHypertension);
  EXPECT_EQ(devices[2].profile, Profile::kCopd);
  EXPECT_NE(devices[0].seed, devices[1].seed);
  EXPECT_EQ(GenerateDevices("x", 7, {}, 1).back().profile, AllProfiles()[0]);
}

}  // namespace
}  // namespace medmesh::wearable
