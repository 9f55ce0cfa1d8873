#include "cloud/clinical_store.h"

#include <algorithm>

namespace medmesh::cloud {
namespace {

constexpr std::size_t kMaxKeyBytes = 255;
constexpr std::size_t kMaxCiphertextBytes = std::size_t{1} << 20;

}  // namespace

std::string_view ActivationStatusName(ActivationStatus status) {
  switch (status) {
    case ActivationStatus::kRequested: return "requested";
    case ActivationStatus::kApproved: return "approved";
    case ActivationStatus::kDenied: return "denied";
  }
  return "requested";
}

std::optional<ActivationStatus> ParseActivationStatus(std::string_view name) {
  for (ActivationStatus s :
       {ActivationStatus::kRequested, ActivationStatus::kApproved, ActivationStatus::kDenied}) {
    if (ActivationStatusName(s) == name) return s;
  }
  return std::nullopt;
}

Status ValidateStoreKey(std::string_view field, std::string_view value) {
  if (value.empty() || value.size() > kMaxKeyBytes) {
    return InvalidArgument("clinical store: " + std::string(field) + " must be 1..255 bytes");
  }
  return OkStatus();
}

Status ValidateActivationRow(const ActivationRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("activation_id", row.activation_id));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("patient_id", row.patient_id));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("cloudlet_id", row.cloudlet_id));
  if (row.reason.size() > kMaxReasonBytes) {
    return InvalidArgument("clinical store: reason is too long");
  }
  if (row.requested_ms < 0 || row.decided_ms < 0) {
    return InvalidArgument("clinical store: times must not be negative");
  }
  return OkStatus();
}

Status ValidateConsentRow(const ConsentRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("consent_id", row.consent_id));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("patient_id", row.patient_id));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("doctor_id", row.doctor_id));
  if (row.records.empty() || row.records.size() > kMaxRecordsPerConsent) {
    return InvalidArgument("clinical store: a consent names 1..100 records");
  }
  for (const RecordKey& key : row.records) {
    MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("device_id", key.device_id));
    MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("record_id", key.record_id));
  }
  if (!std::is_sorted(row.records.begin(), row.records.end()) ||
      std::adjacent_find(row.records.begin(), row.records.end()) != row.records.end()) {
    return InvalidArgument("clinical store: a consent's records must be sorted and distinct");
  }
  if (row.created_ms < 0) return InvalidArgument("clinical store: created_ms is negative");
  return OkStatus();
}

Status ValidateAnswerRow(const AnswerRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("answer_id", row.answer_id));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("consent_id", row.consent_id));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("patient_id", row.patient_id));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreKey("doctor_id", row.doctor_id));
  if (row.ciphertext.empty() || row.ciphertext.size() > kMaxCiphertextBytes) {
    return InvalidArgument("clinical store: ciphertext is empty or too large");
  }
  if (row.created_ms < 0) return InvalidArgument("clinical store: created_ms is negative");
  return OkStatus();
}

Status RunGate(const CommitGate& gate) { return gate ? gate() : OkStatus(); }

}  // namespace medmesh::cloud
