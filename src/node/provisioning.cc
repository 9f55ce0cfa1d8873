#include "node/provisioning.h"

#include "core/env.h"
#include "crypto/key_file.h"
#include "node/identity.h"
#include "wire/model.h"

namespace medmesh::node {
namespace {

Status EnsureDirectory(const std::filesystem::path& dir) {
  return Env::Default().CreateDir(dir, 0700);
}

// The key file at `file` if it exists (it must be of `type`), else a new one written there.
Result<crypto::KeyFile> LoadOrCreateKeys(const std::filesystem::path& file,
                                         crypto::KeyFileType type, Random& random) {
  auto existing = crypto::ReadKeyFile(file);
  if (existing) {
    if (existing->type != type) {
      return InvalidArgument(file.string() + " holds a key file of type \"" +
                             std::string(crypto::KeyFileTypeName(existing->type)) + "\", not \"" +
                             std::string(crypto::KeyFileTypeName(type)) + "\"");
    }
    return existing;
  }
  if (existing.error().code() != ErrorCode::kNotFound) {
    return Error(existing.error().code(), file.string() + ": " + existing.error().message());
  }
  crypto::KeyFile fresh = crypto::GenerateKeyFile(type, random);
  MEDMESH_RETURN_IF_ERROR(crypto::WriteKeyFile(file, fresh, /*overwrite=*/false));
  return fresh;
}

// True if the certificate at `file` verifies for the role at now, names `id`, certifies the
// given keys, and is not past half of its validity.
bool CertificateIsCurrent(const std::filesystem::path& file, const crypto::SigningPublicKey& root,
                          wire::CertificateRole role, std::string_view id,
                          const crypto::SigningPublicKey& signing_key,
                          const crypto::HybridPublicKey* kem_key, std::int64_t now_ms) {
  auto bytes = Env::Default().ReadSmallFile(file, wire::kMaxCertificateBytes);
  if (!bytes) return false;
  auto verified = wire::VerifyCertificate(*bytes, root, role, now_ms);
  if (!verified) return false;
  const wire::Certificate& c = verified->certificate();
  if (c.subject_id != id || !(c.signing_key == signing_key)) return false;
  if ((kem_key == nullptr) != !c.kem_key) return false;
  if (kem_key != nullptr && c.kem_key->key_id() != kem_key->key_id()) return false;
  const std::int64_t half = c.not_before_ms + (c.not_after_ms - c.not_before_ms) / 2;
  return now_ms <= half;
}

Result<std::int64_t> NotAfter(std::int64_t now_ms, std::chrono::milliseconds validity) {
  if (validity.count() <= 0 || now_ms < 0 || validity.count() > wire::kMaxTimeMs - now_ms) {
    return InvalidArgument("certificate validity is out of range");
  }
  return now_ms + validity.count();
}

}  // namespace

Result<RootFiles> EnsureRoot(const std::filesystem::path& dir, std::string_view root_id,
                             Random& random, std::int64_t now_ms,
                             std::chrono::milliseconds validity) {
  if (!wire::IsValidId(root_id)) return InvalidArgument("root id must satisfy the id rules");
  MEDMESH_RETURN_IF_ERROR(EnsureDirectory(dir));
  RootFiles files{dir / kRootKeyFileName, dir / kRootCertificateFileName};
  MEDMESH_ASSIGN_OR_RETURN(crypto::KeyFile keys,
                           LoadOrCreateKeys(files.key_file, crypto::KeyFileType::kRoot, random));
  const crypto::SigningPublicKey& key = keys.signing->public_key();
  if (CertificateIsCurrent(files.certificate_file, key, wire::CertificateRole::kRoot, root_id, key,
                           nullptr, now_ms)) {
    return files;
  }
  MEDMESH_ASSIGN_OR_RETURN(std::int64_t not_after, NotAfter(now_ms, validity));
  wire::Certificate cert{.role = wire::CertificateRole::kRoot,
                         .subject_id = std::string(root_id),
                         .signing_key = key,
                         .kem_key = std::nullopt,
                         .not_before_ms = now_ms,
                         .not_after_ms = not_after};
  const auto signer = crypto::NewEd25519Signer(keys.signing->Clone());
  MEDMESH_ASSIGN_OR_RETURN(Bytes encoded, wire::IssueCertificate(cert, *signer));
  MEDMESH_RETURN_IF_ERROR(WriteFileAtomically(files.certificate_file, encoded, 0644));
  return files;
}

Result<NodeFiles> IssueNodeCertificate(const NodeCertificateRequest& request, Random& random) {
  if (request.role != wire::CertificateRole::kCloud &&
      request.role != wire::CertificateRole::kCloudlet) {
    return InvalidArgument("node certificates are for the cloud and cloudlets");
  }
  if (!wire::IsValidId(request.node_id))
    return InvalidArgument("node id must satisfy the id rules");
  MEDMESH_ASSIGN_OR_RETURN(RootOfTrust root,
                           LoadRootCertificate(request.root.certificate_file, request.now_ms));
  auto root_keys = crypto::ReadKeyFile(request.root.key_file);
  if (!root_keys) {
    return Error(root_keys.error().code(),
                 request.root.key_file.string() + ": " + root_keys.error().message());
  }
  if (root_keys->type != crypto::KeyFileType::kRoot ||
      !(root_keys->signing->public_key() == root.key)) {
    return InvalidArgument(request.root.key_file.string() +
                           " is not the key of the root certificate");
  }

  MEDMESH_RETURN_IF_ERROR(EnsureDirectory(request.out_dir));
  NodeFiles files{request.out_dir / kNodeKeyFileName, request.out_dir / kNodeCertificateFileName,
                  request.out_dir / kRootCertificateFileName, false};
  MEDMESH_ASSIGN_OR_RETURN(crypto::KeyFile keys,
                           LoadOrCreateKeys(files.key_file, crypto::KeyFileType::kNode, random));
  const crypto::HybridPublicKey& kem = keys.kem->public_key();
  if (!CertificateIsCurrent(files.certificate_file, root.key, request.role, request.node_id,
                            keys.signing->public_key(), &kem, request.now_ms)) {
    MEDMESH_ASSIGN_OR_RETURN(std::int64_t not_after, NotAfter(request.now_ms, request.validity));
    wire::Certificate cert{.role = request.role,
                           .subject_id = request.node_id,
                           .signing_key = keys.signing->public_key(),
                           .kem_key = kem,
                           .not_before_ms = request.now_ms,
                           .not_after_ms = not_after};
    const auto signer = crypto::NewEd25519Signer(root_keys->signing->Clone());
    MEDMESH_ASSIGN_OR_RETURN(Bytes encoded, wire::IssueCertificate(cert, *signer));
    MEDMESH_RETURN_IF_ERROR(WriteFileAtomically(files.certificate_file, encoded, 0644));
    files.issued = true;
  }
  MEDMESH_RETURN_IF_ERROR(WriteFileAtomically(files.root_certificate_file, root.certificate, 0644));
  return files;
}

}  // namespace medmesh::node
