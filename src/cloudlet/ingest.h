// IngestPipeline: everything the cloudlet does with an upload envelope from a device, without
// HTTP (POST /api/v1/ingest wraps it; benchmarks call it directly for the in-process ceiling).
//
//   1. ParseUpload: the clear-text header, size cap           → 400 malformed, 413 oversized
//   2. the device's enrolment (DeviceRegistry)                → 403 unknown or withdrawn device,
//      or a device an IDS decision blocks (IngestContext::device_blocked)
//   3. the ingest ledger: the same upload bytes again         → 200 "duplicate" (nothing else)
//   4. backpressure of the forward queue                      → 429 slow down, 503 refuse
//   5. VerifyUpload: device signature, device → patient       → 401 forged, 403 wrong patient
//   6. a stored batch id with other bytes: opened; the same payload resealed in a new session
//      (a lost acknowledgement) → 200 "duplicate", other content → 409 replay
//   7. OpenUpload: session batch (replay window), commitment  → 401 does not open
//   8. decode the readings (size, count and zstd caps) or the record
//                                                             → 400 malformed / decompression bomb
//   9. plausibility, reading by reading: a reading outside its physiological range
//      (wire::CheckPlausible) or stamped far in the future is left out and counted, never the
//      batch for it; one IDS event (out_of_range) per batch says how many; the acknowledgement
//      says how many were refused ("refused"). A batch with no plausible reading is recorded
//      (so a retry is a duplicate) but neither stored nor forwarded.
//  10. store durably: queue the forward (encrypted at rest), store the readings (ReadingStore) or
//      the record (ledger, encrypted), then the ledger row   → 503 if storage fails
//      Group commit: readings uploads that reach this step while another one is being stored
//      wait, then are stored together, one transaction per store for the whole group, so they
//      share the disk syncs. Each is still acknowledged only after the commits that hold it; if
//      a group's commit fails, its uploads are stored one by one, so one bad upload cannot fail
//      the others.
//  11. acknowledge                                            → 200 "stored"
// Every refusal in steps 1-9 records an IDS event (source IP, claimed device id, kind, a reason
// without secrets or payload bytes; IdsEventLog::Record, so a flood from one source costs O(1)
// rows, disk syncs and log lines) and counts in medmesh_cloudlet_ingest_rejected_total.
// Refusals are net::Rejection (net/error_mapping.h): "permanent" is set only where the device's
// own authenticated content can never be accepted (a malformed readings payload of a known
// format, a decompression bomb, an invalid record, an empty batch, a batch id used for other
// content) - the device may then drop it - and never for bytes not yet authenticated (step 1),
// an unknown payload format version, or where a wait or a change on the device's side may help
// (413: split it; 401: re-seal; 403: enrol; 429/503: later).
//
// Exactly once: a retry of an acknowledged upload is recognised by (device id, batch id) and the
// digest of its bytes before any cryptography; a retry after a failure in step 10 reuses the
// opened payload kept in memory (the session would refuse to open it twice; bounded by bytes and
// wiped, internal/pending_uploads.h); the forward id is
// derived from (cloudlet, device, batch), so the queue de-duplicates too, and the cloud does by
// (device, batch id) and record id. A device
// whose session the cloudlet forgot (restart) gets 401 and reseals the same payload in a new
// session, under the same batch id.
// Thread safety: Ingest may run on many threads at once; uploads of one batch id are serialised
// (a concurrent second copy gets 503 with Retry-After).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "cloudlet/ingest_ledger.h"
#include "cloudlet/internal/pending_uploads.h"
#include "core/bytes.h"
#include "core/clock.h"
#include "crypto/envelope.h"
#include "crypto/keyed_hash.h"
#include "crypto/session_seal.h"
#include "net/error_mapping.h"
#include "store/forward_queue.h"
#include "store/ids_event_log.h"
#include "store/reading_store.h"
#include "wire/envelope.h"
#include "wire/readings_codec.h"

namespace medmesh::cloudlet {

class DeviceRegistry;
namespace internal {
struct CloudletMetrics;
struct CloudletCounters;
class PressureMonitor;
}  // namespace internal

struct IngestLimits {
  // Larger uploads are refused (413) before parsing; also the HTTP route's body limit.
  std::size_t max_upload_bytes = wire::kMaxUploadBytes;
  // Caps of the readings decoder (plausibility is checked separately, step 9).
  wire::ReadingsDecodeLimits readings;
  // Readings stamped further than this in the future are refused as out of range.
  std::chrono::milliseconds max_future_skew = std::chrono::hours(24);
  // Opened uploads kept for a retry after a storage failure, at most this many and this many
  // payload bytes (internal/pending_uploads.h: why, and how they are wiped).
  std::size_t pending_entries = 1024;
  std::size_t pending_bytes = std::size_t{32} << 20;
  // Readings uploads stored together by one group commit (step 10) at most; 1 stores each
  // upload in its own transactions.
  std::size_t max_group_commit = 64;
};

enum class IngestStatus { kStored, kDuplicate };
std::string_view IngestStatusName(IngestStatus status);  // "stored", "duplicate"

struct IngestAck {
  std::string batch_id;  // lower-case hex
  IngestStatus status = IngestStatus::kStored;
  wire::ContentType content_type = wire::ContentType::kReadingsBatch;
  std::size_t readings = 0;  // readings stored now (0 for a duplicate or a record)
  std::size_t refused = 0;   // readings of the batch left out as implausible (step 9)
};

// A refusal: the error's message is for the device (never quotes input, never names
// internals); `reason` is an IDS event kind name, "backpressure", "in_flight" or "unavailable".
using IngestRejection = net::Rejection;

using IngestResult = std::variant<IngestAck, IngestRejection>;

// What the pipeline works with; every reference must outlive it.
struct IngestContext {
  std::string node_id;
  DeviceRegistry& devices;
  IngestLedger& ledger;
  store::ReadingStore& readings;
  store::ForwardQueue& forward_queue;
  store::IdsEventLog& ids;
  crypto::EnvelopeAead& envelope;  // the node's at-rest encryption
  crypto::SessionOpener& sessions;
  const Clock& clock;
  internal::CloudletMetrics& metrics;
  internal::CloudletCounters& counters;
  internal::PressureMonitor& pressure;
  std::function<void()> on_enqueued;  // wakes the forwarder; may be empty
  // Intrusion detection: whether a block decision names this device (device scope, imposed by
  // an operator or the mesh); its batches are then refused at step 2 (403, an IDS event `other`
  // that no detector counts). Must be fast and thread-safe; may be empty.
  std::function<bool(std::string_view device_id)> device_blocked = {};
};

class IngestPipeline {
 public:
  explicit IngestPipeline(IngestContext context, IngestLimits limits = {});
  IngestPipeline(const IngestPipeline&) = delete;
  IngestPipeline& operator=(const IngestPipeline&) = delete;

