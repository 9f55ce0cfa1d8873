// The intake store's counts (IntakeStore::Counts): loaded once at open, then kept in memory.
#include <gtest/gtest.h>

#include "cloud/sqlite_intake_store.h"
#include "node/test_support.h"

namespace medmesh::cloud {
namespace {

ReadingBatchRow Batch(std::string ref, std::string pseudonym, std::uint32_t readings) {
  ReadingBatchRow row;
  row.batch_ref = std::move(ref);
  row.pseudonym = std::move(pseudonym);
  row.from_ms = 1000;
  row.to_ms = 2000;
  row.readings = readings;
  row.stored_ms = 3000;
  row.digest = Bytes(32, 0x11);
  row.ciphertext = Bytes(40, 0x22);
  return row;
}

TEST(SqliteIntakeStoreTest, CountsStartFromTheFileAndFollowEveryInsert) {
  node::testing::TempDir dir;
  const std::string path = (dir.path() / "intake.db").string();
  {
    auto store = SqliteIntakeStore::Open(path).value();
    EXPECT_EQ(store->Counts().value(), IntakeCounts{});
    ASSERT_EQ(store->PutReadingBatch(Batch("b1", "p1", 60)).value(), IntakeOutcome::kInserted);
    ASSERT_EQ(store->PutReadingBatch(Batch("b1", "p1", 60)).value(), IntakeOutcome::kDuplicate);
    ASSERT_EQ(store->PutReadingBatch(Batch("b2", "p1", 30)).value(), IntakeOutcome::kInserted);
    ASSERT_EQ(store->PutReadingBatch(Batch("b3", "p2", 10)).value(), IntakeOutcome::kInserted);
    ReadingBatchRow conflicting = Batch("b3", "p2", 10);
    conflicting.digest = Bytes(32, 0x33);
    EXPECT_FALSE(store->PutReadingBatch(conflicting));
    ASSERT_TRUE(store->AddPatient("p2"));  // known already
    ASSERT_TRUE(store->AddPatient("p3"));
    EnrolmentRow enrolment{"dev-ref",    "patient",    "cloudlet-1",
                           Bytes(32, 1), Bytes(40, 2), std::nullopt};
    ASSERT_EQ(store->PutEnrolment(enrolment).value(), IntakeOutcome::kInserted);
    ASSERT_EQ(store->PutEnrolment(enrolment).value(), IntakeOutcome::kDuplicate);
    CloudletCertificateRow cert{"cloudlet-1", Bytes(64, 5), 10};
    ASSERT_EQ(store->PutCloudletCertificate(cert).value(), IntakeOutcome::kInserted);
    cert.certificate = Bytes(64, 6);
    cert.not_before_ms = 20;  // a renewal replaces the row: still one cloudlet
    ASSERT_EQ(store->PutCloudletCertificate(cert).value(), IntakeOutcome::kInserted);
    const IntakeCounts expected{3, 100, 3, 1, 1};
    EXPECT_EQ(store->Counts().value(), expected);
  }
  // Reopened: the one counting pass at open finds the same.
  auto store = SqliteIntakeStore::Open(path).value();
  EXPECT_EQ(store->Counts().value(), (IntakeCounts{3, 100, 3, 1, 1}));
  ASSERT_EQ(store->PutReadingBatch(Batch("b4", "p4", 5)).value(), IntakeOutcome::kInserted);
  EXPECT_EQ(store->Counts().value(), (IntakeCounts{4, 105, 4, 1, 1}));
}

}  // namespace
}  // namespace medmesh::cloud
