#include "wire/receipt.h"

#include <algorithm>

#include "crypto/kdf.h"
#include "wire/internal/framing.h"
#include "wire/model.h"

namespace medmesh::wire {
namespace {

constexpr std::string_view kMagic = "MMRC";
constexpr std::string_view kFormat = "receipt";
constexpr std::uint8_t kVersion1 = 1;  // without a challenge
constexpr std::uint8_t kVersion2 = 2;  // with one

bool IsKind(std::uint8_t kind) { return kind >= 1 && kind <= 3; }

}  // namespace

crypto::Digest256 ReceiptDigest(ByteView body) { return crypto::Blake2b256(body); }

Result<Bytes> SignReceipt(const Receipt& receipt, const crypto::Signer& cloud) {
  if (!IsValidId(receipt.cloud_id) || !IsValidId(receipt.origin_id) ||
      !IsValidId(receipt.subject_id)) {
    return InvalidArgument("receipt: bad id");
  }
  if (!IsKind(static_cast<std::uint8_t>(receipt.kind))) {
    return InvalidArgument("receipt: bad kind");
  }
  if (receipt.accepted_ms < 0 || receipt.accepted_ms > kMaxTimeMs) {
    return InvalidArgument("receipt: bad time");
  }
  Bytes out;
  AppendBytes(out, AsBytes(kMagic));
  AppendU8(out, receipt.challenge ? kVersion2 : kVersion1);
  AppendU8(out, static_cast<std::uint8_t>(receipt.kind));
  internal::AppendId(out, receipt.cloud_id);
  internal::AppendId(out, receipt.origin_id);
  internal::AppendId(out, receipt.subject_id);
  AppendBytes(out, receipt.body_digest);
  if (receipt.challenge) AppendBytes(out, *receipt.challenge);
  internal::AppendTimeMs(out, receipt.accepted_ms);
  const Bytes signature = cloud.Sign(out);
  AppendBytes(out, signature);
  return out;
}

Result<Receipt> VerifyReceipt(ByteView receipt, const VerifiedCertificate& cloud) {
  if (receipt.size() > kMaxReceiptBytes || receipt.size() < crypto::Signer::kSignatureBytes ||
      cloud.certificate().role != CertificateRole::kCloud) {
    return crypto::AuthenticationFailed();
  }
  const ByteView body = receipt.first(receipt.size() - crypto::Signer::kSignatureBytes);
  const ByteView signature = receipt.last(crypto::Signer::kSignatureBytes);
  if (!crypto::NewEd25519Verifier(cloud.certificate().signing_key)->Verify(body, signature)) {
    return crypto::AuthenticationFailed();
  }
  // Signed by the cloud: what follows can only fail for a cloud that writes another format.
  ByteReader in(body);
  Receipt out;
  auto parse = [&]() -> Status {
    MEDMESH_ASSIGN_OR_RETURN(ByteView magic, in.ReadBytes(kMagic.size()));
    MEDMESH_ASSIGN_OR_RETURN(std::uint8_t version, in.ReadU8());
    if (AsStringView(magic) != kMagic || (version != kVersion1 && version != kVersion2)) {
      return InvalidArgument("receipt: bad magic or version");
    }
    MEDMESH_ASSIGN_OR_RETURN(std::uint8_t kind, in.ReadU8());
    if (!IsKind(kind)) return InvalidArgument("receipt: bad kind");
    out.kind = static_cast<ReceiptKind>(kind);
    MEDMESH_ASSIGN_OR_RETURN(out.cloud_id, internal::ReadId(in, kFormat, "cloud id"));
    MEDMESH_ASSIGN_OR_RETURN(out.origin_id, internal::ReadId(in, kFormat, "origin id"));
    MEDMESH_ASSIGN_OR_RETURN(out.subject_id, internal::ReadId(in, kFormat, "subject id"));
    MEDMESH_ASSIGN_OR_RETURN(out.body_digest,
                             internal::ReadArray<crypto::kDigestBytes>(in, kFormat));
    if (version == kVersion2) {
      MEDMESH_ASSIGN_OR_RETURN(out.challenge,
                               internal::ReadArray<kReceiptChallengeBytes>(in, kFormat));
    }
    MEDMESH_ASSIGN_OR_RETURN(out.accepted_ms, internal::ReadTimeMs(in, kFormat, "accepted"));
    if (in.remaining() != 0) return InvalidArgument("receipt: trailing bytes");
    return OkStatus();
  };
  if (!parse() || out.cloud_id != cloud.certificate().subject_id) {
    return crypto::AuthenticationFailed();
  }
  return out;
}

ReceiptChallenge NewReceiptChallenge(Random& random) {
  ReceiptChallenge out{};
  random.Fill(out);
  return out;
}

Result<ReceiptChallenge> ParseReceiptChallenge(std::string_view hex) {
  const Error bad = InvalidArgument("receipt challenge: not 32 hex digits");
  if (hex.size() != 2 * kReceiptChallengeBytes) return bad;
  auto bytes = HexDecode(hex);
  if (!bytes || bytes->size() != kReceiptChallengeBytes) return bad;
  ReceiptChallenge out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

Status CheckReceipt(ByteView receipt, const VerifiedCertificate& cloud, ReceiptKind kind,
                    std::string_view origin_id, std::string_view subject_id, ByteView body,
                    const std::optional<ReceiptChallenge>& challenge) {
  MEDMESH_ASSIGN_OR_RETURN(Receipt opened, VerifyReceipt(receipt, cloud));
  if (opened.kind != kind || opened.origin_id != origin_id || opened.subject_id != subject_id ||
      opened.body_digest != ReceiptDigest(body) || (challenge && opened.challenge != challenge)) {
    return crypto::AuthenticationFailed();
  }
  return OkStatus();
}

}  // namespace medmesh::wire
