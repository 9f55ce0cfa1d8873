#include "wire/deletion_feed.h"

#include "crypto/kdf.h"
#include "wire/internal/framing.h"
#include "wire/model.h"

namespace medmesh::wire {
namespace {

constexpr std::string_view kMagic = "MMDF";
constexpr std::uint8_t kVersion = 1;
constexpr std::string_view kFormat = "deletion feed";

Status CheckNotices(const std::vector<DeletionNotice>& notices, std::uint64_t after_seq) {
  if (notices.size() > kMaxDeletionNotices) return InvalidArgument("deletion feed: too many");
  std::uint64_t last = after_seq;
  for (const DeletionNotice& n : notices) {
    if (n.seq <= last) return InvalidArgument("deletion feed: notices out of order");
    last = n.seq;
  }
  return OkStatus();
}

}  // namespace

Result<Bytes> SignDeletionFeed(const DeletionFeed& feed, const crypto::Signer& cloud) {
  if (!IsValidId(feed.cloud_id) || !IsValidId(feed.cloudlet_id)) {
    return InvalidArgument("deletion feed: bad node id");
  }
  if (feed.issued_ms < 0 || feed.issued_ms > kMaxTimeMs) {
    return InvalidArgument("deletion feed: bad time");
  }
  MEDMESH_RETURN_IF_ERROR(CheckNotices(feed.notices, feed.after_seq));
  Bytes out;
  AppendBytes(out, AsBytes(kMagic));
  AppendU8(out, kVersion);
  internal::AppendId(out, feed.cloud_id);
  internal::AppendId(out, feed.cloudlet_id);
  internal::AppendTimeMs(out, feed.issued_ms);
  AppendU64Le(out, feed.after_seq);
  AppendU32Le(out, static_cast<std::uint32_t>(feed.notices.size()));
  for (const DeletionNotice& n : feed.notices) {
    if (!IsValidId(n.patient_id)) return InvalidArgument("deletion feed: bad patient id");
    if (n.requested_ms < 0 || n.requested_ms > kMaxTimeMs) {
      return InvalidArgument("deletion feed: bad time");
    }
    AppendU64Le(out, n.seq);
    internal::AppendId(out, n.patient_id);
    internal::AppendTimeMs(out, n.requested_ms);
  }
  const Bytes signature = cloud.Sign(out);
  AppendBytes(out, signature);
  return out;
}

Result<DeletionFeed> VerifyDeletionFeed(ByteView page, const VerifiedCertificate& cloud,
                                        std::string_view cloudlet_id, std::uint64_t after_seq) {
  if (page.size() > kMaxDeletionFeedBytes) {
    return ResourceExhausted("deletion feed: too large");
  }
  if (cloud.certificate().role != CertificateRole::kCloud) {
    return PermissionDenied("deletion feed: the signer is not a cloud");
  }
  if (page.size() < crypto::Signer::kSignatureBytes) {
    return InvalidArgument("deletion feed: truncated");
  }
  const ByteView body = page.first(page.size() - crypto::Signer::kSignatureBytes);
  const ByteView signature = page.last(crypto::Signer::kSignatureBytes);
  MEDMESH_RETURN_IF_ERROR(
      crypto::NewEd25519Verifier(cloud.certificate().signing_key)->Verify(body, signature));

  ByteReader in(body);
  MEDMESH_RETURN_IF_ERROR(internal::ReadMagicAndVersion(in, kMagic, kVersion, kFormat));
  DeletionFeed feed;
  MEDMESH_ASSIGN_OR_RETURN(feed.cloud_id, internal::ReadId(in, kFormat, "cloud id"));
  MEDMESH_ASSIGN_OR_RETURN(feed.cloudlet_id, internal::ReadId(in, kFormat, "cloudlet id"));
  MEDMESH_ASSIGN_OR_RETURN(feed.issued_ms, internal::ReadTimeMs(in, kFormat, "issued"));
  auto after = in.ReadU64Le();
  auto count = in.ReadU32Le();
  if (!after || !count) return InvalidArgument("deletion feed: truncated");
  feed.after_seq = *after;
  if (*count > kMaxDeletionNotices) return InvalidArgument("deletion feed: too many notices");
  for (std::uint32_t i = 0; i < *count; ++i) {
    DeletionNotice n;
    auto seq = in.ReadU64Le();
    if (!seq) return InvalidArgument("deletion feed: truncated");
    n.seq = *seq;
    MEDMESH_ASSIGN_OR_RETURN(n.patient_id, internal::ReadId(in, kFormat, "patient id"));
    MEDMESH_ASSIGN_OR_RETURN(n.requested_ms, internal::ReadTimeMs(in, kFormat, "requested"));
    feed.notices.push_back(std::move(n));
  }
  if (in.remaining() != 0) return InvalidArgument("deletion feed: trailing bytes");
  if (feed.cloud_id != cloud.certificate().subject_id || feed.cloudlet_id != cloudlet_id) {
    return PermissionDenied("deletion feed: for another node");
  }
  if (feed.after_seq != after_seq) return InvalidArgument("deletion feed: not the page asked for");
  MEDMESH_RETURN_IF_ERROR(CheckNotices(feed.notices, feed.after_seq));
  return feed;
}

}  // namespace medmesh::wire
