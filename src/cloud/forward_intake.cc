#include "cloud/forward_intake.h"

#include <algorithm>
#include <utility>

#include "cloud/cloud_readings.h"
#include "cloud/my_data_rollups.h"
#include "core/log.h"
#include "wire/enrolment.h"
#include "wire/model.h"
#include "wire/readings_codec.h"
#include "wire/record_codec.h"

namespace medmesh::cloud {
namespace {

using store::IdsEventKind;

using wire::NowMs;

Bytes Labelled(std::string_view label, std::string_view ref) {
  Bytes ad;
  AppendBytes(ad, AsBytes(label));
  AppendU8(ad, 0);
  AppendBytes(ad, AsBytes(ref));
  return ad;
}

}  // namespace

Result<ReadingsSummary> SummariseReadings(const wire::UploadHeader& header, ByteView payload) {
  // The cloudlet checked the same; the cloud does not take a cloudlet's word for it.
  // Plausibility reading by reading, as at the cloudlet (forward_intake.h step 4).
  MEDMESH_ASSIGN_OR_RETURN(
      const wire::ReadingBatch batch,
      wire::ReadingBatchFromUpload(header, payload, {.require_plausible = false}));
  if (batch.readings.empty()) return InvalidArgument("readings payload holds no readings");
  ReadingsSummary out;
  out.total = batch.readings.size();
  bool first = true;
  for (const wire::Reading& reading : batch.readings) {
    if (!wire::CheckPlausible(reading)) continue;
    out.from_ms = first ? reading.time_ms : std::min(out.from_ms, reading.time_ms);
    out.to_ms = first ? reading.time_ms : std::max(out.to_ms, reading.time_ms);
    first = false;
    ++out.plausible;
  }
  if (out.plausible == 0) return FailedPrecondition("no reading of the batch is plausible");
  return out;
}

struct ForwardIntake::Metrics {
  explicit Metrics(net::MetricsRegistry& r)
      : forwards(r.AddCounter("medmesh_cloud_forwards_total",
                              "Forwards accepted, by content type and status (stored, duplicate).",
                              {"content_type", "status"})),
        readings(r.AddCounter("medmesh_cloud_readings_stored_total",
                              "Readings stored from forwarded batches.")
                     .WithLabels({})),
        readings_refused(r.AddCounter("medmesh_cloud_readings_refused_total",
                                      "Implausible readings in forwarded batches (kept in the "
                                      "signed batch, not counted as stored).")
                             .WithLabels({})),
        rejected(r.AddCounter("medmesh_cloud_rejected_total",
                              "Forwards, registrations and enrolments refused, by reason.",
                              {"reason"})),
        registrations(r.AddCounter("medmesh_cloud_registrations_total",
                                   "Cloudlet certificates and device enrolments received, by "
                                   "kind and status.",
                                   {"kind", "status"})) {}
  net::CounterFamily& forwards;
  net::Counter& readings;
  net::Counter& readings_refused;
  net::CounterFamily& rejected;
  net::CounterFamily& registrations;
};

ForwardIntake::ForwardIntake(ForwardIntakeContext context, crypto::HashKey refs_key,
                             std::size_t max_forward_bytes)
    : ctx_(std::move(context)),
      refs_key_(std::move(refs_key)),
      max_forward_bytes_(max_forward_bytes),
      metrics_(std::make_unique<Metrics>(ctx_.metrics)) {}

ForwardIntake::~ForwardIntake() = default;

std::string ForwardIntake::DeviceRef(std::string_view device_id) const {
  return HexEncode(
      crypto::KeyedBlake2b256Parts(refs_key_, {AsBytes("device"), AsBytes(device_id)}));
}

std::string ForwardIntake::BatchRef(std::string_view device_id,
                                    const wire::BatchId& batch_id) const {
  return HexEncode(
      crypto::KeyedBlake2b256Parts(refs_key_, {AsBytes("batch"), AsBytes(device_id), batch_id}));
}

Bytes ForwardIntake::ContentDigest(ByteView payload) const {
  const crypto::Digest256 digest =
      crypto::KeyedBlake2b256Parts(refs_key_, {AsBytes("content"), payload});
  return Bytes(digest.begin(), digest.end());
}

Result<wire::Enrolment> ForwardIntake::DecryptEnrolment(const EnrolmentRow& row) const {
  // The record was verified before it was stored, and the envelope authenticates it.
  MEDMESH_ASSIGN_OR_RETURN(Bytes record,
                           ctx_.records.envelope(store::RecordPart::kEi)
                               .Decrypt({row.patient_id, "ei"}, row.ciphertext,
                                        Labelled("cloud enrolment v1", row.device_ref)));
  MEDMESH_ASSIGN_OR_RETURN(wire::SignedEnrolment parsed, wire::ParseEnrolment(record));
  return parsed.enrolment;
}

Result<Bytes> ForwardIntake::DecryptBatch(const ReadingBatchRow& row) const {
  return ctx_.records.envelope(store::RecordPart::kMi)
      .Decrypt({row.pseudonym, "mi"}, row.ciphertext, ReadingBatchAd(row.batch_ref));
}

Result<ReadingBatchRow> ForwardIntake::BatchRowFor(const wire::OpenedUpload& opened,
                                                   std::int64_t stored_ms,
                                                   ReadingsSummary* summary_out) const {
  const wire::UploadHeader& header = opened.header;
  MEDMESH_ASSIGN_OR_RETURN(const ReadingsSummary summary,
                           SummariseReadings(header, opened.payload));
  if (summary_out != nullptr) *summary_out = summary;
  const std::string pseudonym = ctx_.records.Pseudonym(header.patient_id);
  const std::string batch_ref = BatchRef(header.device_id, header.batch_id);
  auto ciphertext = ctx_.records.envelope(store::RecordPart::kMi)
                        .Encrypt({pseudonym, "mi"},
                                 wire::EncodeEvidenceAndPayload(opened.evidence, opened.payload),
                                 ReadingBatchAd(batch_ref));
  // A storage failure here (the data key's store), never a fault of the content.
  if (!ciphertext) return Unavailable("readings not encrypted: " + ciphertext.error().ToString());
  return ReadingBatchRow{batch_ref,
                         pseudonym,
                         summary.from_ms,
                         summary.to_ms,
                         summary.plausible,
                         stored_ms,
                         ContentDigest(opened.payload),
                         std::move(*ciphertext)};
}

void ForwardIntake::RecordRejection(IdsEventKind kind, std::string_view source_ip,
                                    std::string_view detail) {
  store::IdsEvent event;
  event.time_ms = NowMs(ctx_.clock);
  event.node = ctx_.node_id;
  event.source_ip = std::string(source_ip);
  event.kind = kind;
  event.detail = std::string(detail);
  // Rate-limited and aggregated per source (ids_event_log.h).
  auto recorded = ctx_.ids.Record(event);
  if (!recorded) {
    log::Error("cloud_ids_event_not_recorded", {{"error", recorded.error().ToString()}});
  }
  if (!recorded || *recorded == store::IdsRecordOutcome::kWritten) {
    log::Warn("cloud_rejected",
              {{"kind", store::IdsEventKindName(kind)}, {"peer", source_ip}, {"detail", detail}});
  }
}

IntakeRejection ForwardIntake::Reject(Error error, bool permanent, std::optional<IdsEventKind> kind,
                                      std::string_view source_ip, std::string_view reason) {
  IntakeRejection rejection(std::move(error), permanent, std::nullopt, std::string(reason));
  if (kind) {
    rejection.reason = std::string(store::IdsEventKindName(*kind));
    RecordRejection(*kind, source_ip, rejection.error.message());
  }
  rejected_.fetch_add(1, std::memory_order_relaxed);
  metrics_->rejected.WithLabels({rejection.reason}).Increment();
  return rejection;
}

std::variant<wire::VerifiedCertificate, IntakeRejection> ForwardIntake::CloudletCertificate(
    std::string_view cloudlet_id, std::string_view source_ip) {
  auto row = ctx_.intake.GetCloudletCertificate(cloudlet_id);
  if (!row) {
    log::Error("cloud_intake_unavailable", {{"error", row.error().ToString()}});
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                  "unavailable");
  }
  if (!*row) {
    return Reject(FailedPrecondition(
                      "unknown cloudlet: register its certificate with POST /api/v1/cloudlets"),
                  false, std::nullopt, source_ip, "unknown_cloudlet");
  }
  auto verified = wire::VerifyCertificate((*row)->certificate, ctx_.root.key,
                                          wire::CertificateRole::kCloudlet, NowMs(ctx_.clock));
  if (!verified) {
    // Only an expired or not yet valid certificate can be stored: it was verified on the way in.
    return Reject(FailedPrecondition("the cloudlet's registered certificate is not valid now: " +
                                     verified.error().message() + "; register a renewed one"),
                  false, IdsEventKind::kBadCertificate, source_ip);
  }
  return std::move(*verified);
}

