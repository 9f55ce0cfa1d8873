#include "wire/enrolment.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "testing/fake_random.h"
#include "wire/internal/fuzz_fixtures.h"

namespace medmesh::wire {
namespace {

using fuzz::kNowMs;

void ExpectOpaque(const Result<Enrolment>& r) {
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(crypto::IsAuthenticationFailure(r.error())) << r.error().ToString();
}

bool SameEnrolment(const Enrolment& a, const Enrolment& b) {
  return a.device_id == b.device_id && a.patient_id == b.patient_id &&
         a.device_key == b.device_key && a.cloudlet_id == b.cloudlet_id &&
         a.enrolled_at_ms == b.enrolled_at_ms;
}

class EnrolmentTest : public ::testing::Test {
 protected:
  Bytes Issue(const Enrolment& e) const { return IssueEnrolment(e, *cloudlet_signer_).value(); }

  std::unique_ptr<crypto::Signer> cloudlet_signer_ =
      crypto::NewEd25519Signer(fuzz::CloudletSigningKey());
  std::unique_ptr<crypto::Signer> device_signer_ = crypto::NewEd25519Signer(fuzz::DeviceKey());
  VerifiedCertificate cloudlet_cert_ = fuzz::VerifiedCloudletCertificate();
  Enrolment enrolment_ = fuzz::DeviceEnrolment();
};

TEST_F(EnrolmentTest, RecordVerifiesAgainstTheIssuingCloudletsCertificate) {
  const Bytes encoded = Issue(enrolment_);
  EXPECT_EQ(AsStringView(ByteView(encoded).first(4)), "MMEN");
  auto verified = VerifyEnrolment(encoded, cloudlet_cert_);
  ASSERT_TRUE(verified.has_value()) << verified.error().ToString();
  EXPECT_TRUE(SameEnrolment(*verified, enrolment_));
  auto parsed = ParseEnrolment(encoded);
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->issuer_key_id, cloudlet_signer_->public_key().Fingerprint());
  EXPECT_EQ(parsed->encoded, encoded);
}

TEST_F(EnrolmentTest, RecordSignedByAnotherCloudletIsRejected) {
  testing::DeterministicRandom random(8);
  auto other = crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(random));
  ExpectOpaque(VerifyEnrolment(IssueEnrolment(enrolment_, *other).value(), cloudlet_cert_));
}

TEST_F(EnrolmentTest, RecordNamingAnotherCloudletIsRejected) {
  Enrolment e = enrolment_;
  e.cloudlet_id = "cloudlet-2";
  ExpectOpaque(VerifyEnrolment(Issue(e), cloudlet_cert_));
}

TEST_F(EnrolmentTest, RecordSurvivesARenewedCertificateForTheSameKey) {
  Enrolment e = enrolment_;
  e.enrolled_at_ms = fuzz::kNotBeforeMs - 1000;  // before the current certificate's validity
  auto root = crypto::NewEd25519Signer(fuzz::RootKey());
  const Bytes renewed = IssueCertificate({.role = CertificateRole::kCloudlet,
                                          .subject_id = "cloudlet-1",
                                          .signing_key = cloudlet_signer_->public_key(),
                                          .kem_key = fuzz::CloudletKemKey().public_key(),
                                          .not_before_ms = kNowMs,
                                          .not_after_ms = kNowMs + 1000},
                                         *root)
                            .value();
  const VerifiedCertificate cert =
      VerifyCertificate(renewed, fuzz::RootKey().public_key(), CertificateRole::kCloudlet, kNowMs)
          .value();
  auto r = VerifyEnrolment(Issue(e), cert);
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_TRUE(SameEnrolment(*r, e));
}

TEST_F(EnrolmentTest, OnlyCloudletCertificatesMayIssue) {
  auto root = crypto::NewEd25519Signer(fuzz::RootKey());
  const Bytes cloud_cert = IssueCertificate({.role = CertificateRole::kCloud,
                                             .subject_id = "cloudlet-1",
                                             .signing_key = cloudlet_signer_->public_key(),
                                             .kem_key = fuzz::CloudKemKey().public_key(),
                                             .not_before_ms = fuzz::kNotBeforeMs,
                                             .not_after_ms = fuzz::kNotAfterMs},
                                            *root)
                               .value();
  auto cloud =
      VerifyCertificate(cloud_cert, fuzz::RootKey().public_key(), CertificateRole::kCloud, kNowMs)
          .value();
  auto r = VerifyEnrolment(Issue(enrolment_), cloud);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
}

