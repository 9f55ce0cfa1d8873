// `medmesh attack run all` against a real deployment of separate processes (the real binary):
// a folder provisioned by `medmesh demo --setup-only`, then its cloud, cloudlet-1 and ward-1
// (four honest simulated wearables uploading from 127.0.0.1) started as children on free ports.
// Every scenario must end DETECTED or BLOCKED (the lying peer DETECTED: its lies arrive, block no
// one), the tool must exit 0, and the honest wearables must be untouched: no alert or decision on
// their address or their devices, and their uploads keep being stored after the attacks.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "child_process.h"
#include "core/bytes.h"
#include "net/http_client.h"
#include "node/identity.h"
#include "node/test_support.h"
#include "testing/wait.h"

namespace medmesh {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing_process::Child;
using testing_process::ListeningPort;

json ReadJson(const fs::path& file) {
  std::ifstream in(file);
  return json::parse(in);
}

void WriteJson(const fs::path& file, const json& j) {
  std::ofstream out(file, std::ios::trunc);
  out << j.dump(2) << "\n";
}

std::string Token(const fs::path& file) {
  auto token = node::ReadTokenFile(file);
  if (!token) return {};
  std::string text(AsStringView(token->reveal()));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

class AttackTest : public ::testing::Test {
 protected:
  // Starts `medmesh <service> --config <file>` and returns its port from its "listening on".
  std::optional<std::uint16_t> StartService(std::unique_ptr<Child>& child,
                                            const std::string& service, const fs::path& config,
                                            const std::string& name,
                                            std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {MEDMESH_BINARY, service, "--config", config.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    child = std::make_unique<Child>(args, dir_.path() / (name + ".err"));
    if (!child->started()) return std::nullopt;
    auto line = child->WaitForLine("listening on", std::chrono::seconds(60));
    return line ? ListeningPort(*line) : std::nullopt;
  }

  std::optional<json> GetJson(const std::string& url, const std::string& token) {
    net::ClientRequest request;
    request.url = url;
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    auto r = client_->Send(request);
    if (!r || r->status != 200) return std::nullopt;
    json body = json::parse(r->body, nullptr, false);
    if (body.is_discarded()) return std::nullopt;
    return body;
  }

  std::uint64_t CloudletBatches() {
    auto stats = GetJson(cloudlet_url_ + "/api/v1/stats", "");
    return stats ? stats->value("batches_stored", std::uint64_t{0}) : 0;
  }

  node::testing::TempDir dir_;
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::string cloudlet_url_;
};

TEST_F(AttackTest, EveryScenarioIsDetectedOrBlockedAndHonestWearablesAreNotTouched) {
  const fs::path demo = dir_.path() / "demo";
  {
    Child setup({MEDMESH_BINARY, "demo", "--setup-only", "--data-dir", demo.string(), "--port-base",
                 "20000"},
                dir_.path() / "setup.err");
    ASSERT_TRUE(setup.WaitForLine("demo: created", std::chrono::seconds(120)));
    const int status = setup.Wait();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }

  // The cloud, cloudlet-1 and ward-1 of that folder, on free ports.
  json cloud_config = ReadJson(demo / "cloud" / "config.json");
  cloud_config["listen"] = "127.0.0.1:0";
  WriteJson(demo / "cloud" / "config.json", cloud_config);
  std::unique_ptr<Child> cloud;
  const auto cloud_port = StartService(cloud, "cloud", demo / "cloud" / "config.json", "cloud");
  ASSERT_TRUE(cloud_port);
  const std::string cloud_url = "http://127.0.0.1:" + std::to_string(*cloud_port);

  json cloudlet_config = ReadJson(demo / "cloudlet-1" / "config.json");
  cloudlet_config["listen"] = "127.0.0.1:0";
  cloudlet_config["cloud_url"] = cloud_url;
  WriteJson(demo / "cloudlet-1" / "config.json", cloudlet_config);
  std::unique_ptr<Child> cloudlet;
  const auto cloudlet_port = StartService(cloudlet, "cloudlet", demo / "cloudlet-1" / "config.json",
                                          "cloudlet-1", {"--demo-attacks", demo.string()});
  ASSERT_TRUE(cloudlet_port);
  cloudlet_url_ = "http://127.0.0.1:" + std::to_string(*cloudlet_port);
  // The attack tool finds the cloudlet's folder by the port its config listens on.
  cloudlet_config["listen"] = "127.0.0.1:" + std::to_string(*cloudlet_port);
  WriteJson(demo / "cloudlet-1" / "config.json", cloudlet_config);

  json ward_config = ReadJson(demo / "ward-1" / "config.json");
  ward_config["listen"] = "127.0.0.1:0";
  json cloudlets = json::array();
  for (json c : ward_config["cloudlets"]) {
    if (c["id"] != "cloudlet-1") continue;
    c["url"] = cloudlet_url_;
    cloudlets.push_back(c);
  }
  ward_config["cloudlets"] = cloudlets;
  WriteJson(demo / "ward-1" / "config.json", ward_config);
  std::vector<std::string> honest_devices;
  for (const json& d : ward_config["devices"]) honest_devices.push_back(d["device_id"]);
  Child ward({MEDMESH_BINARY, "wearable", "--config", (demo / "ward-1" / "config.json").string()},
             dir_.path() / "ward-1.err");
  ASSERT_TRUE(ward.started());

  // Honest data flows, and the cloud holds a record to tamper with.
  const std::string cloud_token = Token(demo / "cloud" / "operator.token");
  const std::string cloudlet_token = Token(demo / "cloudlet-1" / "operator.token");
  ASSERT_TRUE(medmesh::testing::WaitUntil(
      [&] {
        auto stats = GetJson(cloud_url + "/api/v1/stats", cloud_token);
        return stats && stats->value("records", 0) >= 1 && CloudletBatches() >= 4;
      },
      std::chrono::seconds(90), std::chrono::milliseconds(200)));

  // The attacks, from 127.0.0.60 on (the honest ward uses 127.0.0.1).
  Child attack({MEDMESH_BINARY, "attack", "run", "all", "--cloud", cloud_url, "--cloudlet",
                cloudlet_url_, "--deployment", demo.string(), "--source", "127.0.0.60"},
               dir_.path() / "attack.err");
  std::map<std::string, std::string> verdicts;
  while (auto line = attack.WaitForLine("verdict: ", std::chrono::seconds(120))) {
    const std::string rest = line->substr(line->find("verdict: ") + 9);
    verdicts[rest.substr(0, rest.find(' '))] = rest.substr(rest.find(' ') + 1);
  }
  const int status = attack.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::vector<std::string> expected = {
      "brute-force",      "credential-stuffing", "forged-batch", "replayed-batch",
      "withdrawn-device", "authz-probing",       "injection",    "request-flood",
      "slow-connections", "db-tampering"};
  for (const std::string& name : expected) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(verdicts.contains(name));
    EXPECT_TRUE(verdicts[name] == "BLOCKED" || verdicts[name] == "DETECTED") << verdicts[name];
  }
  // The lying peer (cloudlet-2's stolen key) reached the cloudlet and blocked no one.
  EXPECT_EQ(verdicts["lying-peer"], "DETECTED");
  // Every attack that comes from an address gets that address blocked or throttled.
  for (const char* name : {"brute-force", "credential-stuffing", "forged-batch", "withdrawn-device",
                           "authz-probing", "request-flood", "slow-connections"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(verdicts[name], "BLOCKED");
  }

  // The honest wearables: nothing on their address or devices, and their uploads go on.
  const auto decisions =
      GetJson(cloudlet_url_ + "/api/v1/ids/decisions?active=false&limit=1000", cloudlet_token);
  const auto alerts = GetJson(cloudlet_url_ + "/api/v1/ids/alerts?limit=1000", cloudlet_token);
  ASSERT_TRUE(decisions && alerts);
  const auto honest = [&](const json& scope) {
    const std::string value = scope.value("value", "");
    return value == "127.0.0.1" ||
           std::find(honest_devices.begin(), honest_devices.end(), value) != honest_devices.end();
  };
  // (Scopes here are loopback addresses and device ids, no patient data.)
  for (const json& d : (*decisions)["decisions"]) {
    EXPECT_FALSE(honest(d["scope"])) << d["detector"] << " " << d["scope"].dump();
  }
  for (const json& a : (*alerts)["alerts"]) {
    EXPECT_FALSE(honest(a["scope"])) << a["detector"] << " " << a["scope"].dump();
  }
  EXPECT_GE((*decisions)["decisions"].size(), 7u);  // the attacks did leave decisions

  // The operator console's launch route (demo only): operators only; the run's lines and
  // verdict are read back until it ends.
  const auto post_run = [&](const std::string& token) {
    net::ClientRequest request;
    request.method = net::Method::kPost;
    request.url = cloudlet_url_ + "/api/v1/attack/runs";
    request.content_type = "application/json";
    request.body = R"({"scenario":"request-flood"})";
    if (!token.empty()) request.headers.emplace_back("Authorization", "Bearer " + token);
    return client_->Send(request);
  };
  auto anonymous = post_run("");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  auto launched = post_run(cloudlet_token);
  ASSERT_TRUE(launched);
  ASSERT_EQ(launched->status, 202) << launched->body;
  const std::string run_id = json::parse(launched->body)["id"];
  json run;
  ASSERT_TRUE(medmesh::testing::WaitUntil(
      [&] {
        auto got = GetJson(cloudlet_url_ + "/api/v1/attack/runs/" + run_id, cloudlet_token);
        if (!got) return false;
        run = *got;
        return run["state"] == "done";
      },
      std::chrono::seconds(60), std::chrono::milliseconds(100)));
  ASSERT_EQ(run["verdicts"].size(), 1u);
  EXPECT_EQ(run["verdicts"][0]["verdict"], "BLOCKED");
  EXPECT_GT(run["lines"].size(), 3u);

  const std::uint64_t after_attacks = CloudletBatches();
  EXPECT_TRUE(medmesh::testing::WaitUntil([&] { return CloudletBatches() >= after_attacks + 4; },
                                          std::chrono::seconds(60),
                                          std::chrono::milliseconds(200)));
}

}  // namespace
}  // namespace medmesh
