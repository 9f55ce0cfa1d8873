// The data-path stores on a failing disk (testing::FaultySqliteVfs): a full disk, failing
// writes and failing fsyncs. Whatever a store acknowledged is there after the fault and after a
// reopen; whatever it refused can be retried once the disk is healed, and ends up stored
// exactly once.
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "crypto/envelope.h"
#include "store/forward_queue.h"
#include "store/internal/test_temp_dir.h"
#include "store/outbox.h"
#include "store/reading_store.h"
#include "store/sqlite_database.h"
#include "store/sqlite_wrapped_key_store.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "testing/faulty_sqlite_vfs.h"

namespace medmesh::store {
namespace {

using Vfs = testing::FaultySqliteVfs;
using std::chrono::minutes;

Bytes B(const std::string& s) { return {s.begin(), s.end()}; }

// A payload large enough to span several database pages.
Bytes Payload(int i) { return B(std::string(6000, static_cast<char>('a' + i % 26))); }

// Drains the queue (leasing everything due) and returns id → payload; fails the test on an id
// handed out twice.
template <typename Queue>
std::map<std::string, Bytes> Drain(Queue& queue, const Clock& clock) {
  std::map<std::string, Bytes> out;
  auto due = queue.NextDue(clock.Now(), 1000);
  EXPECT_TRUE(due) << due.error().ToString();
  if (!due) return out;
  for (QueueItem& item : *due) {
    EXPECT_TRUE(out.emplace(item.id, std::move(item.payload)).second) << "twice: " << item.id;
    EXPECT_TRUE(queue.MarkSent(item.id));
  }
  return out;
}

struct FaultCase {
  const char* name;
  Vfs::Op op;
  Vfs::Failure failure;
};
void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }

class QueueFaultTest : public ::testing::TestWithParam<FaultCase> {
 protected:
  std::unique_ptr<ForwardQueue> OpenQueue() {
    QueueOptions options;
    options.sqlite_vfs = vfs_.name();
    auto q = ForwardQueue::Open(dir_.File("forward.db"), clock_, random_, options);
    EXPECT_TRUE(q) << q.error().ToString();
    return q ? std::move(*q) : nullptr;
  }
  static Vfs::Fault Fault(std::uint64_t pass_ops = 0, std::optional<std::uint64_t> times = {}) {
    return {.op = GetParam().op,
            .failure = GetParam().failure,
            .file = "forward.db",
            .pass_ops = pass_ops,
            .times = times};
  }

