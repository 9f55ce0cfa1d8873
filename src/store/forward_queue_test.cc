#include "store/forward_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/internal/test_temp_dir.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"

namespace medmesh::store {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

Bytes B(std::string_view s) { return {s.begin(), s.end()}; }

class ForwardQueueTest : public ::testing::Test {
 protected:
  std::unique_ptr<ForwardQueue> OpenQueue(BackpressureLimits limits = {}) {
    auto q = ForwardQueue::Open(dir_.File("cloudlet.db"), clock_, random_, {}, limits);
    EXPECT_TRUE(q.has_value()) << (q ? "" : q.error().ToString());
    return std::move(q).value();
  }
  internal::TempDir dir_;
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{3};
};

TEST_F(ForwardQueueTest, AtLeastOnceWithIdempotentIds) {
  auto q = OpenQueue();
  EXPECT_EQ(*q->Enqueue("fwd-1", B("sealed forward")), EnqueueOutcome::kEnqueued);
  EXPECT_EQ(*q->Enqueue("fwd-1", B("sealed forward")), EnqueueOutcome::kDuplicate);
  auto due = q->NextDue(clock_.Now(), 10);
  ASSERT_EQ(due->size(), 1u);
  ASSERT_TRUE(q->MarkFailed("fwd-1", "cloud returned 503"));
  clock_.Advance(minutes(10));
  due = q->NextDue(clock_.Now(), 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].attempts, 2u);
  ASSERT_TRUE(q->MarkSent("fwd-1"));
  EXPECT_EQ(q->Stats()->count, 0u);
  // Once delivered and removed, the id may be queued again (a later forward of the same
  // batch, e.g. after a restore); the cloud de-duplicates.
  EXPECT_EQ(*q->Enqueue("fwd-1", B("sealed forward")), EnqueueOutcome::kEnqueued);
}

TEST_F(ForwardQueueTest, ReleasedLeasesAreDueAtOnceAfterACrash) {
  {
    auto crashed = OpenQueue();
    ASSERT_TRUE(crashed->Enqueue("fwd-1", B("in flight when the process died")));
    ASSERT_TRUE(crashed->Enqueue("fwd-2", B("never leased")));
    ASSERT_EQ(crashed->NextDue(clock_.Now(), 1)->size(), 1u);  // fwd-1 leased, then a crash
  }
  auto q = OpenQueue();
  auto due = q->NextDue(clock_.Now(), 10);
  ASSERT_EQ(due->size(), 1u);  // only fwd-2: fwd-1 is still leased by the dead process
  EXPECT_EQ((*due)[0].id, "fwd-2");
  EXPECT_EQ(*q->ReleaseLeases(), 2u);  // fwd-1 and the fwd-2 just leased
  due = q->NextDue(clock_.Now(), 10);
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].id, "fwd-1");
  EXPECT_EQ((*due)[0].attempts, 2u);  // the lost attempt still counts
  EXPECT_EQ(*q->ReleaseLeases(), 2u);
  EXPECT_EQ(*q->ReleaseLeases(), 0u);
}

TEST_F(ForwardQueueTest, RetryNowEndsTheBackoffOfEveryItem) {
  auto q = OpenQueue();
  ASSERT_TRUE(q->Enqueue("fwd-1", B("a")));
  ASSERT_TRUE(q->Enqueue("fwd-2", B("b")));
  ASSERT_TRUE(q->Enqueue("fwd-3", B("c")));
  for (int round = 0; round < 6; ++round) {  // the cloud is away: the backoff grows to minutes
    clock_.Advance(minutes(10));
    auto due = q->NextDue(clock_.Now(), 10);
    ASSERT_EQ(due->size(), 3u);
    for (const QueueItem& item : *due) ASSERT_TRUE(q->MarkFailed(item.id, "unreachable"));
  }
  ASSERT_TRUE(q->Enqueue("fwd-4", B("d")));
  ASSERT_EQ(q->NextDue(clock_.Now(), 10)->size(), 1u);  // fwd-4, in flight: left alone
  EXPECT_TRUE(q->NextDue(clock_.Now(), 10)->empty());
  EXPECT_EQ(*q->RetryNow(clock_.Now()), 3u);
  auto due = q->NextDue(clock_.Now(), 10);
  ASSERT_EQ(due->size(), 3u);
  EXPECT_EQ((*due)[0].attempts, 7u);
  EXPECT_EQ(*q->RetryNow(clock_.Now()), 0u);
}

