#include "attack/attack_runs.h"

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "net/error_mapping.h"
#include "net/json_body.h"

namespace medmesh::attack {
namespace {

using Json = nlohmann::json;

// A run as the routes show it; `with_lines` false for the list.
Json RunJson(const AttackRuns::Run& run, bool with_lines = true) {
  Json verdicts = Json::array();
  for (const ScenarioResult& r : run.results) {
    verdicts.push_back({{"scenario", r.name}, {"verdict", std::string(VerdictName(r.verdict))}});
  }
  Json out{{"id", run.id},
           {"scenario", run.scenario},
           {"state", run.done ? "done" : "running"},
           {"verdicts", verdicts}};
  if (with_lines) out["lines"] = run.lines;
  return out;
}

net::Response Dump(const Json& body, int status) {
  return net::Response::Json(body.dump(-1, ' ', false, Json::error_handler_t::replace), status);
}

}  // namespace

AttackRuns::AttackRuns(std::function<AttackTarget()> target, Random& random, const Clock& clock)
    : target_(std::move(target)), random_(random), clock_(clock) {}

AttackRuns::~AttackRuns() {
  if (worker_.joinable()) worker_.join();
}

Result<std::string> AttackRuns::Start(const std::string& scenario) {
  std::vector<std::string> names;
  for (const ScenarioInfo& s : Scenarios()) {
    if (scenario == "all" || s.name == scenario) names.emplace_back(s.name);
  }
  if (names.empty()) return InvalidArgument("unknown scenario (see medmesh attack list)");
  std::lock_guard lock(mu_);
  if (running_) return FailedPrecondition("a run is in progress; wait for it to end");
  if (worker_.joinable()) worker_.join();  // the previous run has ended
  Run run;
  run.id = HexEncode(random_.Generate(8));
  run.scenario = scenario;
  runs_.push_back(run);
  while (runs_.size() > kMaxRuns) runs_.pop_front();
  running_ = true;
  worker_ = std::thread([this, id = run.id, names = std::move(names)] { Work(id, names); });
  return run.id;
}

std::optional<AttackRuns::Run> AttackRuns::Get(const std::string& id) const {
  std::lock_guard lock(mu_);
  const auto it =
      std::find_if(runs_.begin(), runs_.end(), [&](const Run& r) { return r.id == id; });
  if (it == runs_.end()) return std::nullopt;
  return *it;
}

std::vector<AttackRuns::Run> AttackRuns::List() const {
  std::lock_guard lock(mu_);
  std::vector<Run> out;
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
    Run copy;
    copy.id = it->id;
    copy.scenario = it->scenario;
    copy.done = it->done;
    copy.results = it->results;
    out.push_back(std::move(copy));
  }
  return out;
}

void AttackRuns::Work(std::string id, std::vector<std::string> names) {
  const auto with_run = [&](const std::function<void(Run&)>& f) {
    std::lock_guard lock(mu_);
    for (Run& r : runs_) {
      if (r.id == id) f(r);
    }
  };
  const AttackTarget target = target_();
  const PrintLine print = [&](const std::string& line) {
    with_run([&](Run& r) {
      if (r.lines.size() < kMaxLines) r.lines.push_back(line);
    });
  };
  for (const std::string& name : names) {
    auto result = RunScenario(name, target, random_, clock_, print);
    if (result) with_run([&](Run& r) { r.results.push_back(*result); });
  }
  std::lock_guard lock(mu_);
  for (Run& r : runs_) {
    if (r.id == id) r.done = true;
  }
  running_ = false;
}

void AddAttackRoutes(net::Router& router, AttackRuns* runs,
                     std::function<std::optional<net::Response>(const net::Request&)> authorize) {
  auto shared = std::make_shared<decltype(authorize)>(std::move(authorize));
  // Not a demo: the same answer as a route that does not exist.
  const auto absent = [] { return net::ErrorResponse(NotFound("no such route")); };
  router.Post("/api/v1/attack/runs",
              [runs, shared, absent](const net::Request& r) -> Result<net::Response> {
                if (runs == nullptr) return absent();
                if (auto refusal = (*shared)(r)) return std::move(*refusal);
                static constexpr net::JsonField kFields[] = {{"scenario", net::JsonType::kString}};
                net::JsonBody body = net::ParseJsonBody(r, kFields);
                if (auto* refusal = std::get_if<net::Response>(&body)) return std::move(*refusal);
                const std::string scenario = std::get<Json>(body).at("scenario").get<std::string>();
                MEDMESH_ASSIGN_OR_RETURN(std::string id, runs->Start(scenario));
                return Dump({{"id", id}, {"scenario", scenario}, {"state", "running"}}, 202);
              },
              {.body_limit_bytes = 1024});
  router.Get(
      "/api/v1/attack/runs",
      [runs, shared, absent](const net::Request& r) -> Result<net::Response> {
        if (runs == nullptr) return absent();
        if (auto refusal = (*shared)(r)) return std::move(*refusal);
        Json scenarios = Json::array();
        for (const ScenarioInfo& s : Scenarios()) {
          scenarios.push_back(
              {{"name", s.name}, {"tries", s.tries}, {"detector", s.detector}, {"node", s.node}});
        }
        Json list = Json::array();
        for (const AttackRuns::Run& run : runs->List()) list.push_back(RunJson(run, false));
        return Dump({{"scenarios", scenarios}, {"runs", list}}, 200);
      });
  router.Get("/api/v1/attack/runs/{id}",
             [runs, shared, absent](const net::Request& r) -> Result<net::Response> {
               if (runs == nullptr) return absent();
               if (auto refusal = (*shared)(r)) return std::move(*refusal);
               const auto run = runs->Get(std::string(r.PathParam("id").value_or("")));
               if (!run) return NotFound("no such run");
               return Dump(RunJson(*run), 200);
             });
}

}  // namespace medmesh::attack
