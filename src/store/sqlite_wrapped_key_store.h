// SqliteWrappedKeyStore: crypto::WrappedKeyStore on SQLite, the durable home of a node's
// wrapped data keys (envelope.h). Values are opaque wrapped keys; the KEK never comes here.
//
// Keep this file apart from the data it protects when backups differ: crypto-shredding
// (EnvelopeAead::DestroyDataKey) only holds if no copy of a deleted wrapped key survives
// (docs/key_hierarchy.md). Deleted rows are overwritten in the file (secure_delete=ON), but a
// WAL checkpoint or a backup taken earlier may still hold them.
// Thread safety: thread-safe (one connection behind a mutex); several objects may open the
// same file.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "store/sqlite_database.h"

namespace SQLite {  // NOLINT(readability-identifier-naming): SQLiteCpp's namespace
class Database;
}

namespace medmesh::store {

class SqliteWrappedKeyStore final : public crypto::WrappedKeyStore {
 public:
  // Opens (creating) the store in the SQLite database at `path` (WAL, synchronous=FULL).
  // kUnavailable / kDataLoss / kFailedPrecondition from the database.
  static Result<std::unique_ptr<SqliteWrappedKeyStore>> Open(const std::string& path,
                                                             const SqliteOpenOptions& sqlite = {});
  ~SqliteWrappedKeyStore() override;

  // The crypto::WrappedKeyStore contract; database failures come back as kUnavailable,
  // kResourceExhausted, kDataLoss or kInternal.
  Status Insert(const crypto::DataKeyContext& context, Bytes wrapped) override;
  Result<Bytes> Get(const crypto::DataKeyContext& context) const override;
  Status Replace(const crypto::DataKeyContext& context, ByteView expected, Bytes wrapped) override;
  Status Delete(const crypto::DataKeyContext& context) override;
  Result<std::vector<crypto::DataKeyContext>> List() const override;

 private:
  explicit SqliteWrappedKeyStore(std::unique_ptr<SQLite::Database> db);
  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
};

}  // namespace medmesh::store
