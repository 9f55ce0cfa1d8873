#include "cloudlet/internal/pending_uploads.h"

#include <utility>

namespace medmesh::cloudlet::internal {

PendingUploads::PendingUploads(std::size_t max_entries, std::size_t max_bytes)
    : max_entries_(max_entries), max_bytes_(max_bytes) {}

void PendingUploads::Erase(std::map<std::string, Entry>::iterator it) {
  bytes_ -= it->second.payload.size();
  order_.erase(it->second.order);
  entries_.erase(it);  // SecretBytes wipes the payload
}

void PendingUploads::Keep(const std::string& key, const crypto::Digest256& upload_digest,
                          wire::OpenedUpload& opened) {
  SecretBytes payload(opened.payload);
  SecureWipe(opened.payload.data(), opened.payload.size());
  if (auto old = entries_.find(key); old != entries_.end()) Erase(old);
  if (payload.size() > max_bytes_ || max_entries_ == 0) return;  // the device will reseal it
  order_.push_back(key);
  bytes_ += payload.size();
  entries_.emplace(key, Entry{std::move(opened.header), std::move(opened.evidence),
                              std::move(payload), upload_digest, std::prev(order_.end())});
  while (entries_.size() > max_entries_ || bytes_ > max_bytes_) {
    Erase(entries_.find(order_.front()));
  }
}

std::optional<wire::OpenedUpload> PendingUploads::Take(const std::string& key,
                                                       const crypto::Digest256& upload_digest) {
  const auto it = entries_.find(key);
  if (it == entries_.end() || it->second.upload_digest != upload_digest) return std::nullopt;
  // Back into ordinary memory for the store path, like a freshly opened upload.
  const ByteView payload = it->second.payload.reveal();
  wire::OpenedUpload opened{std::move(it->second.header), Bytes(payload.begin(), payload.end()),
                            std::move(it->second.evidence)};
  Erase(it);
  return opened;
}

}  // namespace medmesh::cloudlet::internal