IntakeResult ForwardIntake::RegisterCloudlet(ByteView certificate, std::string_view source_ip) {
  auto verified = wire::VerifyCertificate(certificate, ctx_.root.key,
                                          wire::CertificateRole::kCloudlet, NowMs(ctx_.clock));
  if (!verified) {
    const ErrorCode code = verified.error().code();
    if (code == ErrorCode::kResourceExhausted) {
      return Reject(PayloadTooLarge("certificate is too large"), false, IdsEventKind::kOversized,
                    source_ip);
    }
    if (code == ErrorCode::kFailedPrecondition) {
      return Reject(FailedPrecondition("cloudlet certificate is not valid now: " +
                                       verified.error().message()),
                    false, IdsEventKind::kBadCertificate, source_ip);
    }
    if (code == ErrorCode::kPermissionDenied) {
      return Reject(PermissionDenied("not a cloudlet certificate"), true,
                    IdsEventKind::kBadCertificate, source_ip);
    }
    return Reject(Unauthenticated("certificate is not issued by this deployment's root"), true,
                  IdsEventKind::kBadCertificate, source_ip);
  }
  const wire::Certificate& cert = verified->certificate();
  auto outcome = ctx_.intake.PutCloudletCertificate(
      {cert.subject_id, Bytes(certificate.begin(), certificate.end()), cert.not_before_ms});
  if (!outcome) {
    if (outcome.error().code() == ErrorCode::kAlreadyExists) {
      return Reject(AlreadyExists(outcome.error().message()), true, std::nullopt, source_ip,
                    "stale_certificate");
    }
    log::Error("cloud_intake_unavailable", {{"error", outcome.error().ToString()}});
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                  "unavailable");
  }
  const std::string status(*outcome == IntakeOutcome::kInserted ? kStatusStored : kStatusUnchanged);
  metrics_->registrations.WithLabels({"cloudlet", status}).Increment();
  if (*outcome == IntakeOutcome::kInserted) {
    log::Info("cloud_cloudlet_registered", {{"cloudlet", cert.subject_id}, {"peer", source_ip}});
  }
  return IntakeAck{cert.subject_id, status, cert.subject_id};
}

