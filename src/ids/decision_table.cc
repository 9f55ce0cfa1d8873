#include "ids/decision_table.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "core/bytes.h"
#include "core/log.h"

namespace medmesh::ids {
namespace {

constexpr int kSchemaVersion = 1;
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS ids_decisions ("
    " id TEXT PRIMARY KEY, origin TEXT NOT NULL, detector TEXT NOT NULL,"
    " detector_version INTEGER NOT NULL, scope_kind TEXT NOT NULL, scope_value TEXT NOT NULL,"
    " action TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
    " offence INTEGER NOT NULL, reason TEXT NOT NULL, revoked_ms INTEGER);"
    "CREATE INDEX IF NOT EXISTS ids_decisions_by_time ON ids_decisions (created_ms);"
    "CREATE TABLE IF NOT EXISTS ids_offences ("
    " scope_key TEXT PRIMARY KEY, count INTEGER NOT NULL, last_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS ids_allowlist ("
    " scope_key TEXT PRIMARY KEY, scope_kind TEXT NOT NULL, scope_value TEXT NOT NULL,"
    " note TEXT NOT NULL, added_ms INTEGER NOT NULL);";

std::int64_t NowMs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

bool Enforcing(const Decision& d) { return d.action != Action::kAlertOnly; }

int Strength(Action a) { return static_cast<int>(a); }

Decision DecisionFromRow(SQLite::Statement& st) {
  Decision d;
  d.id = st.getColumn(0).getString();
  d.origin = st.getColumn(1).getString();
  d.detector = st.getColumn(2).getString();
  d.detector_version = static_cast<std::uint32_t>(st.getColumn(3).getInt64());
  d.scope.kind = ScopeKindFromName(st.getColumn(4).getString()).value_or(ScopeKind::kIp);
  d.scope.value = st.getColumn(5).getString();
  d.action = ActionFromName(st.getColumn(6).getString()).value_or(Action::kAlertOnly);
  d.created_ms = st.getColumn(7).getInt64();
  d.expires_ms = st.getColumn(8).getInt64();
  d.offence = static_cast<std::uint32_t>(st.getColumn(9).getInt64());
  d.reason = st.getColumn(10).getString();
  if (!st.getColumn(11).isNull()) d.revoked_ms = st.getColumn(11).getInt64();
  return d;
}

// What Blocks() reads: the active block decisions on ip and range scopes, by scope value
// ("203.0.113.9", "2001:db8::/64") with their [created_ms, expires_ms), and the allowlisted
// ip and range values. Immutable once published.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view v) const { return std::hash<std::string_view>{}(v); }
};
struct BlockSnapshot {
  std::unordered_map<std::string, std::pair<std::int64_t, std::int64_t>, StringHash,
                     std::equal_to<>>
      blocked;
  std::unordered_set<std::string, StringHash, std::equal_to<>> allowed;
  // The /64s of the allowlisted IPv6 addresses (BlocksRange).
  std::unordered_set<std::string, StringHash, std::equal_to<>> ranges_with_allowed;
};

constexpr const char* kColumns =
    "id, origin, detector, detector_version, scope_kind, scope_value, action, created_ms,"
    " expires_ms, offence, reason, revoked_ms";

// Whether an enforcing `action` on `scope` names the local proxy's address and so becomes alert
// only (DecisionPolicy::enforce_on_local_proxy).
bool UnenforcedLocalProxy(const DecisionPolicy& policy, const Scope& scope, Action action) {
  return !policy.enforce_on_local_proxy && action != Action::kAlertOnly &&
         scope.kind == ScopeKind::kIp && (scope.value == "127.0.0.1" || scope.value == "::1");
}

// Writes `d` as a row of ids_decisions, not revoked. `replace_same_id`: a row with d's id takes
// its action, expiry and reason and is active again (Adopt); otherwise the id must be new.
void InsertDecisionRow(SQLite::Database& db, const Decision& d, bool replace_same_id) {
  SQLite::Statement ins(
      db, std::string("INSERT INTO ids_decisions (") + kColumns +
              ") VALUES (?,?,?,?,?,?,?,?,?,?,?,NULL)" +
              (replace_same_id ? " ON CONFLICT (id) DO UPDATE SET action = excluded.action,"
                                 " expires_ms = excluded.expires_ms, reason ="
                                 " excluded.reason, revoked_ms = NULL"
                               : ""));
  ins.bind(1, d.id);
  ins.bind(2, d.origin);
  ins.bind(3, d.detector);
  ins.bind(4, static_cast<std::int64_t>(d.detector_version));
  ins.bind(5, std::string(ScopeKindName(d.scope.kind)));
  ins.bind(6, d.scope.value);
  ins.bind(7, std::string(ActionName(d.action)));
  ins.bind(8, d.created_ms);
  ins.bind(9, d.expires_ms);
  ins.bind(10, static_cast<std::int64_t>(d.offence));
  ins.bind(11, d.reason);
  ins.exec();
}

}  // namespace

struct DecisionTable::State {
  std::string origin;
  const Clock& clock;
  Random& random;
  DecisionPolicy policy;
  std::mutex db_mu;  // serialises writers (and their database work)
  std::unique_ptr<SQLite::Database> db;
  mutable std::shared_mutex mu;                        // guards the maps below
  std::unordered_map<std::string, Decision> by_scope;  // the current decision per scope key
  std::unordered_map<std::string, std::pair<std::uint32_t, std::int64_t>> offences;
  std::unordered_map<std::string, AllowEntry> allow;
  // Rebuilt by Recount() after every change (see Blocks()).
  std::atomic<std::shared_ptr<const BlockSnapshot>> blocks{std::make_shared<const BlockSnapshot>()};
};

DecisionTable::DecisionTable(std::unique_ptr<State> state) : state_(std::move(state)) {}
DecisionTable::~DecisionTable() = default;

Result<std::unique_ptr<DecisionTable>> DecisionTable::Open(const std::string& path,
                                                           std::string origin, const Clock& clock,
                                                           Random& random, DecisionPolicy policy,
                                                           const store::SqliteOpenOptions& sqlite) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           store::OpenSqliteDatabase(path, sqlite));
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(*db, "ids_decisions", kSchemaVersion, kSchema));
  auto state = std::unique_ptr<State>(
      new State{std::move(origin), clock, random, policy, {}, std::move(db), {}, {}, {}, {}});
  const std::int64_t now = NowMs(clock);
  try {
    SQLite::Statement st(*state->db, std::string("SELECT ") + kColumns +
                                         " FROM ids_decisions WHERE revoked_ms IS NULL AND"
                                         " expires_ms > ? ORDER BY created_ms");
    st.bind(1, now);
    while (st.executeStep()) {
      Decision d = DecisionFromRow(st);
      state->by_scope[d.scope.Key()] = std::move(d);
    }
    SQLite::Statement off(*state->db, "SELECT scope_key, count, last_ms FROM ids_offences");
    while (off.executeStep()) {
      state->offences[off.getColumn(0).getString()] = {
          static_cast<std::uint32_t>(off.getColumn(1).getInt64()), off.getColumn(2).getInt64()};
    }
    SQLite::Statement al(*state->db,
                         "SELECT scope_kind, scope_value, note, added_ms FROM ids_allowlist");
    while (al.executeStep()) {
      AllowEntry e;
      e.scope.kind = ScopeKindFromName(al.getColumn(0).getString()).value_or(ScopeKind::kIp);
      e.scope.value = al.getColumn(1).getString();
      e.note = al.getColumn(2).getString();
      e.added_ms = al.getColumn(3).getInt64();
      state->allow[e.scope.Key()] = std::move(e);
    }
  } catch (const std::exception& e) {
    return store::SqliteError(e, "loading IDS decisions");
  }
  auto table = std::unique_ptr<DecisionTable>(new DecisionTable(std::move(state)));
  table->Recount();
  return table;
}

