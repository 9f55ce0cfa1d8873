#include "crypto/kdf.h"

#include <gtest/gtest.h>

namespace medmesh::crypto {
namespace {

Bytes Hex(std::string_view hex) { return HexDecode(hex).value(); }

TEST(HkdfSha256Test, Rfc5869TestCase1) {
  Bytes ikm(22, 0x0b);
  Bytes salt = Hex("000102030405060708090a0b0c");
  Bytes info = Hex("f0f1f2f3f4f5f6f7f8f9");
  auto okm = HkdfSha256(ikm, salt, info, 42);
  ASSERT_TRUE(okm);
  EXPECT_EQ(HexEncode(okm->reveal()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(HkdfSha256Test, Rfc5869TestCase3EmptySaltAndInfo) {
  Bytes ikm(22, 0x0b);
  auto okm = HkdfSha256(ikm, {}, {}, 42);
  ASSERT_TRUE(okm);
  EXPECT_EQ(HexEncode(okm->reveal()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(KeyIdTest, IsKeyedBlake2b128OfTheData) {
  // Independent value: Python hashlib.blake2b(b"abc", digest_size=16, key=b"MedMesh test domain")
  EXPECT_EQ(KeyIdHex(ComputeKeyId("MedMesh test domain", AsBytes("abc"))),
            "847dd167be5da3af6b7082440caac34a");
  EXPECT_NE(ComputeKeyId("MedMesh domain one", AsBytes("abc")),
            ComputeKeyId("MedMesh domain two", AsBytes("abc")));
}

// draft-irtf-cfrg-xchacha-03, appendix A.3.1.
TEST(XChaCha20Poly1305Test, KnownAnswer) {
  SecretBytes key(Hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"));
  Bytes nonce = Hex("404142434445464748494a4b4c4d4e4f5051525354555657");
  Bytes ad = Hex("50515253c0c1c2c3c4c5c6c7");
  std::string_view plaintext =
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the "
      "future, sunscreen would be it.";
  Bytes out;
  XChaCha20Poly1305Seal(key, nonce, ad, AsBytes(plaintext), out);
  EXPECT_EQ(HexEncode(out),
            "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa644"
            "0bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e"
            "3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e"
            "c0875924c1c7987947deafd8780acf49");

  Bytes decrypted(plaintext.size());
  ASSERT_TRUE(XChaCha20Poly1305Open(key, nonce, ad, out, decrypted));
  EXPECT_EQ(AsStringView(decrypted), plaintext);
}

TEST(XChaCha20Poly1305Test, FailureIsOpaqueAndZeroesOutput) {
  SecretBytes key(Bytes(32, 7));
  Bytes nonce(24, 1);
  Bytes sealed;
  XChaCha20Poly1305Seal(key, nonce, AsBytes("ad"), AsBytes("secret data"), sealed);
  sealed[0] ^= 1;
  Bytes out(sealed.size() - kAeadTagBytes, 0xee);
  Status st = XChaCha20Poly1305Open(key, nonce, AsBytes("ad"), sealed, out);
  ASSERT_FALSE(st);
  EXPECT_TRUE(IsAuthenticationFailure(st.error()));
  EXPECT_EQ(st.error().message(), "authentication failed");
  EXPECT_EQ(out, Bytes(out.size(), 0));

  // Wrong output size and a ciphertext shorter than a tag fail the same way.
  Bytes wrong_size(3);
  EXPECT_TRUE(IsAuthenticationFailure(
      XChaCha20Poly1305Open(key, nonce, AsBytes("ad"), sealed, wrong_size).error()));
  Bytes none;
  EXPECT_TRUE(
      IsAuthenticationFailure(XChaCha20Poly1305Open(key, nonce, {}, Bytes(5), none).error()));
}

}  // namespace
}  // namespace medmesh::crypto
