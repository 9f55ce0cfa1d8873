// BLAKE2b-256 digests for the services' bookkeeping (duplicate detection, derived ids).
// Thread safety: reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>

#include "core/bytes.h"
#include "core/secret_bytes.h"

namespace medmesh::node {

using Digest256 = std::array<std::uint8_t, 32>;

// Unkeyed BLAKE2b-256 of the concatenation of `parts`, each preceded by its length (u64 LE), so
// that ("ab", "c") and ("a", "bc") differ.
Digest256 Blake2b256(std::initializer_list<ByteView> parts);
// The keyed form (key: 16..64 bytes, a programming error otherwise).
Digest256 KeyedBlake2b256(const SecretBytes& key, std::initializer_list<ByteView> parts);

}  // namespace medmesh::node
