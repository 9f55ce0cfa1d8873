#include "crypto/keyed_hash.h"

#include <sodium.h>

#include <utility>

#include "core/check.h"
#include "crypto/kdf.h"

namespace medmesh::crypto {
namespace {

static_assert(kDigestBytes == crypto_auth_hmacsha256_BYTES);
static_assert(HashKey::kBytes == crypto_auth_hmacsha256_KEYBYTES);
static_assert(HashKey::kBytes >= crypto_generichash_KEYBYTES_MIN &&
              HashKey::kBytes <= crypto_generichash_KEYBYTES_MAX);
static_assert(kCommitmentNonceBytes >= crypto_generichash_KEYBYTES_MIN);

Digest256 Hash(ByteView key, ByteView data) {
  MEDMESH_CHECK(sodium_init() >= 0, "libsodium initialisation failed");
  Digest256 out{};
  crypto_generichash(out.data(), out.size(), data.data(), data.size(),
                     key.empty() ? nullptr : key.data(), key.size());
  return out;
}

Digest256 HashParts(ByteView key, std::initializer_list<ByteView> parts) {
  MEDMESH_CHECK(sodium_init() >= 0, "libsodium initialisation failed");
  crypto_generichash_state state;
  crypto_generichash_init(&state, key.empty() ? nullptr : key.data(), key.size(), kDigestBytes);
  for (ByteView part : parts) {
    Bytes length;
    AppendU64Le(length, part.size());
    crypto_generichash_update(&state, length.data(), length.size());
    crypto_generichash_update(&state, part.data(), part.size());
  }
  Digest256 out{};
  crypto_generichash_final(&state, out.data(), out.size());
  SecureWipe(&state, sizeof state);  // it holds the key
  return out;
}

}  // namespace

Digest256 Blake2b256(ByteView data) { return Hash({}, data); }

Digest256 Blake2b256Parts(std::initializer_list<ByteView> parts) { return HashParts({}, parts); }

Result<HashKey> HashKey::FromBytes(ByteView bytes) {
  if (bytes.size() != kBytes) return InvalidArgument("a hash key must be 32 bytes");
  return HashKey(SecretBytes(bytes));
}

Result<HashKey> HashKey::Derive(const SecretBytes& root, std::string_view salt,
                                std::string_view purpose) {
  MEDMESH_ASSIGN_OR_RETURN(SecretBytes key,
                           HkdfSha256(root.reveal(), AsBytes(salt), AsBytes(purpose), kBytes));
  return HashKey(std::move(key));
}

Digest256 KeyedBlake2b256(const HashKey& key, ByteView data) {
  return Hash(key.key_.reveal(), data);
}

Digest256 KeyedBlake2b256Parts(const HashKey& key, std::initializer_list<ByteView> parts) {
  return HashParts(key.key_.reveal(), parts);
}

Digest256 HmacSha256(const HashKey& key, ByteView data) {
  Digest256 out{};
  crypto_auth_hmacsha256(out.data(), data.data(), data.size(), key.key_.reveal().data());
  return out;
}

Digest256 Blake2b256Commitment(const CommitmentNonce& nonce, ByteView data) {
  return Hash(nonce, data);
}

}  // namespace medmesh::crypto
