// Tests of what is particular to PostgresRecordStore: separate schemas, the pool, and the
// server going away. The shared contract is in record_store_test.cc.
#include "store/postgres/postgres_record_store.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "store/postgres/postgres_test_backend.h"

namespace medmesh::store {
namespace {

using testing::PostgresTestBackend;

class PostgresRecordStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = PostgresTestBackend::Create();
    ASSERT_TRUE(backend) << backend.error().ToString();
    backend_ = std::move(*backend);
  }

 public:
  // Runs SQL as the cluster's superuser and returns the first column of the first row.
  std::string Query(const std::string& sql) {
    pqxx::connection c(backend_->conninfo());
    pqxx::nontransaction n(c);
    const pqxx::result r = n.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].c_str();
  }

 protected:
  std::unique_ptr<PostgresTestBackend> backend_;
};

TEST_F(PostgresRecordStoreTest, PartsLiveInSeparateSchemas) {
  auto store = PostgresRecordStore::Open(backend_->options());
  ASSERT_TRUE(store) << store.error().ToString();
  const std::string p = backend_->prefix();
  for (const std::string& schema : (*store)->schemas()) {
    EXPECT_EQ(Query("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '" +
                    schema + "'"),
              "1")
        << schema;
  }
  EXPECT_EQ(Query("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM"
                  " information_schema.tables WHERE table_schema = '" +
                  p + "mi'"),
            "record");
  // Nothing in the MI schema names a patient or a record.
  EXPECT_EQ(Query("SELECT string_agg(column_name, ',' ORDER BY column_name) FROM"
                  " information_schema.columns WHERE table_schema = '" +
                  p + "mi'"),
            "ciphertext,mi_ref,pseudonym");
  EXPECT_EQ(Query("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM"
                  " information_schema.tables WHERE table_schema = '" +
                  p + "ei'"),
            "blind_index,record_link,snapshot");
  EXPECT_EQ(Query("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '" + p +
                  "keyring'"),
            "1");
}

TEST_F(PostgresRecordStoreTest, OpeningTwiceMigratesOnce) {
  ASSERT_TRUE(PostgresRecordStore::Open(backend_->options()));
  auto again = PostgresRecordStore::Open(backend_->options());
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ((*again)->SchemaVersion().value(), kRecordStoreSchemaVersion);
  EXPECT_EQ(Query("SELECT COUNT(*) FROM \"" + backend_->prefix() + "meta\".migrations"),
            std::to_string(kRecordStoreSchemaVersion));
}

TEST_F(PostgresRecordStoreTest, ASchemaFromANewerBuildIsRefused) {
  ASSERT_TRUE(PostgresRecordStore::Open(backend_->options()));
  Query("INSERT INTO \"" + backend_->prefix() +
        "meta\".migrations (version, description) VALUES (99, 'from the future')");
  auto store = PostgresRecordStore::Open(backend_->options());
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kFailedPrecondition);
}

TEST_F(PostgresRecordStoreTest, BadOptionsAreInvalid) {
  PostgresRecordStoreOptions o = backend_->options();
  o.schema_prefix = "Bad-Prefix";
  EXPECT_EQ(PostgresRecordStore::Open(o).error().code(), ErrorCode::kInvalidArgument);
  o = backend_->options();
  o.schema_prefix = "x\"; DROP SCHEMA public; --";
  EXPECT_EQ(PostgresRecordStore::Open(o).error().code(), ErrorCode::kInvalidArgument);
  o = backend_->options();
  o.pool_size = 0;
  EXPECT_EQ(PostgresRecordStore::Open(o).error().code(), ErrorCode::kInvalidArgument);
  o = backend_->options();
  o.conninfo.clear();
  EXPECT_EQ(PostgresRecordStore::Open(o).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(PostgresRecordStoreTest, AnUnreachableServerIsUnavailableAndTheSecretStaysOut) {
  PostgresRecordStoreOptions o = backend_->options();
  o.conninfo = "host=/nonexistent-medmesh-socket-dir port=1 user=postgres password=hunter2";
  auto store = PostgresRecordStore::Open(o);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(store.error().message().find("hunter2"), std::string::npos);
  EXPECT_EQ(store.error().message().find("nonexistent"), std::string::npos);
}

TEST_F(PostgresRecordStoreTest, BrokenConnectionsAreReplacedTransparently) {
  PostgresRecordStoreOptions o = backend_->options();
  o.conninfo += "&application_name=" + backend_->prefix();
  auto store = PostgresRecordStore::Open(o);
  ASSERT_TRUE(store) << store.error().ToString();
  ASSERT_TRUE((*store)->GetChainHead());
  // The server drops the pooled connection (a restart, a failover, an idle timeout).
  EXPECT_EQ(Query("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
                  " WHERE application_name = '" +
                  backend_->prefix() + "'"),
            "1");
  auto head = (*store)->GetChainHead();
  ASSERT_TRUE(head) << head.error().ToString();
  EXPECT_EQ(head->seq, 0U);
}

TEST_F(PostgresRecordStoreTest, ADatabaseThatRefusesConnectionsIsUnavailableUntilItIsBack) {
  auto options = backend_->CreateOwnDatabase();
  ASSERT_TRUE(options) << options.error().ToString();
  auto store = PostgresRecordStore::Open(*options);
  ASSERT_TRUE(store) << store.error().ToString();
  crypto::WrappedKeyStore& keys = (*store)->wrapped_keys(RecordPart::kEi);
  ASSERT_TRUE(keys.Insert({"p-1", "ei"}, Bytes{1, 2, 3}));

  // The database goes away: open sessions are killed and new ones refused.
  ASSERT_TRUE(backend_->SetOwnDatabaseDown(true));
  auto down = keys.Get({"p-1", "ei"});
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code(), ErrorCode::kUnavailable) << down.error().ToString();
  auto head = (*store)->GetChainHead();
  ASSERT_FALSE(head);
  EXPECT_EQ(head.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(PostgresRecordStore::Open(*options).error().code(), ErrorCode::kUnavailable);

  // Back again: the same store object recovers without a restart.
  ASSERT_TRUE(backend_->SetOwnDatabaseDown(false));
  auto up = keys.Get({"p-1", "ei"});
  ASSERT_TRUE(up) << up.error().ToString();
  EXPECT_EQ(*up, (Bytes{1, 2, 3}));
}

}  // namespace
}  // namespace medmesh::store
