#include "accounts/postgres_account_store.h"

#include <pqxx/pqxx>
#include <utility>
#include <vector>

#include "accounts/encoding.h"
#include "store/postgres/postgres_connection.h"
#include "store/postgres/schema_prefix.h"

namespace medmesh::accounts {
namespace {

// "{s}" in `sql` becomes the quoted schema name (made of [a-z0-9_] only, so quoting is safe).
std::string Sql(const std::string& schema, std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 32);
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (sql.substr(i, 3) == "{s}") {
      out += '"' + schema + '"';
      i += 2;
    } else {
      out += sql[i];
    }
  }
  return out;
}

pqxx::binarystring Blob(ByteView bytes) { return pqxx::binarystring(bytes.data(), bytes.size()); }

constexpr const char* kSchemaSql =
    "CREATE SCHEMA IF NOT EXISTS {s};"
    "CREATE TABLE IF NOT EXISTS {s}.accounts ("
    "  account_id text PRIMARY KEY, role text NOT NULL, status text NOT NULL,"
    "  status_reason text NOT NULL, login text NOT NULL UNIQUE, password_hash text NOT NULL,"
    "  display_name text NOT NULL, patient_id text NOT NULL, cloudlet_id text NOT NULL,"
    "  licence_number text NOT NULL, speciality text NOT NULL, hospital text NOT NULL,"
    "  sealed_profile bytea NOT NULL, created_ms bigint NOT NULL,"
    "  status_changed_ms bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS accounts_by_status ON {s}.accounts (status, created_ms);"
    "CREATE TABLE IF NOT EXISTS {s}.sessions ("
    "  session_id text PRIMARY KEY, account_id text NOT NULL REFERENCES {s}.accounts,"
    "  created_ms bigint NOT NULL, expires_ms bigint NOT NULL, revoked_ms bigint NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sessions_by_account ON {s}.sessions (account_id);"
    "CREATE TABLE IF NOT EXISTS {s}.revocations ("
    "  seq bigint PRIMARY KEY, session_id text NOT NULL, expires_ms bigint NOT NULL);"
    "CREATE TABLE IF NOT EXISTS {s}.revocation_head ("
    "  one integer PRIMARY KEY CHECK (one = 1), head bigint NOT NULL);"
    "INSERT INTO {s}.revocation_head (one, head) VALUES (1, 0) ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS {s}.login_throttle ("
    "  key text PRIMARY KEY, failures bigint NOT NULL, window_start_ms bigint NOT NULL,"
    "  locked_until_ms bigint NOT NULL);";

constexpr const char* kAccountColumns =
    "account_id, role, status, status_reason, login, password_hash, display_name, patient_id,"
    " cloudlet_id, licence_number, speciality, hospital, sealed_profile, created_ms,"
    " status_changed_ms";
// The same columns without the password hash and the sealed profile (listings).
constexpr const char* kListedAccountColumns =
    "account_id, role, status, status_reason, login, ''::text AS password_hash, display_name,"
    " patient_id, cloudlet_id, licence_number, speciality, hospital,"
    " ''::bytea AS sealed_profile, created_ms, status_changed_ms";

Result<Account> ReadAccount(const pqxx::row& r) {
  Account a;
  a.account_id = r[0].as<std::string>();
  const auto role = ParseRole(r[1].as<std::string>());
  const auto status = ParseAccountStatus(r[2].as<std::string>());
  if (!role || !status) return DataLoss("an account row holds an unknown role or status");
  a.role = *role;
  a.status = *status;
  a.status_reason = r[3].as<std::string>();
  a.login = r[4].as<std::string>();
  a.password_hash = r[5].as<std::string>();
  a.display_name = r[6].as<std::string>();
  a.patient_id = r[7].as<std::string>();
  a.cloudlet_id = r[8].as<std::string>();
  a.licence_number = r[9].as<std::string>();
  a.speciality = r[10].as<std::string>();
  a.hospital = r[11].as<std::string>();
  const pqxx::binarystring blob(r[12]);
  a.sealed_profile.assign(blob.data(), blob.data() + blob.size());
  a.created_ms = r[13].as<std::int64_t>();
  a.status_changed_ms = r[14].as<std::int64_t>();
  return a;
}

