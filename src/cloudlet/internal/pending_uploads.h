// PendingUploads: opened uploads whose storage failed (ingest.h, step 10), kept so the device's
// retry of the same bytes can be stored without opening them again - the session opener refuses
// to open a batch twice (replay protection).
//
// Why keep them at all, rather than drop them and let the device reseal: a device whose retry
// does not open gets 401, reseals in a new session and sends again, so nothing would be lost,
// but every honest device would then cost an extra round trip and radio time, and write a
// "decrypt_failure" IDS event, exactly when the node is already in trouble - an IDS that cries
// wolf after every disk hiccup. So the cache stays, bounded and wiped:
// - bounded by bytes (the payloads, which may be megabytes each) as well as by count: the
//   oldest entries are evicted first, and an upload larger than the whole budget is not kept;
// - the decrypted payload (medical data) is held in SecretBytes, so it is wiped when it is
//   evicted, replaced, taken or when the cache is destroyed, and the caller's copy is wiped by
//   Keep. An evicted upload is not lost: its device reseals it (401, as above).
// WARNING: while kept, payloads are in this process's memory in the clear (as they are while
// being stored); the bound limits how much and for how long.
// Thread safety: not thread-safe; IngestPipeline guards it with its mutex.
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <optional>
#include <string>

#include "core/secret_bytes.h"
#include "crypto/keyed_hash.h"
#include "wire/envelope.h"

namespace medmesh::cloudlet::internal {

class PendingUploads {
 public:
  // At most `max_entries` uploads and `max_bytes` of payload; 0 for either keeps nothing.
  PendingUploads(std::size_t max_entries, std::size_t max_bytes);

  // Keeps `opened` under `key` (replacing an older entry), with the digest of the upload bytes
  // it came from, then evicts the oldest entries until within both bounds. Copies the payload
  // into wiped-on-free memory and wipes `opened.payload` in place (it stays its size, zeros).
  void Keep(const std::string& key, const crypto::Digest256& upload_digest,
            wire::OpenedUpload& opened);

  // Removes and returns the upload kept under `key` if it came from the same upload bytes
  // (`upload_digest`); nullopt otherwise (an entry with another digest is left as it is).
  std::optional<wire::OpenedUpload> Take(const std::string& key,
                                         const crypto::Digest256& upload_digest);

  std::size_t size() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }  // payload bytes kept

 private:
  struct Entry {
    wire::UploadHeader header;
    wire::UploadEvidence evidence;
    SecretBytes payload;
    crypto::Digest256 upload_digest;
    std::list<std::string>::iterator order;
  };
  void Erase(std::map<std::string, Entry>::iterator it);

  const std::size_t max_entries_;
  const std::size_t max_bytes_;
  std::map<std::string, Entry> entries_;
  std::list<std::string> order_;  // keys, oldest first
  std::size_t bytes_ = 0;
};

}  // namespace medmesh::cloudlet::internal
