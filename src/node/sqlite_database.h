// SQLite plumbing for the services' own small tables (the cloudlet's device registry and ingest
// ledger, the cloud's intake store): opening a database with the durability settings every
// acknowledged write relies on, creating a component's schema once, and turning SQLiteCpp's
// exceptions into Status at the edge.
// Thread safety: reentrant functions; a SQLite::Database is not thread-safe, so each caller
// keeps its connection behind its own mutex.
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace SQLite {
class Database;
}

namespace medmesh::node {

// Opens (creating) `path` with journal_mode=WAL and synchronous=FULL (a commit is on disk when
// it returns), foreign keys on and a busy timeout. kUnavailable if it cannot be opened or is
// locked, kDataLoss if the file is not a database.
Result<std::unique_ptr<SQLite::Database>> OpenSqliteDatabase(
    const std::string& path, std::chrono::milliseconds busy_timeout = std::chrono::seconds(5));

// Runs `ddl` (statements written with IF NOT EXISTS) in one transaction unless the database
// already records `component` at `version`; then records it. kFailedPrecondition if the file
// records a newer version (written by a newer build).
Status EnsureSqliteSchema(SQLite::Database& db, std::string_view component, int version,
                          const char* ddl);

// An exception from SQLiteCpp as an Error: busy, locked and I/O errors → kUnavailable; full
// disk or out of memory → kResourceExhausted; corruption → kDataLoss; a violated constraint →
// kFailedPrecondition; anything else → kInternal. The message is "<what>: <SQLite message>"
// (which names tables and columns, never bound values).
Error SqliteError(const std::exception& e, std::string_view what);

}  // namespace medmesh::node