// As in the SQLite store: the head row taken FOR UPDATE serialises revokers across nodes.
std::uint64_t RevokeWhere(pqxx::work& w, const std::string& schema, const char* column,
                          std::string_view value, std::int64_t now_ms) {
  const pqxx::result live = w.exec_params(
      Sql(schema, std::string("SELECT session_id, expires_ms FROM {s}.sessions WHERE ") + column +
                      " = $1 AND revoked_ms = 0 ORDER BY created_ms, session_id FOR UPDATE"),
      std::string(value));
  if (live.empty()) return 0;
  const pqxx::result head =
      w.exec(Sql(schema, "SELECT head FROM {s}.revocation_head WHERE one = 1 FOR UPDATE"));
  auto seq = head[0][0].as<std::int64_t>();
  for (const auto& row : live) {
    ++seq;
    const auto sid = row[0].as<std::string>();
    w.exec_params(Sql(schema, "UPDATE {s}.sessions SET revoked_ms = $1 WHERE session_id = $2"),
                  now_ms, sid);
    w.exec_params(
        Sql(schema,
            "INSERT INTO {s}.revocations (seq, session_id, expires_ms) VALUES ($1, $2, $3)"),
        seq, sid, row[1].as<std::int64_t>());
  }
  w.exec_params(Sql(schema, "UPDATE {s}.revocation_head SET head = $1 WHERE one = 1"), seq);
  return live.size();
}

}  // namespace

PostgresAccountStore::PostgresAccountStore(std::unique_ptr<store::PgConnectionPool> pool,
                                           std::string schema)
    : pool_(std::move(pool)), schema_(std::move(schema)) {}
PostgresAccountStore::~PostgresAccountStore() = default;

Result<std::unique_ptr<PostgresAccountStore>> PostgresAccountStore::Open(
    PostgresAccountStoreOptions options) {
  MEDMESH_RETURN_IF_ERROR(store::CheckSchemaPrefix(options.schema_prefix));
  MEDMESH_ASSIGN_OR_RETURN(
      std::unique_ptr<store::PgConnectionPool> pool,
      store::PgConnectionPool::Create(std::move(options.conninfo), options.pool_size,
                                      options.acquire_timeout));
  const std::string schema = options.schema_prefix + "accounts";
  MEDMESH_RETURN_IF_ERROR(
      pool->RunInTransaction("create accounts schema", [&](pqxx::work& w) -> Result<bool> {
        w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "medmesh accounts " + schema);
        w.exec(Sql(schema, kSchemaSql));
        return true;
      }));
  return std::unique_ptr<PostgresAccountStore>(new PostgresAccountStore(std::move(pool), schema));
}

Status PostgresAccountStore::CreateAccount(const Account& a) {
  MEDMESH_RETURN_IF_ERROR(ValidateAccount(a));
  auto r = pool_->RunInTransaction("create account", [&](pqxx::work& w) -> Result<bool> {
    // Serialises registrations of one login, so the check below holds until commit.
    w.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "account " + a.login);
    const pqxx::result taken = w.exec_params(
        Sql(schema_, "SELECT 1 FROM {s}.accounts WHERE account_id = $1 OR login = $2 LIMIT 1"),
        a.account_id, a.login);
    if (!taken.empty()) return AlreadyExists("an account with this login already exists");
    w.exec_params(Sql(schema_, std::string("INSERT INTO {s}.accounts (") + kAccountColumns +
                                   ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
                                   " $11, $12, $13, $14, $15)"),
                  a.account_id, std::string(RoleName(a.role)),
                  std::string(AccountStatusName(a.status)), a.status_reason, a.login,
                  a.password_hash, a.display_name, a.patient_id, a.cloudlet_id, a.licence_number,
                  a.speciality, a.hospital, Blob(a.sealed_profile), a.created_ms,
                  a.status_changed_ms);
    return true;
  });
  if (!r) return r.error();
  return OkStatus();
}

