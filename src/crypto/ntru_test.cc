// Tests of the C++ NTRU API (typed keys, Kem). The KATs, rejection and constant-time checks of
// the underlying C library live in src/crypto/ntru/.
#include "crypto/ntru.h"

#include <gtest/gtest.h>

#include "testing/fake_random.h"

namespace medmesh::crypto {
namespace {

constexpr NtruParamSet kAllSets[] = {NtruParamSet::kHps2048509, NtruParamSet::kHps2048677,
                                     NtruParamSet::kHps4096821, NtruParamSet::kHrss701};

TEST(NtruKemTest, RoundTripEverySet) {
  testing::DeterministicRandom random(7);
  for (NtruParamSet set : kAllSets) {
    auto kem = NewNtruKem(set);
    auto kp = kem->GenerateKeyPair(random);
    auto enc = kem->Encapsulate(kp.public_key, random);
    ASSERT_TRUE(enc) << Info(set).name;
    EXPECT_EQ(enc->ciphertext.size(), Info(set).ciphertext_bytes);
    auto ss = kem->Decapsulate(kp.secret_key, enc->ciphertext);
    ASSERT_TRUE(ss);
    EXPECT_TRUE(*ss == enc->shared_secret) << Info(set).name;
  }
}

TEST(NtruKemTest, DeterministicWithInjectedRandomness) {
  auto kem = NewNtruKem();
  testing::DeterministicRandom r1(42);
  testing::DeterministicRandom r2(42);
  auto a = kem->GenerateKeyPair(r1);
  auto b = kem->GenerateKeyPair(r2);
  EXPECT_TRUE(std::equal(a.public_key.bytes().begin(), a.public_key.bytes().end(),
                         b.public_key.bytes().begin(), b.public_key.bytes().end()));
}

TEST(NtruKemTest, RejectsWrongSizesAndSets) {
  EXPECT_FALSE(NtruPublicKey::FromBytes(NtruParamSet::kHps2048677, Bytes(929)));
  EXPECT_FALSE(NtruSecretKey::FromBytes(NtruParamSet::kHps2048677, Bytes(1235)));
  Bytes non_canonical(930, 0);
  non_canonical.back() = 0xf0;  // the 4 unused bits of the last byte
  EXPECT_FALSE(NtruPublicKey::FromBytes(NtruParamSet::kHps2048677, non_canonical));

  testing::DeterministicRandom random(3);
  auto kem677 = NewNtruKem(NtruParamSet::kHps2048677);
  auto kem509 = NewNtruKem(NtruParamSet::kHps2048509);
  auto kp = kem677->GenerateKeyPair(random);
  auto wrong_set = kem509->Encapsulate(kp.public_key, random);
  ASSERT_FALSE(wrong_set);
  EXPECT_EQ(wrong_set.error().code(), ErrorCode::kInvalidArgument);
  auto short_ct = kem677->Decapsulate(kp.secret_key, Bytes(100));
  ASSERT_FALSE(short_ct);
  EXPECT_EQ(short_ct.error().code(), ErrorCode::kInvalidArgument);
}

TEST(NtruKemTest, TamperedCiphertextGivesDifferentKeyNotError) {
  testing::DeterministicRandom random(9);
  auto kem = NewNtruKem();
  auto kp = kem->GenerateKeyPair(random);
  auto enc = kem->Encapsulate(kp.public_key, random);
  ASSERT_TRUE(enc);
  Bytes ct = enc->ciphertext;
  ct[17] ^= 0x04;
  auto ss = kem->Decapsulate(kp.secret_key, ct);
  ASSERT_TRUE(ss);
  EXPECT_FALSE(*ss == enc->shared_secret);
}

TEST(NtruKemTest, NamesAndIds) {
  EXPECT_EQ(NtruParamSetFromName("ntruhps2048677"), NtruParamSet::kHps2048677);
  EXPECT_EQ(NtruParamSetFromName("ntruhrss701"), NtruParamSet::kHrss701);
  EXPECT_FALSE(NtruParamSetFromName("ntru"));
  EXPECT_EQ(NtruParamSetFromId(4), NtruParamSet::kHrss701);
  EXPECT_FALSE(NtruParamSetFromId(0));
  EXPECT_FALSE(NtruParamSetFromId(5));
}

}  // namespace
}  // namespace medmesh::crypto
