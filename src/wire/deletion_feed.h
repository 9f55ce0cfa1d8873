// The deletion feed (cloud -> cloudlet): which patients a cloudlet must crypto-shred because
// they deleted their data at the cloud (issue 8, workflow 6; ADR 0018).
//
// The cloud signs each page with its node Ed25519 key, whose certificate (role cloud) the root
// signed; a cloudlet checks the page against the cloud certificate it already fetches for
// forwarding, so a page cannot be forged or sent to another cloudlet. Layout (little-endian):
//   "MMDF" ‖ version 1 ‖ id(cloud) ‖ id(cloudlet) ‖ u64 issued_ms ‖ u64 after_seq ‖
//   u32 count ‖ count × (u64 seq ‖ id(patient) ‖ u64 requested_ms) ‖ 64-byte signature
// where id() is u8 length ‖ bytes (wire::IsValidId) and the signature covers everything
// before it. Notices are in increasing seq order, each above after_seq (the cursor the
// cloudlet asked from), so a replayed older page only repeats deletions already done.
// Thread safety: free functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "wire/certificate.h"

namespace medmesh::wire {

inline constexpr std::size_t kMaxDeletionNotices = 1000;
inline constexpr std::size_t kMaxDeletionFeedBytes = 64 * 1024 + 1000 * 96;

struct DeletionNotice {
  std::uint64_t seq = 0;
  std::string patient_id;
  std::int64_t requested_ms = 0;
  bool operator==(const DeletionNotice&) const = default;
};

struct DeletionFeed {
  std::string cloud_id;
  std::string cloudlet_id;
  std::int64_t issued_ms = 0;
  std::uint64_t after_seq = 0;
  std::vector<DeletionNotice> notices;
  bool operator==(const DeletionFeed&) const = default;
};

// kInvalidArgument for a bad id or time, more than kMaxDeletionNotices notices, or notices not
// strictly increasing above after_seq.
Result<Bytes> SignDeletionFeed(const DeletionFeed& feed, const crypto::Signer& cloud);

// Parses and checks a page: signed by `cloud` (a verified certificate of role cloud; else
// kPermissionDenied), for `cloudlet_id` (else kPermissionDenied), with notices above
// `after_seq` (else kInvalidArgument). AuthenticationFailed() for a bad signature;
// kInvalidArgument for anything malformed; kResourceExhausted above kMaxDeletionFeedBytes.
Result<DeletionFeed> VerifyDeletionFeed(ByteView page, const VerifiedCertificate& cloud,
                                        std::string_view cloudlet_id, std::uint64_t after_seq);

}  // namespace medmesh::wire