Status PostgresAccountStore::DeleteAccount(std::string_view account_id) {
  auto r = pool_->RunInTransaction("delete account", [&](pqxx::work& w) -> Result<bool> {
    const pqxx::result del = w.exec_params(
        Sql(schema_, "DELETE FROM {s}.accounts WHERE account_id = $1"), std::string(account_id));
    if (del.affected_rows() == 0) return NotFound("no such account");
    return true;
  });
  if (!r) return r.error();
  return OkStatus();
}

Result<std::optional<Account>> PostgresAccountStore::FindOne(const char* column,
                                                             std::string_view value) const {
  return pool_->RunInTransaction(
      "read account", [&](pqxx::work& w) -> Result<std::optional<Account>> {
        const pqxx::result r =
            w.exec_params(Sql(schema_, std::string("SELECT ") + kAccountColumns +
                                           " FROM {s}.accounts WHERE " + column + " = $1"),
                          std::string(value));
        if (r.empty()) return std::optional<Account>();
        MEDMESH_ASSIGN_OR_RETURN(Account a, ReadAccount(r[0]));
        return std::optional<Account>(std::move(a));
      });
}

Result<std::optional<Account>> PostgresAccountStore::GetAccount(std::string_view account_id) const {
  return FindOne("account_id", account_id);
}

Result<std::optional<Account>> PostgresAccountStore::FindByLogin(std::string_view login) const {
  return FindOne("login", login);
}

Result<std::vector<Account>> PostgresAccountStore::ListByStatus(AccountStatus status,
                                                                std::size_t limit) const {
  return pool_->RunInTransaction(
      "list accounts", [&](pqxx::work& w) -> Result<std::vector<Account>> {
        const pqxx::result r =
            w.exec_params(Sql(schema_, std::string("SELECT ") + kAccountColumns +
                                           " FROM {s}.accounts WHERE status = $1"
                                           " ORDER BY created_ms, account_id LIMIT $2"),
                          std::string(AccountStatusName(status)), static_cast<std::int64_t>(limit));
        std::vector<Account> out;
        for (const auto& row : r) {
          MEDMESH_ASSIGN_OR_RETURN(Account a, ReadAccount(row));
          out.push_back(std::move(a));
        }
        return out;
      });
}

Result<std::vector<Account>> PostgresAccountStore::ListByRole(Role role, std::string_view after,
                                                              std::size_t limit) const {
  if (limit == 0 || limit > kMaxAccountsListed) return InvalidArgument("limit is out of range");
  return pool_->RunInTransaction(
      "list accounts", [&](pqxx::work& w) -> Result<std::vector<Account>> {
        const pqxx::result r = w.exec_params(
            Sql(schema_, std::string("SELECT ") + kListedAccountColumns +
                             " FROM {s}.accounts WHERE role = $1 AND account_id > $2"
                             " ORDER BY account_id LIMIT $3"),
            std::string(RoleName(role)), std::string(after), static_cast<std::int64_t>(limit));
        std::vector<Account> out;
        for (const auto& row : r) {
          MEDMESH_ASSIGN_OR_RETURN(Account a, ReadAccount(row));
          out.push_back(std::move(a));
        }
        return out;
      });
}

