// The PostgreSQL TestBackend (record_store_test_backend.h): fresh schemas with a random
// prefix in the test cluster named by MEDMESH_TEST_PG, dropped with the object. Test-only.
#pragma once

#include <memory>
#include <string>

#include "store/postgres/postgres_record_store.h"
#include "store/record_store_test_backend.h"

namespace medmesh::store::testing {

class PostgresTestBackend final : public TestBackend {
 public:
  // kFailedPrecondition if MEDMESH_TEST_PG is not set; kUnavailable if the server does not
  // answer.
  static Result<std::unique_ptr<PostgresTestBackend>> Create();
  ~PostgresTestBackend() override;

  const std::string& conninfo() const { return conninfo_; }
  const std::string& prefix() const { return prefix_; }
  // The options Open() uses, to be adjusted by tests of the PostgreSQL store itself.
  PostgresRecordStoreOptions options() const;

  Result<std::unique_ptr<RecordStore>> Open() override;
  Status Execute(std::string_view sql) override;
  Status FlipByte(std::string_view table, std::string_view column, std::string_view key_column,
                  std::string_view key, std::size_t offset) override;
  Result<std::string> Dump(std::string_view table) override;
  Status DropChainProtection() override;

  // The qualified table name of a logical table ("mi" -> "t1234_mi".record).
  std::string Table(std::string_view logical) const;

  // Runs SQL as the cluster's superuser outside a transaction (ALTER DATABASE, ...).
  Status ExecuteAdmin(std::string_view sql);

  // For tests that take the database away: creates a database of this backend's own (dropped
  // with the object) and returns store options for it. Once only.
  Result<PostgresRecordStoreOptions> CreateOwnDatabase();
  // Makes the own database refuse new connections and ends the open ones (down), or lets
  // connections in again.
  Status SetOwnDatabaseDown(bool down);

 private:
  PostgresTestBackend(std::string conninfo, std::string prefix)
      : conninfo_(std::move(conninfo)), prefix_(std::move(prefix)) {}
  std::string Expand(std::string_view sql) const;

  std::string conninfo_;
  std::string prefix_;
  std::string own_database_;  // empty until CreateOwnDatabase()
};

}  // namespace medmesh::store::testing
