// DecisionTable: a node's live IDS decisions and allowlist, persisted in its data folder
// (decisions.db, SQLite) so that they survive a restart.
//
// Impose(proposal) turns a detector's proposal into a decision:
//   - an allowlisted scope gets none (allowlists always win, also over decisions imposed
//     before the entry was added: Match ignores them);
//   - a block or throttle of 127.0.0.1 or ::1 becomes alert only (enforce_on_local_proxy);
//   - an active decision on the same scope with the same or a stronger action is returned
//     as it is (a continuing attack does not escalate with every alert);
//   - otherwise a new decision, offence = earlier offences of the scope + 1, expiry
//     base_expiry x escalation_factor^(offence-1), at most max_expiry; it replaces a weaker
//     active decision on the scope. Offences are forgotten forget_offences_after the last.
// Adopt(decision) takes in another node's decision that the mesh fused into a local one
// (mesh_fusion.h): the allowlist and the local-proxy rule apply as for Impose; an active
// decision on the scope with the same or a stronger action is returned as it is; otherwise the
// decision is stored under its own id and origin (expiry as given, never later than the
// origin's; no offence counted here) and replaces a weaker one. Adopting an id again
// re-activates it.
// Match(peer) answers the HTTP layer: the enforcing decision (block or throttle) on the
// peer's address (an IPv6 peer: its exact address and its /64), unless allowlisted. It takes
// a shared lock and does at most two hash lookups; with no enforcing decision at all it reads
// one atomic. Blocks(peer) is the same answer for block decisions only, without any lock: it
// reads an immutable snapshot of the blocked addresses and /64 ranges (and the allowlist)
// that every change of decisions or allowlist republishes (for the accept-time check).
//
// Errors: Impose, Revoke, Allow and Disallow write through to the database before they change
// memory (store errors as store/sqlite_database.h; the table is then unchanged).
// Thread safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "ids/decision.h"
#include "store/sqlite_database.h"

namespace medmesh::ids {

struct DecisionPolicy {
  std::chrono::milliseconds base_expiry = std::chrono::minutes(10);
  std::uint32_t escalation_factor = 4;
  std::chrono::milliseconds max_expiry = std::chrono::hours(24 * 7);
  std::chrono::milliseconds forget_offences_after = std::chrono::hours(24 * 30);
  // Decisions kept in the database after they ended (revoked or expired), then pruned.
  std::chrono::milliseconds keep_ended = std::chrono::hours(24 * 30);
  // Whether block and throttle decisions may name 127.0.0.1 or ::1. Off by default: behind a
  // reverse proxy on the same host every client has that address, and blocking it would block
  // everyone (the server does not trust X-Forwarded-For). Such proposals become alert-only
  // decisions. The rest of 127.0.0.0/8 is enforced (tests play attackers from 127.0.0.x).
  bool enforce_on_local_proxy = false;
};

// What a detector (or an operator) asks for.
struct Proposal {
  std::string detector;
  std::uint32_t detector_version = 0;
  Scope scope;
  Action action = Action::kAlertOnly;
  std::string reason;
};

struct AllowEntry {
  Scope scope;
  std::string note;
  std::int64_t added_ms = 0;
};

class DecisionTable {
 public:
  // Opens (creating) the table's database at `path`; decisions made here carry `origin`.
  // `clock` and `random` (decision ids) must outlive the table and be thread-safe.
  static Result<std::unique_ptr<DecisionTable>> Open(const std::string& path, std::string origin,
                                                     const Clock& clock, Random& random,
                                                     DecisionPolicy policy = {},
                                                     const store::SqliteOpenOptions& sqlite = {});
  ~DecisionTable();
  DecisionTable(const DecisionTable&) = delete;
  DecisionTable& operator=(const DecisionTable&) = delete;

  // See the top of this file. nullopt when the scope is allowlisted. `expiry`: an operator's own
  // lifetime for the decision (at most the policy's max_expiry) in place of the escalation's.
  Result<std::optional<Decision>> Impose(
      const Proposal& proposal, std::optional<std::chrono::milliseconds> expiry = std::nullopt);

  // See the top of this file. nullopt when the scope is allowlisted.
  Result<std::optional<Decision>> Adopt(const Decision& decision);

  // Called after every successful Revoke (operator or mesh), outside the table's locks. Set it
  // once, before the table is shared between threads.
  void SetRevocationListener(std::function<void(const Decision&)> listener) {
    revocation_listener_ = std::move(listener);
  }

  // The active block or throttle decision that applies to a request from `peer`
  // (Request::peer_address), nullopt if none or the peer is allowlisted.
  std::optional<Decision> Match(std::string_view peer) const;
  // True when an active block decision applies to `peer` (as Match, but blocks only) and the
  // peer is not allowlisted. Lock-free: one atomic snapshot load and at most four hash lookups.
  bool Blocks(std::string_view peer) const;
  // True when an active block decision on the IPv6 /64 `range` ("2001:db8:1:2::/64") applies
  // to every address in it: neither the range nor any address inside it is allowlisted. For the
  // server's kernel drop of a whole range (net::ConnectionFilter::refuses_range). Lock-free, as
  // Blocks.
  bool BlocksRange(std::string_view range) const;
  // The active decision (any action) on exactly `scope`, nullopt if none or allowlisted.
  std::optional<Decision> MatchScope(const Scope& scope) const;
  // True while some block or throttle decision is active (one atomic load).
  bool AnyEnforcing() const { return enforcing_.load(std::memory_order_acquire) > 0; }

  // Ends a decision now. kNotFound for an unknown id; kFailedPrecondition if it already ended.
  Result<Decision> Revoke(std::string_view id);

  // Decisions newest first, at most `limit`; with `active_only`, those active now.
  std::vector<Decision> List(bool active_only, std::size_t limit) const;

  // Allowlist: Allow adds or replaces (scopes normalised by the caller, NormalizeScope);
  // Disallow removes (kNotFound if absent).
  Status Allow(const Scope& scope, std::string note);
  Status Disallow(const Scope& scope);
  std::vector<AllowEntry> Allowlist() const;
  bool Allowlisted(const Scope& scope) const;

  // Forgets ended decisions from memory, prunes the database (ended decisions older than
  // keep_ended, offences older than forget_offences_after). For the maintenance thread.
  Status Sweep();

 private:
  struct State;
  explicit DecisionTable(std::unique_ptr<State> state);
  bool AllowlistedLocked(const Scope& scope) const;
  // Impose's and Adopt's answer before anything new is stored, under the shared lock: an empty
  // decision for an allowlisted scope, the active decision on the scope when it is at least as
  // strong as `action`; nullopt to go on.
  std::optional<std::optional<Decision>> SettledLocked(const Scope& scope, Action action,
                                                       std::int64_t now) const;
  Result<Decision> RevokeLocked(std::string_view id);
  void Recount();
  std::unique_ptr<State> state_;
  std::atomic<std::int64_t> enforcing_{0};
  std::function<void(const Decision&)> revocation_listener_;
};

}  // namespace medmesh::ids
