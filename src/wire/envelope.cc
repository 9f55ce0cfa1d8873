#include "wire/envelope.h"

#include <algorithm>
#include <string>
#include <utility>

#include "core/secret_bytes.h"
#include "crypto/keyed_hash.h"
#include "wire/internal/framing.h"

namespace medmesh::wire {
namespace {

constexpr std::string_view kUploadMagic = "MMUP";
constexpr std::string_view kForwardMagic = "MMFW";
constexpr std::string_view kEvidenceMagic = "MMEV";
constexpr std::string_view kUploadFormat = "upload";
constexpr std::string_view kForwardFormat = "forward";
constexpr std::string_view kEvidenceFormat = "upload evidence";
constexpr std::size_t kSignatureBytes = crypto::Signer::kSignatureBytes;
// A session batch of counter > 0 is 30 bytes of header and a 16-byte tag around the plaintext,
// which holds at least the salt.
constexpr std::size_t kMinSealedPayloadBytes = 30 + 16 + kCommitmentSaltBytes;
// The longest upload header: magic, version, type, two ids of 64, sequence, batch id, time,
// commitment.
constexpr std::size_t kMaxUploadHeaderBytes = 4 + 1 + 1 + 2 * (1 + kMaxIdBytes) + 8 + 16 + 8 + 32;

std::optional<ContentType> ContentTypeFromId(std::uint8_t id) {
  switch (id) {
    case 1: return ContentType::kReadingsBatch;
    case 2: return ContentType::kPatientRecord;
    default: return std::nullopt;
  }
}

Result<ContentType> ReadContentType(ByteReader& in, std::string_view format) {
  auto id = in.ReadU8();
  if (!id) return InvalidArgument(std::string(format) + ": truncated");
  const std::optional<ContentType> type = ContentTypeFromId(*id);
  if (!type) return InvalidArgument(std::string(format) + ": unknown content type");
  return *type;
}

Bytes Concat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  AppendBytes(out, b);
  return out;
}

EnvelopeDigest Digest(ByteView data) { return crypto::Blake2b256(data); }

EnvelopeDigest Commitment(const CommitmentSalt& salt, ByteView payload) {
  return crypto::Blake2b256Commitment(salt, payload);
}

// --- Upload header ----------------------------------------------------------------------------

Status CheckUploadHeader(const UploadHeader& h) {
  if (!ContentTypeFromId(static_cast<std::uint8_t>(h.content_type))) {
    return InvalidArgument("upload: unknown content type");
  }
  if (!IsValidId(h.device_id)) return InvalidArgument("upload: bad device id");
  if (!IsValidId(h.patient_id)) return InvalidArgument("upload: bad patient id");
  if (h.created_ms < 0 || h.created_ms > kMaxTimeMs) {
    return InvalidArgument("upload: created_ms out of range");
  }
  return OkStatus();
}

Bytes EncodeUploadHeader(const UploadHeader& h, const EnvelopeDigest& commitment) {
  Bytes out;
  out.reserve(kMaxUploadHeaderBytes);
  AppendBytes(out, AsBytes(kUploadMagic));
  AppendU8(out, kEnvelopeVersion);
  AppendU8(out, static_cast<std::uint8_t>(h.content_type));
  internal::AppendId(out, h.device_id);
  internal::AppendId(out, h.patient_id);
  AppendU64Le(out, h.sequence);
  AppendBytes(out, h.batch_id);
  internal::AppendTimeMs(out, h.created_ms);
  AppendBytes(out, commitment);
  return out;
}

struct UploadHeaderFields {
  UploadHeader header;
  EnvelopeDigest commitment;
};

Result<UploadHeaderFields> ReadUploadHeader(ByteReader& in) {
  MEDMESH_RETURN_IF_ERROR(
      internal::ReadMagicAndVersion(in, kUploadMagic, kEnvelopeVersion, kUploadFormat));
  UploadHeaderFields f;
  MEDMESH_ASSIGN_OR_RETURN(f.header.content_type, ReadContentType(in, kUploadFormat));
  MEDMESH_ASSIGN_OR_RETURN(f.header.device_id, internal::ReadId(in, kUploadFormat, "device id"));
  MEDMESH_ASSIGN_OR_RETURN(f.header.patient_id, internal::ReadId(in, kUploadFormat, "patient id"));
  auto sequence = in.ReadU64Le();
  if (!sequence) return InvalidArgument("upload: truncated");
  f.header.sequence = *sequence;
  MEDMESH_ASSIGN_OR_RETURN(f.header.batch_id,
                           internal::ReadArray<kBatchIdBytes>(in, kUploadFormat));
  MEDMESH_ASSIGN_OR_RETURN(f.header.created_ms,
                           internal::ReadTimeMs(in, kUploadFormat, "created_ms"));
  MEDMESH_ASSIGN_OR_RETURN(f.commitment,
                           internal::ReadArray<kEnvelopeDigestBytes>(in, kUploadFormat));
  return f;
}

// Parses a complete header (no trailing bytes), as stored in evidence.
Result<UploadHeaderFields> ParseUploadHeaderBytes(ByteView header_bytes) {
  ByteReader in(header_bytes);
  MEDMESH_ASSIGN_OR_RETURN(UploadHeaderFields f, ReadUploadHeader(in));
  if (in.remaining() != 0) return InvalidArgument("upload: trailing bytes after the header");
  return f;
}

Status CheckEnrolled(const UploadHeader& h, const Enrolment& device) {
  if (h.device_id != device.device_id) {
    return PermissionDenied("upload: device id does not match the enrolment");
  }
  if (h.patient_id != device.patient_id) {
    return PermissionDenied("upload: device is not enrolled to this patient");
  }
  return OkStatus();
}

Status VerifyDeviceSignature(ByteView header_bytes, const EnvelopeDigest& sealed_digest,
                             ByteView signature, const Enrolment& device) {
  return crypto::NewEd25519Verifier(device.device_key)
      ->Verify(Concat(header_bytes, sealed_digest), signature);
}

// --- Evidence ---------------------------------------------------------------------------------

Result<UploadEvidence> ReadEvidence(ByteReader& in) {
  MEDMESH_RETURN_IF_ERROR(
      internal::ReadMagicAndVersion(in, kEvidenceMagic, kEnvelopeVersion, kEvidenceFormat));
  auto header_length = in.ReadU16Le();
  if (!header_length) return InvalidArgument("upload evidence: truncated");
  if (*header_length > kMaxUploadHeaderBytes) {
    return InvalidArgument("upload evidence: header too long");
  }
  auto header = in.ReadBytes(*header_length);
  if (!header) return InvalidArgument("upload evidence: truncated");
  MEDMESH_RETURN_IF_ERROR(ParseUploadHeaderBytes(*header));
  UploadEvidence e;
  e.header_bytes.assign(header->begin(), header->end());
  MEDMESH_ASSIGN_OR_RETURN(e.sealed_digest,
                           internal::ReadArray<kEnvelopeDigestBytes>(in, kEvidenceFormat));
  auto signature = in.ReadBytes(kSignatureBytes);
  if (!signature) return InvalidArgument("upload evidence: truncated");
  e.device_signature.assign(signature->begin(), signature->end());
  MEDMESH_ASSIGN_OR_RETURN(e.salt, internal::ReadArray<kCommitmentSaltBytes>(in, kEvidenceFormat));
  return e;
}

// --- Forward header ---------------------------------------------------------------------------

Status CheckForwardHeader(const ForwardHeader& h) {
  if (!ContentTypeFromId(static_cast<std::uint8_t>(h.content_type))) {
    return InvalidArgument("forward: unknown content type");
  }
  if (!IsValidId(h.cloudlet_id)) return InvalidArgument("forward: bad cloudlet id");
  return OkStatus();
}

Bytes EncodeForwardHeader(const ForwardHeader& h) {
  Bytes out;
  AppendBytes(out, AsBytes(kForwardMagic));
  AppendU8(out, kEnvelopeVersion);
  AppendU8(out, static_cast<std::uint8_t>(h.content_type));
  internal::AppendId(out, h.cloudlet_id);
  AppendBytes(out, h.forward_id);
  return out;
}

}  // namespace

