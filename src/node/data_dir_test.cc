#include "node/data_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "node/test_support.h"

namespace medmesh::node {
namespace {

TEST(DataDirTest, CreatesThePrivateFolderAndRefusesASecondHolder) {
  testing::TempDir tmp;
  const std::filesystem::path dir = tmp.path() / "a" / "data";
  auto first = DataDirLock::Acquire(dir);
  ASSERT_TRUE(first) << first.error().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto second = DataDirLock::Acquire(dir);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kFailedPrecondition);

  // Moving the handle keeps the lock; destroying it releases it.
  std::optional<DataDirLock> moved(std::move(*first));
  EXPECT_FALSE(DataDirLock::Acquire(dir));
  moved.reset();
  EXPECT_TRUE(DataDirLock::Acquire(dir));
}

TEST(DataDirTest, ALockOfAKilledProcessIsGone) {
  testing::TempDir tmp;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = DataDirLock::Acquire(tmp.path());
    const char byte = lock ? 'y' : 'n';
    [[maybe_unused]] const ssize_t written = write(ready[1], &byte, 1);
    pause();  // until SIGKILL
    _exit(0);
  }
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  ASSERT_EQ(byte, 'y');
  EXPECT_FALSE(DataDirLock::Acquire(tmp.path()));
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(DataDirLock::Acquire(tmp.path()));
  close(ready[0]);
  close(ready[1]);
}

TEST(DataDirTest, AnEmptyPathIsRefused) {
  EXPECT_EQ(EnsureDataDir({}).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace medmesh::node
