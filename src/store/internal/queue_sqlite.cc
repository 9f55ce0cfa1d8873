#include "store/internal/queue_sqlite.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <algorithm>
#include <new>
#include <string>

namespace medmesh::store::internal {

Result<std::unique_ptr<SQLite::Database>> OpenDatabase(const std::string& path,
                                                       std::chrono::milliseconds busy_timeout) {
  if (path.empty()) return InvalidArgument("database path is empty");
  try {
    auto db = std::make_unique<SQLite::Database>(
        path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOFOLLOW,
        static_cast<int>(busy_timeout.count()));
    // WAL lets readers run beside the one writer; FULL makes every commit durable in the WAL
    // before it returns, which is what "acknowledge only after durable" relies on.
    db->exec("PRAGMA journal_mode=WAL");
    db->exec("PRAGMA synchronous=FULL");
    db->exec("PRAGMA foreign_keys=ON");
    return db;
  } catch (const std::exception& e) {
    return FromException(e, "open database");
  }
}

Status EnsureSchema(SQLite::Database& db, std::string_view component, int version,
                    const char* ddl) {
  try {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    db.exec(
        "CREATE TABLE IF NOT EXISTS medmesh_component_schema ("
        " component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
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
    db.exec(ddl);
    SQLite::Statement put(db,
                          "INSERT INTO medmesh_component_schema (component, version) VALUES (?, ?)"
                          " ON CONFLICT (component) DO UPDATE SET version = excluded.version");
    put.bind(1, std::string(component));
    put.bind(2, version);
    put.exec();
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return FromException(e, "create schema");
  }
}

Error FromException(const std::exception& e, std::string_view what) {
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

std::int64_t ToUnixMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

bool IsValidQueueId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

std::string SanitizeText(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  if (out.size() > max_bytes) {
    std::size_t cut = max_bytes;
    // Step back over UTF-8 continuation bytes so the result stays valid UTF-8.
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out;
}

}  // namespace medmesh::store::internal