void DecisionTable::Recount() {
  std::shared_lock lock(state_->mu);
  std::int64_t n = 0;
  auto blocks = std::make_shared<BlockSnapshot>();
  for (const auto& [key, d] : state_->by_scope) {
    n += (Enforcing(d) && !d.revoked_ms) ? 1 : 0;
    if (d.action == Action::kBlock && !d.revoked_ms &&
        (d.scope.kind == ScopeKind::kIp || d.scope.kind == ScopeKind::kRange)) {
      blocks->blocked.emplace(d.scope.value, std::make_pair(d.created_ms, d.expires_ms));
    }
  }
  for (const auto& [key, e] : state_->allow) {
    if (e.scope.kind == ScopeKind::kIp || e.scope.kind == ScopeKind::kRange) {
      blocks->allowed.insert(e.scope.value);
    }
    if (e.scope.kind == ScopeKind::kIp && e.scope.value.find(':') != std::string::npos) {
      if (auto range = SourceScope(e.scope.value); range && range->kind == ScopeKind::kRange) {
        blocks->ranges_with_allowed.insert(range->value);
      }
    }
  }
  state_->blocks.store(std::move(blocks), std::memory_order_release);
  enforcing_.store(n, std::memory_order_release);
}

bool DecisionTable::Blocks(std::string_view peer) const {
  const std::shared_ptr<const BlockSnapshot> blocks =
      state_->blocks.load(std::memory_order_acquire);
  if (blocks->blocked.empty()) return false;
  std::optional<std::string> range;
  if (peer.find(':') != std::string_view::npos) {
    if (auto scope = SourceScope(peer); scope && scope->kind == ScopeKind::kRange) {
      range = std::move(scope->value);
    }
  }
  if (blocks->allowed.contains(peer) || (range && blocks->allowed.contains(*range))) return false;
  const std::int64_t now = NowMs(state_->clock);
  const auto active = [&](std::string_view value) {
    auto it = blocks->blocked.find(value);
    return it != blocks->blocked.end() && now >= it->second.first && now < it->second.second;
  };
  return active(peer) || (range && active(*range));
}

