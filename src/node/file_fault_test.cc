// The node's secrets and data folder on a failing disk (testing::FaultInjectionEnv): a key or
// token that could not be written durably is an error and leaves no file behind, so the next
// start neither trusts a torn file nor runs with a key that was never on disk.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/random.h"
#include "crypto/key_file.h"
#include "node/data_dir.h"
#include "node/identity.h"
#include "testing/fault_injection_env.h"
#include "testing/temp_dir.h"

namespace medmesh::node {
namespace {

namespace fs = std::filesystem;
using ::medmesh::testing::FaultInjectionEnv;
using ::medmesh::testing::TempDir;

class FileFaultTest : public ::testing::Test {
 protected:
  TempDir dir_;
  SystemRandom random_;
  FaultInjectionEnv env_;
};

TEST_F(FileFaultTest, AKekThatCannotBeWrittenIsNeverUsed) {
  const fs::path file = dir_.path() / "kek.key";
  for (int fault = 0; fault < 3; ++fault) {
    if (fault == 0) env_.SetSpaceLeft(10);
    if (fault == 1) env_.FailSyncs(true);
    if (fault == 2) env_.ShortWrites(true);
    bool created = true;
    auto kek = LoadKekFile(file, random_, /*create_if_missing=*/true, &created, env_);
    ASSERT_FALSE(kek) << "fault " << fault;
    EXPECT_FALSE(created);
    EXPECT_FALSE(fs::exists(file)) << "fault " << fault;
    env_.Clear();
  }
  EXPECT_EQ(env_.injected_faults(), 3u);

  bool created = false;
  auto kek = LoadKekFile(file, random_, true, &created, env_);
  ASSERT_TRUE(kek) << kek.error().ToString();
  EXPECT_TRUE(created);
  auto again = LoadKekFile(file, random_, true, &created, env_);
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_FALSE(created);
  EXPECT_EQ(again->key_id(), kek->key_id());
}

TEST_F(FileFaultTest, ATokenThatCannotBeWrittenLeavesNoFile) {
  const fs::path file = dir_.path() / "operator.token";
  env_.FailSyncs(true);
  ASSERT_FALSE(WriteTokenFile(file, random_, env_));
  EXPECT_FALSE(fs::exists(file));
  env_.Clear();
  ASSERT_TRUE(WriteTokenFile(file, random_, env_));
  EXPECT_TRUE(ReadTokenFile(file, env_));
}

TEST_F(FileFaultTest, AKeyFileReplacedDuringAFailureKeepsTheOldKey) {
  const fs::path file = dir_.path() / "device.key";
  const crypto::KeyFile first = crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random_);
  ASSERT_TRUE(crypto::WriteKeyFile(file, first, /*overwrite=*/false, env_));
  const crypto::KeyFile second = crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random_);
  for (int fault = 0; fault < 3; ++fault) {
    if (fault == 0) env_.FailRenames(true);
    if (fault == 1) env_.SetSpaceLeft(0);
    if (fault == 2) env_.FailSyncs(true);
    ASSERT_FALSE(crypto::WriteKeyFile(file, second, /*overwrite=*/true, env_));
    env_.Clear();
    auto read = crypto::ReadKeyFile(file, env_);
    ASSERT_TRUE(read) << read.error().ToString();
    EXPECT_EQ(read->kek->key_id(), first.kek->key_id()) << "fault " << fault;
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 1);
}

TEST_F(FileFaultTest, ADataFolderThatCannotBeCreatedIsAnError) {
  env_.FailCreates(true);
  auto lock = DataDirLock::Acquire(dir_.path() / "data", env_);
  ASSERT_FALSE(lock);
  EXPECT_EQ(lock.error().code(), ErrorCode::kResourceExhausted);
  env_.Clear();
  EXPECT_TRUE(DataDirLock::Acquire(dir_.path() / "data", env_));
}

}  // namespace
}  // namespace medmesh::node
