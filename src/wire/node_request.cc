#include "wire/node_request.h"

#include <limits>

#include "wire/internal/framing.h"
#include "wire/model.h"

namespace medmesh::wire {
namespace {

constexpr std::string_view kMagic = "MMNQ";
constexpr std::uint8_t kVersion = 1;
constexpr std::string_view kFormat = "node request";
constexpr std::size_t kMaxField = std::numeric_limits<std::uint16_t>::max();

Error Refused(std::string_view why) { return Unauthenticated("node request: " + std::string(why)); }

}  // namespace

Result<std::string> SignNodeRequest(const crypto::Signer& signer, ByteView certificate,
                                    std::string_view callee_id, std::string_view target,
                                    std::int64_t issued_ms) {
  if (!IsValidId(callee_id)) return InvalidArgument("node request: bad callee id");
  if (issued_ms < 0 || issued_ms > kMaxTimeMs) return InvalidArgument("node request: bad time");
  if (certificate.size() > kMaxField || target.size() > kMaxField) {
    return InvalidArgument("node request: too large");
  }
  Bytes out;
  AppendBytes(out, AsBytes(kMagic));
  AppendU8(out, kVersion);
  AppendU16Le(out, static_cast<std::uint16_t>(certificate.size()));
  AppendBytes(out, certificate);
  internal::AppendId(out, callee_id);
  AppendU16Le(out, static_cast<std::uint16_t>(target.size()));
  AppendBytes(out, AsBytes(target));
  internal::AppendTimeMs(out, issued_ms);
  const Bytes signature = signer.Sign(out);
  AppendBytes(out, signature);
  return std::string(kNodeRequestScheme) + " " + HexEncode(out);
}

Result<VerifiedCertificate> VerifyNodeRequest(std::string_view authorization,
                                              const crypto::SigningPublicKey& root,
                                              CertificateRole caller_role,
                                              std::string_view callee_id, std::string_view target,
                                              std::int64_t now_ms) {
  const std::string prefix = std::string(kNodeRequestScheme) + " ";
  if (!authorization.starts_with(prefix)) return Refused("missing");
  auto bytes = HexDecode(authorization.substr(prefix.size()));
  if (!bytes || bytes->size() < crypto::Signer::kSignatureBytes) return Refused("malformed");
  const ByteView all(*bytes);
  const ByteView body = all.first(all.size() - crypto::Signer::kSignatureBytes);
  const ByteView signature = all.last(crypto::Signer::kSignatureBytes);

  ByteReader in(body);
  if (!internal::ReadMagicAndVersion(in, kMagic, kVersion, kFormat)) return Refused("malformed");
  auto cert_len = in.ReadU16Le();
  if (!cert_len) return Refused("malformed");
  auto cert = in.ReadBytes(*cert_len);
  auto callee = internal::ReadId(in, kFormat, "callee");
  auto target_len = in.ReadU16Le();
  if (!cert || !callee || !target_len) return Refused("malformed");
  auto signed_target = in.ReadBytes(*target_len);
  auto issued = internal::ReadTimeMs(in, kFormat, "issued");
  if (!signed_target || !issued || in.remaining() != 0) return Refused("malformed");

  auto verified = VerifyCertificate(*cert, root, caller_role, now_ms);
  if (!verified) return Refused("the caller's certificate does not verify");
  if (!crypto::NewEd25519Verifier(verified->certificate().signing_key)->Verify(body, signature)) {
    return Refused("bad signature");
  }
  if (*callee != callee_id || AsStringView(*signed_target) != target) {
    return Refused("signed for another node or request");
  }
  if (*issued < now_ms - kNodeRequestSkewMs || *issued > now_ms + kNodeRequestSkewMs) {
    return Refused("outside the time window");
  }
  return std::move(*verified);
}

}  // namespace medmesh::wire
