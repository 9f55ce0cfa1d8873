// Cloud-signed receipts (issue 10; docs/wire_format.md "Receipt"): the cloud's answer to an
// accepted forward, enrolment record or cloudlet certificate carries a receipt signed with its
// node Ed25519 key, so the origin cloudlet can tell the cloud's acknowledgement from anyone
// else's, also when the answer came through a peer cloudlet (cloudlet/relay.h). Layout
// (little-endian):
//   "MMRC" ‖ version 2 ‖ u8 kind ‖ id(cloud) ‖ id(origin cloudlet) ‖ id(subject) ‖
//   32-byte BLAKE2b-256 of the request body the cloud accepted ‖ 16-byte challenge ‖
//   u64 accepted_ms ‖ 64-byte signature over everything before it
// Version 1 is the same without the challenge; the cloud signs it only for a request that
// carried no challenge (a cloudlet from before version 2).
// where id() is u8 length ‖ bytes (wire::IsValidId). The subject is the forward id (lower-case
// hex) for kForward, the device id for kEnrolment, the cloudlet id for kCloudlet. The digest
// binds the receipt to the exact bytes sent: a sealed forward is new randomness on every
// attempt, so a receipt of an earlier attempt (or of another item) does not match. Enrolment
// records and certificates are the same bytes on every attempt: the challenge, fresh random
// bytes the origin sends with each attempt (kReceiptChallengeHeader directly, inside the
// origin-signed relay request through a peer), binds the receipt to that attempt, so a receipt
// a relay kept from an earlier attempt settles nothing later. A check that asks for a challenge
// refuses a version 1 receipt.
// In the cloud's JSON acknowledgement it is the member "receipt", lower-case hex.
// Thread safety: free functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/keyed_hash.h"
#include "crypto/signing.h"
#include "wire/certificate.h"

namespace medmesh::wire {

enum class ReceiptKind : std::uint8_t {
  kForward = 1,
  kEnrolment = 2,
  kCloudlet = 3,
};

inline constexpr std::size_t kReceiptChallengeBytes = 16;
using ReceiptChallenge = std::array<std::uint8_t, kReceiptChallengeBytes>;
// The request header that carries the challenge to the cloud, lower-case hex.
inline constexpr std::string_view kReceiptChallengeHeader = "X-MedMesh-Receipt-Challenge";
inline constexpr std::size_t kMaxReceiptBytes =
    4 + 1 + 1 + 3 * 65 + 32 + kReceiptChallengeBytes + 8 + 64;

struct Receipt {
  ReceiptKind kind = ReceiptKind::kForward;
  std::string cloud_id;
  std::string origin_id;   // the cloudlet the accepted item came from
  std::string subject_id;  // forward id (hex), device id or cloudlet id
  crypto::Digest256 body_digest{};
  std::int64_t accepted_ms = 0;
  std::optional<ReceiptChallenge> challenge;  // none: version 1
  bool operator==(const Receipt&) const = default;
};

// The digest a receipt carries of an accepted request body.
crypto::Digest256 ReceiptDigest(ByteView body);

// kInvalidArgument for a bad id, kind or time.
Result<Bytes> SignReceipt(const Receipt& receipt, const crypto::Signer& cloud);

// Parses a receipt and checks its signature with `cloud` (a verified certificate of role
// cloud) and that it names that cloud. AuthenticationFailed() for anything wrong, malformed or
// not; no other error.
Result<Receipt> VerifyReceipt(ByteView receipt, const VerifiedCertificate& cloud);

// A fresh challenge from `random`.
ReceiptChallenge NewReceiptChallenge(Random& random);
// The challenge of a kReceiptChallengeHeader value: exactly 32 hex digits. kInvalidArgument
// otherwise.
Result<ReceiptChallenge> ParseReceiptChallenge(std::string_view hex);

// VerifyReceipt, and that the receipt is for `kind`, `origin_id`, `subject_id`, exactly `body`
// and `challenge` (a version 2 receipt with it; nullopt: any). AuthenticationFailed() for
// anything wrong.
Status CheckReceipt(ByteView receipt, const VerifiedCertificate& cloud, ReceiptKind kind,
                    std::string_view origin_id, std::string_view subject_id, ByteView body,
                    const std::optional<ReceiptChallenge>& challenge);

}  // namespace medmesh::wire
