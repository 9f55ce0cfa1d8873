#include "wire/receipt.h"

#include <gtest/gtest.h>

#include "core/random.h"
#include "crypto/kdf.h"
#include "wire/internal/fuzz_fixtures.h"

namespace medmesh::wire {
namespace {

using fuzz::kNowMs;

crypto::SigningSecretKey CloudSigningKey() { return fuzz::SigningKey(0xc10e); }

VerifiedCertificate CertificateFor(CertificateRole role, const std::string& subject,
                                   const crypto::SigningSecretKey& key) {
  return VerifyCertificate(fuzz::CertificateOf(role, subject, key), fuzz::RootKey().public_key(),
                           role, kNowMs)
      .value();
}

class ReceiptTest : public ::testing::Test {
 protected:
  Receipt ForwardReceipt() const {
    return {ReceiptKind::kForward, "cloud", "cloudlet-a", "00112233445566778899aabbccddeeff",
            ReceiptDigest(body_),  kNowMs,  std::nullopt};
  }
  Status Check(ByteView receipt) const {
    return CheckReceipt(receipt, cloud_cert_, ReceiptKind::kForward, "cloudlet-a",
                        "00112233445566778899aabbccddeeff", body_, std::nullopt);
  }
  static void ExpectRefused(const Status& st) {
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), ErrorCode::kUnauthenticated);
  }
  Bytes body_ = Bytes{'s', 'e', 'a', 'l', 'e', 'd'};
  std::unique_ptr<crypto::Signer> cloud_ = crypto::NewEd25519Signer(CloudSigningKey());
  VerifiedCertificate cloud_cert_ =
      CertificateFor(CertificateRole::kCloud, "cloud", CloudSigningKey());
};

TEST_F(ReceiptTest, RoundTripsAndMatchesWhatWasSent) {
  const Bytes receipt = SignReceipt(ForwardReceipt(), *cloud_).value();
  EXPECT_LE(receipt.size(), kMaxReceiptBytes);
  auto opened = VerifyReceipt(receipt, cloud_cert_);
  ASSERT_TRUE(opened) << opened.error().ToString();
  EXPECT_TRUE(*opened == ForwardReceipt());
  EXPECT_TRUE(Check(receipt));
  // Deterministic (Ed25519): the same receipt for the same content.
  EXPECT_EQ(SignReceipt(ForwardReceipt(), *cloud_).value(), receipt);
}

TEST_F(ReceiptTest, EveryFlippedOrMissingByteIsRefused) {
  const Bytes receipt = SignReceipt(ForwardReceipt(), *cloud_).value();
  for (std::size_t i = 0; i < receipt.size(); ++i) {
    Bytes flipped = receipt;
    flipped[i] ^= 0x01;
    ExpectRefused(Check(flipped));
  }
  for (std::size_t n = 0; n < receipt.size(); ++n) {
    ExpectRefused(Check(ByteView(receipt).first(n)));
  }
  Bytes longer = receipt;
  longer.push_back(0);
  ExpectRefused(Check(longer));
}

TEST_F(ReceiptTest, AReceiptForAnythingElseIsRefused) {
  const Bytes receipt = SignReceipt(ForwardReceipt(), *cloud_).value();
  // Another body (a later attempt's sealed bytes), origin, subject or kind.
  ExpectRefused(CheckReceipt(receipt, cloud_cert_, ReceiptKind::kForward, "cloudlet-a",
                             "00112233445566778899aabbccddeeff", Bytes{'o', 't', 'h', 'e', 'r'},
                             std::nullopt));
  ExpectRefused(CheckReceipt(receipt, cloud_cert_, ReceiptKind::kForward, "cloudlet-b",
                             "00112233445566778899aabbccddeeff", body_, std::nullopt));
  ExpectRefused(CheckReceipt(receipt, cloud_cert_, ReceiptKind::kForward, "cloudlet-a",
                             "ffffffffffffffffffffffffffffffff", body_, std::nullopt));
  ExpectRefused(CheckReceipt(receipt, cloud_cert_, ReceiptKind::kEnrolment, "cloudlet-a",
                             "00112233445566778899aabbccddeeff", body_, std::nullopt));
}

