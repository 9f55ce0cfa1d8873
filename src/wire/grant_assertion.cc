#include "wire/grant_assertion.h"

#include <algorithm>
#include <optional>

#include "core/lower_hex.h"
#include "crypto/kdf.h"
#include "wire/model.h"
#include "wire/node_envelope.h"

namespace medmesh::wire {
namespace {

constexpr std::string_view kMessageMagic = "MMGA";
constexpr std::string_view kEnvelopeMagic = "MMGE";
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kNonceHexBytes = 32;
constexpr std::size_t kMaxMessageBytes = 4 + 1 + 4 * (4 + kMaxIdBytes) + 16 + 4 + kNonceHexBytes;

bool IsNonce(std::string_view s) { return s.size() == kNonceHexBytes && IsLowerHex(s); }

Status Check(const GrantAssertion& a) {
  if (!IsValidId(a.cloud_id) || !IsValidId(a.audience) || !IsValidId(a.doctor_account_id) ||
      !IsValidId(a.patient_id)) {
    return InvalidArgument("grant assertion: bad id");
  }
  if (!IsNonce(a.nonce)) return InvalidArgument("grant assertion: bad nonce");
  if (a.issued_ms < 0 || a.expires_ms < a.issued_ms ||
      a.expires_ms - a.issued_ms > kMaxGrantAssertionLifetimeMs) {
    return InvalidArgument("grant assertion: bad times");
  }
  return OkStatus();
}

Bytes Encode(const GrantAssertion& a) {
  Bytes out;
  AppendBytes(out, AsBytes(kMessageMagic));
  AppendU8(out, kVersion);
  AppendLengthPrefixed(out, AsBytes(a.cloud_id));
  AppendLengthPrefixed(out, AsBytes(a.audience));
  AppendLengthPrefixed(out, AsBytes(a.doctor_account_id));
  AppendLengthPrefixed(out, AsBytes(a.patient_id));
  AppendU64Le(out, static_cast<std::uint64_t>(a.issued_ms));
  AppendU64Le(out, static_cast<std::uint64_t>(a.expires_ms));
  AppendLengthPrefixed(out, AsBytes(a.nonce));
  return out;
}

std::optional<GrantAssertion> Decode(ByteView encoded) {
  ByteReader r(encoded);
  auto magic = r.ReadBytes(kMessageMagic.size());
  auto version = r.ReadU8();
  if (!magic || AsStringView(*magic) != kMessageMagic || !version || *version != kVersion) {
    return std::nullopt;
  }
  auto cloud = ReadLengthPrefixed(r, kMaxIdBytes);
  auto audience = ReadLengthPrefixed(r, kMaxIdBytes);
  auto doctor = ReadLengthPrefixed(r, kMaxIdBytes);
  auto patient = ReadLengthPrefixed(r, kMaxIdBytes);
  auto issued = r.ReadU64Le();
  auto expires = r.ReadU64Le();
  auto nonce = ReadLengthPrefixed(r, kNonceHexBytes);
  if (!cloud || !audience || !doctor || !patient || !issued || !expires || !nonce ||
      r.remaining() != 0) {
    return std::nullopt;
  }
  GrantAssertion a{std::string(AsStringView(*cloud)),  std::string(AsStringView(*audience)),
                   std::string(AsStringView(*doctor)), std::string(AsStringView(*patient)),
                   static_cast<std::int64_t>(*issued), static_cast<std::int64_t>(*expires),
                   std::string(AsStringView(*nonce))};
  if (!Check(a)) return std::nullopt;
  return a;
}

}  // namespace

Result<Bytes> SignGrantAssertion(const GrantAssertion& assertion, const crypto::Signer& cloud,
                                 ByteView cloud_certificate) {
  MEDMESH_RETURN_IF_ERROR(Check(assertion));
  return SealNodeEnvelope(kEnvelopeMagic, kVersion, Encode(assertion), cloud, cloud_certificate);
}

Result<GrantAssertion> OpenGrantAssertion(ByteView envelope, const crypto::SigningPublicKey& root,
                                          std::int64_t now_ms) {
  const auto parts = SplitNodeEnvelope(envelope, kEnvelopeMagic, kVersion, kMaxMessageBytes);
  if (!parts) return crypto::AuthenticationFailed();
  std::optional<GrantAssertion> a = Decode(parts->message);
  if (!a) return crypto::AuthenticationFailed();
  MEDMESH_RETURN_IF_ERROR(
      VerifyNodeEnvelope(*parts, root, {CertificateRole::kCloud}, a->cloud_id, now_ms));
  return std::move(*a);
}

}  // namespace medmesh::wire
