// ThreePartStore on PostgreSQL when the database goes away and comes back. The rest of the
// three-part suite runs on both backends (three_part_test.cc).
#include <gtest/gtest.h>

#include "cloud/three_part.h"
#include "store/postgres/postgres_test_backend.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"

namespace medmesh::cloud {
namespace {

wire::PatientRecord MakeRecord(const std::string& record) {
  wire::PatientRecord r;
  r.record_id = record;
  r.patient_id = "p-1";
  r.device_id = "watch-1";
  r.created_ms = 1'799'000'000'000;
  r.name = "Ada Lovelace";
  r.email = "ada@example.org";
  r.birth_date = "1980-04-02";
  r.sex = "female";
  r.postcode = "NW1 6XE";
  r.conditions = {"I10"};
  r.pulse_bpm = 70;
  return r;
}

TEST(ThreePartPostgresTest, TheDatabaseGoingAwayIsUnavailableAndNothingIsLost) {
  auto backend = store::testing::PostgresTestBackend::Create();
  ASSERT_TRUE(backend) << backend.error().ToString();
  auto options = (*backend)->CreateOwnDatabase();
  ASSERT_TRUE(options) << options.error().ToString();
  auto store = store::PostgresRecordStore::Open(*options);
  ASSERT_TRUE(store) << store.error().ToString();

  medmesh::testing::DeterministicRandom random(3);
  medmesh::testing::FakeClock clock;
  SecretBytes index(kThreePartSecretBytes);
  SecretBytes pseudonym(kThreePartSecretBytes);
  random.Fill(index.mutable_bytes());
  random.Fill(pseudonym.mutable_bytes());
  auto kek = crypto::KeyEncryptionKey::Generate(random);
  auto three = ThreePartStore::Create(
      **store, {kek.Clone(), kek.Clone(), kek.Clone(), std::move(index), std::move(pseudonym)},
      random, clock);
  ASSERT_TRUE(three) << three.error().ToString();
  const Bytes signature = {1, 2, 3};
  ASSERT_TRUE((*three)->PutRecord(MakeRecord("r-1"), signature));

  ASSERT_TRUE((*backend)->SetOwnDatabaseDown(true));
  auto put = (*three)->PutRecord(MakeRecord("r-2"), signature);
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code(), ErrorCode::kUnavailable) << put.error().ToString();
  EXPECT_EQ((*three)->GetPatientRecords("p-1").error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ((*three)->LookupByEmail("ada@example.org").error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ((*three)->Verify().error().code(), ErrorCode::kUnavailable);

  // Back: the caller retries the put (idempotent), and everything is there exactly once.
  ASSERT_TRUE((*backend)->SetOwnDatabaseDown(false));
  auto retry = (*three)->PutRecord(MakeRecord("r-2"), signature);
  ASSERT_TRUE(retry) << retry.error().ToString();
  EXPECT_EQ(retry->outcome, store::PutOutcome::kInserted);
  EXPECT_EQ((*three)->PutRecord(MakeRecord("r-2"), signature)->outcome,
            store::PutOutcome::kDuplicate);
  EXPECT_EQ((*three)->GetPatientRecords("p-1").value().size(), 2U);
  const VerifyReport report = (*three)->Verify().value();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.entries_checked, 2U);
}

}  // namespace
}  // namespace medmesh::cloud
