#include "store/record_store_test_backend.h"

#include "store/postgres/postgres_test_backend.h"
#include "store/sqlite/sqlite_test_backend.h"

namespace medmesh::store::testing {

std::string_view BackendKindName(BackendKind kind) {
  return kind == BackendKind::kSqlite ? "Sqlite" : "Postgres";
}

Result<std::unique_ptr<TestBackend>> MakeTestBackend(BackendKind kind) {
  if (kind == BackendKind::kSqlite) {
    return std::unique_ptr<TestBackend>(std::make_unique<SqliteTestBackend>());
  }
  MEDMESH_ASSIGN_OR_RETURN(auto pg, PostgresTestBackend::Create());
  return std::unique_ptr<TestBackend>(std::move(pg));
}

}  // namespace medmesh::store::testing
