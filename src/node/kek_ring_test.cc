#include "node/kek_ring.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "crypto/key_file.h"
#include "node/identity.h"
#include "testing/fault_injection_env.h"
#include "testing/temp_dir.h"

namespace medmesh::node {
namespace {

namespace fs = std::filesystem;
using ::medmesh::testing::FaultInjectionEnv;
using ::medmesh::testing::TempDir;

constexpr int kPatients = 12;

crypto::KeyEncryptionKey WriteKek(const fs::path& file, Random& random) {
  crypto::KeyFile keys = crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random);
  EXPECT_TRUE(crypto::WriteKeyFile(file, keys, /*overwrite=*/false));
  return std::move(*keys.kek);
}

crypto::KeyId FileKekId(const fs::path& file, Random& random) {
  return LoadKekFile(file, random, false).value().key_id();
}

unsigned Mode(const fs::path& file) {
  struct stat st {};
  EXPECT_EQ(::stat(file.c_str(), &st), 0);
  return st.st_mode & 0777;
}

// A wrapped-key store whose Replace fails after `budget` successes: the node dies part-way
// through a re-wrap (the store itself stays consistent, as a database does).
class FailingReplaceStore final : public crypto::WrappedKeyStore {
 public:
  explicit FailingReplaceStore(crypto::WrappedKeyStore& base) : base_(base) {}
  void FailAfter(int budget) { budget_ = budget; }
  Status Insert(const crypto::DataKeyContext& c, Bytes w) override {
    return base_.Insert(c, std::move(w));
  }
  Result<Bytes> Get(const crypto::DataKeyContext& c) const override { return base_.Get(c); }
  Status Replace(const crypto::DataKeyContext& c, ByteView expected, Bytes w) override {
    if (budget_ == 0) return Unavailable("injected store failure");
    if (budget_ > 0) --budget_;
    return base_.Replace(c, expected, std::move(w));
  }
  Status Delete(const crypto::DataKeyContext& c) override { return base_.Delete(c); }
  Result<std::vector<crypto::DataKeyContext>> List() const override { return base_.List(); }

 private:
  crypto::WrappedKeyStore& base_;
  int budget_ = -1;  // -1: never fail
};

class KekRingTest : public ::testing::Test {
 protected:
  fs::path File() const { return dir_.path() / "ei_kek.key"; }
  fs::path Legacy() const { return dir_.path() / "kek.key"; }

  // An envelope as a restarted node builds it from the files.
  std::unique_ptr<crypto::EnvelopeAead> Open(crypto::WrappedKeyStore& store) {
    auto ring = LoadKekRing(File(), Legacy(), random_, false);
    EXPECT_TRUE(ring) << ring.error().ToString();
    if (!ring) return nullptr;
    auto envelope =
        std::make_unique<crypto::EnvelopeAead>(std::move(ring->current), store, random_);
    for (auto& older : ring->older) envelope->AddOldKek(std::move(older));
    return envelope;
  }

  // Encrypts one value per patient; returns the ciphertexts.
  static std::vector<Bytes> Fill(crypto::EnvelopeAead& envelope, int first = 0) {
    std::vector<Bytes> cts;
    for (int i = first; i < first + kPatients; ++i) {
      cts.push_back(envelope.Encrypt(Context(i), AsBytes("v" + std::to_string(i)), {}).value());
    }
    return cts;
  }
  static crypto::DataKeyContext Context(int i) { return {"p-" + std::to_string(i), "ei"}; }

  // Every ciphertext opens with `envelope`.
  static bool AllOpen(const crypto::EnvelopeAead& envelope, const std::vector<Bytes>& cts,
                      int first = 0) {
    for (int i = 0; i < static_cast<int>(cts.size()); ++i) {
      auto opened = envelope.Decrypt(Context(first + i), cts[i], {});
      if (!opened || AsStringView(*opened) != "v" + std::to_string(first + i)) return false;
    }
    return true;
  }

  TempDir dir_;
  SystemRandom random_;
};

TEST_F(KekRingTest, MissingFileIsCreatedOnlyWhenAllowed) {
  auto missing = LoadKekRing(File(), Legacy(), random_, false);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message().find("ei_kek.key"), std::string::npos);

  auto created = LoadKekRing(File(), Legacy(), random_, true);
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_TRUE(created->created);
  EXPECT_TRUE(created->older.empty());
  EXPECT_EQ(Mode(File()), 0600U);
  EXPECT_EQ(created->current.key_id(), FileKekId(File(), random_));
}