std::string_view ContentTypeName(ContentType type) {
  switch (type) {
    case ContentType::kReadingsBatch: return "readings_batch";
    case ContentType::kPatientRecord: return "patient_record";
  }
  return "unknown";
}

BatchId NewBatchId(Random& random) {
  BatchId id{};
  random.Fill(id);
  return id;
}

// --- Upload -----------------------------------------------------------------------------------

Result<Bytes> SealUpload(const UploadHeader& header, ByteView payload,
                         crypto::SessionSealer& sealer, const crypto::Signer& device,
                         Random& random) {
  MEDMESH_RETURN_IF_ERROR(CheckUploadHeader(header));
  if (payload.size() > kMaxUploadPayloadBytes) {
    return InvalidArgument("upload: payload larger than " + std::to_string(kMaxUploadPayloadBytes) +
                           " bytes");
  }
  CommitmentSalt salt{};
  random.Fill(salt);
  const Bytes header_bytes = EncodeUploadHeader(header, Commitment(salt, payload));
  MEDMESH_ASSIGN_OR_RETURN(const Bytes sealed,
                           sealer.SealBatch(Concat(salt, payload), header_bytes));
  const Bytes signature = device.Sign(Concat(header_bytes, Digest(sealed)));
  Bytes out;
  out.reserve(header_bytes.size() + sealed.size() + signature.size());
  AppendBytes(out, header_bytes);
  AppendBytes(out, sealed);
  AppendBytes(out, signature);
  return out;
}

