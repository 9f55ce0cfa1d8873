#include "node/identity.h"

#include <algorithm>
#include <string>

#include "crypto/key_file.h"

namespace medmesh::node {
namespace {

bool IsTokenChar(std::uint8_t c) { return c > 0x20 && c < 0x7f; }

}  // namespace

Result<RootOfTrust> ParseRootCertificate(ByteView certificate, std::int64_t now_ms) {
  MEDMESH_ASSIGN_OR_RETURN(wire::SignedCertificate parsed, wire::ParseCertificate(certificate));
  if (parsed.certificate.role != wire::CertificateRole::kRoot) {
    return PermissionDenied("the root certificate file holds a " +
                            std::string(wire::CertificateRoleName(parsed.certificate.role)) +
                            " certificate");
  }
  // Self-signed: verifying it with its own key checks the signature and the validity.
  MEDMESH_ASSIGN_OR_RETURN(wire::VerifiedCertificate verified,
                           wire::VerifyCertificate(certificate, parsed.certificate.signing_key,
                                                   wire::CertificateRole::kRoot, now_ms));
  return RootOfTrust{Bytes(certificate.begin(), certificate.end()),
                     verified.certificate().signing_key, verified.certificate().subject_id};
}

Result<RootOfTrust> LoadRootCertificate(const std::filesystem::path& file, std::int64_t now_ms,
                                        Env& env) {
  MEDMESH_ASSIGN_OR_RETURN(Bytes bytes, env.ReadSmallFile(file, wire::kMaxCertificateBytes));
  auto root = ParseRootCertificate(bytes, now_ms);
  if (!root) return Error(root.error().code(), file.string() + ": " + root.error().message());
  return root;
}

Result<NodeIdentity> LoadNodeIdentity(const std::filesystem::path& key_file,
                                      const std::filesystem::path& certificate_file,
                                      const std::filesystem::path& root_certificate_file,
                                      wire::CertificateRole role, std::string_view node_id,
                                      std::int64_t now_ms, Env& env) {
  MEDMESH_ASSIGN_OR_RETURN(RootOfTrust root,
                           LoadRootCertificate(root_certificate_file, now_ms, env));
  auto keys = crypto::ReadKeyFile(key_file, env);
  if (!keys) return Error(keys.error().code(), key_file.string() + ": " + keys.error().message());
  if (keys->type != crypto::KeyFileType::kNode || !keys->signing || !keys->kem) {
    return InvalidArgument(key_file.string() + " is not a key file of type \"node\"");
  }
  MEDMESH_ASSIGN_OR_RETURN(Bytes cert_bytes,
                           env.ReadSmallFile(certificate_file, wire::kMaxCertificateBytes));
  auto verified = wire::VerifyCertificate(cert_bytes, root.key, role, now_ms);
  if (!verified) {
    return Error(verified.error().code(),
                 certificate_file.string() + ": " + verified.error().message());
  }
  const wire::Certificate& cert = verified->certificate();
  if (cert.subject_id != node_id) {
    return FailedPrecondition(certificate_file.string() + " is issued to another node id");
  }
  if (!(cert.signing_key == keys->signing->public_key())) {
    return FailedPrecondition(certificate_file.string() + " certifies another signing key than " +
                              key_file.string());
  }
  if (!cert.kem_key || cert.kem_key->key_id() != keys->kem->public_key().key_id()) {
    return FailedPrecondition(certificate_file.string() + " certifies another KEM key than " +
                              key_file.string());
  }
  return NodeIdentity{std::move(root), std::move(*keys->signing), std::move(*keys->kem),
                      std::move(*verified)};
}

Result<crypto::KeyEncryptionKey> LoadKekFile(const std::filesystem::path& file, Random& random,
                                             bool create_if_missing, bool* created, Env& env) {
  if (created != nullptr) *created = false;
  auto keys = crypto::ReadKeyFile(file, env);
  if (!keys && keys.error().code() == ErrorCode::kNotFound && create_if_missing) {
    const crypto::KeyFile fresh = crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random);
    MEDMESH_RETURN_IF_ERROR(crypto::WriteKeyFile(file, fresh, /*overwrite=*/false, env));
    if (created != nullptr) *created = true;
    return fresh.kek->Clone();
  }
  if (!keys) return Error(keys.error().code(), file.string() + ": " + keys.error().message());
  if (keys->type != crypto::KeyFileType::kKek || !keys->kek) {
    return InvalidArgument(file.string() + " is not a key file of type \"kek\"");
  }
  return std::move(*keys->kek);
}

Result<SecretBytes> ReadTokenFile(const std::filesystem::path& file, Env& env) {
  auto raw = env.ReadPrivateFile(file, kMaxTokenBytes + 2);
  if (!raw) {
    if (raw.error().code() == ErrorCode::kResourceExhausted) {
      return InvalidArgument("token file " + file.string() + " is longer than " +
                             std::to_string(kMaxTokenBytes) + " characters");
    }
    return Error(raw.error().code(), "token file: " + raw.error().message());
  }
  ByteView token = raw->reveal();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) {
    token = token.first(token.size() - 1);
  }
  if (token.size() < kMinTokenBytes || token.size() > kMaxTokenBytes ||
      !std::all_of(token.begin(), token.end(), IsTokenChar)) {
    return InvalidArgument("token file " + file.string() + " must hold one line of " +
                           std::to_string(kMinTokenBytes) + ".." + std::to_string(kMaxTokenBytes) +
                           " printable characters");
  }
  return SecretBytes(token);
}

Status WriteTokenFile(const std::filesystem::path& file, Random& random, Env& env) {
  SecretBytes raw(32);
  random.Fill(raw.mutable_bytes());
  static constexpr char kHex[] = "0123456789abcdef";
  SecretBytes text(65);
  for (std::size_t i = 0; i < 32; ++i) {
    text.mutable_bytes()[2 * i] = static_cast<std::uint8_t>(kHex[raw.reveal()[i] >> 4]);
    text.mutable_bytes()[2 * i + 1] = static_cast<std::uint8_t>(kHex[raw.reveal()[i] & 15]);
  }
  text.mutable_bytes()[64] = '\n';
  return WriteNewFile(file, text.reveal(), 0600, env);
}

bool BearerTokenMatches(std::optional<std::string_view> authorization, const SecretBytes& token) {
  if (!authorization || token.empty()) return false;
  std::string_view value = *authorization;
  constexpr std::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size()) return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    const char c = value[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != kScheme[i]) return false;
  }
  value.remove_prefix(kScheme.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  // The length of a token is not secret; its bytes are compared in constant time.
  return ConstantTimeEqual(AsBytes(value), token.reveal());
}

}  // namespace medmesh::node
