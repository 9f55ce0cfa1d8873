#include "crypto/envelope.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "testing/fake_random.h"

namespace medmesh::crypto {
namespace {

// Must match envelope_fuzzer.cc.
constexpr std::uint64_t kFuzzKekSeed = 0xe4e1;
constexpr std::string_view kFuzzAd = "medmesh fuzz";

void ExpectOpaqueFailure(const Result<Bytes>& r) {
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(IsAuthenticationFailure(r.error())) << r.error().ToString();
}

const DataKeyContext kAliceMi{"patient-alice", "mi"};
const DataKeyContext kAliceEi{"patient-alice", "ei"};
const DataKeyContext kBobMi{"patient-bob", "mi"};

class EnvelopeTest : public ::testing::Test {
 protected:
  testing::DeterministicRandom random_{31};
  InMemoryWrappedKeyStore store_;
  KeyEncryptionKey kek_ = KeyEncryptionKey::Generate(random_);
  EnvelopeAead envelope_{kek_.Clone(), store_, random_};

  Bytes Encrypt(const DataKeyContext& c, std::string_view text, std::string_view ad = "rec-1") {
    return envelope_.Encrypt(c, AsBytes(text), AsBytes(ad)).value();
  }
  std::string Decrypt(const DataKeyContext& c, const Bytes& ct, std::string_view ad = "rec-1") {
    return std::string(AsStringView(envelope_.Decrypt(c, ct, AsBytes(ad)).value()));
  }
};

TEST_F(EnvelopeTest, RoundTripCreatesOneDataKeyPerContext) {
  Bytes a = Encrypt(kAliceMi, "diagnosis: asthma");
  Bytes b = Encrypt(kAliceMi, "medication: salbutamol");
  Bytes c = Encrypt(kBobMi, "diagnosis: none");
  EXPECT_EQ(Decrypt(kAliceMi, a), "diagnosis: asthma");
  EXPECT_EQ(Decrypt(kAliceMi, b), "medication: salbutamol");
  EXPECT_EQ(Decrypt(kBobMi, c), "diagnosis: none");
  EXPECT_EQ(store_.List()->size(), 2U);
  // Ciphertext layout: 46-byte header, then ciphertext and 16-byte tag.
  EXPECT_EQ(a.size(), 46 + std::string_view("diagnosis: asthma").size() + 16);
}

TEST_F(EnvelopeTest, CiphertextIsBoundToItsContextAndAssociatedData) {
  Bytes ct = Encrypt(kAliceMi, "x", "record-7");
  Encrypt(kAliceEi, "y");
  Encrypt(kBobMi, "z");
  ExpectOpaqueFailure(envelope_.Decrypt(kAliceMi, ct, AsBytes("record-8")));
  ExpectOpaqueFailure(envelope_.Decrypt(kAliceEi, ct, AsBytes("record-7")));
  ExpectOpaqueFailure(envelope_.Decrypt(kBobMi, ct, AsBytes("record-7")));
}

TEST_F(EnvelopeTest, EveryFlippedCiphertextByteIsRejected) {
  Bytes ct = Encrypt(kAliceMi, "allergy: penicillin");
  for (std::size_t i = 0; i < ct.size(); ++i) {
    for (int mask : {0x01, 0x80}) {
      Bytes tampered = ct;
      tampered[i] ^= static_cast<std::uint8_t>(mask);
      auto r = envelope_.Decrypt(kAliceMi, tampered, AsBytes("rec-1"));
      ASSERT_FALSE(r.has_value()) << "byte " << i;
      ASSERT_TRUE(IsAuthenticationFailure(r.error())) << "byte " << i;
    }
  }
  for (std::size_t n = 0; n < ct.size(); ++n) {
    ExpectOpaqueFailure(envelope_.Decrypt(kAliceMi, ByteView(ct).first(n), AsBytes("rec-1")));
  }
  Bytes longer = ct;
  longer.push_back(0);
  ExpectOpaqueFailure(envelope_.Decrypt(kAliceMi, longer, AsBytes("rec-1")));
}

TEST_F(EnvelopeTest, EveryFlippedWrappedKeyByteIsRejected) {
  Bytes ct = Encrypt(kAliceMi, "x");
  const Bytes wrapped = store_.Get(kAliceMi).value();
  EXPECT_EQ(wrapped.size(), 110U);
  for (std::size_t i = 0; i < wrapped.size(); ++i) {
    for (int mask : {0x01, 0x80}) {
      Bytes tampered = wrapped;
      tampered[i] ^= static_cast<std::uint8_t>(mask);
      ASSERT_TRUE(store_.Replace(kAliceMi, store_.Get(kAliceMi).value(), tampered));
      auto r = envelope_.Decrypt(kAliceMi, ct, AsBytes("rec-1"));
      ASSERT_FALSE(r.has_value()) << "byte " << i;
      ASSERT_TRUE(IsAuthenticationFailure(r.error())) << "byte " << i;
    }
  }
  for (std::size_t n : {std::size_t{0}, std::size_t{5}, wrapped.size() - 1}) {
    ASSERT_TRUE(store_.Replace(kAliceMi, store_.Get(kAliceMi).value(),
                               Bytes(wrapped.begin(), wrapped.begin() + n)));
    ExpectOpaqueFailure(envelope_.Decrypt(kAliceMi, ct, AsBytes("rec-1")));
  }
  ASSERT_TRUE(store_.Replace(kAliceMi, store_.Get(kAliceMi).value(), wrapped));
  EXPECT_EQ(Decrypt(kAliceMi, ct), "x");
}

TEST_F(EnvelopeTest, WrappedKeyIsBoundToItsContext) {
  Encrypt(kAliceMi, "x");
  Bytes bob_ct = Encrypt(kBobMi, "y");
  // Moving Alice's wrapped key under Bob's name must not unlock anything.
  ASSERT_TRUE(store_.Replace(kBobMi, store_.Get(kBobMi).value(), store_.Get(kAliceMi).value()));
  ExpectOpaqueFailure(envelope_.Decrypt(kBobMi, bob_ct, AsBytes("rec-1")));
  ExpectOpaqueFailure(envelope_.Encrypt(kBobMi, AsBytes("z"), {}));
}

TEST_F(EnvelopeTest, DestroyingADataKeyShredsItsData) {
  Bytes alice = Encrypt(kAliceMi, "shred me");
  Bytes bob = Encrypt(kBobMi, "keep me");
  ASSERT_TRUE(envelope_.DestroyDataKey(kAliceMi));
  auto r = envelope_.Decrypt(kAliceMi, alice, AsBytes("rec-1"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(Decrypt(kBobMi, bob), "keep me");
  EXPECT_EQ(envelope_.DestroyDataKey(kAliceMi).error().code(), ErrorCode::kNotFound);

  // New data for the context gets a new key; the old ciphertext stays unreadable for good.
  Bytes fresh = Encrypt(kAliceMi, "new");
  ExpectOpaqueFailure(envelope_.Decrypt(kAliceMi, alice, AsBytes("rec-1")));
  EXPECT_EQ(Decrypt(kAliceMi, fresh), "new");
}

TEST_F(EnvelopeTest, KekRotationRewrapsKeysWithoutTouchingData) {
  Bytes a = Encrypt(kAliceMi, "a");
  Bytes b = Encrypt(kBobMi, "b");
  const Bytes old_wrapped = store_.Get(kAliceMi).value();
  EXPECT_EQ(WrappedKeyKekId(old_wrapped).value(), kek_.key_id());

  KeyEncryptionKey new_kek = KeyEncryptionKey::Generate(random_);
  const KeyId new_id = new_kek.key_id();
  auto report = envelope_.RotateKek(new_kek.Clone());
  ASSERT_TRUE(report);
  EXPECT_EQ(report->rewrapped, 2U);
  EXPECT_EQ(report->unreadable, 0U);
  EXPECT_EQ(envelope_.current_kek_id(), new_id);
  EXPECT_EQ(WrappedKeyKekId(store_.Get(kAliceMi).value()).value(), new_id);
  EXPECT_NE(store_.Get(kAliceMi).value(), old_wrapped);

  // Rotating to the current KEK again finds nothing to do.
  auto again = envelope_.RotateKek(new_kek.Clone());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->already_current, 2U);
  EXPECT_EQ(again->rewrapped, 0U);

  // The very same data ciphertexts still decrypt, now through the new KEK alone.
  ASSERT_TRUE(envelope_.RetireKek(kek_.key_id()));
  EXPECT_EQ(Decrypt(kAliceMi, a), "a");
  EXPECT_EQ(Decrypt(kBobMi, b), "b");
  EnvelopeAead new_only(std::move(new_kek), store_, random_);
  EXPECT_EQ(std::string(AsStringView(new_only.Decrypt(kAliceMi, a, AsBytes("rec-1")).value())),
            "a");
}

TEST_F(EnvelopeTest, OldKekIsNeededUntilRotationFinishes) {
  Bytes a = Encrypt(kAliceMi, "a");
  // A node restarted with only a new KEK cannot read keys still under the old one.
  EnvelopeAead fresh(KeyEncryptionKey::Generate(random_), store_, random_);
  ExpectOpaqueFailure(fresh.Decrypt(kAliceMi, a, AsBytes("rec-1")));
  fresh.AddOldKek(kek_.Clone());
  EXPECT_TRUE(fresh.Decrypt(kAliceMi, a, AsBytes("rec-1")));

  EXPECT_EQ(fresh.RetireKek(kek_.key_id()).error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(fresh.RetireKek(fresh.current_kek_id()).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(fresh.RetireKek(KeyId{}).error().code(), ErrorCode::kNotFound);
}

TEST_F(EnvelopeTest, RotationCountsUnreadableKeysAndGoesOn) {
  Encrypt(kAliceMi, "a");
  Encrypt(kBobMi, "b");
  Bytes broken = store_.Get(kBobMi).value();
  broken.back() ^= 1;
  ASSERT_TRUE(store_.Replace(kBobMi, store_.Get(kBobMi).value(), broken));
  auto report = envelope_.RotateKek(KeyEncryptionKey::Generate(random_));
  ASSERT_TRUE(report);
  EXPECT_EQ(report->rewrapped, 1U);
  EXPECT_EQ(report->unreadable, 1U);
}

TEST_F(EnvelopeTest, ConcurrentFirstUseCreatesOneKey) {
  SystemRandom thread_safe_random;  // DeterministicRandom is not thread-safe
  EnvelopeAead envelope(kek_.Clone(), store_, thread_safe_random);
  std::vector<Bytes> cts(4);
  std::vector<std::thread> threads;
  threads.reserve(cts.size());
  for (auto& ct : cts) {
    threads.emplace_back([&] { ct = envelope.Encrypt(kAliceMi, AsBytes("x"), {}).value(); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_.List()->size(), 1U);
  for (const Bytes& ct : cts) EXPECT_TRUE(envelope.Decrypt(kAliceMi, ct, {}));
}

// Writers creating new data keys while a rotation runs: once RotateKek returns, no stored key
// names the old KEK (the switch waits for wraps in flight), so RetireKek succeeds at once, and
// every ciphertext written before, during and after still decrypts.
TEST_F(EnvelopeTest, RotationUnderConcurrentWritersLeavesNothingUnderTheOldKek) {
  SystemRandom thread_safe_random;
  EnvelopeAead envelope(kek_.Clone(), store_, thread_safe_random);
  constexpr int kWriters = 3;
  constexpr int kKeysPerWriter = 60;
  std::vector<std::vector<std::pair<DataKeyContext, Bytes>>> written(kWriters);
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kKeysPerWriter; ++i) {
        DataKeyContext c{"p-" + std::to_string(w) + "-" + std::to_string(i), "qi"};
        written[w].emplace_back(c, envelope.Encrypt(c, AsBytes("x"), {}).value());
        if (i == 5) started.fetch_add(1);
      }
    });
  }
  while (started.load() < kWriters) std::this_thread::yield();
  KeyEncryptionKey new_kek = KeyEncryptionKey::Generate(random_);
  auto report = envelope.RotateKek(new_kek.Clone());
  ASSERT_TRUE(report);
  EXPECT_EQ(report->unreadable, 0U);
  EXPECT_TRUE(envelope.RetireKek(kek_.key_id()));
  for (auto& t : threads) t.join();
  EXPECT_EQ(envelope.kek_ids(), std::vector<KeyId>{new_kek.key_id()});
  EnvelopeAead new_only(std::move(new_kek), store_, random_);
  for (const auto& of_writer : written) {
    for (const auto& [context, ct] : of_writer) {
      EXPECT_TRUE(new_only.Decrypt(context, ct, {}));
    }
  }
}

TEST_F(EnvelopeTest, KekIdsListCurrentAndOlderKeks) {
  KeyEncryptionKey older = KeyEncryptionKey::Generate(random_);
  envelope_.AddOldKek(older.Clone());
  std::vector<KeyId> ids = envelope_.kek_ids();
  std::sort(ids.begin(), ids.end());
  std::vector<KeyId> expected{kek_.key_id(), older.key_id()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);
}

TEST_F(EnvelopeTest, OpenedDataKeyDecryptsItsContextOnly) {
  const Bytes a = Encrypt(kAliceMi, "hr 61", "row-1");
  const Bytes b = Encrypt(kAliceMi, "hr 62", "row-2");
  const Bytes other = Encrypt(kAliceEi, "name", "row-1");
  auto key = envelope_.OpenDataKey(kAliceMi);
  ASSERT_TRUE(key.has_value()) << key.error().ToString();
  EXPECT_EQ(AsStringView(key->Decrypt(a, AsBytes("row-1")).value()), "hr 61");
  EXPECT_EQ(AsStringView(key->Decrypt(b, AsBytes("row-2")).value()), "hr 62");
  ExpectOpaqueFailure(key->Decrypt(a, AsBytes("row-2")));
  ExpectOpaqueFailure(key->Decrypt(other, AsBytes("row-1")));
  for (std::size_t i = 0; i < a.size(); ++i) {
    Bytes bad = a;
    bad[i] ^= 0x01;
    ExpectOpaqueFailure(key->Decrypt(bad, AsBytes("row-1")));
  }
  EXPECT_EQ(envelope_.OpenDataKey(kBobMi).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(envelope_.OpenDataKey({"", "mi"}).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(EnvelopeTest, EncryptAllSealsEachUnderOneKeyAndItsOwnAssociatedData) {
  const std::vector<Bytes> plain = {Bytes{1, 2, 3}, Bytes{}, Bytes{9}};
  const std::vector<Bytes> ads = {Bytes{'a'}, Bytes{'b'}, Bytes{'c'}};
  auto all = envelope_.EncryptAll(kAliceMi, plain, ads);
  ASSERT_TRUE(all.has_value()) << all.error().ToString();
  ASSERT_EQ(all->size(), 3U);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(envelope_.Decrypt(kAliceMi, (*all)[i], ads[i]).value(), plain[i]);
    ExpectOpaqueFailure(envelope_.Decrypt(kAliceMi, (*all)[i], ads[(i + 1) % 3]));
  }
  EXPECT_NE((*all)[0], envelope_.EncryptAll(kAliceMi, plain, ads).value()[0]);  // fresh nonces
  EXPECT_EQ(envelope_.EncryptAll(kAliceMi, plain, {}).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(envelope_.EncryptAll(kBobMi, {}, {}).value().empty());
}

TEST_F(EnvelopeTest, BadContextsAreRefused) {
  EXPECT_EQ(envelope_.Encrypt({"", "mi"}, AsBytes("x"), {}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(envelope_.Encrypt({std::string(256, 'p'), "mi"}, AsBytes("x"), {}).error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(envelope_.Decrypt({"p", ""}, Bytes(100), {}).error().code(),
            ErrorCode::kInvalidArgument);
}

TEST(KeyEncryptionKeyTest, IdIsStableAndLengthChecked) {
  auto a = KeyEncryptionKey::FromBytes(Bytes(32, 9));
  auto b = KeyEncryptionKey::FromBytes(Bytes(32, 9));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->key_id(), b->key_id());
  EXPECT_FALSE(KeyEncryptionKey::FromBytes(Bytes(31)));
  EXPECT_FALSE(KeyEncryptionKey::FromBytes(Bytes(33)));
}

// --- Seed corpus for envelope_fuzzer -----------------------------------------------------------
// A fuzz input is: u8 length of the wrapped key, the wrapped key, then the data ciphertext.

std::filesystem::path CorpusDir() {
  return std::filesystem::path(MEDMESH_CRYPTO_FUZZ_CORPUS_DIR) / "envelope";
}

KeyEncryptionKey FuzzKek() {
  testing::DeterministicRandom random(kFuzzKekSeed);
  return KeyEncryptionKey::Generate(random);
}

const DataKeyContext kFuzzContext{"fuzz-patient", "mi"};

Bytes FuzzInput(ByteView wrapped, ByteView ciphertext) {
  Bytes out;
  AppendU8(out, static_cast<std::uint8_t>(wrapped.size()));
  AppendBytes(out, wrapped);
  AppendBytes(out, ciphertext);
  return out;
}

void WriteFile(const std::filesystem::path& p, ByteView data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

TEST(EnvelopeCorpus, DISABLED_WriteSeedCorpus) {
  testing::DeterministicRandom random(3);
  InMemoryWrappedKeyStore store;
  EnvelopeAead envelope(FuzzKek(), store, random);
  Bytes ct = envelope.Encrypt(kFuzzContext, AsBytes("diagnosis: asthma"), AsBytes(kFuzzAd)).value();
  Bytes empty = envelope.Encrypt(kFuzzContext, {}, AsBytes(kFuzzAd)).value();
  Bytes wrapped = store.Get(kFuzzContext).value();
  std::filesystem::create_directories(CorpusDir());
  WriteFile(CorpusDir() / "valid_record", FuzzInput(wrapped, ct));
  WriteFile(CorpusDir() / "valid_empty", FuzzInput(wrapped, empty));
  Bytes bad_wrapped = wrapped;
  bad_wrapped[70] ^= 4;
  WriteFile(CorpusDir() / "invalid_wrapped_flipped", FuzzInput(bad_wrapped, ct));
  WriteFile(CorpusDir() / "invalid_truncated", FuzzInput(wrapped, ByteView(ct).first(30)));
  WriteFile(CorpusDir() / "invalid_empty", {});
}

TEST(EnvelopeCorpus, ValidSeedsStillOpen) {
  int valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    const std::string name = entry.path().filename().string();
    std::ifstream in(entry.path(), std::ios::binary);
    Bytes input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bool opened = false;
    if (!input.empty() && input.size() > input[0]) {
      testing::DeterministicRandom random(4);
      InMemoryWrappedKeyStore store;
      ASSERT_TRUE(
          store.Insert(kFuzzContext, Bytes(input.begin() + 1, input.begin() + 1 + input[0])));
      EnvelopeAead envelope(FuzzKek(), store, random);
      opened =
          envelope.Decrypt(kFuzzContext, ByteView(input).subspan(1 + input[0]), AsBytes(kFuzzAd))
              .has_value();
    }
    EXPECT_EQ(opened, name.starts_with("valid_")) << name;
    if (name.starts_with("valid_")) ++valid;
  }
  EXPECT_GE(valid, 1);
}

}  // namespace
}  // namespace medmesh::crypto
