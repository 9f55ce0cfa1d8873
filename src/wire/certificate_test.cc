#include "wire/certificate.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "testing/fake_random.h"
#include "wire/internal/fuzz_fixtures.h"
#include "wire/model.h"

namespace medmesh::wire {
namespace {

using fuzz::kNotAfterMs;
using fuzz::kNotBeforeMs;
using fuzz::kNowMs;

void ExpectOpaque(const Result<VerifiedCertificate>& r) {
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(crypto::IsAuthenticationFailure(r.error())) << r.error().ToString();
}

void ExpectCode(const Result<VerifiedCertificate>& r, ErrorCode code) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), code) << r.error().ToString();
}

class CertificateTest : public ::testing::Test {
 protected:
  Certificate CloudletCert() const {
    return {.role = CertificateRole::kCloudlet,
            .subject_id = "cloudlet-1",
            .signing_key = node_.public_key(),
            .kem_key = kem_.public_key(),
            .not_before_ms = kNotBeforeMs,
            .not_after_ms = kNotAfterMs};
  }
  Bytes Issue(const Certificate& c) const { return IssueCertificate(c, *root_signer_).value(); }

  testing::DeterministicRandom random_{41};
  crypto::SigningSecretKey root_ = crypto::SigningSecretKey::Generate(random_);
  std::unique_ptr<crypto::Signer> root_signer_ = crypto::NewEd25519Signer(root_.Clone());
  crypto::SigningSecretKey node_ = crypto::SigningSecretKey::Generate(random_);
  crypto::HybridPrivateKey kem_ = crypto::HybridPrivateKey::Generate(random_);
};

TEST_F(CertificateTest, IssuedCertificateVerifiesAndRoundTrips) {
  const Bytes encoded = Issue(CloudletCert());
  auto verified =
      VerifyCertificate(encoded, root_.public_key(), CertificateRole::kCloudlet, kNowMs);
  ASSERT_TRUE(verified.has_value()) << verified.error().ToString();
  const Certificate& c = verified->certificate();
  EXPECT_EQ(c.role, CertificateRole::kCloudlet);
  EXPECT_EQ(c.subject_id, "cloudlet-1");
  EXPECT_EQ(c.signing_key, node_.public_key());
  ASSERT_TRUE(c.kem_key.has_value());
  EXPECT_EQ(c.kem_key->ToBytes(), kem_.public_key().ToBytes());
  EXPECT_EQ(c.not_before_ms, kNotBeforeMs);
  EXPECT_EQ(c.not_after_ms, kNotAfterMs);
  EXPECT_EQ(verified->signed_certificate().issuer_key_id, root_.public_key().Fingerprint());
  EXPECT_EQ(Bytes(verified->encoded().begin(), verified->encoded().end()), encoded);
  EXPECT_EQ(AsStringView(ByteView(encoded).first(4)), "MMCT");
  // Signing is deterministic: issuing again gives the same bytes.
  EXPECT_EQ(Issue(CloudletCert()), encoded);
}

