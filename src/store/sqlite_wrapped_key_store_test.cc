#include "store/sqlite_wrapped_key_store.h"

#include <gtest/gtest.h>

#include <thread>

#include "store/internal/test_temp_dir.h"
#include "testing/fake_random.h"

namespace medmesh::store {
namespace {

using crypto::DataKeyContext;

class SqliteWrappedKeyStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteWrappedKeyStore> OpenStore() {
    auto s = SqliteWrappedKeyStore::Open(dir_.File("keys.db"));
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().ToString());
    return std::move(s).value();
  }
  internal::TempDir dir_;
};

TEST_F(SqliteWrappedKeyStoreTest, FollowsTheWrappedKeyStoreContract) {
  auto s = OpenStore();
  const DataKeyContext a{"p-1", "mi"};
  const DataKeyContext b{"p-1", "ei"};
  EXPECT_EQ(s->Get(a).error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(s->Insert(a, {1, 2, 3}));
  EXPECT_EQ(s->Insert(a, {9}).error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(*s->Get(a), (Bytes{1, 2, 3}));
  // Compare-and-swap.
  EXPECT_EQ(s->Replace(a, Bytes{7}, {4}).error().code(), ErrorCode::kFailedPrecondition);
  ASSERT_TRUE(s->Replace(a, Bytes{1, 2, 3}, {4, 5}));
  EXPECT_EQ(*s->Get(a), (Bytes{4, 5}));
  EXPECT_EQ(s->Replace(b, Bytes{1}, {2}).error().code(), ErrorCode::kNotFound);
  ASSERT_TRUE(s->Insert(b, {6}));
  auto list = s->List();
  ASSERT_TRUE(list.has_value());
  EXPECT_EQ(*list, (std::vector<DataKeyContext>{b, a}));
  ASSERT_TRUE(s->Delete(a));
  EXPECT_EQ(s->Delete(a).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(s->Get(a).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(s->Insert({"", "x"}, {1}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(s->Get({std::string(256, 'p'), "x"}).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(SqliteWrappedKeyStoreTest, ContextsAreArbitraryBytes) {
  auto s = OpenStore();
  const DataKeyContext odd{std::string("p\0q", 3), "part'; DROP TABLE x;--"};
  const DataKeyContext prefix{"p", "part'; DROP TABLE x;--"};
  ASSERT_TRUE(s->Insert(odd, {1}));
  ASSERT_TRUE(s->Insert(prefix, {2}));
  EXPECT_EQ(*s->Get(odd), Bytes{1});
  EXPECT_EQ(*s->Get(prefix), Bytes{2});
  EXPECT_EQ(s->List()->size(), 2u);
  EXPECT_EQ(s->List()->back().patient_id.size(), 3u);
}

TEST_F(SqliteWrappedKeyStoreTest, EnvelopeWorksAcrossRestartAndKekRotation) {
  testing::DeterministicRandom random(5);
  auto kek1 = crypto::KeyEncryptionKey::Generate(random);
  auto kek2 = crypto::KeyEncryptionKey::Generate(random);
  Bytes ct;
  {
    auto s = OpenStore();
    crypto::EnvelopeAead aead(kek1.Clone(), *s, random);
    auto c = aead.Encrypt({"p-1", "readings"}, AsBytes("heart rate 72"), AsBytes("ad"));
    ASSERT_TRUE(c.has_value());
    ct = *c;
  }
  auto s = OpenStore();
  crypto::EnvelopeAead aead(kek2.Clone(), *s, random);
  aead.AddOldKek(kek1.Clone());
  auto report = aead.RotateKek(kek2.Clone());
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ(report->rewrapped, 1u);
  ASSERT_TRUE(aead.RetireKek(kek1.key_id()));
  auto pt = aead.Decrypt({"p-1", "readings"}, ct, AsBytes("ad"));
  ASSERT_TRUE(pt.has_value());
  EXPECT_EQ(AsStringView(*pt), "heart rate 72");
}

TEST_F(SqliteWrappedKeyStoreTest, ConcurrentFirstUseFromTwoConnectionsMakesOneKey) {
  auto s1 = OpenStore();
  auto s2 = OpenStore();
  SystemRandom random;
  auto kek = crypto::KeyEncryptionKey::Generate(random);
  crypto::EnvelopeAead a1(kek.Clone(), *s1, random);
  crypto::EnvelopeAead a2(kek.Clone(), *s2, random);
  std::vector<Bytes> c1;
  std::vector<Bytes> c2;
  auto run = [](crypto::EnvelopeAead& a, std::vector<Bytes>& out) {
    for (int i = 0; i < 20; ++i) {
      auto c = a.Encrypt({"p-" + std::to_string(i), "mi"}, AsBytes("x"), {});
      ASSERT_TRUE(c.has_value()) << c.error().ToString();
      out.push_back(*c);
    }
  };
  std::thread t1(run, std::ref(a1), std::ref(c1));
  std::thread t2(run, std::ref(a2), std::ref(c2));
  t1.join();
  t2.join();
  EXPECT_EQ(s1->List()->size(), 20u);
  // Each side can read the other's ciphertexts: both used the one key per patient.
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(a1.Decrypt({"p-" + std::to_string(i), "mi"}, c2[i], {}).has_value());
    EXPECT_TRUE(a2.Decrypt({"p-" + std::to_string(i), "mi"}, c1[i], {}).has_value());
  }
}

}  // namespace
}  // namespace medmesh::store
