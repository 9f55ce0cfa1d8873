// Tests of what is particular to SqliteRecordStore; the shared contract is in
// record_store_test.cc.
#include "store/sqlite/sqlite_record_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <fstream>

#include "store/internal/test_temp_dir.h"

namespace medmesh::store {
namespace {

TEST(SqliteRecordStoreTest, UsesWriteAheadLogging) {
  internal::TempDir dir;
  ASSERT_TRUE(SqliteRecordStore::Open(dir.File("r.db")));
  SQLite::Database db(dir.File("r.db"), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM record_store_migrations").getInt(),
            kRecordStoreSchemaVersion);
}

TEST(SqliteRecordStoreTest, MissingDirectoryIsUnavailable) {
  auto store = SqliteRecordStore::Open("/nonexistent-medmesh-dir/records.db");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kUnavailable);
}

TEST(SqliteRecordStoreTest, AFileThatIsNotADatabaseIsDataLoss) {
  internal::TempDir dir;
  std::ofstream(dir.File("junk.db")) << std::string(4096, 'x');
  auto store = SqliteRecordStore::Open(dir.File("junk.db"));
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kDataLoss);
}

TEST(SqliteRecordStoreTest, ASchemaFromANewerBuildIsRefused) {
  internal::TempDir dir;
  ASSERT_TRUE(SqliteRecordStore::Open(dir.File("r.db")));
  {
    SQLite::Database db(dir.File("r.db"), SQLite::OPEN_READWRITE);
    db.exec("INSERT INTO record_store_migrations VALUES (99, 'from the future', 0)");
  }
  auto store = SqliteRecordStore::Open(dir.File("r.db"));
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(store.error().message().find("99"), std::string::npos);
}

TEST(SqliteRecordStoreTest, ALockHeldTooLongIsUnavailable) {
  internal::TempDir dir;
  auto store =
      SqliteRecordStore::Open(dir.File("r.db"), {.busy_timeout = std::chrono::milliseconds(50)});
  ASSERT_TRUE(store);
  SQLite::Database other(dir.File("r.db"), SQLite::OPEN_READWRITE);
  other.exec("BEGIN EXCLUSIVE");
  auto status = (*store)->wrapped_keys(RecordPart::kEi).Insert({"p-1", "ei"}, Bytes{1, 2, 3});
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().code(), ErrorCode::kUnavailable);
  other.exec("ROLLBACK");
  EXPECT_TRUE((*store)->wrapped_keys(RecordPart::kEi).Insert({"p-1", "ei"}, Bytes{1, 2, 3}));
}

TEST(SqliteRecordStoreTest, NegativeBusyTimeoutIsInvalid) {
  internal::TempDir dir;
  auto store =
      SqliteRecordStore::Open(dir.File("r.db"), {.busy_timeout = std::chrono::milliseconds(-1)});
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace medmesh::store