Result<ParsedUpload> ParseUpload(ByteView upload, std::size_t max_bytes) {
  if (upload.size() > max_bytes) {
    return ResourceExhausted("upload: " + std::to_string(upload.size()) +
                             " bytes exceed the limit of " + std::to_string(max_bytes));
  }
  ByteReader in(upload);
  MEDMESH_ASSIGN_OR_RETURN(UploadHeaderFields f, ReadUploadHeader(in));
  const ByteView rest = in.Rest();
  if (rest.size() < kMinSealedPayloadBytes + kSignatureBytes) {
    return InvalidArgument("upload: too short for a sealed payload and a signature");
  }
  return ParsedUpload{
      .header = std::move(f.header),
      .payload_commitment = f.commitment,
      .header_bytes = upload.first(in.position()),
      .sealed_payload = rest.first(rest.size() - kSignatureBytes),
      .signature = rest.last(kSignatureBytes),
  };
}

Status VerifyUpload(const ParsedUpload& upload, const Enrolment& device) {
  MEDMESH_RETURN_IF_ERROR(CheckEnrolled(upload.header, device));
  return VerifyDeviceSignature(upload.header_bytes, Digest(upload.sealed_payload), upload.signature,
                               device);
}

Result<OpenedUpload> OpenUpload(const ParsedUpload& upload, const Enrolment& device,
                                crypto::SessionOpener& opener) {
  MEDMESH_RETURN_IF_ERROR(CheckEnrolled(upload.header, device));
  const EnvelopeDigest sealed_digest = Digest(upload.sealed_payload);
  MEDMESH_RETURN_IF_ERROR(
      VerifyDeviceSignature(upload.header_bytes, sealed_digest, upload.signature, device));
  MEDMESH_ASSIGN_OR_RETURN(Bytes plaintext,
                           opener.OpenBatch(upload.sealed_payload, upload.header_bytes));
  if (plaintext.size() < kCommitmentSaltBytes) return crypto::AuthenticationFailed();
  CommitmentSalt salt{};
  std::copy_n(plaintext.begin(), kCommitmentSaltBytes, salt.begin());
  Bytes payload(plaintext.begin() + kCommitmentSaltBytes, plaintext.end());
  if (!ConstantTimeEqual(Commitment(salt, payload), upload.payload_commitment)) {
    return crypto::AuthenticationFailed();
  }
  return OpenedUpload{
      .header = upload.header,
      .payload = std::move(payload),
      .evidence = {.header_bytes = Bytes(upload.header_bytes.begin(), upload.header_bytes.end()),
                   .sealed_digest = sealed_digest,
                   .device_signature = Bytes(upload.signature.begin(), upload.signature.end()),
                   .salt = salt},
  };
}

