#include "cloudlet/ingest.h"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

#include "cloudlet/device_registry.h"
#include "cloudlet/ingest_ledger.h"
#include "cloudlet/internal/cloudlet_metrics.h"
#include "cloudlet/internal/forward_item.h"
#include "cloudlet/internal/record_at_rest.h"
#include "core/log.h"
#include "wire/model.h"

namespace medmesh::cloudlet {
namespace {

using store::IdsEventKind;

using internal::kRecordsKeyPart;
using internal::RecordAd;

using wire::NowMs;

std::string BatchKey(std::string_view device_id, std::string_view batch_id) {
  return std::string(device_id) + "/" + std::string(batch_id);
}

// Keeps a batch marked in flight for the duration of one Ingest call.
class InFlight {
 public:
  explicit InFlight(std::function<void()> release) : release_(std::move(release)) {}
  ~InFlight() {
    if (release_) release_();
  }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::function<void()> release_;
};

}  // namespace

std::string_view IngestStatusName(IngestStatus status) {
  return status == IngestStatus::kDuplicate ? "duplicate" : "stored";
}

IngestPipeline::IngestPipeline(IngestContext context, IngestLimits limits)
    : ctx_(std::move(context)),
      limits_(limits),
      pending_(limits.pending_entries, limits.pending_bytes) {
  // Plausibility is step 9, so that an implausible batch is reported as out of range rather
  // than malformed.
  limits_.readings.require_plausible = false;
}

void IngestPipeline::RecordRejection(IdsEventKind kind, std::string_view source_ip,
                                     std::string_view device_id, std::string_view detail,
                                     std::string_view account_ref) {
  ctx_.counters.rejected.fetch_add(1, std::memory_order_relaxed);
  ctx_.metrics.rejected.WithLabels({store::IdsEventKindName(kind)}).Increment();
  RecordIdsEvent(kind, source_ip, device_id, detail, account_ref);
}

void IngestPipeline::RecordIdsEvent(IdsEventKind kind, std::string_view source_ip,
                                    std::string_view device_id, std::string_view detail,
                                    std::string_view account_ref) {
  const std::string_view kind_name = store::IdsEventKindName(kind);
  ctx_.metrics.ids_events.WithLabels({kind_name}).Increment();
  store::IdsEvent event;
  event.time_ms = NowMs(ctx_.clock);
  event.node = ctx_.node_id;
  event.source_ip = std::string(source_ip);
  event.device_id = std::string(device_id);
  event.kind = kind;
  event.detail = std::string(detail);
  event.account_ref = std::string(account_ref);
  // Rate-limited and aggregated per source (ids_event_log.h): a flood of refusals costs O(1)
  // rows, disk syncs and log lines per window, not one each.
  auto recorded = ctx_.ids.Record(event);
  if (!recorded) {
    log::Error("cloudlet_ids_event_not_recorded",
               {{"kind", kind_name}, {"error", recorded.error().ToString()}});
  }
  if (!recorded || *recorded == store::IdsRecordOutcome::kWritten) {
    log::Warn("cloudlet_rejected", {{"kind", kind_name}, {"peer", source_ip}, {"detail", detail}});
  }
}

IngestRejection IngestPipeline::Reject(Error error, bool permanent,
                                       std::optional<IdsEventKind> kind, std::string_view source_ip,
                                       std::string_view device_id, std::string_view reason,
                                       std::optional<std::chrono::seconds> retry_after) {
  IngestRejection rejection(std::move(error), permanent, retry_after, std::string(reason));
  if (kind) {
    rejection.reason = std::string(store::IdsEventKindName(*kind));
    RecordRejection(*kind, source_ip, device_id, rejection.error.message());
  } else {
    ctx_.metrics.rejected.WithLabels({rejection.reason}).Increment();
  }
  return rejection;
}

IngestRejection IngestPipeline::DoesNotOpen(const wire::ParsedUpload& parsed,
                                            std::string_view source_ip,
                                            std::string_view device_id) {
  // The same answer in both cases (a device must reseal either way); only the IDS event differs.
  const bool known = ctx_.sessions.KnowsSessionOf(parsed.sealed_payload);
  return Reject(Unauthenticated("sealed payload did not open (unknown or expired session, "
                                "replayed batch, or tampered ciphertext); reseal it in a new "
                                "session"),
                false, known ? IdsEventKind::kDecryptFailure : IdsEventKind::kUnknownSession,
                source_ip, device_id);
}

// A device that lost the acknowledgement of a stored batch (the cloudlet crashed before
// answering, or the answer was lost) and whose session the cloudlet forgot reseals the same
// payload in a new session under the same batch id: other bytes, same content. It is opened -
// which also sets up the new session when it is that session's first batch, so the device's
// next batches open - and answered "duplicate" if its payload is the stored one. Other content
// under a stored batch id is a replay: 409 and an IDS event.
IngestResult IngestPipeline::AlreadyStored(const wire::ParsedUpload& parsed,
                                           const LedgerBatch& prior, const wire::Enrolment& device,
                                           std::string batch_id, std::string_view source_ip) {
  const wire::UploadHeader& header = parsed.header;
  if (prior.payload_digest && prior.content_type == header.content_type) {
    auto opened = wire::OpenUpload(parsed, device, ctx_.sessions);
    if (!opened) return DoesNotOpen(parsed, source_ip, header.device_id);
    if (ctx_.ledger.PayloadDigest(header.content_type, opened->payload) == *prior.payload_digest) {
      return Duplicate(header, std::move(batch_id));
    }
  }
  return Reject(AlreadyExists("batch id was already used for a different upload"), true,
                IdsEventKind::kReplay, source_ip, header.device_id);
}

IngestAck IngestPipeline::Duplicate(const wire::UploadHeader& header, std::string batch_id) {
  ctx_.counters.duplicates.fetch_add(1, std::memory_order_relaxed);
  ctx_.metrics.ingest.WithLabels({wire::ContentTypeName(header.content_type), "duplicate"})
      .Increment();
  return IngestAck{std::move(batch_id), IngestStatus::kDuplicate, header.content_type, 0, 0};
}

IngestResult IngestPipeline::Ingest(ByteView upload, std::string_view source_ip) {
  // 1. The clear-text header.
  auto parsed = wire::ParseUpload(upload, limits_.max_upload_bytes);
  if (!parsed) {
    if (parsed.error().code() == ErrorCode::kResourceExhausted) {
      return Reject(PayloadTooLarge("upload is larger than the cloudlet accepts; send the "
                                    "readings in smaller batches"),
                    false, IdsEventKind::kOversized, source_ip, {});
    }
    // Not permanent: these bytes are not authenticated (a stranger's, damaged on the way, or a
    // newer envelope version), so they prove nothing against the device's own upload.
    return Reject(InvalidArgument("malformed upload: " + parsed.error().message()), false,
                  IdsEventKind::kMalformed, source_ip, {});
  }
  const wire::UploadHeader& header = parsed->header;
  const std::string& device_id = header.device_id;
  std::string batch_id = HexEncode(header.batch_id);

  // 2. The device.
  const std::optional<DeviceEntry> device = ctx_.devices.Find(device_id);
  if (!device) {
    return Reject(PermissionDenied("device is not enrolled at this cloudlet"), false,
                  IdsEventKind::kUnknownDevice, source_ip, device_id);
  }
  if (device->withdrawn) {
    return Reject(PermissionDenied("device was withdrawn"), false, IdsEventKind::kUnknownDevice,
                  source_ip, device_id);
  }
  if (ctx_.device_blocked && ctx_.device_blocked(device_id)) {
    // Before any cryptography: the claim alone is refused, which costs the real device nothing
    // more than the block already does.
    return Reject(PermissionDenied("device is blocked"), false, IdsEventKind::kOther, source_ip,
                  device_id);
  }

  // 3. A retry of an upload already acknowledged: byte for byte the same.
  const crypto::Digest256 digest = crypto::Blake2b256Parts({upload});
  auto prior = ctx_.ledger.Find(device_id, batch_id);
  if (!prior) {
    log::Error("cloudlet_ledger_unavailable", {{"error", prior.error().ToString()}});
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip, device_id,
                  "unavailable", std::chrono::seconds(5));
  }
  if (*prior && (*prior)->upload_digest == digest) return Duplicate(header, std::move(batch_id));

