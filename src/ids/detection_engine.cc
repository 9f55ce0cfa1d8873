#include "ids/detection_engine.h"

#include "core/log.h"

namespace medmesh::ids {
namespace {

std::int64_t NowMs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

}  // namespace

DetectionEngine::DetectionEngine(DecisionTable& table,
                                 std::vector<std::unique_ptr<Detector>> detectors,
                                 std::size_t alerts_kept)
    : table_(table), alerts_kept_(alerts_kept), detectors_(std::move(detectors)) {}

void DetectionEngine::Observe(const Observation& observation) {
  if (listener_.on_observation) listener_.on_observation(observation);
  std::vector<Alert> alerts;
  {
    std::lock_guard lock(mu_);
    for (const auto& detector : detectors_) detector->Observe(observation, alerts);
  }
  for (Alert& alert : alerts) {
    AlertRecord record{std::move(alert), std::nullopt, false};
    const Alert& a = record.alert;
    auto decided = table_.Impose({a.detector, a.detector_version, a.scope, a.action, a.reason});
    if (!decided) {
      log::Error("ids_decision_failed",
                 {{"detector", a.detector}, {"error", decided.error().ToString()}});
    } else if (!*decided) {
      record.allowlisted = true;
    } else {
      record.decision = **decided;
    }
    // Scope values of accounts are keyed hashes; addresses and device ids are what the access
    // log and ids.db already hold.
    log::Warn("ids_alert", {{"detector", a.detector},
                            {"scope", std::string(ScopeKindName(a.scope.kind))},
                            {"action", std::string(ActionName(a.action))},
                            {"allowlisted", record.allowlisted},
                            {"expires_ms", record.decision ? record.decision->expires_ms : 0}});
    if (listener_.on_alert) listener_.on_alert(record);
    std::lock_guard lock(mu_);
    ++alerts_total_;
    alerts_.push_front(std::move(record));
    while (alerts_.size() > alerts_kept_) alerts_.pop_back();
  }
}

void DetectionEngine::OnIdsEvent(const store::IdsEvent& event) {
  Observation o;
  o.source = Observation::Source::kEvent;
  o.time_ms = event.time_ms;
  o.peer = event.source_ip;
  o.kind = event.kind;
  o.device_id = event.device_id;
  o.account_ref = event.account_ref;
  Observe(o);
}

store::IdsEventObserver DetectionEngine::EventObserver() {
  return [this](const store::IdsEvent& event) { OnIdsEvent(event); };
}

std::vector<AlertRecord> DetectionEngine::Alerts(std::size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<AlertRecord> out;
  for (const AlertRecord& r : alerts_) {
    if (out.size() >= limit) break;
    out.push_back(r);
  }
  return out;
}

std::uint64_t DetectionEngine::alerts_total() const {
  std::lock_guard lock(mu_);
  return alerts_total_;
}

std::vector<std::pair<std::string, std::uint32_t>> DetectionEngine::detectors() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, std::uint32_t>> out;
  for (const auto& d : detectors_) out.emplace_back(std::string(d->name()), d->version());
  return out;
}

net::ServerObserver ServerObserverFor(DetectionEngine& engine, store::IdsEventLog& log,
                                      std::string node, const Clock& clock) {
  return [&engine, &log, node = std::move(node), &clock](const net::ServerEvent& e) {
    const std::int64_t now = NowMs(clock);
    if (e.kind == net::ServerEvent::Kind::kTimeout ||
        (e.kind == net::ServerEvent::Kind::kResponse && e.status == 413)) {
      store::IdsEvent event;
      event.time_ms = now;
      event.node = node;
      event.source_ip = std::string(e.peer);
      if (e.kind == net::ServerEvent::Kind::kTimeout) {
        event.kind = store::IdsEventKind::kSlowClient;
        event.detail = "connection closed: head or body not received in time";
      } else {
        event.kind = store::IdsEventKind::kOversized;
        event.detail = "request body over the limit of " + std::string(e.route);
      }
      // Fed to the engine by the log's observer. A failed write loses one event of a refusal
      // (ids.db down): nothing to answer, and the caller is an I/O thread.
      (void)log.Record(event);
    }
    // Refusals of enforced decisions are not news for the detectors (and cost nothing here).
    if (e.kind != net::ServerEvent::Kind::kResponse || e.route == "filtered") return;
    Observation o;
    o.source = Observation::Source::kResponse;
    o.time_ms = now;
    o.peer = std::string(e.peer);
    o.status = e.status;
    o.route = std::string(e.route);
    o.authenticated = e.authenticated;
    engine.Observe(o);
  };
}

}  // namespace medmesh::ids
