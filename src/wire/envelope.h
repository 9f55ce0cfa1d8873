// The two envelopes of the data path. Byte layouts: docs/wire_format.md, "Upload envelope" and
// "Forward envelope".
//
// Upload (device -> cloudlet):
//   header ‖ session-sealed (salt ‖ payload) ‖ Ed25519 signature by the device
// The header (magic "MMUP", content type, device id, patient id, sequence, batch id, creation
// time, payload commitment) travels in the clear so the cloudlet can route and pick the device
// key before any cryptography, and it is the associated data of the session seal. The device
// signs header ‖ BLAKE2b-256(sealed payload), so the cloudlet verifies before it opens (a
// stranger cannot make it start sessions). The commitment is BLAKE2b-256 of the payload keyed
// with a random 16-byte salt that travels inside the seal: it binds the plaintext to the device
// signature without revealing anything about it, so the cloud, which never sees the cloudlet's
// session keys, can still check that the device signed exactly this payload.
//
// Forward (cloudlet -> cloud):
//   header ‖ hybrid-sealed (upload evidence ‖ payload) ‖ Ed25519 signature by the cloudlet
// The header (magic "MMFW", content type, cloudlet id, forward id) is the associated data of a
// hybrid sealed box (one KEM per forward, so any cloud node can open it without session state)
// and the cloudlet signs header ‖ BLAKE2b-256(sealed box). The upload evidence is the device's
// original signed upload minus its ciphertext: header bytes, the digest of the sealed payload,
// the device signature and the salt. With the payload it is all the cloud needs to re-check the
// device's signature, now and whenever a patient asks to verify their data.
//
// Every verify or open failure is the crypto core's one opaque error (AuthenticationFailed()).
// The exceptions are deliberate and leak nothing: parse errors of the clear-text header
// (kInvalidArgument, for routing and diagnostics), size caps (kResourceExhausted), and an upload
// whose device or patient does not match the enrolment it is checked against (kPermissionDenied).
// Thread safety: value types and free functions; the SessionSealer/SessionOpener passed in are
// thread-safe themselves.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "core/bytes.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/hybrid_seal.h"
#include "crypto/session_seal.h"
#include "crypto/signing.h"
#include "wire/certificate.h"
#include "wire/enrolment.h"
#include "wire/model.h"
#include "wire/readings_codec.h"
#include "wire/record_codec.h"

