// AttackRuns: red-team runs launched from the operator console of a DEMO cloudlet (issue 11:
// "in the demo only, the operator console can launch them"). One run at a time, on this
// object's own thread; each run keeps its printed lines and verdicts in memory (the last
// kMaxRuns runs, at most kMaxLines lines each). Nothing is stored on disk.
//
// Routes (AddAttackRoutes; docs/openapi.yaml, docs/authorization.md, docs/attack.md):
//   GET  /api/v1/attack/runs        -> 200 {"scenarios":[{"name","tries","detector","node"}],
//                                   "runs":[{"id","scenario","state","verdicts"}]} (the
//                                   scenarios in the order "all" runs them; the runs kept,
//                                   newest first, without their lines)
//   POST /api/v1/attack/runs        {"scenario": name|"all"} -> 202 {"id","scenario","state"}
//                                   400 bad body or unknown scenario, 409 a run is in progress
//   GET  /api/v1/attack/runs/{id}   -> 200 {"id","scenario","state":"running"|"done",
//                                   "lines":[...], "verdicts":[{"scenario","verdict"}]}; 404
// All ask `authorize` first (a response refuses: 401/403). With `runs` null (a node that is not
// a demo) all answer 404 exactly like a route that does not exist, to everyone.
// Thread safety: thread-safe. The destructor waits for a running run to end.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "attack/scenarios.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "net/http_message.h"
#include "net/router.h"

namespace medmesh::attack {

class AttackRuns {
 public:
  static constexpr std::size_t kMaxRuns = 20;
  static constexpr std::size_t kMaxLines = 2000;

  struct Run {
    std::string id;
    std::string scenario;  // a name or "all"
    bool done = false;
    std::vector<std::string> lines;
    std::vector<ScenarioResult> results;
  };

  // `target` is asked at the start of each run (the node's own URL is known only once it
  // listens). `random` and `clock` must outlive this object.
  AttackRuns(std::function<AttackTarget()> target, Random& random, const Clock& clock);
  ~AttackRuns();
  AttackRuns(const AttackRuns&) = delete;
  AttackRuns& operator=(const AttackRuns&) = delete;

  // Starts `scenario` (a name of Scenarios() or "all"); returns the run's id.
  // kInvalidArgument for an unknown name, kFailedPrecondition while another run is going.
  Result<std::string> Start(const std::string& scenario);
  // A copy of the run, or nullopt for an unknown (or forgotten) id.
  std::optional<Run> Get(const std::string& id) const;
  // Copies of the runs kept (at most kMaxRuns), newest first, without their lines.
  std::vector<Run> List() const;

 private:
  void Work(std::string id, std::vector<std::string> names);

  std::function<AttackTarget()> target_;
  Random& random_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::deque<Run> runs_;  // oldest first
  bool running_ = false;
  std::thread worker_;
};

void AddAttackRoutes(net::Router& router, AttackRuns* runs,
                     std::function<std::optional<net::Response>(const net::Request&)> authorize);

}  // namespace medmesh::attack