IntakeResult ForwardIntake::AddEnrolment(ByteView record, std::string_view source_ip) {
  auto parsed = wire::ParseEnrolment(record);
  if (!parsed) {
    if (parsed.error().code() == ErrorCode::kResourceExhausted) {
      return Reject(PayloadTooLarge("enrolment record is too large"), false,
                    IdsEventKind::kOversized, source_ip);
    }
    return Reject(InvalidArgument("malformed enrolment record: " + parsed.error().message()), false,
                  IdsEventKind::kMalformed, source_ip);
  }
  auto cloudlet = CloudletCertificate(parsed->enrolment.cloudlet_id, source_ip);
  if (auto* rejection = std::get_if<IntakeRejection>(&cloudlet)) return std::move(*rejection);
  auto enrolment = wire::VerifyEnrolment(record, std::get<wire::VerifiedCertificate>(cloudlet));
  if (!enrolment) {
    return Reject(Unauthenticated("enrolment record is not signed by the cloudlet it names"), true,
                  IdsEventKind::kForgedSignature, source_ip);
  }
  // A patient who deleted their data is not enrolled again (cloud/integrity_service.h).
  auto deletion = ctx_.intake.GetDeletion(enrolment->patient_id);
  if (!deletion) {
    log::Error("cloud_intake_unavailable", {{"error", deletion.error().ToString()}});
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                  "unavailable");
  }
  if (*deletion) {
    return Reject(FailedPrecondition("the patient's data was deleted"), true,
                  IdsEventKind::kEnrolmentConflict, source_ip);
  }
  const std::string device_ref = DeviceRef(enrolment->device_id);
  const crypto::Digest256 binding = crypto::KeyedBlake2b256Parts(
      refs_key_,
      {AsBytes("binding"), AsBytes(enrolment->patient_id), enrolment->device_key.bytes()});
  auto ciphertext = ctx_.records.envelope(store::RecordPart::kEi)
                        .Encrypt({enrolment->patient_id, "ei"}, record,
                                 Labelled("cloud enrolment v1", device_ref));
  if (!ciphertext) {
    log::Error("cloud_enrolment_not_encrypted", {{"error", ciphertext.error().ToString()}});
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                  "unavailable");
  }
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    generation = generation_;
  }
  auto outcome = ctx_.intake.PutEnrolment(
      {device_ref, enrolment->patient_id, enrolment->cloudlet_id,
       Bytes(binding.begin(), binding.end()), std::move(*ciphertext), std::nullopt});
  if (!outcome) {
    // Another cloudlet's claim, another patient or key, or a withdrawn device: first come keeps
    // the device, and the refusal is an IDS event (a cloudlet claiming what is not its own).
    if (outcome.error().code() == ErrorCode::kAlreadyExists) {
      return Reject(AlreadyExists(outcome.error().message()), true,
                    IdsEventKind::kEnrolmentConflict, source_ip);
    }
    if (outcome.error().code() == ErrorCode::kFailedPrecondition) {
      return Reject(FailedPrecondition("the device was withdrawn"), true,
                    IdsEventKind::kEnrolmentConflict, source_ip);
    }
    log::Error("cloud_intake_unavailable", {{"error", outcome.error().ToString()}});
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                  "unavailable");
  }
  {
    std::lock_guard lock(mu_);
    if (generation == generation_) {
      enrolments_.insert_or_assign(enrolment->device_id,
                                   CachedEnrolment{*enrolment, ctx_.clock.Now()});
    }
  }
  const std::string status(*outcome == IntakeOutcome::kInserted ? kStatusStored : kStatusDuplicate);
  metrics_->registrations.WithLabels({"enrolment", status}).Increment();
  return IntakeAck{enrolment->device_id, status, enrolment->cloudlet_id};
}

