#include "wire/certificate.h"

#include <memory>
#include <string>

#include "wire/internal/framing.h"
#include "wire/model.h"

namespace medmesh::wire {
namespace {

constexpr std::string_view kMagic = "MMCT";
constexpr std::string_view kFormat = "certificate";
// A hybrid public key is 2 + NTRU public key (<= 1230) + 32 bytes.
constexpr std::size_t kMaxKemKeyBytes = 2048;

std::optional<CertificateRole> RoleFromId(std::uint8_t id) {
  switch (id) {
    case 1: return CertificateRole::kRoot;
    case 2: return CertificateRole::kCloud;
    case 3: return CertificateRole::kCloudlet;
    case 4: return CertificateRole::kDevice;
    default: return std::nullopt;
  }
}

// The rules of certificate.h that need no issuer.
Status CheckRules(const Certificate& c) {
  if (!RoleFromId(static_cast<std::uint8_t>(c.role))) {
    return InvalidArgument("certificate: unknown role");
  }
  if (!IsValidId(c.subject_id)) return InvalidArgument("certificate: bad subject id");
  if (c.not_before_ms < 0 || c.not_after_ms > kMaxTimeMs || c.not_before_ms > c.not_after_ms) {
    return InvalidArgument("certificate: validity period out of range or reversed");
  }
  const bool needs_kem = c.role == CertificateRole::kCloud || c.role == CertificateRole::kCloudlet;
  if (needs_kem && !c.kem_key) {
    return InvalidArgument("certificate: a " + std::string(CertificateRoleName(c.role)) +
                           " certificate needs a KEM key");
  }
  if (c.role == CertificateRole::kRoot && c.kem_key) {
    return InvalidArgument("certificate: a root certificate carries no KEM key");
  }
  return OkStatus();
}

}  // namespace

std::string_view CertificateRoleName(CertificateRole role) {
  switch (role) {
    case CertificateRole::kRoot: return "root";
    case CertificateRole::kCloud: return "cloud";
    case CertificateRole::kCloudlet: return "cloudlet";
    case CertificateRole::kDevice: return "device";
  }
  return "unknown";
}

Result<Bytes> IssueCertificate(const Certificate& c, const crypto::Signer& issuer) {
  MEDMESH_RETURN_IF_ERROR(CheckRules(c));
  if (c.role == CertificateRole::kRoot && !(c.signing_key == issuer.public_key())) {
    return InvalidArgument("certificate: a root certificate must be signed by its own key");
  }
  Bytes out;
  AppendBytes(out, AsBytes(kMagic));
  AppendU8(out, kCertificateVersion);
  AppendU8(out, static_cast<std::uint8_t>(c.role));
  internal::AppendId(out, c.subject_id);
  AppendBytes(out, c.signing_key.bytes());
  if (c.kem_key) {
    const Bytes kem = c.kem_key->ToBytes();
    AppendU16Le(out, static_cast<std::uint16_t>(kem.size()));
    AppendBytes(out, kem);
  } else {
    AppendU16Le(out, 0);
  }
  internal::AppendTimeMs(out, c.not_before_ms);
  internal::AppendTimeMs(out, c.not_after_ms);
  AppendBytes(out, issuer.public_key().Fingerprint());
  AppendBytes(out, issuer.Sign(out));
  return out;
}

Result<SignedCertificate> ParseCertificate(ByteView encoded) {
  if (encoded.size() > kMaxCertificateBytes) {
    return ResourceExhausted("certificate: larger than " + std::to_string(kMaxCertificateBytes) +
                             " bytes");
  }
  ByteReader in(encoded);
  MEDMESH_RETURN_IF_ERROR(internal::ReadMagicAndVersion(in, kMagic, kCertificateVersion, kFormat));
  auto role_id = in.ReadU8();
  if (!role_id) return InvalidArgument("certificate: truncated");
  const std::optional<CertificateRole> role = RoleFromId(*role_id);
  if (!role) return InvalidArgument("certificate: unknown role " + std::to_string(*role_id));
  MEDMESH_ASSIGN_OR_RETURN(std::string subject, internal::ReadId(in, kFormat, "subject id"));
  auto signing_bytes = in.ReadBytes(crypto::SigningPublicKey::kBytes);
  if (!signing_bytes) return InvalidArgument("certificate: truncated");
  auto signing_key = crypto::SigningPublicKey::FromBytes(*signing_bytes);
  if (!signing_key) return InvalidArgument("certificate: bad signing key");
  auto kem_length = in.ReadU16Le();
  if (!kem_length) return InvalidArgument("certificate: truncated");
  if (*kem_length > kMaxKemKeyBytes) return InvalidArgument("certificate: KEM key too long");
  std::optional<crypto::HybridPublicKey> kem_key;
  if (*kem_length > 0) {
    auto kem_bytes = in.ReadBytes(*kem_length);
    if (!kem_bytes) return InvalidArgument("certificate: truncated");
    auto kem = crypto::HybridPublicKey::FromBytes(*kem_bytes);
    if (!kem) return InvalidArgument("certificate: bad KEM key");
    kem_key = std::move(*kem);
  }
  MEDMESH_ASSIGN_OR_RETURN(const std::int64_t not_before,
                           internal::ReadTimeMs(in, kFormat, "not_before"));
  MEDMESH_ASSIGN_OR_RETURN(const std::int64_t not_after,
                           internal::ReadTimeMs(in, kFormat, "not_after"));
  MEDMESH_ASSIGN_OR_RETURN(const crypto::KeyId issuer,
                           internal::ReadArray<crypto::kKeyIdBytes>(in, kFormat));
  auto signature = in.ReadBytes(crypto::Signer::kSignatureBytes);
  if (!signature) return InvalidArgument("certificate: truncated");
  if (in.remaining() != 0) return InvalidArgument("certificate: trailing bytes");

  SignedCertificate out{
      .certificate = {.role = *role,
                      .subject_id = std::move(subject),
                      .signing_key = std::move(*signing_key),
                      .kem_key = std::move(kem_key),
                      .not_before_ms = not_before,
                      .not_after_ms = not_after},
      .issuer_key_id = issuer,
      .signature = Bytes(signature->begin(), signature->end()),
      .encoded = Bytes(encoded.begin(), encoded.end()),
  };
  MEDMESH_RETURN_IF_ERROR(CheckRules(out.certificate));
  if (out.certificate.role == CertificateRole::kRoot &&
      out.issuer_key_id != out.certificate.signing_key.Fingerprint()) {
    return InvalidArgument("certificate: a root certificate must be self-signed");
  }
  return out;
}

Result<VerifiedCertificate> VerifyCertificate(ByteView encoded,
                                              const crypto::SigningPublicKey& root,
                                              CertificateRole expected_role, std::int64_t now_ms) {
  auto parsed = ParseCertificate(encoded);
  if (!parsed || parsed->issuer_key_id != root.Fingerprint()) return crypto::AuthenticationFailed();
  const ByteView signed_part = encoded.first(encoded.size() - crypto::Signer::kSignatureBytes);
  MEDMESH_RETURN_IF_ERROR(crypto::NewEd25519Verifier(root)->Verify(signed_part, parsed->signature));
  const Certificate& c = parsed->certificate;
  if (c.role != expected_role) {
    return PermissionDenied("certificate: role is " + std::string(CertificateRoleName(c.role)) +
                            ", expected " + std::string(CertificateRoleName(expected_role)));
  }
  if (now_ms < c.not_before_ms) {
    return FailedPrecondition("certificate: not yet valid (valid from " +
                              std::to_string(c.not_before_ms) + " ms)");
  }
  if (now_ms > c.not_after_ms) {
    return FailedPrecondition("certificate: expired (valid until " +
                              std::to_string(c.not_after_ms) + " ms)");
  }
  return VerifiedCertificate(std::move(*parsed));
}

}  // namespace medmesh::wire
