// Detectors: small, deterministic state machines over a node's security observations (the IDS
// events its code records, store/ids_event_log.h, and what its HTTP server sees,
// net::ServerEvent). Each has a name and a version (they appear in every decision it causes),
// takes time only from the observations (so the same sequence gives the same alerts), keeps
// bounded memory, and proposes an action on a scope when a threshold is crossed. The
// DetectionEngine (detection_engine.h) feeds them and turns their alerts into decisions.
//
// Counting: a LeakyCount per key (a source, a device, an account) adds each observation's
// weight and halves every `half_life`; it fires once when it reaches the threshold (rounded to
// the nearest whole: a burst of T events decays to a little under T meanwhile) and re-arms
// when it has fallen back under half of it, so a continuing attack gives one alert, not one
// per request. A sustained rate r (per ms) settles at r x half_life / ln 2, so a threshold T
// with half-life h catches rates above about T ln2 / h and bursts of T within a fraction of h.
// Keys per detector are bounded (max_keys): when full, keys whose count decayed under 1 are
// dropped; if none, a new key is not tracked (counted in Detector::untracked()).
//
// The detectors and their defaults are in docs/ids.md. Thread safety: none; the engine
// serialises calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/status.h"
#include "ids/decision.h"
#include "store/ids_event_log.h"

namespace medmesh::ids {

struct Observation {
  enum class Source {
    kEvent,     // an IDS event (kind, device_id, account_ref)
    kResponse,  // an HTTP response the node sent (status, route)
    kTimeout,   // a connection the node closed because its client was too slow
    kPayload,   // a request scored by a PayloadScorer (payload_score)
  };
  Source source = Source::kEvent;
  std::int64_t time_ms = 0;
  std::string peer;  // Request::peer_address; "" if none
  store::IdsEventKind kind = store::IdsEventKind::kOther;
  std::string device_id;
  std::string account_ref;
  int status = 0;
  std::string route;  // the matched route pattern, "unmatched", "filtered"
  bool authenticated = false;
  double payload_score = 0;  // kPayload: 0 benign .. 1 attack

  // An IDS event, and an HTTP response, as observed (scripted traffic in tests and benchmarks).
  static Observation Event(std::int64_t t, std::string peer, store::IdsEventKind kind,
                           std::string device = {}, std::string account = {}) {
    Observation o;
    o.source = Source::kEvent;
    o.time_ms = t;
    o.peer = std::move(peer);
    o.kind = kind;
    o.device_id = std::move(device);
    o.account_ref = std::move(account);
    return o;
  }
  static Observation Response(std::int64_t t, std::string peer, int status, std::string route,
                              bool authenticated = false) {
    Observation o;
    o.source = Source::kResponse;
    o.time_ms = t;
    o.peer = std::move(peer);
    o.status = status;
    o.route = std::move(route);
    o.authenticated = authenticated;
    return o;
  }
};

// The score at which a PayloadScorer's own verdict is "attack" (see PayloadScorer).
inline constexpr double kPayloadAttackScore = 0.9;

struct Alert {
  std::int64_t time_ms = 0;
  std::string detector;
  std::uint32_t detector_version = 0;
  Scope scope;
  Action action = Action::kAlertOnly;
  std::string reason;
};

// A count that halves every half-life (see the top of this file).
class LeakyCount {
 public:
  // Adds `weight` at `now_ms`; true when this reaches `threshold` (rounded) while armed (then
  // disarmed until the count falls under threshold / 2).
  bool Add(double weight, std::int64_t now_ms, double threshold,
           std::chrono::milliseconds half_life);
  double ValueAt(std::int64_t now_ms, std::chrono::milliseconds half_life) const;

