// Node-signed envelopes: a message signed with a node's Ed25519 key and carried with the
// node's root-issued certificate, so that a receiver needs nothing but its pinned root to check
// it. The IDS mesh reports (ids/mesh_report.h) and the relay requests (cloudlet/relay.h) travel
// this way; each format names its own magics and decodes its own message.
//
//   envelope = magic ‖ u8 version ‖ str certificate ‖ str message ‖ 64-byte signature
//   (str = u32 little-endian length ‖ bytes; the signature is Ed25519 over the message bytes,
//    whose own magic is the domain label)
//
// Checking is two steps, so that each format keeps its order of checks: SplitNodeEnvelope
// (framing only), then, once the format decoded the message and knows who claims to have sent
// it, VerifyNodeEnvelope (certificate, subject, signature).
// Thread safety: free functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "wire/certificate.h"

namespace medmesh::wire {

// str: u32 little-endian length ‖ bytes.
void AppendLengthPrefixed(Bytes& out, ByteView s);
// Reads a str of at most `max` bytes; kInvalidArgument if longer or truncated.
Result<ByteView> ReadLengthPrefixed(ByteReader& in, std::size_t max);

// Wraps `message` (already encoded and checked by its format) with `certificate` and the
// signature of `signer` over it. `magic` is the envelope's label. kInvalidArgument for a
// certificate over kMaxCertificateBytes.
Result<Bytes> SealNodeEnvelope(std::string_view magic, std::uint8_t version, ByteView message,
                               const crypto::Signer& signer, ByteView certificate);

struct NodeEnvelopeParts {
  ByteView certificate;
  ByteView message;
  ByteView signature;
};

// The parts of an envelope with this magic and version whose message is at most
// `max_message_bytes`; nullopt for anything else (wrong magic or version, a field too long,
// truncated, trailing bytes). Views into `envelope`. Checks no signature.
std::optional<NodeEnvelopeParts> SplitNodeEnvelope(ByteView envelope, std::string_view magic,
                                                   std::uint8_t version,
                                                   std::size_t max_message_bytes);

// Verifies the certificate against `root` for one of `roles` (its own role chooses), valid at
// `now_ms`, whose subject is `signer_id`, and the signature over the message with its key.
// AuthenticationFailed() (kUnauthenticated) for any failure, whatever was wrong.
Result<VerifiedCertificate> VerifyNodeEnvelope(const NodeEnvelopeParts& parts,
                                               const crypto::SigningPublicKey& root,
                                               std::initializer_list<CertificateRole> roles,
                                               std::string_view signer_id, std::int64_t now_ms);

}  // namespace medmesh::wire
