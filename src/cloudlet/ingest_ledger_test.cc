#include "cloudlet/ingest_ledger.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include "store/sqlite_database.h"
#include "testing/temp_dir.h"

namespace medmesh::cloudlet {
namespace {

using wire::ContentType;

crypto::HashKey Key(std::uint8_t fill) {
  return crypto::HashKey::FromBytes(Bytes(crypto::HashKey::kBytes, fill)).value();
}

// The unkeyed digest ledgers kept before it was keyed.
crypto::Digest256 UnkeyedPayloadDigest(ContentType type, ByteView payload) {
  const auto id = static_cast<std::uint8_t>(type);
  return crypto::Blake2b256Parts({ByteView(&id, 1), payload});
}

LedgerBatch Batch(std::string batch_id, std::optional<crypto::Digest256> payload_digest) {
  LedgerBatch b;
  b.device_id = "watch-1";
  b.batch_id = std::move(batch_id);
  b.patient_id = "patient-1";
  b.readings = 10;
  b.stored_ms = 1'800'000'000'000;
  b.payload_digest = payload_digest;
  return b;
}

TEST(IngestLedgerTest, PayloadDigestIsKeyedAndStableAcrossSeals) {
  testing::TempDir dir;
  auto ledger = IngestLedger::Open(dir.File("cloudlet.db"), Key(1)).value();
  const ByteView payload = AsBytes("heart rate 72 bpm at 09:00");
  const crypto::Digest256 digest = ledger->PayloadDigest(ContentType::kReadingsBatch, payload);
  // Nobody without the key can confirm a guessed payload from the stored digest.
  EXPECT_NE(digest, UnkeyedPayloadDigest(ContentType::kReadingsBatch, payload));
  EXPECT_NE(digest, crypto::Blake2b256(payload));
  // The same content gives the same digest (a resealed copy is recognised)...
  EXPECT_EQ(digest, ledger->PayloadDigest(ContentType::kReadingsBatch, payload));
  // ...other content, another content type or another key do not.
  EXPECT_NE(digest, ledger->PayloadDigest(ContentType::kPatientRecord, payload));
  EXPECT_NE(digest, ledger->PayloadDigest(ContentType::kReadingsBatch, AsBytes("heart rate 73")));
  ledger.reset();
  auto other = IngestLedger::Open(dir.File("other.db"), Key(2)).value();
  EXPECT_NE(digest, other->PayloadDigest(ContentType::kReadingsBatch, payload));
}

TEST(IngestLedgerTest, StoresTheKeyedDigest) {
  testing::TempDir dir;
  auto ledger = IngestLedger::Open(dir.File("cloudlet.db"), Key(1)).value();
  const crypto::Digest256 digest =
      ledger->PayloadDigest(ContentType::kReadingsBatch, AsBytes("payload"));
  ASSERT_TRUE(ledger->AddBatch(Batch("b1", digest)));
  ledger.reset();
  ledger = IngestLedger::Open(dir.File("cloudlet.db"), Key(1)).value();
  const auto found = ledger->Find("watch-1", "b1").value();
  ASSERT_TRUE(found && found->payload_digest);
  EXPECT_EQ(*found->payload_digest, digest);  // not re-keyed on a second open
}

// A ledger exactly as the builds before keyed digests left it: its schema, its component
// versions and an unkeyed payload digest, plus a row from before payload digests were kept.
TEST(IngestLedgerTest, MigratesTheUnkeyedDigestsOfAnOldLedger) {
  testing::TempDir dir;
  const std::string path = dir.File("cloudlet.db");
  const ByteView payload = AsBytes("readings of an old batch");
  const crypto::Digest256 unkeyed = UnkeyedPayloadDigest(ContentType::kReadingsBatch, payload);
  {
    auto db = store::OpenSqliteDatabase(path).value();
    ASSERT_TRUE(store::EnsureSqliteSchema(*db, "cloudlet_ingest_ledger", 1,
                                          "CREATE TABLE batches ("
                                          "  device_id TEXT NOT NULL, batch_id TEXT NOT NULL,"
                                          "  content_type INTEGER NOT NULL,"
                                          "  patient_id TEXT NOT NULL,"
                                          "  upload_digest BLOB NOT NULL,"
                                          "  readings INTEGER NOT NULL,"
                                          "  stored_ms INTEGER NOT NULL,"
                                          "  PRIMARY KEY (device_id, batch_id)) WITHOUT ROWID;"
                                          "CREATE TABLE records ("
                                          "  device_id TEXT NOT NULL, record_id TEXT NOT NULL,"
                                          "  batch_id TEXT NOT NULL, patient_id TEXT NOT NULL,"
                                          "  created_ms INTEGER NOT NULL,"
                                          "  ciphertext BLOB NOT NULL,"
                                          "  PRIMARY KEY (device_id, record_id));"
                                          "CREATE TABLE dead_letters ("
                                          "  id TEXT PRIMARY KEY, reason TEXT NOT NULL,"
                                          "  failed_ms INTEGER NOT NULL, payload BLOB NOT NULL);"));
    // Rows written before the payload digest column existed.
    db->exec("INSERT INTO batches VALUES ('watch-1', 'b0', 1, 'patient-1', zeroblob(32), 5, 1)");
    ASSERT_TRUE(store::EnsureSqliteSchema(*db, "cloudlet_ingest_ledger_payload_digest", 1,
                                          "ALTER TABLE batches ADD COLUMN payload_digest BLOB;"));
    SQLite::Statement insert(*db,
                             "INSERT INTO batches VALUES ('watch-1', 'b1', 1, 'patient-1',"
                             " zeroblob(32), 10, 2, ?)");
    store::BindBlob(insert, 1, unkeyed);
    insert.exec();
  }

  auto ledger = IngestLedger::Open(path, Key(1)).value();
  const auto migrated = ledger->Find("watch-1", "b1").value();
  ASSERT_TRUE(migrated && migrated->payload_digest);
  // The unkeyed digest is gone from the file...
  EXPECT_NE(*migrated->payload_digest, unkeyed);
  // ...and the row still recognises a resealed copy of its content, and nothing else.
  EXPECT_EQ(*migrated->payload_digest, ledger->PayloadDigest(ContentType::kReadingsBatch, payload));
  EXPECT_NE(*migrated->payload_digest,
            ledger->PayloadDigest(ContentType::kReadingsBatch, AsBytes("other readings")));
  // A row without a payload digest stays without one (a resealed copy of it is a replay).
  const auto older = ledger->Find("watch-1", "b0").value();
  ASSERT_TRUE(older);
  EXPECT_FALSE(older->payload_digest);

  // Opening again does not key the digests a second time.
  ledger.reset();
  ledger = IngestLedger::Open(path, Key(1)).value();
  EXPECT_EQ(*ledger->Find("watch-1", "b1").value()->payload_digest,
            ledger->PayloadDigest(ContentType::kReadingsBatch, payload));
}

}  // namespace
}  // namespace medmesh::cloudlet
