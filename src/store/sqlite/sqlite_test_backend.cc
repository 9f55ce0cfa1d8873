#include "store/sqlite/sqlite_test_backend.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <exception>
#include <string>

#include "store/sqlite/sqlite_record_store.h"

namespace medmesh::store::testing {
namespace {

// Logical table names are the SQLite table names.
std::string Expand(std::string_view sql) {
  std::string out;
  for (char c : sql) {
    if (c != '{' && c != '}') out += c;
  }
  return out;
}

Error FromException(const std::exception& e) {
  return Internal(std::string("sqlite: ") + e.what());
}

}  // namespace

SqliteTestBackend::SqliteTestBackend() : path_(dir_.File("records.db")) {}

Result<std::unique_ptr<RecordStore>> SqliteTestBackend::Open() {
  MEDMESH_ASSIGN_OR_RETURN(auto store, SqliteRecordStore::Open(path_));
  return std::unique_ptr<RecordStore>(std::move(store));
}

Status SqliteTestBackend::Execute(std::string_view sql) {
  try {
    SQLite::Database db(path_.string(), SQLite::OPEN_READWRITE);
    db.exec(Expand(sql));
    return OkStatus();
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Status SqliteTestBackend::FlipByte(std::string_view table, std::string_view column,
                                   std::string_view key_column, std::string_view key,
                                   std::size_t offset) {
  try {
    SQLite::Database db(path_.string(), SQLite::OPEN_READWRITE);
    const std::string where =
        " FROM " + std::string(table) + " WHERE CAST(" + std::string(key_column) + " AS TEXT) = ?";
    SQLite::Statement q(db, "SELECT " + std::string(column) + where);
    q.bind(1, std::string(key));
    if (!q.executeStep()) return NotFound("no row matched");
    const auto* p = static_cast<const std::uint8_t*>(q.getColumn(0).getBlob());
    Bytes blob(p, p + q.getColumn(0).getBytes());
    if (q.executeStep()) return FailedPrecondition("several rows matched");
    if (offset >= blob.size()) return NotFound("blob is shorter than the offset");
    blob[offset] ^= 0x01;
    SQLite::Statement u(db, "UPDATE " + std::string(table) + " SET " + std::string(column) +
                                " = ? WHERE CAST(" + std::string(key_column) + " AS TEXT) = ?");
    u.bind(1, blob.data(), static_cast<int>(blob.size()));
    u.bind(2, std::string(key));
    u.exec();
    return OkStatus();
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Result<std::string> SqliteTestBackend::Dump(std::string_view table) {
  try {
    SQLite::Database db(path_.string(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT * FROM " + std::string(table));
    std::string out;
    while (q.executeStep()) {
      for (int i = 0; i < q.getColumnCount(); ++i) {
        const SQLite::Column c = q.getColumn(i);
        if (c.getType() == SQLITE_BLOB) {
          const auto* p = static_cast<const std::uint8_t*>(c.getBlob());
          const ByteView b(p, static_cast<std::size_t>(c.getBytes()));
          out.append(AsStringView(b));
          out += '|';
          out += HexEncode(b);
        } else {
          out += c.getString();
        }
        out += '|';
      }
      out += '\n';
    }
    return out;
  } catch (const std::exception& e) {
    return FromException(e);
  }
}

Status SqliteTestBackend::DropChainProtection() {
  return Execute("DROP TRIGGER chain_log_no_update; DROP TRIGGER chain_log_no_delete;");
}

}  // namespace medmesh::store::testing
