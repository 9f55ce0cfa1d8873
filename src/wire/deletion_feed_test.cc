#include "wire/deletion_feed.h"

#include <gtest/gtest.h>

#include "crypto/kdf.h"
#include "wire/internal/fuzz_fixtures.h"

namespace medmesh::wire {
namespace {

using fuzz::kNowMs;

crypto::SigningSecretKey CloudSigningKey() { return fuzz::SigningKey(0xc10e); }

VerifiedCertificate CloudCertificate() {
  auto root = crypto::NewEd25519Signer(fuzz::RootKey());
  const Bytes cert = IssueCertificate({.role = CertificateRole::kCloud,
                                       .subject_id = "cloud",
                                       .signing_key = CloudSigningKey().public_key(),
                                       .kem_key = fuzz::CloudKemKey().public_key(),
                                       .not_before_ms = fuzz::kNotBeforeMs,
                                       .not_after_ms = fuzz::kNotAfterMs},
                                      *root)
                         .value();
  return VerifyCertificate(cert, fuzz::RootKey().public_key(), CertificateRole::kCloud, kNowMs)
      .value();
}

class DeletionFeedTest : public ::testing::Test {
 protected:
  static DeletionFeed Feed() {
    return DeletionFeed{
        "cloud", "cloudlet-1", kNowMs, 4, {{5, "patient-1", kNowMs - 10}, {9, "pat_abc", kNowMs}}};
  }
  std::unique_ptr<crypto::Signer> cloud_ = crypto::NewEd25519Signer(CloudSigningKey());
  VerifiedCertificate cloud_cert_ = CloudCertificate();
};

TEST_F(DeletionFeedTest, RoundTripsForItsCloudletAndCursor) {
  const Bytes page = SignDeletionFeed(Feed(), *cloud_).value();
  auto feed = VerifyDeletionFeed(page, cloud_cert_, "cloudlet-1", 4);
  ASSERT_TRUE(feed) << feed.error().ToString();
  EXPECT_TRUE(*feed == Feed());
  // Deterministic (Ed25519): the same page for the same content.
  EXPECT_EQ(SignDeletionFeed(Feed(), *cloud_).value(), page);
  // An empty page is a page too.
  DeletionFeed empty = Feed();
  empty.notices.clear();
  EXPECT_TRUE(
      VerifyDeletionFeed(SignDeletionFeed(empty, *cloud_).value(), cloud_cert_, "cloudlet-1", 4));
}

TEST_F(DeletionFeedTest, EveryFlippedByteIsRefused) {
  const Bytes page = SignDeletionFeed(Feed(), *cloud_).value();
  for (std::size_t i = 0; i < page.size(); ++i) {
    Bytes flipped = page;
    flipped[i] ^= 0x01;
    EXPECT_FALSE(VerifyDeletionFeed(flipped, cloud_cert_, "cloudlet-1", 4)) << i;
  }
  for (std::size_t n = 0; n < page.size(); ++n) {
    EXPECT_FALSE(VerifyDeletionFeed(ByteView(page).first(n), cloud_cert_, "cloudlet-1", 4));
  }
}

TEST_F(DeletionFeedTest, APageForAnotherCloudletCursorOrSignerIsRefused) {
  const Bytes page = SignDeletionFeed(Feed(), *cloud_).value();
  auto other = VerifyDeletionFeed(page, cloud_cert_, "cloudlet-2", 4);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_FALSE(VerifyDeletionFeed(page, cloud_cert_, "cloudlet-1", 0));
  // A cloudlet's certificate is not the cloud's, even with a valid signature of its key.
  auto cloudlet_signed =
      SignDeletionFeed(Feed(), *crypto::NewEd25519Signer(fuzz::CloudletSigningKey())).value();
  auto wrong_role =
      VerifyDeletionFeed(cloudlet_signed, fuzz::VerifiedCloudletCertificate(), "cloudlet-1", 4);
  ASSERT_FALSE(wrong_role);
  EXPECT_EQ(wrong_role.error().code(), ErrorCode::kPermissionDenied);
  // Signed by another key than the certificate's.
  auto forged = VerifyDeletionFeed(cloudlet_signed, cloud_cert_, "cloudlet-1", 4);
  ASSERT_FALSE(forged);
  EXPECT_TRUE(crypto::IsAuthenticationFailure(forged.error()));
  // Oversized.
  EXPECT_EQ(VerifyDeletionFeed(Bytes(kMaxDeletionFeedBytes + 1, 0), cloud_cert_, "cloudlet-1", 4)
                .error()
                .code(),
            ErrorCode::kResourceExhausted);
}

TEST_F(DeletionFeedTest, BadFeedsAreNotSigned) {
  DeletionFeed out_of_order = Feed();
  out_of_order.notices[1].seq = 5;
  EXPECT_FALSE(SignDeletionFeed(out_of_order, *cloud_));
  DeletionFeed at_cursor = Feed();
  at_cursor.notices[0].seq = 4;
  EXPECT_FALSE(SignDeletionFeed(at_cursor, *cloud_));
  DeletionFeed bad_id = Feed();
  bad_id.notices[0].patient_id = "not an id";
  EXPECT_FALSE(SignDeletionFeed(bad_id, *cloud_));
  DeletionFeed too_many = Feed();
  too_many.notices.clear();
  for (std::uint64_t i = 0; i <= kMaxDeletionNotices; ++i) {
    too_many.notices.push_back({5 + i, "p", kNowMs});
  }
  EXPECT_FALSE(SignDeletionFeed(too_many, *cloud_));
}

}  // namespace
}  // namespace medmesh::wire
