#include "cloud/integrity_service.h"

#include <algorithm>
#include <utility>

#include "accounts/encoding.h"
#include "core/log.h"
#include "core/lower_hex.h"
#include "wire/certificate.h"
#include "wire/deletion_feed.h"
#include "wire/model.h"
#include "wire/record_codec.h"

namespace medmesh::cloud {
namespace {

using accounts::Principal;
using accounts::Role;
using wire::NowMs;

constexpr std::size_t kBatchIdHexChars = wire::kBatchIdBytes * 2;
constexpr std::size_t kMigrationPage = 500;

// One message for unknown items and items of someone else: the two must look alike.
Error ItemNotFound() { return NotFound("no such record or reading batch"); }

Status CheckItem(const ItemRef& item) {
  if (!wire::IsValidId(item.device_id)) return InvalidArgument("device id is not a valid id");
  if (item.kind == ItemKind::kRecord) {
    if (!wire::IsValidId(item.item_id)) return InvalidArgument("record id is not a valid id");
    return OkStatus();
  }
  if (item.item_id.size() != kBatchIdHexChars || !IsLowerHex(item.item_id)) {
    return InvalidArgument("batch id must be 32 lower-case hex characters");
  }
  return OkStatus();
}

wire::BatchId ParseBatchId(std::string_view hex) {
  const Bytes bytes = *HexDecode(hex);  // checked by CheckItem
  wire::BatchId id{};
  std::copy(bytes.begin(), bytes.end(), id.begin());
  return id;
}

std::string_view EventFor(ItemKind kind, std::string_view verb_record,
                          std::string_view verb_readings) {
  return kind == ItemKind::kRecord ? verb_record : verb_readings;
}

audit::Outcome RefusalOutcome(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kFailedPrecondition: return audit::Outcome::kMinorFailure;
    default: return audit::Outcome::kSeriousFailure;
  }
}

Status FinishDeletion(ThreePartStore& records, IntakeStore& intake, const Clock& clock,
                      const std::string& patient_id) {
  const std::string pseudonym = records.Pseudonym(patient_id);
  const std::int64_t now = NowMs(clock);
  // 1. Reading batches: their delete entries first, then the rows, so the chain never vouches
  //    for a batch that is gone without saying it was deleted.
  MEDMESH_ASSIGN_OR_RETURN(const std::vector<std::string> refs, intake.ListBatchRefs(pseudonym));
  for (const std::string& ref : refs) {
    MEDMESH_RETURN_IF_ERROR(
        records.ChainReadingBatch(store::ChainEntryKind::kReadingsDelete, ref, {}, now));
  }
  MEDMESH_RETURN_IF_ERROR(intake.DeleteReadingBatches(pseudonym));
  // 2. Records (one transaction) and the EI, QI and MI data keys. The MI key is also the key of
  //    the batches above and the EI key that of the enrolment records below.
  Status shredded = records.DeletePatient(patient_id);
  if (!shredded && shredded.error().code() != ErrorCode::kNotFound) return shredded.error();
  // 3. Enrolments (their records are under the now destroyed EI key).
  MEDMESH_RETURN_IF_ERROR(intake.DeleteEnrolments(patient_id));
  return intake.FinishDeletion(patient_id, NowMs(clock));
}

}  // namespace

std::string_view ItemKindName(ItemKind kind) {
  return kind == ItemKind::kRecord ? "record" : "readings";
}

IntegrityService::IntegrityService(IntegrityServiceContext context) : ctx_(context) {}

Status IntegrityService::Record(const Principal& principal, std::string_view event,
                                audit::Action action, audit::Outcome outcome,
                                std::string_view source_address, std::string_view patient_id,
                                std::string_view entity_type, std::string_view entity_id,
                                std::string_view detail) {
  audit::AuditEntry entry;
  entry.time_ms = NowMs(ctx_.clock);
  entry.event = std::string(event);
  entry.action = action;
  entry.outcome = outcome;
  entry.actor_account_id = principal.account_id;
  entry.actor_role = std::string(accounts::RoleName(principal.role));
  entry.source_address = std::string(source_address);
  entry.patient_id = std::string(patient_id);
  entry.entity_type = std::string(entity_type);
  entry.entity_id = std::string(entity_id);
  entry.detail = std::string(detail);
  return ctx_.audit.Append(entry);
}