  // 4. Backpressure: new batches wait in the devices' outboxes while the cloud is away.
  const store::Backpressure pressure = ctx_.pressure.Current();
  if (pressure.level != store::BackpressureLevel::kNone) {
    const bool refuse = pressure.level == store::BackpressureLevel::kRefuse;
    return Reject(refuse ? Unavailable("the cloudlet's forward queue is full; retry later")
                         : ResourceExhausted("the cloudlet is busy forwarding; send less often"),
                  false, std::nullopt, source_ip, device_id, "backpressure",
                  refuse ? std::chrono::seconds(60) : std::chrono::seconds(10));
  }

  // 5. Authenticity, before any work on the ciphertext.
  if (Status verified = wire::VerifyUpload(*parsed, device->enrolment); !verified) {
    if (verified.error().code() == ErrorCode::kPermissionDenied) {
      return Reject(PermissionDenied("upload names another patient than the device's enrolment"),
                    false, IdsEventKind::kOther, source_ip, device_id);
    }
    return Reject(Unauthenticated("device signature did not verify"), false,
                  IdsEventKind::kForgedSignature, source_ip, device_id);
  }

  // 6. An authentic upload under a batch id stored before, with other bytes.
  if (*prior)
    return AlreadyStored(*parsed, **prior, device->enrolment, std::move(batch_id), source_ip);