// Version 2: the receipt carries the challenge of the attempt it answers. A check that asks for
// a challenge accepts only that one, and never a version 1 receipt (which has none), so a
// receipt kept from an earlier attempt of the same bytes settles nothing later.
TEST_F(ReceiptTest, AChallengedReceiptMatchesOnlyItsOwnAttempt) {
  const ReceiptChallenge first{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  const ReceiptChallenge second{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
  Receipt challenged = ForwardReceipt();
  challenged.challenge = first;
  const Bytes receipt = SignReceipt(challenged, *cloud_).value();
  EXPECT_EQ(receipt.size(), SignReceipt(ForwardReceipt(), *cloud_).value().size() + 16);
  EXPECT_EQ(receipt[4], 2);  // version 2
  EXPECT_LE(receipt.size(), kMaxReceiptBytes);
  auto opened = VerifyReceipt(receipt, cloud_cert_);
  ASSERT_TRUE(opened) << opened.error().ToString();
  EXPECT_TRUE(*opened == challenged);
  const auto check = [&](ByteView r, const std::optional<ReceiptChallenge>& c) {
    return CheckReceipt(r, cloud_cert_, ReceiptKind::kForward, "cloudlet-a",
                        "00112233445566778899aabbccddeeff", body_, c);
  };
  EXPECT_TRUE(check(receipt, first));
  EXPECT_TRUE(check(receipt, std::nullopt));
  ExpectRefused(check(receipt, second));
  // A version 1 receipt of the same content does not answer a challenge.
  const Bytes v1 = SignReceipt(ForwardReceipt(), *cloud_).value();
  EXPECT_EQ(v1[4], 1);
  ExpectRefused(check(v1, first));
  for (std::size_t i = 0; i < receipt.size(); ++i) {
    Bytes flipped = receipt;
    flipped[i] ^= 0x01;
    ExpectRefused(check(flipped, first));
  }
}

TEST_F(ReceiptTest, ChallengesAreFreshAndParsedStrictly) {
  SystemRandom random;
  EXPECT_NE(NewReceiptChallenge(random), NewReceiptChallenge(random));
  const ReceiptChallenge c{0xab, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xff};
  EXPECT_EQ(ParseReceiptChallenge(HexEncode(c)).value(), c);
  for (const std::string& bad : {std::string(), std::string("zz"), HexEncode(c).substr(2),
                                 HexEncode(c) + "00", std::string(32, 'g')}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ParseReceiptChallenge(bad).error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST_F(ReceiptTest, OnlyTheCloudsOwnKeyMakesAReceipt) {
  // A peer cloudlet signing a receipt with its own key, naming the cloud: refused.
  const crypto::SigningSecretKey peer_key = fuzz::SigningKey(0xbeef);
  const Bytes forged =
      SignReceipt(ForwardReceipt(), *crypto::NewEd25519Signer(peer_key.Clone())).value();
  ExpectRefused(Check(forged));
  // Checked against a cloudlet's certificate (not a cloud's), even its genuine signature fails.
  const VerifiedCertificate peer_cert =
      CertificateFor(CertificateRole::kCloudlet, "cloudlet-b", peer_key);
  auto opened = VerifyReceipt(forged, peer_cert);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code(), ErrorCode::kUnauthenticated);
  // Signed by the cloud's key but naming another cloud: refused.
  Receipt other = ForwardReceipt();
  other.cloud_id = "cloud-2";
  ExpectRefused(Check(SignReceipt(other, *cloud_).value()));
}

TEST_F(ReceiptTest, BadFieldsAreNotSigned) {
  Receipt bad = ForwardReceipt();
  bad.origin_id = "";
  EXPECT_EQ(SignReceipt(bad, *cloud_).error().code(), ErrorCode::kInvalidArgument);
  bad = ForwardReceipt();
  bad.accepted_ms = -1;
  EXPECT_EQ(SignReceipt(bad, *cloud_).error().code(), ErrorCode::kInvalidArgument);
  bad = ForwardReceipt();
  bad.kind = static_cast<ReceiptKind>(9);
  EXPECT_EQ(SignReceipt(bad, *cloud_).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace medmesh::wire
