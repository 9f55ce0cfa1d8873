// PostgresAccountStore: the AccountStore (account_store.h) on PostgreSQL (libpqxx 6.4), for a
// cloud whose other stores are PostgreSQL, so cloud nodes behind a load balancer share accounts,
// sessions and login throttles. Tables live in the schema <prefix>accounts, created on open
// under an advisory lock. Revocations take the one revocation_head row FOR UPDATE, so seqs are
// given and committed in one order across nodes. Error mapping: store/postgres/
// postgres_connection.h (a violated unique constraint is kFailedPrecondition there; logins and
// ids taken are checked first and answered kAlreadyExists).
// Thread safety: thread-safe (a small pool; a connection is used by one thread at a time).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "accounts/account_store.h"

namespace medmesh::store {
class PgConnectionPool;
}

namespace medmesh::accounts {

struct PostgresAccountStoreOptions {
  std::string conninfo;       // never logged
  std::string schema_prefix;  // empty or [a-z][a-z0-9_]{0,31} (store::CheckSchemaPrefix)
  std::size_t pool_size = 4;
  std::chrono::milliseconds acquire_timeout{5000};
};

class PostgresAccountStore final : public AccountStore {
 public:
  // kInvalidArgument for bad options, kUnavailable if the server cannot be reached.
  static Result<std::unique_ptr<PostgresAccountStore>> Open(PostgresAccountStoreOptions options);
  ~PostgresAccountStore() override;
  const std::string& schema() const { return schema_; }

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
  PostgresAccountStore(std::unique_ptr<store::PgConnectionPool> pool, std::string schema);
  Result<std::optional<Account>> FindOne(const char* column, std::string_view value) const;
  std::unique_ptr<store::PgConnectionPool> pool_;
  std::string schema_;
};

}  // namespace medmesh::accounts