TEST_F(ForwardQueueTest, PressureRisesWithCount) {
  BackpressureLimits limits;
  limits.slow_items = 3;
  limits.refuse_items = 5;
  auto q = OpenQueue(limits);
  auto level = [&] { return q->Pressure()->level; };
  EXPECT_EQ(level(), BackpressureLevel::kNone);
  EXPECT_TRUE(q->Pressure()->reason.empty());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(q->Enqueue("f-" + std::to_string(i), B("x")));
    const BackpressureLevel want = i + 1 >= 5   ? BackpressureLevel::kRefuse
                                   : i + 1 >= 3 ? BackpressureLevel::kSlowDown
                                                : BackpressureLevel::kNone;
    EXPECT_EQ(level(), want) << i;
  }
  auto bp = q->Pressure();
  EXPECT_EQ(bp->stats.count, 5u);
  EXPECT_NE(bp->reason.find("5 forwards queued"), std::string::npos) << bp->reason;
  EXPECT_EQ(BackpressureLevelName(bp->level), "refuse");
  // Draining brings it back.
  auto due = q->NextDue(clock_.Now(), 10);
  for (const auto& item : *due) ASSERT_TRUE(q->MarkSent(item.id));
  EXPECT_EQ(level(), BackpressureLevel::kNone);
}

TEST_F(ForwardQueueTest, PressureRisesWithBytes) {
  BackpressureLimits limits;
  limits.slow_bytes = 100;
  limits.refuse_bytes = 1000;
  auto q = OpenQueue(limits);
  ASSERT_TRUE(q->Enqueue("f-0", Bytes(99)));
  EXPECT_EQ(q->Pressure()->level, BackpressureLevel::kNone);
  ASSERT_TRUE(q->Enqueue("f-1", Bytes(1)));
  EXPECT_EQ(q->Pressure()->level, BackpressureLevel::kSlowDown);
  ASSERT_TRUE(q->Enqueue("f-2", Bytes(900)));
  EXPECT_EQ(q->Pressure()->level, BackpressureLevel::kRefuse);
  EXPECT_EQ(q->Pressure()->stats.bytes, 1000u);
}

// The cloud is down for long: nothing drains, the oldest forward ages, ingest slows then stops.
TEST_F(ForwardQueueTest, PressureRisesWhileTheCloudIsDown) {
  auto q = OpenQueue();
  ASSERT_TRUE(q->Enqueue("f-0", B("x")));
  EXPECT_EQ(q->Pressure()->level, BackpressureLevel::kNone);
  clock_.Advance(minutes(2));
  auto bp = q->Pressure();
  EXPECT_EQ(bp->level, BackpressureLevel::kSlowDown);
  EXPECT_EQ(bp->oldest_age, minutes(2));
  EXPECT_NE(bp->reason.find("oldest forward waiting 120 s"), std::string::npos) << bp->reason;
  clock_.Advance(minutes(28));
  EXPECT_EQ(q->Pressure()->level, BackpressureLevel::kRefuse);
  // The cloud comes back and the queue drains.
  auto due = q->NextDue(clock_.Now(), 10);
  ASSERT_EQ(due->size(), 1u);
  ASSERT_TRUE(q->MarkSent("f-0"));
  EXPECT_EQ(q->Pressure()->level, BackpressureLevel::kNone);
  EXPECT_EQ(q->Pressure()->oldest_age, seconds(0));
}