bool DecisionTable::BlocksRange(std::string_view range) const {
  const std::shared_ptr<const BlockSnapshot> blocks =
      state_->blocks.load(std::memory_order_acquire);
  if (blocks->blocked.empty()) return false;
  const auto scope = NormalizeScope(ScopeKind::kRange, range);
  if (!scope || blocks->allowed.contains(scope->value) ||
      blocks->ranges_with_allowed.contains(scope->value)) {
    return false;
  }
  const auto it = blocks->blocked.find(scope->value);
  const std::int64_t now = NowMs(state_->clock);
  return it != blocks->blocked.end() && now >= it->second.first && now < it->second.second;
}

bool DecisionTable::AllowlistedLocked(const Scope& scope) const {
  if (state_->allow.contains(scope.Key())) return true;
  if (scope.kind == ScopeKind::kIp && scope.value.find(':') != std::string::npos) {
    // An IPv6 address is also allowlisted by its /64.
    auto range = SourceScope(scope.value);
    if (range && state_->allow.contains(range->Key())) return true;
  }
  return false;
}

std::optional<std::optional<Decision>> DecisionTable::SettledLocked(const Scope& scope,
                                                                    Action action,
                                                                    std::int64_t now) const {
  if (AllowlistedLocked(scope)) return std::optional<Decision>();
  if (auto it = state_->by_scope.find(scope.Key());
      it != state_->by_scope.end() && it->second.ActiveAt(now) &&
      Strength(it->second.action) >= Strength(action)) {
    return std::optional<Decision>(it->second);
  }
  return std::nullopt;
}

bool DecisionTable::Allowlisted(const Scope& scope) const {
  std::shared_lock lock(state_->mu);
  return AllowlistedLocked(scope);
}

Result<std::optional<Decision>> DecisionTable::Impose(
    const Proposal& proposal, std::optional<std::chrono::milliseconds> operator_expiry) {
  State& s = *state_;
  Proposal p = proposal;
  if (UnenforcedLocalProxy(s.policy, p.scope, p.action)) {
    p.action = Action::kAlertOnly;
    p.reason += " (not enforced: a local proxy's address)";
  }
  std::lock_guard writer(s.db_mu);
  const std::int64_t now = NowMs(s.clock);
  const std::string key = p.scope.Key();
  std::uint32_t offence = 1;
  {
    std::shared_lock lock(s.mu);
    if (auto settled = SettledLocked(p.scope, p.action, now)) return std::move(*settled);
    if (auto it = s.offences.find(key);
        it != s.offences.end() &&
        now - it->second.second < s.policy.forget_offences_after.count()) {
      offence = it->second.first + 1;
    }
  }
  Decision d;
  d.id = HexEncode(s.random.Generate(16));
  d.origin = s.origin;
  d.detector = p.detector;
  d.detector_version = p.detector_version;
  d.scope = p.scope;
  d.action = p.action;
  d.created_ms = now;
  std::int64_t expiry = s.policy.base_expiry.count();
  for (std::uint32_t i = 1; i < offence && expiry < s.policy.max_expiry.count(); ++i) {
    expiry *= std::max<std::uint32_t>(s.policy.escalation_factor, 1);
  }
  if (operator_expiry) expiry = std::max<std::int64_t>(operator_expiry->count(), 1);
  expiry = std::min<std::int64_t>(expiry, s.policy.max_expiry.count());
  d.expires_ms = now + expiry;
  d.offence = offence;
  d.reason = p.reason.substr(0, kMaxReasonBytes);
  try {
    SQLite::Transaction tx(*s.db);
    InsertDecisionRow(*s.db, d, false);
    SQLite::Statement off(*s.db,
                          "INSERT INTO ids_offences (scope_key, count, last_ms) VALUES (?,?,?)"
                          " ON CONFLICT (scope_key) DO UPDATE SET count = excluded.count,"
                          " last_ms = excluded.last_ms");
    off.bind(1, key);
    off.bind(2, static_cast<std::int64_t>(offence));
    off.bind(3, now);
    off.exec();
    tx.commit();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "storing an IDS decision");
  }
  {
    std::unique_lock lock(s.mu);
    s.by_scope[key] = d;
    s.offences[key] = {offence, now};
  }
  Recount();
  return std::optional<Decision>(std::move(d));
}

