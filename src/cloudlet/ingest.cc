#include "cloudlet/ingest.h"

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

#include "cloudlet/device_registry.h"
#include "cloudlet/ingest_ledger.h"
#include "cloudlet/internal/cloudlet_metrics.h"
#include "cloudlet/internal/forward_item.h"
#include "core/log.h"
#include "wire/model.h"

namespace medmesh::cloudlet {
namespace {

// What identifies a batch's content across seals: its content type and opened payload.
node::Digest256 PayloadDigest(const wire::OpenedUpload& opened) {
  const std::uint8_t type = static_cast<std::uint8_t>(opened.header.content_type);
  return node::Blake2b256({ByteView(&type, 1), opened.payload});
}

using store::IdsEventKind;

// The data key part of records at rest at the cloudlet.
constexpr std::string_view kRecordsKeyPart = "records";

std::int64_t NowMs(const Clock& clock) { return wire::ToUnixMs(clock.Now()); }

std::string BatchKey(std::string_view device_id, std::string_view batch_id) {
  return std::string(device_id) + "/" + std::string(batch_id);
}

Bytes RecordAd(std::string_view device_id, std::string_view record_id) {
  Bytes ad;
  AppendBytes(ad, AsBytes("cloudlet record v1"));
  AppendU8(ad, static_cast<std::uint8_t>(device_id.size()));
  AppendBytes(ad, AsBytes(device_id));
  AppendU8(ad, static_cast<std::uint8_t>(record_id.size()));
  AppendBytes(ad, AsBytes(record_id));
  return ad;
}

// Keeps a batch marked in flight for the duration of one Ingest call.
class InFlight {
 public:
  InFlight(std::function<void()> release) : release_(std::move(release)) {}
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
    : ctx_(std::move(context)), limits_(limits) {
  // Plausibility is step 9, so that an implausible batch is reported as out of range rather
  // than malformed.
  limits_.readings.require_plausible = false;
}

void IngestPipeline::RecordRejection(IdsEventKind kind, std::string_view source_ip,
                                     std::string_view device_id, std::string_view detail) {
  const std::string_view kind_name = store::IdsEventKindName(kind);
  ctx_.counters.rejected.fetch_add(1, std::memory_order_relaxed);
  ctx_.metrics.rejected.WithLabels({kind_name}).Increment();
  ctx_.metrics.ids_events.WithLabels({kind_name}).Increment();
  store::IdsEvent event;
  event.time_ms = NowMs(ctx_.clock);
  event.node = ctx_.node_id;
  event.source_ip = std::string(source_ip);
  event.device_id = std::string(device_id);
  event.kind = kind;
  event.detail = std::string(detail);
  if (auto appended = ctx_.ids.Append(event); !appended) {
    log::Error("cloudlet_ids_event_not_recorded",
               {{"kind", kind_name}, {"error", appended.error().ToString()}});
  }
  // The device id stays in ids.db (operator endpoint); log lines carry no identifiers.
  log::Warn("cloudlet_rejected", {{"kind", kind_name}, {"peer", source_ip}, {"detail", detail}});
}

IngestRejection IngestPipeline::Reject(int http_status, std::string error, std::string message,
                                       std::optional<IdsEventKind> kind, std::string_view source_ip,
                                       std::string_view device_id, std::string_view reason) {
  IngestRejection rejection{http_status, std::move(error), std::move(message), std::string(reason),
                            std::nullopt};
  if (kind) {
    rejection.reason = std::string(store::IdsEventKindName(*kind));
    RecordRejection(*kind, source_ip, device_id, rejection.message);
  } else {
    ctx_.metrics.rejected.WithLabels({rejection.reason}).Increment();
  }
  return rejection;
}

IngestRejection IngestPipeline::DoesNotOpen(std::string_view source_ip,
                                            std::string_view device_id) {
  return Reject(401, "unauthenticated",
                "sealed payload did not open (unknown or expired session, replayed batch, or "
                "tampered ciphertext); reseal it in a new session",
                IdsEventKind::kDecryptFailure, source_ip, device_id);
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
    if (!opened) return DoesNotOpen(source_ip, header.device_id);
    if (PayloadDigest(*opened) == *prior.payload_digest) {
      return Duplicate(header, std::move(batch_id));
    }
  }
  return Reject(409, "already_exists",
                "batch id was already used for a different upload; use a new batch id",
                IdsEventKind::kReplay, source_ip, header.device_id);
}

IngestAck IngestPipeline::Duplicate(const wire::UploadHeader& header, std::string batch_id) {
  ctx_.counters.duplicates.fetch_add(1, std::memory_order_relaxed);
  ctx_.metrics.ingest.WithLabels({wire::ContentTypeName(header.content_type), "duplicate"})
      .Increment();
  return IngestAck{std::move(batch_id), IngestStatus::kDuplicate, header.content_type, 0};
}

IngestResult IngestPipeline::Ingest(ByteView upload, std::string_view source_ip) {
  // 1. The clear-text header.
  auto parsed = wire::ParseUpload(upload, limits_.max_upload_bytes);
  if (!parsed) {
    if (parsed.error().code() == ErrorCode::kResourceExhausted) {
      return Reject(413, "payload_too_large", "upload is larger than the cloudlet accepts",
                    IdsEventKind::kOversized, source_ip, {});
    }
    return Reject(400, "invalid_argument", "malformed upload: " + parsed.error().message(),
                  IdsEventKind::kMalformed, source_ip, {});
  }
  const wire::UploadHeader& header = parsed->header;
  const std::string& device_id = header.device_id;
  std::string batch_id = HexEncode(header.batch_id);

  // 2. The device.
  const std::optional<DeviceEntry> device = ctx_.devices.Find(device_id);
  if (!device) {
    return Reject(403, "permission_denied", "device is not enrolled at this cloudlet",
                  IdsEventKind::kUnknownDevice, source_ip, device_id);
  }
  if (device->withdrawn) {
    return Reject(403, "permission_denied", "device was withdrawn", IdsEventKind::kUnknownDevice,
                  source_ip, device_id);
  }

  // 3. A retry of an upload already acknowledged: byte for byte the same.
  const node::Digest256 digest = node::Blake2b256({upload});
  auto prior = ctx_.ledger.Find(device_id, batch_id);
  if (!prior) {
    log::Error("cloudlet_ledger_unavailable", {{"error", prior.error().ToString()}});
    return Reject(503, "unavailable", "service unavailable", std::nullopt, source_ip, device_id,
                  "unavailable");
  }
  if (*prior && (*prior)->upload_digest == digest) return Duplicate(header, std::move(batch_id));

  // 4. Backpressure: new batches wait in the devices' outboxes while the cloud is away.
  const store::Backpressure pressure = ctx_.pressure.Current();
  if (pressure.level != store::BackpressureLevel::kNone) {
    const bool refuse = pressure.level == store::BackpressureLevel::kRefuse;
    IngestRejection rejection =
        Reject(refuse ? 503 : 429, refuse ? "unavailable" : "resource_exhausted",
               refuse ? "the cloudlet's forward queue is full; retry later"
                      : "the cloudlet is busy forwarding; send less often",
               std::nullopt, source_ip, device_id, "backpressure");
    rejection.retry_after = refuse ? std::chrono::seconds(60) : std::chrono::seconds(10);
    return rejection;
  }

  // 5. Authenticity, before any work on the ciphertext.
  if (Status verified = wire::VerifyUpload(*parsed, device->enrolment); !verified) {
    if (verified.error().code() == ErrorCode::kPermissionDenied) {
      return Reject(403, "permission_denied",
                    "upload names another patient than the device's enrolment",
                    IdsEventKind::kOther, source_ip, device_id);
    }
    return Reject(401, "unauthenticated", "device signature did not verify",
                  IdsEventKind::kForgedSignature, source_ip, device_id);
  }

  // 6. An authentic upload under a batch id stored before, with other bytes.
  if (*prior)
    return AlreadyStored(*parsed, **prior, device->enrolment, std::move(batch_id), source_ip);

  const std::string key = BatchKey(device_id, batch_id);
  if (!BeginBatch(key)) {
    IngestRejection rejection = Reject(503, "unavailable", "this batch is being stored; retry",
                                       std::nullopt, source_ip, device_id, "in_flight");
    rejection.retry_after = std::chrono::seconds(1);
    return rejection;
  }
  InFlight release([this, &key] { EndBatch(key); });

  // 7. Open the session batch, unless a previous attempt opened it and failed to store it.
  std::optional<wire::OpenedUpload> opened = TakePending(key, digest);
  if (!opened) {
    auto fresh = wire::OpenUpload(*parsed, device->enrolment, ctx_.sessions);
    if (!fresh) return DoesNotOpen(source_ip, device_id);
    opened = std::move(*fresh);
  }

  // 8-9. Decode and check.
  auto decoded = Decode(*opened, source_ip);
  if (auto* rejection = std::get_if<IngestRejection>(&decoded)) return std::move(*rejection);
  const Decoded& content = std::get<Decoded>(decoded);

  // 10. Durable before the acknowledgement.
  if (Status stored = Persist(*opened, content, digest, batch_id); !stored) {
    log::Error("cloudlet_store_failed", {{"error", stored.error().ToString()}});
    KeepPending(key, Opened{std::move(*opened), digest});
    IngestRejection rejection = Reject(503, "unavailable", "service unavailable", std::nullopt,
                                       source_ip, device_id, "unavailable");
    rejection.retry_after = std::chrono::seconds(5);
    return rejection;
  }
  if (ctx_.on_enqueued) ctx_.on_enqueued();

  // 11. Acknowledge.
  const std::size_t readings = content.readings.size();
  if (header.content_type == wire::ContentType::kReadingsBatch) {
    ctx_.counters.batches_stored.fetch_add(1, std::memory_order_relaxed);
    ctx_.counters.readings_stored.fetch_add(readings, std::memory_order_relaxed);
    ctx_.metrics.readings_stored.Increment(readings);
  } else {
    ctx_.counters.records_stored.fetch_add(1, std::memory_order_relaxed);
  }
  ctx_.metrics.ingest.WithLabels({wire::ContentTypeName(header.content_type), "stored"})
      .Increment();
  return IngestAck{std::move(batch_id), IngestStatus::kStored, header.content_type, readings};
}

std::variant<IngestPipeline::Decoded, IngestRejection> IngestPipeline::Decode(
    const wire::OpenedUpload& opened, std::string_view source_ip) {
  const wire::UploadHeader& header = opened.header;
  Decoded out;
  if (header.content_type == wire::ContentType::kPatientRecord) {
    auto record = wire::PatientRecordFromUpload(header, opened.payload);
    if (!record) {
      if (record.error().code() == ErrorCode::kResourceExhausted) {
        return Reject(413, "payload_too_large", "patient record is over its size limits",
                      IdsEventKind::kOversized, source_ip, header.device_id);
      }
      return Reject(400, "invalid_argument", "invalid patient record: " + record.error().message(),
                    IdsEventKind::kMalformed, source_ip, header.device_id);
    }
    out.record = std::move(*record);
    return out;
  }
  auto readings = wire::DecodeReadings(opened.payload, limits_.readings);
  if (!readings) {
    if (readings.error().code() == ErrorCode::kResourceExhausted) {
      return Reject(400, "invalid_argument",
                    "readings payload expands past its limits: " + readings.error().message(),
                    IdsEventKind::kDecompressionBomb, source_ip, header.device_id);
    }
    return Reject(400, "invalid_argument",
                  "malformed readings payload: " + readings.error().message(),
                  IdsEventKind::kMalformed, source_ip, header.device_id);
  }
  if (readings->empty()) {
    return Reject(400, "invalid_argument", "readings payload holds no readings",
                  IdsEventKind::kMalformed, source_ip, header.device_id);
  }
  const std::int64_t latest_ms = NowMs(ctx_.clock) + limits_.max_future_skew.count();
  for (const wire::Reading& reading : *readings) {
    if (Status plausible = wire::CheckPlausible(reading); !plausible) {
      return Reject(400, "invalid_argument", "implausible reading: " + plausible.error().message(),
                    IdsEventKind::kOutOfRange, source_ip, header.device_id);
    }
    if (reading.time_ms > latest_ms) {
      return Reject(400, "invalid_argument", "a reading is stamped in the future",
                    IdsEventKind::kOutOfRange, source_ip, header.device_id);
    }
  }
  out.readings = std::move(*readings);
  return out;
}

Status IngestPipeline::Persist(const wire::OpenedUpload& opened, const Decoded& decoded,
                               const node::Digest256& digest, const std::string& batch_id) {
  const wire::UploadHeader& header = opened.header;
  const Bytes evidence = wire::EncodeUploadEvidence(opened.evidence);
  const Bytes joined = internal::JoinEvidenceAndPayload(evidence, opened.payload);

  // Encrypted here, on the upload's own thread, so a group commit only writes.
  const std::string item_id = internal::UploadItemId(
      internal::DeriveForwardId(ctx_.node_id, header.device_id, header.batch_id));
  MEDMESH_ASSIGN_OR_RETURN(
      Bytes sealed_at_rest,
      ctx_.envelope.Encrypt({header.patient_id, std::string(internal::kForwardKeyPart)}, joined,
                            AsBytes(item_id)));
  Bytes item = internal::EncodeUploadItem(
      {header.content_type, header.device_id, header.patient_id, std::move(sealed_at_rest)});
  LedgerBatch row{
      header.device_id,        batch_id,          header.content_type,  header.patient_id, digest,
      decoded.readings.size(), NowMs(ctx_.clock), PayloadDigest(opened)};

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

bool IngestPipeline::BeginBatch(const std::string& key) {
  std::lock_guard lock(mu_);
  return in_flight_.insert(key).second;
}

void IngestPipeline::EndBatch(const std::string& key) {
  std::lock_guard lock(mu_);
  in_flight_.erase(key);
}

std::optional<wire::OpenedUpload> IngestPipeline::TakePending(const std::string& key,
                                                              const node::Digest256& digest) {
  std::lock_guard lock(mu_);
  const auto it = pending_.find(key);
  if (it == pending_.end() || it->second.digest != digest) return std::nullopt;
  wire::OpenedUpload opened = std::move(it->second.upload);
  pending_.erase(it);
  pending_order_.remove(key);
  return opened;
}

void IngestPipeline::KeepPending(const std::string& key, Opened opened) {
  std::lock_guard lock(mu_);
  if (limits_.pending_entries == 0) return;
  if (pending_.insert_or_assign(key, std::move(opened)).second) pending_order_.push_back(key);
  while (pending_.size() > limits_.pending_entries) {
    pending_.erase(pending_order_.front());
    pending_order_.pop_front();
  }
}

}  // namespace medmesh::cloudlet
