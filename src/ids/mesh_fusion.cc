#include "ids/mesh_fusion.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace medmesh::ids {
namespace {

constexpr std::string_view kSelf = "(this node)";

int Strength(Action a) { return static_cast<int>(a); }

std::string Format(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  return buffer;
}

trust::PeerTrustParams TrustParams(const MeshFusionOptions& o) {
  trust::PeerTrustParams p;
  p.forgetting = o.forgetting;
  p.base_rate = o.initial_trust;
  return p;
}

}  // namespace

std::string_view FusionVerdictName(FusionVerdict verdict) {
  switch (verdict) {
    case FusionVerdict::kAdopted: return "adopted";
    case FusionVerdict::kAlertOnly: return "alert_only";
    case FusionVerdict::kDropped: return "dropped";
  }
  return "dropped";
}

MeshFusion::MeshFusion(MeshFusionOptions options)
    : options_(options), trust_(TrustParams(options)) {}

double MeshFusion::Weight(std::string_view peer, std::int64_t now_ms) const {
  const double t = trust_.Standing(peer, now_ms).trust;
  if (t < options_.adopt_threshold - 1.0) return 0.0;
  return std::min(t, 1.0);
}

PeerRecord MeshFusion::Peer(std::string_view peer, std::int64_t now_ms) const {
  PeerRecord r;
  r.peer = std::string(peer);
  r.trust = trust_.Standing(peer, now_ms).trust;
  r.weight = Weight(peer, now_ms);
  if (auto it = counts_.find(peer); it != counts_.end()) {
    r.confirmed = it->second.confirmed;
    r.refuted = it->second.refuted;
    r.reports = it->second.reports;
    r.last_report_ms = it->second.last_report_ms;
  }
  return r;
}

void MeshFusion::Settle(const std::string& origin, Support& s, bool confirmed,
                        std::int64_t now_ms) {
  if (s.settled) return;
  s.settled = true;
  if (pending_count_ > 0) --pending_count_;
  trust_.Record(
      {origin,
       confirmed ? trust::PeerEventKind::kReportConfirmed : trust::PeerEventKind::kReportRefuted,
       now_ms});
  Counts& c = counts_[origin];
  ++(confirmed ? c.confirmed : c.refuted);
  if (settled_.size() >= kMaxSettledKept) settled_.erase(settled_.begin());
  settled_.push_back({origin, confirmed, now_ms});
}

std::vector<SettledReport> MeshFusion::TakeSettled() { return std::exchange(settled_, {}); }

double MeshFusion::SupportOf(const ScopeState& st, std::int64_t now_ms,
                             std::vector<std::string>& origins) const {
  double support = 0;
  origins.clear();
  for (const auto& [origin, s] : st.by_origin) {
    if (s.decision.action == Action::kAlertOnly || !s.decision.ActiveAt(now_ms)) continue;
    const double w = Weight(origin, now_ms);
    if (w <= 0) continue;
    support += w;
    origins.push_back(origin);
  }
  if (st.last_local_alert_ms && now_ms - *st.last_local_alert_ms <= options_.confirm_window_ms) {
    support += 1.0;
    origins.emplace_back(kSelf);
  }
  return support;
}

