// SqliteIntakeStore: the IntakeStore (intake_store.h) in one SQLite file, the embedded default
// (WAL, synchronous=FULL: a write is on disk when it returns).
// Thread safety: thread-safe (one connection behind a mutex).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "cloud/intake_store.h"
#include "store/sqlite_database.h"

namespace SQLite {
class Database;
}

namespace medmesh::cloud {

class SqliteIntakeStore final : public IntakeStore {
 public:
  // Opens (creating) the store at `path`. Errors as store::OpenSqliteDatabase.
  static Result<std::unique_ptr<SqliteIntakeStore>> Open(
      const std::string& path, const store::SqliteOpenOptions& sqlite = {});
  ~SqliteIntakeStore() override;

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
  explicit SqliteIntakeStore(std::unique_ptr<SQLite::Database> db);
  Result<IntakeOutcome> PutBatch(const ReadingBatchRow& row, const RollupMerger* rollups);
  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
  IntakeCounters counters_;               // updated after each commit
};

}  // namespace medmesh::cloud