IntakeResult ForwardIntake::WithdrawDevice(std::string_view device_id, std::string_view source_ip) {
  if (!wire::IsValidId(device_id)) {
    return Reject(InvalidArgument("device ids are 1..64 characters of [A-Za-z0-9._-]"), true,
                  std::nullopt, source_ip, "bad_request");
  }
  const std::string device_ref = DeviceRef(device_id);
  auto outcome = ctx_.intake.WithdrawEnrolment(device_ref, NowMs(ctx_.clock));
  if (!outcome) {
    if (outcome.error().code() == ErrorCode::kNotFound) {
      return Reject(NotFound("the device is not enrolled"), true, std::nullopt, source_ip,
                    "not_found");
    }
    log::Error("cloud_intake_unavailable", {{"error", outcome.error().ToString()}});
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                  "unavailable");
  }
  {
    std::lock_guard lock(mu_);
    ++generation_;
    enrolments_.erase(std::string(device_id));
  }
  const bool first = *outcome == IntakeOutcome::kInserted;
  const std::string status(first ? kStatusWithdrawn : kStatusUnchanged);
  metrics_->registrations.WithLabels({"withdrawal", status}).Increment();
  // The keyed reference, never the device id: log lines leave the node (docs/threat_model.md).
  if (first) {
    log::Info("cloud_device_withdrawn",
              {{"device_ref", device_ref.substr(0, 16)}, {"peer", source_ip}});
  }
  return IntakeAck{std::string(device_id), status, {}};
}

