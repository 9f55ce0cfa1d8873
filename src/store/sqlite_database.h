// SQLite plumbing for every SQLite database of MedMesh (the data-path stores of src/store, the
// record store, and the services' own tables: device registry, ingest ledger, intake store):
// opening a database with the durability settings every acknowledged write relies on,
// versioned schemas per component, and mapping SQLiteCpp exceptions to Status at the edge.
// Thread safety: the functions are reentrant; a SQLite::Database is not, so every caller keeps
// its connection behind its own mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"

namespace SQLite {  // NOLINT(readability-identifier-naming): SQLiteCpp's namespace
class Column;
class Database;
class Statement;
}  // namespace SQLite

namespace medmesh::store {

inline constexpr std::chrono::milliseconds kDefaultBusyTimeout{5000};

struct SqliteOpenOptions {
  // How long a statement waits for another connection's lock before kUnavailable.
  std::chrono::milliseconds busy_timeout = kDefaultBusyTimeout;
  // The registered SQLite VFS that does the database's file I/O; empty: SQLite's default.
  // Production leaves it empty. Tests name a testing::FaultySqliteVfs here to make writes and
  // syncs of this database fail (ADR 0011).
  std::string vfs{};
  // The size on disk of the write-ahead log. Every commit appends the whole pages it changed to
  // the WAL (a 100-byte row costs 3 or 4 pages of 4 KiB: table, indexes, sequence), and SQLite
  // copies them into the database (a checkpoint) once the WAL holds `wal_autocheckpoint_pages`
  // pages (0: SQLite's default, 1,000 pages, about 4 MB). After a checkpoint it reuses the WAL
  // file without shrinking it, so the file keeps its largest size unless
  // `wal_size_limit_bytes` (>= 0) is set: then the file is cut back to at most that many bytes
  // each time the log restarts after a checkpoint (PRAGMA journal_size_limit). With both set,
  // the WAL file stays under about max(limit, (autocheckpoint + pages of one transaction)
  // pages). For a database written in many small commits that an attacker can cause (ids.db),
  // so that its WAL does not hold megabytes of pages already in the database.
  int wal_autocheckpoint_pages = 0;
  std::int64_t wal_size_limit_bytes = -1;  // -1: no limit (SQLite's default)
};

// Opens (creating if needed) the database at `path` with journal_mode=WAL, synchronous=FULL
// (a commit is on disk before it returns), foreign_keys=ON and the options' busy timeout and
// VFS. kUnavailable if the file cannot be opened or is locked, kDataLoss if it is not a
// database, kInternal for an unknown VFS name.
Result<std::unique_ptr<SQLite::Database>> OpenSqliteDatabase(const std::string& path,
                                                             const SqliteOpenOptions& options = {});

// Copies the write-ahead log into the database and truncates the WAL file to zero bytes
// (PRAGMA wal_checkpoint(TRUNCATE)), without waiting: if another connection is reading or
// writing the database, it checkpoints what it can and leaves the file as it is (OK; the
// options above still bound it). For a store's quiet moments, e.g. after a periodic batch of
// writes. Errors as SqliteError (an I/O error while checkpointing: kUnavailable).
Status CheckpointSqliteWal(SQLite::Database& db);

// Creates the schema of `component` if the database does not have it yet, by running `ddl`
// (several statements) in one transaction, and records `version` in the table
// medmesh_component_schema (rows of the older medmesh_service_schema are moved there).
// kFailedPrecondition if the file holds a newer version than `version` (written by newer
// code); an older version is migrated by `ddl` only if the component's ddl is written to be
// re-runnable (CREATE ... IF NOT EXISTS).
Status EnsureSqliteSchema(SQLite::Database& db, std::string_view component, int version,
                          const char* ddl);
// The same with a change SQL alone cannot make (e.g. rewriting values): `migrate` runs inside
// the transaction that records `version`, so it is applied exactly once or not at all. It may
// throw what SQLiteCpp throws.
Status EnsureSqliteSchema(SQLite::Database& db, std::string_view component, int version,
                          const std::function<void(SQLite::Database&)>& migrate);

// Maps an exception thrown by SQLiteCpp (or std::bad_alloc) to an Error:
// busy/locked/I/O errors → kUnavailable, full disk → kResourceExhausted, corruption →
// kDataLoss, a violated constraint (e.g. an append-only trigger) → kFailedPrecondition,
// anything else → kInternal. The message is "<what>: <sqlite message>"; SQLite
// messages name tables and columns, never bound values.
Error SqliteError(const std::exception& e, std::string_view what);

// Binds `bytes` as a BLOB; an empty one stays a zero-length BLOB (never NULL).
void BindBlob(SQLite::Statement& statement, int index, ByteView bytes);
// The bytes of a BLOB column; empty for NULL or a zero-length BLOB.
Bytes ColumnBytes(const SQLite::Column& column);

}  // namespace medmesh::store
