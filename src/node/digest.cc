#include "node/digest.h"

#include <sodium.h>

#include "core/check.h"
#include "crypto/kdf.h"

namespace medmesh::node {
namespace {

Digest256 Hash(ByteView key, std::initializer_list<ByteView> parts) {
  crypto_generichash_state state;
  crypto_generichash_init(&state, key.empty() ? nullptr : key.data(), key.size(), 32);
  for (ByteView part : parts) {
    Bytes length;
    AppendU64Le(length, part.size());
    crypto_generichash_update(&state, length.data(), length.size());
    crypto_generichash_update(&state, part.data(), part.size());
  }
  Digest256 out{};
  crypto_generichash_final(&state, out.data(), out.size());
  return out;
}

}  // namespace

Digest256 Blake2b256(std::initializer_list<ByteView> parts) { return Hash({}, parts); }

Digest256 KeyedBlake2b256(const SecretBytes& key, std::initializer_list<ByteView> parts) {
  MEDMESH_CHECK(key.size() >= 16 && key.size() <= 64, "BLAKE2b key must be 16..64 bytes");
  return Hash(key.reveal(), parts);
}

SecretBytes DeriveLogReferenceKey(ByteView node_secret) {
  MEDMESH_CHECK(node_secret.size() >= 16, "a log reference key needs a secret of 16 bytes or more");
  auto key = crypto::HkdfSha256(node_secret, AsBytes("MedMesh log references v1"),
                                AsBytes("log reference key"), kLogReferenceKeyBytes);
  MEDMESH_CHECK(key.has_value(), "HKDF-SHA256 failed for a 32-byte output");
  return std::move(*key);
}

std::string LogReference(const SecretBytes& key, std::string_view label, std::string_view id) {
  const Digest256 digest =
      KeyedBlake2b256(key, {AsBytes("log reference"), AsBytes(label), AsBytes(id)});
  return HexEncode(ByteView(digest).first(8));
}

}  // namespace medmesh::node
