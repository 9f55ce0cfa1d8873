// DetectionEngine: feeds a node's observations to its detectors (detector.h) as they happen,
// turns their alerts into decisions (DecisionTable::Impose) and keeps the recent alerts for
// operators. Fed by two observers, both set up by the services at start:
//   - store::IdsEventLog::SetObserver(engine.EventObserver()): every IDS event recorded;
//   - net::ServerOptions::observer = ServerObserverFor(...): every response and slow-client
//     timeout of the node's HTTP server (it also records 413 refusals and timeouts as IDS events,
//     so a chunked oversize body is in ids.db like any other).
// A third source, where a model is loaded: PayloadScoring (payload_scoring.h) observes the
// requests whose values score as payloads. Nothing polls the database.
//
// Cost: one mutex and a few hash lookups per observation; a decision (rare) costs one SQLite
// commit, made outside the engine's lock in the thread whose observation caused it.
// An alert whose scope is allowlisted is kept (marked) but becomes no decision.
// Thread safety: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "ids/decision_table.h"
#include "ids/detector.h"
#include "net/http_server.h"
#include "store/ids_event_log.h"

namespace medmesh::ids {

struct AlertRecord {
  Alert alert;
  std::optional<Decision> decision;  // what it caused (also an existing decision it matched)
  bool allowlisted = false;
};

// Who else hears what the engine sees (the IDS mesh, mesh_node.h): every observation before the
// detectors, and every alert after its decision was made. Either may be empty. Called outside
// the engine's lock, on the observing thread.
struct EngineListener {
  std::function<void(const Observation&)> on_observation;
  std::function<void(const AlertRecord&)> on_alert;
};

class DetectionEngine {
 public:
  // `table` must outlive the engine. Keeps the last `alerts_kept` alerts in memory.
  DetectionEngine(DecisionTable& table, std::vector<std::unique_ptr<Detector>> detectors,
                  std::size_t alerts_kept = 1000);

  // Feeds one observation to every detector and acts on their alerts.
  void Observe(const Observation& observation);
  void OnIdsEvent(const store::IdsEvent& event);

  store::IdsEventObserver EventObserver();

  // Set once, before the engine is shared between threads.
  void SetListener(EngineListener listener) { listener_ = std::move(listener); }

  // Alerts newest first, at most `limit`.
  std::vector<AlertRecord> Alerts(std::size_t limit) const;
  std::uint64_t alerts_total() const;
  // Name and version of every detector, in feeding order.
  std::vector<std::pair<std::string, std::uint32_t>> detectors() const;

 private:
  DecisionTable& table_;
  const std::size_t alerts_kept_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Detector>> detectors_;  // guarded by mu_
  std::deque<AlertRecord> alerts_;                    // guarded by mu_
  std::uint64_t alerts_total_ = 0;                    // guarded by mu_
  EngineListener listener_;
};

// The server observer of a node: responses go to `engine`; a 413 (declared or chunked body
// over the route's limit) is recorded in `log` as an oversized event and a head or body
// timeout as a slow_client event (which reach the engine through the log's observer). All
// referenced objects must outlive the server.
net::ServerObserver ServerObserverFor(DetectionEngine& engine, store::IdsEventLog& log,
                                      std::string node, const Clock& clock);

}  // namespace medmesh::ids