  const std::string key = BatchKey(device_id, batch_id);
  if (!BeginBatch(key)) {
    return Reject(Unavailable("this batch is being stored; retry"), false, std::nullopt, source_ip,
                  device_id, "in_flight", std::chrono::seconds(1));
  }
  InFlight release([this, &key] { EndBatch(key); });

  // 7. Open the session batch, unless a previous attempt opened it and failed to store it.
  std::optional<wire::OpenedUpload> opened = TakePending(key, digest);
  if (!opened) {
    auto fresh = wire::OpenUpload(*parsed, device->enrolment, ctx_.sessions);
    if (!fresh) return DoesNotOpen(*parsed, source_ip, device_id);
    opened = std::move(*fresh);
  }

  // 8-9. Decode and check.
  auto decoded = Decode(*opened, source_ip);
  if (auto* rejection = std::get_if<IngestRejection>(&decoded)) return std::move(*rejection);
  const Decoded& content = std::get<Decoded>(decoded);

  // 10. Durable before the acknowledgement.
  if (Status stored = Persist(*opened, content, digest, batch_id); !stored) {
    log::Error("cloudlet_store_failed", {{"error", stored.error().ToString()}});
    KeepPending(key, digest, *opened);
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip, device_id,
                  "unavailable", std::chrono::seconds(5));
  }
  if (ctx_.on_enqueued) ctx_.on_enqueued();

  // 11. Acknowledge.
  const std::size_t readings = content.readings.size();
  if (header.content_type == wire::ContentType::kReadingsBatch) {
    ctx_.counters.batches_stored.fetch_add(1, std::memory_order_relaxed);
    ctx_.counters.readings_stored.fetch_add(readings, std::memory_order_relaxed);
    ctx_.metrics.readings_stored.Increment(static_cast<double>(readings));
  } else {
    ctx_.counters.records_stored.fetch_add(1, std::memory_order_relaxed);
  }
  ctx_.metrics.ingest.WithLabels({wire::ContentTypeName(header.content_type), "stored"})
      .Increment();
  if (content.refused > 0)
    ctx_.metrics.readings_refused.Increment(static_cast<double>(content.refused));
  return IngestAck{std::move(batch_id), IngestStatus::kStored, header.content_type, readings,
                   content.refused};
}

