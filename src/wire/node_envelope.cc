#include "wire/node_envelope.h"

#include <algorithm>

#include "crypto/kdf.h"

namespace medmesh::wire {

void AppendLengthPrefixed(Bytes& out, ByteView s) {
  AppendU32Le(out, static_cast<std::uint32_t>(s.size()));
  AppendBytes(out, s);
}

Result<ByteView> ReadLengthPrefixed(ByteReader& in, std::size_t max) {
  MEDMESH_ASSIGN_OR_RETURN(std::uint32_t n, in.ReadU32Le());
  if (n > max) return InvalidArgument("field too long");
  return in.ReadBytes(n);
}

Result<Bytes> SealNodeEnvelope(std::string_view magic, std::uint8_t version, ByteView message,
                               const crypto::Signer& signer, ByteView certificate) {
  if (certificate.size() > kMaxCertificateBytes) {
    return InvalidArgument("node envelope: certificate too large");
  }
  Bytes out;
  AppendBytes(out, AsBytes(magic));
  AppendU8(out, version);
  AppendLengthPrefixed(out, certificate);
  AppendLengthPrefixed(out, message);
  AppendBytes(out, signer.Sign(message));
  return out;
}

std::optional<NodeEnvelopeParts> SplitNodeEnvelope(ByteView envelope, std::string_view magic,
                                                   std::uint8_t version,
                                                   std::size_t max_message_bytes) {
  ByteReader r(envelope);
  auto got_magic = r.ReadBytes(magic.size());
  auto got_version = r.ReadU8();
  if (!got_magic || AsStringView(*got_magic) != magic || !got_version || *got_version != version) {
    return std::nullopt;
  }
  auto certificate = ReadLengthPrefixed(r, kMaxCertificateBytes);
  auto message = ReadLengthPrefixed(r, max_message_bytes);
  auto signature = r.ReadBytes(crypto::Signer::kSignatureBytes);
  if (!certificate || !message || !signature || r.remaining() != 0) return std::nullopt;
  return NodeEnvelopeParts{*certificate, *message, *signature};
}

Result<VerifiedCertificate> VerifyNodeEnvelope(const NodeEnvelopeParts& parts,
                                               const crypto::SigningPublicKey& root,
                                               std::initializer_list<CertificateRole> roles,
                                               std::string_view signer_id, std::int64_t now_ms) {
  // The role decides which check applies; a certificate that does not parse fails here.
  auto parsed = ParseCertificate(parts.certificate);
  if (!parsed || std::find(roles.begin(), roles.end(), parsed->certificate.role) == roles.end()) {
    return crypto::AuthenticationFailed();
  }
  auto verified = VerifyCertificate(parts.certificate, root, parsed->certificate.role, now_ms);
  if (!verified || verified->certificate().subject_id != signer_id) {
    return crypto::AuthenticationFailed();
  }
  if (!crypto::NewEd25519Verifier(verified->certificate().signing_key)
           ->Verify(parts.message, parts.signature)) {
    return crypto::AuthenticationFailed();
  }
  return std::move(*verified);
}

}  // namespace medmesh::wire
