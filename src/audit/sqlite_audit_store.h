// SqliteAuditStore: the AuditStore (audit_store.h) in one SQLite file, audit.db in a node's
// data folder, apart from the clinical databases and unencrypted (entries hold no secrets).
// Appends run in BEGIN IMMEDIATE transactions on one connection behind a mutex, so appenders in
// this process queue on the mutex and another process's appenders on SQLite's write lock. Scan
// opens its own connection, so a long verification never blocks appends.
// Thread safety: thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "audit/audit_store.h"
#include "store/sqlite_database.h"

namespace medmesh::audit {

class SqliteAuditStore final : public AuditStore {
 public:
  // Opens (creating if needed) the database at `path` and its schema. Errors as
  // store::OpenSqliteDatabase and store::EnsureSqliteSchema.
  static Result<std::unique_ptr<SqliteAuditStore>> Open(std::string path,
                                                        store::SqliteOpenOptions options = {});
  ~SqliteAuditStore() override;
  SqliteAuditStore(const SqliteAuditStore&) = delete;
  SqliteAuditStore& operator=(const SqliteAuditStore&) = delete;

  Status InitHead(const SignedAuditHead& genesis) override;
  Status Append(const Sealer& seal) override;
  Status Scan(const std::function<Status(const std::optional<SignedAuditHead>&)>& on_head,
              const std::function<Status(const StoredAuditEntry&)>& on_entry) const override;
  Result<std::vector<StoredAuditEntry>> Query(const AuditQuery& query) const override;
  Result<std::optional<SignedAuditHead>> Head() const override;

 private:
  SqliteAuditStore(std::string path, store::SqliteOpenOptions options,
                   std::unique_ptr<SQLite::Database> db);

  const std::string path_;
  const store::SqliteOpenOptions options_;
  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
};

}  // namespace medmesh::audit