// --- Authorisation -----------------------------------------------------------------------------

Result<IntegrityService::Owner> IntegrityService::Authorise(const Principal& principal,
                                                            const ItemRef& item) const {
  if (!principal.is(Role::kPatient) && !principal.is(Role::kOperator)) {
    return PermissionDenied("only the patient and their cloudlet's operator verify or restore");
  }
  MEDMESH_RETURN_IF_ERROR(CheckItem(item));
  MEDMESH_ASSIGN_OR_RETURN(std::optional<EnrolmentRow> row,
                           ctx_.intake.GetEnrolment(ctx_.forward_intake.DeviceRef(item.device_id)));
  if (!row) return ItemNotFound();
  const bool allowed =
      principal.is(Role::kPatient)
          ? !principal.patient_id.empty() && row->patient_id == principal.patient_id
          : !principal.cloudlet_id.empty() && row->cloudlet_id == principal.cloudlet_id;
  if (!allowed) return ItemNotFound();
  // A patient whose deletion was asked for has no items any more, even before it finishes.
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<DeletionState> deletion,
                           ctx_.intake.GetDeletion(row->patient_id));
  if (deletion) return ItemNotFound();
  Owner owner{row->patient_id, row->cloudlet_id, std::move(*row)};
  return owner;
}

// --- Verify ------------------------------------------------------------------------------------

Result<ItemVerification> IntegrityService::VerifyRecord(const Owner& owner,
                                                        const ItemRef& item) const {
  auto check = ctx_.records.CheckRecord(owner.patient_id, item.device_id, item.item_id);
  if (!check) {
    if (check.error().code() == ErrorCode::kNotFound) return ItemNotFound();
    return check.error();
  }
  ItemVerification out;
  out.chain_seq = check->chain_seq;
  if (check->failed && *check->failed != IntegrityCheck::kChain) {
    out.failed = check->failed;
    return out;
  }
  if (check->record) {
    // The device's signature over the canonical record: the upload evidence the intake kept
    // as the record's device signature, checked with the device key of its enrolment.
    auto enrolment = ctx_.forward_intake.DecryptEnrolment(owner.enrolment);
    if (!enrolment) {
      if (enrolment.error().code() != ErrorCode::kNotFound &&
          !crypto::IsAuthenticationFailure(enrolment.error())) {
        return enrolment.error();
      }
      out.failed = IntegrityCheck::kSignature;  // no trustworthy key to check with
      return out;
    }
    auto evidence = wire::DecodeUploadEvidence(check->record->device_signature);
    auto canonical = wire::EncodePatientRecord(check->record->record);
    if (!evidence || !canonical || !wire::VerifyUploadEvidence(*evidence, *canonical, *enrolment)) {
      out.failed = IntegrityCheck::kSignature;
      return out;
    }
  }
  out.failed = check->failed;  // kChain or nothing
  return out;
}