TEST_F(KekRingTest, LegacyKekStandsInForAMissingFileAndIsAlwaysLoaded) {
  const crypto::KeyEncryptionKey legacy = WriteKek(Legacy(), random_);
  // Even with create_if_missing: an existing deployment's KEK is used, no new key is made.
  auto only_legacy = LoadKekRing(File(), Legacy(), random_, true);
  ASSERT_TRUE(only_legacy);
  EXPECT_TRUE(only_legacy->uses_legacy);
  EXPECT_FALSE(only_legacy->created);
  EXPECT_FALSE(fs::exists(File()));
  EXPECT_EQ(only_legacy->current.key_id(), legacy.key_id());

  const crypto::KeyEncryptionKey own = WriteKek(File(), random_);
  auto both = LoadKekRing(File(), Legacy(), random_, false);
  ASSERT_TRUE(both);
  EXPECT_FALSE(both->uses_legacy);
  EXPECT_TRUE(both->legacy_loaded);
  EXPECT_EQ(both->current.key_id(), own.key_id());
  ASSERT_EQ(both->older.size(), 1U);
  EXPECT_EQ(both->older[0].key_id(), legacy.key_id());
}

TEST_F(KekRingTest, BadFilesGiveClearErrors) {
  WriteKek(File(), random_);
  fs::permissions(File(), fs::perms::group_read, fs::perm_options::add);
  auto readable = LoadKekRing(File(), Legacy(), random_, false);
  ASSERT_FALSE(readable);
  EXPECT_EQ(readable.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_NE(readable.error().message().find("chmod 600"), std::string::npos)
      << readable.error().ToString();

  fs::permissions(File(), fs::perms::group_read, fs::perm_options::remove);
  ASSERT_TRUE(crypto::WriteKeyFile(
      NextKekFile(File()), crypto::GenerateKeyFile(crypto::KeyFileType::kRoot, random_), false));
  auto wrong_type = LoadKekRing(File(), Legacy(), random_, false);
  ASSERT_FALSE(wrong_type);
  EXPECT_EQ(wrong_type.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(wrong_type.error().message().find("ei_kek.key.next"), std::string::npos);
}

TEST_F(KekRingTest, RotationRewrapsKeepsDataAndLeavesOneKeyOnDisk) {
  const crypto::KeyEncryptionKey old = WriteKek(File(), random_);
  crypto::InMemoryWrappedKeyStore store;
  auto envelope = Open(store);
  const std::vector<Bytes> cts = Fill(*envelope);

  auto rotation = RotateKekFile(File(), *envelope, random_);
  ASSERT_TRUE(rotation) << rotation.error().ToString();
  EXPECT_FALSE(rotation->resumed);
  EXPECT_EQ(rotation->report.rewrapped, static_cast<std::size_t>(kPatients));
  EXPECT_EQ(rotation->retired, std::vector<crypto::KeyId>{old.key_id()});
  EXPECT_EQ(envelope->kek_ids(), std::vector<crypto::KeyId>{rotation->new_kek_id});
  EXPECT_FALSE(fs::exists(NextKekFile(File())));
  EXPECT_EQ(Mode(File()), 0600U);
  EXPECT_EQ(FileKekId(File(), random_), rotation->new_kek_id);
  EXPECT_TRUE(AllOpen(*envelope, cts));
  // The live envelope still writes; a restart opens everything with the new file alone.
  const std::vector<Bytes> later = Fill(*envelope, kPatients);
  auto restarted = Open(store);
  EXPECT_EQ(restarted->kek_ids(), std::vector<crypto::KeyId>{rotation->new_kek_id});
  EXPECT_TRUE(AllOpen(*restarted, cts));
  EXPECT_TRUE(AllOpen(*restarted, later, kPatients));
}

TEST_F(KekRingTest, RotationFromTheLegacyKekWritesThePartFile) {
  const crypto::KeyEncryptionKey legacy = WriteKek(Legacy(), random_);
  crypto::InMemoryWrappedKeyStore store;
  auto envelope = Open(store);
  const std::vector<Bytes> cts = Fill(*envelope);
  auto rotation = RotateKekFile(File(), *envelope, random_);
  ASSERT_TRUE(rotation) << rotation.error().ToString();
  EXPECT_EQ(rotation->retired, std::vector<crypto::KeyId>{legacy.key_id()});
  EXPECT_EQ(FileKekId(File(), random_), rotation->new_kek_id);
  EXPECT_TRUE(fs::exists(Legacy()));  // other parts may still need it
  // Without the legacy file the part's data still opens.
  fs::remove(Legacy());
  EXPECT_TRUE(AllOpen(*Open(store), cts));
}

// A "crash" after every single file operation of the rotation (FaultInjectionEnv::CrashAfter):
// the files left behind open every data key, and running the rotation again finishes it.
TEST_F(KekRingTest, CrashAfterEveryFileStepRestartsAndResumes) {
  bool finished_without_fault = false;
  for (std::uint64_t step = 0; !finished_without_fault && step < 32; ++step) {
    SCOPED_TRACE("crash after file operation " + std::to_string(step));
    fs::remove(File());
    fs::remove(NextKekFile(File()));
    WriteKek(File(), random_);
    crypto::InMemoryWrappedKeyStore store;
    std::vector<Bytes> cts;
    {
      auto envelope = Open(store);
      cts = Fill(*envelope);
      FaultInjectionEnv env;
      env.CrashAfter(step);
      auto rotation = RotateKekFile(File(), *envelope, random_, env);
      finished_without_fault = env.injected_faults() == 0;
      EXPECT_EQ(rotation.has_value(), finished_without_fault);
      // The node that survived the failure still serves.
      EXPECT_TRUE(AllOpen(*envelope, cts));
    }
    auto restarted = Open(store);
    ASSERT_NE(restarted, nullptr);
    EXPECT_TRUE(AllOpen(*restarted, cts));
    auto resumed = RotateKekFile(File(), *restarted, random_);
    ASSERT_TRUE(resumed) << resumed.error().ToString();
    EXPECT_FALSE(fs::exists(NextKekFile(File())));
    auto final_ring = LoadKekRing(File(), Legacy(), random_, false);
    ASSERT_TRUE(final_ring);
    EXPECT_TRUE(final_ring->older.empty());
    EXPECT_TRUE(AllOpen(*Open(store), cts));
  }
  EXPECT_TRUE(finished_without_fault);
}

// The node dies after re-wrapping some data keys: both KEKs are on disk, so a restart opens
// every key (whichever KEK wraps it), and the resumed rotation reuses the new KEK of F.next.
TEST_F(KekRingTest, CrashDuringRewrapRestartsAndResumes) {
  for (int rewrapped : {0, 1, kPatients / 2, kPatients - 1}) {
    SCOPED_TRACE("crash after re-wrapping " + std::to_string(rewrapped) + " keys");
    fs::remove(File());
    fs::remove(NextKekFile(File()));
    const crypto::KeyEncryptionKey old = WriteKek(File(), random_);
    crypto::InMemoryWrappedKeyStore base;
    FailingReplaceStore store(base);
    std::vector<Bytes> cts;
    crypto::KeyId new_id;
    {
      auto envelope = Open(store);
      cts = Fill(*envelope);
      store.FailAfter(rewrapped);
      auto rotation = RotateKekFile(File(), *envelope, random_);
      ASSERT_FALSE(rotation);
      EXPECT_EQ(rotation.error().code(), ErrorCode::kUnavailable);
      EXPECT_TRUE(AllOpen(*envelope, cts));
      new_id = envelope->current_kek_id();
    }
    store.FailAfter(-1);
    ASSERT_TRUE(fs::exists(NextKekFile(File())));
    EXPECT_EQ(FileKekId(File(), random_), old.key_id());
    auto restarted = Open(store);
    EXPECT_EQ(restarted->current_kek_id(), new_id);
    EXPECT_TRUE(AllOpen(*restarted, cts));
    auto resumed = RotateKekFile(File(), *restarted, random_);
    ASSERT_TRUE(resumed) << resumed.error().ToString();
    EXPECT_TRUE(resumed->resumed);
    EXPECT_EQ(resumed->new_kek_id, new_id);
    EXPECT_EQ(resumed->report.rewrapped, static_cast<std::size_t>(kPatients - rewrapped));
    EXPECT_EQ(FileKekId(File(), random_), new_id);
    EXPECT_TRUE(AllOpen(*Open(store), cts));
  }
}

TEST_F(KekRingTest, UnreadableKeysKeepTheOldKek) {
  const crypto::KeyEncryptionKey old = WriteKek(File(), random_);
  crypto::InMemoryWrappedKeyStore store;
  auto envelope = Open(store);
  const std::vector<Bytes> cts = Fill(*envelope);
  Bytes broken = store.Get(Context(3)).value();
  broken.back() ^= 1;
  ASSERT_TRUE(store.Replace(Context(3), store.Get(Context(3)).value(), broken));
  auto rotation = RotateKekFile(File(), *envelope, random_);
  ASSERT_FALSE(rotation);
  EXPECT_EQ(rotation.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(rotation.error().message().find("1 data keys"), std::string::npos);
  EXPECT_EQ(FileKekId(File(), random_), old.key_id());
  EXPECT_TRUE(fs::exists(NextKekFile(File())));
  auto ids = envelope->kek_ids();
  EXPECT_NE(std::find(ids.begin(), ids.end(), old.key_id()), ids.end());
}

}  // namespace
}  // namespace medmesh::node