FusionUpdate MeshFusion::Evaluate(ScopeState& st, const Decision& latest, std::int64_t now_ms) {
  FusionUpdate u;
  u.support = SupportOf(st, now_ms, u.origins);
  const bool peer_origin =
      std::any_of(u.origins.begin(), u.origins.end(), [](const auto& o) { return o != kSelf; });
  std::string list;
  for (const std::string& o : u.origins) list += (list.empty() ? "" : ", ") + o;
  u.why = "support " + Format(u.support) + " of " + Format(options_.adopt_threshold) + " from " +
          std::to_string(u.origins.size()) + " origin(s)" + (list.empty() ? "" : ": " + list);
  if (u.support >= options_.adopt_threshold && u.origins.size() >= 2 && peer_origin) {
    // The weakest action and the earliest expiry among the supporting peers' decisions.
    std::optional<Decision> adopt;
    for (const auto& [origin, s] : st.by_origin) {
      if (std::find(u.origins.begin(), u.origins.end(), origin) == u.origins.end()) continue;
      if (!adopt) {
        adopt = s.decision;
        continue;
      }
      if (Strength(s.decision.action) < Strength(adopt->action)) adopt->action = s.decision.action;
      adopt->expires_ms = std::min(adopt->expires_ms, s.decision.expires_ms);
    }
    if (!adopt) adopt = latest;
    adopt->reason = ("mesh: " + u.why).substr(0, kMaxReasonBytes);
    st.adopted_id = adopt->id;
    u.verdict = FusionVerdict::kAdopted;
    u.adopt = std::move(adopt);
    return u;
  }
  u.verdict = FusionVerdict::kAlertOnly;
  if (st.adopted_id) {
    u.revoke = std::move(st.adopted_id);
    st.adopted_id.reset();
  }
  return u;
}

FusionUpdate MeshFusion::OnPeerDecision(const Decision& decision, bool allowlisted_here,
                                        std::int64_t now_ms) {
  Counts& c = counts_[decision.origin];
  ++c.reports;
  c.last_report_ms = now_ms;
  FusionUpdate dropped;
  dropped.verdict = FusionVerdict::kDropped;
  if (decision.action == Action::kAlertOnly) {
    FusionUpdate u;
    u.verdict = FusionVerdict::kAlertOnly;
    u.why = "an alert (never enforced)";
    return u;
  }
  if (!decision.ActiveAt(now_ms)) {
    dropped.why = "expired or not yet valid";
    return dropped;
  }
  if (scopes_.size() >= options_.max_scopes) Forget(now_ms);
  ScopeState& st = scopes_[decision.scope.Key()];
  st.touched_ms = now_ms;
  Support& s = st.by_origin[decision.origin];
  if (s.decision_id != decision.id) {
    // A new report of this origin on the scope (or its first): it awaits evidence.
    if (!s.decision_id.empty() && !s.settled && pending_count_ > 0) --pending_count_;
    s = Support{decision.id, decision, now_ms, false, false};
    ++pending_count_;
    if (st.last_local_alert_ms && now_ms - *st.last_local_alert_ms <= options_.confirm_window_ms) {
      Settle(decision.origin, s, /*confirmed=*/true, now_ms);
    }
  }
  if (allowlisted_here) {
    Settle(decision.origin, s, /*confirmed=*/false, now_ms);
    st.by_origin.erase(decision.origin);
    dropped.why = "the scope is allowlisted here";
    return dropped;
  }
  return Evaluate(st, decision, now_ms);
}

FusionUpdate MeshFusion::OnPeerRevocation(std::string_view origin, std::string_view decision_id,
                                          std::int64_t now_ms) {
  Counts& c = counts_[std::string(origin)];
  ++c.reports;
  c.last_report_ms = now_ms;
  for (auto& [key, st] : scopes_) {
    auto it = st.by_origin.find(origin);
    if (it == st.by_origin.end() || it->second.decision_id != decision_id) continue;
    // The origin's own operator took it back: its report was wrong.
    Settle(it->first, it->second, /*confirmed=*/false, now_ms);
    const Decision last = it->second.decision;
    st.by_origin.erase(it);
    FusionUpdate u = Evaluate(st, last, now_ms);
    if (u.verdict == FusionVerdict::kAdopted) {
      u.adopt.reset();  // still supported by others: the adopted copy stays as it is
    }
    return u;
  }
  FusionUpdate u;
  u.verdict = FusionVerdict::kDropped;
  u.why = "revocation of a decision not reported here";
  return u;
}

