#include "store/sqlite_database.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <cstdint>
#include <new>
#include <string>

namespace medmesh::store {

Result<std::unique_ptr<SQLite::Database>> OpenSqliteDatabase(const std::string& path,
                                                             const SqliteOpenOptions& options) {
  if (path.empty()) return InvalidArgument("database path is empty");
  try {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOFOLLOW,
        static_cast<int>(options.busy_timeout.count()), options.vfs);
    // WAL lets readers run beside the one writer; FULL makes every commit durable in the WAL
    // before it returns, which is what "acknowledge only after durable" relies on.
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA foreign_keys=ON");
    if (options.wal_autocheckpoint_pages > 0) {
      db->exec("PRAGMA wal_autocheckpoint=" + std::to_string(options.wal_autocheckpoint_pages));
    }
    if (options.wal_size_limit_bytes >= 0) {
      db->exec("PRAGMA journal_size_limit=" + std::to_string(options.wal_size_limit_bytes));
    }
    return db;
  } catch (const std::exception& e) {
    return SqliteError(e, "open database");
  }
}

Status CheckpointSqliteWal(SQLite::Database& db) {
  sqlite3* handle = db.getHandle();
  // No busy handler for the checkpoint: it must not stall its caller behind another connection.
  // sqlite3_busy_timeout replaces the handler, so the previous timeout is restored after.
  int busy_ms = 0;
  try {
    busy_ms = db.execAndGet("PRAGMA busy_timeout").getInt();
  } catch (const std::exception& e) {
    return SqliteError(e, "checkpoint WAL");
  }
  sqlite3_busy_timeout(handle, 0);
  const int rc =
      sqlite3_wal_checkpoint_v2(handle, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  sqlite3_busy_timeout(handle, busy_ms);
  if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return OkStatus();
  return SqliteError(SQLite::Exception(handle, rc), "checkpoint WAL");
}

Status EnsureSqliteSchema(SQLite::Database& db, std::string_view component, int version,
                          const char* ddl) {
  return EnsureSqliteSchema(db, component, version, [ddl](SQLite::Database& d) { d.exec(ddl); });
}

Status EnsureSqliteSchema(SQLite::Database& db, std::string_view component, int version,
                          const std::function<void(SQLite::Database&)>& migrate) {
  try {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec(
        "CREATE TABLE IF NOT EXISTS medmesh_component_schema ("
        " component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
    // The services' own tables once recorded their versions in a table of their own; one table
    // serves everything now (component names do not collide).
    if (db.tableExists("medmesh_service_schema")) {
      db.exec(
          "INSERT OR IGNORE INTO medmesh_component_schema (component, version)"
          " SELECT component, version FROM medmesh_service_schema;"
          " DROP TABLE medmesh_service_schema;");
    }
    SQLite::Statement get(db, "SELECT version FROM medmesh_component_schema WHERE component = ?");
    get.bind(1, std::string(component));
    if (get.executeStep()) {
      const int have = get.getColumn(0).getInt();
      if (have > version) {
        return FailedPrecondition("database schema of " + std::string(component) + " is version " +
                                  std::to_string(have) + ", newer than this build (" +
                                  std::to_string(version) + ")");
      }
      if (have == version) {
        tx.commit();
        return OkStatus();
      }
    }
    get.reset();
    migrate(db);
    SQLite::Statement put(db,
                          "INSERT INTO medmesh_component_schema (component, version) VALUES (?, ?)"
                          " ON CONFLICT (component) DO UPDATE SET version = excluded.version");
    put.bind(1, std::string(component));
    put.bind(2, version);
    put.exec();
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return SqliteError(e, "create schema");
  }
}

Error SqliteError(const std::exception& e, std::string_view what) {
  std::string message = std::string(what) + ": ";
  if (const auto* se = dynamic_cast<const SQLite::Exception*>(&e)) {
    message += se->what();
    switch (se->getErrorCode()) {
      case SQLITE_BUSY:
      case SQLITE_LOCKED:
      case SQLITE_IOERR:
      case SQLITE_CANTOPEN:
      case SQLITE_READONLY:
      case SQLITE_PERM: return Unavailable(std::move(message));
      case SQLITE_FULL:
      case SQLITE_NOMEM:
      case SQLITE_TOOBIG: return ResourceExhausted(std::move(message));
      case SQLITE_CORRUPT:
      case SQLITE_NOTADB: return DataLoss(std::move(message));
      case SQLITE_CONSTRAINT: return FailedPrecondition(std::move(message));
      default: return Internal(std::move(message));
    }
  }
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return ResourceExhausted(message + "out of memory");
  }
  return Internal(message + e.what());
}

void BindBlob(SQLite::Statement& statement, int index, ByteView bytes) {
  static constexpr std::uint8_t kEmpty[1] = {0};
  statement.bind(index, bytes.empty() ? kEmpty : bytes.data(), static_cast<int>(bytes.size()));
}

Bytes ColumnBytes(const SQLite::Column& column) {
  const auto* data = static_cast<const std::uint8_t*>(column.getBlob());
  const int size = column.getBytes();
  if (data == nullptr || size <= 0) return {};
  return {data, data + size};
}

}  // namespace medmesh::store
