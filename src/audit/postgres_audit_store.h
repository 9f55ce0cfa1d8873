// PostgresAuditStore: the AuditStore (audit_store.h) on PostgreSQL, in its own schema
// <prefix>audit_log (tables entry and head), apart from the clinical schemas so it can be
// granted, dumped and kept on its own schedule. Appends lock the single head row (SELECT ...
// FOR UPDATE), so several processes on one database keep one gap-free chain; Scan reads in one
// REPEATABLE READ, read-only transaction (a consistent snapshot).
// Thread safety: thread-safe (a small connection pool, store/postgres/postgres_connection.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "audit/audit_store.h"

namespace medmesh::store {
class PgConnectionPool;
}

namespace medmesh::audit {

struct PostgresAuditStoreOptions {
  std::string conninfo{};       // libpq string or URI; never logged (may hold a password)
  std::string schema_prefix{};  // empty or [a-z][a-z0-9_]{0,31} (store::CheckSchemaPrefix)
  std::size_t pool_size = 2;    // 1..64
  std::chrono::milliseconds acquire_timeout{5000};
  std::chrono::milliseconds statement_timeout{30000};  // 0: none
};

class PostgresAuditStore final : public AuditStore {
 public:
  // Connects, creates the schema if needed. kInvalidArgument for bad options, kUnavailable if
  // the server cannot be reached, kFailedPrecondition if a newer build wrote the schema.
  static Result<std::unique_ptr<PostgresAuditStore>> Open(PostgresAuditStoreOptions options);
  ~PostgresAuditStore() override;
  PostgresAuditStore(const PostgresAuditStore&) = delete;
  PostgresAuditStore& operator=(const PostgresAuditStore&) = delete;

  // "<prefix>audit_log".
  std::string schema() const { return prefix_ + "audit_log"; }

  Status InitHead(const SignedAuditHead& genesis) override;
  Status Append(const Sealer& seal) override;
  Status Scan(const std::function<Status(const std::optional<SignedAuditHead>&)>& on_head,
              const std::function<Status(const StoredAuditEntry&)>& on_entry) const override;
  Result<std::vector<StoredAuditEntry>> Query(const AuditQuery& query) const override;
  Result<std::optional<SignedAuditHead>> Head() const override;

 private:
  PostgresAuditStore(std::unique_ptr<store::PgConnectionPool> pool, std::string prefix);
  // `sql` with {s} replaced by the quoted schema name.
  std::string Sql(std::string_view sql) const;

  std::unique_ptr<store::PgConnectionPool> pool_;
  const std::string prefix_;
};

}  // namespace medmesh::audit