std::optional<FusionUpdate> MeshFusion::OnLocalAlert(const Scope& scope, std::int64_t now_ms) {
  auto it = scopes_.find(scope.Key());
  if (it == scopes_.end()) {
    if (scopes_.size() >= options_.max_scopes) Forget(now_ms);
    it = scopes_.emplace(scope.Key(), ScopeState{}).first;
  }
  ScopeState& st = it->second;
  st.last_local_alert_ms = now_ms;
  st.touched_ms = now_ms;
  const Decision* waiting = nullptr;
  for (auto& [origin, s] : st.by_origin) {
    if (now_ms - s.received_ms <= options_.confirm_window_ms) Settle(origin, s, true, now_ms);
    if (s.decision.action != Action::kAlertOnly && s.decision.ActiveAt(now_ms)) {
      waiting = &s.decision;
    }
  }
  if (waiting == nullptr || st.adopted_id) return std::nullopt;
  FusionUpdate u = Evaluate(st, *waiting, now_ms);
  if (u.verdict != FusionVerdict::kAdopted) return std::nullopt;
  return u;
}

void MeshFusion::OnLocalTraffic(const Scope& scope, std::int64_t now_ms) {
  if (pending_count_ == 0) return;
  auto it = scopes_.find(scope.Key());
  if (it == scopes_.end()) return;
  for (auto& [origin, s] : it->second.by_origin) {
    if (!s.settled && now_ms >= s.received_ms) s.seen_here = true;
  }
}

void MeshFusion::OnAdoptedRevokedHere(const Scope& scope) {
  if (auto it = scopes_.find(scope.Key()); it != scopes_.end()) it->second.adopted_id.reset();
}

std::vector<FusionUpdate> MeshFusion::Tick(std::int64_t now_ms) {
  std::vector<FusionUpdate> updates;
  for (auto& [key, st] : scopes_) {
    for (auto& [origin, s] : st.by_origin) {
      if (s.settled || now_ms - s.received_ms < options_.confirm_window_ms) continue;
      if (s.seen_here) {
        Settle(origin, s, /*confirmed=*/false, now_ms);
      } else {
        s.settled = true;  // never seen here: no evidence either way
        if (pending_count_ > 0) --pending_count_;
      }
    }
    if (st.adopted_id) {
      std::vector<std::string> origins;
      if (SupportOf(st, now_ms, origins) < options_.adopt_threshold) {
        FusionUpdate u;
        u.verdict = FusionVerdict::kAlertOnly;
        u.why = "support lapsed";
        u.revoke = std::move(st.adopted_id);
        st.adopted_id.reset();
        updates.push_back(std::move(u));
      }
    }
  }
  Forget(now_ms);
  return updates;
}

void MeshFusion::Forget(std::int64_t now_ms) {
  // Idle scopes: nothing adopted, nothing pending, untouched for two windows.
  const auto idle = [&](const ScopeState& st) {
    if (st.adopted_id) return false;
    for (const auto& [origin, s] : st.by_origin) {
      if (!s.settled || s.decision.ActiveAt(now_ms)) return false;
    }
    return now_ms - st.touched_ms > 2 * options_.confirm_window_ms;
  };
  std::erase_if(scopes_, [&](const auto& kv) { return idle(kv.second); });
  while (scopes_.size() >= options_.max_scopes) {
    // Still full: forget the least recently touched scope without an adoption.
    auto oldest = scopes_.end();
    for (auto it = scopes_.begin(); it != scopes_.end(); ++it) {
      if (it->second.adopted_id) continue;
      if (oldest == scopes_.end() || it->second.touched_ms < oldest->second.touched_ms) oldest = it;
    }
    if (oldest == scopes_.end()) break;
    for (auto& [origin, s] : oldest->second.by_origin) {
      if (!s.settled && pending_count_ > 0) --pending_count_;
    }
    scopes_.erase(oldest);
  }
}

}  // namespace medmesh::ids
