// SqliteRecordStore: the RecordStore on one SQLite file, the embedded default
// (record_store.h; schema and migrations in sqlite_record_store.cc).
//
// - journal_mode=WAL and synchronous=FULL: a write is on disk when it returns.
// - secure_delete=ON: a deleted patient's rows and wrapped keys are overwritten in the file.
// - Writes run in BEGIN IMMEDIATE transactions, so several processes on one file serialise on
//   SQLite's lock (busy_timeout waits for it, then kUnavailable).
// - The chain log is append-only: triggers refuse UPDATE and DELETE on it.
//
// WARNING: all parts live in one file. A copy of the file holds every part's ciphertexts and
// the wrapped keys, so the separation of EI, QI and MI rests on the keys (held outside the
// file), not on where the rows are. For stores kept apart, use PostgreSQL (separate schemas).
// WARNING: a deleted row may survive in a WAL file not yet checkpointed or in earlier backups;
// crypto-shredding (destroyed data keys) is what makes those copies unreadable.
// Thread safety: thread-safe; one connection behind a mutex.
#pragma once

#include <array>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>

#include "store/record_store.h"

namespace SQLite {  // NOLINT(readability-identifier-naming): SQLiteCpp's namespace
class Database;
}

namespace medmesh::store {

struct SqliteRecordStoreOptions {
  // How long a statement waits for another process's lock before kUnavailable.
  std::chrono::milliseconds busy_timeout{5000};
  // The SQLite VFS of the store's database; empty: the default (SqliteOpenOptions::vfs).
  std::string sqlite_vfs{};
};

class SqliteRecordStore final : public RecordStore {
 public:
  // Opens (creating if needed) the store at `path` and migrates its schema.
  // kUnavailable if the file cannot be opened or is locked, kDataLoss if it is not a
  // database, kFailedPrecondition if a newer build wrote it.
  static Result<std::unique_ptr<SqliteRecordStore>> Open(
      const std::filesystem::path& path, const SqliteRecordStoreOptions& options = {});
  ~SqliteRecordStore() override;
  SqliteRecordStore(const SqliteRecordStore&) = delete;
  SqliteRecordStore& operator=(const SqliteRecordStore&) = delete;

  Result<PutResult> PutRecord(const NewRecord& record, const ChainHasher& hasher) override;
  Result<DeleteResult> DeletePatient(std::string_view patient_id, std::string_view pseudonym,
                                     std::int64_t stored_ms, const ChainHasher& hasher) override;
  Status ReplaceGeneralisedQi(const std::vector<GeneralisedQiRow>& rows,
                              std::uint64_t generation) override;

  Result<std::vector<RecordLinkRow>> ListRecordLinks(std::string_view patient_id) const override;
  Result<RecordLinkRow> GetRecordLink(std::string_view record_ref) const override;
  Result<SnapshotRow> GetSnapshot(RecordPart part, std::string_view patient_id,
                                  std::string_view snapshot_ref) const override;
  Result<std::vector<SnapshotRow>> ListCurrentQi(std::string_view after,
                                                 std::size_t limit) const override;
  Result<MiRow> GetMi(std::string_view mi_ref) const override;
  Result<std::vector<MiRow>> ListMi(std::string_view after, std::size_t limit) const override;
  Result<std::vector<std::string>> FindPatients(std::string_view field,
                                                ByteView token) const override;
  Result<QiState> GetQiState() const override;
  Result<std::vector<GeneralisedQiRow>> ListGeneralisedQi() const override;
  Result<std::vector<ChainEntry>> ReadChain(std::uint64_t from_seq,
                                            std::size_t limit) const override;
  Result<ChainHead> GetChainHead() const override;
  Result<std::optional<ChainEntry>> LatestChainEntry(std::string_view ref) const override;
  Result<std::uint64_t> AppendChainEntry(ChainEntryKind kind, std::string_view ref, ByteView digest,
                                         std::int64_t stored_ms,
                                         const ChainHasher& hasher) override;
  Result<std::uint64_t> RestoreRecord(const NewRecord& record, const ChainHasher& hasher) override;
  Result<RowCounts> CountRows() const override;
  Result<int> SchemaVersion() const override;

  crypto::WrappedKeyStore& wrapped_keys(RecordPart part) override;

 private:
  class KeyRing;
  explicit SqliteRecordStore(std::unique_ptr<SQLite::Database> db);

  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;           // guarded by mu_
  std::array<std::unique_ptr<KeyRing>, 3> rings_;  // ei, qi, mi; they lock mu_ themselves
};

}  // namespace medmesh::store