namespace medmesh::wire {

inline constexpr std::uint8_t kEnvelopeVersion = 1;

enum class ContentType : std::uint8_t {
  kReadingsBatch = 1,  // payload: EncodeReadings (readings_codec.h)
  kPatientRecord = 2,  // payload: EncodePatientRecord (record_codec.h)
};
// "readings_batch", "patient_record".
std::string_view ContentTypeName(ContentType type);

inline constexpr std::size_t kBatchIdBytes = 16;
using BatchId = std::array<std::uint8_t, kBatchIdBytes>;    // unique per device; random
using ForwardId = std::array<std::uint8_t, kBatchIdBytes>;  // unique per cloudlet; random
inline constexpr std::size_t kCommitmentSaltBytes = 16;
using CommitmentSalt = std::array<std::uint8_t, kCommitmentSaltBytes>;
inline constexpr std::size_t kEnvelopeDigestBytes = 32;
using EnvelopeDigest = std::array<std::uint8_t, kEnvelopeDigestBytes>;  // BLAKE2b-256

// A fresh random id for a batch or a forward.
BatchId NewBatchId(Random& random);

// Caps: larger envelopes are refused before parsing (kResourceExhausted). An upload holds at
// most a record (kMaxRecordBytes) plus about 1.5 KB of header, session KEM and signature; a
// forward adds a sealed box (about 1.3 KB) and the evidence (about 300 bytes).
inline constexpr std::size_t kMaxUploadBytes = std::size_t{8} << 20;
inline constexpr std::size_t kMaxUploadPayloadBytes = kMaxUploadBytes - 4096;
inline constexpr std::size_t kMaxForwardBytes = kMaxUploadBytes + 8192;

// --- Upload (device -> cloudlet) --------------------------------------------------------------

struct UploadHeader {
  ContentType content_type = ContentType::kReadingsBatch;
  std::string device_id;       // IsValidId
  std::string patient_id;      // IsValidId
  std::uint64_t sequence = 0;  // +1 per upload of a device
  BatchId batch_id{};
  std::int64_t created_ms = 0;  // Unix ms, in [0, kMaxTimeMs]
  bool operator==(const UploadHeader&) const = default;
};

// Builds a signed upload: draws a salt from `random`, commits to `payload`, seals
// salt ‖ payload with `sealer` (header as associated data) and signs with `device`.
// kInvalidArgument for a bad header field or a payload larger than kMaxUploadPayloadBytes;
// the errors of SessionSealer::SealBatch.
Result<Bytes> SealUpload(const UploadHeader& header, ByteView payload,
                         crypto::SessionSealer& sealer, const crypto::Signer& device,
                         Random& random);

// A parsed upload. The views point into the bytes given to ParseUpload, which must outlive it.
// Nothing here is authentic until VerifyUpload / OpenUpload.
struct ParsedUpload {
  UploadHeader header;
  EnvelopeDigest payload_commitment;
  ByteView header_bytes;
  ByteView sealed_payload;
  ByteView signature;
};

// Reads the clear-text header without keys (to route and to look up the device's enrolment).
// kResourceExhausted above `max_bytes`; kInvalidArgument with a specific message for a bad
// magic, version, content type, id, time or a body too short to hold a sealed payload and a
// signature.
Result<ParsedUpload> ParseUpload(ByteView upload, std::size_t max_bytes = kMaxUploadBytes);

// Checks the device signature with the key of `device` (an enrolment the caller trusts: one it
// issued, or one VerifyEnrolment accepted). kPermissionDenied if the upload's device id or
// patient id differs from the enrolment's; AuthenticationFailed() for a bad signature.
Status VerifyUpload(const ParsedUpload& upload, const Enrolment& device);

// What the cloud keeps to re-check a device's signature on a payload it stores.
struct UploadEvidence {
  Bytes header_bytes;            // the exact upload header
  EnvelopeDigest sealed_digest;  // BLAKE2b-256 of the sealed payload the device signed
  Bytes device_signature;        // 64 bytes
  CommitmentSalt salt;           // opens the header's payload commitment
  bool operator==(const UploadEvidence&) const = default;
};

struct OpenedUpload {
  UploadHeader header;
  Bytes payload;  // the encoded readings or record, authentic
  UploadEvidence evidence;
};

// VerifyUpload, then opens the sealed payload with `opener` and checks the commitment.
// Errors: those of VerifyUpload; AuthenticationFailed() for every open failure (including a
// replayed or unknown session, see session_seal.h) or a commitment mismatch. The opener's state
// changes only for a payload that opens.
Result<OpenedUpload> OpenUpload(const ParsedUpload& upload, const Enrolment& device,
                                crypto::SessionOpener& opener);

// Versioned encoding of evidence (magic "MMEV"), for storage and inside a forward.
Bytes EncodeUploadEvidence(const UploadEvidence& evidence);
// kInvalidArgument for anything malformed (including a header that ParseUpload's rules refuse).
Result<UploadEvidence> DecodeUploadEvidence(ByteView encoded);

// An opened upload's evidence and payload as one blob, the plaintext both the cloudlet (forward
// queue, at rest) and the cloud (reading batches, at rest) encrypt:
// u32 LE length of the encoded evidence ‖ EncodeUploadEvidence(evidence) ‖ payload.
Bytes EncodeEvidenceAndPayload(const UploadEvidence& evidence, ByteView payload);
struct EvidenceAndPayload {
  UploadEvidence evidence;
  ByteView payload;  // points into the encoded bytes
};
// kInvalidArgument if the length overruns or the evidence does not decode. The evidence is not
// verified (VerifyUploadEvidence does that).
Result<EvidenceAndPayload> DecodeEvidenceAndPayload(ByteView encoded);

// Re-checks stored evidence against a payload: the upload header names `device`'s device and
// patient (else kPermissionDenied), the device signature is valid and the commitment opens to
// `payload` (else AuthenticationFailed()). Returns the upload header.
Result<UploadHeader> VerifyUploadEvidence(const UploadEvidence& evidence, ByteView payload,
                                          const Enrolment& device);

// The payload of an authentic readings upload, decoded and joined with its header into a
// ReadingBatch. kInvalidArgument if the content type is not kReadingsBatch; otherwise the
// errors of DecodeReadings.
Result<ReadingBatch> ReadingBatchFromUpload(const UploadHeader& header, ByteView payload,
                                            const ReadingsDecodeLimits& limits = {});
// The payload of an authentic record upload, decoded. kInvalidArgument if the content type is
// not kPatientRecord, or the record's device id or patient id differs from the header's (a
// device may only upload records of its own patient); otherwise the errors of
// DecodePatientRecord.
Result<PatientRecord> PatientRecordFromUpload(const UploadHeader& header, ByteView payload);

// --- Forward (cloudlet -> cloud) --------------------------------------------------------------

struct ForwardHeader {
  ContentType content_type = ContentType::kReadingsBatch;
  std::string cloudlet_id;  // IsValidId
  ForwardId forward_id{};
  bool operator==(const ForwardHeader&) const = default;
};

// Builds a signed forward of an opened upload: seals evidence ‖ payload to the cloud with
// `cloud` (forward header as associated data) and signs with `cloudlet`. kInvalidArgument for a
// bad header field, a content type that differs from the upload's, or a payload larger than
// kMaxUploadPayloadBytes.
Result<Bytes> SealForward(const ForwardHeader& header, const OpenedUpload& upload,
                          const crypto::HybridSealer& cloud, const crypto::Signer& cloudlet);

// A parsed forward; views into the bytes given to ParseForward. Not authentic.
struct ParsedForward {
  ForwardHeader header;
  ByteView header_bytes;
  ByteView sealed_body;
  ByteView signature;
};

// Reads the clear-text header without keys (to pick the cloudlet's certificate).
// kResourceExhausted above `max_bytes`; kInvalidArgument for anything malformed.
Result<ParsedForward> ParseForward(ByteView forward, std::size_t max_bytes = kMaxForwardBytes);

// Returns the enrolment of the device that made an upload, or an error (e.g. kNotFound for an
// unknown device), which OpenForward passes on unchanged.
using EnrolmentLookup = std::function<Result<Enrolment>(const UploadHeader& upload)>;

// Opens a forward completely:
//   1. `cloudlet` must be a kCloudlet certificate for the forward's cloudlet id
//      (else kPermissionDenied), and its key must have signed the forward;
//   2. the body is opened with `cloud`;
//   3. the inner upload must have the forward's content type, and the device's signature and
//      commitment must check out with the enrolment `lookup` returns (VerifyUploadEvidence).
// Every signature, open or structure failure inside the seal is AuthenticationFailed().
Result<OpenedUpload> OpenForward(const ParsedForward& forward, const VerifiedCertificate& cloudlet,
                                 const crypto::HybridOpener& cloud, const EnrolmentLookup& lookup);

}  // namespace medmesh::wire
