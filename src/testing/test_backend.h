// Which store backend a test runs on, for test binaries written once for both backends.
//
// Such a binary is compiled once and registered with ctest twice (ADR 0012): under its own name,
// where it runs on SQLite, and under a second name by medmesh_postgres_variant()
// (src/store/CMakeLists.txt), which requires the PostgreSQL test cluster fixture and sets
// MEDMESH_TEST_PG to the cluster's connection string. Run by hand, the binary uses the cluster
// named by MEDMESH_TEST_PG when it is set.
#pragma once

#include <cstdlib>

namespace medmesh::testing {

// The test cluster's connection string when this test runs on PostgreSQL, nullptr on SQLite.
inline const char* PostgresTestUrl() {
  const char* url = std::getenv("MEDMESH_TEST_PG");
  return url != nullptr && *url != '\0' ? url : nullptr;
}

inline bool OnPostgres() { return PostgresTestUrl() != nullptr; }

}  // namespace medmesh::testing
