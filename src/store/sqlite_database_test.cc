#include "store/sqlite_database.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

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
  int Version(SQLite::Database& db, const std::string& component) {
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

}  // namespace
}  // namespace medmesh::store
