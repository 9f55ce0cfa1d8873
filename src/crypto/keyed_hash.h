// Hashing for everything outside this folder: BLAKE2b-256 (libsodium crypto_generichash) unkeyed,
// keyed and as a commitment, and HMAC-SHA256. No other module calls libsodium for a hash.
//
//   - Blake2b256 / Blake2b256Parts: unkeyed, for public inputs only (signed digests, ciphertexts).
//     Never for something a reader of the stored value could guess (a patient id, a reading,
//     a record): whoever holds the digest can confirm a guess.
//   - HashKey + KeyedBlake2b256 / HmacSha256: keyed, for digests and references stored beside
//     personal data. A HashKey is derived per purpose (HashKey::Derive), so each purpose has its
//     own key: domain separation is by the key.
//   - Blake2b256Commitment: a hiding commitment, keyed with a random public nonce.
//
// "Parts" hash each part preceded by its length (u64 LE), so ("ab", "c") and ("a", "bc") differ.
// These layouts are persisted (ledgers, intake references, record digests, the chain): never
// change them; known answers are pinned in keyed_hash_test.cc.
// Thread safety: every function is reentrant; HashKey is a value type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <utility>

#include "core/bytes.h"
#include "core/secret_bytes.h"
#include "core/status.h"

namespace medmesh::crypto {

inline constexpr std::size_t kDigestBytes = 32;
using Digest256 = std::array<std::uint8_t, kDigestBytes>;

// --- Unkeyed -----------------------------------------------------------------------------------

Digest256 Blake2b256(ByteView data);
Digest256 Blake2b256Parts(std::initializer_list<ByteView> parts);

// --- Keyed -------------------------------------------------------------------------------------

// A 32-byte secret for keyed hashing, bound to one purpose.
class HashKey {
 public:
  static constexpr std::size_t kBytes = 32;
  // kInvalidArgument unless `bytes` is 32 bytes.
  static Result<HashKey> FromBytes(ByteView bytes);
  // The key for `purpose` under `root` (any length, at least 32 bytes of entropy):
  // HKDF-SHA256(ikm = root, salt, info = purpose), 32 bytes. kInternal only if OpenSSL fails.
  static Result<HashKey> Derive(const SecretBytes& root, std::string_view salt,
                                std::string_view purpose);
  HashKey Clone() const { return HashKey(key_.Clone()); }
  bool operator==(const HashKey& other) const { return key_ == other.key_; }

 private:
  friend Digest256 KeyedBlake2b256(const HashKey& key, ByteView data);
  friend Digest256 KeyedBlake2b256Parts(const HashKey& key, std::initializer_list<ByteView> parts);
  friend Digest256 HmacSha256(const HashKey& key, ByteView data);
  explicit HashKey(SecretBytes key) : key_(std::move(key)) {}
  SecretBytes key_;
};

Digest256 KeyedBlake2b256(const HashKey& key, ByteView data);
Digest256 KeyedBlake2b256Parts(const HashKey& key, std::initializer_list<ByteView> parts);
Digest256 HmacSha256(const HashKey& key, ByteView data);

// --- Commitment --------------------------------------------------------------------------------

inline constexpr std::size_t kCommitmentNonceBytes = 16;
using CommitmentNonce = std::array<std::uint8_t, kCommitmentNonceBytes>;
// BLAKE2b-256 of `data` keyed with `nonce` (random, sent with the opening): binding, and hiding
// while the nonce is secret.
Digest256 Blake2b256Commitment(const CommitmentNonce& nonce, ByteView data);

}  // namespace medmesh::crypto
