#include "ids/mesh_report.h"

#include "crypto/kdf.h"
#include "wire/model.h"
#include "wire/node_envelope.h"

namespace medmesh::ids {
namespace {

constexpr std::string_view kReportMagic = "MMIDSM";
constexpr std::string_view kEnvelopeMagic = "MMIDSE";
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kMaxPayloadBytes = 4096;
constexpr std::size_t kMaxRevokedIdBytes = 128;

Status CheckReport(const MeshReport& report) {
  if (!wire::IsValidId(report.origin)) return InvalidArgument("mesh report: bad origin id");
  switch (report.kind) {
    case MeshReportKind::kDecision:
    case MeshReportKind::kAlert:
      if (report.decision.origin != report.origin) {
        return InvalidArgument("mesh report: a decision of another origin");
      }
      if ((report.kind == MeshReportKind::kAlert) !=
          (report.decision.action == Action::kAlertOnly)) {
        return InvalidArgument("mesh report: kind and action disagree");
      }
      return OkStatus();
    case MeshReportKind::kRevocation:
      if (report.revoked_id.empty() || report.revoked_id.size() > kMaxRevokedIdBytes) {
        return InvalidArgument("mesh report: bad revoked decision id");
      }
      return OkStatus();
  }
  return InvalidArgument("mesh report: unknown kind");
}

}  // namespace

std::string_view MeshReportKindName(MeshReportKind kind) {
  switch (kind) {
    case MeshReportKind::kDecision: return "decision";
    case MeshReportKind::kRevocation: return "revocation";
    case MeshReportKind::kAlert: return "alert";
  }
  return "decision";
}

Result<Bytes> EncodeMeshReport(const MeshReport& report) {
  MEDMESH_RETURN_IF_ERROR(CheckReport(report));
  Bytes out;
  AppendBytes(out, AsBytes(kReportMagic));
  AppendU8(out, kVersion);
  wire::AppendLengthPrefixed(out, AsBytes(report.origin));
  AppendU64Le(out, report.sequence);
  AppendU64Le(out, static_cast<std::uint64_t>(report.sent_ms));
  AppendU8(out, static_cast<std::uint8_t>(report.kind));
  if (report.kind == MeshReportKind::kRevocation) {
    wire::AppendLengthPrefixed(out, AsBytes(report.revoked_id));
  } else {
    const Bytes decision = EncodeDecision(report.decision);
    if (decision.size() > kMaxPayloadBytes) return InvalidArgument("mesh report: too large");
    wire::AppendLengthPrefixed(out, decision);
  }
  return out;
}

Result<MeshReport> DecodeMeshReport(ByteView encoded) {
  const Error bad = InvalidArgument("not a canonical IDS mesh report");
  ByteReader r(encoded);
  MeshReport report;
  auto magic = r.ReadBytes(kReportMagic.size());
  auto version = r.ReadU8();
  if (!magic || AsStringView(*magic) != kReportMagic || !version || *version != kVersion) {
    return bad;
  }
  auto origin = wire::ReadLengthPrefixed(r, 64);
  auto sequence = r.ReadU64Le();
  auto sent = r.ReadU64Le();
  auto kind = r.ReadU8();
  auto payload = wire::ReadLengthPrefixed(r, kMaxPayloadBytes);
  if (!origin || !sequence || !sent || !kind || !payload || r.remaining() != 0) return bad;
  report.origin = std::string(AsStringView(*origin));
  report.sequence = *sequence;
  report.sent_ms = static_cast<std::int64_t>(*sent);
  if (*kind < 1 || *kind > 3) return bad;
  report.kind = static_cast<MeshReportKind>(*kind);
  if (report.kind == MeshReportKind::kRevocation) {
    report.revoked_id = std::string(AsStringView(*payload));
  } else {
    auto decision = DecodeDecision(*payload);
    if (!decision) return bad;
    report.decision = std::move(*decision);
  }
  if (!CheckReport(report)) return bad;
  return report;
}

Result<Bytes> SignMeshReport(const MeshReport& report, const crypto::Signer& signer,
                             ByteView certificate) {
  MEDMESH_ASSIGN_OR_RETURN(Bytes encoded, EncodeMeshReport(report));
  return wire::SealNodeEnvelope(kEnvelopeMagic, kVersion, encoded, signer, certificate);
}

Result<OpenedMeshReport> OpenMeshReport(ByteView envelope, const crypto::SigningPublicKey& root,
                                        std::int64_t now_ms) {
  const Error bad = InvalidArgument("not an IDS mesh report envelope");
  if (envelope.size() > kMaxMeshEnvelopeBytes) return bad;
  const auto parts =
      wire::SplitNodeEnvelope(envelope, kEnvelopeMagic, kVersion, kMaxPayloadBytes + 256);
  if (!parts) return bad;
  MEDMESH_ASSIGN_OR_RETURN(MeshReport report, DecodeMeshReport(parts->message));
  MEDMESH_ASSIGN_OR_RETURN(
      wire::VerifiedCertificate verified,
      wire::VerifyNodeEnvelope(*parts, root,
                               {wire::CertificateRole::kCloudlet, wire::CertificateRole::kCloud},
                               report.origin, now_ms));
  return OpenedMeshReport{std::move(report), std::move(verified)};
}

}  // namespace medmesh::ids
