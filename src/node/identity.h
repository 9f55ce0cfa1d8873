// A node's identity, loaded from its files: the pinned root certificate, the node's key file
// (Ed25519 signing key + NTRU/X25519 KEM key) and the certificate the root issued for them.
// Loading checks that the three belong together, so a service never starts with a certificate
// for another key, another role, another id, or from another root.
//
// Also the node's other secrets: key-encryption keys (and the cloud's 32-byte three-part
// secrets, stored as key files of type "kek") and bearer tokens.
// Every file is read and written through an Env (core/env.h); tests pass a fault-injecting one.
// Thread safety: free functions; the returned values are plain (move-only) values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/env.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "crypto/hybrid_seal.h"
#include "crypto/signing.h"
#include "wire/certificate.h"

namespace medmesh::node {

// The pinned root: its self-signed certificate and the public key every check uses.
struct RootOfTrust {
  Bytes certificate;  // the exact file bytes ("MMCT", role root)
  crypto::SigningPublicKey key;
  std::string id;
};

// Reads a root certificate and checks that it is a self-signed root certificate valid at
// `now_ms`. kNotFound if the file is missing; AuthenticationFailed() if it is not signed by its
// own key; kPermissionDenied if it is not a root certificate; kFailedPrecondition if expired or
// not yet valid; kInvalidArgument / kResourceExhausted if it does not parse.
Result<RootOfTrust> LoadRootCertificate(const std::filesystem::path& file, std::int64_t now_ms,
                                        Env& env = Env::Default());
// The same for certificate bytes already in memory.
Result<RootOfTrust> ParseRootCertificate(ByteView certificate, std::int64_t now_ms);

struct NodeIdentity {
  RootOfTrust root;
  crypto::SigningSecretKey signing_key;
  crypto::HybridPrivateKey kem_key;
  wire::VerifiedCertificate certificate;  // this node's, verified against root at load time
  const std::string& id() const { return certificate.certificate().subject_id; }
};

// Loads and cross-checks a node's identity:
//   - the root certificate (LoadRootCertificate);
//   - the key file, which must be of type "node" (kInvalidArgument otherwise);
//   - the node certificate, verified against the root for `role` at `now_ms` (errors as
//     wire::VerifyCertificate), whose subject must be `node_id` and whose Ed25519 and KEM keys
//     must be the key file's (kFailedPrecondition naming what differs).
Result<NodeIdentity> LoadNodeIdentity(const std::filesystem::path& key_file,
                                      const std::filesystem::path& certificate_file,
                                      const std::filesystem::path& root_certificate_file,
                                      wire::CertificateRole role, std::string_view node_id,
                                      std::int64_t now_ms, Env& env = Env::Default());

// --- Secrets ------------------------------------------------------------------------------------

// A key-encryption key (key file of type "kek", mode 0600). If the file is missing and
// `create_if_missing`, a new key is generated and written first (`*created` set to true).
// kNotFound if missing and not created; kPermissionDenied for a file group or others can read;
// kInvalidArgument for a key file of another type; errors of crypto::ReadKeyFile otherwise. A
// new key that cannot be written durably is an error (and no file is left), never a key in use.
Result<crypto::KeyEncryptionKey> LoadKekFile(const std::filesystem::path& file, Random& random,
                                             bool create_if_missing, bool* created = nullptr,
                                             Env& env = Env::Default());

// Bearer tokens: one line of at least kMinTokenBytes printable ASCII (no spaces) in a file of
// mode 0600 (group or other access is kPermissionDenied), a trailing newline allowed.
inline constexpr std::size_t kMinTokenBytes = 16;
inline constexpr std::size_t kMaxTokenBytes = 512;
// Links are kPermissionDenied too (Env::ReadPrivateFile).
Result<SecretBytes> ReadTokenFile(const std::filesystem::path& file, Env& env = Env::Default());
// Creates `file` (mode 0600, refusing an existing file: kAlreadyExists) with a fresh token of
// 32 random bytes as 64 hex characters and a newline, synced (WriteNewFile: on an error no
// file is left).
Status WriteTokenFile(const std::filesystem::path& file, Random& random, Env& env = Env::Default());

// True if `authorization` is "Bearer <token>" with exactly `token` (constant-time compare of
// the token; the scheme name is case-insensitive). False for a missing header or an empty
// token.
bool BearerTokenMatches(std::optional<std::string_view> authorization, const SecretBytes& token);

}  // namespace medmesh::node
