// MeshFusion: how a node weighs its peers' IDS reports (docs/ids_mesh.md). Pure: times are
// inputs, nothing reads a clock, no I/O.
//
// Trust. Each peer has a trust value (trust::PeerTrust: a Beta opinion with forgetting, base
// rate `initial_trust` for a peer without evidence), learned from how its block and throttle
// reports fared HERE:
//   confirmed  this node's own detectors alerted on the same scope within confirm_window of
//              the report (before or after it);
//   refuted    the scope is allowlisted here, or the origin's operator revoked the decision,
//              or the window ended without an alert here although the scope was seen here
//              (requests from it were answered) - it behaved benignly;
//   neither    the window ended and the scope was never seen here: no evidence.
// A peer's weight is its trust, capped at 1, and 0 once its trust falls below
// `adopt_threshold - 1`: then not even a fully trusted second origin can carry its report over
// the threshold (its influence is gone).
//
// Fusion. A peer's block or throttle is ADOPTED here only when the weights of the DISTINCT
// origins that currently report the scope (this node counts as an origin of weight 1 while its
// own alert on the scope is within confirm_window) sum to at least `adopt_threshold` (> 1) from
// at least two origins. One peer alone therefore never imposes a block, whatever its trust: its
// report is kept as an alert. The adopted decision takes the weakest action and the earliest
// expiry among its supporters. An origin's revocation removes its support; an adopted decision
// whose support falls below the threshold is to be revoked (FusionUpdate::revoke).
//
// Bounded: at most max_scopes scopes tracked (the oldest without adoption is forgotten first).
// Thread safety: none; the owner serialises calls (MeshNode holds a mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ids/decision.h"
#include "trust/peer_trust.h"

namespace medmesh::ids {

struct MeshFusionOptions {
  double adopt_threshold = 1.5;  // > 1
  double initial_trust = 0.75;   // a configured, certified peer without evidence
  std::int64_t confirm_window_ms = 10 * 60 * 1000;
  trust::Forgetting forgetting{std::chrono::hours(24 * 7), std::chrono::hours(24 * 14)};
  std::size_t max_scopes = 10'000;
};

enum class FusionVerdict : std::uint8_t {
  kAdopted,    // enforce here (DecisionTable::Adopt)
  kAlertOnly,  // kept as an alert: not (yet) enough support
  kDropped,    // ignored: expired, allowlisted here, or a revocation of nothing known
};
std::string_view FusionVerdictName(FusionVerdict verdict);  // "adopted", "alert_only", "dropped"

struct FusionUpdate {
  FusionVerdict verdict = FusionVerdict::kAlertOnly;
  std::string why;  // for operators: support, origins, threshold
  double support = 0;
  std::vector<std::string> origins;   // distinct origins supporting the scope now
  std::optional<Decision> adopt;      // kAdopted: the decision to adopt
  std::optional<std::string> revoke;  // an adopted decision id whose support is gone
};

// A peer's report settled here (see the top of this file): confirmed or refuted.
struct SettledReport {
  std::string origin;
  bool confirmed = false;
  std::int64_t time_ms = 0;
};

struct PeerRecord {
  std::string peer;
  double trust = 0;
  double weight = 0;
  std::uint64_t confirmed = 0;
  std::uint64_t refuted = 0;
  std::uint64_t reports = 0;
  std::int64_t last_report_ms = 0;  // 0: never
};

class MeshFusion {
 public:
  explicit MeshFusion(MeshFusionOptions options = {});

  // A peer's decision (block, throttle or alert) received at now_ms. `allowlisted_here`: the
  // scope is on this node's allowlist (refutes the report at once; it is dropped).
  FusionUpdate OnPeerDecision(const Decision& decision, bool allowlisted_here, std::int64_t now_ms);
  // The origin's operator revoked `decision_id`: its support ends and the report counts as
  // refuted. kDropped if no such report is known.
  FusionUpdate OnPeerRevocation(std::string_view origin, std::string_view decision_id,
                                std::int64_t now_ms);
  // This node's own detectors alerted on `scope`: confirms peers' reports of it, and counts as
  // an origin. Returns the adoption this completes (a peer's report waiting for a second
  // origin), if any.
  std::optional<FusionUpdate> OnLocalAlert(const Scope& scope, std::int64_t now_ms);
  // A request from `scope` was answered here (evidence of benign behaviour if no alert
  // follows). Cheap when nobody reports the scope.
  void OnLocalTraffic(const Scope& scope, std::int64_t now_ms);
  // True while some report awaits confirmation (callers skip OnLocalTraffic otherwise).
  bool AnyPending() const { return pending_count_ > 0; }
  // The adopted decision on `scope` was revoked here (by an operator): forget the adoption.
  void OnAdoptedRevokedHere(const Scope& scope);

  // Settles reports whose window ended (confirmed / refuted / no evidence) and forgets idle
  // scopes. Returns updates for adopted decisions whose support lapsed (expired supporters).
  std::vector<FusionUpdate> Tick(std::int64_t now_ms);

  // The weight a peer's report carries now (see the top of this file).
  double Weight(std::string_view peer, std::int64_t now_ms) const;
  PeerRecord Peer(std::string_view peer, std::int64_t now_ms) const;
  const MeshFusionOptions& options() const { return options_; }

  // The reports confirmed or refuted since the last call, oldest first (at most
  // kMaxSettledKept; older ones are dropped if nobody takes them). The owner passes them on to
  // whoever keeps trust in peers beyond the IDS (the cloudlet's TrustService).
  static constexpr std::size_t kMaxSettledKept = 1000;
  std::vector<SettledReport> TakeSettled();

 private:
  struct Support {
    std::string decision_id;
    Decision decision;
    std::int64_t received_ms = 0;
    bool settled = false;  // confirmed or refuted already (or no evidence)
    bool seen_here = false;
  };
  struct ScopeState {
    std::map<std::string, Support, std::less<>> by_origin;
    std::optional<std::int64_t> last_local_alert_ms;
    std::optional<std::string> adopted_id;
    std::int64_t touched_ms = 0;
  };
  struct Counts {
    std::uint64_t confirmed = 0, refuted = 0, reports = 0;
    std::int64_t last_report_ms = 0;
  };

  void Settle(const std::string& origin, Support& s, bool confirmed, std::int64_t now_ms);
  // Support now for the scope; fills `origins`.
  double SupportOf(const ScopeState& st, std::int64_t now_ms,
                   std::vector<std::string>& origins) const;
  FusionUpdate Evaluate(ScopeState& st, const Decision& latest, std::int64_t now_ms);
  void Forget(std::int64_t now_ms);

  MeshFusionOptions options_;
  trust::PeerTrust trust_;
  std::unordered_map<std::string, ScopeState> scopes_;  // by Scope::Key()
  std::map<std::string, Counts, std::less<>> counts_;
  std::size_t pending_count_ = 0;
  std::vector<SettledReport> settled_;
};

}  // namespace medmesh::ids
