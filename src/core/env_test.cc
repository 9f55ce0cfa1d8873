#include "core/env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "testing/fault_injection_env.h"
#include "testing/temp_dir.h"

namespace medmesh {
namespace {

namespace fs = std::filesystem;
using testing::FaultInjectionEnv;

unsigned ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return static_cast<unsigned>(st.st_mode & 07777);
}

// Every entry of `dir` (temporary files included).
std::size_t Entries(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

std::string Read(Env& env, const fs::path& p) {
  auto bytes = env.ReadSmallFile(p, 1 << 20);
  EXPECT_TRUE(bytes) << bytes.error().ToString();
  return bytes ? std::string(AsStringView(*bytes)) : std::string();
}

class EnvTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  Env& env_ = Env::Default();
};

TEST_F(EnvTest, WriteFileAtomicallyReplacesContentsWithTheRequestedMode) {
  const fs::path file = dir_.path() / "state";
  ASSERT_TRUE(WriteFileAtomically(file, AsBytes(std::string_view("one")), 0644, env_));
  ASSERT_TRUE(WriteFileAtomically(file, AsBytes(std::string_view("two")), 0600, env_));
  EXPECT_EQ(Read(env_, file), "two");
  EXPECT_EQ(ModeOf(file), 0600u);
  EXPECT_EQ(Entries(dir_.path()), 1u);  // no temporary file left behind
  EXPECT_EQ(env_.FileSize(file).value(), 3u);
}

TEST_F(EnvTest, ReadSmallFileRefusesMissingAndOversizedFiles) {
  EXPECT_EQ(env_.ReadSmallFile(dir_.path() / "none", 10).error().code(), ErrorCode::kNotFound);
  const fs::path file = dir_.path() / "big";
  ASSERT_TRUE(WriteFileAtomically(file, AsBytes(std::string_view("0123456789a")), 0644, env_));
  EXPECT_EQ(env_.ReadSmallFile(file, 10).error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(env_.ReadSmallFile(file, 11).value().size(), 11u);
}

TEST_F(EnvTest, ReadPrivateFileChecksModeLinksAndSize) {
  const fs::path file = dir_.path() / "secret";
  ASSERT_TRUE(WriteNewFile(file, AsBytes(std::string_view("s3cret")), 0600, env_));
  auto read = env_.ReadPrivateFile(file, 64);
  ASSERT_TRUE(read) << read.error().ToString();
  EXPECT_EQ(AsStringView(read->reveal()), "s3cret");
  EXPECT_EQ(env_.ReadPrivateFile(file, 5).error().code(), ErrorCode::kResourceExhausted);

  ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
  auto open = env_.ReadPrivateFile(file, 64);
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(open.error().message().find("mode 0640"), std::string::npos);
  EXPECT_NE(open.error().message().find("chmod 600"), std::string::npos);
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);

  const fs::path link = dir_.path() / "link";
  fs::create_symlink(file, link);
  EXPECT_EQ(env_.ReadPrivateFile(link, 64).error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(env_.ReadPrivateFile(dir_.path() / "none", 64).error().code(), ErrorCode::kNotFound);
}

TEST_F(EnvTest, WriteNewFileNeverReplacesAnExistingFile) {
  const fs::path file = dir_.path() / "token";
  ASSERT_TRUE(WriteNewFile(file, AsBytes(std::string_view("first")), 0600, env_));
  EXPECT_EQ(ModeOf(file), 0600u);
  const Status again = WriteNewFile(file, AsBytes(std::string_view("second")), 0600, env_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Read(env_, file), "first");
}

TEST_F(EnvTest, CreateDirCreatesParentsWithTheModeAndAcceptsAnExistingFolder) {
  const fs::path dir = dir_.path() / "a" / "b";
  ASSERT_TRUE(env_.CreateDir(dir, 0700));
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_EQ(ModeOf(dir_.path() / "a"), 0700u);
  EXPECT_TRUE(env_.CreateDir(dir, 0755));
  EXPECT_EQ(ModeOf(dir), 0700u);  // an existing folder keeps its mode
  ASSERT_TRUE(WriteFileAtomically(dir / "f", {}, 0644, env_));
  EXPECT_EQ(env_.CreateDir(dir / "f", 0700).error().code(), ErrorCode::kAlreadyExists);
}

TEST_F(EnvTest, LockFileIsExclusiveUntilReleased) {
  const fs::path file = dir_.path() / ".lock";
  auto first = env_.LockFile(file);
  ASSERT_TRUE(first) << first.error().ToString();
  auto second = env_.LockFile(file);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code(), ErrorCode::kFailedPrecondition);
  first->reset();
  EXPECT_TRUE(env_.LockFile(file));
}

TEST_F(EnvTest, RemoveAndExists) {
  const fs::path file = dir_.path() / "f";
  EXPECT_FALSE(env_.FileExists(file));
  ASSERT_TRUE(WriteFileAtomically(file, {}, 0644, env_));
  EXPECT_TRUE(env_.FileExists(file));
  EXPECT_TRUE(env_.RemoveFile(file));
  EXPECT_FALSE(env_.FileExists(file));
  EXPECT_EQ(env_.RemoveFile(file).error().code(), ErrorCode::kNotFound);
}

// --- Faults ------------------------------------------------------------------------------------

// For every fault, WriteFileAtomically fails, leaves the old contents and no temporary file,
// and succeeds once the disk is healed.
class AtomicWriteFaultTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void Arm(FaultInjectionEnv& env) {
    const std::string& fault = GetParam();
    if (fault == "disk_full") env.SetSpaceLeft(5);
    if (fault == "fsync") env.FailSyncs(true);
    if (fault == "short_write") env.ShortWrites(true);
    if (fault == "rename") env.FailRenames(true);
    if (fault == "create") env.FailCreates(true);
  }
  testing::TempDir dir_;
};

