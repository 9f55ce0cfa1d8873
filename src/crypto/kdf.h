// Symmetric building blocks shared by the constructions in this folder:
//   - HKDF-SHA256 (RFC 5869, from OpenSSL 3; libsodium 1.0.18 has no HKDF),
//   - 16-byte key ids and fingerprints (keyed BLAKE2b from libsodium),
//   - the raw XChaCha20-Poly1305-IETF calls (libsodium),
//   - the one opaque error that every failed decryption or verification returns.
//
// Application code wants a construction instead: HybridSealer/HybridOpener (hybrid_seal.h),
// SessionSealer/SessionOpener (session_seal.h), EnvelopeAead (envelope.h), Signer/Verifier
// (signing.h). These functions take explicit nonces; only those constructions choose them.
// Thread safety: every function is reentrant.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/secret_bytes.h"
#include "core/status.h"

namespace medmesh::crypto {

// --- The opaque failure -----------------------------------------------------------------------

// Every decrypt or verify failure, whatever the cause (tampering, wrong key, wrong associated
// data, replay, truncation, unknown version), returns exactly this error: code
// kUnauthenticated with this fixed message, so that callers and attackers learn nothing more.
inline constexpr std::string_view kAuthenticationFailedMessage = "authentication failed";
Error AuthenticationFailed();
// True if `error` is the error above.
bool IsAuthenticationFailure(const Error& error);

// The largest plaintext any construction in this folder seals or opens (64 MiB); larger inputs
// are refused before any work is done.
inline constexpr std::size_t kMaxPlaintextBytes = std::size_t{64} << 20;

// --- Key derivation ---------------------------------------------------------------------------

// HKDF-SHA256 extract-then-expand. `out_bytes` must be in 1..8160 (a programming error
// otherwise). Returns kInternal only if OpenSSL itself fails.
Result<SecretBytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, std::size_t out_bytes);

// --- Key ids and fingerprints -----------------------------------------------------------------

inline constexpr std::size_t kKeyIdBytes = 16;
using KeyId = std::array<std::uint8_t, kKeyIdBytes>;

// BLAKE2b with a 16-byte output, keyed with `domain` (1..64 bytes, a fixed label such as
// "MedMesh ed25519 fingerprint v1") over `data`. Used for public-key fingerprints and key ids;
// the domain keeps ids of different key kinds apart. Never pass secret `data` unless it is a
// full-entropy key (the KEK id is computed this way).
KeyId ComputeKeyId(std::string_view domain, ByteView data);
// Lower-case hex of a key id (32 characters).
std::string KeyIdHex(const KeyId& id);

// --- XChaCha20-Poly1305-IETF ------------------------------------------------------------------

inline constexpr std::size_t kAeadKeyBytes = 32;
inline constexpr std::size_t kAeadNonceBytes = 24;
inline constexpr std::size_t kAeadTagBytes = 16;

// Appends ciphertext || tag (plaintext.size() + 16 bytes) to `out`. `key` must be 32 bytes and
// `nonce` 24 bytes (programming errors otherwise). The caller guarantees the (key, nonce) pair
// is never used twice.
void XChaCha20Poly1305Seal(const SecretBytes& key, ByteView nonce, ByteView associated_data,
                           ByteView plaintext, Bytes& out);

// Decrypts `ciphertext` (ciphertext || tag) into `out`, which must hold exactly
// ciphertext.size() - 16 bytes. On any failure returns AuthenticationFailed() and zeroes `out`.
Status XChaCha20Poly1305Open(const SecretBytes& key, ByteView nonce, ByteView associated_data,
                             ByteView ciphertext, MutableByteView out);

// Concatenation helper for associated data: header || caller's associated data.
Bytes Concat(ByteView a, ByteView b);

}  // namespace medmesh::crypto
