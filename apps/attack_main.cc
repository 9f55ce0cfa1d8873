// medmesh attack: runs the red-team scenarios of src/attack/scenarios.h against the deployment
// at --cloud and --cloudlet and prints each one's story and verdict (docs/attack.md).
#include "apps/attack_main.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "attack/scenarios.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "core/random.h"
#include "node/identity.h"

namespace {

namespace attack = medmesh::attack;

struct AttackFlags {
  std::string scenario;
  std::string cloud_url = "http://127.0.0.1:8080";
  std::string cloudlet_url = "http://127.0.0.1:8081";
  std::string deployment;
  std::string operator_token_file;
  std::string source = "127.0.0.10";
};

int RunList() {
  for (const attack::ScenarioInfo& s : attack::Scenarios()) {
    std::cout << s.name << "\n    tries: " << s.tries << " (" << s.node
              << ")\n    should fire: " << s.detector << "\n";
  }
  return 0;
}

int RunAttack(const AttackFlags& flags) {
  attack::AttackTarget target;
  target.cloud_url = flags.cloud_url;
  target.cloudlet_url = flags.cloudlet_url;
  target.first_source = flags.source;
  if (!flags.operator_token_file.empty()) {
    auto token = medmesh::node::ReadTokenFile(flags.operator_token_file);
    if (!token) {
      std::cerr << "medmesh attack: --operator-token-file: " << token.error().ToString() << "\n";
      return 2;
    }
    std::string text(medmesh::AsStringView(token->reveal()));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    target.cloudlet_operator_token = std::move(text);
  }
  if (!flags.deployment.empty()) {
    if (auto loaded = attack::LoadDeployment(flags.deployment, target); !loaded) {
      std::cerr << "medmesh attack: --deployment: " << loaded.error().ToString() << "\n";
      return 2;
    }
  }
  std::vector<std::string> names;
  if (flags.scenario == "all") {
    for (const attack::ScenarioInfo& s : attack::Scenarios()) names.emplace_back(s.name);
  } else {
    names.push_back(flags.scenario);
  }
  medmesh::SystemRandom random;
  medmesh::SystemClock clock;
  const auto print = [](const std::string& line) { std::cout << line << "\n" << std::flush; };
  std::vector<attack::ScenarioResult> results;
  for (const std::string& name : names) {
    auto result = attack::RunScenario(name, target, random, clock, print);
    if (!result) {
      std::cerr << "medmesh attack: " << result.error().ToString() << "\n";
      return 2;
    }
    results.push_back(std::move(*result));
  }
  std::map<attack::Verdict, int> counts;
  std::cout << "== summary\n";
  for (const attack::ScenarioResult& r : results) {
    ++counts[r.verdict];
    std::cout << "  " << r.name << std::string(r.name.size() < 22 ? 22 - r.name.size() : 1, ' ')
              << attack::VerdictName(r.verdict) << "\n";
  }
  std::cout << "blocked " << counts[attack::Verdict::kBlocked] << ", detected "
            << counts[attack::Verdict::kDetected] << ", missed " << counts[attack::Verdict::kMissed]
            << ", skipped " << counts[attack::Verdict::kSkipped] << "\n";
  return counts[attack::Verdict::kMissed] > 0 ? 1 : 0;
}

}  // namespace

void RegisterAttackCommand(CLI::App& app) {
  auto flags = std::make_shared<AttackFlags>();
  CLI::App* cmd = app.add_subcommand(
      "attack", "Red-team scenarios against a running (demo or test) deployment (docs/attack.md)");
  cmd->require_subcommand(1);
  cmd->add_subcommand("list", "List the scenarios")->callback([] { (void)RunList(); });
  CLI::App* run = cmd->add_subcommand(
      "run",
      "Run one scenario or all; exit 1 if any is MISSED. Only against demo or test "
      "deployments: it enrols devices, fails logins and alters the cloud's database "
      "(and restores it)");
  run->add_option("scenario", flags->scenario, "A scenario name (medmesh attack list) or all")
      ->required();
  run->add_option("--cloud", flags->cloud_url, "The cloud's URL")->capture_default_str();
  run->add_option("--cloudlet", flags->cloudlet_url, "The attacked cloudlet's URL")
      ->capture_default_str();
  run->add_option("--deployment", flags->deployment,
                  "The demo folder: tokens, the root certificate, the cloud's data folder and "
                  "the demo logins");
  run->add_option("--operator-token-file", flags->operator_token_file,
                  "The cloudlet's operator token (to read its IDS back), if not from "
                  "--deployment");
  run->add_option("--source", flags->source,
                  "First loopback source address; scenario i attacks from this + i (never use "
                  "127.0.0.1: the IDS never blocks it)")
      ->capture_default_str();
  run->callback([flags] {
    const int code = RunAttack(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}
