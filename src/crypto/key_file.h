// Key files: a node's, device's or the root's secret keys (and a node's KEK) in a versioned
// JSON format with hex fields (docs/wire_format.md, "Key file"). The writer creates files with
// mode 0600 (set at creation, never a chmod afterwards); the reader refuses files that group or
// others may access. The parser validates every field and checks that each public key matches
// its secret key; its error messages name the field, never key bytes.
//
//   type    keys
//   node    signing (Ed25519) + kem (NTRU + X25519)
//   device  signing (Ed25519) + kem (NTRU + X25519)
//   root    signing (Ed25519)
//   kek     kek (32-byte key-encryption key for envelope.h)
//
// WARNING: secrets are wiped from our own buffers, but the JSON library's internal buffers
// are not under our control; the file itself is only as safe as its directory and disk.
// Thread safety: free functions, reentrant.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/env.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "crypto/hybrid_seal.h"
#include "crypto/ntru.h"
#include "crypto/signing.h"

namespace medmesh::crypto {

enum class KeyFileType { kNode, kDevice, kRoot, kKek };
// "node", "device", "root", "kek".
std::string_view KeyFileTypeName(KeyFileType type);
std::optional<KeyFileType> KeyFileTypeFromName(std::string_view name);

// The largest key file the reader accepts.
inline constexpr std::size_t kMaxKeyFileBytes = std::size_t{64} * 1024;

struct KeyFile {
  KeyFileType type;
  std::optional<SigningSecretKey> signing;  // node, device, root
  std::optional<HybridPrivateKey> kem;      // node, device
  std::optional<KeyEncryptionKey> kek;      // kek
};

// Fresh keys of the kind `type` needs.
KeyFile GenerateKeyFile(KeyFileType type, Random& random, NtruParamSet set = kDefaultNtruParamSet);

// The JSON text of a key file (secret, hence SecretBytes). `file` must hold exactly the keys
// its type needs (programming error otherwise).
SecretBytes SerializeKeyFile(const KeyFile& file);

// Parses and validates a key file: kInvalidArgument naming the offending field for malformed
// JSON, an unknown format/version/type, missing or unexpected fields, bad hex, wrong lengths,
// invalid keys, or public keys that do not match their secret keys.
Result<KeyFile> ParseKeyFile(ByteView contents);

// Creates `path` with mode 0600 and writes the key file, synced with its folder, through `env`.
// Without `overwrite` an existing file gives kAlreadyExists and is left alone (WriteNewFile);
// with it the file is replaced atomically (WriteFileAtomically: a new 0600 file renamed over
// it). On any error no partial key file is left at `path`. OS errors as core/env.h
// (kPermissionDenied, kNotFound, kResourceExhausted for a full disk, kUnavailable).
Status WriteKeyFile(const std::filesystem::path& path, const KeyFile& file, bool overwrite,
                    Env& env = Env::Default());

// Reads and parses `path` (Env::ReadPrivateFile). kPermissionDenied if it is accessible by group
// or others, owned by another user, a link or not a regular file; kNotFound if missing;
// kInvalidArgument if larger than kMaxKeyFileBytes; otherwise as ParseKeyFile.
Result<KeyFile> ReadKeyFile(const std::filesystem::path& path, Env& env = Env::Default());

// Reads a file that holds a secret (a key file, the TLS private key) with the checks every
// secret file gets: kPermissionDenied for a symbolic link, anything but a regular file, a file
// owned by another user than this process's effective user, or one accessible by group or
// others (the message says which chmod to run); kInvalidArgument over `max_bytes`; kNotFound
// if missing; other OS errors as in WriteKeyFile. The checks apply to the descriptor that is
// read. `what` names the file in messages ("key file"); the contents never appear in them.
Result<SecretBytes> ReadSecretFile(const std::filesystem::path& path, std::size_t max_bytes,
                                   std::string_view what);

// What `medmesh keys` prints: public keys and fingerprints, never secrets.
struct PublicKeyDescription {
  std::string name;         // "signing", "kem", "kek"
  std::string algorithm;    // "ed25519", "ntru-x25519/ntruhps2048677", "xchacha20poly1305"
  std::string public_hex;   // empty for the KEK (a symmetric key has no public half)
  std::string fingerprint;  // 32 hex characters: key fingerprint / key id
};
std::vector<PublicKeyDescription> DescribePublicKeys(const KeyFile& file);

}  // namespace medmesh::crypto