Result<wire::Enrolment> ForwardIntake::LookupEnrolment(const wire::UploadHeader& upload,
                                                       std::string_view cloudlet_id,
                                                       std::optional<IdsEventKind>* refusal) {
  const auto now = ctx_.clock.Now();
  std::optional<wire::Enrolment> enrolment;
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    generation = generation_;
    const auto it = enrolments_.find(upload.device_id);
    if (it != enrolments_.end() && now - it->second.read_at < kEnrolmentCacheTtl &&
        now >= it->second.read_at) {
      enrolment = it->second.enrolment;
    }
  }
  if (!enrolment) {
    const std::string device_ref = DeviceRef(upload.device_id);
    MEDMESH_ASSIGN_OR_RETURN(std::optional<EnrolmentRow> row, ctx_.intake.GetEnrolment(device_ref));
    if (!row) {
      return FailedPrecondition(
          "unknown device: push its enrolment record with POST /api/v1/enrolments");
    }
    if (row->withdrawn_ms) {
      *refusal = IdsEventKind::kUnknownDevice;
      return PermissionDenied("the device was withdrawn");
    }
    MEDMESH_ASSIGN_OR_RETURN(enrolment, DecryptEnrolment(*row));
    std::lock_guard lock(mu_);
    if (generation == generation_) {
      enrolments_.insert_or_assign(upload.device_id, CachedEnrolment{*enrolment, now});
    }
  }
  // The device's data reaches the cloud only through the cloudlet that enrolled it.
  if (enrolment->cloudlet_id != cloudlet_id) {
    *refusal = IdsEventKind::kEnrolmentConflict;
    return PermissionDenied("the device is enrolled by another cloudlet");
  }
  return *enrolment;
}