TEST_F(ForwardQueueTest, LimitsMustBeOrdered) {
  BackpressureLimits limits;
  limits.slow_items = 10;
  limits.refuse_items = 9;
  auto q = ForwardQueue::Open(dir_.File("cloudlet.db"), clock_, random_, {}, limits);
  ASSERT_FALSE(q.has_value());
  EXPECT_EQ(q.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ForwardQueueTest, SurvivesRestartAndSharesTheFileWithAnOutbox) {
  {
    auto q = OpenQueue();
    ASSERT_TRUE(q->Enqueue("f-0", B("zero")));
    ASSERT_TRUE(q->Enqueue("f-1", B("one")));
    ASSERT_TRUE(q->MarkSent("f-0"));
  }
  auto q = OpenQueue();
  auto due = q->NextDue(clock_.Now(), 10);
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].id, "f-1");
  EXPECT_EQ((*due)[0].payload, B("one"));
}

TEST_F(ForwardQueueTest, TwoThreadsEnqueueAndDrainConcurrently) {
  auto q = OpenQueue();
  std::set<std::string> sent;
  std::mutex mu;
  std::atomic<bool> producing{true};
  std::thread producer([&] {
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(q->Enqueue("f-" + std::to_string(i), B("x")));
    producing = false;
  });
  std::thread consumer([&] {
    for (;;) {
      const bool done = !producing.load();
      auto due = q->NextDue(clock_.Now(), 16);
      ASSERT_TRUE(due.has_value());
      for (const auto& item : *due) {
        ASSERT_TRUE(q->MarkSent(item.id));
        std::lock_guard lock(mu);
        EXPECT_TRUE(sent.insert(item.id).second) << item.id;
      }
      if (done && due->empty()) return;
    }
  });
  producer.join();
  consumer.join();
  EXPECT_EQ(sent.size(), 50u);
}

TEST_F(ForwardQueueTest, EnqueueManyQueuesAllInOneCallWithPerItemOutcomes) {
  auto q = OpenQueue();
  const Bytes one = B("one");
  const Bytes two = B("two");
  const Bytes first = B("first copy");
  const Bytes other = B("another copy");
  ASSERT_TRUE(q->Enqueue("fwd-old", first));
  const std::vector<SqliteDurableQueue::Entry> entries{
      {"fwd-1", one}, {"fwd-old", first}, {"fwd-2", two}, {"fwd-old", other}};
  auto outcomes = q->EnqueueMany(entries);
  ASSERT_TRUE(outcomes.has_value()) << outcomes.error().ToString();
  ASSERT_EQ(outcomes->size(), 4u);
  EXPECT_EQ((*outcomes)[0].value(), EnqueueOutcome::kEnqueued);
  EXPECT_EQ((*outcomes)[1].value(), EnqueueOutcome::kDuplicate);
  EXPECT_EQ((*outcomes)[2].value(), EnqueueOutcome::kEnqueued);
  ASSERT_FALSE((*outcomes)[3].has_value());
  EXPECT_EQ((*outcomes)[3].error().code(), ErrorCode::kAlreadyExists);
  // The conflict left the queued copy alone and did not undo the others.
  auto due = q->NextDue(clock_.Now(), 10);
  ASSERT_EQ(due->size(), 3u);
  EXPECT_EQ((*due)[0].id, "fwd-old");
  EXPECT_EQ((*due)[0].payload, B("first copy"));
  EXPECT_EQ((*due)[1].id, "fwd-1");
  EXPECT_EQ((*due)[2].id, "fwd-2");
}

TEST_F(ForwardQueueTest, EnqueueManyWithABadItemQueuesNothing) {
  auto q = OpenQueue();
  const Bytes payload = B("payload");
  const std::vector<SqliteDurableQueue::Entry> entries{{"fwd-1", payload}, {"bad id!", payload}};
  auto outcomes = q->EnqueueMany(entries);
  ASSERT_FALSE(outcomes.has_value());
  EXPECT_EQ(outcomes.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(q->Stats()->count, 0u);
  EXPECT_TRUE(q->EnqueueMany({})->empty());
}

}  // namespace
}  // namespace medmesh::store
