// PostgresIntakeStore: the IntakeStore (intake_store.h) on PostgreSQL (libpqxx 6.4), for a cloud
// whose RecordStore is PostgreSQL too, so that cloud nodes stay stateless behind a load
// balancer. Tables live in the schema <prefix>intake, created on open (under an advisory lock,
// so nodes starting together create it once).
// Every libpqxx exception is caught here and mapped as store/postgres/postgres_connection.h
// says, the same as the record store (a broken connection, shutdown, serialisation failure or
// timeout → kUnavailable, and an operation whose connection broke before commit is retried once
// on a fresh connection; out of disk or memory → kResourceExhausted; a violated constraint →
// kFailedPrecondition; else kInternal). Messages carry the SQLSTATE, never the connection
// string or a value.
// Thread safety: thread-safe (a small pool; a connection is used by one thread at a time).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "cloud/intake_store.h"

namespace medmesh::cloud {

struct PostgresIntakeStoreOptions {
  std::string conninfo;       // libpq connection string or URI; never logged
  std::string schema_prefix;  // empty or [a-z][a-z0-9_]{0,31} (store::CheckSchemaPrefix)
  std::size_t pool_size = 4;  // 1..64
  std::chrono::milliseconds acquire_timeout{5000};
};

class PostgresIntakeStore final : public IntakeStore {
 public:
  // Connects and creates the schema if needed. kInvalidArgument for bad options, kUnavailable
  // if the server cannot be reached.
  static Result<std::unique_ptr<PostgresIntakeStore>> Open(PostgresIntakeStoreOptions options);
  ~PostgresIntakeStore() override;

  // The schema this store uses ("<prefix>intake").
  const std::string& schema() const;

  Result<IntakeOutcome> PutCloudletCertificate(const CloudletCertificateRow& row) override;
  Result<std::optional<CloudletCertificateRow>> GetCloudletCertificate(
      std::string_view cloudlet_id) const override;
  Result<IntakeOutcome> PutEnrolment(const EnrolmentRow& row) override;
  Result<std::optional<EnrolmentRow>> GetEnrolment(std::string_view device_ref) const override;
  Result<std::vector<std::string>> CloudletsOfPatient(std::string_view patient_id) const override;
  Result<IntakeOutcome> WithdrawEnrolment(std::string_view device_ref,
                                          std::int64_t withdrawn_ms) override;
  Result<IntakeOutcome> PutReadingBatch(const ReadingBatchRow& row) override;
  Result<IntakeOutcome> PutReadingBatch(const ReadingBatchRow& row,
                                        const RollupMerger& rollups) override;
  Result<std::vector<RollupRow>> ListRollups(std::string_view pseudonym, std::uint8_t kind,
                                             std::int64_t width_ms, std::int64_t from_ms,
                                             std::int64_t to_ms, std::size_t limit) const override;
  Result<bool> RollupsComplete(std::string_view pseudonym) const override;
  Status ReplaceRollups(std::string_view pseudonym, const std::vector<RollupRow>& rows,
                        std::uint64_t batches) override;
  Result<std::vector<ReadingBatchRow>> ListReadingBatches(std::string_view pseudonym,
                                                          std::int64_t from_ms, std::int64_t to_ms,
                                                          std::size_t limit) const override;
  Result<std::optional<ReadingBatchRow>> GetReadingBatch(std::string_view batch_ref) const override;
  Result<std::vector<ReadingBatchRow>> ListAllReadingBatches(std::string_view after,
                                                             std::size_t limit) const override;
  Result<std::vector<std::string>> ListBatchRefs(std::string_view pseudonym) const override;
  Status ReplaceReadingBatch(const ReadingBatchRow& row) override;
  Result<std::uint64_t> DeleteReadingBatches(std::string_view pseudonym) override;
  Result<std::vector<EnrolmentRow>> ListEnrolments(std::string_view patient_id) const override;
  Result<std::uint64_t> DeleteEnrolments(std::string_view patient_id) override;
  Status AddRestore(const RestoreRow& row) override;
  Result<std::vector<RestoreRow>> ListRestores(const std::optional<std::string>& cloudlet_id,
                                               std::size_t limit) const override;
  Status BeginDeletion(std::string_view patient_id, const std::vector<std::string>& cloudlet_ids,
                       std::int64_t requested_ms) override;
  Status FinishDeletion(std::string_view patient_id, std::int64_t done_ms) override;
  Result<std::optional<DeletionState>> GetDeletion(std::string_view patient_id) const override;
  Result<std::vector<std::string>> PendingDeletions() const override;
  Result<std::vector<DeletionFeedRow>> ListDeletionFeed(std::string_view cloudlet_id,
                                                        std::uint64_t after_seq,
                                                        std::size_t limit) const override;
  Status AddPatient(std::string_view pseudonym) override;
  Result<IntakeCounts> Counts() const override;

 private:
  class Pool;
  PostgresIntakeStore(std::unique_ptr<Pool> pool, std::string schema);
  Result<IntakeOutcome> PutBatch(const ReadingBatchRow& row, const RollupMerger* rollups);
  std::unique_ptr<Pool> pool_;
  std::string schema_;
  IntakeCounters counters_;  // updated after each commit
};

}  // namespace medmesh::cloud