Bytes EncodeUploadEvidence(const UploadEvidence& e) {
  MEDMESH_CHECK(e.header_bytes.size() <= kMaxUploadHeaderBytes &&
                    e.device_signature.size() == kSignatureBytes,
                "EncodeUploadEvidence: evidence not made by OpenUpload/DecodeUploadEvidence");
  Bytes out;
  AppendBytes(out, AsBytes(kEvidenceMagic));
  AppendU8(out, kEnvelopeVersion);
  AppendU16Le(out, static_cast<std::uint16_t>(e.header_bytes.size()));
  AppendBytes(out, e.header_bytes);
  AppendBytes(out, e.sealed_digest);
  AppendBytes(out, e.device_signature);
  AppendBytes(out, e.salt);
  return out;
}

Result<UploadEvidence> DecodeUploadEvidence(ByteView encoded) {
  ByteReader in(encoded);
  MEDMESH_ASSIGN_OR_RETURN(UploadEvidence e, ReadEvidence(in));
  if (in.remaining() != 0) return InvalidArgument("upload evidence: trailing bytes");
  return e;
}

Bytes EncodeEvidenceAndPayload(const UploadEvidence& evidence, ByteView payload) {
  const Bytes encoded = EncodeUploadEvidence(evidence);
  Bytes out;
  out.reserve(4 + encoded.size() + payload.size());
  AppendU32Le(out, static_cast<std::uint32_t>(encoded.size()));
  AppendBytes(out, encoded);
  AppendBytes(out, payload);
  return out;
}

Result<EvidenceAndPayload> DecodeEvidenceAndPayload(ByteView encoded) {
  ByteReader in(encoded);
  auto length = in.ReadU32Le();
  if (!length) return InvalidArgument("evidence and payload: truncated");
  auto evidence_bytes = in.ReadBytes(*length);
  if (!evidence_bytes) return InvalidArgument("evidence and payload: truncated");
  MEDMESH_ASSIGN_OR_RETURN(UploadEvidence evidence, DecodeUploadEvidence(*evidence_bytes));
  return EvidenceAndPayload{std::move(evidence), in.Rest()};
}

Result<UploadHeader> VerifyUploadEvidence(const UploadEvidence& evidence, ByteView payload,
                                          const Enrolment& device) {
  auto fields = ParseUploadHeaderBytes(evidence.header_bytes);
  if (!fields) return crypto::AuthenticationFailed();
  MEDMESH_RETURN_IF_ERROR(CheckEnrolled(fields->header, device));
  MEDMESH_RETURN_IF_ERROR(VerifyDeviceSignature(evidence.header_bytes, evidence.sealed_digest,
                                                evidence.device_signature, device));
  if (!ConstantTimeEqual(Commitment(evidence.salt, payload), fields->commitment)) {
    return crypto::AuthenticationFailed();
  }
  return std::move(fields->header);
}

Result<ReadingBatch> ReadingBatchFromUpload(const UploadHeader& header, ByteView payload,
                                            const ReadingsDecodeLimits& limits) {
  if (header.content_type != ContentType::kReadingsBatch) {
    return InvalidArgument("upload: content type is not readings_batch");
  }
  MEDMESH_ASSIGN_OR_RETURN(std::vector<Reading> readings, DecodeReadings(payload, limits));
  return ReadingBatch{.device_id = header.device_id,
                      .patient_id = header.patient_id,
                      .sequence = header.sequence,
                      .readings = std::move(readings)};
}

Result<PatientRecord> PatientRecordFromUpload(const UploadHeader& header, ByteView payload) {
  if (header.content_type != ContentType::kPatientRecord) {
    return InvalidArgument("upload: content type is not patient_record");
  }
  MEDMESH_ASSIGN_OR_RETURN(PatientRecord record, DecodePatientRecord(payload));
  if (record.device_id != header.device_id || record.patient_id != header.patient_id) {
    return InvalidArgument("upload: the record's device or patient differs from the upload's");
  }
  return record;
}

// --- Forward ----------------------------------------------------------------------------------

