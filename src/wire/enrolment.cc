#include "wire/enrolment.h"

#include <string>

#include "wire/internal/framing.h"
#include "wire/model.h"

namespace medmesh::wire {
namespace {

// Distinct magics keep a device's request signature from ever passing for an upload signature
// (and a cloudlet's record signature for a forward or an alert): signing.h's warning.
constexpr std::string_view kRequestMagic = "MMEQ";
constexpr std::string_view kRecordMagic = "MMEN";
constexpr std::string_view kRequestFormat = "enrolment request";
constexpr std::string_view kRecordFormat = "enrolment";

Status CheckRules(const Enrolment& e, std::string_view format) {
  if (!IsValidId(e.device_id)) return InvalidArgument(std::string(format) + ": bad device id");
  if (!IsValidId(e.patient_id)) return InvalidArgument(std::string(format) + ": bad patient id");
  if (!IsValidId(e.cloudlet_id)) return InvalidArgument(std::string(format) + ": bad cloudlet id");
  if (e.enrolled_at_ms < 0 || e.enrolled_at_ms > kMaxTimeMs) {
    return InvalidArgument(std::string(format) + ": time out of range");
  }
  return OkStatus();
}

// magic | version | device id | patient id | device key | cloudlet id | time
Bytes EncodeStatement(std::string_view magic, const Enrolment& e) {
  Bytes out;
  AppendBytes(out, AsBytes(magic));
  AppendU8(out, kEnrolmentVersion);
  internal::AppendId(out, e.device_id);
  internal::AppendId(out, e.patient_id);
  AppendBytes(out, e.device_key.bytes());
  internal::AppendId(out, e.cloudlet_id);
  internal::AppendTimeMs(out, e.enrolled_at_ms);
  return out;
}

Result<Enrolment> ReadStatement(ByteReader& in, std::string_view magic, std::string_view format) {
  MEDMESH_RETURN_IF_ERROR(internal::ReadMagicAndVersion(in, magic, kEnrolmentVersion, format));
  MEDMESH_ASSIGN_OR_RETURN(std::string device_id, internal::ReadId(in, format, "device id"));
  MEDMESH_ASSIGN_OR_RETURN(std::string patient_id, internal::ReadId(in, format, "patient id"));
  auto key_bytes = in.ReadBytes(crypto::SigningPublicKey::kBytes);
  if (!key_bytes) return InvalidArgument(std::string(format) + ": truncated");
  auto key = crypto::SigningPublicKey::FromBytes(*key_bytes);
  if (!key) return InvalidArgument(std::string(format) + ": bad device key");
  MEDMESH_ASSIGN_OR_RETURN(std::string cloudlet_id, internal::ReadId(in, format, "cloudlet id"));
  MEDMESH_ASSIGN_OR_RETURN(const std::int64_t time, internal::ReadTimeMs(in, format, "time"));
  return Enrolment{.device_id = std::move(device_id),
                   .patient_id = std::move(patient_id),
                   .device_key = std::move(*key),
                   .cloudlet_id = std::move(cloudlet_id),
                   .enrolled_at_ms = time};
}

Status CheckSize(ByteView encoded, std::string_view format) {
  if (encoded.size() > kMaxEnrolmentBytes) {
    return ResourceExhausted(std::string(format) + ": larger than " +
                             std::to_string(kMaxEnrolmentBytes) + " bytes");
  }
  return OkStatus();
}

}  // namespace

Result<Bytes> SignEnrolmentRequest(const Enrolment& request, const crypto::Signer& device) {
  MEDMESH_RETURN_IF_ERROR(CheckRules(request, kRequestFormat));
  if (!(request.device_key == device.public_key())) {
    return InvalidArgument("enrolment request: must be signed by the device key it names");
  }
  Bytes out = EncodeStatement(kRequestMagic, request);
  AppendBytes(out, device.Sign(out));
  return out;
}

Result<Enrolment> VerifyEnrolmentRequest(ByteView encoded) {
  MEDMESH_RETURN_IF_ERROR(CheckSize(encoded, kRequestFormat));
  ByteReader in(encoded);
  auto request = ReadStatement(in, kRequestMagic, kRequestFormat);
  if (!request || in.remaining() != crypto::Signer::kSignatureBytes) {
    return crypto::AuthenticationFailed();
  }
  const std::size_t signed_bytes = in.position();
  MEDMESH_RETURN_IF_ERROR(crypto::NewEd25519Verifier(request->device_key)
                              ->Verify(encoded.first(signed_bytes), in.Rest()));
  return std::move(*request);
}

Result<Bytes> IssueEnrolment(const Enrolment& enrolment, const crypto::Signer& cloudlet) {
  MEDMESH_RETURN_IF_ERROR(CheckRules(enrolment, kRecordFormat));
  Bytes out = EncodeStatement(kRecordMagic, enrolment);
  AppendBytes(out, cloudlet.public_key().Fingerprint());
  AppendBytes(out, cloudlet.Sign(out));
  return out;
}

Result<SignedEnrolment> ParseEnrolment(ByteView encoded) {
  MEDMESH_RETURN_IF_ERROR(CheckSize(encoded, kRecordFormat));
  ByteReader in(encoded);
  MEDMESH_ASSIGN_OR_RETURN(Enrolment enrolment, ReadStatement(in, kRecordMagic, kRecordFormat));
  MEDMESH_ASSIGN_OR_RETURN(const crypto::KeyId issuer,
                           internal::ReadArray<crypto::kKeyIdBytes>(in, kRecordFormat));
  auto signature = in.ReadBytes(crypto::Signer::kSignatureBytes);
  if (!signature) return InvalidArgument("enrolment: truncated");
  if (in.remaining() != 0) return InvalidArgument("enrolment: trailing bytes");
  return SignedEnrolment{.enrolment = std::move(enrolment),
                         .issuer_key_id = issuer,
                         .signature = Bytes(signature->begin(), signature->end()),
                         .encoded = Bytes(encoded.begin(), encoded.end())};
}

Result<Enrolment> VerifyEnrolment(ByteView encoded, const VerifiedCertificate& cloudlet) {
  const Certificate& cert = cloudlet.certificate();
  if (cert.role != CertificateRole::kCloudlet) {
    return PermissionDenied("enrolment: issuer certificate is for role " +
                            std::string(CertificateRoleName(cert.role)) + ", not cloudlet");
  }
  auto parsed = ParseEnrolment(encoded);
  if (!parsed || parsed->issuer_key_id != cert.signing_key.Fingerprint() ||
      parsed->enrolment.cloudlet_id != cert.subject_id) {
    return crypto::AuthenticationFailed();
  }
  MEDMESH_RETURN_IF_ERROR(
      crypto::NewEd25519Verifier(cert.signing_key)
          ->Verify(encoded.first(encoded.size() - crypto::Signer::kSignatureBytes),
                   parsed->signature));
  return std::move(parsed->enrolment);
}

}  // namespace medmesh::wire
