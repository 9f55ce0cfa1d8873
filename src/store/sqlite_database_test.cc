#include "store/sqlite_database.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>

#include "testing/temp_dir.h"

namespace medmesh::store {
namespace {

constexpr const char* kDdl = "CREATE TABLE t (a INTEGER);";  // fails if run twice

class SqliteDatabaseTest : public ::testing::Test {
 protected:
  std::unique_ptr<SQLite::Database> Open() {
    auto db = OpenSqliteDatabase(dir_.File("x.db"));
    EXPECT_TRUE(db) << db.error().ToString();
    return std::move(db).value();
  }
  static int Version(SQLite::Database& db, const std::string& component) {
    SQLite::Statement q(db, "SELECT version FROM medmesh_component_schema WHERE component = ?");
    q.bind(1, component);
    return q.executeStep() ? q.getColumn(0).getInt() : 0;
  }
  ::medmesh::testing::TempDir dir_;
};

TEST_F(SqliteDatabaseTest, OpensDurably) {
  auto db = Open();
  EXPECT_EQ(db->execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ(db->execAndGet("PRAGMA synchronous").getInt(), 2);  // FULL
  EXPECT_EQ(OpenSqliteDatabase("").error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(SqliteDatabaseTest, RunsTheSchemaOnceAndRefusesANewerOne) {
  auto db = Open();
  ASSERT_TRUE(EnsureSqliteSchema(*db, "c", 1, kDdl));
  ASSERT_TRUE(EnsureSqliteSchema(*db, "c", 1, kDdl));  // not run again
  EXPECT_EQ(Version(*db, "c"), 1);
  EXPECT_EQ(EnsureSqliteSchema(*db, "c", 0, kDdl).error().code(), ErrorCode::kFailedPrecondition);
  // A failing ddl leaves nothing recorded.
  EXPECT_FALSE(EnsureSqliteSchema(*db, "d", 1, "CREATE TABLE t (b INTEGER);"));
  EXPECT_EQ(Version(*db, "d"), 0);
}

TEST_F(SqliteDatabaseTest, MovesVersionsFromTheOlderServiceSchemaTable) {
  {
    auto db = Open();
    db->exec(kDdl);
    db->exec(
        "CREATE TABLE medmesh_service_schema (component TEXT PRIMARY KEY, version INTEGER NOT "
        "NULL);"
        "INSERT INTO medmesh_service_schema VALUES ('c', 1);");
  }
  auto db = Open();
  ASSERT_TRUE(EnsureSqliteSchema(*db, "c", 1, kDdl));  // recorded already: the ddl is not rerun
  EXPECT_EQ(Version(*db, "c"), 1);
  EXPECT_FALSE(db->tableExists("medmesh_service_schema"));
}

std::uintmax_t WalBytes(const std::string& db_path) {
  std::error_code ec;
  const auto n = std::filesystem::file_size(db_path + "-wal", ec);
  return ec ? 0 : n;
}

// 300 commits of one row each into a table with an index: about 3 pages each, 3.6 MB of WAL
// with SQLite's defaults (its autocheckpoint comes at 1,000 pages).
void WriteRows(SQLite::Database& db) {
  db.exec("CREATE TABLE IF NOT EXISTS r (id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT, b TEXT)");
  db.exec("CREATE INDEX IF NOT EXISTS r_by_a ON r (a)");
  for (int i = 0; i < 300; ++i) {
    SQLite::Statement st(db, "INSERT INTO r (a, b) VALUES (?, ?)");
    st.bind(1, std::to_string(i) + std::string(40, 'a'));
    st.bind(2, std::string(100, 'b'));
    st.exec();
  }
}

TEST_F(SqliteDatabaseTest, WithoutBoundsTheWalKeepsItsLargestSize) {
  auto db = Open();
  WriteRows(*db);
  EXPECT_GT(WalBytes(dir_.File("x.db")), std::uintmax_t{1} << 20);
}

TEST_F(SqliteDatabaseTest, TheWalStaysUnderItsBounds) {
  SqliteOpenOptions options;
  options.wal_autocheckpoint_pages = 8;
  options.wal_size_limit_bytes = 16 << 10;
  auto opened = OpenSqliteDatabase(dir_.File("x.db"), options);
  ASSERT_TRUE(opened) << opened.error().ToString();
  SQLite::Database& db = **opened;
  EXPECT_EQ(db.execAndGet("PRAGMA wal_autocheckpoint").getInt(), 8);
  EXPECT_EQ(db.execAndGet("PRAGMA journal_size_limit").getInt64(), 16 << 10);
  std::uintmax_t largest = 0;
  for (int round = 0; round < 3; ++round) {
    WriteRows(db);
    largest = std::max(largest, WalBytes(dir_.File("x.db")));
  }
  // At most the autocheckpoint's pages plus one small transaction's, of 4 KiB and a header each.
  EXPECT_LE(largest, std::uintmax_t{16} * (4096 + 24) + 32);
  EXPECT_EQ(db.execAndGet("SELECT COUNT(*) FROM r").getInt(), 900);
}

TEST_F(SqliteDatabaseTest, CheckpointTruncatesTheWalAndDoesNotWaitForAReader) {
  auto db = Open();
  WriteRows(*db);
  ASSERT_GT(WalBytes(dir_.File("x.db")), 0u);
  ASSERT_TRUE(CheckpointSqliteWal(*db));
  EXPECT_EQ(WalBytes(dir_.File("x.db")), 0u);

  // A second connection holds a read snapshot: the checkpoint cannot truncate, and says OK
  // rather than waiting for it (this connection's busy timeout is 5 s; the test does not time
  // it, it only checks that nothing is lost and the timeout is back afterwards).
  WriteRows(*db);
  auto reader = Open();
  {
    SQLite::Transaction read(*reader, SQLite::TransactionBehavior::DEFERRED);
    EXPECT_EQ(reader->execAndGet("SELECT COUNT(*) FROM r").getInt(), 600);
    EXPECT_TRUE(CheckpointSqliteWal(*db));
    EXPECT_GT(WalBytes(dir_.File("x.db")), 0u);
    EXPECT_EQ(db->execAndGet("PRAGMA busy_timeout").getInt(), 5000);
  }  // rolled back: the reader is done
  ASSERT_TRUE(CheckpointSqliteWal(*db));
  EXPECT_EQ(WalBytes(dir_.File("x.db")), 0u);
  EXPECT_EQ(db->execAndGet("SELECT COUNT(*) FROM r").getInt(), 600);
}

}  // namespace
}  // namespace medmesh::store
