#include "accounts/sqlite_account_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>

#include "accounts/encoding.h"

namespace medmesh::accounts {
namespace {

using store::BindBlob;
using store::ColumnBytes;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS accounts (
  account_id        TEXT PRIMARY KEY,
  role              TEXT NOT NULL,
  status            TEXT NOT NULL,
  status_reason     TEXT NOT NULL,
  login             TEXT NOT NULL UNIQUE,
  password_hash     TEXT NOT NULL,
  display_name      TEXT NOT NULL,
  patient_id        TEXT NOT NULL,
  cloudlet_id       TEXT NOT NULL,
  licence_number    TEXT NOT NULL,
  speciality        TEXT NOT NULL,
  hospital          TEXT NOT NULL,
  sealed_profile    BLOB NOT NULL,
  created_ms        INTEGER NOT NULL,
  status_changed_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_by_status ON accounts (status, created_ms);
CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts (account_id),
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  revoked_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions (account_id);
CREATE TABLE IF NOT EXISTS revocations (
  seq        INTEGER PRIMARY KEY,
  session_id TEXT NOT NULL,
  expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS revocation_head (
  one  INTEGER PRIMARY KEY CHECK (one = 1),
  head INTEGER NOT NULL
);
INSERT OR IGNORE INTO revocation_head (one, head) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS login_throttle (
  key             TEXT PRIMARY KEY,
  failures        INTEGER NOT NULL,
  window_start_ms INTEGER NOT NULL,
  locked_until_ms INTEGER NOT NULL
);
)sql";

constexpr const char* kAccountColumns =
    "account_id, role, status, status_reason, login, password_hash, display_name, patient_id,"
    " cloudlet_id, licence_number, speciality, hospital, sealed_profile, created_ms,"
    " status_changed_ms";
// The same columns without the password hash and the sealed profile (listings).
constexpr const char* kListedAccountColumns =
    "account_id, role, status, status_reason, login, '' AS password_hash, display_name,"
    " patient_id, cloudlet_id, licence_number, speciality, hospital, X'' AS sealed_profile,"
    " created_ms, status_changed_ms";

Result<Account> ReadAccount(SQLite::Statement& q) {
  Account a;
  a.account_id = q.getColumn(0).getString();
  const auto role = ParseRole(q.getColumn(1).getString());
  const auto status = ParseAccountStatus(q.getColumn(2).getString());
  if (!role || !status) return DataLoss("an account row holds an unknown role or status");
  a.role = *role;
  a.status = *status;
  a.status_reason = q.getColumn(3).getString();
  a.login = q.getColumn(4).getString();
  a.password_hash = q.getColumn(5).getString();
  a.display_name = q.getColumn(6).getString();
  a.patient_id = q.getColumn(7).getString();
  a.cloudlet_id = q.getColumn(8).getString();
  a.licence_number = q.getColumn(9).getString();
  a.speciality = q.getColumn(10).getString();
  a.hospital = q.getColumn(11).getString();
  a.sealed_profile = ColumnBytes(q.getColumn(12));
  a.created_ms = q.getColumn(13).getInt64();
  a.status_changed_ms = q.getColumn(14).getInt64();
  return a;
}

// Gives each live session of the account (or the one session) a revocation seq and marks it
// revoked. Runs inside the caller's IMMEDIATE transaction, so seqs follow commit order.
std::uint64_t RevokeWhere(SQLite::Database& db, const char* where, std::string_view value,
                          std::int64_t now_ms) {
  SQLite::Statement live(db, std::string("SELECT session_id, expires_ms FROM sessions WHERE ") +
                                 where + " AND revoked_ms = 0 ORDER BY created_ms, session_id");
  live.bind(1, std::string(value));
  std::vector<std::pair<std::string, std::int64_t>> sessions;
  while (live.executeStep()) {
    sessions.emplace_back(live.getColumn(0).getString(), live.getColumn(1).getInt64());
  }
  if (sessions.empty()) return 0;
  SQLite::Statement head(db, "SELECT head FROM revocation_head WHERE one = 1");
  head.executeStep();
  std::int64_t seq = head.getColumn(0).getInt64();
  for (const auto& [sid, expires] : sessions) {
    ++seq;
    SQLite::Statement mark(db, "UPDATE sessions SET revoked_ms = ? WHERE session_id = ?");
    mark.bind(1, static_cast<std::int64_t>(now_ms));
    mark.bind(2, sid);
    mark.exec();
    SQLite::Statement add(db,
                          "INSERT INTO revocations (seq, session_id, expires_ms) VALUES (?, ?, ?)");
    add.bind(1, seq);
    add.bind(2, sid);
    add.bind(3, static_cast<std::int64_t>(expires));
    add.exec();
  }
  SQLite::Statement bump(db, "UPDATE revocation_head SET head = ? WHERE one = 1");
  bump.bind(1, seq);
  bump.exec();
  return sessions.size();
}

}  // namespace

SqliteAccountStore::SqliteAccountStore(std::unique_ptr<SQLite::Database> db) : db_(std::move(db)) {}
SqliteAccountStore::~SqliteAccountStore() = default;

Result<std::unique_ptr<SqliteAccountStore>> SqliteAccountStore::Open(
    const std::string& path, const store::SqliteOpenOptions& sqlite) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           store::OpenSqliteDatabase(path, sqlite));
  MEDMESH_RETURN_IF_ERROR(store::EnsureSqliteSchema(*db, "cloud_accounts", 1, kSchema));
  return std::unique_ptr<SqliteAccountStore>(new SqliteAccountStore(std::move(db)));
}