Result<ItemVerification> IntegrityService::VerifyBatch(const Owner& owner,
                                                       const ItemRef& item) const {
  const std::string ref = ctx_.forward_intake.BatchRef(item.device_id, ParseBatchId(item.item_id));
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<ReadingBatchRow> row,
                           ctx_.intake.GetReadingBatch(ref));
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<store::ChainEntry> entry,
                           ctx_.records.LatestChainEntry(ref));
  const bool live = entry && store::IsLiveKind(entry->kind);
  if (!row && !live) return ItemNotFound();
  ItemVerification out;
  out.chain_seq = entry ? entry->seq : 0;
  if (!row) {
    out.failed = IntegrityCheck::kMissing;
    return out;
  }
  // decrypt: under the patient's pseudonym, bound to this batch reference.
  if (row->pseudonym != ctx_.records.Pseudonym(owner.patient_id)) {
    out.failed = IntegrityCheck::kDecrypt;
    return out;
  }
  auto plain = ctx_.forward_intake.DecryptBatch(*row);
  if (!plain) {
    if (plain.error().code() != ErrorCode::kNotFound &&
        !crypto::IsAuthenticationFailure(plain.error())) {
      return plain.error();
    }
    out.failed = IntegrityCheck::kDecrypt;
    return out;
  }
  auto opened = wire::DecodeEvidenceAndPayload(*plain);
  if (!opened) {
    out.failed = IntegrityCheck::kDecrypt;
    return out;
  }
  // digest: the content against the digest its row records.
  if (ctx_.forward_intake.ContentDigest(opened->payload) != row->digest) {
    out.failed = IntegrityCheck::kDigest;
    return out;
  }
  // signature: the device's, over exactly this payload.
  auto enrolment = ctx_.forward_intake.DecryptEnrolment(owner.enrolment);
  if (!enrolment && enrolment.error().code() != ErrorCode::kNotFound &&
      !crypto::IsAuthenticationFailure(enrolment.error())) {
    return enrolment.error();
  }
  auto header = enrolment
                    ? wire::VerifyUploadEvidence(opened->evidence, opened->payload, *enrolment)
                    : Result<wire::UploadHeader>(enrolment.error());
  if (!header || header->device_id != item.device_id ||
      HexEncode(header->batch_id) != item.item_id) {
    out.failed = IntegrityCheck::kSignature;
    return out;
  }
  // digest, continued: the range and count the row records are those of the content.
  auto summary = SummariseReadings(*header, opened->payload);
  if (!summary || summary->from_ms != row->from_ms || summary->to_ms != row->to_ms ||
      summary->plausible != row->readings) {
    out.failed = IntegrityCheck::kDigest;
    return out;
  }
  MEDMESH_ASSIGN_OR_RETURN(out.failed,
                           ctx_.records.CheckChainPlace(ref, row->digest, row->stored_ms));
  return out;
}

Result<ItemVerification> IntegrityService::Verify(const Principal& principal, const ItemRef& item,
                                                  std::string_view source_address) {
  const std::string_view event = EventFor(item.kind, "record.verify", "readings.verify");
  const std::string_view entity =
      item.kind == ItemKind::kRecord ? "DocumentReference" : "Observation";
  auto owner = Authorise(principal, item);
  if (!owner) {
    MEDMESH_RETURN_IF_ERROR(Record(principal, event, audit::Action::kExecute,
                                   RefusalOutcome(owner.error()), source_address, "", entity,
                                   item.item_id, ErrorCodeName(owner.error().code())));
    return owner.error();
  }
  auto result =
      item.kind == ItemKind::kRecord ? VerifyRecord(*owner, item) : VerifyBatch(*owner, item);
  const audit::Outcome outcome = !result        ? RefusalOutcome(result.error())
                                 : result->ok() ? audit::Outcome::kSuccess
                                                : audit::Outcome::kMajorFailure;
  const std::string detail = !result ? std::string(ErrorCodeName(result.error().code()))
                             : result->ok()
                                 ? std::string("ok")
                                 : "failed: " + std::string(IntegrityCheckName(*result->failed));
  if (result && !result->ok()) ReportTampering(item, *result->failed);
  MEDMESH_RETURN_IF_ERROR(Record(principal, event, audit::Action::kExecute, outcome, source_address,
                                 owner->patient_id, entity, item.item_id, detail));
  return result;
}

void IntegrityService::ReportTampering(const ItemRef& item, IntegrityCheck failed) const {
  if (ctx_.ids == nullptr) return;
  store::IdsEvent tampering;
  tampering.time_ms = wire::NowMs(ctx_.clock);
  tampering.node = ctx_.node_id;
  // No source address: whoever asked for the verification is not the one who tampered.
  tampering.device_id = item.device_id;
  tampering.kind = store::IdsEventKind::kTampering;
  tampering.detail = std::string(ItemKindName(item.kind)) + " failed its " +
                     std::string(IntegrityCheckName(failed)) + " check";
  if (auto recorded = ctx_.ids->Record(tampering); !recorded) {
    log::Error("cloud_ids_event_not_recorded", {{"error", recorded.error().ToString()}});
  }
}

// --- Restore -----------------------------------------------------------------------------------

