#include "store/outbox.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/random.h"
#include "store/internal/test_temp_dir.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"

namespace medmesh::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

Bytes B(std::string_view s) { return {s.begin(), s.end()}; }

class OutboxTest : public ::testing::Test {
 protected:
  std::unique_ptr<Outbox> OpenOutbox(const QueueOptions& options = DefaultOutboxOptions()) {
    auto o = Outbox::Open(dir_.File("outbox.db"), clock_, random_, options);
    EXPECT_TRUE(o.has_value()) << (o ? "" : o.error().ToString());
    return std::move(o).value();
  }
  static std::vector<std::string> DueIds(Outbox& o, std::chrono::system_clock::time_point now,
                                         std::size_t n = 100) {
    auto due = o.NextDue(now, n);
    EXPECT_TRUE(due.has_value());
    std::vector<std::string> ids;
    for (const auto& item : *due) ids.push_back(item.id);
    return ids;
  }

  internal::TempDir dir_;
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{7};
};

TEST_F(OutboxTest, EnqueueIsIdempotentById) {
  auto o = OpenOutbox();
  EXPECT_EQ(*o->Enqueue("b-1", B("sealed one")), EnqueueOutcome::kEnqueued);
  EXPECT_EQ(*o->Enqueue("b-1", B("sealed one")), EnqueueOutcome::kDuplicate);
  auto other = o->Enqueue("b-1", B("something else"));
  ASSERT_FALSE(other.has_value());
  EXPECT_EQ(other.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(o->Stats()->count, 1u);
}

TEST_F(OutboxTest, BadIdsAndOversizedBatchesAreRefused) {
  QueueOptions options = DefaultOutboxOptions();
  options.max_payload_bytes = 8;
  auto o = OpenOutbox(options);
  for (std::string_view id : {"", "has space", "semi;colon", "quote'", "new\nline"}) {
    auto r = o->Enqueue(id, B("x"));
    ASSERT_FALSE(r.has_value()) << id;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(o->Enqueue(std::string(129, 'a'), B("x")).has_value());
  EXPECT_TRUE(o->Enqueue(std::string(128, 'a'), B("x")).has_value());
  auto big = o->Enqueue("big", B("123456789"));
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(OutboxTest, NextDueLeasesInOrderAndMarkSentRemoves) {
  auto o = OpenOutbox();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(o->Enqueue("b-" + std::to_string(i), B("payload " + std::to_string(i))));
  }
  auto due = o->NextDue(clock_.Now(), 2);
  ASSERT_TRUE(due.has_value());
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].id, "b-0");
  EXPECT_EQ((*due)[0].payload, B("payload 0"));
  EXPECT_EQ((*due)[0].attempts, 1u);
  EXPECT_EQ((*due)[0].enqueued_ms,
            std::chrono::duration_cast<milliseconds>(clock_.Now().time_since_epoch()).count());
  EXPECT_EQ((*due)[1].id, "b-1");
  // Leased items are not handed out again; the rest is.
  EXPECT_EQ(DueIds(*o, clock_.Now()), std::vector<std::string>{"b-2"});
  EXPECT_TRUE(DueIds(*o, clock_.Now()).empty());
  EXPECT_EQ(o->Stats()->in_flight, 3u);

  ASSERT_TRUE(o->MarkSent("b-0"));
  auto again = o->MarkSent("b-0");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(o->Stats()->count, 2u);
}

TEST_F(OutboxTest, AnExpiredLeaseMakesTheItemDueAgain) {
  auto o = OpenOutbox();
  ASSERT_TRUE(o->Enqueue("b-1", B("x")));
  ASSERT_EQ(DueIds(*o, clock_.Now()).size(), 1u);
  const auto lease = DefaultOutboxOptions().lease;
  EXPECT_TRUE(DueIds(*o, clock_.Now() + lease - milliseconds(1)).empty());
  auto due = o->NextDue(clock_.Now() + lease, 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].attempts, 2u);
}

