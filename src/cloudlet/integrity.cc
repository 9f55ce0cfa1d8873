#include "cloudlet/integrity.h"

#include <utility>

#include "cloudlet/device_console.h"
#include "cloudlet/internal/forward_item.h"
#include "cloudlet/internal/record_at_rest.h"
#include "cloudlet/trust_store.h"
#include "core/log.h"
#include "wire/deletion_feed.h"
#include "wire/envelope.h"

namespace medmesh::cloudlet {

Result<Bytes> SealRecordCopy(const RecordCopyContext& context, std::string_view device_id,
                             std::string_view record_id, const crypto::HybridSealer& cloud) {
  MEDMESH_ASSIGN_OR_RETURN(const std::optional<StoredRecordRow> row,
                           context.ledger.FindRecord(device_id, record_id));
  if (!row) return NotFound("the record is not kept here");
  const std::optional<DeviceEntry> device = context.devices.Find(device_id);
  if (!device) return NotFound("the record's device is not enrolled here");
  auto joined = context.envelope.Decrypt({row->patient_id, std::string(internal::kRecordsKeyPart)},
                                         row->ciphertext, internal::RecordAd(device_id, record_id));
  if (!joined) {
    if (joined.error().code() == ErrorCode::kNotFound) {
      return NotFound("the record's patient was deleted");
    }
    if (crypto::IsAuthenticationFailure(joined.error())) {
      return DataLoss("the kept copy of the record fails to decrypt");
    }
    return joined.error();
  }
  auto parts = wire::DecodeEvidenceAndPayload(*joined);
  if (!parts) return DataLoss("the kept copy of the record does not decode");
  // Checked here too: a copy that cannot pass at the cloud should not leave.
  auto header = wire::VerifyUploadEvidence(parts->evidence, parts->payload, device->enrolment);
  if (!header || header->content_type != wire::ContentType::kPatientRecord) {
    return DataLoss("the kept copy of the record does not verify");
  }
  wire::OpenedUpload opened{*header, Bytes(parts->payload.begin(), parts->payload.end()),
                            std::move(parts->evidence)};
  return wire::SealForward(
      {wire::ContentType::kPatientRecord, context.node_id, wire::NewBatchId(context.random)},
      opened, cloud, context.signer);
}

DeletionFollower::DeletionFollower(DeletionFollowerContext context) : ctx_(std::move(context)) {}

Result<std::uint64_t> DeletionFollower::Cursor() const { return ctx_.ledger.DeletionCursor(); }

Status DeletionFollower::ShredPatient(std::string_view patient_id) {
  // First, so that nothing new of the patient is stored while the rest is removed.
  for (const std::string& device : ctx_.devices.DevicesOf(patient_id)) {
    MEDMESH_RETURN_IF_ERROR(ctx_.devices.Withdraw(device));
  }
  MEDMESH_RETURN_IF_ERROR(ctx_.readings.DeletePatient(patient_id));
  MEDMESH_RETURN_IF_ERROR(ctx_.ledger.DeletePatient(patient_id));
  // The forgets are durable before the handle they name is deleted.
  if (ctx_.forget != nullptr) MEDMESH_RETURN_IF_ERROR(ctx_.forget->Enqueue(patient_id));
  if (ctx_.trust != nullptr) MEDMESH_RETURN_IF_ERROR(ctx_.trust->DeletePatient(patient_id));
  for (std::string_view part :
       {internal::kRecordsKeyPart, internal::kForwardKeyPart, kConsoleKeyPart, kTrustKeyPart}) {
    Status destroyed = ctx_.envelope.DestroyDataKey({std::string(patient_id), std::string(part)});
    if (!destroyed && destroyed.error().code() != ErrorCode::kNotFound) return destroyed;
  }
  return OkStatus();
}

Result<std::size_t> DeletionFollower::Apply(ByteView page, const wire::VerifiedCertificate& cloud) {
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t cursor, Cursor());
  MEDMESH_ASSIGN_OR_RETURN(const wire::DeletionFeed feed,
                           wire::VerifyDeletionFeed(page, cloud, ctx_.node_id, cursor));
  for (const wire::DeletionNotice& notice : feed.notices) {
    MEDMESH_RETURN_IF_ERROR(ShredPatient(notice.patient_id));
    MEDMESH_RETURN_IF_ERROR(ctx_.ledger.AdvanceDeletionCursor(notice.seq));
    // The seq, never the patient id: log lines leave the node.
    log::Info("cloudlet_patient_shredded", {{"seq", std::to_string(notice.seq)}});
  }
  return feed.notices.size();
}

Result<std::size_t> DeletionFollower::PollOnce(
    const std::function<Result<Bytes>(std::uint64_t)>& fetch,
    const wire::VerifiedCertificate& cloud) {
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t cursor, Cursor());
  MEDMESH_ASSIGN_OR_RETURN(const Bytes page, fetch(cursor));
  return Apply(page, cloud);
}

}  // namespace medmesh::cloudlet