Status PostgresAccountStore::ChangeStatus(std::string_view account_id, AccountStatus from,
                                          AccountStatus to, std::string_view reason,
                                          std::int64_t now_ms) {
  if (reason.size() > kMaxReasonBytes) return InvalidArgument("reason is too long");
  auto r = pool_->RunInTransaction("change account status", [&](pqxx::work& w) -> Result<bool> {
    const pqxx::result current =
        w.exec_params(Sql(schema_,
                          "SELECT status FROM {s}.accounts WHERE account_id = $1"
                          " FOR UPDATE"),
                      std::string(account_id));
    if (current.empty()) return NotFound("no such account");
    if (current[0][0].as<std::string>() != AccountStatusName(from)) {
      return FailedPrecondition("the account is not " + std::string(AccountStatusName(from)));
    }
    w.exec_params(Sql(schema_,
                      "UPDATE {s}.accounts SET status = $1, status_reason = $2,"
                      " status_changed_ms = $3 WHERE account_id = $4"),
                  std::string(AccountStatusName(to)), std::string(reason), now_ms,
                  std::string(account_id));
    if (from == AccountStatus::kApproved && to != AccountStatus::kApproved) {
      RevokeWhere(w, schema_, "account_id", account_id, now_ms);
    }
    return true;
  });
  if (!r) return r.error();
  return OkStatus();
}

Result<std::uint64_t> PostgresAccountStore::ChangePassword(std::string_view account_id,
                                                           std::string_view password_hash,
                                                           std::int64_t now_ms) {
  return pool_->RunInTransaction("change password", [&](pqxx::work& w) -> Result<std::uint64_t> {
    const pqxx::result update = w.exec_params(
        Sql(schema_, "UPDATE {s}.accounts SET password_hash = $1 WHERE account_id = $2"),
        std::string(password_hash), std::string(account_id));
    if (update.affected_rows() == 0) return NotFound("no such account");
    return RevokeWhere(w, schema_, "account_id", account_id, now_ms);
  });
}

Status PostgresAccountStore::CreateSession(const SessionRow& s) {
  if (!IsIdWithPrefix(s.session_id, "ses_")) return InvalidArgument("bad session id");
  auto r = pool_->RunInTransaction("create session", [&](pqxx::work& w) -> Result<bool> {
    if (w.exec_params(Sql(schema_, "SELECT 1 FROM {s}.accounts WHERE account_id = $1"),
                      s.account_id)
            .empty()) {
      return NotFound("no such account");
    }
    const pqxx::result inserted = w.exec_params(
        Sql(schema_,
            "INSERT INTO {s}.sessions (session_id, account_id, created_ms, expires_ms,"
            " revoked_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id) DO NOTHING"),
        s.session_id, s.account_id, s.created_ms, s.expires_ms, s.revoked_ms);
    if (inserted.affected_rows() == 0) return AlreadyExists("session id taken");
    return true;
  });
  if (!r) return r.error();
  return OkStatus();
}

Result<std::optional<SessionRow>> PostgresAccountStore::GetSession(
    std::string_view session_id) const {
  return pool_->RunInTransaction(
      "read session", [&](pqxx::work& w) -> Result<std::optional<SessionRow>> {
        const pqxx::result r =
            w.exec_params(Sql(schema_,
                              "SELECT session_id, account_id, created_ms, expires_ms, revoked_ms"
                              " FROM {s}.sessions WHERE session_id = $1"),
                          std::string(session_id));
        if (r.empty()) return std::optional<SessionRow>();
        return std::optional<SessionRow>(SessionRow{
            r[0][0].as<std::string>(), r[0][1].as<std::string>(), r[0][2].as<std::int64_t>(),
            r[0][3].as<std::int64_t>(), r[0][4].as<std::int64_t>()});
      });
}

Result<bool> PostgresAccountStore::RevokeSession(std::string_view session_id, std::int64_t now_ms) {
  return pool_->RunInTransaction("revoke session", [&](pqxx::work& w) -> Result<bool> {
    if (w.exec_params(Sql(schema_, "SELECT 1 FROM {s}.sessions WHERE session_id = $1"),
                      std::string(session_id))
            .empty()) {
      return NotFound("no such session");
    }
    return RevokeWhere(w, schema_, "session_id", session_id, now_ms) > 0;
  });
}

