#include "node/node_config.h"

#include <gtest/gtest.h>

#include <array>

namespace medmesh::node {
namespace {

TEST(ListenAddressTest, ParsesIpv4AndBracketedIpv6) {
  EXPECT_EQ(ParseListenAddress("127.0.0.1:8081").value(), (ListenAddress{"127.0.0.1", 8081}));
  EXPECT_EQ(ParseListenAddress("0.0.0.0:0").value(), (ListenAddress{"0.0.0.0", 0}));
  EXPECT_EQ(ParseListenAddress("[::1]:8443").value(), (ListenAddress{"::1", 8443}));
  EXPECT_EQ(FormatListenAddress({"::1", 8443}), "[::1]:8443");
  EXPECT_EQ(FormatListenAddress({"10.0.0.1", 80}), "10.0.0.1:80");
}

TEST(ListenAddressTest, RefusesHostNamesAndBadPorts) {
  for (const char* bad :
       {"localhost:80", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
        "256.0.0.1:80", "1.2.3:80", "[::1]8443", "::1:80", "[zz]:80", ":80", "127.0.0.1:8o"}) {
    auto r = ParseListenAddress(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(NodeConfigTest, ParsesTheContractExampleAndResolvesPaths) {
  const char* json = R"({
    "id": "cloudlet-1", "listen": "127.0.0.1:8081", "data_dir": "data",
    "key_file": "node.key", "certificate_file": "node.cert",
    "root_certificate_file": "/etc/medmesh/root.cert",
    "cloud_url": "http://127.0.0.1:8080/",
    "tls": {"cert_file": "tls.crt", "key_file": "tls.key"},
    "enrol_token_file": "enrol.token", "operator_token_file": "operator.token",
    "store": {"backend": "postgres", "postgres_url": "postgresql:///x", "schema_prefix": "t1_"}
  })";
  auto config = ParseNodeConfig(json, "/srv/node");
  ASSERT_TRUE(config) << config.error().ToString();
  EXPECT_EQ(config->id, "cloudlet-1");
  EXPECT_EQ(config->listen, (ListenAddress{"127.0.0.1", 8081}));
  EXPECT_EQ(config->data_dir, "/srv/node/data");
  EXPECT_EQ(config->key_file, "/srv/node/node.key");
  EXPECT_EQ(config->root_certificate_file, "/etc/medmesh/root.cert");
  EXPECT_EQ(config->cloud_url, "http://127.0.0.1:8080");
  ASSERT_TRUE(config->tls);
  EXPECT_EQ(config->tls->cert_file, "/srv/node/tls.crt");
  EXPECT_TRUE(config->tls->ca_file.empty());
  EXPECT_EQ(config->store.backend, StoreBackend::kPostgres);
  EXPECT_EQ(config->store.schema_prefix, "t1_");
  // Defaults for what the file leaves out.
  EXPECT_EQ(config->kek_file, "/srv/node/kek.key");
  EXPECT_EQ(config->pseudonym_key_file, "/srv/node/pseudonym.key");
}

TEST(NodeConfigTest, DefaultsForAMinimalFile) {
  auto config = ParseNodeConfig(R"({"id": "cloud", "data_dir": "/var/lib/medmesh"})", "/cfg");
  ASSERT_TRUE(config) << config.error().ToString();
  EXPECT_EQ(config->certificate_file, "/cfg/node.cert");
  EXPECT_EQ(config->root_certificate_file, "/cfg/root.cert");
  EXPECT_EQ(config->enrol_token_file, "/cfg/enrol.token");
  EXPECT_EQ(config->store.backend, StoreBackend::kSqlite);
  EXPECT_FALSE(config->tls);
  EXPECT_EQ(config->listen.port, 0);
  EXPECT_EQ(config->ei_kek_file, "/cfg/ei_kek.key");
  EXPECT_EQ(config->qi_kek_file, "/cfg/qi_kek.key");
  EXPECT_EQ(config->mi_kek_file, "/cfg/mi_kek.key");
}

TEST(NodeConfigTest, CloudletUrlsForRestores) {
  auto config = ParseNodeConfig(
      R"({"id": "cloud", "data_dir": "d", "cloudlet_urls": {"cloudlet-1": "https://c1:8443/"}})",
      "/c");
  ASSERT_TRUE(config) << config.error().ToString();
  ASSERT_EQ(config->cloudlets.size(), 1u);
  EXPECT_EQ(config->cloudlets.at("cloudlet-1"), "https://c1:8443");
  EXPECT_TRUE(ParseNodeConfig(R"({"id": "cloud", "data_dir": "d"})", "/c")->cloudlets.empty());
  for (const char* bad : {R"("x")", R"({"cloudlet-1": 3})", R"({"cloudlet-1": "ftp://c1"})",
                          R"({"bad id": "http://c1"})"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(ParseNodeConfig(
        std::string(R"({"id": "cloud", "data_dir": "d", "cloudlet_urls": )") + bad + "}", "/c"));
  }
}

TEST(NodeConfigTest, MeshPeersAndTunables) {
  auto config = ParseNodeConfig(
      R"({"id": "cloudlet-1", "data_dir": "d", "mesh": {"peers": [
            {"id": "cloudlet-2", "url": "http://127.0.0.1:8082/"},
            {"id": "cloudlet-3", "url": "https://c3:8443"}],
          "adopt_threshold": 2.5, "max_report_age_s": 60, "confirm_window_s": 120,
          "trust_half_life_h": 48}})",
      "/c");
  ASSERT_TRUE(config) << config.error().ToString();
  ASSERT_EQ(config->mesh.peers.size(), 2u);
  EXPECT_EQ(config->mesh.peers[0], (MeshPeer{"cloudlet-2", "http://127.0.0.1:8082"}));
  EXPECT_EQ(config->mesh.peers[1], (MeshPeer{"cloudlet-3", "https://c3:8443"}));
  EXPECT_EQ(config->mesh.adopt_threshold, 2.5);
  EXPECT_EQ(config->mesh.max_report_age, std::chrono::seconds(60));
  EXPECT_EQ(config->mesh.confirm_window, std::chrono::seconds(120));
  EXPECT_EQ(config->mesh.trust_half_life, std::chrono::hours(48));
  // No member: no peers, defaults.
  auto plain = ParseNodeConfig(R"({"id": "cloudlet-1", "data_dir": "d"})", "/c");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->mesh, MeshConfig{});
  EXPECT_EQ(plain->mesh.adopt_threshold, 1.5);
  for (const char* bad :
       {R"("x")", R"({"peers": {}})", R"({"peers": [{"id": "cloudlet-1", "url": "http://a"}]})",
        R"({"peers": [{"id": "c2", "url": "ftp://a"}]})", R"({"peers": [{"id": "c2"}]})",
        R"({"peers": [{"id": "bad id", "url": "http://a"}]})",
        R"({"peers": [{"id": "c2", "url": "http://a", "x": 1}]})",
        R"({"peers": [{"id": "c2", "url": "http://a"}, {"id": "c2", "url": "http://b"}]})",
        R"({"adopt_threshold": 1.0})", R"({"adopt_threshold": "2"})", R"({"max_report_age_s": 1})",
        R"({"typo": 1})"}) {
    SCOPED_TRACE(bad);
    auto refused = ParseNodeConfig(
        std::string(R"({"id": "cloudlet-1", "data_dir": "d", "mesh": )") + bad + "}", "/c");
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message().find("mesh"), std::string::npos);
  }
}