TEST_F(OutboxTest, FailuresBackOffExponentiallyWithJitterUpToTheCap) {
  QueueOptions options = DefaultOutboxOptions();
  options.initial_backoff = seconds(1);
  options.max_backoff = seconds(8);
  auto o = OpenOutbox(options);
  ASSERT_TRUE(o->Enqueue("b-1", B("x")));
  // Attempt k fails; the next attempt comes in [d/2, d] with d = min(8 s, 2^(k-1) s).
  const std::vector<milliseconds> delays = {seconds(1), seconds(2), seconds(4),
                                            seconds(8), seconds(8), seconds(8)};
  for (std::size_t k = 0; k < delays.size(); ++k) {
    ASSERT_EQ(DueIds(*o, clock_.Now()).size(), 1u) << "attempt " << k + 1;
    ASSERT_TRUE(o->MarkFailed("b-1", "cloudlet unreachable"));
    const milliseconds d = delays[k];
    EXPECT_TRUE(DueIds(*o, clock_.Now() + d / 2 - milliseconds(1)).empty()) << k;
    EXPECT_EQ(o->Stats()->failing, 1u);
    clock_.Advance(d);
  }
  EXPECT_EQ(*o->LastError("b-1"), "cloudlet unreachable");
  auto item = o->NextDue(clock_.Now(), 1);
  ASSERT_EQ(item->size(), 1u);
  EXPECT_EQ((*item)[0].attempts, delays.size() + 1);
}

TEST_F(OutboxTest, JitterSpreadsRetriesOfManyItems) {
  QueueOptions options = DefaultOutboxOptions();
  options.in_order = false;
  options.initial_backoff = seconds(10);
  auto o = OpenOutbox(options);
  constexpr std::size_t kItems = 24;
  for (std::size_t i = 0; i < kItems; ++i)
    ASSERT_TRUE(o->Enqueue("b-" + std::to_string(i), B("x")));
  ASSERT_EQ(DueIds(*o, clock_.Now()).size(), kItems);
  for (std::size_t i = 0; i < kItems; ++i) ASSERT_TRUE(o->MarkFailed("b-" + std::to_string(i)));
  // With equal jitter over [5 s, 10 s], some but not all are due after 7.5 s.
  EXPECT_TRUE(DueIds(*o, clock_.Now() + milliseconds(4999)).empty());
  const std::size_t early = DueIds(*o, clock_.Now() + milliseconds(7500)).size();
  EXPECT_GT(early, 3u);
  EXPECT_LT(early, kItems - 3);
  EXPECT_EQ(DueIds(*o, clock_.Now() + seconds(10)).size(), kItems - early);
}

TEST_F(OutboxTest, InOrderNeverPassesAFailingBatchButSkipsOnesInFlight) {
  auto o = OpenOutbox();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(o->Enqueue("b-" + std::to_string(i), B("x")));
  // b-0 in flight: b-1 and b-2 may go.
  ASSERT_EQ(DueIds(*o, clock_.Now(), 1), std::vector<std::string>{"b-0"});
  EXPECT_EQ(DueIds(*o, clock_.Now(), 1), std::vector<std::string>{"b-1"});
  ASSERT_TRUE(o->MarkFailed("b-0"));
  ASSERT_TRUE(o->MarkFailed("b-1"));
  // b-0 backs off: nothing behind it is handed out, not even b-2 which never failed.
  EXPECT_TRUE(DueIds(*o, clock_.Now()).empty());
  clock_.Advance(seconds(2));
  EXPECT_EQ(DueIds(*o, clock_.Now()), (std::vector<std::string>{"b-0", "b-1", "b-2"}));
}

TEST_F(OutboxTest, UnorderedQueuesLetOthersPassAFailingItem) {
  QueueOptions options = DefaultOutboxOptions();
  options.in_order = false;
  auto o = OpenOutbox(options);
  ASSERT_TRUE(o->Enqueue("b-0", B("x")));
  ASSERT_TRUE(o->Enqueue("b-1", B("y")));
  ASSERT_EQ(DueIds(*o, clock_.Now(), 1), std::vector<std::string>{"b-0"});
  ASSERT_TRUE(o->MarkFailed("b-0"));
  EXPECT_EQ(DueIds(*o, clock_.Now()), std::vector<std::string>{"b-1"});
}

