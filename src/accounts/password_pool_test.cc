#include "accounts/password_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "testing/wait.h"

namespace medmesh::accounts {
namespace {

using namespace std::chrono_literals;

// A latch the jobs wait on until the test opens it.
class Gate {
 public:
  void Wait() {
    std::unique_lock lock(mu_);
    open_cv_.wait(lock, [&] { return open_; });
  }
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    open_cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable open_cv_;
  bool open_ = false;
};

// Counts how many copies of it were destroyed without having run.
struct DropCounter {
  std::shared_ptr<std::atomic<int>> dropped;
  std::shared_ptr<bool> ran = std::make_shared<bool>(false);
  ~DropCounter() {
    if (dropped && !*ran && ran.use_count() == 1) ++*dropped;
  }
};

TEST(PasswordPoolTest, DefaultsAreTheHardwareThreadsAndFourQueuedPerThread) {
  PasswordPool pool;
  EXPECT_GE(pool.threads(), 1u);
  EXPECT_EQ(pool.queue_capacity(), 4 * pool.threads());
}

TEST(PasswordPoolTest, RunsEveryJobOnItsThreads) {
  PasswordPool pool({.threads = 2, .queue = 100});
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&] { ++done; }));
  }
  EXPECT_TRUE(medmesh::testing::WaitUntil([&] { return done.load() == 50; }, 10s));
}

TEST(PasswordPoolTest, AFullQueueRefusesAtOnceWithoutKeepingTheJob) {
  PasswordPool pool({.threads = 1, .queue = 2});
  Gate gate;
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  auto blocker = [&] {
    ++started;
    gate.Wait();
    ++finished;
  };
  ASSERT_TRUE(pool.TrySubmit(blocker));
  ASSERT_TRUE(medmesh::testing::WaitUntil([&] { return started.load() == 1; }, 10s));
  // The thread is busy: two jobs may wait, the third is refused.
  ASSERT_TRUE(pool.TrySubmit(blocker));
  EXPECT_FALSE(pool.full());
  ASSERT_TRUE(pool.TrySubmit(blocker));
  EXPECT_EQ(pool.queued(), 2u);
  EXPECT_TRUE(pool.full());
  auto dropped = std::make_shared<std::atomic<int>>(0);
  {
    DropCounter counter{dropped};
    EXPECT_FALSE(pool.TrySubmit([counter] { *counter.ran = true; }));
  }
  EXPECT_EQ(dropped->load(), 1) << "a refused job is not kept";
  gate.Open();
  EXPECT_TRUE(medmesh::testing::WaitUntil([&] { return finished.load() == 3; }, 10s));
  // Room again once the queue drained.
  std::atomic<bool> ran{false};
  ASSERT_TRUE(pool.TrySubmit([&] { ran = true; }));
  EXPECT_TRUE(medmesh::testing::WaitUntil([&] { return ran.load(); }, 10s));
}

TEST(PasswordPoolTest, DestructionDropsQueuedJobsAndFinishesRunningOnes) {
  Gate gate;
  std::atomic<int> started{0};
  std::atomic<int> finished{0};
  auto dropped = std::make_shared<std::atomic<int>>(0);
  std::thread opener;
  {
    PasswordPool pool({.threads = 1, .queue = 4});
    ASSERT_TRUE(pool.TrySubmit([&] {
      ++started;
      gate.Wait();
      ++finished;
    }));
    ASSERT_TRUE(medmesh::testing::WaitUntil([&] { return started.load() == 1; }, 10s));
    for (int i = 0; i < 3; ++i) {
      DropCounter counter{dropped};
      ASSERT_TRUE(pool.TrySubmit([counter] { *counter.ran = true; }));
    }
    opener = std::thread([&] {
      // Opened only once the destructor below has taken the queued jobs away.
      EXPECT_TRUE(medmesh::testing::WaitUntil([&] { return dropped->load() == 3; }, 10s));
      gate.Open();
    });
  }
  opener.join();
  EXPECT_EQ(finished.load(), 1);
  EXPECT_EQ(dropped->load(), 3);
}

}  // namespace
}  // namespace medmesh::accounts
