// Fixed keys, certificates and enrolments shared by the wire/ tests that write the seed corpora
// and by the fuzz targets that read them, so that valid seeds stay valid for the fuzzers.
// TEST AND FUZZ ONLY: header-only, never part of medmesh_wire; every key here is public.
#pragma once

#include <cstdint>

#include "core/check.h"
#include "crypto/hybrid_seal.h"
#include "crypto/signing.h"
#include "testing/fake_random.h"
#include "wire/certificate.h"
#include "wire/enrolment.h"

namespace medmesh::wire::fuzz {

// The time every fuzz target verifies at (the FakeClock default start, in ms), and the validity
// of the fixture certificates around it.
inline constexpr std::int64_t kNowMs = 1'800'000'000'000;
inline constexpr std::int64_t kNotBeforeMs = 1'700'000'000'000;
inline constexpr std::int64_t kNotAfterMs = 1'900'000'000'000;
inline constexpr std::string_view kCloudletId = "cloudlet-1";

inline crypto::SigningSecretKey SigningKey(std::uint64_t seed) {
  testing::DeterministicRandom random(seed);
  return crypto::SigningSecretKey::Generate(random);
}
inline crypto::HybridPrivateKey KemKey(std::uint64_t seed) {
  testing::DeterministicRandom random(seed);
  return crypto::HybridPrivateKey::Generate(random);
}

inline crypto::SigningSecretKey RootKey() { return SigningKey(0x7007); }
inline crypto::SigningSecretKey CloudletSigningKey() { return SigningKey(0xc1d1); }
inline crypto::HybridPrivateKey CloudletKemKey() { return KemKey(0xc1d2); }
inline crypto::HybridPrivateKey CloudKemKey() { return KemKey(0xc10d); }
inline crypto::SigningSecretKey DeviceKey() { return SigningKey(0xde71); }

// The cloudlet's certificate, signed by RootKey() (Ed25519 is deterministic: same bytes always).
inline Bytes CloudletCertificate() {
  auto root = crypto::NewEd25519Signer(RootKey());
  auto cert = IssueCertificate({.role = CertificateRole::kCloudlet,
                                .subject_id = std::string(kCloudletId),
                                .signing_key = CloudletSigningKey().public_key(),
                                .kem_key = CloudletKemKey().public_key(),
                                .not_before_ms = kNotBeforeMs,
                                .not_after_ms = kNotAfterMs},
                               *root);
  MEDMESH_CHECK(cert.has_value(), "fixture certificate");
  return *cert;
}

// A certificate of `role` for `subject` with `key` (and the cloud's KEM key), signed by
// RootKey(), valid from kNotBeforeMs to kNotAfterMs.
inline Bytes CertificateOf(CertificateRole role, const std::string& subject,
                           const crypto::SigningSecretKey& key) {
  auto root = crypto::NewEd25519Signer(RootKey());
  auto cert = IssueCertificate({.role = role,
                                .subject_id = subject,
                                .signing_key = key.public_key(),
                                .kem_key = CloudKemKey().public_key(),
                                .not_before_ms = kNotBeforeMs,
                                .not_after_ms = kNotAfterMs},
                               *root);
  MEDMESH_CHECK(cert.has_value(), "fixture certificate");
  return *cert;
}

inline VerifiedCertificate VerifiedCloudletCertificate() {
  auto cert = VerifyCertificate(CloudletCertificate(), RootKey().public_key(),
                                CertificateRole::kCloudlet, kNowMs);
  MEDMESH_CHECK(cert.has_value(), "fixture certificate must verify");
  return std::move(*cert);
}

// Device "dev-1" of patient "pat-1", enrolled at the fixture cloudlet.
inline Enrolment DeviceEnrolment() {
  return {.device_id = "dev-1",
          .patient_id = "pat-1",
          .device_key = DeviceKey().public_key(),
          .cloudlet_id = std::string(kCloudletId),
          .enrolled_at_ms = kNowMs - 1000};
}

}  // namespace medmesh::wire::fuzz