Result<wire::OpenedUpload> IntegrityService::OpenCopy(const Owner& owner, const ItemRef& item,
                                                      ByteView forward) {
  const Error refused = FailedPrecondition("the cloudlet's copy does not verify");
  auto parsed = wire::ParseForward(forward);
  if (!parsed || parsed->header.cloudlet_id != owner.cloudlet_id) return refused;
  const wire::ContentType want = item.kind == ItemKind::kRecord ? wire::ContentType::kPatientRecord
                                                                : wire::ContentType::kReadingsBatch;
  if (parsed->header.content_type != want) return refused;
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<CloudletCertificateRow> cert_row,
                           ctx_.intake.GetCloudletCertificate(owner.cloudlet_id));
  if (!cert_row) return refused;
  auto cert = wire::VerifyCertificate(cert_row->certificate, ctx_.root.key,
                                      wire::CertificateRole::kCloudlet, NowMs(ctx_.clock));
  if (!cert) return refused;
  auto opened = wire::OpenForward(
      *parsed, *cert, ctx_.opener, [&](const wire::UploadHeader& h) -> Result<wire::Enrolment> {
        if (h.device_id != item.device_id || h.patient_id != owner.patient_id) {
          return PermissionDenied("another device's upload");
        }
        return ctx_.forward_intake.DecryptEnrolment(owner.enrolment);
      });
  if (!opened) {
    log::Warn("cloud_restore_copy_refused", {{"error", ErrorCodeName(opened.error().code())}});
    return refused;
  }
  return opened;
}

Status IntegrityService::RestoreRecord(const Owner& owner, const ItemRef& item,
                                       const wire::OpenedUpload& copy) {
  auto record = wire::PatientRecordFromUpload(copy.header, copy.payload);
  if (!record || record->device_id != item.device_id || record->record_id != item.item_id ||
      record->patient_id != owner.patient_id) {
    return FailedPrecondition("the cloudlet's copy is another record");
  }
  auto restored = ctx_.records.RestoreRecord(*record, wire::EncodeUploadEvidence(copy.evidence));
  if (!restored) return restored.error();
  return OkStatus();
}

Status IntegrityService::RestoreBatch(const Owner& owner, const ItemRef& item,
                                      const wire::OpenedUpload& copy) {
  if (copy.header.device_id != item.device_id || HexEncode(copy.header.batch_id) != item.item_id ||
      copy.header.patient_id != owner.patient_id) {
    return FailedPrecondition("the cloudlet's copy is another batch");
  }
  const std::string ref = ctx_.forward_intake.BatchRef(item.device_id, copy.header.batch_id);
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<store::ChainEntry> entry,
                           ctx_.records.LatestChainEntry(ref));
  if (!entry || !store::IsLiveKind(entry->kind)) return ItemNotFound();
  // The row as first stored: its time comes from the chain, which vouches for it.
  auto row = ctx_.forward_intake.BatchRowFor(copy, entry->stored_ms);
  if (!row) return FailedPrecondition("the cloudlet's copy does not hold a valid batch");
  if (row->digest != entry->record_digest) {
    return FailedPrecondition("the copy is not the content the chain holds for this batch");
  }
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<IntegrityCheck> place,
                           ctx_.records.CheckChainPlace(ref, row->digest, row->stored_ms));
  if (place) return FailedPrecondition("the batch's chain entry is damaged");
  Status replaced = ctx_.intake.ReplaceReadingBatch(*row);
  if (!replaced && replaced.error().code() == ErrorCode::kNotFound) {
    // The row was deleted behind the store's back: put it back.
    auto put = ctx_.intake.PutReadingBatch(*row);
    replaced = put ? OkStatus() : Status(put.error());
  }
  if (!replaced) return replaced;
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t seq,
                           ctx_.records.ChainReadingBatch(store::ChainEntryKind::kReadingsRestore,
                                                          ref, row->digest, row->stored_ms));
  static_cast<void>(seq);
  return OkStatus();
}

