// Node certificates: a tiny format of our own that binds a role and an id to an Ed25519 key
// (and, for nodes that receive data, a hybrid NTRU + X25519 KEM key), signed by the root key.
// Byte layout: docs/wire_format.md, "Certificate"; the trust chain: docs/enrolment.md.
//
// The chain has one level. The root key (offline, held by the cloud operator) signs:
//   - its own root certificate (role kRoot, self-signed, no KEM key);
//   - the cloud's certificate (kCloud) and every cloudlet's certificate (kCloudlet), each with
//     the node's KEM key, so that devices and cloudlets seal only to keys the root vouched for.
// Devices pin the root public key. They are not certified by the root: a cloudlet enrols them
// (enrolment.h). Role kDevice exists in the format for a root-certified device key; the data
// path does not use it.
//
// WARNING: there is no revocation list; a compromised node key stays valid until its
// certificate expires, so keep validity periods short (days to weeks) and re-issue.
// Thread safety: value types and free functions without shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/hybrid_seal.h"
#include "crypto/kdf.h"
#include "crypto/signing.h"

namespace medmesh::wire {

inline constexpr std::uint8_t kCertificateVersion = 1;
// Larger inputs are refused before parsing (the largest real one is about 1.5 KB).
inline constexpr std::size_t kMaxCertificateBytes = 4096;

enum class CertificateRole : std::uint8_t {
  kRoot = 1,
  kCloud = 2,
  kCloudlet = 3,
  kDevice = 4,
};
// "root", "cloud", "cloudlet", "device".
std::string_view CertificateRoleName(CertificateRole role);

// What a certificate states. Rules (checked when issuing and when parsing, kInvalidArgument):
// subject_id satisfies IsValidId; 0 <= not_before_ms <= not_after_ms <= kMaxTimeMs; kCloud and
// kCloudlet carry a KEM key, kRoot does not; a kRoot certificate is self-signed (its issuer is
// its own signing key).
struct Certificate {
  CertificateRole role = CertificateRole::kCloudlet;
  std::string subject_id;
  crypto::SigningPublicKey signing_key;
  std::optional<crypto::HybridPublicKey> kem_key;
  std::int64_t not_before_ms = 0;  // valid from (inclusive), Unix ms
  std::int64_t not_after_ms = 0;   // valid until (inclusive), Unix ms
};

// A parsed certificate. NOT verified: nothing here is trustworthy until VerifyCertificate.
struct SignedCertificate {
  Certificate certificate;
  crypto::KeyId issuer_key_id;  // Fingerprint() of the issuer's Ed25519 key
  Bytes signature;              // 64 bytes, over encoded minus its last 64 bytes
  Bytes encoded;                // the exact certificate bytes
};

// A certificate whose signature chains to the pinned root and which was valid at the time it
// was verified. Only VerifyCertificate makes one, so a function that takes it knows the check
// happened. It records no time: re-verify long-lived certificates (they expire).
class VerifiedCertificate {
 public:
  const Certificate& certificate() const { return signed_.certificate; }
  const SignedCertificate& signed_certificate() const { return signed_; }
  ByteView encoded() const { return signed_.encoded; }

 private:
  friend Result<VerifiedCertificate> VerifyCertificate(ByteView encoded,
                                                       const crypto::SigningPublicKey& root,
                                                       CertificateRole expected_role,
                                                       std::int64_t now_ms);
  explicit VerifiedCertificate(SignedCertificate c) : signed_(std::move(c)) {}
  SignedCertificate signed_;
};

// Encodes and signs `certificate` with `issuer` (the root signer). kInvalidArgument if a rule
// above is broken, including a kRoot certificate whose signing_key is not the issuer's key.
Result<Bytes> IssueCertificate(const Certificate& certificate, const crypto::Signer& issuer);

// Parses without verifying (for diagnostics and to show a certificate to an operator).
// kResourceExhausted above kMaxCertificateBytes; kInvalidArgument with a specific message for
// a bad magic, version, role, id, key, length, time or trailing bytes.
Result<SignedCertificate> ParseCertificate(ByteView encoded);

// Verifies a certificate against the pinned root public key at time `now_ms` (Unix ms; e.g.
// ToUnixMs(clock.Now())). Checks, in this order:
//   1. it parses and its issuer key id and signature are the root's -> else AuthenticationFailed()
//      (the crypto core's one opaque error, kUnauthenticated), whatever was wrong;
//   2. its role is `expected_role` -> else kPermissionDenied naming both roles;
//   3. not_before_ms <= now_ms <= not_after_ms -> else kFailedPrecondition ("not yet valid" /
//      "expired"). Validity is not secret, and it is only reported for an authentic certificate.
Result<VerifiedCertificate> VerifyCertificate(ByteView encoded,
                                              const crypto::SigningPublicKey& root,
                                              CertificateRole expected_role, std::int64_t now_ms);

}  // namespace medmesh::wire
