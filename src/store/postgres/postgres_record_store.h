// PostgresRecordStore: the RecordStore on PostgreSQL (libpqxx 6.4), the scale-out backend
// (record_store.h; schema and migrations in postgres_record_store.cc).
//
// - The parts live in separate schemas, <prefix>ei, <prefix>qi and <prefix>mi, with the chain
//   log in <prefix>audit, the wrapped keys in <prefix>keyring and the migration history in
//   <prefix>meta. Each schema can be granted to its own role, dumped and backed up on its own
//   schedule (the keyring's backups must expire for crypto-shredding to hold).
// - A small pool of connections (libpqxx connections are not thread-safe, so each is used by
//   one thread at a time). A connection that breaks is dropped; an operation that failed
//   because its connection broke before commit is retried once on a fresh one.
// - Appends to the chain lock the single chain_head row (SELECT ... FOR UPDATE), so several
//   cloud nodes on one database keep one gap-free chain.
// - Migrations run under a transaction-scoped advisory lock, so nodes starting together
//   migrate once.
// - Every libpqxx exception is caught here and mapped as postgres_connection.h says (lost
//   connections, timeouts → kUnavailable; out of disk → kResourceExhausted; corrupt data →
//   kDataLoss; a violated constraint → kFailedPrecondition; else kInternal). Messages carry the
//   SQLSTATE, never the connection string, the query or a value.
//
// WARNING: separate schemas in one database keep the parts apart only if they are granted to
// different roles; a role that can read all three schemas (such as the store's own) sees every
// part's ciphertexts. Confidentiality still rests on the keys.
// Thread safety: thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "store/record_store.h"

namespace medmesh::store {

class PgConnectionPool;

struct PostgresRecordStoreOptions {
  // A libpq connection string or URI ("host=/run/pg dbname=medmesh", "postgresql://...").
  // May hold a password: it is never logged or put in an error message.
  std::string conninfo;
  // Empty, or [a-z][a-z0-9_]{0,31} (CheckSchemaPrefix): prepended to every schema name
  // (several stores per database, e.g. one per test).
  std::string schema_prefix;
  std::size_t pool_size = 4;  // 1..64
  // How long an operation waits for a free connection before kUnavailable.
  std::chrono::milliseconds acquire_timeout{5000};
  // Server-side limit for one statement (SET statement_timeout); 0 means none.
  std::chrono::milliseconds statement_timeout{30000};
};

class PostgresRecordStore final : public RecordStore {
 public:
  // Connects, creates the schemas if needed and migrates them. kInvalidArgument for bad
  // options, kUnavailable if the server cannot be reached, kFailedPrecondition if a newer
  // build wrote the schema.
  static Result<std::unique_ptr<PostgresRecordStore>> Open(PostgresRecordStoreOptions options);
  ~PostgresRecordStore() override;
  PostgresRecordStore(const PostgresRecordStore&) = delete;
  PostgresRecordStore& operator=(const PostgresRecordStore&) = delete;

  // The schema names this store uses: ei, qi, mi, audit, keyring, meta (with the prefix).
  std::vector<std::string> schemas() const;

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
  PostgresRecordStore(std::unique_ptr<PgConnectionPool> pool, std::string prefix);
  // `sql` with {ei}, {qi}, {mi}, {audit}, {keyring} and {meta} replaced by quoted schema names.
  std::string Sql(std::string_view sql) const;

  std::unique_ptr<PgConnectionPool> pool_;
  std::string prefix_;
  std::array<std::unique_ptr<crypto::WrappedKeyStore>, 3> rings_;  // ei, qi, mi
};

}  // namespace medmesh::store