TEST_F(OutboxTest, EverythingSurvivesAProcessRestart) {
  {
    auto o = OpenOutbox();
    ASSERT_TRUE(o->Enqueue("b-0", B("zero")));
    ASSERT_TRUE(o->Enqueue("b-1", B("one")));
    ASSERT_TRUE(o->Enqueue("b-2", B("two")));
    EXPECT_EQ(*o->NextSequence(), 1u);
    EXPECT_EQ(*o->NextSequence(), 2u);
    ASSERT_EQ(DueIds(*o, clock_.Now(), 1).size(), 1u);  // b-0 in flight when we "crash"
    ASSERT_TRUE(o->MarkSent("b-0"));
    ASSERT_EQ(DueIds(*o, clock_.Now(), 1).size(), 1u);  // b-1 leased, never acknowledged
  }
  auto o = OpenOutbox();
  EXPECT_EQ(o->Stats()->count, 2u);
  EXPECT_EQ(*o->NextSequence(), 3u);
  EXPECT_EQ(*o->Enqueue("b-1", B("one")), EnqueueOutcome::kDuplicate);
  // The lease of b-1 outlives the restart, then b-1 comes back with its payload.
  EXPECT_EQ(DueIds(*o, clock_.Now(), 1), std::vector<std::string>{"b-2"});
  auto due = o->NextDue(clock_.Now() + DefaultOutboxOptions().lease, 5);
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].id, "b-1");
  EXPECT_EQ((*due)[0].payload, B("one"));
  EXPECT_EQ((*due)[0].attempts, 2u);
}

TEST_F(OutboxTest, AnotherQueueInTheSameFileIsSeparate) {
  auto o = OpenOutbox();
  ASSERT_TRUE(o->Enqueue("b-0", B("x")));
  auto other = SqliteDurableQueue::Open(dir_.File("outbox.db"), "other", clock_, random_);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ((*other)->Stats()->count, 0u);
  EXPECT_FALSE(SqliteDurableQueue::Open(dir_.File("outbox.db"), "Bad-Name", clock_, random_));
}

TEST_F(OutboxTest, BadOptionsAreRefused) {
  QueueOptions options;
  options.max_backoff = milliseconds(10);
  options.initial_backoff = milliseconds(20);
  auto o = Outbox::Open(dir_.File("outbox.db"), clock_, random_, options);
  ASSERT_FALSE(o.has_value());
  EXPECT_EQ(o.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(OutboxTest, AFileThatIsNotADatabaseIsReported) {
  {
    std::FILE* f = std::fopen(dir_.File("junk.db").c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const std::string junk(4096, 'j');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  auto o = Outbox::Open(dir_.File("junk.db"), clock_, random_);
  ASSERT_FALSE(o.has_value());
  EXPECT_EQ(o.error().code(), ErrorCode::kDataLoss) << o.error().ToString();
}

// Two threads each with their own connection (as two processes would) plus two threads on one
// shared object: every item is delivered exactly once while leases are long.
TEST_F(OutboxTest, ConcurrentSendersNeverGetTheSameItem) {
  QueueOptions options = DefaultOutboxOptions();
  options.in_order = false;
  SystemRandom random;
  auto a = Outbox::Open(dir_.File("outbox.db"), clock_, random, options);
  auto b = Outbox::Open(dir_.File("outbox.db"), clock_, random, options);
  ASSERT_TRUE(a && b);
  constexpr int kPerThread = 30;
  {
    std::thread t1([&] {
      for (int i = 0; i < kPerThread; ++i)
        ASSERT_TRUE((*a)->Enqueue("a-" + std::to_string(i), B("x")));
    });
    std::thread t2([&] {
      for (int i = 0; i < kPerThread; ++i)
        ASSERT_TRUE((*b)->Enqueue("b-" + std::to_string(i), B("y")));
    });
    t1.join();
    t2.join();
  }
  std::mutex mu;
  std::multiset<std::string> delivered;
  std::vector<std::uint64_t> sequences;
  auto drain = [&](Outbox& o) {
    for (;;) {
      auto due = o.NextDue(clock_.Now(), 7);
      ASSERT_TRUE(due.has_value());
      if (due->empty()) return;
      for (const auto& item : *due) {
        ASSERT_TRUE(o.MarkSent(item.id));
        std::lock_guard lock(mu);
        delivered.insert(item.id);
      }
      auto seq = o.NextSequence();
      ASSERT_TRUE(seq.has_value());
      std::lock_guard lock(mu);
      sequences.push_back(*seq);
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(drain, std::ref(**a));
  threads.emplace_back(drain, std::ref(**a));
  threads.emplace_back(drain, std::ref(**b));
  for (auto& t : threads) t.join();
  EXPECT_EQ(delivered.size(), 2u * kPerThread);
  EXPECT_EQ(std::set<std::string>(delivered.begin(), delivered.end()).size(), 2u * kPerThread);
  EXPECT_EQ(std::set<std::uint64_t>(sequences.begin(), sequences.end()).size(), sequences.size());
  EXPECT_EQ((*a)->Stats()->count, 0u);
}

}  // namespace
}  // namespace medmesh::store
