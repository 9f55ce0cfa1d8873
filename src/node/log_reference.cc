#include "node/log_reference.h"

#include "core/bytes.h"
#include "core/check.h"

namespace medmesh::node {

crypto::HashKey DeriveLogReferenceKey(const SecretBytes& node_secret) {
  MEDMESH_CHECK(node_secret.size() >= 16, "a log reference key needs a secret of 16 bytes or more");
  auto key = crypto::HashKey::Derive(node_secret, "MedMesh log references v1", "log reference key");
  MEDMESH_CHECK(key.has_value(), "deriving the log reference key failed");
  return std::move(*key);
}

std::string LogReference(const crypto::HashKey& key, std::string_view label, std::string_view id) {
  const crypto::Digest256 digest =
      crypto::KeyedBlake2b256Parts(key, {AsBytes("log reference"), AsBytes(label), AsBytes(id)});
  return HexEncode(ByteView(digest).first(8));
}

}  // namespace medmesh::node