 private:
  double value_ = 0;
  std::int64_t at_ms_ = 0;
  bool armed_ = true;
};

// LeakyCounts by key, bounded (see the top of this file).
class KeyedCounts {
 public:
  KeyedCounts(double threshold, std::chrono::milliseconds half_life, std::size_t max_keys)
      : threshold_(threshold), half_life_(half_life), max_keys_(max_keys) {}
  // As LeakyCount::Add for `key`; false (and untracked() + 1) when the key cannot be tracked.
  bool Add(const std::string& key, double weight, std::int64_t now_ms);
  double ValueAt(const std::string& key, std::int64_t now_ms) const;
  double threshold() const { return threshold_; }
  std::uint64_t untracked() const { return untracked_; }

 private:
  double threshold_;
  std::chrono::milliseconds half_life_;
  std::size_t max_keys_;
  std::unordered_map<std::string, LeakyCount> counts_;
  std::uint64_t untracked_ = 0;
};

class Detector {
 public:
  virtual ~Detector() = default;
  virtual std::string_view name() const = 0;
  virtual std::uint32_t version() const = 0;
  // Feeds one observation; appends the alerts it causes to `out`.
  virtual void Observe(const Observation& o, std::vector<Alert>& out) = 0;

 protected:
  Alert MakeAlert(const Observation& o, Scope scope, Action action, std::string reason) const;
};

// The thresholds of the default detectors (docs/ids.md explains each).
struct DetectorOptions {
  std::size_t max_keys = 10'000;
  // credentials: failed logins / bad tokens per source; per account reference (a throttle of
  // the account, ids/account_gate.h: blocking an account would let anyone lock its owner out);
  // distinct accounts per source (stuffing).
  double auth_failures_per_source = 10;
  double auth_failures_per_account = 20;
  std::size_t accounts_per_source = 5;
  std::chrono::milliseconds auth_half_life = std::chrono::minutes(5);
  // device_batches: refused device uploads per source (weighted), per device (alert).
  double bad_batches_per_source = 6;
  double bad_batches_per_device = 3;
  double unknown_sessions_per_device = 20;
  std::chrono::milliseconds batch_half_life = std::chrono::minutes(10);
  // authz_probing: 403/404 answers on routes with an id, per source.
  double probes_per_source = 20;
  std::chrono::milliseconds probe_half_life = std::chrono::minutes(2);
  // request_flood: requests per second per source over max(floor, factor x EWMA baseline).
  double flood_floor_per_second = 200;
  double flood_floor_authenticated_per_second = 1000;
  double flood_factor = 10;
  double flood_alpha = 0.1;
  // slow_connections: head/body timeouts and malformed HTTP (400, 431) per source.
  double slow_per_source = 10;
  std::chrono::milliseconds slow_half_life = std::chrono::minutes(5);
  // payloads: requests a PayloadScorer scored at or above payload_score_threshold, per source
  // (one score alone never blocks: a learned score is evidence, not proof).
  double payload_score_threshold = kPayloadAttackScore;
  double payloads_per_source = 5;
  std::chrono::milliseconds payload_half_life = std::chrono::minutes(10);
};

// Scores the attacker-chosen strings of one request part (decoded path segments and query
// parameters, or the string leaves of its body: payload_scoring.h collects them) for injection
// or malformed payloads: 0 benign .. 1 attack, calibrated so that kPayloadAttackScore is the
// scorer's own operating point (what it calls an attack scores at least that). The trained
// request classifier (ClassifierPayloadScorer, payload_scoring.h) implements it.
// Thread safety: implementations must be thread-safe (called from I/O threads).
class PayloadScorer {
 public:
  virtual ~PayloadScorer() = default;
  virtual std::string_view name() const = 0;
  // The maximum over `values` (0 for none). An error only if the scorer itself fails.
  virtual Result<double> Score(std::span<const std::string> values) const = 0;
};

// The default detector set: credentials, device_batches, authz_probing, request_flood,
// slow_connections, integrity, payloads.
std::vector<std::unique_ptr<Detector>> DefaultDetectors(const DetectorOptions& options = {});

}  // namespace medmesh::ids