Result<RestoreOutcome> IntegrityService::Restore(const Principal& principal, const ItemRef& item,
                                                 std::string_view source_address) {
  const std::string_view event = EventFor(item.kind, "record.restore", "readings.restore");
  const std::string_view entity =
      item.kind == ItemKind::kRecord ? "DocumentReference" : "Observation";
  std::string patient_id;
  auto run = [&]() -> Result<RestoreOutcome> {
    MEDMESH_ASSIGN_OR_RETURN(const Owner owner, Authorise(principal, item));
    patient_id = owner.patient_id;
    MEDMESH_ASSIGN_OR_RETURN(const ItemVerification before, item.kind == ItemKind::kRecord
                                                                ? VerifyRecord(owner, item)
                                                                : VerifyBatch(owner, item));
    if (before.ok()) return FailedPrecondition("the item verifies: nothing to restore");
    if (*before.failed == IntegrityCheck::kChain) {
      // Only the row may be mended (e.g. its time altered): the entry itself must be intact.
      const std::string ref =
          item.kind == ItemKind::kRecord
              ? std::string()
              : ctx_.forward_intake.BatchRef(item.device_id, ParseBatchId(item.item_id));
      std::optional<store::ChainEntry> entry;
      if (!ref.empty()) {
        MEDMESH_ASSIGN_OR_RETURN(entry, ctx_.records.LatestChainEntry(ref));
      }
      std::optional<IntegrityCheck> place = IntegrityCheck::kChain;
      if (entry && store::IsLiveKind(entry->kind)) {
        MEDMESH_ASSIGN_OR_RETURN(
            place, ctx_.records.CheckChainPlace(ref, entry->record_digest, entry->stored_ms));
      }
      if (place) {
        return FailedPrecondition(
            "the item's chain entry is damaged: a copy cannot mend the chain");
      }
    }
    MEDMESH_ASSIGN_OR_RETURN(const Bytes forward, ctx_.copies.FetchCopy(owner.cloudlet_id, item));
    MEDMESH_ASSIGN_OR_RETURN(const wire::OpenedUpload copy, OpenCopy(owner, item, forward));
    MEDMESH_RETURN_IF_ERROR(item.kind == ItemKind::kRecord ? RestoreRecord(owner, item, copy)
                                                           : RestoreBatch(owner, item, copy));
    RestoreOutcome out;
    MEDMESH_ASSIGN_OR_RETURN(out.after, item.kind == ItemKind::kRecord ? VerifyRecord(owner, item)
                                                                       : VerifyBatch(owner, item));
    out.restore = RestoreRow{accounts::NewId("rst_", ctx_.random),
                             NowMs(ctx_.clock),
                             owner.cloudlet_id,
                             owner.patient_id,
                             std::string(ItemKindName(item.kind)),
                             item.device_id,
                             item.item_id,
                             std::string(IntegrityCheckName(*before.failed)),
                             principal.account_id,
                             std::string(accounts::RoleName(principal.role))};
    MEDMESH_RETURN_IF_ERROR(ctx_.intake.AddRestore(out.restore));
    return out;
  };
  auto result = run();
  const audit::Outcome outcome = result ? audit::Outcome::kSuccess : RefusalOutcome(result.error());
  const std::string detail = result ? "restored after failed " + result->restore.failed_check
                                    : std::string(ErrorCodeName(result.error().code()));
  MEDMESH_RETURN_IF_ERROR(Record(principal, event, audit::Action::kUpdate, outcome, source_address,
                                 patient_id, entity, item.item_id, detail));
  return result;
}

Result<std::vector<RestoreRow>> IntegrityService::ListRestores(const Principal& principal,
                                                               std::size_t limit,
                                                               std::string_view source_address) {
  std::optional<std::string> cloudlet;
  Result<std::vector<RestoreRow>> result = std::vector<RestoreRow>{};
  if (principal.is(Role::kOperator) && !principal.cloudlet_id.empty()) {
    cloudlet = principal.cloudlet_id;
    result = ctx_.intake.ListRestores(cloudlet, limit);
  } else if (principal.is(Role::kAdmin)) {
    result = ctx_.intake.ListRestores(std::nullopt, limit);
  } else {
    result = PermissionDenied("only operators and the cloud admin list restores");
  }
  const audit::Outcome outcome = result ? audit::Outcome::kSuccess : RefusalOutcome(result.error());
  MEDMESH_RETURN_IF_ERROR(Record(
      principal, "restore.list", audit::Action::kRead, outcome, source_address, "", "AuditEvent",
      "",
      result ? std::to_string(result->size()) : std::string(ErrorCodeName(result.error().code()))));
  return result;
}

// --- Delete ------------------------------------------------------------------------------------

