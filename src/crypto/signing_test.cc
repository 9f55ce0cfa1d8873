#include "crypto/signing.h"

#include <gtest/gtest.h>

#include "testing/fake_random.h"

namespace medmesh::crypto {
namespace {

Bytes Hex(std::string_view hex) { return HexDecode(hex).value(); }

struct Rfc8032Vector {
  std::string_view seed, public_key, message, signature;
};

// RFC 8032 section 7.1, tests 1 and 2.
constexpr Rfc8032Vector kVectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"},
};

TEST(Ed25519Test, Rfc8032KnownAnswers) {
  for (const auto& v : kVectors) {
    auto key = SigningSecretKey::FromSeed(Hex(v.seed));
    ASSERT_TRUE(key);
    EXPECT_EQ(HexEncode(key->public_key().bytes()), v.public_key);
    auto signer = NewEd25519Signer(std::move(key).value());
    EXPECT_EQ(HexEncode(signer->Sign(Hex(v.message))), v.signature);
    auto verifier = NewEd25519Verifier(SigningPublicKey::FromBytes(Hex(v.public_key)).value());
    EXPECT_TRUE(verifier->Verify(Hex(v.message), Hex(v.signature)));
  }
}

class SigningTest : public ::testing::Test {
 protected:
  testing::DeterministicRandom random_{41};
  SigningSecretKey key_ = SigningSecretKey::Generate(random_);
  std::unique_ptr<Signer> signer_ = NewEd25519Signer(key_.Clone());
  std::unique_ptr<Verifier> verifier_ = NewEd25519Verifier(key_.public_key());
};

TEST_F(SigningTest, SignAndVerify) {
  Bytes sig = signer_->Sign(AsBytes("batch 17"));
  EXPECT_EQ(sig.size(), Signer::kSignatureBytes);
  EXPECT_TRUE(verifier_->Verify(AsBytes("batch 17"), sig));
  EXPECT_EQ(signer_->public_key(), verifier_->public_key());
}

TEST_F(SigningTest, EveryFlippedSignatureBitIsRejected) {
  const Bytes message = Bytes(100, 'm');
  const Bytes sig = signer_->Sign(message);
  for (std::size_t bit = 0; bit < sig.size() * 8; ++bit) {
    Bytes tampered = sig;
    tampered[bit / 8] ^= static_cast<std::uint8_t>(1 << (bit % 8));
    Status st = verifier_->Verify(message, tampered);
    ASSERT_FALSE(st) << "bit " << bit;
    ASSERT_TRUE(IsAuthenticationFailure(st.error()));
  }
  for (std::size_t i = 0; i < message.size(); ++i) {
    Bytes tampered = message;
    tampered[i] ^= 0x01;
    ASSERT_FALSE(verifier_->Verify(tampered, sig)) << "message byte " << i;
  }
}

TEST_F(SigningTest, WrongLengthsAndKeysAreRejected) {
  const Bytes sig = signer_->Sign(AsBytes("m"));
  EXPECT_TRUE(
      IsAuthenticationFailure(verifier_->Verify(AsBytes("m"), ByteView(sig).first(63)).error()));
  Bytes longer = sig;
  longer.push_back(0);
  EXPECT_TRUE(IsAuthenticationFailure(verifier_->Verify(AsBytes("m"), longer).error()));
  EXPECT_TRUE(IsAuthenticationFailure(verifier_->Verify(AsBytes("m"), {}).error()));
  auto other = NewEd25519Verifier(SigningSecretKey::Generate(random_).public_key());
  EXPECT_TRUE(IsAuthenticationFailure(other->Verify(AsBytes("m"), sig).error()));
}

TEST_F(SigningTest, FingerprintsAreStableAndDistinct) {
  EXPECT_EQ(key_.public_key().Fingerprint(),
            SigningPublicKey::FromBytes(key_.public_key().bytes())->Fingerprint());
  EXPECT_NE(key_.public_key().Fingerprint(),
            SigningSecretKey::Generate(random_).public_key().Fingerprint());
  EXPECT_EQ(KeyIdHex(key_.public_key().Fingerprint()).size(), 32U);
}

TEST(SigningKeyTest, InvalidKeysAreRejected) {
  EXPECT_FALSE(SigningPublicKey::FromBytes(Bytes(31)));
  EXPECT_FALSE(SigningPublicKey::FromBytes(Bytes(33)));
  Bytes identity(32, 0);
  identity[0] = 1;  // the neutral point: small order
  EXPECT_FALSE(SigningPublicKey::FromBytes(identity));
  EXPECT_FALSE(SigningSecretKey::FromSeed(Bytes(31)));
  EXPECT_TRUE(SigningSecretKey::FromSeed(Bytes(32)));
}

TEST(SigningKeyTest, GenerationUsesInjectedRandomness) {
  testing::DeterministicRandom a(5);
  testing::DeterministicRandom b(5);
  EXPECT_EQ(SigningSecretKey::Generate(a).public_key(), SigningSecretKey::Generate(b).public_key());
}

}  // namespace
}  // namespace medmesh::crypto