Result<Bytes> SealForward(const ForwardHeader& header, const OpenedUpload& upload,
                          const crypto::HybridSealer& cloud, const crypto::Signer& cloudlet) {
  MEDMESH_RETURN_IF_ERROR(CheckForwardHeader(header));
  if (header.content_type != upload.header.content_type) {
    return InvalidArgument("forward: content type differs from the upload's");
  }
  if (upload.payload.size() > kMaxUploadPayloadBytes) {
    return InvalidArgument("forward: payload larger than " +
                           std::to_string(kMaxUploadPayloadBytes) + " bytes");
  }
  const Bytes header_bytes = EncodeForwardHeader(header);
  Bytes body = EncodeUploadEvidence(upload.evidence);
  AppendBytes(body, upload.payload);
  MEDMESH_ASSIGN_OR_RETURN(const Bytes sealed, cloud.Seal(body, header_bytes));
  const Bytes signature = cloudlet.Sign(Concat(header_bytes, Digest(sealed)));
  Bytes out;
  out.reserve(header_bytes.size() + sealed.size() + signature.size());
  AppendBytes(out, header_bytes);
  AppendBytes(out, sealed);
  AppendBytes(out, signature);
  return out;
}

Result<ParsedForward> ParseForward(ByteView forward, std::size_t max_bytes) {
  if (forward.size() > max_bytes) {
    return ResourceExhausted("forward: " + std::to_string(forward.size()) +
                             " bytes exceed the limit of " + std::to_string(max_bytes));
  }
  ByteReader in(forward);
  MEDMESH_RETURN_IF_ERROR(
      internal::ReadMagicAndVersion(in, kForwardMagic, kEnvelopeVersion, kForwardFormat));
  ForwardHeader header;
  MEDMESH_ASSIGN_OR_RETURN(header.content_type, ReadContentType(in, kForwardFormat));
  MEDMESH_ASSIGN_OR_RETURN(header.cloudlet_id, internal::ReadId(in, kForwardFormat, "cloudlet id"));
  MEDMESH_ASSIGN_OR_RETURN(header.forward_id,
                           internal::ReadArray<kBatchIdBytes>(in, kForwardFormat));
  const ByteView rest = in.Rest();
  const std::size_t min_box = crypto::SealedBoxBytes(crypto::NtruParamSet::kHps2048509, 0);
  if (rest.size() < min_box + kSignatureBytes) {
    return InvalidArgument("forward: too short for a sealed body and a signature");
  }
  return ParsedForward{
      .header = std::move(header),
      .header_bytes = forward.first(in.position()),
      .sealed_body = rest.first(rest.size() - kSignatureBytes),
      .signature = rest.last(kSignatureBytes),
  };
}

Result<OpenedUpload> OpenForward(const ParsedForward& forward, const VerifiedCertificate& cloudlet,
                                 const crypto::HybridOpener& cloud, const EnrolmentLookup& lookup) {
  const Certificate& cert = cloudlet.certificate();
  if (cert.role != CertificateRole::kCloudlet || cert.subject_id != forward.header.cloudlet_id) {
    return PermissionDenied("forward: certificate is not that of cloudlet " +
                            forward.header.cloudlet_id);
  }
  MEDMESH_RETURN_IF_ERROR(
      crypto::NewEd25519Verifier(cert.signing_key)
          ->Verify(Concat(forward.header_bytes, Digest(forward.sealed_body)), forward.signature));
  MEDMESH_ASSIGN_OR_RETURN(const Bytes body, cloud.Open(forward.sealed_body, forward.header_bytes));

  // The body is authentic (the cloudlet signed it), but a malformed one is still refused with the
  // one opaque error: from outside, every failure inside the seal looks the same.
  ByteReader in(body);
  auto evidence = ReadEvidence(in);
  if (!evidence) return crypto::AuthenticationFailed();
  auto fields = ParseUploadHeaderBytes(evidence->header_bytes);
  if (!fields || fields->header.content_type != forward.header.content_type) {
    return crypto::AuthenticationFailed();
  }
  const ByteView payload = in.Rest();
  MEDMESH_ASSIGN_OR_RETURN(const Enrolment device, lookup(fields->header));
  MEDMESH_ASSIGN_OR_RETURN(UploadHeader header, VerifyUploadEvidence(*evidence, payload, device));
  return OpenedUpload{.header = std::move(header),
                      .payload = Bytes(payload.begin(), payload.end()),
                      .evidence = std::move(*evidence)};
}

}  // namespace medmesh::wire
