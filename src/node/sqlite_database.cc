#include "node/sqlite_database.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <new>

namespace medmesh::node {

Result<std::unique_ptr<SQLite::Database>> OpenSqliteDatabase(
    const std::string& path, std::chrono::milliseconds busy_timeout) {
  if (path.empty()) return InvalidArgument("database path is empty");
  try {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOFOLLOW,
        static_cast<int>(busy_timeout.count()));
    db->exec("PRAGMA journal_mode=WAL");
    // Every acknowledgement promises durability: FULL syncs the WAL on each commit.
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA foreign_keys=ON");
    return db;
  } catch (const std::exception& e) {
    return SqliteError(e, "open database");
  }
}

Status EnsureSqliteSchema(SQLite::Database& db, std::string_view component, int version,
                          const char* ddl) {
  try {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec(
        "CREATE TABLE IF NOT EXISTS medmesh_service_schema ("
        " component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
    SQLite::Statement query(db, "SELECT version FROM medmesh_service_schema WHERE component = ?");
    query.bind(1, std::string(component));
    int have = 0;
    if (query.executeStep()) have = query.getColumn(0).getInt();
    query.reset();
    if (have > version) {
      return FailedPrecondition("the schema of " + std::string(component) + " is version " +
                                std::to_string(have) + ", newer than this build's " +
                                std::to_string(version));
    }
    if (have < version) {
      db.exec(ddl);
      SQLite::Statement record(db,
                               "INSERT INTO medmesh_service_schema (component, version)"
                               " VALUES (?, ?) ON CONFLICT (component)"
                               " DO UPDATE SET version = excluded.version");
      record.bind(1, std::string(component));
      record.bind(2, version);
      record.exec();
    }
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return SqliteError(e, "create schema");
  }
}

Error SqliteError(const std::exception& e, std::string_view what) {
  std::string message = std::string(what) + ": ";
  if (const auto* sqlite = dynamic_cast<const SQLite::Exception*>(&e)) {
    message += sqlite->what();
    switch (sqlite->getErrorCode()) {
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
  return Internal(message + "unexpected error");
}

}  // namespace medmesh::node