Result<RevocationPage> PostgresAccountStore::RevocationsSince(std::uint64_t since,
                                                              std::size_t limit) const {
  return pool_->RunInTransaction("read revocations", [&](pqxx::work& w) -> Result<RevocationPage> {
    RevocationPage page;
    // The head first: every seq up to it has committed (revokers hold the head row).
    page.head = w.exec(Sql(schema_, "SELECT head FROM {s}.revocation_head WHERE one = 1"))[0][0]
                    .as<std::uint64_t>();
    const pqxx::result r =
        w.exec_params(Sql(schema_,
                          "SELECT seq, session_id, expires_ms FROM {s}.revocations"
                          " WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"),
                      static_cast<std::int64_t>(since), static_cast<std::int64_t>(page.head),
                      static_cast<std::int64_t>(limit));
    for (const auto& row : r) {
      page.revocations.push_back(
          {row[0].as<std::uint64_t>(), row[1].as<std::string>(), row[2].as<std::int64_t>()});
    }
    return page;
  });
}

Result<std::uint64_t> PostgresAccountStore::PruneExpired(std::int64_t before_ms) {
  return pool_->RunInTransaction("prune sessions", [&](pqxx::work& w) -> Result<std::uint64_t> {
    const auto revs =
        w.exec_params(Sql(schema_, "DELETE FROM {s}.revocations WHERE expires_ms < $1"), before_ms);
    const auto sessions =
        w.exec_params(Sql(schema_, "DELETE FROM {s}.sessions WHERE expires_ms < $1"), before_ms);
    return static_cast<std::uint64_t>(revs.affected_rows() + sessions.affected_rows());
  });
}

Result<ThrottleState> PostgresAccountStore::GetThrottle(std::string_view key) const {
  return pool_->RunInTransaction(
      "read login throttle", [&](pqxx::work& w) -> Result<ThrottleState> {
        const pqxx::result r = w.exec_params(
            Sql(schema_,
                "SELECT failures, window_start_ms, locked_until_ms FROM {s}.login_throttle"
                " WHERE key = $1"),
            std::string(key));
        if (r.empty()) return ThrottleState{};
        return ThrottleState{r[0][0].as<std::uint32_t>(), r[0][1].as<std::int64_t>(),
                             r[0][2].as<std::int64_t>()};
      });
}

Result<ThrottleState> PostgresAccountStore::AddLoginFailure(std::string_view key,
                                                            std::int64_t now_ms,
                                                            const ThrottlePolicy& policy) {
  return pool_->RunInTransaction(
      "count login failure", [&](pqxx::work& w) -> Result<ThrottleState> {
        // The row may not exist yet: create it first so FOR UPDATE has something to lock.
        w.exec_params(Sql(schema_,
                          "INSERT INTO {s}.login_throttle (key, failures, window_start_ms,"
                          " locked_until_ms) VALUES ($1, 0, 0, 0) ON CONFLICT DO NOTHING"),
                      std::string(key));
        const pqxx::result r = w.exec_params(
            Sql(schema_,
                "SELECT failures, window_start_ms, locked_until_ms FROM {s}.login_throttle"
                " WHERE key = $1 FOR UPDATE"),
            std::string(key));
        ThrottleState state{r[0][0].as<std::uint32_t>(), r[0][1].as<std::int64_t>(),
                            r[0][2].as<std::int64_t>()};
        state = ApplyLoginFailure(state, now_ms, policy);
        w.exec_params(Sql(schema_,
                          "UPDATE {s}.login_throttle SET failures = $2, window_start_ms = $3,"
                          " locked_until_ms = $4 WHERE key = $1"),
                      std::string(key), static_cast<std::int64_t>(state.failures),
                      state.window_start_ms, state.locked_until_ms);
        return state;
      });
}

Status PostgresAccountStore::ClearThrottle(std::string_view key) {
  auto r = pool_->RunInTransaction("clear login throttle", [&](pqxx::work& w) -> Result<bool> {
    w.exec_params(Sql(schema_, "DELETE FROM {s}.login_throttle WHERE key = $1"), std::string(key));
    return true;
  });
  if (!r) return r.error();
  return OkStatus();
}

}  // namespace medmesh::accounts
