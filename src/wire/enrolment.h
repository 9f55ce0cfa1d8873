// Device enrolment: a device is enrolled to a patient at a cloudlet. Two small signed formats
// (byte layouts: docs/wire_format.md; the flow: docs/enrolment.md):
//   - EnrolmentRequest, signed by the device's own key: "device D with key K asks cloudlet C to
//     enrol it to patient P". The self-signature proves the device holds the secret key.
//   - Enrolment record, signed by the cloudlet whose root-signed certificate is given: "device D
//     with key K belongs to patient P, enrolled at cloudlet C at time T". Anyone who pins the
//     root can check it (VerifyEnrolment), so the record is the device's credential at every
//     cloudlet and at the cloud, which take the device key from it to verify uploads.
//
// WARNING: there is no revocation here; a store of enrolments (cloudlet, cloud) must be able to
// mark a device as withdrawn and refuse it even though its record still verifies.
// Thread safety: value types and free functions without shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/kdf.h"
#include "crypto/signing.h"
#include "wire/certificate.h"

namespace medmesh::wire {

inline constexpr std::uint8_t kEnrolmentVersion = 1;
inline constexpr std::size_t kMaxEnrolmentBytes = 1024;

// The statement of an enrolment record (and the request for one: enrolled_at_ms is then the
// time of the request). Rules, checked when signing and parsing (kInvalidArgument): the three
// ids satisfy IsValidId; 0 <= enrolled_at_ms <= kMaxTimeMs.
struct Enrolment {
  std::string device_id;
  std::string patient_id;
  crypto::SigningPublicKey device_key;
  std::string cloudlet_id;
  std::int64_t enrolled_at_ms = 0;
};

// --- Request (device -> cloudlet) -------------------------------------------------------------

// Encodes and signs a request with the device's key. kInvalidArgument if a rule is broken or
// `device` is not the key named in `request.device_key`.
Result<Bytes> SignEnrolmentRequest(const Enrolment& request, const crypto::Signer& device);

// Parses a request and verifies its self-signature. kResourceExhausted above
// kMaxEnrolmentBytes; AuthenticationFailed() for anything malformed or a bad signature. It says
// only that the sender holds the key: the cloudlet still decides whether to enrol (the patient
// exists and approved, the request names this cloudlet, the time is recent, the device id is
// not already enrolled with another key).
Result<Enrolment> VerifyEnrolmentRequest(ByteView encoded);

// --- Record (signed by the cloudlet) ----------------------------------------------------------

// A parsed record. NOT verified.
struct SignedEnrolment {
  Enrolment enrolment;
  crypto::KeyId issuer_key_id;  // Fingerprint() of the cloudlet's Ed25519 key
  Bytes signature;
  Bytes encoded;
};

// Encodes and signs a record with the cloudlet's key. kInvalidArgument if a rule is broken.
Result<Bytes> IssueEnrolment(const Enrolment& enrolment, const crypto::Signer& cloudlet);

// Parses without verifying (diagnostics). kResourceExhausted above kMaxEnrolmentBytes;
// kInvalidArgument with a specific message otherwise.
Result<SignedEnrolment> ParseEnrolment(ByteView encoded);

// Verifies a record against the (already verified, so currently valid) certificate of the
// cloudlet that issued it. Errors: kPermissionDenied if `cloudlet` is not a kCloudlet
// certificate; AuthenticationFailed() if the record is malformed, not signed by that
// certificate's key, or names another cloudlet. enrolled_at_ms is not compared with the
// certificate's validity, so records survive the renewal of a certificate for the same key
// (whoever holds the key could back-date a record anyway); a cloudlet that changes its signing
// key re-issues its records.
Result<Enrolment> VerifyEnrolment(ByteView encoded, const VerifiedCertificate& cloudlet);

}  // namespace medmesh::wire
