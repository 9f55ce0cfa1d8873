// Opaque references to identities for log lines. Patient and device ids are identities and
// never appear in logs; a log line names a device by LogReference(key, "device", id) instead:
// 16 hex characters of a keyed BLAKE2b-256 (crypto/keyed_hash.h) under a node's own log key.
// The same id gives the same reference in one node's logs (so one device can be followed) and,
// without the key, neither reveals the id nor lets a reader confirm a guessed id. Whoever holds
// the key can compute the reference of a given id to search the logs. Every log reference is
// made here, so the construction can change in one place.
// Thread safety: both functions are reentrant.
#pragma once

#include <string>
#include <string_view>

#include "core/secret_bytes.h"
#include "crypto/keyed_hash.h"

namespace medmesh::node {

// The log reference key of a node, derived (HKDF-SHA256) from one of its secrets: the
// cloudlet's KEK, a device's signing seed, ... `node_secret` must be at least 16 bytes
// (MEDMESH_CHECK: a shorter one is a programming error).
crypto::HashKey DeriveLogReferenceKey(const SecretBytes& node_secret);

// `key` from DeriveLogReferenceKey; `label` says what the id names ("device", "patient").
std::string LogReference(const crypto::HashKey& key, std::string_view label, std::string_view id);

}  // namespace medmesh::node