std::variant<IngestPipeline::Decoded, IngestRejection> IngestPipeline::Decode(
    const wire::OpenedUpload& opened, std::string_view source_ip) {
  const wire::UploadHeader& header = opened.header;
  Decoded out;
  if (header.content_type == wire::ContentType::kPatientRecord) {
    auto record = wire::PatientRecordFromUpload(header, opened.payload);
    if (!record) {
      if (record.error().code() == ErrorCode::kResourceExhausted) {
        return Reject(PayloadTooLarge("patient record is over its size limits"), false,
                      IdsEventKind::kOversized, source_ip, header.device_id);
      }
      return Reject(InvalidArgument("invalid patient record: " + record.error().message()), true,
                    IdsEventKind::kMalformed, source_ip, header.device_id);
    }
    out.record = std::move(*record);
    return out;
  }
  if (!opened.payload.empty() && opened.payload.front() != wire::kReadingsFormatVersion) {
    // A newer device's format: an upgraded cloudlet may take it, so not permanent.
    return Reject(InvalidArgument("unsupported readings format version"), false,
                  IdsEventKind::kMalformed, source_ip, header.device_id);
  }
  auto readings = wire::DecodeReadings(opened.payload, limits_.readings);
  if (!readings) {
    if (readings.error().code() == ErrorCode::kResourceExhausted) {
      return Reject(InvalidArgument("readings payload expands past its limits: " +
                                    readings.error().message()),
                    true, IdsEventKind::kDecompressionBomb, source_ip, header.device_id);
    }
    return Reject(InvalidArgument("malformed readings payload: " + readings.error().message()),
                  true, IdsEventKind::kMalformed, source_ip, header.device_id);
  }
  if (readings->empty()) {
    return Reject(InvalidArgument("readings payload holds no readings"), true,
                  IdsEventKind::kMalformed, source_ip, header.device_id);
  }
  // 9. Reading by reading: one implausible value (a loose electrode, a sensor glitch) must not
  // cost the batch its other readings.
  const std::int64_t latest_ms = NowMs(ctx_.clock) + limits_.max_future_skew.count();
  std::set<std::string_view> refused_kinds;
  out.readings.reserve(readings->size());
  for (const wire::Reading& reading : *readings) {
    if (wire::CheckPlausible(reading) && reading.time_ms <= latest_ms) {
      out.readings.push_back(reading);
      continue;
    }
    ++out.refused;
    if (wire::VitalKindFromId(static_cast<std::uint8_t>(reading.kind))) {
      refused_kinds.insert(wire::Info(reading.kind).name);
    }
  }
  if (out.refused > 0) {
    // One event per batch, not per reading: a broken sensor must not flood the IDS log. No
    // values: they are health data.
    std::string detail = std::to_string(out.refused) + " of " + std::to_string(readings->size()) +
                         " readings refused (implausible value or time)";
    if (!refused_kinds.empty()) {
      std::string kinds;
      for (std::string_view kind : refused_kinds) {
        if (!kinds.empty()) kinds += ",";
        kinds += kind;
      }
      detail += "; kinds: " + kinds;
    }
    RecordIdsEvent(IdsEventKind::kOutOfRange, source_ip, header.device_id, detail);
  }
  return out;
}

Status IngestPipeline::Persist(const wire::OpenedUpload& opened, const Decoded& decoded,
                               const crypto::Digest256& digest, const std::string& batch_id) {
  const wire::UploadHeader& header = opened.header;
  if (!decoded.record && decoded.readings.empty()) {
    // Every reading was refused (step 9): nothing to store or forward; the ledger row makes a
    // retry a duplicate.
    return ctx_.ledger.AddBatch(LedgerBatch{
        header.device_id, batch_id, header.content_type, header.patient_id, digest, 0,
        NowMs(ctx_.clock), ctx_.ledger.PayloadDigest(header.content_type, opened.payload)});
  }
  const Bytes joined = wire::EncodeEvidenceAndPayload(opened.evidence, opened.payload);

  // Encrypted here, on the upload's own thread, so a group commit only writes.
  const std::string item_id = internal::UploadItemId(
      internal::DeriveForwardId(ctx_.node_id, header.device_id, header.batch_id));
  MEDMESH_ASSIGN_OR_RETURN(
      Bytes sealed_at_rest,
      ctx_.envelope.Encrypt({header.patient_id, std::string(internal::kForwardKeyPart)}, joined,
                            AsBytes(item_id)));
  Bytes item = internal::EncodeUploadItem(
      {header.content_type, header.device_id, header.patient_id, std::move(sealed_at_rest)});
  LedgerBatch row{header.device_id,
                  batch_id,
                  header.content_type,
                  header.patient_id,
                  digest,
                  decoded.readings.size(),
                  NowMs(ctx_.clock),
                  ctx_.ledger.PayloadDigest(header.content_type, opened.payload)};

  if (!decoded.record) {
    PendingWrite write{
        item_id, std::move(item),
        store::ReadingBatchToStore{header.patient_id, header.device_id, batch_id, decoded.readings},
        std::move(row)};
    return CommitGrouped(write);
  }

  // A record: the forward first (as in StoreOne), then the record and its row together.
  auto enqueued = ctx_.forward_queue.Enqueue(item_id, item);
  if (!enqueued && enqueued.error().code() != ErrorCode::kAlreadyExists) return enqueued.error();
  MEDMESH_ASSIGN_OR_RETURN(
      Bytes ciphertext,
      ctx_.envelope.Encrypt({header.patient_id, std::string(kRecordsKeyPart)}, joined,
                            RecordAd(header.device_id, decoded.record->record_id)));
  return ctx_.ledger.AddRecord(
      row,
      LedgerRecord{decoded.record->record_id, decoded.record->created_ms, std::move(ciphertext)});
}