  internal::TempDir dir_;
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{7};
  Vfs vfs_{std::string("faulty-queue-") + GetParam().name};
};

TEST_P(QueueFaultTest, AFailedGroupEnqueueQueuesNothingAndARetryQueuesEachOnce) {
  auto queue = OpenQueue();
  ASSERT_TRUE(queue->Enqueue("before", Payload(0)));

  std::vector<std::string> ids;
  std::vector<Bytes> payloads;
  for (int i = 0; i < 5; ++i) {
    ids.push_back("item-" + std::to_string(i));
    payloads.push_back(Payload(i + 1));
  }
  std::vector<SqliteDurableQueue::Entry> entries;
  for (std::size_t i = 0; i < ids.size(); ++i) entries.push_back({ids[i], payloads[i]});

  vfs_.Inject(Fault());
  auto failed = queue->EnqueueMany(entries);
  ASSERT_FALSE(failed);
  EXPECT_GT(vfs_.injected(), 0u);
  const ErrorCode expected = GetParam().failure == Vfs::Failure::kFull
                                 ? ErrorCode::kResourceExhausted
                                 : ErrorCode::kUnavailable;
  EXPECT_EQ(failed.error().code(), expected) << failed.error().ToString();

  // The connection works again once the disk does; nothing of the failed call was queued.
  vfs_.Clear();
  auto stats = queue->Stats();
  ASSERT_TRUE(stats) << stats.error().ToString();
  EXPECT_EQ(stats->count, 1u);
  auto retried = queue->EnqueueMany(entries);
  ASSERT_TRUE(retried) << retried.error().ToString();
  for (const auto& outcome : *retried) {
    ASSERT_TRUE(outcome);
    EXPECT_EQ(*outcome, EnqueueOutcome::kEnqueued);
  }

  // After a restart: everything acknowledged, exactly once, with its bytes.
  queue.reset();
  queue = OpenQueue();
  const auto drained = Drain(*queue, clock_);
  ASSERT_EQ(drained.size(), ids.size() + 1);
  EXPECT_EQ(drained.at("before"), Payload(0));
  for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(drained.at(ids[i]), payloads[i]);
  EXPECT_EQ(queue->Stats()->count, 0u);
}

TEST_P(QueueFaultTest, WhatWasAcknowledgedSurvivesAFaultAtAnyPointAndARestart) {
  // One failure, moved along the sequence of disk operations of three enqueues: each
  // acknowledged item is there after a restart; each refused one is queued by its retry.
  for (std::uint64_t pass = 0; pass < 12; ++pass) {
    SCOPED_TRACE("operations before the fault: " + std::to_string(pass));
    std::filesystem::remove_all(dir_.path());
    std::filesystem::create_directories(dir_.path());
    auto queue = OpenQueue();
    vfs_.Inject(Fault(pass, /*times=*/1));
    std::vector<std::string> refused;
    for (int i = 0; i < 3; ++i) {
      const std::string id = "item-" + std::to_string(i);
      if (!queue->Enqueue(id, Payload(i))) refused.push_back(id);
    }
    vfs_.Clear();
    queue.reset();
    queue = OpenQueue();
    for (const std::string& id : refused) {
      auto retried = queue->Enqueue(id, Payload(id.back() - '0'));
      ASSERT_TRUE(retried) << retried.error().ToString();
      // kDuplicate: the refused commit reached the disk after all (a failed fsync leaves the
      // outcome unknown); a retry then finds it, which is still exactly once.
    }
    const auto drained = Drain(*queue, clock_);
    ASSERT_EQ(drained.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(drained.at("item-" + std::to_string(i)), Payload(i));
  }
  EXPECT_GT(vfs_.injected(), 0u);
}

TEST_P(QueueFaultTest, AFailedAcknowledgementKeepsTheItemForAnotherDelivery) {
  QueueOptions options = DefaultOutboxOptions();
  options.sqlite_vfs = vfs_.name();
  auto outbox = Outbox::Open(dir_.File("outbox.db"), clock_, random_, options);
  ASSERT_TRUE(outbox) << outbox.error().ToString();
  ASSERT_TRUE((*outbox)->Enqueue("batch-1", Payload(1)));
  auto due = (*outbox)->NextDue(clock_.Now(), 10);
  ASSERT_TRUE(due && due->size() == 1u);

  vfs_.Inject({.op = GetParam().op, .failure = GetParam().failure, .file = "outbox.db"});
  EXPECT_FALSE((*outbox)->MarkSent("batch-1"));
  vfs_.Clear();
  // The lease runs out and the batch is due again: delivered twice at worst, never lost.
  clock_.Advance(minutes(10));
  const auto drained = Drain(**outbox, clock_);
  ASSERT_EQ(drained.size(), 1u);
  EXPECT_EQ(drained.at("batch-1"), Payload(1));
  EXPECT_EQ((*outbox)->Stats()->count, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, QueueFaultTest,
    ::testing::Values(FaultCase{"disk_full", Vfs::Op::kWrite, Vfs::Failure::kFull},
                      FaultCase{"write_error", Vfs::Op::kWrite, Vfs::Failure::kIoError},
                      FaultCase{"fsync_error", Vfs::Op::kSync, Vfs::Failure::kIoError}),
    [](const ::testing::TestParamInfo<FaultCase>& p) { return std::string(p.param.name); });

TEST(SqliteOpenOptionsTest, ADatabaseOpensThroughTheNamedVfsOnly) {
  internal::TempDir dir;
  EXPECT_FALSE(OpenSqliteDatabase(dir.File("a.db"), {.vfs = "no-such-vfs"}));
  Vfs vfs("faulty-open");
  vfs.Inject({.op = Vfs::Op::kWrite, .failure = Vfs::Failure::kFull});
  // Opened without the VFS: the fault does not apply.
  EXPECT_TRUE(OpenSqliteDatabase(dir.File("a.db")));
  EXPECT_EQ(vfs.injected(), 0u);
  // Opened with it: the first write (switching to WAL, or creating the schema) fails.
  testing::FakeClock clock;
  testing::DeterministicRandom random(1);
  auto queue = SqliteDurableQueue::Open(dir.File("b.db"), "items", clock, random,
                                        {.sqlite_vfs = vfs.name()});
  EXPECT_FALSE(queue);
  EXPECT_GT(vfs.injected(), 0u);
}

TEST(ReadingStoreFaultTest, ABatchGroupRefusedByAFullDiskIsStoredOnceByItsRetry) {
  internal::TempDir dir;
  testing::FakeClock clock;
  testing::DeterministicRandom random(11);
  Vfs vfs("faulty-readings");
  auto keys = SqliteWrappedKeyStore::Open(dir.File("keys.db"));
  ASSERT_TRUE(keys);
  crypto::EnvelopeAead aead(crypto::KeyEncryptionKey::Generate(random), **keys, random);
  const SqliteOpenOptions sqlite{.vfs = vfs.name()};
  auto store = ReadingStore::Open(dir.File("readings.db"), aead, clock, sqlite);
  ASSERT_TRUE(store) << store.error().ToString();

  std::vector<ReadingBatchToStore> batches;
  for (int b = 0; b < 4; ++b) {
    ReadingBatchToStore batch{"patient-1", "watch-1", "batch-" + std::to_string(b), {}};
    for (int i = 0; i < 200; ++i) {
      batch.readings.push_back(
          {std::int64_t{1'800'000'000'000} + std::int64_t{b} * 1'000'000 + std::int64_t{i} * 1000,
           wire::VitalKind::kHeartRate, (60 + i % 40) * std::int64_t{1000}});
    }
    batches.push_back(std::move(batch));
  }
  // The disk fills up in the middle of the group's transaction.
  vfs.Inject({.op = Vfs::Op::kWrite,
              .failure = Vfs::Failure::kFull,
              .file = "readings.db",
              .pass_bytes = 5000});
  auto failed = (*store)->PutMany(batches);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kResourceExhausted);
  vfs.Clear();
  for (const auto& batch : batches) {
    EXPECT_FALSE((*store)->Contains("patient-1", "watch-1", batch.batch_id).value());
  }
  auto stored = (*store)->PutMany(batches);
  ASSERT_TRUE(stored) << stored.error().ToString();
  for (ReadingPutOutcome outcome : *stored) EXPECT_EQ(outcome, ReadingPutOutcome::kStored);

  store->reset();
  store = ReadingStore::Open(dir.File("readings.db"), aead, clock, sqlite);
  ASSERT_TRUE(store);
  auto readings = (*store)->Query("patient-1", 0, 2'000'000'000'000);
  ASSERT_TRUE(readings) << readings.error().ToString();
  EXPECT_EQ(readings->readings.size(), 4u * 200u);
}

}  // namespace
}  // namespace medmesh::store
