// Ed25519 signatures (libsodium): typed keys, a Signer bound to a secret key and a Verifier
// bound to a public key.
//
// Signatures are plain RFC 8032 Ed25519 over the message bytes, so any Ed25519 library can
// check them. WARNING: there is no built-in domain separation; a message format signed by
// more than one kind of key must start with a type label (the wire/ formats do).
// Thread safety: keys are values; Signer and Verifier are const and thread-safe.
#pragma once

#include <cstddef>
#include <memory>

#include "core/bytes.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/kdf.h"

namespace medmesh::crypto {

class SigningPublicKey {
 public:
  static constexpr std::size_t kBytes = 32;
  // kInvalidArgument if the length is wrong or the bytes are not a canonical point of the
  // main subgroup (small-order keys are refused).
  static Result<SigningPublicKey> FromBytes(ByteView bytes);
  ByteView bytes() const { return bytes_; }
  // 16-byte fingerprint: keyed BLAKE2b ("MedMesh ed25519 fingerprint v1") of the key bytes.
  KeyId Fingerprint() const;
  bool operator==(const SigningPublicKey& other) const { return bytes_ == other.bytes_; }

 private:
  explicit SigningPublicKey(Bytes bytes) : bytes_(std::move(bytes)) {}
  Bytes bytes_;
};

// The 32-byte seed from which libsodium derives the expanded key; move-only and self-wiping.
class SigningSecretKey {
 public:
  static constexpr std::size_t kSeedBytes = 32;
  static SigningSecretKey Generate(Random& random);
  // kInvalidArgument if the seed is not 32 bytes.
  static Result<SigningSecretKey> FromSeed(ByteView seed);

  const SecretBytes& seed() const { return seed_; }
  const SigningPublicKey& public_key() const { return public_key_; }
  SigningSecretKey Clone() const { return {seed_.Clone(), public_key_}; }

 private:
  SigningSecretKey(SecretBytes seed, SigningPublicKey public_key)
      : seed_(std::move(seed)), public_key_(std::move(public_key)) {}
  SecretBytes seed_;
  SigningPublicKey public_key_;
};

class Signer {
 public:
  static constexpr std::size_t kSignatureBytes = 64;
  virtual ~Signer() = default;
  // The 64-byte Ed25519 signature of `message` (deterministic for a key and message).
  virtual Bytes Sign(ByteView message) const = 0;
  virtual const SigningPublicKey& public_key() const = 0;
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  // OK if `signature` is a valid signature of `message` by the bound key; otherwise
  // AuthenticationFailed() (also for a signature of the wrong length).
  virtual Status Verify(ByteView message, ByteView signature) const = 0;
  virtual const SigningPublicKey& public_key() const = 0;
};

std::unique_ptr<Signer> NewEd25519Signer(SigningSecretKey key);
std::unique_ptr<Verifier> NewEd25519Verifier(SigningPublicKey key);

}  // namespace medmesh::crypto