TEST_P(AtomicWriteFaultTest, FailsWithoutTouchingTheOldContents) {
  FaultInjectionEnv env;
  const fs::path file = dir_.path() / "state";
  ASSERT_TRUE(WriteFileAtomically(file, AsBytes(std::string_view("old contents")), 0644, env));
  Arm(env);
  const Status failed =
      WriteFileAtomically(file, AsBytes(std::string_view("new contents, longer")), 0644, env);
  ASSERT_FALSE(failed);
  EXPECT_GT(env.injected_faults(), 0u);
  if (GetParam() == "disk_full") {
    EXPECT_EQ(failed.error().code(), ErrorCode::kResourceExhausted);
  }
  EXPECT_EQ(Read(env, file), "old contents");
  EXPECT_EQ(Entries(dir_.path()), 1u);

  env.Clear();
  ASSERT_TRUE(WriteFileAtomically(file, AsBytes(std::string_view("new contents")), 0644, env));
  EXPECT_EQ(Read(env, file), "new contents");
}

TEST_P(AtomicWriteFaultTest, WriteNewFileLeavesNothingBehind) {
  if (GetParam() == "rename") GTEST_SKIP() << "WriteNewFile does not rename";
  FaultInjectionEnv env;
  const fs::path file = dir_.path() / "key";
  Arm(env);
  ASSERT_FALSE(WriteNewFile(file, AsBytes(std::string_view("a secret key")), 0600, env));
  EXPECT_GT(env.injected_faults(), 0u);
  // A half-written or unsynced file would be found and trusted (or refused) by the next start.
  EXPECT_FALSE(env.FileExists(file));
  env.Clear();
  ASSERT_TRUE(WriteNewFile(file, AsBytes(std::string_view("a secret key")), 0600, env));
  EXPECT_EQ(Read(env, file), "a secret key");
}

INSTANTIATE_TEST_SUITE_P(Faults, AtomicWriteFaultTest,
                         ::testing::Values("disk_full", "fsync", "short_write", "rename", "create"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

TEST(FaultInjectionEnvTest, DiskFullWritesWhatFitsThenFails) {
  testing::TempDir dir;
  FaultInjectionEnv env;
  env.SetSpaceLeft(4);
  auto file = env.NewExclusiveFile(dir.path() / "f", 0600);
  ASSERT_TRUE(file);
  const Status appended = (*file)->Append(AsBytes(std::string_view("abcdefgh")));
  ASSERT_FALSE(appended);
  EXPECT_EQ(appended.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(env.bytes_written(), 4u);
  ASSERT_TRUE((*file)->Close());
  EXPECT_EQ(env.FileSize(dir.path() / "f").value(), 4u);
}

}  // namespace
}  // namespace medmesh
