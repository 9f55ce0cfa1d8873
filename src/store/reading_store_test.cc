#include "store/reading_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <tuple>

#include "crypto/kdf.h"
#include "store/internal/test_temp_dir.h"
#include "store/sqlite_wrapped_key_store.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"

namespace medmesh::store {
namespace {

using wire::Reading;
using wire::VitalKind;

constexpr std::int64_t kT0 = 1'800'000'000'000;

std::vector<Reading> MakeReadings(std::int64_t start_ms, int n, std::int64_t step_ms = 1000) {
  std::vector<Reading> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({start_ms + i * step_ms, VitalKind::kHeartRate, 60'000 + i * 1000});
    out.push_back({start_ms + i * step_ms, VitalKind::kSpO2, 97'000 - (i % 3) * 1000});
  }
  return out;
}

ReadingQuery Range(std::int64_t from, std::int64_t to,
                   std::optional<VitalKind> kind = std::nullopt) {
  ReadingQuery q;
  q.from_ms = from;
  q.to_ms = to;
  q.kind = kind;
  return q;
}

class ReadingStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto keys = SqliteWrappedKeyStore::Open(dir_.File("keys.db"));
    ASSERT_TRUE(keys.has_value());
    keys_ = std::move(keys).value();
    aead_ = std::make_unique<crypto::EnvelopeAead>(kek_.Clone(), *keys_, random_);
    store_ = Open();
  }
  std::unique_ptr<ReadingStore> Open() {
    auto s = ReadingStore::Open(dir_.File("readings.db"), *aead_, clock_);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().ToString());
    return std::move(s).value();
  }
  static ReadingBatchToStore Batch(std::string patient, std::string batch_id, std::int64_t start,
                                   int n = 10) {
    return {std::move(patient), "dev-1", std::move(batch_id), MakeReadings(start, n)};
  }

  internal::TempDir dir_;
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{11};
  crypto::KeyEncryptionKey kek_ = crypto::KeyEncryptionKey::Generate(random_);
  std::unique_ptr<SqliteWrappedKeyStore> keys_;
  std::unique_ptr<crypto::EnvelopeAead> aead_;
  std::unique_ptr<ReadingStore> store_;
};

TEST_F(ReadingStoreTest, StoresAndQueriesByPatientAndHalfOpenRange) {
  ASSERT_EQ(*store_->Put(Batch("p-1", "b-1", kT0)), ReadingPutOutcome::kStored);
  ASSERT_EQ(*store_->Put(Batch("p-1", "b-2", kT0 + 10'000)), ReadingPutOutcome::kStored);
  ASSERT_EQ(*store_->Put(Batch("p-2", "b-1", kT0)), ReadingPutOutcome::kStored);

  auto all = store_->Query("p-1", kT0, kT0 + 20'000);
  ASSERT_TRUE(all.has_value()) << all.error().ToString();
  EXPECT_EQ(all->readings.size(), 40u);
  EXPECT_FALSE(all->next_cursor.has_value());
  EXPECT_TRUE(
      std::is_sorted(all->readings.begin(), all->readings.end(),
                     [](const Reading& a, const Reading& b) { return a.time_ms > b.time_ms; }));
  EXPECT_EQ(all->readings.back(), (Reading{kT0, VitalKind::kHeartRate, 60'000}));

  // [kT0 + 5 s, kT0 + 12 s): seconds 5..11 across both batches, 2 readings each.
  auto part = store_->Query("p-1", kT0 + 5000, kT0 + 12'000);
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(part->readings.size(), 14u);
  EXPECT_EQ(part->readings.front().time_ms, kT0 + 11'000);
  EXPECT_EQ(part->readings.back().time_ms, kT0 + 5000);

  auto hr = store_->Query("p-1", Range(kT0, kT0 + 20'000, VitalKind::kSpO2));
  ASSERT_TRUE(hr.has_value());
  EXPECT_EQ(hr->readings.size(), 20u);
  EXPECT_TRUE(std::all_of(hr->readings.begin(), hr->readings.end(),
                          [](const Reading& r) { return r.kind == VitalKind::kSpO2; }));

  EXPECT_TRUE(store_->Query("p-3", kT0, kT0 + 20'000)->readings.empty());
  EXPECT_TRUE(store_->Query("p-1", kT0 + 20'000, kT0 + 30'000)->readings.empty());
}

TEST_F(ReadingStoreTest, ExtremeButEncodableValuesRoundTrip) {
  // The store keeps what ingest accepted; plausibility is not its business.
  std::vector<Reading> readings = {
      {0, VitalKind::kSteps, -wire::kMaxAbsValueMilli},
      {kT0, VitalKind::kBodyTemperature, -273'150},
      {kT0 + 5, VitalKind::kGlucose, 0},
      {wire::kMaxTimeMs, VitalKind::kEcgRhythm, wire::kMaxAbsValueMilli},
  };
  ASSERT_TRUE(store_->Put({"p-1", "dev-1", "b-x", readings}));
  auto got = store_->Query("p-1", 0, wire::kMaxTimeMs + 1);
  ASSERT_TRUE(got.has_value()) << got.error().ToString();
  std::reverse(readings.begin(), readings.end());  // newest first
  EXPECT_EQ(got->readings, readings);
  // What the wire codec cannot encode is refused.
  auto bad = store_->Put({"p-1", "dev-1", "b-y", {{-1, VitalKind::kSteps, 1}}});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ReadingStoreTest, PutIsIdempotentByBatch) {
  const auto batch = Batch("p-1", "b-1", kT0);
  ASSERT_EQ(*store_->Put(batch), ReadingPutOutcome::kStored);
  EXPECT_EQ(*store_->Put(batch), ReadingPutOutcome::kDuplicate);
  // A retry is recognised even if its readings were re-ordered in transit.
  auto shuffled = batch;
  std::reverse(shuffled.readings.begin(), shuffled.readings.end());
  EXPECT_EQ(*store_->Put(shuffled), ReadingPutOutcome::kDuplicate);
  EXPECT_EQ(store_->Query("p-1", kT0, kT0 + 100'000)->readings.size(), 20u);
  EXPECT_TRUE(*store_->Contains("p-1", "dev-1", "b-1"));
  EXPECT_FALSE(*store_->Contains("p-1", "dev-2", "b-1"));
  // The same batch id from another device is another batch.
  auto other = batch;
  other.device_id = "dev-2";
  EXPECT_EQ(*store_->Put(other), ReadingPutOutcome::kStored);
}

TEST_F(ReadingStoreTest, DeleteBatchesRemovesOnlyThoseBatches) {
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-1", kT0)));
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-2", kT0 + 50'000)));
  ASSERT_TRUE(store_->Put(Batch("p-2", "b-1", kT0)));
  const std::vector<StoredBatchKey> gone{{"p-1", "dev-1", "b-1"}, {"p-2", "dev-1", "b-1"}};
  EXPECT_EQ(*store_->DeleteBatches(gone), 2U);
  EXPECT_EQ(*store_->DeleteBatches(gone), 0U);  // idempotent
  EXPECT_FALSE(*store_->Contains("p-1", "dev-1", "b-1"));
  EXPECT_TRUE(*store_->Contains("p-1", "dev-1", "b-2"));
  // The patient's data key is kept: the other batch still decrypts.
  EXPECT_EQ(store_->Query("p-1", kT0, kT0 + 200'000)->readings.size(), 20u);
  const std::vector<StoredBatchKey> bad{{"p-1", "dev-1", "b-2"}, {"p-1", "dev 1", "b-2"}};
  EXPECT_EQ(store_->DeleteBatches(bad).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(*store_->Contains("p-1", "dev-1", "b-2"));
}

TEST_F(ReadingStoreTest, PutManyIsOneTransactionWithPerBatchOutcomes) {
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-0", kT0)));
  std::vector<ReadingBatchToStore> batches = {
      Batch("p-1", "b-0", kT0), Batch("p-1", "b-1", kT0 + 10'000), Batch("p-2", "b-1", kT0),
      Batch("p-1", "b-1", kT0 + 10'000)};
  auto outcomes = store_->PutMany(batches);
  ASSERT_TRUE(outcomes.has_value()) << outcomes.error().ToString();
  EXPECT_EQ(*outcomes, (std::vector<ReadingPutOutcome>{
                           ReadingPutOutcome::kDuplicate, ReadingPutOutcome::kStored,
                           ReadingPutOutcome::kStored, ReadingPutOutcome::kDuplicate}));
  // One bad batch: nothing of the call is stored.
  std::vector<ReadingBatchToStore> bad = {Batch("p-3", "b-1", kT0), Batch("p-3", "b 2", kT0)};
  EXPECT_FALSE(store_->PutMany(bad).has_value());
  EXPECT_EQ(store_->CountsFor("p-3")->batches, 0u);
}

TEST_F(ReadingStoreTest, BadInputIsRefused) {
  auto expect_invalid = [&](const ReadingBatchToStore& b) {
    auto r = store_->Put(b);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << r.error().ToString();
  };
  expect_invalid({"", "dev", "b", MakeReadings(kT0, 1)});
  expect_invalid({"p", "", "b", MakeReadings(kT0, 1)});
  expect_invalid({"p", "dev", "b/1", MakeReadings(kT0, 1)});
  expect_invalid({"p", "dev", "b", {}});
  expect_invalid({"p", "dev", "b", {{kT0, static_cast<VitalKind>(0), 1}}});
  expect_invalid({"p", "dev", "b", {{kT0, static_cast<VitalKind>(99), 1}}});
  auto range = store_->Query("p", kT0, kT0 - 1);
  ASSERT_FALSE(range.has_value());
  EXPECT_EQ(range.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ReadingStoreTest, LimitKeepsTheNewestAndBadPagingIsRefused) {
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-1", kT0, 50)));
  ReadingQuery q = Range(kT0, kT0 + 100'000);
  q.limit = 7;
  auto cut = store_->Query("p-1", q);
  ASSERT_TRUE(cut.has_value());
  ASSERT_EQ(cut->readings.size(), 7u);
  EXPECT_EQ(cut->readings.front().time_ms, kT0 + 49'000);
  EXPECT_EQ(cut->readings.back().time_ms, kT0 + 46'000);
  EXPECT_TRUE(cut->next_cursor.has_value());
  for (std::size_t limit : {std::size_t{0}, kMaxReadingsPerPage + 1}) {
    q.limit = limit;
    EXPECT_EQ(store_->Query("p-1", q).error().code(), ErrorCode::kInvalidArgument) << limit;
  }
  q.limit = 7;
  for (const std::string& cursor : std::vector<std::string>{"zz", "01", std::string(200, 'a')}) {
    q.cursor = cursor;
    EXPECT_EQ(store_->Query("p-1", q).error().code(), ErrorCode::kInvalidArgument) << cursor;
  }

  // A valid cursor with a byte appended is refused too.
  q.cursor = *cut->next_cursor + "00";
  EXPECT_EQ(store_->Query("p-1", q).error().code(), ErrorCode::kInvalidArgument);
}

// Overlapping batches from several devices, a reading time shared by several batches, and
// pages of every size from 1 up: each page is newest first, and the pages together return
// every reading in the range exactly once.
TEST_F(ReadingStoreTest, PagesCoverEveryReadingExactlyOnceNewestFirst) {
  std::vector<Reading> expected;
  for (int b = 0; b < 40; ++b) {
    const std::string device = "dev-" + std::to_string(b % 3);
    // Batches of 1..6 seconds overlapping their neighbours; every 5th starts at the same time.
    const std::int64_t start = kT0 + (b % 5 == 0 ? 0 : b * 2000);
    const int n = 1 + b % 6;
    ReadingBatchToStore batch{"p-1", device, "b-" + std::to_string(b), MakeReadings(start, n)};
    ASSERT_TRUE(store_->Put(batch).has_value());
    for (const Reading& r : batch.readings) {
      if (r.time_ms >= kT0 + 3000) expected.push_back(r);
    }
  }
  // One long batch spanning all the others: it stays partly unread across many pages.
  ReadingBatchToStore long_batch{"p-1", "dev-long", "b-long", MakeReadings(kT0, 9, 10'000)};
  ASSERT_TRUE(store_->Put(long_batch).has_value());
  for (const Reading& r : long_batch.readings) {
    if (r.time_ms >= kT0 + 3000) expected.push_back(r);
  }
  ASSERT_TRUE(store_->Put(Batch("p-2", "b-1", kT0 + 5000)));  // another patient: never returned
  auto by_time_desc = [](const Reading& a, const Reading& b) { return a.time_ms > b.time_ms; };
  auto canonical = [](std::vector<Reading> v) {
    std::sort(v.begin(), v.end(), [](const Reading& a, const Reading& b) {
      return std::tie(a.time_ms, a.kind, a.value_milli) <
             std::tie(b.time_ms, b.kind, b.value_milli);
    });
    return v;
  };
  for (std::size_t limit : {1, 2, 3, 7, 16, 33, 1000}) {
    ReadingQuery q = Range(kT0 + 3000, kT0 + 1'000'000);
    q.limit = limit;
    std::vector<Reading> all;
    for (int pages = 0;; ++pages) {
      ASSERT_LT(pages, 1000) << "paging does not end";
      auto page = store_->Query("p-1", q);
      ASSERT_TRUE(page.has_value()) << page.error().ToString();
      ASSERT_LE(page->readings.size(), limit);
      EXPECT_TRUE(std::is_sorted(page->readings.begin(), page->readings.end(), by_time_desc));
      if (!all.empty() && !page->readings.empty()) {
        EXPECT_GE(all.back().time_ms, page->readings.front().time_ms);
      }
      all.insert(all.end(), page->readings.begin(), page->readings.end());
      if (!page->next_cursor) break;
      EXPECT_EQ(page->readings.size(), limit);
      q.cursor = *page->next_cursor;
    }
    EXPECT_EQ(canonical(all), canonical(expected)) << "limit " << limit;
  }
}

// The patient's data key is unwrapped once per query, however many rows it reads.
class CountingWrappedKeyStore final : public crypto::WrappedKeyStore {
 public:
  explicit CountingWrappedKeyStore(crypto::WrappedKeyStore& inner) : inner_(inner) {}
  Status Insert(const crypto::DataKeyContext& c, Bytes wrapped) override {
    return inner_.Insert(c, std::move(wrapped));
  }
  Result<Bytes> Get(const crypto::DataKeyContext& c) const override {
    gets_.fetch_add(1);
    return inner_.Get(c);
  }
  Status Replace(const crypto::DataKeyContext& c, ByteView expected, Bytes wrapped) override {
    return inner_.Replace(c, expected, std::move(wrapped));
  }
  Status Delete(const crypto::DataKeyContext& c) override { return inner_.Delete(c); }
  Result<std::vector<crypto::DataKeyContext>> List() const override { return inner_.List(); }
  int gets() const { return gets_.load(); }

 private:
  crypto::WrappedKeyStore& inner_;
  mutable std::atomic<int> gets_{0};
};

TEST_F(ReadingStoreTest, AQueryUnwrapsTheDataKeyOnce) {
  CountingWrappedKeyStore counting(*keys_);
  crypto::EnvelopeAead aead(kek_.Clone(), counting, random_);
  auto store = ReadingStore::Open(dir_.File("readings.db"), aead, clock_);
  ASSERT_TRUE(store.has_value());
  for (int b = 0; b < 100; ++b) {
    ASSERT_TRUE(
        (*store)->Put(Batch("p-1", "b-" + std::to_string(b), kT0 + std::int64_t{b} * 10'000)));
  }
  const int before = counting.gets();
  auto page = (*store)->Query("p-1", kT0, kT0 + 10'000'000);
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->readings.size(), 1000u);
  EXPECT_EQ(counting.gets() - before, 1);
  // A patient without rows costs no unwrap at all.
  EXPECT_TRUE((*store)->Query("p-9", kT0, kT0 + 10'000'000)->readings.empty());
  EXPECT_EQ(counting.gets() - before, 1);
}

// The newest page reads the newest batches only, not the whole history: a tampered old batch
// does not spoil it (a query that decrypted everything would fail).
TEST_F(ReadingStoreTest, TheNewestPageDoesNotReadOldBatches) {
  for (int b = 0; b < 100; ++b) {
    ASSERT_TRUE(
        store_->Put(Batch("p-1", "b-" + std::to_string(b), kT0 + std::int64_t{b} * 10'000)));
  }
  {
    SQLite::Database raw(dir_.File("readings.db"), SQLite::OPEN_READWRITE);
    raw.exec("UPDATE reading_batches SET count = count + 1 WHERE batch_id = 'b-0'");
  }
  ReadingQuery q = Range(kT0, kT0 + 10'000'000);
  q.limit = 50;
  auto page = store_->Query("p-1", q);
  ASSERT_TRUE(page.has_value()) << page.error().ToString();
  EXPECT_EQ(page->readings.front().time_ms, kT0 + std::int64_t{99} * 10'000 + 9000);
  // Paging all the way down reaches the tampered batch and says so.
  q.limit = kMaxReadingsPerPage;
  auto all = store_->Query("p-1", q);
  ASSERT_FALSE(all.has_value());
  EXPECT_TRUE(crypto::IsAuthenticationFailure(all.error()));
}

TEST_F(ReadingStoreTest, RowsAreEncryptedAtRest) {
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-1", kT0, 100)));
  auto rows = store_->ListEncrypted("p-1", 10);
  ASSERT_TRUE(rows.has_value());
  ASSERT_EQ(rows->size(), 1u);
  const EncryptedBatchRow& row = rows->front();
  EXPECT_EQ(row.batch_id, "b-1");
  EXPECT_EQ(row.count, 200u);
  EXPECT_EQ(row.from_ms, kT0);
  EXPECT_EQ(row.to_ms, kT0 + 99'000);
  // The plaintext repeats kind bytes (1, 2, 1, 2, ...); the ciphertext must not.
  const Bytes pattern = {0x01, 0x02};
  int repeats = 0;
  for (std::size_t i = 0; i + 1 < row.ciphertext.size(); ++i) {
    if (row.ciphertext[i] == 1 && row.ciphertext[i + 1] == 2) ++repeats;
  }
  EXPECT_LT(repeats, 5);
  // The database file holds no plaintext either: check the raw bytes of the ciphertext column.
  SQLite::Database raw(dir_.File("readings.db"));
  SQLite::Statement st(raw, "SELECT length(ciphertext) FROM reading_batches");
  ASSERT_TRUE(st.executeStep());
  EXPECT_EQ(st.getColumn(0).getInt64(), static_cast<std::int64_t>(row.ciphertext.size()));
}

TEST_F(ReadingStoreTest, TamperedRowsFailToDecrypt) {
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-1", kT0)));
  ASSERT_TRUE(store_->Put(Batch("p-2", "b-9", kT0)));
  {
    SQLite::Database raw(dir_.File("readings.db"), SQLite::OPEN_READWRITE);
    // Widen the stored time range: the associated data no longer matches.
    raw.exec("UPDATE reading_batches SET to_ms = to_ms + 1 WHERE patient_id = 'p-1'");
  }
  auto r = store_->Query("p-1", kT0, kT0 + 100'000);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(crypto::IsAuthenticationFailure(r.error())) << r.error().ToString();
  {
    SQLite::Database raw(dir_.File("readings.db"), SQLite::OPEN_READWRITE);
    // Move p-2's row to p-3, who has no data key.
    raw.exec("UPDATE reading_batches SET patient_id = 'p-3' WHERE patient_id = 'p-2'");
  }
  auto moved = store_->Query("p-3", kT0, kT0 + 100'000);
  ASSERT_FALSE(moved.has_value());
  EXPECT_EQ(moved.error().code(), ErrorCode::kNotFound);
}

TEST_F(ReadingStoreTest, EveryFlippedCiphertextByteIsRejected) {
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-1", kT0, 3)));
  const Bytes ct = store_->ListEncrypted("p-1", 1)->front().ciphertext;
  SQLite::Database raw(dir_.File("readings.db"), SQLite::OPEN_READWRITE);
  raw.exec("PRAGMA synchronous=OFF");  // this test connection only: the test needs no fsync
  for (std::size_t i = 0; i < ct.size(); ++i) {
    Bytes bad = ct;
    bad[i] ^= 0x01;
    SQLite::Statement st(raw, "UPDATE reading_batches SET ciphertext = ?");
    st.bind(1, bad.data(), static_cast<int>(bad.size()));
    st.exec();
    auto r = store_->Query("p-1", kT0, kT0 + 100'000);
    ASSERT_FALSE(r.has_value()) << "byte " << i;
    EXPECT_TRUE(crypto::IsAuthenticationFailure(r.error())) << i << r.error().ToString();
  }
}

TEST_F(ReadingStoreTest, CountsPerPatient) {
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-1", kT0, 10)));
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-2", kT0 + 60'000, 5)));
  ASSERT_TRUE(store_->Put(Batch("p-2", "b-1", kT0, 1)));
  auto c = store_->CountsFor("p-1");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->batches, 2u);
  EXPECT_EQ(c->readings, 30u);
  EXPECT_EQ(c->first_ms, kT0);
  EXPECT_EQ(c->last_ms, kT0 + 64'000);
  auto none = store_->CountsFor("p-9");
  EXPECT_EQ(none->batches, 0u);
  EXPECT_FALSE(none->first_ms.has_value());
  auto all = store_->CountsPerPatient();
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].patient_id, "p-1");
  EXPECT_EQ((*all)[1].patient_id, "p-2");
  EXPECT_EQ((*all)[1].readings, 2u);
}

TEST_F(ReadingStoreTest, SurvivesRestartWithTheSameKek) {
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-1", kT0)));
  store_.reset();
  aead_.reset();
  keys_.reset();
  auto keys = SqliteWrappedKeyStore::Open(dir_.File("keys.db"));
  ASSERT_TRUE(keys.has_value());
  crypto::EnvelopeAead aead(kek_.Clone(), **keys, random_);
  auto store = ReadingStore::Open(dir_.File("readings.db"), aead, clock_);
  ASSERT_TRUE(store.has_value());
  auto r = (*store)->Query("p-1", kT0, kT0 + 100'000);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(r->readings.size(), 20u);
  EXPECT_EQ(*(*store)->Put(Batch("p-1", "b-1", kT0)), ReadingPutOutcome::kDuplicate);

  // Another KEK cannot read the data.
  testing::DeterministicRandom other_random(99);
  crypto::EnvelopeAead wrong(crypto::KeyEncryptionKey::Generate(other_random), **keys,
                             other_random);
  auto other = ReadingStore::Open(dir_.File("readings.db"), wrong, clock_);
  ASSERT_TRUE(other.has_value());
  auto denied = (*other)->Query("p-1", kT0, kT0 + 100'000);
  ASSERT_FALSE(denied.has_value());
  EXPECT_TRUE(crypto::IsAuthenticationFailure(denied.error()));
}

TEST_F(ReadingStoreTest, DeletePatientShredsTheirData) {
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-1", kT0)));
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-2", kT0 + 10'000)));
  ASSERT_TRUE(store_->Put(Batch("p-2", "b-1", kT0)));
  const Bytes backup_copy = store_->ListEncrypted("p-1", 1)->front().ciphertext;
  auto deleted = store_->DeletePatient("p-1");
  ASSERT_TRUE(deleted.has_value());
  EXPECT_EQ(*deleted, 2u);
  EXPECT_TRUE(store_->Query("p-1", kT0, kT0 + 100'000)->readings.empty());
  EXPECT_EQ(store_->Query("p-2", kT0, kT0 + 100'000)->readings.size(), 20u);
  // The key is gone, so a copy of the row from a backup is unreadable.
  EXPECT_FALSE(aead_->Decrypt({"p-1", "readings"}, backup_copy, {}).has_value());
  EXPECT_EQ(keys_->Get({"p-1", "readings"}).error().code(), ErrorCode::kNotFound);
  // Deleting again is harmless; new data gets a new key.
  EXPECT_EQ(*store_->DeletePatient("p-1"), 0u);
  ASSERT_TRUE(store_->Put(Batch("p-1", "b-3", kT0)));
  EXPECT_EQ(store_->Query("p-1", kT0, kT0 + 100'000)->readings.size(), 20u);
}

TEST_F(ReadingStoreTest, TwoThreadsWriteAndReadConcurrently) {
  // The second thread uses its own store object (own connection) on the same files.
  SystemRandom random;
  crypto::EnvelopeAead aead(kek_.Clone(), *keys_, random);
  auto second = ReadingStore::Open(dir_.File("readings.db"), aead, clock_);
  ASSERT_TRUE(second.has_value());
  constexpr int kBatches = 20;
  auto writer = [&](ReadingStore& s, const std::string& device) {
    for (int i = 0; i < kBatches; ++i) {
      // Both threads also store the same shared batches: exactly one wins each.
      ReadingBatchToStore b{"p-1", device, "b-" + std::to_string(i),
                            MakeReadings(kT0 + std::int64_t{i} * 1000, 1)};
      ASSERT_TRUE(s.Put(b).has_value());
      ReadingBatchToStore shared{"p-1", "dev-shared", "s-" + std::to_string(i),
                                 MakeReadings(kT0 + std::int64_t{i} * 1000, 1)};
      ASSERT_TRUE(s.Put(shared).has_value());
      ASSERT_TRUE(s.Query("p-1", kT0, kT0 + 1'000'000).has_value());
    }
  };
  std::thread t1(writer, std::ref(*store_), "dev-a");
  std::thread t2(writer, std::ref(**second), "dev-b");
  t1.join();
  t2.join();
  auto c = store_->CountsFor("p-1");
  EXPECT_EQ(c->batches, 3u * kBatches);
  EXPECT_EQ(c->readings, 6u * kBatches);
  EXPECT_EQ(store_->Query("p-1", kT0, kT0 + 1'000'000)->readings.size(), 6u * kBatches);
}

}  // namespace
}  // namespace medmesh::store
