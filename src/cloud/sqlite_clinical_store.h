// SqliteClinicalStore: the ClinicalStore (clinical_store.h) in one SQLite file, the embedded
// default (WAL, synchronous=FULL: a write is on disk when it returns). Every write is one
// IMMEDIATE transaction.
// Thread safety: thread-safe (one connection behind a mutex).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "cloud/clinical_store.h"
#include "store/sqlite_database.h"

namespace SQLite {  // NOLINT(readability-identifier-naming): SQLiteCpp's namespace
class Database;
}

namespace medmesh::cloud {

class SqliteClinicalStore final : public ClinicalStore {
 public:
  // Opens (creating) the store at `path`. Errors as store::OpenSqliteDatabase.
  static Result<std::unique_ptr<SqliteClinicalStore>> Open(
      const std::string& path, const store::SqliteOpenOptions& sqlite = {});
  ~SqliteClinicalStore() override;

  Status InsertActivation(const ActivationRow& row, const CommitGate& gate) override;
  Result<std::optional<ActivationRow>> GetActivation(std::string_view activation_id) const override;
  Result<std::vector<ActivationRow>> ListActivationsOfPatient(
      std::string_view patient_id) const override;
  Result<std::vector<ActivationRow>> ListActivationsOfCloudlet(
      std::string_view cloudlet_id, std::optional<ActivationStatus> status) const override;
  Status DecideActivation(std::string_view activation_id, ActivationStatus decision,
                          std::string_view reason, std::string_view decided_by,
                          std::int64_t decided_ms, const CommitGate& gate) override;
  Result<bool> HasApprovedActivation(std::string_view patient_id) const override;

  Status InsertConsent(const ConsentRow& row, const CommitGate& gate) override;
  Result<std::optional<ConsentRow>> GetConsent(std::string_view consent_id) const override;
  Result<std::vector<ConsentRow>> ListConsentsOfPatient(std::string_view patient_id) const override;
  Result<std::vector<ConsentRow>> ListConsentsOfDoctor(std::string_view doctor_id,
                                                       bool active_only) const override;
  Result<bool> RevokeConsent(std::string_view consent_id, std::int64_t revoked_ms,
                             const CommitGate& gate) override;
  Result<std::vector<Referral>> ListReferrals() const override;

  Status InsertAnswer(const AnswerRow& row, const CommitGate& gate) override;
  Result<std::vector<AnswerRow>> ListAnswersOfPatient(std::string_view patient_id) const override;
  Result<std::vector<AnswerRow>> ListAnswersOfDoctor(std::string_view doctor_id) const override;
  Result<AnswerCounts> CountAnswers(std::optional<std::string_view> cloudlet_id) const override;

  Result<bool> DeletePatient(std::string_view patient_id) override;

 private:
  explicit SqliteClinicalStore(std::unique_ptr<SQLite::Database> db);
  mutable std::mutex mu_;
  std::unique_ptr<SQLite::Database> db_;  // guarded by mu_
};

}  // namespace medmesh::cloud
