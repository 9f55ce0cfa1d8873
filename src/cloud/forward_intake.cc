#include "cloud/forward_intake.h"

#include <algorithm>
#include <utility>

#include "cloud/cloud_readings.h"
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
  return IntakeAck{cert.subject_id, status};
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
  return IntakeAck{enrolment->device_id, status};
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
  return IntakeAck{std::string(device_id), status};
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
    // The record was verified before it was stored, and the envelope authenticates it.
    MEDMESH_ASSIGN_OR_RETURN(Bytes record,
                             ctx_.records.envelope(store::RecordPart::kEi)
                                 .Decrypt({row->patient_id, "ei"}, row->ciphertext,
                                          Labelled("cloud enrolment v1", device_ref)));
    MEDMESH_ASSIGN_OR_RETURN(wire::SignedEnrolment parsed, wire::ParseEnrolment(record));
    enrolment = parsed.enrolment;
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
  if (opened->header.content_type == wire::ContentType::kPatientRecord) {
    return StoreRecord(*opened, forward_id, source_ip);
  }
  return StoreReadings(*opened, forward_id, source_ip);
}

IntakeResult ForwardIntake::StoreReadings(const wire::OpenedUpload& opened,
                                          const std::string& forward_id,
                                          std::string_view source_ip) {
  const wire::UploadHeader& header = opened.header;
  // The cloudlet checked the same; the cloud does not take a cloudlet's word for it.
  // Plausibility reading by reading, as at the cloudlet (forward_intake.h step 4).
  auto batch = wire::ReadingBatchFromUpload(header, opened.payload, {.require_plausible = false});
  if (!batch || batch->readings.empty()) {
    const bool bomb = !batch && batch.error().code() == ErrorCode::kResourceExhausted;
    return Reject(InvalidArgument(batch ? std::string("readings payload holds no readings")
                                        : "invalid readings payload: " + batch.error().message()),
                  true, bomb ? IdsEventKind::kDecompressionBomb : IdsEventKind::kMalformed,
                  source_ip);
  }
  std::vector<wire::Reading> plausible;
  plausible.reserve(batch->readings.size());
  for (const wire::Reading& reading : batch->readings) {
    if (wire::CheckPlausible(reading)) plausible.push_back(reading);
  }
  const std::size_t refused = batch->readings.size() - plausible.size();
  if (plausible.empty()) {
    return Reject(InvalidArgument("no reading of the batch is plausible"), true,
                  IdsEventKind::kOutOfRange, source_ip);
  }
  const auto [first, last] = std::minmax_element(
      plausible.begin(), plausible.end(),
      [](const wire::Reading& a, const wire::Reading& b) { return a.time_ms < b.time_ms; });
  const std::string pseudonym = ctx_.records.Pseudonym(header.patient_id);
  const std::string batch_ref = BatchRef(header.device_id, header.batch_id);
  const crypto::Digest256 digest =
      crypto::KeyedBlake2b256Parts(refs_key_, {AsBytes("content"), opened.payload});
  auto ciphertext = ctx_.records.envelope(store::RecordPart::kMi)
                        .Encrypt({pseudonym, "mi"},
                                 wire::EncodeEvidenceAndPayload(opened.evidence, opened.payload),
                                 ReadingBatchAd(batch_ref));
  if (!ciphertext) {
    log::Error("cloud_readings_not_encrypted", {{"error", ciphertext.error().ToString()}});
    return Reject(Unavailable("service unavailable"), false, std::nullopt, source_ip,
                  "unavailable");
  }
  ReadingBatchRow row{batch_ref,
                      pseudonym,
                      first->time_ms,
                      last->time_ms,
                      static_cast<std::uint32_t>(plausible.size()),
                      NowMs(ctx_.clock),
                      Bytes(digest.begin(), digest.end()),
                      std::move(*ciphertext)};
  auto outcome = ctx_.intake.PutReadingBatch(row);
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
  if (duplicate) {
    duplicates_.fetch_add(1, std::memory_order_relaxed);
  } else {
    metrics_->readings.Increment(static_cast<double>(plausible.size()));
    if (refused > 0) {
      // One event per batch; no values (health data).
      metrics_->readings_refused.Increment(static_cast<double>(refused));
      RecordRejection(IdsEventKind::kOutOfRange, source_ip,
                      std::to_string(refused) + " of " + std::to_string(batch->readings.size()) +
                          " readings of a forwarded batch are implausible; kept, not counted");
    }
  }
  const std::string status(duplicate ? kStatusDuplicate : kStatusStored);
  metrics_->forwards.WithLabels({"readings_batch", status}).Increment();
  return IntakeAck{forward_id, status};
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
  return IntakeAck{forward_id, status};
}

}  // namespace medmesh::cloud
