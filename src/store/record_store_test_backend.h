// Test support (test-only library medmesh_store_test_backends): the databases that the
// RecordStore conformance suite (record_store_test.cc) and the cloud's three-part tests run
// against, plus raw access to them, so that tests can tamper with rows the way an attacker
// with database access would.
//
// PostgreSQL comes from the environment variable MEDMESH_TEST_PG (a libpq connection string
// set by ctest from tools/pg_test_cluster.sh). Each backend object gets its own schemas (a
// random prefix) and drops them when destroyed, so tests may run in parallel.
// Thread safety: not thread-safe (tests drive it from one thread).
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <string_view>

#include "core/status.h"
#include "store/record_store.h"

namespace medmesh::store::testing {

enum class BackendKind { kSqlite, kPostgres };
std::string_view BackendKindName(BackendKind kind);  // "Sqlite", "Postgres"
// For GoogleTest's parameter printing (test names read "... GetParam() = Sqlite").
inline void PrintTo(BackendKind kind, std::ostream* os) { *os << BackendKindName(kind); }

// The environment variable that names the test PostgreSQL cluster.
inline constexpr const char* kTestPostgresEnv = "MEDMESH_TEST_PG";

class TestBackend {
 public:
  virtual ~TestBackend() = default;

  // A store on this backend's database, created empty on the first call; later calls open the
  // same database again (a restart).
  virtual Result<std::unique_ptr<RecordStore>> Open() = 0;

  // Runs SQL straight against the database, bypassing the store. Logical table names in
  // braces ("{mi}", "{chain_log}", see record_store.h) become the backend's table names.
  virtual Status Execute(std::string_view sql) = 0;

  // XORs 0x01 into byte `offset` of blob `column` in every row of logical `table` whose text
  // column `key_column` equals `key`. kNotFound if no row matched or the blob is too short.
  virtual Status FlipByte(std::string_view table, std::string_view column,
                          std::string_view key_column, std::string_view key,
                          std::size_t offset) = 0;

  // Every row of logical `table`, as text: strings as they are, blobs both raw and as
  // lower-case hex. For "this plaintext is nowhere in the table" checks.
  virtual Result<std::string> Dump(std::string_view table) = 0;

  // Drops the append-only triggers of the chain log, as an attacker with DDL rights could.
  virtual Status DropChainProtection() = 0;
};

// kFailedPrecondition (with instructions) for kPostgres if MEDMESH_TEST_PG is not set, and
// kUnavailable if the server cannot be reached: PostgreSQL tests fail, they never skip.
Result<std::unique_ptr<TestBackend>> MakeTestBackend(BackendKind kind);

// The logical tables, for tests that go over all of them.
inline constexpr std::string_view kLogicalTables[] = {
    "ei", "ei_record_link", "ei_blind_index", "qi",          "qi_generalised", "qi_state",
    "mi", "chain_log",      "chain_head",     "wrapped_keys"};

}  // namespace medmesh::store::testing