Status IngestPipeline::CommitGrouped(PendingWrite& write) {
  std::unique_lock lock(commit_mu_);
  commit_queue_.push_back(&write);
  commit_cv_.wait(lock, [&] { return write.done || commit_queue_.front() == &write; });
  if (write.done) return write.status;  // a leader stored it
  // This upload leads: it stores itself and the uploads queued behind it while the previous
  // group was being stored. They wait until done, so their PendingWrites outlive this call.
  const std::size_t n =
      std::min(commit_queue_.size(), std::max<std::size_t>(limits_.max_group_commit, 1));
  const std::vector<PendingWrite*> group(commit_queue_.begin(),
                                         commit_queue_.begin() + static_cast<std::ptrdiff_t>(n));
  lock.unlock();
  try {
    StoreGroup(group);
  } catch (const std::exception& e) {
    // E.g. bad_alloc: the members must still be released, or they and every later upload
    // would wait for this group forever.
    for (PendingWrite* w : group)
      w->status = Internal("group commit failed: " + std::string(e.what()));
  }
  lock.lock();
  for (PendingWrite* w : group) {
    w->done = true;
    commit_queue_.pop_front();
  }
  lock.unlock();
  commit_cv_.notify_all();  // the members, and the next leader
  return write.status;
}

void IngestPipeline::StoreGroup(std::span<PendingWrite* const> group) {
  ctx_.metrics.group_commit_uploads.Observe(static_cast<double>(group.size()));
  if (group.size() > 1) {
    const Status together = StoreTogether(group);
    if (together) {
      for (PendingWrite* w : group) w->status = OkStatus();
      return;
    }
    log::Warn("cloudlet_group_commit_failed",
              {{"uploads", static_cast<std::uint64_t>(group.size())},
               {"error", together.error().ToString()}});
  }
  // Also after a failed group: each upload again on its own (every step is idempotent).
  for (PendingWrite* w : group) w->status = StoreOne(*w);
}

// The order of StoreOne, for all at once: forwards, readings, ledger rows.
Status IngestPipeline::StoreTogether(std::span<PendingWrite* const> group) {
  std::vector<store::SqliteDurableQueue::Entry> forwards;
  std::vector<store::ReadingBatchToStore> batches;
  std::vector<LedgerBatch> rows;
  forwards.reserve(group.size());
  batches.reserve(group.size());
  rows.reserve(group.size());
  for (const PendingWrite* w : group) {
    forwards.push_back({w->forward_id, w->forward_item});
    batches.push_back(w->readings);
    rows.push_back(w->row);
  }
  MEDMESH_ASSIGN_OR_RETURN(auto enqueued, ctx_.forward_queue.EnqueueMany(forwards));
  for (const auto& outcome : enqueued) {
    if (!outcome && outcome.error().code() != ErrorCode::kAlreadyExists) return outcome.error();
  }
  MEDMESH_ASSIGN_OR_RETURN(auto stored, ctx_.readings.PutMany(batches));
  (void)stored;  // kDuplicate: see StoreOne
  return ctx_.ledger.AddBatches(rows);
}

Status IngestPipeline::StoreOne(const PendingWrite& write) {
  // The forward first: once the readings are stored a retry is a duplicate, so the forward must
  // already be queued by then. kAlreadyExists: an earlier attempt queued this forward (with
  // another nonce) and failed later.
  auto enqueued = ctx_.forward_queue.Enqueue(write.forward_id, write.forward_item);
  if (!enqueued && enqueued.error().code() != ErrorCode::kAlreadyExists) return enqueued.error();
  MEDMESH_ASSIGN_OR_RETURN(store::ReadingPutOutcome outcome, ctx_.readings.Put(write.readings));
  (void)outcome;  // kDuplicate: stored by an attempt that failed before the ledger row
  return ctx_.ledger.AddBatch(write.row);
}

std::size_t IngestPipeline::QueuedForCommit() {
  std::lock_guard lock(commit_mu_);
  return commit_queue_.size();
}

bool IngestPipeline::BeginBatch(const std::string& key) {
  std::lock_guard lock(mu_);
  return in_flight_.insert(key).second;
}

void IngestPipeline::EndBatch(const std::string& key) {
  std::lock_guard lock(mu_);
  in_flight_.erase(key);
}

std::optional<wire::OpenedUpload> IngestPipeline::TakePending(const std::string& key,
                                                              const crypto::Digest256& digest) {
  std::lock_guard lock(mu_);
  return pending_.Take(key, digest);
}

void IngestPipeline::KeepPending(const std::string& key, const crypto::Digest256& digest,
                                 wire::OpenedUpload& opened) {
  std::lock_guard lock(mu_);
  pending_.Keep(key, digest, opened);
}

}  // namespace medmesh::cloudlet