Result<std::optional<Decision>> DecisionTable::Adopt(const Decision& decision) {
  State& s = *state_;
  Decision d = decision;
  d.revoked_ms.reset();
  if (UnenforcedLocalProxy(s.policy, d.scope, d.action)) d.action = Action::kAlertOnly;
  std::lock_guard writer(s.db_mu);
  const std::int64_t now = NowMs(s.clock);
  // Another node's clock may run ahead: the copy is in force from now.
  d.created_ms = std::min(d.created_ms, now);
  d.reason = d.reason.substr(0, kMaxReasonBytes);
  const std::string key = d.scope.Key();
  {
    std::shared_lock lock(s.mu);
    if (auto settled = SettledLocked(d.scope, d.action, now)) return std::move(*settled);
  }
  if (!d.ActiveAt(now)) return FailedPrecondition("the decision has ended");
  try {
    InsertDecisionRow(*s.db, d, true);
  } catch (const std::exception& e) {
    return store::SqliteError(e, "storing an adopted IDS decision");
  }
  {
    std::unique_lock lock(s.mu);
    s.by_scope[key] = d;
  }
  Recount();
  return std::optional<Decision>(std::move(d));
}

std::optional<Decision> DecisionTable::Match(std::string_view peer) const {
  if (!AnyEnforcing()) return std::nullopt;
  const State& s = *state_;
  const std::int64_t now = NowMs(s.clock);
  std::string ip_key = "ip:";
  ip_key += peer;
  std::optional<std::string> range_key;
  if (peer.find(':') != std::string_view::npos) {
    if (auto range = SourceScope(peer)) range_key = range->Key();
  }
  std::shared_lock lock(s.mu);
  if (s.allow.contains(ip_key) || (range_key && s.allow.contains(*range_key))) return std::nullopt;
  const Decision* best = nullptr;
  for (const std::string* key : {&ip_key, range_key ? &*range_key : nullptr}) {
    if (key == nullptr) continue;
    auto it = s.by_scope.find(*key);
    if (it == s.by_scope.end() || !Enforcing(it->second) || !it->second.ActiveAt(now)) continue;
    if (best == nullptr || Strength(it->second.action) > Strength(best->action)) best = &it->second;
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

std::optional<Decision> DecisionTable::MatchScope(const Scope& scope) const {
  const State& s = *state_;
  const std::int64_t now = NowMs(s.clock);
  std::shared_lock lock(s.mu);
  if (AllowlistedLocked(scope)) return std::nullopt;
  auto it = s.by_scope.find(scope.Key());
  if (it == s.by_scope.end() || !it->second.ActiveAt(now)) return std::nullopt;
  return it->second;
}

Result<Decision> DecisionTable::Revoke(std::string_view id) {
  MEDMESH_ASSIGN_OR_RETURN(Decision d, RevokeLocked(id));
  if (revocation_listener_) revocation_listener_(d);
  return d;
}

Result<Decision> DecisionTable::RevokeLocked(std::string_view id) {
  State& s = *state_;
  std::lock_guard writer(s.db_mu);
  const std::int64_t now = NowMs(s.clock);
  Decision d;
  try {
    SQLite::Statement st(*s.db,
                         std::string("SELECT ") + kColumns + " FROM ids_decisions WHERE id = ?");
    st.bind(1, std::string(id));
    if (!st.executeStep()) return NotFound("no such decision");
    d = DecisionFromRow(st);
    if (d.revoked_ms || d.expires_ms <= now) return FailedPrecondition("the decision has ended");
    SQLite::Statement up(*s.db, "UPDATE ids_decisions SET revoked_ms = ? WHERE id = ?");
    up.bind(1, now);
    up.bind(2, std::string(id));
    up.exec();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "revoking an IDS decision");
  }
  d.revoked_ms = now;
  {
    std::unique_lock lock(s.mu);
    if (auto it = s.by_scope.find(d.scope.Key()); it != s.by_scope.end() && it->second.id == d.id) {
      it->second.revoked_ms = now;
    }
  }
  Recount();
  return d;
}

std::vector<Decision> DecisionTable::List(bool active_only, std::size_t limit) const {
  State& s = *state_;
  std::vector<Decision> out;
  std::lock_guard writer(s.db_mu);
  try {
    std::string sql = std::string("SELECT ") + kColumns + " FROM ids_decisions";
    if (active_only) sql += " WHERE revoked_ms IS NULL AND expires_ms > ?";
    sql += " ORDER BY created_ms DESC, id LIMIT ?";
    SQLite::Statement st(*s.db, sql);
    int i = 1;
    if (active_only) st.bind(i++, NowMs(s.clock));
    st.bind(i, static_cast<std::int64_t>(limit));
    while (st.executeStep()) out.push_back(DecisionFromRow(st));
  } catch (const std::exception& e) {
    log::Error("ids_decisions_list_failed", {{"error", store::SqliteError(e, "list").ToString()}});
  }
  return out;
}

Status DecisionTable::Allow(const Scope& scope, std::string note) {
  State& s = *state_;
  std::lock_guard writer(s.db_mu);
  AllowEntry entry{scope, note.substr(0, kMaxReasonBytes), NowMs(s.clock)};
  try {
    SQLite::Statement st(*s.db,
                         "INSERT OR REPLACE INTO ids_allowlist (scope_key, scope_kind, scope_value,"
                         " note, added_ms) VALUES (?,?,?,?,?)");
    st.bind(1, scope.Key());
    st.bind(2, std::string(ScopeKindName(scope.kind)));
    st.bind(3, scope.value);
    st.bind(4, entry.note);
    st.bind(5, entry.added_ms);
    st.exec();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "adding to the IDS allowlist");
  }
  {
    std::unique_lock lock(s.mu);
    s.allow[scope.Key()] = std::move(entry);
  }
  Recount();
  return OkStatus();
}