TEST_F(CertificateTest, RootCertificateIsSelfSigned) {
  const Bytes encoded = Issue({.role = CertificateRole::kRoot,
                               .subject_id = "root",
                               .signing_key = root_.public_key(),
                               .kem_key = std::nullopt,
                               .not_before_ms = kNotBeforeMs,
                               .not_after_ms = kNotAfterMs});
  EXPECT_TRUE(VerifyCertificate(encoded, root_.public_key(), CertificateRole::kRoot, kNowMs));
  // A root certificate for another key cannot be issued.
  auto other = IssueCertificate({.role = CertificateRole::kRoot,
                                 .subject_id = "root",
                                 .signing_key = node_.public_key(),
                                 .kem_key = std::nullopt,
                                 .not_before_ms = kNotBeforeMs,
                                 .not_after_ms = kNotAfterMs},
                                *root_signer_);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(CertificateTest, IssueRefusesBrokenRules) {
  auto refused = [&](const Certificate& c) {
    auto r = IssueCertificate(c, *root_signer_);
    return !r && r.error().code() == ErrorCode::kInvalidArgument;
  };
  Certificate c = CloudletCert();
  c.kem_key.reset();
  EXPECT_TRUE(refused(c));  // a cloudlet needs a KEM key
  c = CloudletCert();
  c.role = CertificateRole::kCloud;
  c.kem_key.reset();
  EXPECT_TRUE(refused(c));
  c = CloudletCert();
  c.subject_id = "no spaces";
  EXPECT_TRUE(refused(c));
  c = CloudletCert();
  c.not_before_ms = c.not_after_ms + 1;
  EXPECT_TRUE(refused(c));
  c = CloudletCert();
  c.not_after_ms = kMaxTimeMs + 1;
  EXPECT_TRUE(refused(c));
  c = CloudletCert();
  c.role = static_cast<CertificateRole>(9);
  EXPECT_TRUE(refused(c));
  c = CloudletCert();
  c.role = CertificateRole::kRoot;
  c.signing_key = root_.public_key();
  EXPECT_TRUE(refused(c));  // a root certificate carries no KEM key
  c = CloudletCert();
  c.role = CertificateRole::kDevice;
  c.kem_key.reset();
  EXPECT_FALSE(refused(c));  // a device certificate may omit it
}

TEST_F(CertificateTest, ValidityIsInclusiveAndReportedAfterTheSignature) {
  const Bytes encoded = Issue(CloudletCert());
  const auto& root = root_.public_key();
  EXPECT_TRUE(VerifyCertificate(encoded, root, CertificateRole::kCloudlet, kNotBeforeMs));
  EXPECT_TRUE(VerifyCertificate(encoded, root, CertificateRole::kCloudlet, kNotAfterMs));
  auto early = VerifyCertificate(encoded, root, CertificateRole::kCloudlet, kNotBeforeMs - 1);
  ExpectCode(early, ErrorCode::kFailedPrecondition);
  EXPECT_NE(early.error().message().find("not yet valid"), std::string::npos);
  auto late = VerifyCertificate(encoded, root, CertificateRole::kCloudlet, kNotAfterMs + 1);
  ExpectCode(late, ErrorCode::kFailedPrecondition);
  EXPECT_NE(late.error().message().find("expired"), std::string::npos);
  // An expired certificate from another root says only "authentication failed".
  testing::DeterministicRandom other_random(5);
  const auto other_root = crypto::SigningSecretKey::Generate(other_random);
  ExpectOpaque(VerifyCertificate(encoded, other_root.public_key(), CertificateRole::kCloudlet,
                                 kNotAfterMs + 1));
}

TEST_F(CertificateTest, WrongRoleIsPermissionDenied) {
  const Bytes encoded = Issue(CloudletCert());
  auto r = VerifyCertificate(encoded, root_.public_key(), CertificateRole::kCloud, kNowMs);
  ExpectCode(r, ErrorCode::kPermissionDenied);
  EXPECT_NE(r.error().message().find("cloudlet"), std::string::npos);
}

TEST_F(CertificateTest, CertificateSignedByAnotherKeyIsOpaqueFailure) {
  // Signed by the node key but naming the root as issuer is impossible; naming itself fails.
  auto node_signer = crypto::NewEd25519Signer(node_.Clone());
  const Bytes self_issued = IssueCertificate(CloudletCert(), *node_signer).value();
  ExpectOpaque(
      VerifyCertificate(self_issued, root_.public_key(), CertificateRole::kCloudlet, kNowMs));
  // Swap in the root's key id: the signature still does not verify.
  Bytes forged = self_issued;
  const crypto::KeyId root_id = root_.public_key().Fingerprint();
  std::copy(root_id.begin(), root_id.end(), forged.end() - 64 - 16);
  ExpectOpaque(VerifyCertificate(forged, root_.public_key(), CertificateRole::kCloudlet, kNowMs));
}

TEST_F(CertificateTest, EveryFlippedByteIsRejected) {
  const Bytes encoded = Issue(CloudletCert());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    for (std::uint8_t mask : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
      Bytes flipped = encoded;
      flipped[i] ^= mask;
      ExpectOpaque(
          VerifyCertificate(flipped, root_.public_key(), CertificateRole::kCloudlet, kNowMs));
    }
  }
}

TEST_F(CertificateTest, EveryTruncationAndExtensionIsRejected) {
  const Bytes encoded = Issue(CloudletCert());
  for (std::size_t n = 0; n < encoded.size(); ++n) {
    ExpectOpaque(VerifyCertificate(ByteView(encoded).first(n), root_.public_key(),
                                   CertificateRole::kCloudlet, kNowMs));
    EXPECT_FALSE(ParseCertificate(ByteView(encoded).first(n)));
  }
  Bytes longer = encoded;
  longer.push_back(0);
  ExpectOpaque(VerifyCertificate(longer, root_.public_key(), CertificateRole::kCloudlet, kNowMs));
  auto parsed = ParseCertificate(longer);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message().find("trailing"), std::string::npos);
}

