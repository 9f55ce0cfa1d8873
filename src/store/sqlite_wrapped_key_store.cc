#include "store/sqlite_wrapped_key_store.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <utility>

#include "store/internal/queue_sqlite.h"

namespace medmesh::store {
namespace {

constexpr int kSchemaVersion = 1;
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS wrapped_data_keys ("
    " patient_id BLOB NOT NULL, part BLOB NOT NULL, wrapped BLOB NOT NULL,"
    " PRIMARY KEY (patient_id, part));";

// Context fields are arbitrary bytes (1..255), so they are bound as blobs, never as text.
void BindContext(SQLite::Statement& st, int first, const crypto::DataKeyContext& c) {
  st.bind(first, c.patient_id.data(), static_cast<int>(c.patient_id.size()));
  st.bind(first + 1, c.part.data(), static_cast<int>(c.part.size()));
}

Status CheckContext(const crypto::DataKeyContext& c) {
  if (c.patient_id.empty() || c.patient_id.size() > crypto::kMaxDataKeyContextFieldBytes ||
      c.part.empty() || c.part.size() > crypto::kMaxDataKeyContextFieldBytes) {
    return InvalidArgument("data key context fields must be 1..255 bytes");
  }
  return OkStatus();
}

std::string ColumnString(const SQLite::Column& c) {
  return {static_cast<const char*>(c.getBlob()), static_cast<std::size_t>(c.getBytes())};
}

}  // namespace

SqliteWrappedKeyStore::SqliteWrappedKeyStore(std::unique_ptr<SQLite::Database> db)
    : db_(std::move(db)) {}
SqliteWrappedKeyStore::~SqliteWrappedKeyStore() = default;

Result<std::unique_ptr<SqliteWrappedKeyStore>> SqliteWrappedKeyStore::Open(
    const std::string& path, const SqliteOpenOptions& sqlite) {
  MEDMESH_ASSIGN_OR_RETURN(auto db, OpenSqliteDatabase(path, sqlite));
  try {
    // Deleted wrapped keys are overwritten with zeros in the database file.
    db->exec("PRAGMA secure_delete=ON");
  } catch (const std::exception& e) {
    return SqliteError(e, "wrapped key store");
  }
  MEDMESH_RETURN_IF_ERROR(EnsureSqliteSchema(*db, "wrapped_data_keys", kSchemaVersion, kSchema));
  return std::unique_ptr<SqliteWrappedKeyStore>(new SqliteWrappedKeyStore(std::move(db)));
}

Status SqliteWrappedKeyStore::Insert(const crypto::DataKeyContext& context, Bytes wrapped) {
  MEDMESH_RETURN_IF_ERROR(CheckContext(context));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(
        *db_,
        "INSERT INTO wrapped_data_keys (patient_id, part, wrapped) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING");
    BindContext(st, 1, context);
    st.bind(3, wrapped.data(), static_cast<int>(wrapped.size()));
    if (st.exec() == 0) return AlreadyExists("data key context already has a wrapped key");
    return OkStatus();
  } catch (const std::exception& e) {
    return SqliteError(e, "insert wrapped key");
  }
}

Result<Bytes> SqliteWrappedKeyStore::Get(const crypto::DataKeyContext& context) const {
  MEDMESH_RETURN_IF_ERROR(CheckContext(context));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_,
                         "SELECT wrapped FROM wrapped_data_keys WHERE patient_id = ? AND part = ?");
    BindContext(st, 1, context);
    if (!st.executeStep()) return NotFound("no wrapped key for the data key context");
    const SQLite::Column c = st.getColumn(0);
    const auto* p = static_cast<const std::uint8_t*>(c.getBlob());
    return Bytes(p, p + c.getBytes());
  } catch (const std::exception& e) {
    return SqliteError(e, "get wrapped key");
  }
}

Status SqliteWrappedKeyStore::Replace(const crypto::DataKeyContext& context, ByteView expected,
                                      Bytes wrapped) {
  MEDMESH_RETURN_IF_ERROR(CheckContext(context));
  std::lock_guard lock(mu_);
  try {
    SQLite::Transaction tx(*db_, SQLite::TransactionBehavior::IMMEDIATE);
    SQLite::Statement st(*db_,
                         "UPDATE wrapped_data_keys SET wrapped = ?"
                         " WHERE patient_id = ? AND part = ? AND wrapped = ?");
    st.bind(1, wrapped.data(), static_cast<int>(wrapped.size()));
    BindContext(st, 2, context);
    st.bind(4, expected.data(), static_cast<int>(expected.size()));
    if (st.exec() == 0) {
      SQLite::Statement exists(*db_,
                               "SELECT 1 FROM wrapped_data_keys WHERE patient_id = ? AND part = ?");
      BindContext(exists, 1, context);
      if (!exists.executeStep()) return NotFound("no wrapped key for the data key context");
      return FailedPrecondition("wrapped key changed meanwhile");
    }
    tx.commit();
    return OkStatus();
  } catch (const std::exception& e) {
    return SqliteError(e, "replace wrapped key");
  }
}

Status SqliteWrappedKeyStore::Delete(const crypto::DataKeyContext& context) {
  MEDMESH_RETURN_IF_ERROR(CheckContext(context));
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(*db_, "DELETE FROM wrapped_data_keys WHERE patient_id = ? AND part = ?");
    BindContext(st, 1, context);
    if (st.exec() == 0) return NotFound("no wrapped key for the data key context");
    return OkStatus();
  } catch (const std::exception& e) {
    return SqliteError(e, "delete wrapped key");
  }
}

Result<std::vector<crypto::DataKeyContext>> SqliteWrappedKeyStore::List() const {
  std::lock_guard lock(mu_);
  try {
    SQLite::Statement st(
        *db_, "SELECT patient_id, part FROM wrapped_data_keys ORDER BY patient_id, part");
    std::vector<crypto::DataKeyContext> out;
    while (st.executeStep()) {
      out.push_back({ColumnString(st.getColumn(0)), ColumnString(st.getColumn(1))});
    }
    return out;
  } catch (const std::exception& e) {
    return SqliteError(e, "list wrapped keys");
  }
}

}  // namespace medmesh::store