Status SqliteAccountStore::CreateAccount(const Account& a) {
  MEDMESH_RETURN_IF_ERROR(ValidateAccount(a));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement taken(*db_,
                            "SELECT 1 FROM accounts WHERE account_id = ? OR login = ? LIMIT 1");
    taken.bind(1, a.account_id);
    taken.bind(2, a.login);
    if (taken.executeStep()) return AlreadyExists("an account with this login already exists");
    SQLite::Statement insert(*db_, std::string("INSERT INTO accounts (") + kAccountColumns +
                                       ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.bind(1, a.account_id);
    insert.bind(2, std::string(RoleName(a.role)));
    insert.bind(3, std::string(AccountStatusName(a.status)));
    insert.bind(4, a.status_reason);
    insert.bind(5, a.login);
    insert.bind(6, a.password_hash);
    insert.bind(7, a.display_name);
    insert.bind(8, a.patient_id);
    insert.bind(9, a.cloudlet_id);
    insert.bind(10, a.licence_number);
    insert.bind(11, a.speciality);
    insert.bind(12, a.hospital);
    BindBlob(insert, 13, a.sealed_profile);
    insert.bind(14, static_cast<std::int64_t>(a.created_ms));
    insert.bind(15, static_cast<std::int64_t>(a.status_changed_ms));
    insert.exec();
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "create account");
  }
}

Status SqliteAccountStore::DeleteAccount(std::string_view account_id) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement del(*db_, "DELETE FROM accounts WHERE account_id = ?");
    del.bind(1, std::string(account_id));
    if (del.exec() == 0) return NotFound("no such account");
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "delete account");
  }
}

Result<std::optional<Account>> SqliteAccountStore::FindOne(const char* where,
                                                           std::string_view value) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        std::string("SELECT ") + kAccountColumns + " FROM accounts WHERE " + where);
    q.bind(1, std::string(value));
    if (!q.executeStep()) return std::optional<Account>();
    MEDMESH_ASSIGN_OR_RETURN(Account a, ReadAccount(q));
    return std::optional<Account>(std::move(a));
  } catch (const std::exception& e) {
    return store::SqliteError(e, "read account");
  }
}

Result<std::optional<Account>> SqliteAccountStore::GetAccount(std::string_view account_id) const {
  return FindOne("account_id = ?", account_id);
}

Result<std::optional<Account>> SqliteAccountStore::FindByLogin(std::string_view login) const {
  return FindOne("login = ?", login);
}

Result<std::vector<Account>> SqliteAccountStore::ListByStatus(AccountStatus status,
                                                              std::size_t limit) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string("SELECT ") + kAccountColumns +
                                  " FROM accounts WHERE status = ?"
                                  " ORDER BY created_ms, account_id LIMIT ?");
    q.bind(1, std::string(AccountStatusName(status)));
    q.bind(2, static_cast<std::int64_t>(limit));
    std::vector<Account> out;
    while (q.executeStep()) {
      MEDMESH_ASSIGN_OR_RETURN(Account a, ReadAccount(q));
      out.push_back(std::move(a));
    }
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list accounts");
  }
}

