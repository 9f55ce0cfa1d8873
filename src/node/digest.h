// BLAKE2b-256 digests for the services' bookkeeping (duplicate detection, derived ids), and the
// opaque references that stand for identifiers in log lines.
// Thread safety: reentrant.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/secret_bytes.h"

namespace medmesh::node {

using Digest256 = std::array<std::uint8_t, 32>;

// Unkeyed BLAKE2b-256 of the concatenation of `parts`, each preceded by its length (u64 LE), so
// that ("ab", "c") and ("a", "bc") differ.
Digest256 Blake2b256(std::initializer_list<ByteView> parts);
// The keyed form (key: 16..64 bytes, a programming error otherwise).
Digest256 KeyedBlake2b256(const SecretBytes& key, std::initializer_list<ByteView> parts);

// Log references: a device or patient id never goes into a log line (logs are shipped, kept
// and read more widely than the data); an opaque reference does. It is 16 hex characters, the
// first 8 bytes of a keyed BLAKE2b of (label, id), so it is stable for one key (the lines about
// one device can be followed) and, without the key, neither reveals the id nor lets a reader
// confirm a guessed id. Whoever holds the key can compute the reference of a given id to search
// the logs. Every log reference is made here, so the construction can change in one place.
inline constexpr std::size_t kLogReferenceKeyBytes = 32;
// The log reference key of a node, derived (HKDF-SHA256) from one of its secrets: the
// cloudlet's KEK, a device's signing seed, ... `node_secret` must be at least 16 bytes.
SecretBytes DeriveLogReferenceKey(ByteView node_secret);
// `key` from DeriveLogReferenceKey; `label` says what the id names ("device", "patient").
std::string LogReference(const SecretBytes& key, std::string_view label, std::string_view id);

}  // namespace medmesh::node
