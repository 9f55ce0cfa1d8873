// AttackRuns and its routes over a real net::HttpServer: a run is started, polled to its end and
// its lines and verdicts read back, and listed with the scenarios; an unknown scenario is 400, a
// refusal of `authorize` is passed on, and a node that is not a demo answers 404 on every route.
#include "attack/attack_runs.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "attack/source_client.h"
#include "net/http_server.h"
#include "testing/wait.h"

namespace medmesh::attack {
namespace {

using nlohmann::json;

std::unique_ptr<net::HttpServer> Serve(AttackRuns* runs) {
  net::Router router;
  AddAttackRoutes(router, runs, [](const net::Request& r) -> std::optional<net::Response> {
    for (const auto& [name, value] : r.headers) {
      if (net::EqualsIgnoreCase(name, "Authorization") && value == "Bearer operator") {
        return std::nullopt;
      }
    }
    return net::Response::Json(R"({"error":"unauthenticated"})", 401);
  });
  net::ServerOptions options;
  options.access_log = false;
  return net::HttpServer::Start(std::move(options), std::move(router)).value();
}

const std::vector<std::pair<std::string, std::string>> kOperator = {
    {"Authorization", "Bearer operator"}};

TEST(AttackRunsTest, ARunIsStartedPolledAndReadBack) {
  SystemRandom random;
  SystemClock clock;
  AttackRuns runs(
      [] {
        AttackTarget t;
        t.cloud_url = "http://127.0.0.1:1";
        t.cloudlet_url = "http://127.0.0.1:1";
        return t;
      },
      random, clock);
  auto server = Serve(&runs);
  SourceClient client({"127.0.0.1", server->port()}, "", std::chrono::seconds(5));

  auto refused = client.Send("POST", "/api/v1/attack/runs", R"({"scenario":"lying-peer"})",
                             "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  auto unknown = client.Send("POST", "/api/v1/attack/runs", R"({"scenario":"no-such"})",
                             "application/json", kOperator);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);

  auto started = client.Send("POST", "/api/v1/attack/runs", R"({"scenario":"lying-peer"})",
                             "application/json", kOperator);
  ASSERT_TRUE(started);
  ASSERT_EQ(started->status, 202) << started->body;
  const std::string id = json::parse(started->body)["id"];
  json run;
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] {
    auto got = client.Send("GET", "/api/v1/attack/runs/" + id, {}, {}, kOperator);
    if (!got || got->status != 200) return false;
    run = json::parse(got->body);
    return run["state"] == "done";
  }));
  ASSERT_EQ(run["verdicts"].size(), 1u);
  EXPECT_EQ(run["verdicts"][0]["scenario"], "lying-peer");
  EXPECT_EQ(run["verdicts"][0]["verdict"], "SKIPPED");
  EXPECT_EQ(run["lines"].back(), "verdict: lying-peer SKIPPED");
  // The list: every scenario in Scenarios() order, and the run (no lines).
  auto listed = client.Send("GET", "/api/v1/attack/runs", {}, {}, kOperator);
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->status, 200) << listed->body;
  const json list = json::parse(listed->body);
  ASSERT_EQ(list["scenarios"].size(), Scenarios().size());
  for (std::size_t i = 0; i < Scenarios().size(); ++i) {
    EXPECT_EQ(list["scenarios"][i]["name"], std::string(Scenarios()[i].name));
    EXPECT_EQ(list["scenarios"][i]["detector"], std::string(Scenarios()[i].detector));
  }
  ASSERT_EQ(list["runs"].size(), 1u);
  EXPECT_EQ(list["runs"][0]["id"], id);
  EXPECT_EQ(list["runs"][0]["state"], "done");
  EXPECT_EQ(list["runs"][0]["verdicts"], run["verdicts"]);
  EXPECT_FALSE(list["runs"][0].contains("lines"));
  auto list_anonymous = client.Send("GET", "/api/v1/attack/runs");
  ASSERT_TRUE(list_anonymous);
  EXPECT_EQ(list_anonymous->status, 401);
  // A second run is listed first.
  auto again = client.Send("POST", "/api/v1/attack/runs", R"({"scenario":"lying-peer"})",
                           "application/json", kOperator);
  ASSERT_TRUE(again);
  ASSERT_EQ(again->status, 202) << again->body;
  const std::string second = json::parse(again->body)["id"];
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] {
    auto got = client.Send("GET", "/api/v1/attack/runs", {}, {}, kOperator);
    if (!got || got->status != 200) return false;
    const json now = json::parse(got->body);
    return now["runs"].size() == 2u && now["runs"][0]["id"] == second &&
           now["runs"][0]["state"] == "done";
  }));

  auto missing = client.Send("GET", "/api/v1/attack/runs/0000", {}, {}, kOperator);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto anonymous = client.Send("GET", "/api/v1/attack/runs/" + id);
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
}

TEST(AttackRunsTest, ANodeThatIsNotADemoAnswers404) {
  auto server = Serve(nullptr);
  SourceClient client({"127.0.0.1", server->port()}, "", std::chrono::seconds(5));
  auto post = client.Send("POST", "/api/v1/attack/runs", R"({"scenario":"all"})",
                          "application/json", kOperator);
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
  auto get = client.Send("GET", "/api/v1/attack/runs/abc", {}, {}, kOperator);
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 404);
  auto list = client.Send("GET", "/api/v1/attack/runs", {}, {}, kOperator);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 404);
}

}  // namespace
}  // namespace medmesh::attack