TEST_F(CertificateTest, ParseGivesSpecificErrorsAndCapsTheSize) {
  const Bytes encoded = Issue(CloudletCert());
  Bytes magic = encoded;
  magic[1] = 'X';
  EXPECT_NE(ParseCertificate(magic).error().message().find("magic"), std::string::npos);
  Bytes version = encoded;
  version[4] = 2;
  EXPECT_NE(ParseCertificate(version).error().message().find("version"), std::string::npos);
  Bytes role = encoded;
  role[5] = 0;
  EXPECT_NE(ParseCertificate(role).error().message().find("role"), std::string::npos);
  auto huge = ParseCertificate(Bytes(kMaxCertificateBytes + 1, 0));
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code(), ErrorCode::kResourceExhausted);
  ExpectOpaque(VerifyCertificate(Bytes(kMaxCertificateBytes + 1, 0), root_.public_key(),
                                 CertificateRole::kCloudlet, kNowMs));
}

TEST(CertificateRoleTest, Names) {
  EXPECT_EQ(CertificateRoleName(CertificateRole::kRoot), "root");
  EXPECT_EQ(CertificateRoleName(CertificateRole::kCloud), "cloud");
  EXPECT_EQ(CertificateRoleName(CertificateRole::kCloudlet), "cloudlet");
  EXPECT_EQ(CertificateRoleName(CertificateRole::kDevice), "device");
}

// --- Seed corpus ------------------------------------------------------------------------------

std::filesystem::path CorpusDir() {
  return std::filesystem::path(MEDMESH_WIRE_FUZZ_CORPUS_DIR) / "certificate";
}

void WriteFile(const std::filesystem::path& path, ByteView data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Regenerates fuzz_corpus/certificate from the fixtures the fuzzer uses. Run by hand:
//   wire_auth_test --gtest_also_run_disabled_tests --gtest_filter='*WriteSeedCorpus'
TEST(CertificateCorpus, DISABLED_WriteSeedCorpus) {
  std::filesystem::create_directories(CorpusDir());
  const Bytes cloudlet = fuzz::CloudletCertificate();
  WriteFile(CorpusDir() / "valid_cloudlet", cloudlet);
  auto root = crypto::NewEd25519Signer(fuzz::RootKey());
  WriteFile(CorpusDir() / "valid_root",
            IssueCertificate({.role = CertificateRole::kRoot,
                              .subject_id = "root",
                              .signing_key = fuzz::RootKey().public_key(),
                              .kem_key = std::nullopt,
                              .not_before_ms = kNotBeforeMs,
                              .not_after_ms = kNotAfterMs},
                             *root)
                .value());
  WriteFile(CorpusDir() / "valid_cloud",
            IssueCertificate({.role = CertificateRole::kCloud,
                              .subject_id = "cloud",
                              .signing_key = fuzz::CloudletSigningKey().public_key(),
                              .kem_key = fuzz::CloudKemKey().public_key(),
                              .not_before_ms = kNotBeforeMs,
                              .not_after_ms = kNotAfterMs},
                             *root)
                .value());
  Bytes flipped = cloudlet;
  flipped[flipped.size() - 1] ^= 0x40;
  WriteFile(CorpusDir() / "invalid_flipped_signature", flipped);
  WriteFile(CorpusDir() / "invalid_truncated", ByteView(cloudlet).first(100));
}

TEST(CertificateCorpus, ValidSeedsStillVerify) {
  int valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    const std::string name = entry.path().filename().string();
    std::ifstream in(entry.path(), std::ios::binary);
    const Bytes input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bool any_role = false;
    for (CertificateRole role :
         {CertificateRole::kRoot, CertificateRole::kCloud, CertificateRole::kCloudlet}) {
      any_role = any_role ||
                 VerifyCertificate(input, fuzz::RootKey().public_key(), role, kNowMs).has_value();
    }
    EXPECT_EQ(any_role, name.starts_with("valid_")) << name;
    if (name.starts_with("valid_")) ++valid;
  }
  EXPECT_GE(valid, 1);
}

}  // namespace
}  // namespace medmesh::wire