IntakeResult ForwardIntake::AcceptForward(ByteView forward, std::string_view source_ip) {
  auto parsed = wire::ParseForward(forward, max_forward_bytes_);
  if (!parsed) {
    if (parsed.error().code() == ErrorCode::kResourceExhausted) {
      return Reject(PayloadTooLarge("forward is larger than the cloud accepts"), false,
                    IdsEventKind::kOversized, source_ip);
    }
    // Not permanent: unauthenticated bytes (damaged on the way, or a newer format).
    return Reject(InvalidArgument("malformed forward: " + parsed.error().message()), false,
                  IdsEventKind::kMalformed, source_ip);
  }
  const std::string forward_id = HexEncode(parsed->header.forward_id);
  auto cloudlet = CloudletCertificate(parsed->header.cloudlet_id, source_ip);
  if (auto* rejection = std::get_if<IntakeRejection>(&cloudlet)) return std::move(*rejection);

  std::optional<IdsEventKind> lookup_refusal;
  auto opened =
      wire::OpenForward(*parsed, std::get<wire::VerifiedCertificate>(cloudlet), ctx_.opener,
                        [&](const wire::UploadHeader& h) {
                          return LookupEnrolment(h, parsed->header.cloudlet_id, &lookup_refusal);
                        });
  if (!opened) {
    switch (opened.error().code()) {
      case ErrorCode::kFailedPrecondition:
        return Reject(FailedPrecondition(opened.error().message()), false, std::nullopt, source_ip,
                      "unknown_device");
      case ErrorCode::kPermissionDenied:
        if (lookup_refusal) {
          return Reject(PermissionDenied(opened.error().message()), true, *lookup_refusal,
                        source_ip);
        }
        return Reject(
            PermissionDenied("the forward does not match its cloudlet or the device's enrolment"),
            true, IdsEventKind::kBadCertificate, source_ip);
      case ErrorCode::kUnauthenticated:
        // Not permanent: sealed to a cloud key that was since rotated, it opens once resealed.
        return Reject(Unauthenticated("the forward did not verify or open (cloudlet signature, "
                                      "sealed box, or the device's signature)"),
                      false, IdsEventKind::kForgedSignature, source_ip);
      default:
        log::Error("cloud_forward_not_opened", {{"error", opened.error().ToString()}});
        return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                      "unavailable");
    }
  }
  IntakeResult result = opened->header.content_type == wire::ContentType::kPatientRecord
                            ? StoreRecord(*opened, forward_id, source_ip)
                            : StoreReadings(*opened, forward_id, source_ip);
  if (auto* ack = std::get_if<IntakeAck>(&result)) ack->origin = parsed->header.cloudlet_id;
  return result;
}

Result<Bytes> SignIntakeReceipt(const IntakeAck& ack, wire::ReceiptKind kind, ByteView body,
                                const std::optional<wire::ReceiptChallenge>& challenge,
                                std::string_view cloud_id, const crypto::Signer& cloud,
                                std::int64_t now_ms) {
  if (ack.origin.empty()) return InvalidArgument("receipt: an acknowledgement without an origin");
  return wire::SignReceipt({kind, std::string(cloud_id), ack.origin, ack.id,
                            wire::ReceiptDigest(body), now_ms, challenge},
                           cloud);
}

