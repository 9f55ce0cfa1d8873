#include "wire/grant_assertion.h"

#include <gtest/gtest.h>

#include "crypto/kdf.h"
#include "wire/internal/fuzz_fixtures.h"

namespace medmesh::wire {
namespace {

using fuzz::kNowMs;

GrantAssertion Assertion() {
  return {"cloud", "cloudlet-a",    "acc-doctor-1",      "patient-1",
          kNowMs,  kNowMs + 60'000, std::string(32, '7')};
}

void ExpectRefused(const Result<GrantAssertion>& r) {
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
}

TEST(GrantAssertionTest, RoundTripsAndRefusesAnythingButTheCloudsSignature) {
  const crypto::SigningSecretKey cloud_key = fuzz::SigningKey(0xc10e);
  const Bytes cloud_cert = fuzz::CertificateOf(CertificateRole::kCloud, "cloud", cloud_key);
  const auto cloud = crypto::NewEd25519Signer(cloud_key.Clone());
  const Bytes envelope = SignGrantAssertion(Assertion(), *cloud, cloud_cert).value();
  auto opened = OpenGrantAssertion(envelope, fuzz::RootKey().public_key(), kNowMs);
  ASSERT_TRUE(opened) << opened.error().ToString();
  EXPECT_TRUE(*opened == Assertion());

  // Every flipped byte is refused (certificate, message or signature).
  for (std::size_t i = 0; i < envelope.size(); i += 7) {
    Bytes tampered = envelope;
    tampered[i] ^= 0x20;
    ExpectRefused(OpenGrantAssertion(tampered, fuzz::RootKey().public_key(), kNowMs));
  }
  // Truncated or extended.
  ExpectRefused(OpenGrantAssertion(ByteView(envelope.data(), envelope.size() - 1),
                                   fuzz::RootKey().public_key(), kNowMs));
  Bytes longer = envelope;
  longer.push_back(0);
  ExpectRefused(OpenGrantAssertion(longer, fuzz::RootKey().public_key(), kNowMs));
  // A cloudlet's certificate and key (a cloudlet cannot assert a grant), or a cloud certificate
  // naming another subject than the assertion's cloud.
  const crypto::SigningSecretKey cloudlet_key = fuzz::SigningKey(0xc1e7);
  const auto cloudlet = crypto::NewEd25519Signer(cloudlet_key.Clone());
  GrantAssertion forged = Assertion();
  forged.cloud_id = "cloudlet-b";
  ExpectRefused(OpenGrantAssertion(
      SignGrantAssertion(
          forged, *cloudlet,
          fuzz::CertificateOf(CertificateRole::kCloudlet, "cloudlet-b", cloudlet_key))
          .value(),
      fuzz::RootKey().public_key(), kNowMs));
  forged.cloud_id = "cloud-2";
  ExpectRefused(OpenGrantAssertion(SignGrantAssertion(forged, *cloud, cloud_cert).value(),
                                   fuzz::RootKey().public_key(), kNowMs));
  // Another root.
  ExpectRefused(OpenGrantAssertion(envelope, fuzz::SigningKey(0x7008).public_key(), kNowMs));
}

TEST(GrantAssertionTest, BadFieldsAreNotSigned) {
  const crypto::SigningSecretKey cloud_key = fuzz::SigningKey(0xc10e);
  const Bytes cloud_cert = fuzz::CertificateOf(CertificateRole::kCloud, "cloud", cloud_key);
  const auto cloud = crypto::NewEd25519Signer(cloud_key.Clone());
  GrantAssertion a = Assertion();
  a.expires_ms = a.issued_ms + kMaxGrantAssertionLifetimeMs + 1;
  EXPECT_FALSE(SignGrantAssertion(a, *cloud, cloud_cert));
  a = Assertion();
  a.expires_ms = a.issued_ms - 1;
  EXPECT_FALSE(SignGrantAssertion(a, *cloud, cloud_cert));
  a = Assertion();
  a.nonce = "XYZ";
  EXPECT_FALSE(SignGrantAssertion(a, *cloud, cloud_cert));
  a = Assertion();
  a.patient_id = "not an id";
  EXPECT_FALSE(SignGrantAssertion(a, *cloud, cloud_cert));
}

}  // namespace
}  // namespace medmesh::wire
