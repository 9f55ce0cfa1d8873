// PostgresClinicalStore: the ClinicalStore (clinical_store.h) on PostgreSQL (libpqxx 6.4), for a
// cloud whose other stores are on PostgreSQL too. Tables live in the schema <prefix>clinical,
// created on open under an advisory lock. Every operation is one transaction; errors are mapped
// as store/postgres/postgres_connection.h says (an operation whose connection broke before its
// commit runs once more on a fresh connection).
// Thread safety: thread-safe (a small pool; a connection is used by one thread at a time).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "cloud/clinical_store.h"

namespace medmesh::store {
class PgConnectionPool;
}

namespace medmesh::cloud {

struct PostgresClinicalStoreOptions {
  std::string conninfo;       // libpq connection string or URI; never logged
  std::string schema_prefix;  // empty or [a-z][a-z0-9_]{0,31} (store::CheckSchemaPrefix)
  std::size_t pool_size = 4;  // 1..64
  std::chrono::milliseconds acquire_timeout{5000};
};

class PostgresClinicalStore final : public ClinicalStore {
 public:
  // Connects and creates the schema if needed. kInvalidArgument for bad options, kUnavailable
  // if the server cannot be reached.
  static Result<std::unique_ptr<PostgresClinicalStore>> Open(PostgresClinicalStoreOptions options);
  ~PostgresClinicalStore() override;

  // The schema this store uses ("<prefix>clinical").
  const std::string& schema() const;

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
  PostgresClinicalStore(std::unique_ptr<store::PgConnectionPool> pool, std::string schema);
  std::unique_ptr<store::PgConnectionPool> pool_;
  std::string schema_;
};

}  // namespace medmesh::cloud
