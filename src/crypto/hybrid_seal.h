// Hybrid sealed box: NTRU (post-quantum KEM) + X25519, combined with HKDF-SHA256, payload under
// XChaCha20-Poly1305. Anyone with the recipient's HybridPublicKey can seal; only the holder of
// the HybridPrivateKey can open. Byte layout: docs/wire_format.md, section "Sealed box".
//
// The box stays confidential if either NTRU or X25519 holds. Every box carries a version,
// algorithm id, NTRU parameter set and the recipient key id, so recipients can rotate keys.
//
// WARNING: a sealed box does not authenticate the sender (anyone can seal to a public key);
// sign the box (signing.h) when the sender matters.
// Thread safety: keys are values; HybridSealer and HybridOpener are const and thread-safe
// (the sealer also needs its Random to be thread-safe, as SystemRandom is).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/bytes.h"
#include "core/random.h"
#include "core/secret_bytes.h"
#include "core/status.h"
#include "crypto/kdf.h"
#include "crypto/ntru.h"

namespace medmesh::crypto {

// Algorithm id 1: NTRU + X25519 key agreement, HKDF-SHA256, XChaCha20-Poly1305.
inline constexpr std::uint8_t kHybridAlgorithmId = 1;
inline constexpr std::size_t kX25519Bytes = 32;

// A recipient's public keys. Encoding (ToBytes/FromBytes):
//   u8 algorithm (1) | u8 NTRU set id | NTRU public key | X25519 public key (32)
class HybridPublicKey {
 public:
  // kInvalidArgument for an unknown algorithm or set, a wrong length, a non-canonical NTRU key
  // or a low-order X25519 key. Messages never contain key bytes.
  static Result<HybridPublicKey> FromBytes(ByteView bytes);
  static Result<HybridPublicKey> FromParts(NtruPublicKey ntru, ByteView x25519);
  Bytes ToBytes() const;

  NtruParamSet set() const { return ntru_.set(); }
  const NtruPublicKey& ntru() const { return ntru_; }
  ByteView x25519() const { return x25519_; }
  // Keyed BLAKE2b ("MedMesh hybrid key id v1") of ToBytes(); carried in every sealed box.
  const KeyId& key_id() const { return key_id_; }

 private:
  HybridPublicKey(NtruPublicKey ntru, Bytes x25519);
  NtruPublicKey ntru_;
  Bytes x25519_;
  KeyId key_id_;
};

// A recipient's private keys (with the public half). Encoding (ToBytes/FromBytes):
//   u8 algorithm (1) | u8 NTRU set id | NTRU secret key | X25519 secret key (32) | NTRU public key
class HybridPrivateKey {
 public:
  static HybridPrivateKey Generate(Random& random, NtruParamSet set = kDefaultNtruParamSet);
  // kInvalidArgument for a bad encoding or keys that do not belong together (the X25519 public
  // key is recomputed, and one NTRU encapsulation round trip is checked). Messages never
  // contain key bytes.
  static Result<HybridPrivateKey> FromBytes(ByteView bytes);
  SecretBytes ToBytes() const;
  HybridPrivateKey Clone() const;

  NtruParamSet set() const { return public_key_.set(); }
  const HybridPublicKey& public_key() const { return public_key_; }
  const NtruSecretKey& ntru() const { return ntru_; }
  const SecretBytes& x25519() const { return x25519_; }

 private:
  HybridPrivateKey(HybridPublicKey public_key, NtruSecretKey ntru, SecretBytes x25519)
      : public_key_(std::move(public_key)), ntru_(std::move(ntru)), x25519_(std::move(x25519)) {}
  HybridPublicKey public_key_;
  NtruSecretKey ntru_;
  SecretBytes x25519_;
};

class HybridSealer {
 public:
  virtual ~HybridSealer() = default;
  // Returns a sealed box of `plaintext` bound to `associated_data` (which is not stored in the
  // box; the opener must pass the same bytes). kInvalidArgument if the plaintext is larger
  // than kMaxPlaintextBytes.
  virtual Result<Bytes> Seal(ByteView plaintext, ByteView associated_data) const = 0;
};

class HybridOpener {
 public:
  virtual ~HybridOpener() = default;
  // Returns the plaintext, or AuthenticationFailed() for any box that is malformed, truncated,
  // oversized, of another version, for another key, tampered with, or sealed with other
  // associated data.
  virtual Result<Bytes> Open(ByteView box, ByteView associated_data) const = 0;
  virtual const KeyId& key_id() const = 0;
};

// `random` must outlive the sealer.
std::unique_ptr<HybridSealer> NewHybridSealer(HybridPublicKey recipient, Random& random);
std::unique_ptr<HybridOpener> NewHybridOpener(HybridPrivateKey key);

// The routing fields at the start of a sealed box, readable without a key (to pick which
// private key to open it with). kInvalidArgument with a specific message for a bad prefix;
// a successful parse says nothing about authenticity.
struct SealedBoxHeader {
  std::uint8_t version;
  std::uint8_t algorithm;
  NtruParamSet set;
  KeyId recipient_key_id;
};
Result<SealedBoxHeader> ParseSealedBoxHeader(ByteView box);

// Sizes of a sealed box for a parameter set: the fixed header, and the total for a plaintext.
std::size_t SealedBoxHeaderBytes(NtruParamSet set);
std::size_t SealedBoxBytes(NtruParamSet set, std::size_t plaintext_bytes);

namespace internal {

// The hybrid KEM underneath the sealed box, shared with session_seal.cc. The caller derives
// its keys with HKDF from `shared_secrets` (NTRU secret || X25519 secret) and binds both
// ciphertexts and the recipient key id in the HKDF info.
struct HybridEncapsulation {
  Bytes ntru_ciphertext;
  Bytes ephemeral_public_key;  // the X25519 "ciphertext"
  SecretBytes shared_secrets;  // 64 bytes
};
HybridEncapsulation HybridEncapsulate(const Kem& kem, const HybridPublicKey& recipient,
                                      Random& random);
// AuthenticationFailed() for an invalid ephemeral key or a wrong-length ciphertext.
Result<SecretBytes> HybridDecapsulate(const Kem& kem, const HybridPrivateKey& key,
                                      ByteView ntru_ciphertext, ByteView ephemeral_public_key);

}  // namespace internal
}  // namespace medmesh::crypto