IntakeResult ForwardIntake::StoreReadings(const wire::OpenedUpload& opened,
                                          const std::string& forward_id,
                                          std::string_view source_ip) {
  ReadingsSummary summary;
  auto row = BatchRowFor(opened, NowMs(ctx_.clock), &summary);
  if (!row) {
    switch (row.error().code()) {
      case ErrorCode::kResourceExhausted:
        return Reject(InvalidArgument("invalid readings payload: " + row.error().message()), true,
                      IdsEventKind::kDecompressionBomb, source_ip);
      case ErrorCode::kInvalidArgument:
        return Reject(InvalidArgument(row.error().message().starts_with("readings payload")
                                          ? row.error().message()
                                          : "invalid readings payload: " + row.error().message()),
                      true, IdsEventKind::kMalformed, source_ip);
      case ErrorCode::kFailedPrecondition:
        return Reject(InvalidArgument("no reading of the batch is plausible"), true,
                      IdsEventKind::kOutOfRange, source_ip);
      default:
        log::Error("cloud_readings_not_encrypted", {{"error", row.error().ToString()}});
        return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                      "unavailable");
    }
  }
  // The batch and its roll-ups (my_data_rollups.h) in one transaction. The payload decoded
  // in BatchRowFor; decoding it again here costs microseconds.
  auto readings = wire::DecodeReadings(opened.payload, {.require_plausible = false});
  if (!readings) {
    return Reject(InvalidArgument("invalid readings payload: " + readings.error().message()), true,
                  IdsEventKind::kMalformed, source_ip);
  }
  auto outcome = ReadingRollups(ctx_.records, ctx_.intake).PutBatch(*row, *readings);
  if (!outcome) {
    if (outcome.error().code() == ErrorCode::kAlreadyExists) {
      return Reject(AlreadyExists("another batch was stored under this device's batch id"), true,
                    IdsEventKind::kReplay, source_ip);
    }
    log::Error("cloud_intake_unavailable", {{"error", outcome.error().ToString()}});
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                  "unavailable");
  }
  const bool duplicate = *outcome == IntakeOutcome::kDuplicate;
  // The batch enters the hash chain (after its row: the two live in different databases). A
  // duplicate chains the stored row, so a retry after a failed append completes it; the append
  // is idempotent.
  Result<std::uint64_t> chained = std::uint64_t{0};
  if (duplicate) {
    auto stored = ctx_.intake.GetReadingBatch(row->batch_ref);
    chained = !stored    ? Result<std::uint64_t>(stored.error())
              : !*stored ? Result<std::uint64_t>(Unavailable("batch vanished"))
                         : ctx_.records.ChainReadingBatch(store::ChainEntryKind::kReadingsPut,
                                                          (*stored)->batch_ref, (*stored)->digest,
                                                          (*stored)->stored_ms);
  } else {
    chained = ctx_.records.ChainReadingBatch(store::ChainEntryKind::kReadingsPut, row->batch_ref,
                                             row->digest, row->stored_ms);
  }
  if (!chained) {
    log::Error("cloud_batch_not_chained", {{"error", chained.error().ToString()}});
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                  "unavailable");
  }
  if (duplicate) {
    duplicates_.fetch_add(1, std::memory_order_relaxed);
  } else {
    metrics_->readings.Increment(static_cast<double>(row->readings));
    const std::size_t total = summary.total;
    const std::size_t refused = total - row->readings;
    if (refused > 0) {
      // One event per batch; no values (health data).
      metrics_->readings_refused.Increment(static_cast<double>(refused));
      RecordRejection(IdsEventKind::kOutOfRange, source_ip,
                      std::to_string(refused) + " of " + std::to_string(total) +
                          " readings of a forwarded batch are implausible; kept, not counted");
    }
  }
  const std::string status(duplicate ? kStatusDuplicate : kStatusStored);
  metrics_->forwards.WithLabels({"readings_batch", status}).Increment();
  return IntakeAck{forward_id, status, {}};
}

IntakeResult ForwardIntake::StoreRecord(const wire::OpenedUpload& opened,
                                        const std::string& forward_id, std::string_view source_ip) {
  auto record = wire::PatientRecordFromUpload(opened.header, opened.payload);
  if (!record) {
    return Reject(InvalidArgument("invalid patient record: " + record.error().message()), true,
                  IdsEventKind::kMalformed, source_ip);
  }
  // The upload evidence is the record's device signature: with the canonical record encoding
  // it lets anyone holding the device's enrolment re-check the record later.
  auto put = ctx_.records.PutRecord(*record, wire::EncodeUploadEvidence(opened.evidence));
  if (!put) {
    switch (put.error().code()) {
      case ErrorCode::kAlreadyExists:
        return Reject(AlreadyExists("another record was stored under this device's record id"),
                      true, IdsEventKind::kReplay, source_ip);
      case ErrorCode::kInvalidArgument:
        return Reject(InvalidArgument("invalid patient record: " + put.error().message()), true,
                      IdsEventKind::kMalformed, source_ip);
      default:
        log::Error("cloud_record_not_stored", {{"error", put.error().ToString()}});
        return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                      "unavailable");
    }
  }
  if (Status added = ctx_.intake.AddPatient(ctx_.records.Pseudonym(record->patient_id)); !added) {
    log::Warn("cloud_patient_not_counted", {{"error", added.error().ToString()}});
  }
  const bool duplicate = put->outcome == store::PutOutcome::kDuplicate;
  if (duplicate) duplicates_.fetch_add(1, std::memory_order_relaxed);
  const std::string status(duplicate ? kStatusDuplicate : kStatusStored);
  metrics_->forwards.WithLabels({"patient_record", status}).Increment();
  return IntakeAck{forward_id, status, {}};
}

}  // namespace medmesh::cloud
