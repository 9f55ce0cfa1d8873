// Grant assertions (issue 10; docs/wire_format.md "Grant assertion", docs/trust_system.md
// "Clinicians' attestations"): the cloud's signed statement that a doctor holds an active grant
// from a patient now, which a cloudlet cannot see for itself. The cloud's attestation relay
// (cloud/attestation_relay.h) attaches one per cloudlet it calls; the cloudlet's attestation
// route (cloudlet/trust_service.h) refuses an attestation without a valid one.
//
//   message  = "MMGA" ‖ u8 version 1 ‖ str cloud ‖ str audience (the cloudlet) ‖ str doctor
//              (account id) ‖ str patient ‖ i64 issued_ms ‖ i64 expires_ms ‖ str nonce
//   envelope = "MMGE" ‖ u8 version 1 ‖ str certificate (the cloud's) ‖ str message ‖ signature
//   (str = u32 little-endian length ‖ bytes; the node-signed envelope of wire/node_envelope.h,
//    Ed25519 over the message bytes; nonce is 32 lower-case hex digits; ids are wire ids)
// A receiver checks the certificate against its pinned root (role cloud, subject == cloud), the
// signature, and then the fields against what it is asked: the audience is itself, the doctor is
// the caller, the patient is the one attested, issued_ms <= now <= expires_ms, a lifetime of at
// most kMaxGrantAssertionLifetimeMs, and a nonce it has not seen before.
// Thread safety: free functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/signing.h"

namespace medmesh::wire {

inline constexpr std::int64_t kMaxGrantAssertionLifetimeMs = 2 * 60 * 1000;

struct GrantAssertion {
  std::string cloud_id;
  std::string audience;  // the cloudlet it is for
  std::string doctor_account_id;
  std::string patient_id;
  std::int64_t issued_ms = 0;
  std::int64_t expires_ms = 0;
  std::string nonce;  // 32 hex digits
  bool operator==(const GrantAssertion&) const = default;
};

// kInvalidArgument for a bad id, nonce or times (expires before issued, or a lifetime over
// kMaxGrantAssertionLifetimeMs), or a certificate too large.
Result<Bytes> SignGrantAssertion(const GrantAssertion& assertion, const crypto::Signer& cloud,
                                 ByteView cloud_certificate);

// Parses and authenticates an envelope: AuthenticationFailed() if it is malformed, its
// certificate is not a cloud's from `root` valid at `now_ms`, the cloud is not the certificate's
// subject, or the signature fails. The fields (audience, parties, times, nonce) are the
// caller's to check.
Result<GrantAssertion> OpenGrantAssertion(ByteView envelope, const crypto::SigningPublicKey& root,
                                          std::int64_t now_ms);

}  // namespace medmesh::wire