Result<std::vector<Account>> SqliteAccountStore::ListByRole(Role role, std::string_view after,
                                                            std::size_t limit) const {
  if (limit == 0 || limit > kMaxAccountsListed) return InvalidArgument("limit is out of range");
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_, std::string("SELECT ") + kListedAccountColumns +
                                  " FROM accounts WHERE role = ? AND account_id > ?"
                                  " ORDER BY account_id LIMIT ?");
    q.bind(1, std::string(RoleName(role)));
    q.bind(2, std::string(after));
    q.bind(3, static_cast<std::int64_t>(limit));
    std::vector<Account> out;
    while (q.executeStep()) {
      MEDMESH_ASSIGN_OR_RETURN(Account a, ReadAccount(q));
      out.push_back(std::move(a));
    }
    return out;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "list accounts");
  }
}

Status SqliteAccountStore::ChangeStatus(std::string_view account_id, AccountStatus from,
                                        AccountStatus to, std::string_view reason,
                                        std::int64_t now_ms) {
  if (reason.size() > kMaxReasonBytes) return InvalidArgument("reason is too long");
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement current(*db_, "SELECT status FROM accounts WHERE account_id = ?");
    current.bind(1, std::string(account_id));
    if (!current.executeStep()) return NotFound("no such account");
    if (current.getColumn(0).getString() != AccountStatusName(from)) {
      return FailedPrecondition("the account is not " + std::string(AccountStatusName(from)));
    }
    current.reset();
    SQLite::Statement update(*db_,
                             "UPDATE accounts SET status = ?, status_reason = ?,"
                             " status_changed_ms = ? WHERE account_id = ?");
    update.bind(1, std::string(AccountStatusName(to)));
    update.bind(2, std::string(reason));
    update.bind(3, static_cast<std::int64_t>(now_ms));
    update.bind(4, std::string(account_id));
    update.exec();
    if (from == AccountStatus::kApproved && to != AccountStatus::kApproved) {
      RevokeWhere(*db_, "account_id = ?", account_id, now_ms);
    }
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "change account status");
  }
}

Result<std::uint64_t> SqliteAccountStore::ChangePassword(std::string_view account_id,
                                                         std::string_view password_hash,
                                                         std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement update(*db_, "UPDATE accounts SET password_hash = ? WHERE account_id = ?");
    update.bind(1, std::string(password_hash));
    update.bind(2, std::string(account_id));
    if (update.exec() == 0) return NotFound("no such account");
    const std::uint64_t revoked = RevokeWhere(*db_, "account_id = ?", account_id, now_ms);
    tx.commit();
    return revoked;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "change password");
  }
}

Status SqliteAccountStore::CreateSession(const SessionRow& s) {
  if (!IsIdWithPrefix(s.session_id, "ses_")) return InvalidArgument("bad session id");
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement account(*db_, "SELECT 1 FROM accounts WHERE account_id = ?");
    account.bind(1, s.account_id);
    if (!account.executeStep()) return NotFound("no such account");
    SQLite::Statement taken(*db_, "SELECT 1 FROM sessions WHERE session_id = ?");
    taken.bind(1, s.session_id);
    if (taken.executeStep()) return AlreadyExists("session id taken");
    SQLite::Statement insert(*db_,
                             "INSERT INTO sessions (session_id, account_id, created_ms,"
                             " expires_ms, revoked_ms) VALUES (?, ?, ?, ?, ?)");
    insert.bind(1, s.session_id);
    insert.bind(2, s.account_id);
    insert.bind(3, static_cast<std::int64_t>(s.created_ms));
    insert.bind(4, static_cast<std::int64_t>(s.expires_ms));
    insert.bind(5, static_cast<std::int64_t>(s.revoked_ms));
    insert.exec();
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "create session");
  }
}

Result<std::optional<SessionRow>> SqliteAccountStore::GetSession(
    std::string_view session_id) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT session_id, account_id, created_ms, expires_ms, revoked_ms"
                        " FROM sessions WHERE session_id = ?");
    q.bind(1, std::string(session_id));
    if (!q.executeStep()) return std::optional<SessionRow>();
    return std::optional<SessionRow>(SessionRow{
        q.getColumn(0).getString(), q.getColumn(1).getString(), q.getColumn(2).getInt64(),
        q.getColumn(3).getInt64(), q.getColumn(4).getInt64()});
  } catch (const std::exception& e) {
    return store::SqliteError(e, "read session");
  }
}

