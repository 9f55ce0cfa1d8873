#include "wearable/batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <set>
#include <thread>

#include "testing/fake_clock.h"
#include "testing/fake_random.h"

namespace medmesh::wearable {
namespace {

using std::chrono::seconds;
using wire::Reading;
using wire::VitalKind;

std::vector<Reading> Readings(int n, std::int64_t start = 1'800'000'000'000) {
  std::vector<Reading> out;
  out.reserve(static_cast<std::size_t>(std::max(n, 0)));
  for (int i = 0; i < n; ++i) {
    out.push_back({start + std::int64_t{i} * 1000, VitalKind::kHeartRate, 70'000 + i});
  }
  return out;
}

// A sequence source that fails on demand.
class FlakySequence final : public SequenceSource {
 public:
  Result<std::uint64_t> Next() override {
    if (fail) return Unavailable("outbox database locked");
    return ++last;
  }
  bool fail = false;
  std::uint64_t last = 0;
};

class BatcherTest : public ::testing::Test {
 protected:
  std::unique_ptr<Batcher> Make(BatcherOptions options = {}) {
    auto b = Batcher::Create("dev-1", "p-1", sequence_, random_, clock_, options);
    EXPECT_TRUE(b.has_value()) << (b ? "" : b.error().ToString());
    return std::move(b).value();
  }
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{5};
  CountingSequenceSource sequence_{1};
};

TEST_F(BatcherTest, CutsByCount) {
  auto b = Make();
  auto out = b->Add(Readings(599));
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE(out->empty());
  EXPECT_EQ(b->pending(), 599u);
  out = b->Add(Readings(1300, 2'000'000'000'000));
  ASSERT_EQ(out->size(), 3u);
  EXPECT_EQ(b->pending(), 99u);
  for (std::size_t i = 0; i < out->size(); ++i) {
    const PendingBatch& batch = (*out)[i];
    EXPECT_EQ(batch.batch.readings.size(), 600u);
    EXPECT_EQ(batch.batch.device_id, "dev-1");
    EXPECT_EQ(batch.batch.patient_id, "p-1");
    EXPECT_EQ(batch.batch.sequence, i + 1);
  }
  // Arrival order is kept across batch boundaries.
  EXPECT_EQ((*out)[0].batch.readings[0], Readings(1)[0]);
  EXPECT_EQ((*out)[0].batch.readings[599].time_ms, 2'000'000'000'000);
}

TEST_F(BatcherTest, CutsByAge) {
  auto b = Make();
  EXPECT_FALSE(b->deadline().has_value());
  ASSERT_TRUE(b->Add(Readings(10)));
  const auto deadline = b->deadline();
  ASSERT_TRUE(deadline.has_value());
  EXPECT_EQ(*deadline, clock_.Monotonic() + seconds(60));
  clock_.Advance(seconds(30));
  ASSERT_TRUE(b->Add(Readings(10)));
  EXPECT_EQ(b->deadline(), deadline);  // the oldest reading sets the deadline
  clock_.Advance(std::chrono::milliseconds(29'999));
  auto early = b->Poll();
  ASSERT_TRUE(early.has_value());
  EXPECT_FALSE(early->has_value());
  clock_.Advance(std::chrono::milliseconds(1));
  auto due = b->Poll();
  ASSERT_TRUE(due.has_value());
  ASSERT_TRUE(due->has_value());
  EXPECT_EQ((*due)->batch.readings.size(), 20u);
  EXPECT_EQ(b->pending(), 0u);
  EXPECT_FALSE(b->deadline().has_value());
  EXPECT_FALSE(b->Poll()->has_value());
}

TEST_F(BatcherTest, FlushTakesEverything) {
  auto b = Make();
  EXPECT_FALSE(b->Flush()->has_value());
  ASSERT_TRUE(b->Add(Readings(3)));
  auto f = b->Flush();
  ASSERT_TRUE(f.has_value() && f->has_value());
  EXPECT_EQ((*f)->batch.readings, Readings(3));
}

TEST_F(BatcherTest, BatchIdsAreUniqueAndKeysRoundTrip) {
  BatcherOptions options;
  options.max_readings = 1;
  auto b = Make(options);
  auto out = b->Add(Readings(200));
  ASSERT_EQ(out->size(), 200u);
  std::set<std::string> keys;
  for (const PendingBatch& p : *out) {
    const std::string key = p.key();
    EXPECT_TRUE(wire::IsValidId(key)) << key;
    EXPECT_LE(key.size(), 53u);
    keys.insert(key);
    const auto parts = ParseBatchKey(key);
    ASSERT_TRUE(parts.has_value()) << key;
    EXPECT_EQ(parts->batch_id, p.batch_id);
    EXPECT_EQ(parts->sequence, p.batch.sequence);
  }
  EXPECT_EQ(keys.size(), 200u);
  const std::string max_key = BatchKey(wire::BatchId{}, UINT64_MAX);
  EXPECT_EQ(max_key.size(), 53u);
  EXPECT_EQ(ParseBatchKey(max_key)->sequence, UINT64_MAX);
  for (const char* bad :
       {"", "abc-1", "00000000000000000000000000000000", "0000000000000000000000000000000g-1",
        "00000000000000000000000000000000-", "00000000000000000000000000000000-01",
        "00000000000000000000000000000000-1x",
        "00000000000000000000000000000000-99999999999999999999",
        "0000000000000000000000000000000A-1"}) {
    EXPECT_FALSE(ParseBatchKey(bad).has_value()) << bad;
  }
}

TEST_F(BatcherTest, ASequenceFailureLosesNothing) {
  FlakySequence flaky;
  auto made = Batcher::Create("dev-1", "p-1", flaky, random_, clock_, {});
  ASSERT_TRUE(made.has_value());
  auto& b = **made;
  flaky.fail = true;
  auto out = b.Add(Readings(700));
  ASSERT_FALSE(out.has_value());
  EXPECT_EQ(out.error().code(), ErrorCode::kUnavailable);
  EXPECT_EQ(b.pending(), 700u);
  EXPECT_FALSE(b.Flush().has_value());
  flaky.fail = false;
  out = b.Add({});
  ASSERT_TRUE(out.has_value());
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].batch.sequence, 1u);
  EXPECT_EQ((*out)[0].batch.readings, Readings(600));
  EXPECT_EQ(b.pending(), 100u);
}

TEST_F(BatcherTest, BadArgumentsAreRefused) {
  EXPECT_FALSE(Batcher::Create("dev 1", "p-1", sequence_, random_, clock_, {}).has_value());
  EXPECT_FALSE(Batcher::Create("dev-1", "", sequence_, random_, clock_, {}).has_value());
  BatcherOptions zero;
  zero.max_readings = 0;
  EXPECT_FALSE(Batcher::Create("dev-1", "p-1", sequence_, random_, clock_, zero).has_value());
  BatcherOptions huge;
  huge.max_readings = 1'000'000;
  EXPECT_FALSE(Batcher::Create("dev-1", "p-1", sequence_, random_, clock_, huge).has_value());
  BatcherOptions no_age;
  no_age.max_age = std::chrono::milliseconds(0);
  EXPECT_FALSE(Batcher::Create("dev-1", "p-1", sequence_, random_, clock_, no_age).has_value());
}

TEST_F(BatcherTest, ConcurrentProducersLoseAndDuplicateNothing) {
  SystemRandom random;
  auto made = Batcher::Create("dev-1", "p-1", sequence_, random, clock_, {});
  ASSERT_TRUE(made.has_value());
  Batcher& b = **made;
  std::mutex mu;
  std::vector<PendingBatch> batches;
  auto produce = [&](std::int64_t base) {
    for (int i = 0; i < 50; ++i) {
      auto out = b.Add(Readings(97, base + std::int64_t{i} * 1'000'000));
      ASSERT_TRUE(out.has_value());
      std::lock_guard lock(mu);
      for (auto& p : *out) batches.push_back(std::move(p));
    }
  };
  std::thread t1(produce, 1'000'000'000'000);
  std::thread t2(produce, 1'500'000'000'000);
  t1.join();
  t2.join();
  auto rest = b.Flush();
  ASSERT_TRUE(rest.has_value());
  if (rest->has_value()) batches.push_back(std::move(**rest));
  std::size_t total = 0;
  std::set<std::uint64_t> sequences;
  for (const auto& p : batches) {
    total += p.batch.readings.size();
    sequences.insert(p.batch.sequence);
  }
  EXPECT_EQ(total, 2u * 50 * 97);
  EXPECT_EQ(sequences.size(), batches.size());
}

}  // namespace
}  // namespace medmesh::wearable
