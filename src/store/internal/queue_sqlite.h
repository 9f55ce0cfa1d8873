// SQLite plumbing shared by the data-path stores of this folder (outbox, forward queue, reading
// store, IDS event log, wrapped-key store): opening a database with the durability settings
// they all need, versioned schemas per component, and mapping SQLiteCpp exceptions to Status.
// Private to src/store.
// Thread safety: the functions are reentrant; a SQLite::Database is not, so every caller keeps
// one connection per object behind its own mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace SQLite {  // NOLINT(readability-identifier-naming): SQLiteCpp's namespace
class Database;
}

namespace medmesh::store::internal {

inline constexpr std::chrono::milliseconds kDefaultBusyTimeout{5000};

// Opens (creating if needed) the database at `path` with journal_mode=WAL, synchronous=FULL
// (a commit is on disk before it returns), foreign_keys=ON and the given busy timeout.
// kUnavailable if the file cannot be opened or is locked, kDataLoss if it is not a database.
Result<std::unique_ptr<SQLite::Database>> OpenDatabase(
    const std::string& path, std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout);

// Creates the schema of `component` if the database does not have it yet, by running `ddl`
// (several statements) in one transaction, and records `version` in the table
// medmesh_component_schema. kFailedPrecondition if the file holds a newer version than
// `version` (written by newer code); an older version is migrated by `ddl` only if the
// component's ddl is written to be re-runnable (CREATE ... IF NOT EXISTS).
Status EnsureSchema(SQLite::Database& db, std::string_view component, int version, const char* ddl);

// Maps an exception thrown by SQLiteCpp (or std::bad_alloc) to an Error:
// busy/locked/I/O errors → kUnavailable, full disk → kResourceExhausted, corruption →
// kDataLoss, a violated constraint (e.g. an append-only trigger) → kFailedPrecondition,
// anything else → kInternal. The message is "<what>: <sqlite message>"; SQLite
// messages name tables and columns, never bound values.
Error FromException(const std::exception& e, std::string_view what);

// Milliseconds since the Unix epoch.
std::int64_t ToUnixMs(std::chrono::system_clock::time_point t);

// True if `id` is 1..128 bytes of [A-Za-z0-9._:-] (queue item ids, batch ids).
bool IsValidQueueId(std::string_view id);

// Replaces control characters by spaces and cuts `text` to at most `max_bytes` bytes (on a
// UTF-8 boundary), for operator-facing free text stored next to data.
std::string SanitizeText(std::string_view text, std::size_t max_bytes);

}  // namespace medmesh::store::internal
