// SqliteAccountStore: the AccountStore (account_store.h) in one SQLite file (accounts.db in the
// cloud's data folder), opened with store/sqlite_database.h (WAL, synchronous=FULL). Every
// multi-row change is one IMMEDIATE transaction, so revocation seqs follow commit order.
// Thread safety: thread-safe (one connection behind a mutex).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "accounts/account_store.h"
#include "store/sqlite_database.h"

namespace medmesh::accounts {

class SqliteAccountStore final : public AccountStore {
 public:
  // Opens (creating) the database at `path`. Errors of store::OpenSqliteDatabase and
  // store::EnsureSqliteSchema.
  static Result<std::unique_ptr<SqliteAccountStore>> Open(
      const std::string& path, const store::SqliteOpenOptions& sqlite = {});
  ~SqliteAccountStore() override;

  Status CreateAccount(const Account& account) override;
  Status DeleteAccount(std::string_view account_id) override;
  Result<std::optional<Account>> GetAccount(std::string_view account_id) const override;
  Result<std::optional<Account>> FindByLogin(std::string_view login) const override;
  Result<std::vector<Account>> ListByStatus(AccountStatus status, std::size_t limit) const override;
  Result<std::vector<Account>> ListByRole(Role role, std::string_view after,
                                          std::size_t limit) const override;
  Status ChangeStatus(std::string_view account_id, AccountStatus from, AccountStatus to,
                      std::string_view reason, std::int64_t now_ms) override;
  Result<std::uint64_t> ChangePassword(std::string_view account_id, std::string_view password_hash,
                                       std::int64_t now_ms) override;
  Status CreateSession(const SessionRow& session) override;
  Result<std::optional<SessionRow>> GetSession(std::string_view session_id) const override;
  Result<bool> RevokeSession(std::string_view session_id, std::int64_t now_ms) override;
  Result<RevocationPage> RevocationsSince(std::uint64_t since, std::size_t limit) const override;
  Result<std::uint64_t> PruneExpired(std::int64_t before_ms) override;
  Result<ThrottleState> GetThrottle(std::string_view key) const override;
  Result<ThrottleState> AddLoginFailure(std::string_view key, std::int64_t now_ms,
                                        const ThrottlePolicy& policy) override;
  Status ClearThrottle(std::string_view key) override;

 private:
  explicit SqliteAccountStore(std::unique_ptr<SQLite::Database> db);
  Result<std::optional<Account>> FindOne(const char* where, std::string_view value) const;

  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
};

}  // namespace medmesh::accounts