Status IntegrityService::DeletePatient(const Principal& principal,
                                       std::string_view source_address) {
  auto run = [&]() -> Status {
    if (!principal.is(Role::kPatient)) {
      return PermissionDenied("only a patient deletes their own data");
    }
    if (!wire::IsValidId(principal.patient_id)) return InvalidArgument("patient id is not valid");
    MEDMESH_ASSIGN_OR_RETURN(const std::vector<EnrolmentRow> enrolments,
                             ctx_.intake.ListEnrolments(principal.patient_id));
    std::vector<std::string> cloudlets;
    cloudlets.reserve(enrolments.size());
    for (const EnrolmentRow& e : enrolments) cloudlets.push_back(e.cloudlet_id);
    std::sort(cloudlets.begin(), cloudlets.end());
    cloudlets.erase(std::unique(cloudlets.begin(), cloudlets.end()), cloudlets.end());
    // Recorded first: from here on a failure leaves a pending deletion that a repeat finishes.
    MEDMESH_RETURN_IF_ERROR(
        ctx_.intake.BeginDeletion(principal.patient_id, cloudlets, NowMs(ctx_.clock)));
    return FinishDeletion(ctx_.records, ctx_.intake, ctx_.clock, principal.patient_id);
  };
  Status st = run();
  MEDMESH_RETURN_IF_ERROR(
      Record(principal, "patient.delete", audit::Action::kDelete,
             st ? audit::Outcome::kSuccess : RefusalOutcome(st.error()), source_address,
             principal.is(Role::kPatient) ? principal.patient_id : "", "Patient",
             principal.is(Role::kPatient) ? principal.patient_id : "",
             st ? "crypto-shredded" : ErrorCodeName(st.error().code())));
  return st;
}

Result<std::size_t> ResumePendingDeletions(ThreePartStore& records, IntakeStore& intake,
                                           const Clock& clock) {
  MEDMESH_ASSIGN_OR_RETURN(const std::vector<std::string> pending, intake.PendingDeletions());
  for (const std::string& patient : pending) {
    MEDMESH_RETURN_IF_ERROR(FinishDeletion(records, intake, clock, patient));
  }
  return pending.size();
}

Result<std::size_t> IntegrityService::ResumePendingDeletions() {
  return cloud::ResumePendingDeletions(ctx_.records, ctx_.intake, ctx_.clock);
}

// --- Chain migration and deletion feed ---------------------------------------------------------

Result<BatchChainMigration> ChainUnchainedBatches(ThreePartStore& records, IntakeStore& intake) {
  BatchChainMigration out;
  std::string after;
  for (;;) {
    MEDMESH_ASSIGN_OR_RETURN(const std::vector<ReadingBatchRow> page,
                             intake.ListAllReadingBatches(after, kMigrationPage));
    if (page.empty()) break;
    for (const ReadingBatchRow& row : page) {
      ++out.batches;
      MEDMESH_ASSIGN_OR_RETURN(const std::optional<store::ChainEntry> entry,
                               records.LatestChainEntry(row.batch_ref));
      if (entry) continue;  // chained (or deleted: then the row is for Verify to report)
      MEDMESH_RETURN_IF_ERROR(records.ChainReadingBatch(store::ChainEntryKind::kReadingsPut,
                                                        row.batch_ref, row.digest, row.stored_ms));
      ++out.chained;
    }
    after = page.back().batch_ref;
  }
  return out;
}

Result<BatchChainMigration> IntegrityService::ChainUnchainedBatches() {
  return cloud::ChainUnchainedBatches(ctx_.records, ctx_.intake);
}

Result<Bytes> IntegrityService::SignedDeletionFeed(std::string_view cloud_id,
                                                   const crypto::Signer& cloud_key,
                                                   std::string_view cloudlet_id,
                                                   std::uint64_t after_seq, std::size_t limit) {
  if (!wire::IsValidId(cloudlet_id)) return InvalidArgument("cloudlet id is not a valid id");
  if (limit == 0 || limit > wire::kMaxDeletionNotices) {
    return InvalidArgument("limit must be 1..1000");
  }
  MEDMESH_ASSIGN_OR_RETURN(const std::vector<DeletionFeedRow> rows,
                           ctx_.intake.ListDeletionFeed(cloudlet_id, after_seq, limit));
  wire::DeletionFeed feed;
  feed.cloud_id = std::string(cloud_id);
  feed.cloudlet_id = std::string(cloudlet_id);
  feed.issued_ms = NowMs(ctx_.clock);
  feed.after_seq = after_seq;
  for (const DeletionFeedRow& r : rows) {
    feed.notices.push_back({r.seq, r.patient_id, r.requested_ms});
  }
  return wire::SignDeletionFeed(feed, cloud_key);
}

}  // namespace medmesh::cloud
