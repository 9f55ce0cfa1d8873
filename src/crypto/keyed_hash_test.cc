#include "crypto/keyed_hash.h"

#include <gtest/gtest.h>

namespace medmesh::crypto {
namespace {

// Every expected value below is independent of this code: Python's hashlib and hmac, with
// parts encoded as struct.pack("<Q", len(part)) + part. They pin layouts that are persisted.

Bytes Sequence(std::size_t n) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(i);
  return out;
}

HashKey TestKey() { return HashKey::FromBytes(Sequence(HashKey::kBytes)).value(); }

TEST(Blake2b256Test, KnownAnswers) {
  // hashlib.blake2b(b"abc", digest_size=32)
  EXPECT_EQ(HexEncode(Blake2b256(AsBytes("abc"))),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  EXPECT_EQ(HexEncode(Blake2b256Parts({AsBytes("ab"), AsBytes("c")})),
            "20263e794775e4edf2b306c0f306af9e50175c831c857604b481e847f790bf95");
}

TEST(Blake2b256Test, PartsAreLengthPrefixed) {
  EXPECT_NE(Blake2b256Parts({AsBytes("ab"), AsBytes("c")}),
            Blake2b256Parts({AsBytes("a"), AsBytes("bc")}));
  EXPECT_NE(Blake2b256Parts({AsBytes("abc")}), Blake2b256(AsBytes("abc")));
}

TEST(KeyedBlake2b256Test, KnownAnswers) {
  // hashlib.blake2b(b"abc", digest_size=32, key=bytes(range(32)))
  EXPECT_EQ(HexEncode(KeyedBlake2b256(TestKey(), AsBytes("abc"))),
            "d63a32d3e44738d7907f964316c241adaba0abfeabc32349677578a15a203f7f");
  EXPECT_EQ(HexEncode(KeyedBlake2b256Parts(TestKey(), {AsBytes("device"), AsBytes("dev-1")})),
            "ce91c1e4f975271d44fe636aa2d0aee5e2cf98dede935683187fbb0219434fa4");
}

TEST(KeyedBlake2b256Test, DiffersFromUnkeyedAndAcrossKeys) {
  const HashKey other = HashKey::FromBytes(Bytes(HashKey::kBytes, 0x5a)).value();
  EXPECT_NE(KeyedBlake2b256(TestKey(), AsBytes("abc")), Blake2b256(AsBytes("abc")));
  EXPECT_NE(KeyedBlake2b256(TestKey(), AsBytes("abc")), KeyedBlake2b256(other, AsBytes("abc")));
}

// The cloud intake's device references (persisted): HKDF-SHA256(index key, "MedMesh cloud
// intake v1", "references"), then keyed parts ("device", device id).
TEST(HashKeyTest, DerivedKeyKnownAnswer) {
  const SecretBytes root(Bytes(32, 0x11));
  const HashKey refs = HashKey::Derive(root, "MedMesh cloud intake v1", "references").value();
  EXPECT_EQ(HexEncode(KeyedBlake2b256Parts(refs, {AsBytes("device"), AsBytes("dev-1")})),
            "40b9dbc523c0cdb2408d6c0ab55f01424e136773a3a1c1c5ca88c65a0cfc1112");
}

TEST(HashKeyTest, PurposesGiveDifferentKeys) {
  const SecretBytes root(Bytes(32, 0x11));
  EXPECT_FALSE(HashKey::Derive(root, "salt", "one").value() ==
               HashKey::Derive(root, "salt", "two").value());
  EXPECT_TRUE(HashKey::Derive(root, "salt", "one").value() ==
              HashKey::Derive(root, "salt", "one").value());
}

TEST(HashKeyTest, OnlyThirtyTwoBytes) {
  EXPECT_EQ(HashKey::FromBytes(Bytes(31)).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(HashKey::FromBytes(Bytes(33)).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(HashKey::FromBytes(Bytes(32)));
}

TEST(HmacSha256Test, KnownAnswer) {
  // hmac.new(bytes(range(32)), b"abc", hashlib.sha256)
  EXPECT_EQ(HexEncode(HmacSha256(TestKey(), AsBytes("abc"))),
            "f0133729c4163dede81e21cd47839256da58171238c8a0d874397c73b14e1e47");
}

TEST(Blake2b256CommitmentTest, KnownAnswer) {
  CommitmentNonce nonce{};
  for (std::size_t i = 0; i < nonce.size(); ++i) nonce[i] = static_cast<std::uint8_t>(i);
  // hashlib.blake2b(b"payload", digest_size=32, key=bytes(range(16)))
  EXPECT_EQ(HexEncode(Blake2b256Commitment(nonce, AsBytes("payload"))),
            "a98ce82c9c277b220e4d7b25a4752df9f3dde1f329a19c386692b71324f2c4e6");
}

}  // namespace
}  // namespace medmesh::crypto
