#include "node/maintenance_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace medmesh::node {
namespace {

using namespace std::chrono_literals;

// Long enough never to be reached on a busy machine; the tests wake the thread with RunNow.
constexpr auto kLongInterval = std::chrono::hours(1);
constexpr auto kPatience = std::chrono::minutes(1);

TEST(MaintenanceThreadTest, RunsTheTaskOnRequestAndStops) {
  std::atomic<int> calls{0};
  MaintenanceThread thread("test", kLongInterval, [&] { ++calls; });
  thread.RunNow();
  ASSERT_TRUE(thread.WaitForRuns(1, kPatience));
  thread.RunNow();
  ASSERT_TRUE(thread.WaitForRuns(2, kPatience));
  thread.Stop();
  thread.Stop();  // idempotent
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(thread.failures(), 0U);
}

TEST(MaintenanceThreadTest, RunsByItselfEveryInterval) {
  std::atomic<int> calls{0};
  MaintenanceThread thread("test", 1ms, [&] { ++calls; });
  ASSERT_TRUE(thread.WaitForRuns(3, kPatience));
  EXPECT_GE(calls.load(), 3);
}

TEST(MaintenanceThreadTest, ATaskThatThrowsIsCountedAndTheThreadCarriesOn) {
  std::atomic<int> calls{0};
  MaintenanceThread thread("test", kLongInterval, [&] {
    if (++calls == 1) throw std::runtime_error("disk on fire");
    if (calls == 2) throw 42;  // not even an exception type
  });
  for (std::uint64_t n = 1; n <= 3; ++n) {
    thread.RunNow();
    ASSERT_TRUE(thread.WaitForRuns(n, kPatience)) << n;
  }
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(thread.failures(), 2U);
  EXPECT_EQ(thread.runs(), 3U);
}

}  // namespace
}  // namespace medmesh::node