TEST_F(EnrolmentTest, EveryFlippedByteOfARecordIsRejected) {
  const Bytes encoded = Issue(enrolment_);
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    Bytes flipped = encoded;
    flipped[i] ^= 0x01;
    EXPECT_FALSE(VerifyEnrolment(flipped, cloudlet_cert_)) << "byte " << i;
    flipped[i] ^= 0x81;
    EXPECT_FALSE(VerifyEnrolment(flipped, cloudlet_cert_)) << "byte " << i;
  }
  for (std::size_t n = 0; n < encoded.size(); ++n) {
    ExpectOpaque(VerifyEnrolment(ByteView(encoded).first(n), cloudlet_cert_));
  }
}

TEST_F(EnrolmentTest, IssueAndParseRefuseBadFields) {
  Enrolment e = enrolment_;
  e.patient_id = "";
  EXPECT_EQ(IssueEnrolment(e, *cloudlet_signer_).error().code(), ErrorCode::kInvalidArgument);
  e = enrolment_;
  e.enrolled_at_ms = -5;
  EXPECT_FALSE(IssueEnrolment(e, *cloudlet_signer_));
  Bytes encoded = Issue(enrolment_);
  encoded.push_back(0);
  EXPECT_NE(ParseEnrolment(encoded).error().message().find("trailing"), std::string::npos);
  EXPECT_EQ(ParseEnrolment(Bytes(kMaxEnrolmentBytes + 1, 0)).error().code(),
            ErrorCode::kResourceExhausted);
}

TEST_F(EnrolmentTest, RequestProvesPossessionOfTheDeviceKey) {
  const Bytes request = SignEnrolmentRequest(enrolment_, *device_signer_).value();
  EXPECT_EQ(AsStringView(ByteView(request).first(4)), "MMEQ");
  auto verified = VerifyEnrolmentRequest(request);
  ASSERT_TRUE(verified.has_value()) << verified.error().ToString();
  EXPECT_TRUE(SameEnrolment(*verified, enrolment_));
  // Signing with a key other than the one named is refused.
  auto wrong = SignEnrolmentRequest(enrolment_, *cloudlet_signer_);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code(), ErrorCode::kInvalidArgument);
  // A request is not a record and a record is not a request (distinct magics).
  ExpectOpaque(VerifyEnrolment(request, cloudlet_cert_));
  ExpectOpaque(VerifyEnrolmentRequest(Issue(enrolment_)));
}

TEST_F(EnrolmentTest, EveryFlippedByteOfARequestIsRejected) {
  const Bytes request = SignEnrolmentRequest(enrolment_, *device_signer_).value();
  for (std::size_t i = 0; i < request.size(); ++i) {
    Bytes flipped = request;
    flipped[i] ^= 0x01;
    EXPECT_FALSE(VerifyEnrolmentRequest(flipped)) << "byte " << i;
  }
  for (std::size_t n = 0; n < request.size(); ++n) {
    ExpectOpaque(VerifyEnrolmentRequest(ByteView(request).first(n)));
  }
}

// --- Seed corpus ------------------------------------------------------------------------------

std::filesystem::path CorpusDir() {
  return std::filesystem::path(MEDMESH_WIRE_FUZZ_CORPUS_DIR) / "enrolment";
}

void WriteFile(const std::filesystem::path& path, ByteView data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Regenerates fuzz_corpus/enrolment from the fixtures the fuzzer uses. Run by hand:
//   wire_auth_test --gtest_also_run_disabled_tests --gtest_filter='*WriteSeedCorpus'
TEST(EnrolmentCorpus, DISABLED_WriteSeedCorpus) {
  std::filesystem::create_directories(CorpusDir());
  auto cloudlet = crypto::NewEd25519Signer(fuzz::CloudletSigningKey());
  auto device = crypto::NewEd25519Signer(fuzz::DeviceKey());
  const Bytes record = IssueEnrolment(fuzz::DeviceEnrolment(), *cloudlet).value();
  WriteFile(CorpusDir() / "valid_record", record);
  WriteFile(CorpusDir() / "valid_request",
            SignEnrolmentRequest(fuzz::DeviceEnrolment(), *device).value());
  Bytes flipped = record;
  flipped[10] ^= 1;
  WriteFile(CorpusDir() / "invalid_flipped", flipped);
  WriteFile(CorpusDir() / "invalid_truncated", ByteView(record).first(40));
}

TEST(EnrolmentCorpus, ValidSeedsStillVerify) {
  const VerifiedCertificate cloudlet = fuzz::VerifiedCloudletCertificate();
  int valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    const std::string name = entry.path().filename().string();
    std::ifstream in(entry.path(), std::ios::binary);
    const Bytes input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const bool ok =
        VerifyEnrolment(input, cloudlet).has_value() || VerifyEnrolmentRequest(input).has_value();
    EXPECT_EQ(ok, name.starts_with("valid_")) << name;
    if (name.starts_with("valid_")) ++valid;
  }
  EXPECT_GE(valid, 1);
}

}  // namespace
}  // namespace medmesh::wire