TEST(NodeConfigTest, PartKekFilesResolveLikeTheOtherKeyFiles) {
  auto config = ParseNodeConfig(
      R"({"id": "cloud", "data_dir": "d", "ei_kek_file": "keys/ei.key",
          "qi_kek_file": "/etc/medmesh/qi.key", "mi_kek_file": "../mi-service/mi.key"})",
      "/cfg/cloud");
  ASSERT_TRUE(config) << config.error().ToString();
  EXPECT_EQ(config->ei_kek_file, "/cfg/cloud/keys/ei.key");
  EXPECT_EQ(config->qi_kek_file, "/etc/medmesh/qi.key");
  EXPECT_EQ(config->mi_kek_file, "/cfg/mi-service/mi.key");
  auto wrong = ParseNodeConfig(R"({"id": "cloud", "data_dir": "d", "ei_kek_file": 1})", "/cfg");
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("'ei_kek_file'"), std::string::npos);
}

TEST(NodeConfigTest, RefusesWhatWouldSilentlyMisconfigure) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"data_dir": "d"})", "'id'"},
      {R"({"id": "x"})", "'data_dir'"},
      {R"({"id": "x y", "data_dir": "d"})", "'id'"},
      {R"({"id": "x", "data_dir": "d", "listne": "1.2.3.4:5"})", "unknown member 'listne'"},
      {R"({"id": "x", "data_dir": "d", "listen": 8080})", "'listen'"},
      {R"({"id": "x", "data_dir": "d", "listen": "host:80"})", "'listen'"},
      {R"({"id": "x", "data_dir": "d", "cloud_url": "ftp://c"})", "'cloud_url'"},
      {R"({"id": "x", "data_dir": "d", "store": {"backend": "mysql"}})", "'store.backend'"},
      {R"({"id": "x", "data_dir": "d", "store": {"backend": "postgres"}})", "postgres_url"},
      {R"({"id": "x", "data_dir": "d", "tls": {"cert_file": "a"}})", "go together"},
      {R"({"id": "x", "data_dir": "d", "tls": {"ca": "a"}})", "unknown member 'tls.ca'"},
      {R"(["id"])", "object"},
      {R"({"id": )", "JSON"},
  };
  for (const auto& [json, needle] : cases) {
    auto r = ParseNodeConfig(json, "/b");
    ASSERT_FALSE(r) << json;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << json;
    EXPECT_NE(r.error().message().find(needle), std::string::npos)
        << json << " -> " << r.error().message();
  }
}