Result<bool> SqliteAccountStore::RevokeSession(std::string_view session_id, std::int64_t now_ms) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement exists(*db_, "SELECT 1 FROM sessions WHERE session_id = ?");
    exists.bind(1, std::string(session_id));
    if (!exists.executeStep()) return NotFound("no such session");
    const bool revoked = RevokeWhere(*db_, "session_id = ?", session_id, now_ms) > 0;
    tx.commit();
    return revoked;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "revoke session");
  }
}

Result<RevocationPage> SqliteAccountStore::RevocationsSince(std::uint64_t since,
                                                            std::size_t limit) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_);  // one snapshot for the page and the head
    RevocationPage page;
    SQLite::Statement head(*db_, "SELECT head FROM revocation_head WHERE one = 1");
    if (head.executeStep()) page.head = static_cast<std::uint64_t>(head.getColumn(0).getInt64());
    SQLite::Statement q(*db_,
                        "SELECT seq, session_id, expires_ms FROM revocations"
                        " WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?");
    q.bind(1, static_cast<std::int64_t>(since));
    q.bind(2, static_cast<std::int64_t>(page.head));
    q.bind(3, static_cast<std::int64_t>(limit));
    while (q.executeStep()) {
      page.revocations.push_back({static_cast<std::uint64_t>(q.getColumn(0).getInt64()),
                                  q.getColumn(1).getString(), q.getColumn(2).getInt64()});
    }
    return page;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "read revocations");
  }
}

Result<std::uint64_t> SqliteAccountStore::PruneExpired(std::int64_t before_ms) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement revs(*db_, "DELETE FROM revocations WHERE expires_ms < ?");
    revs.bind(1, static_cast<std::int64_t>(before_ms));
    std::uint64_t removed = static_cast<std::uint64_t>(revs.exec());
    SQLite::Statement sessions(*db_, "DELETE FROM sessions WHERE expires_ms < ?");
    sessions.bind(1, static_cast<std::int64_t>(before_ms));
    removed += static_cast<std::uint64_t>(sessions.exec());
    tx.commit();
    return removed;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "prune sessions");
  }
}

Result<ThrottleState> SqliteAccountStore::GetThrottle(std::string_view key) const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement q(*db_,
                        "SELECT failures, window_start_ms, locked_until_ms FROM login_throttle"
                        " WHERE key = ?");
    q.bind(1, std::string(key));
    if (!q.executeStep()) return ThrottleState{};
    return ThrottleState{static_cast<std::uint32_t>(q.getColumn(0).getInt64()),
                         q.getColumn(1).getInt64(), q.getColumn(2).getInt64()};
  } catch (const std::exception& e) {
    return store::SqliteError(e, "read login throttle");
  }
}

Result<ThrottleState> SqliteAccountStore::AddLoginFailure(std::string_view key, std::int64_t now_ms,
                                                          const ThrottlePolicy& policy) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    ThrottleState state;
    SQLite::Statement q(*db_,
                        "SELECT failures, window_start_ms, locked_until_ms FROM login_throttle"
                        " WHERE key = ?");
    q.bind(1, std::string(key));
    if (q.executeStep()) {
      state = {static_cast<std::uint32_t>(q.getColumn(0).getInt64()), q.getColumn(1).getInt64(),
               q.getColumn(2).getInt64()};
    }
    q.reset();
    state = ApplyLoginFailure(state, now_ms, policy);
    SQLite::Statement upsert(*db_,
                             "INSERT INTO login_throttle (key, failures, window_start_ms,"
                             " locked_until_ms) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE"
                             " SET failures = excluded.failures,"
                             " window_start_ms = excluded.window_start_ms,"
                             " locked_until_ms = excluded.locked_until_ms");
    upsert.bind(1, std::string(key));
    upsert.bind(2, static_cast<std::int64_t>(state.failures));
    upsert.bind(3, static_cast<std::int64_t>(state.window_start_ms));
    upsert.bind(4, static_cast<std::int64_t>(state.locked_until_ms));
    upsert.exec();
    tx.commit();
    return state;
  } catch (const std::exception& e) {
    return store::SqliteError(e, "count login failure");
  }
}

Status SqliteAccountStore::ClearThrottle(std::string_view key) {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement del(*db_, "DELETE FROM login_throttle WHERE key = ?");
    del.bind(1, std::string(key));
    del.exec();
    return OkStatus();
  } catch (const std::exception& e) {
    return store::SqliteError(e, "clear login throttle");
  }
}

}  // namespace medmesh::accounts
