#include "wire/node_request.h"

#include <gtest/gtest.h>

#include "wire/internal/fuzz_fixtures.h"

namespace medmesh::wire {
namespace {

using fuzz::kNowMs;

crypto::SigningSecretKey CloudletKey() { return fuzz::SigningKey(0xc1e7); }

Bytes CloudletCertificate() {
  auto root = crypto::NewEd25519Signer(fuzz::RootKey());
  return IssueCertificate({.role = CertificateRole::kCloudlet,
                           .subject_id = "cloudlet-1",
                           .signing_key = CloudletKey().public_key(),
                           .kem_key = fuzz::CloudKemKey().public_key(),
                           .not_before_ms = fuzz::kNotBeforeMs,
                           .not_after_ms = fuzz::kNotAfterMs},
                          *root)
      .value();
}

class NodeRequestTest : public ::testing::Test {
 protected:
  std::string Sign(std::string_view callee, std::string_view target, std::int64_t at) {
    return SignNodeRequest(*signer_, cert_, callee, target, at).value();
  }
  Result<VerifiedCertificate> Verify(std::string_view header,
                                     CertificateRole role = CertificateRole::kCloudlet) {
    return VerifyNodeRequest(header, fuzz::RootKey().public_key(), role, "cloud", "/a/b", kNowMs);
  }
  std::unique_ptr<crypto::Signer> signer_ = crypto::NewEd25519Signer(CloudletKey());
  Bytes cert_ = CloudletCertificate();
};

TEST_F(NodeRequestTest, VerifiesForItsCalleePathAndWindow) {
  auto caller = Verify(Sign("cloud", "/a/b", kNowMs - 1000));
  ASSERT_TRUE(caller) << caller.error().ToString();
  EXPECT_EQ(caller->certificate().subject_id, "cloudlet-1");
  EXPECT_TRUE(Verify(Sign("cloud", "/a/b", kNowMs + kNodeRequestSkewMs)));

  const auto refused = [](const Result<VerifiedCertificate>& r) {
    return !r && r.error().code() == ErrorCode::kUnauthenticated;
  };
  EXPECT_TRUE(refused(Verify("")));
  EXPECT_TRUE(refused(Verify("Bearer abc")));
  EXPECT_TRUE(refused(Verify("MedMesh-Node zz")));
  EXPECT_TRUE(refused(Verify(Sign("cloud-2", "/a/b", kNowMs))));
  EXPECT_TRUE(refused(Verify(Sign("cloud", "/a/c", kNowMs))));
  EXPECT_TRUE(refused(Verify(Sign("cloud", "/a/b", kNowMs - kNodeRequestSkewMs - 1))));
  EXPECT_TRUE(refused(Verify(Sign("cloud", "/a/b", kNowMs + kNodeRequestSkewMs + 1))));
  // The certificate must be of the expected role.
  EXPECT_TRUE(refused(Verify(Sign("cloud", "/a/b", kNowMs), CertificateRole::kCloud)));
  // Signed with another key than the certificate's.
  auto other = crypto::NewEd25519Signer(fuzz::SigningKey(0xbad));
  EXPECT_TRUE(refused(Verify(SignNodeRequest(*other, cert_, "cloud", "/a/b", kNowMs).value())));
}

TEST_F(NodeRequestTest, EveryFlippedByteIsRefused) {
  const std::string header = Sign("cloud", "/a/b", kNowMs);
  const std::string prefix = std::string(kNodeRequestScheme) + " ";
  const Bytes raw = HexDecode(header.substr(prefix.size())).value();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    Bytes flipped = raw;
    flipped[i] ^= 0x01;
    EXPECT_FALSE(Verify(prefix + HexEncode(flipped))) << i;
  }
  EXPECT_FALSE(Verify(prefix + HexEncode(ByteView(raw).first(raw.size() - 1))));
}

}  // namespace
}  // namespace medmesh::wire