TEST(NodeConfigTest, CallersMayReadExtraMembersThemselves) {
  const char* json = R"({"id": "w", "data_dir": "d", "device_id": "dev-1"})";
  EXPECT_FALSE(ParseNodeConfig(json, "/b"));
  const std::array<std::string_view, 1> extra = {"device_id"};
  auto config = ParseNodeConfig(json, "/b", extra);
  ASSERT_TRUE(config) << config.error().ToString();
  EXPECT_NE(config->raw_json.find("dev-1"), std::string::npos);
}

TEST(NodeConfigTest, MessagesDoNotQuoteValues) {
  auto r = ParseNodeConfig(
      R"({"id": "x", "data_dir": "d", "store": {"backend": "postgres", "postgres_url": 5}})", "/");
  ASSERT_FALSE(r);
  r = ParseNodeConfig(R"({"id": "x", "data_dir": "d", "cloud_url": "ftp://user:hunter2@c"})", "/");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message().find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace medmesh::node

namespace medmesh::node {
namespace {

TEST(NodeConfigTest, LogAndRetentionHaveSafeDefaults) {
  auto config = ParseNodeConfig(R"({"id": "n", "data_dir": "d"})", "/srv/node");
  ASSERT_TRUE(config) << config.error().ToString();
  EXPECT_TRUE(config->log.file.empty());
  EXPECT_EQ(config->log.max_file_bytes, 64U << 20);
  EXPECT_EQ(config->log.max_files, 5U);
  const RetentionConfig& r = config->retention;
  EXPECT_EQ(r.ids_events, std::chrono::hours(24 * 30));
  EXPECT_EQ(r.ledger, std::chrono::hours(24 * 30));
  EXPECT_EQ(r.readings, std::chrono::hours(24 * 30));
  EXPECT_EQ(r.dead_letters, std::chrono::hours(24 * 30));
  EXPECT_EQ(r.journal_max_bytes, 16U << 20);
  EXPECT_EQ(r.journal_files, 4U);
  EXPECT_EQ(r.maintenance_interval, std::chrono::minutes(10));
}

TEST(NodeConfigTest, ParsesLogAndRetention) {
  auto config = ParseNodeConfig(R"({"id": "n", "data_dir": "d",
    "log": {"file": "logs/n.log", "max_file_mb": 8, "max_files": 3},
    "retention": {"ids_events_days": 7, "ledger_days": 14, "readings_days": 2,
                  "dead_letters_days": 60, "journal_max_mb": 1, "journal_files": 2,
                  "maintenance_interval_s": 30}})",
                                "/srv/node");
  ASSERT_TRUE(config) << config.error().ToString();
  EXPECT_EQ(config->log.file, "/srv/node/logs/n.log");
  EXPECT_EQ(config->log.max_file_bytes, 8U << 20);
  EXPECT_EQ(config->log.max_files, 3U);
  const RetentionConfig& r = config->retention;
  EXPECT_EQ(r.ids_events, std::chrono::hours(24 * 7));
  EXPECT_EQ(r.ledger, std::chrono::hours(24 * 14));
  EXPECT_EQ(r.readings, std::chrono::hours(24 * 2));
  EXPECT_EQ(r.dead_letters, std::chrono::hours(24 * 60));
  EXPECT_EQ(r.journal_max_bytes, 1U << 20);
  EXPECT_EQ(r.journal_files, 2U);
  EXPECT_EQ(r.maintenance_interval, std::chrono::seconds(30));
}

TEST(NodeConfigTest, StatisticsKDefaultsToFiveAndRefusesLessThanTwo) {
  auto config = ParseNodeConfig(R"({"id": "n", "data_dir": "d"})", "/srv/node");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->statistics_k, 5U);
  config = ParseNodeConfig(R"({"id": "n", "data_dir": "d", "statistics_k": 3})", "/srv/node");
  ASSERT_TRUE(config) << config.error().message();
  EXPECT_EQ(config->statistics_k, 3U);
  for (const char* k : {"1", "0", "-2", "2.5", "\"5\"", "1001"}) {
    config = ParseNodeConfig(
        std::string(R"({"id": "n", "data_dir": "d", "statistics_k": )") + k + "}", "/srv/node");
    ASSERT_FALSE(config) << k;
    EXPECT_NE(config.error().message().find("statistics_k"), std::string::npos);
  }
}

TEST(NodeConfigTest, RefusesRetentionThatCouldLoseOrFillAnything) {
  for (const char* retention :
       {R"({"ledger_days": 1})", R"({"readings_days": 0})", R"({"ids_events_days": -1})",
        R"({"dead_letters_days": 1.5})", R"({"journal_files": 0})", R"({"journal_max_mb": "1"})",
        R"({"maintenance_interval_s": 0})", R"({"readings_days": 100000})",
        R"({"keep_forever": true})", R"([])"}) {
    const std::string json =
        std::string(R"({"id": "n", "data_dir": "d", "retention": )") + retention + "}";
    auto config = ParseNodeConfig(json, "/srv/node");
    ASSERT_FALSE(config) << retention;
    EXPECT_EQ(config.error().code(), ErrorCode::kInvalidArgument) << retention;
    EXPECT_NE(config.error().message().find("retention"), std::string::npos)
        << config.error().message();
  }
  for (const char* log : {R"({"max_files": 0})", R"({"max_file_mb": 0})", R"({"size": 1})"}) {
    const std::string json = std::string(R"({"id": "n", "data_dir": "d", "log": )") + log + "}";
    auto config = ParseNodeConfig(json, "/srv/node");
    ASSERT_FALSE(config) << log;
    EXPECT_NE(config.error().message().find("log"), std::string::npos);
  }
}

TEST(NodeConfigTest, FlagsOverrideTheFile) {
  NodeConfig config = ParseNodeConfig(R"({"id": "c", "data_dir": "d"})", "/b").value();
  ASSERT_TRUE(ApplyOverrides(
      config,
      {.listen = "0.0.0.0:9000", .data_dir = "/srv/x", .cloud_url = "https://cloud:8443/"}));
  EXPECT_EQ(config.listen, (ListenAddress{"0.0.0.0", 9000}));
  EXPECT_EQ(config.data_dir, "/srv/x");
  EXPECT_EQ(config.cloud_url, "https://cloud:8443");
  EXPECT_FALSE(ApplyOverrides(config, {.listen = "nowhere"}));
  EXPECT_FALSE(ApplyOverrides(config, {.listen = "1.2.3.4:1", .cloud_url = "cloud:80"}));
  EXPECT_EQ(config.listen.port, 9000);  // unchanged after a refused override
}

}  // namespace
}  // namespace medmesh::node