  // Processes one upload envelope that arrived from `source_ip`; see the steps above.
  IngestResult Ingest(ByteView upload, std::string_view source_ip);

  // Records an IDS event (rate-limited and aggregated per source) and counts a rejection; also
  // for rejections outside the pipeline (e.g. a body the HTTP layer refused as too large, a bad
  // enrolment token). `detail` must not hold secrets. Logs a warning only for events written as
  // their own row. `account_ref`: a login's account reference (accounts/account_reference.h),
  // for the credentials detector; never stored.
  void RecordRejection(store::IdsEventKind kind, std::string_view source_ip,
                       std::string_view device_id, std::string_view detail,
                       std::string_view account_ref = {});

  const IngestLimits& limits() const { return limits_; }

  // Readings uploads waiting in step 10 now: the group being stored and those queued behind it
  // for the next group commit (tests wait on it to build a group).
  std::size_t QueuedForCommit();

 private:
  struct Decoded {
    std::vector<wire::Reading> readings;  // the plausible ones
    std::size_t refused = 0;              // implausible ones left out
    std::optional<wire::PatientRecord> record;
  };
  // A readings upload ready to be stored: its queued forward, its readings, its ledger row.
  struct PendingWrite {
    std::string forward_id;
    Bytes forward_item;
    store::ReadingBatchToStore readings;
    LedgerBatch row;
    Status status = OkStatus();
    bool done = false;  // guarded by commit_mu_
  };

  // `permanent`: the same upload can never be accepted (see above).
  IngestRejection Reject(Error error, bool permanent, std::optional<store::IdsEventKind> kind,
                         std::string_view source_ip, std::string_view device_id,
                         std::string_view reason = {},
                         std::optional<std::chrono::seconds> retry_after = std::nullopt);
  // Appends an IDS event and counts it (not as a rejected upload).
  void RecordIdsEvent(store::IdsEventKind kind, std::string_view source_ip,
                      std::string_view device_id, std::string_view detail,
                      std::string_view account_ref = {});
  IngestAck Duplicate(const wire::UploadHeader& header, std::string batch_id);
  // A signed upload whose sealed payload did not open: 401 either way, recorded as
  // unknown_session when the opener does not know its session (a restart's benign noise: the
  // device reseals), else as decrypt_failure.
  IngestRejection DoesNotOpen(const wire::ParsedUpload& parsed, std::string_view source_ip,
                              std::string_view device_id);
  IngestResult AlreadyStored(const wire::ParsedUpload& parsed, const LedgerBatch& prior,
                             const wire::Enrolment& device, std::string batch_id,
                             std::string_view source_ip);
  std::variant<Decoded, IngestRejection> Decode(const wire::OpenedUpload& opened,
                                                std::string_view source_ip);
  Status Persist(const wire::OpenedUpload& opened, const Decoded& decoded,
                 const crypto::Digest256& digest, const std::string& batch_id);
  // Group commit: queues `write`, and stores it either as the leader of a group (the first
  // queued) or as a member of the group a leader stored. Returns its status.
  Status CommitGrouped(PendingWrite& write);
  // Stores a group together (falling back to one by one) and sets each member's status.
  void StoreGroup(std::span<PendingWrite* const> group);
  Status StoreTogether(std::span<PendingWrite* const> group);
  Status StoreOne(const PendingWrite& write);

  // Batches being processed now, and opened uploads whose storage failed (by device/batch key).
  bool BeginBatch(const std::string& key);
  void EndBatch(const std::string& key);
  std::optional<wire::OpenedUpload> TakePending(const std::string& key,
                                                const crypto::Digest256& digest);
  void KeepPending(const std::string& key, const crypto::Digest256& digest,
                   wire::OpenedUpload& opened);

  IngestContext ctx_;
  IngestLimits limits_;
  std::mutex mu_;
  std::set<std::string> in_flight_;   // guarded by mu_
  internal::PendingUploads pending_;  // guarded by mu_
  std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  std::deque<PendingWrite*> commit_queue_;  // guarded by commit_mu_; the front one leads
};

}  // namespace medmesh::cloudlet
