#include "crypto/hybrid_seal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "testing/fake_random.h"

namespace medmesh::crypto {
namespace {

constexpr NtruParamSet kAllSets[] = {NtruParamSet::kHps2048509, NtruParamSet::kHps2048677,
                                     NtruParamSet::kHps4096821, NtruParamSet::kHrss701};

// Must match hybrid_seal_fuzzer.cc: the fuzzer's recipient key and associated data.
constexpr std::uint64_t kFuzzKeySeed = 0x5eed;
constexpr std::string_view kFuzzAd = "medmesh fuzz";

void ExpectOpaqueFailure(const Result<Bytes>& r) {
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(IsAuthenticationFailure(r.error())) << r.error().ToString();
}

class HybridSealTest : public ::testing::Test {
 protected:
  testing::DeterministicRandom random_{11};
  HybridPrivateKey key_ = HybridPrivateKey::Generate(random_);
  std::unique_ptr<HybridSealer> sealer_ = NewHybridSealer(key_.public_key(), random_);
  std::unique_ptr<HybridOpener> opener_ = NewHybridOpener(key_.Clone());
};

TEST_F(HybridSealTest, RoundTripEveryParameterSet) {
  for (NtruParamSet set : kAllSets) {
    HybridPrivateKey key = HybridPrivateKey::Generate(random_, set);
    auto sealer = NewHybridSealer(key.public_key(), random_);
    auto opener = NewHybridOpener(key.Clone());
    for (std::string_view text : {"", "x", "heart_rate_bpm=72;spo2=98"}) {
      auto box = sealer->Seal(AsBytes(text), AsBytes("device-7"));
      ASSERT_TRUE(box) << Info(set).name;
      EXPECT_EQ(box->size(), SealedBoxBytes(set, text.size()));
      auto opened = opener->Open(*box, AsBytes("device-7"));
      ASSERT_TRUE(opened) << Info(set).name;
      EXPECT_EQ(AsStringView(*opened), text);
    }
  }
}

TEST_F(HybridSealTest, HeaderNamesRecipientAndSet) {
  auto box = sealer_->Seal(AsBytes("hello"), {});
  ASSERT_TRUE(box);
  auto header = ParseSealedBoxHeader(*box);
  ASSERT_TRUE(header);
  EXPECT_EQ(header->version, 1);
  EXPECT_EQ(header->algorithm, kHybridAlgorithmId);
  EXPECT_EQ(header->set, kDefaultNtruParamSet);
  EXPECT_EQ(header->recipient_key_id, key_.public_key().key_id());
  EXPECT_EQ(opener_->key_id(), key_.public_key().key_id());
}

TEST_F(HybridSealTest, SealingTwiceGivesDifferentBoxes) {
  auto a = sealer_->Seal(AsBytes("same"), {});
  auto b = sealer_->Seal(AsBytes("same"), {});
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

TEST_F(HybridSealTest, EveryFlippedByteIsRejected) {
  auto box = sealer_->Seal(AsBytes("blood pressure 120/80"), AsBytes("ad"));
  ASSERT_TRUE(box);
  for (std::size_t i = 0; i < box->size(); ++i) {
    for (int mask : {0x01, 0x80}) {
      Bytes tampered = *box;
      tampered[i] ^= static_cast<std::uint8_t>(mask);
      auto r = opener_->Open(tampered, AsBytes("ad"));
      ASSERT_FALSE(r.has_value()) << "byte " << i << " mask " << int(mask);
      ASSERT_TRUE(IsAuthenticationFailure(r.error())) << "byte " << i;
    }
  }
  EXPECT_TRUE(opener_->Open(*box, AsBytes("ad")));
}

TEST_F(HybridSealTest, TruncatedAndOversizedBoxesAreRejected) {
  auto box = sealer_->Seal(AsBytes("glucose 5.4 mmol/L"), {});
  ASSERT_TRUE(box);
  for (std::size_t n = 0; n < box->size(); ++n) {
    ExpectOpaqueFailure(opener_->Open(ByteView(*box).first(n), {}));
  }
  Bytes longer = *box;
  longer.push_back(0);
  ExpectOpaqueFailure(opener_->Open(longer, {}));
  Bytes huge(SealedBoxBytes(key_.set(), kMaxPlaintextBytes) + 1);
  std::copy(box->begin(), box->end(), huge.begin());
  ExpectOpaqueFailure(opener_->Open(huge, {}));
}

TEST_F(HybridSealTest, WrongAssociatedDataIsRejected) {
  auto box = sealer_->Seal(AsBytes("x"), AsBytes("patient-1"));
  ASSERT_TRUE(box);
  ExpectOpaqueFailure(opener_->Open(*box, AsBytes("patient-2")));
  ExpectOpaqueFailure(opener_->Open(*box, {}));
}

TEST_F(HybridSealTest, WrongRecipientIsRejected) {
  HybridPrivateKey other = HybridPrivateKey::Generate(random_);
  auto box = sealer_->Seal(AsBytes("x"), {});
  ASSERT_TRUE(box);
  ExpectOpaqueFailure(NewHybridOpener(std::move(other))->Open(*box, {}));

  // Same keys except the key id in the box: rejected before any decryption.
  Bytes retargeted = *box;
  retargeted[7] ^= 0xff;
  ExpectOpaqueFailure(opener_->Open(retargeted, {}));
}

TEST_F(HybridSealTest, OversizedPlaintextIsRefused) {
  Bytes big(kMaxPlaintextBytes + 1);
  auto r = sealer_->Seal(big, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(HybridSealTest, KeysRoundTripThroughBytes) {
  auto pub = HybridPublicKey::FromBytes(key_.public_key().ToBytes());
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->key_id(), key_.public_key().key_id());
  EXPECT_EQ(pub->ToBytes(), key_.public_key().ToBytes());

  SecretBytes secret = key_.ToBytes();
  auto priv = HybridPrivateKey::FromBytes(secret.reveal());
  ASSERT_TRUE(priv);
  auto box = NewHybridSealer(*pub, random_)->Seal(AsBytes("round trip"), {});
  ASSERT_TRUE(box);
  auto opened = NewHybridOpener(std::move(priv).value())->Open(*box, {});
  ASSERT_TRUE(opened);
  EXPECT_EQ(AsStringView(*opened), "round trip");
}

TEST_F(HybridSealTest, MalformedKeysAreRejected) {
  Bytes pub = key_.public_key().ToBytes();
  EXPECT_FALSE(HybridPublicKey::FromBytes(ByteView(pub).first(pub.size() - 1)));
  Bytes extra = pub;
  extra.push_back(0);
  EXPECT_FALSE(HybridPublicKey::FromBytes(extra));
  Bytes bad_alg = pub;
  bad_alg[0] = 9;
  EXPECT_FALSE(HybridPublicKey::FromBytes(bad_alg));
  Bytes bad_set = pub;
  bad_set[1] = 0;
  EXPECT_FALSE(HybridPublicKey::FromBytes(bad_set));
  Bytes low_order = pub;
  std::fill(low_order.end() - kX25519Bytes, low_order.end(), 0);
  auto r = HybridPublicKey::FromBytes(low_order);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);

  SecretBytes secret = key_.ToBytes();
  EXPECT_FALSE(HybridPrivateKey::FromBytes(secret.reveal().first(secret.size() - 1)));
}

TEST_F(HybridSealTest, PrivateKeyWithForeignNtruPublicKeyIsRejected) {
  HybridPrivateKey other = HybridPrivateKey::Generate(random_);
  SecretBytes mine = key_.ToBytes();
  SecretBytes theirs = other.ToBytes();
  const std::size_t pk_bytes = Info(key_.set()).public_key_bytes;
  // The NTRU public key is the tail of the encoding.
  SecretBytes mixed = mine.Clone();
  std::copy(theirs.reveal().end() - static_cast<std::ptrdiff_t>(pk_bytes), theirs.reveal().end(),
            mixed.mutable_bytes().end() - static_cast<std::ptrdiff_t>(pk_bytes));
  auto r = HybridPrivateKey::FromBytes(mixed.reveal());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message().find("do not match"), std::string::npos);
}

TEST_F(HybridSealTest, HeaderParserGivesSpecificErrors) {
  EXPECT_FALSE(ParseSealedBoxHeader({}));
  auto box = sealer_->Seal(AsBytes("x"), {});
  ASSERT_TRUE(box);
  Bytes bad = *box;
  bad[4] = 2;
  auto r = ParseSealedBoxHeader(bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "unsupported sealed box version");
}

// --- Seed corpus for hybrid_seal_fuzzer --------------------------------------------------------

std::filesystem::path CorpusDir() {
  return std::filesystem::path(MEDMESH_CRYPTO_FUZZ_CORPUS_DIR) / "hybrid_seal";
}

HybridPrivateKey FuzzKey() {
  testing::DeterministicRandom random(kFuzzKeySeed);
  return HybridPrivateKey::Generate(random);
}

Bytes ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const std::filesystem::path& p, ByteView data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Regenerates the committed seeds: run with --gtest_also_run_disabled_tests
// --gtest_filter='*WriteSeedCorpus*' after a deliberate format change.
TEST(HybridSealCorpus, DISABLED_WriteSeedCorpus) {
  testing::DeterministicRandom random(1);
  HybridPrivateKey key = FuzzKey();
  auto sealer = NewHybridSealer(key.public_key(), random);
  std::filesystem::create_directories(CorpusDir());
  Bytes small = sealer->Seal(AsBytes("heart_rate_bpm=72"), AsBytes(kFuzzAd)).value();
  WriteFile(CorpusDir() / "valid_small", small);
  WriteFile(CorpusDir() / "valid_empty", sealer->Seal({}, AsBytes(kFuzzAd)).value());
  WriteFile(CorpusDir() / "valid_1k", sealer->Seal(Bytes(1024, 'a'), AsBytes(kFuzzAd)).value());
  WriteFile(CorpusDir() / "invalid_truncated", ByteView(small).first(small.size() / 2));
  Bytes flipped = small;
  flipped[flipped.size() - 3] ^= 0x10;
  WriteFile(CorpusDir() / "invalid_flipped_tag", flipped);
  Bytes magic = small;
  magic[0] = 'X';
  WriteFile(CorpusDir() / "invalid_magic", magic);
  HybridPrivateKey other = HybridPrivateKey::Generate(random, NtruParamSet::kHps2048509);
  WriteFile(CorpusDir() / "invalid_other_set",
            NewHybridSealer(other.public_key(), random)->Seal(AsBytes("x"), {}).value());
}

TEST(HybridSealCorpus, ValidSeedsStillOpen) {
  auto opener = NewHybridOpener(FuzzKey());
  int valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    const std::string name = entry.path().filename().string();
    auto r = opener->Open(ReadFile(entry.path()), AsBytes(kFuzzAd));
    if (name.starts_with("valid_")) {
      EXPECT_TRUE(r) << name;
      ++valid;
    } else {
      EXPECT_FALSE(r) << name;
    }
  }
  EXPECT_GE(valid, 1);
}

}  // namespace
}  // namespace medmesh::crypto