Status DecisionTable::Disallow(const Scope& scope) {
  State& s = *state_;
  std::lock_guard writer(s.db_mu);
  try {
    SQLite::Statement st(*s.db, "DELETE FROM ids_allowlist WHERE scope_key = ?");
    st.bind(1, scope.Key());
    if (st.exec() == 0) return NotFound("not on the allowlist");
  } catch (const std::exception& e) {
    return store::SqliteError(e, "removing from the IDS allowlist");
  }
  {
    std::unique_lock lock(s.mu);
    s.allow.erase(scope.Key());
  }
  Recount();
  return OkStatus();
}

std::vector<AllowEntry> DecisionTable::Allowlist() const {
  std::shared_lock lock(state_->mu);
  std::vector<AllowEntry> out;
  for (const auto& [key, e] : state_->allow) out.push_back(e);
  std::sort(out.begin(), out.end(),
            [](const AllowEntry& a, const AllowEntry& b) { return a.scope.Key() < b.scope.Key(); });
  return out;
}

Status DecisionTable::Sweep() {
  State& s = *state_;
  std::lock_guard writer(s.db_mu);
  const std::int64_t now = NowMs(s.clock);
  try {
    SQLite::Transaction tx(*s.db);
    SQLite::Statement ended(*s.db,
                            "DELETE FROM ids_decisions WHERE MAX(expires_ms,"
                            " COALESCE(revoked_ms, 0)) < ? AND (revoked_ms IS NOT NULL OR"
                            " expires_ms < ?)");
    ended.bind(1, now - s.policy.keep_ended.count());
    ended.bind(2, now);
    ended.exec();
    SQLite::Statement off(*s.db, "DELETE FROM ids_offences WHERE last_ms < ?");
    off.bind(1, now - s.policy.forget_offences_after.count());
    off.exec();
    tx.commit();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "pruning IDS decisions");
  }
  {
    std::unique_lock lock(s.mu);
    std::erase_if(s.by_scope, [now](const auto& kv) { return !kv.second.ActiveAt(now); });
    std::erase_if(s.offences, [&](const auto& kv) {
      return now - kv.second.second >= s.policy.forget_offences_after.count();
    });
  }
  Recount();
  return OkStatus();
}

}  // namespace medmesh::ids
