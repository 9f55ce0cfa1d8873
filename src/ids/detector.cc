#include "ids/detector.h"

#include <algorithm>
#include <cmath>

namespace medmesh::ids {
namespace {

using store::IdsEventKind;

std::optional<Scope> SourceOf(const Observation& o) {
  if (o.peer.empty()) return std::nullopt;
  auto scope = SourceScope(o.peer);
  if (!scope) return std::nullopt;
  return *scope;
}

std::string Fmt(double v) { return std::to_string(static_cast<long long>(std::llround(v))); }

std::string Minutes(std::chrono::milliseconds d) {
  return std::to_string(std::max<long long>(1, d.count() / 60'000)) + " min";
}

// credentials v2: failed logins and bad session tokens (auth_failure, rate_limited events).
// v2 (account references filled in by the login paths): the per-account alert proposes a
// throttle of the account (ids/account_gate.h), no longer alert only.
class CredentialDetector final : public Detector {
 public:
  explicit CredentialDetector(const DetectorOptions& o)
      : o_(o),
        by_source_(o.auth_failures_per_source, o.auth_half_life, o.max_keys),
        by_account_(o.auth_failures_per_account, o.auth_half_life, o.max_keys) {}
  std::string_view name() const override { return "credentials"; }
  std::uint32_t version() const override { return 2; }
  void Observe(const Observation& o, std::vector<Alert>& out) override {
    if (o.source != Observation::Source::kEvent ||
        (o.kind != IdsEventKind::kAuthFailure && o.kind != IdsEventKind::kRateLimited)) {
      return;
    }
    const std::optional<Scope> source = SourceOf(o);
    if (source && by_source_.Add(source->Key(), 1, o.time_ms)) {
      out.push_back(MakeAlert(o, *source, Action::kBlock,
                              "at least " + Fmt(by_source_.threshold()) +
                                  " failed logins or bad tokens from this source (half-life " +
                                  Minutes(o_.auth_half_life) + ")"));
    }
    if (o.account_ref.empty()) return;
    if (by_account_.Add(o.account_ref, 1, o.time_ms)) {
      // A throttle, not a block: a block would let anyone lock the account's owner out.
      out.push_back(MakeAlert(o, Scope{ScopeKind::kAccount, o.account_ref}, Action::kThrottle,
                              "at least " + Fmt(by_account_.threshold()) +
                                  " failed logins on this account from any source (half-life " +
                                  Minutes(o_.auth_half_life) + ")"));
    }
    if (!source) return;
    // Credential stuffing: one source, many accounts, within a window of two half-lives.
    Stuffing& s = stuffing_[source->Key()];
    if (o.time_ms - s.since_ms > 2 * o_.auth_half_life.count()) s = Stuffing{o.time_ms, {}, false};
    if (s.accounts.size() <= o_.accounts_per_source) s.accounts.insert(o.account_ref);
    if (!s.fired && s.accounts.size() >= o_.accounts_per_source) {
      s.fired = true;
      out.push_back(MakeAlert(o, *source, Action::kBlock,
                              "failed logins on " + std::to_string(o_.accounts_per_source) +
                                  " or more accounts from this source (credential stuffing)"));
    }
    if (stuffing_.size() > o_.max_keys) {
      std::erase_if(stuffing_, [&](const auto& kv) {
        return o.time_ms - kv.second.since_ms > 2 * o_.auth_half_life.count();
      });
    }
  }

 private:
  struct Stuffing {
    std::int64_t since_ms = 0;
    std::unordered_set<std::string> accounts;
    bool fired = false;
  };
  DetectorOptions o_;
  KeyedCounts by_source_;
  KeyedCounts by_account_;
  std::unordered_map<std::string, Stuffing> stuffing_;
};

// device_batches v1: refused device uploads. Kinds refused before the device signature is
// checked (or because it failed) weigh fully on the source; kinds found only after the
// signature verified (replay, decrypt_failure) are the device's own bytes, so they weigh a
// quarter on the source and fully on the device (alert only: its key may be compromised, the
// operator withdraws it); unknown_session (a restart's benign noise) never weighs on the source.
class BatchDetector final : public Detector {
 public:
  explicit BatchDetector(const DetectorOptions& o)
      : by_source_(o.bad_batches_per_source, o.batch_half_life, o.max_keys),
        by_device_(o.bad_batches_per_device, o.batch_half_life, o.max_keys),
        sessions_(o.unknown_sessions_per_device, o.batch_half_life, o.max_keys) {}
  std::string_view name() const override { return "device_batches"; }
  std::uint32_t version() const override { return 1; }
  void Observe(const Observation& o, std::vector<Alert>& out) override {
    if (o.source != Observation::Source::kEvent) return;
    double source_weight = 0;
    bool verified = false;
    switch (o.kind) {
      case IdsEventKind::kForgedSignature:
      case IdsEventKind::kBadCertificate:
      case IdsEventKind::kUnknownDevice:
      case IdsEventKind::kEnrolmentConflict:
      case IdsEventKind::kMalformed:
      case IdsEventKind::kOversized:
      case IdsEventKind::kDecompressionBomb: source_weight = 1; break;
      case IdsEventKind::kReplay:
      case IdsEventKind::kDecryptFailure:
        source_weight = 0.25;
        verified = true;
        break;
      case IdsEventKind::kUnknownSession:
        if (!o.device_id.empty() && sessions_.Add(o.device_id, 1, o.time_ms)) {
          out.push_back(MakeAlert(o, Scope{ScopeKind::kDevice, o.device_id}, Action::kAlertOnly,
                                  "at least " + Fmt(sessions_.threshold()) +
                                      " signed batches of unknown sessions from this device"));
        }
        return;
      default: return;
    }
    const std::optional<Scope> source = SourceOf(o);
    if (source && by_source_.Add(source->Key(), source_weight, o.time_ms)) {
      out.push_back(MakeAlert(o, *source, Action::kBlock,
                              "refused device uploads from this source reached " +
                                  Fmt(by_source_.threshold()) +
                                  " (last: " + std::string(store::IdsEventKindName(o.kind)) + ")"));
    }
    if (verified && !o.device_id.empty() && by_device_.Add(o.device_id, 1, o.time_ms)) {
      out.push_back(MakeAlert(o, Scope{ScopeKind::kDevice, o.device_id}, Action::kAlertOnly,
                              "at least " + Fmt(by_device_.threshold()) +
                                  " signed batches of this device were replays or did not open"));
    }
  }

 private:
  KeyedCounts by_source_;
  KeyedCounts by_device_;
  KeyedCounts sessions_;
};

// authz_probing v1: 403 and 404 answers on routes that take an id (a pattern with "{").
class ProbingDetector final : public Detector {
 public:
  explicit ProbingDetector(const DetectorOptions& o)
      : o_(o), by_source_(o.probes_per_source, o.probe_half_life, o.max_keys) {}
  std::string_view name() const override { return "authz_probing"; }
  std::uint32_t version() const override { return 1; }
  void Observe(const Observation& o, std::vector<Alert>& out) override {
    if (o.source != Observation::Source::kResponse || (o.status != 403 && o.status != 404) ||
        o.route.find('{') == std::string::npos) {
      return;
    }
    const std::optional<Scope> source = SourceOf(o);
    if (source && by_source_.Add(source->Key(), 1, o.time_ms)) {
      out.push_back(MakeAlert(o, *source, Action::kBlock,
                              "at least " + Fmt(by_source_.threshold()) +
                                  " refused or missing ids asked for (half-life " +
                                  Minutes(o_.probe_half_life) + ")"));
    }
  }

 private:
  DetectorOptions o_;
  KeyedCounts by_source_;
};

// request_flood v1: requests per whole second per source against an adaptive baseline (an EWMA
// of the source's earlier seconds, idle seconds counting as zero, flood seconds left out).
class FloodDetector final : public Detector {
 public:
  explicit FloodDetector(const DetectorOptions& o) : o_(o) {}
  std::string_view name() const override { return "request_flood"; }
  std::uint32_t version() const override { return 1; }
  void Observe(const Observation& o, std::vector<Alert>& out) override {
    if (o.source != Observation::Source::kResponse || o.route == "filtered") return;
    const std::optional<Scope> source = SourceOf(o);
    if (!source) return;
    const std::int64_t second = o.time_ms / 1000;
    auto it = rates_.find(source->Key());
    if (it == rates_.end()) {
      if (rates_.size() >= o_.max_keys) Evict(second);
      if (rates_.size() >= o_.max_keys) return;
      it = rates_.emplace(source->Key(), Rate{second, 0, 0, false}).first;
    }
    Rate& r = it->second;
    if (second > r.second) {
      // Close the finished second into the baseline (unless it was a flood), then the idle ones.
      if (!r.flagged) r.baseline += o_.flood_alpha * (static_cast<double>(r.count) - r.baseline);
      const std::int64_t idle = std::min<std::int64_t>(second - r.second - 1, 1000);
      r.baseline *= std::pow(1 - o_.flood_alpha, static_cast<double>(idle));
      r.second = second;
      r.count = 0;
      r.flagged = false;
    }
    ++r.count;
    const double floor =
        o.authenticated ? o_.flood_floor_authenticated_per_second : o_.flood_floor_per_second;
    const double limit = std::max(floor, o_.flood_factor * r.baseline);
    if (!r.flagged && static_cast<double>(r.count) > limit) {
      r.flagged = true;
      out.push_back(MakeAlert(o, *source, Action::kThrottle,
                              "more than " + Fmt(limit) + " requests in one second (baseline " +
                                  Fmt(r.baseline) + "/s)"));
    }
  }

 private:
  struct Rate {
    std::int64_t second = 0;
    std::uint64_t count = 0;
    double baseline = 0;
    bool flagged = false;
  };
  void Evict(std::int64_t second) {
    std::erase_if(rates_, [&](const auto& kv) {
      return second - kv.second.second > 60 && kv.second.baseline < 1;
    });
  }
  DetectorOptions o_;
  std::unordered_map<std::string, Rate> rates_;
};

// slow_connections v1: connections closed for a slow head or body, slow_client events, and
// answers to broken HTTP (400 before routing, 431).
class SlowConnectionDetector final : public Detector {
 public:
  explicit SlowConnectionDetector(const DetectorOptions& o)
      : o_(o), by_source_(o.slow_per_source, o.slow_half_life, o.max_keys) {}
  std::string_view name() const override { return "slow_connections"; }
  std::uint32_t version() const override { return 1; }
  void Observe(const Observation& o, std::vector<Alert>& out) override {
    const bool counted =
        o.source == Observation::Source::kTimeout ||
        (o.source == Observation::Source::kEvent && o.kind == IdsEventKind::kSlowClient) ||
        (o.source == Observation::Source::kResponse &&
         (o.status == 431 || (o.status == 400 && o.route == "unmatched")));
    if (!counted) return;
    const std::optional<Scope> source = SourceOf(o);
    if (source && by_source_.Add(source->Key(), 1, o.time_ms)) {
      out.push_back(MakeAlert(o, *source, Action::kBlock,
                              "at least " + Fmt(by_source_.threshold()) +
                                  " slow or broken connections (half-life " +
                                  Minutes(o_.slow_half_life) + ")"));
    }
  }

 private:
  DetectorOptions o_;
  KeyedCounts by_source_;
};

// integrity v1: tampering found by an integrity check is always worth an operator's look;
// there is no attacker address, so it is an alert on the record's device (or the node).
class IntegrityDetector final : public Detector {
 public:
  std::string_view name() const override { return "integrity"; }
  std::uint32_t version() const override { return 1; }
  void Observe(const Observation& o, std::vector<Alert>& out) override {
    if (o.source != Observation::Source::kEvent || o.kind != IdsEventKind::kTampering) return;
    Scope scope = o.device_id.empty() ? Scope{ScopeKind::kDevice, "(node)"}
                                      : Scope{ScopeKind::kDevice, o.device_id};
    out.push_back(MakeAlert(o, std::move(scope), Action::kAlertOnly,
                            "a stored record or ciphertext failed its integrity check"));
  }
};

// payloads v1: requests the node's PayloadScorer (the request classifier of src/ids/ml) scored
// as attacks, per source.
class PayloadDetector final : public Detector {
 public:
  explicit PayloadDetector(const DetectorOptions& o)
      : o_(o), by_source_(o.payloads_per_source, o.payload_half_life, o.max_keys) {}
  std::string_view name() const override { return "payloads"; }
  std::uint32_t version() const override { return 1; }
  void Observe(const Observation& o, std::vector<Alert>& out) override {
    if (o.source != Observation::Source::kPayload || o.payload_score < o_.payload_score_threshold) {
      return;
    }
    const std::optional<Scope> source = SourceOf(o);
    if (source && by_source_.Add(source->Key(), 1, o.time_ms)) {
      out.push_back(MakeAlert(o, *source, Action::kBlock,
                              "at least " + Fmt(by_source_.threshold()) +
                                  " requests scored as injection or malformed payloads"));
    }
  }

 private:
  DetectorOptions o_;
  KeyedCounts by_source_;
};

}  // namespace

bool LeakyCount::Add(double weight, std::int64_t now_ms, double threshold,
                     std::chrono::milliseconds half_life) {
  value_ = ValueAt(now_ms, half_life) + weight;
  at_ms_ = std::max(at_ms_, now_ms);
  // Rounded: T events in a burst much shorter than the half-life decay to a little under T.
  if (armed_ && value_ + 0.5 >= threshold) {
    armed_ = false;
    return true;
  }
  if (!armed_ && value_ < threshold / 2) armed_ = true;
  return false;
}

double LeakyCount::ValueAt(std::int64_t now_ms, std::chrono::milliseconds half_life) const {
  if (now_ms <= at_ms_ || half_life.count() <= 0) return value_;
  const double halves =
      static_cast<double>(now_ms - at_ms_) / static_cast<double>(half_life.count());
  return halves > 60 ? 0 : value_ * std::exp2(-halves);
}

bool KeyedCounts::Add(const std::string& key, double weight, std::int64_t now_ms) {
  auto it = counts_.find(key);
  if (it == counts_.end()) {
    if (counts_.size() >= max_keys_) {
      std::erase_if(counts_,
                    [&](const auto& kv) { return kv.second.ValueAt(now_ms, half_life_) < 1; });
    }
    if (counts_.size() >= max_keys_) {
      ++untracked_;
      return false;
    }
    it = counts_.emplace(key, LeakyCount{}).first;
  }
  return it->second.Add(weight, now_ms, threshold_, half_life_);
}

double KeyedCounts::ValueAt(const std::string& key, std::int64_t now_ms) const {
  auto it = counts_.find(key);
  return it == counts_.end() ? 0 : it->second.ValueAt(now_ms, half_life_);
}

Alert Detector::MakeAlert(const Observation& o, Scope scope, Action action,
                          std::string reason) const {
  return Alert{o.time_ms, std::string(name()), version(), std::move(scope),
               action,    std::move(reason)};
}

std::vector<std::unique_ptr<Detector>> DefaultDetectors(const DetectorOptions& options) {
  std::vector<std::unique_ptr<Detector>> out;
  out.push_back(std::make_unique<CredentialDetector>(options));
  out.push_back(std::make_unique<BatchDetector>(options));
  out.push_back(std::make_unique<ProbingDetector>(options));
  out.push_back(std::make_unique<FloodDetector>(options));
  out.push_back(std::make_unique<SlowConnectionDetector>(options));
  out.push_back(std::make_unique<IntegrityDetector>());
  out.push_back(std::make_unique<PayloadDetector>(options));
  return out;
}

}  // namespace medmesh::ids
