#include "core/clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "testing/fake_clock.h"

namespace medmesh {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(SystemClockTest, FollowsTheRealClocks) {
  SystemClock clock;
  const Clock& c = clock;
  const auto wall_before = std::chrono::system_clock::now();
  const auto now = c.Now();
  const auto wall_after = std::chrono::system_clock::now();
  EXPECT_LE(wall_before, now);
  EXPECT_LE(now, wall_after);

  const auto m1 = c.Monotonic();
  const auto m2 = c.Monotonic();
  EXPECT_LE(m1, m2);
}

TEST(FakeClockTest, StartsWhereToldAndStandsStill) {
  const auto start = std::chrono::system_clock::time_point(seconds(1'700'000'000));
  testing::FakeClock clock(start);
  EXPECT_EQ(clock.Now(), start);
  EXPECT_EQ(clock.Now(), start);
  EXPECT_EQ(clock.Monotonic(), clock.Monotonic());
}

TEST(FakeClockTest, DefaultStartIsFixed) {
  testing::FakeClock a;
  testing::FakeClock b;
  EXPECT_EQ(a.Now(), b.Now());
  EXPECT_EQ(a.Now().time_since_epoch(), seconds(1'800'000'000));
}

TEST(FakeClockTest, AdvanceMovesWallAndMonotonicTimeTogether) {
  testing::FakeClock fake;
  const Clock& clock = fake;  // code under test sees only the interface
  const auto wall0 = clock.Now();
  const auto mono0 = clock.Monotonic();

  fake.Advance(milliseconds(1500));
  EXPECT_EQ(clock.Now() - wall0, milliseconds(1500));
  EXPECT_EQ(clock.Monotonic() - mono0, milliseconds(1500));

  fake.Advance(hours(24));
  fake.Advance(nanoseconds(1));
  EXPECT_EQ(clock.Now() - wall0, hours(24) + milliseconds(1500) + nanoseconds(1));
  EXPECT_EQ(clock.Monotonic() - mono0, hours(24) + milliseconds(1500) + nanoseconds(1));
}

TEST(FakeClockTest, AdvanceIsThreadSafe) {
  testing::FakeClock fake;
  const auto mono0 = fake.Monotonic();
  constexpr int kThreads = 4;
  constexpr int kSteps = 10'000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&fake] {
      for (int i = 0; i < kSteps; ++i) {
        fake.Advance(nanoseconds(3));
        (void)fake.Now();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fake.Monotonic() - mono0, nanoseconds(3LL * kThreads * kSteps));
}

}  // namespace
}  // namespace medmesh
