#include "cloud/intake_store.h"

namespace medmesh::cloud {
namespace {

constexpr std::size_t kMaxRefBytes = 128;
constexpr std::size_t kMaxBlobBytes = std::size_t{80} << 20;

Status Text(std::string_view field, std::string_view value, std::size_t max = kMaxRefBytes) {
  if (value.empty() || value.size() > max) {
    return InvalidArgument("intake store: " + std::string(field) + " must be 1.." +
                           std::to_string(max) + " bytes");
  }
  return OkStatus();
}

Status Blob(std::string_view field, ByteView value) {
  if (value.empty() || value.size() > kMaxBlobBytes) {
    return InvalidArgument("intake store: " + std::string(field) + " is empty or too large");
  }
  return OkStatus();
}

}  // namespace

Status ValidateCloudletCertificateRow(const CloudletCertificateRow& row) {
  MEDMESH_RETURN_IF_ERROR(Text("cloudlet_id", row.cloudlet_id));
  return Blob("certificate", row.certificate);
}

Status ValidateEnrolmentRow(const EnrolmentRow& row) {
  MEDMESH_RETURN_IF_ERROR(Text("device_ref", row.device_ref));
  MEDMESH_RETURN_IF_ERROR(Text("patient_id", row.patient_id, 255));
  MEDMESH_RETURN_IF_ERROR(Text("cloudlet_id", row.cloudlet_id));
  MEDMESH_RETURN_IF_ERROR(Blob("binding", row.binding));
  return Blob("ciphertext", row.ciphertext);
}

Status ValidateEnrolmentRef(std::string_view device_ref) { return Text("device_ref", device_ref); }

Status ValidateReadingBatchRow(const ReadingBatchRow& row) {
  MEDMESH_RETURN_IF_ERROR(Text("batch_ref", row.batch_ref));
  MEDMESH_RETURN_IF_ERROR(Text("pseudonym", row.pseudonym, 255));
  if (row.from_ms < 0 || row.to_ms < row.from_ms) {
    return InvalidArgument("intake store: the batch's time range is invalid");
  }
  MEDMESH_RETURN_IF_ERROR(Blob("digest", row.digest));
  return Blob("ciphertext", row.ciphertext);
}

Status ValidateRestoreRow(const RestoreRow& row) {
  MEDMESH_RETURN_IF_ERROR(Text("restore_id", row.restore_id));
  MEDMESH_RETURN_IF_ERROR(Text("cloudlet_id", row.cloudlet_id));
  MEDMESH_RETURN_IF_ERROR(Text("patient_id", row.patient_id, 255));
  if (row.kind != "record" && row.kind != "readings") {
    return InvalidArgument("intake store: restore kind must be record or readings");
  }
  MEDMESH_RETURN_IF_ERROR(Text("device_id", row.device_id));
  MEDMESH_RETURN_IF_ERROR(Text("item_id", row.item_id));
  MEDMESH_RETURN_IF_ERROR(Text("failed_check", row.failed_check));
  MEDMESH_RETURN_IF_ERROR(Text("actor_account_id", row.actor_account_id, 255));
  return Text("actor_role", row.actor_role);
}

Status ValidateRollupRow(const RollupRow& row) {
  MEDMESH_RETURN_IF_ERROR(Text("pseudonym", row.key.pseudonym, 255));
  if (row.key.width_ms <= 0 || row.key.start_ms % row.key.width_ms != 0) {
    return InvalidArgument("intake store: roll-up start must be a multiple of a positive width");
  }
  if (row.ciphertext.empty() || row.ciphertext.size() > 65536) {
    return InvalidArgument("intake store: roll-up ciphertext must be 1..65536 bytes");
  }
  return OkStatus();
}

Status ValidateIntakeLimit(std::size_t limit) {
  if (limit == 0 || limit > 10000) return InvalidArgument("intake store: limit must be 1..10000");
  return OkStatus();
}

void IntakeCounters::Set(const IntakeCounts& counts) {
  reading_batches_.store(counts.reading_batches, std::memory_order_relaxed);
  readings_.store(counts.readings, std::memory_order_relaxed);
  patients_.store(counts.patients, std::memory_order_relaxed);
  enrolments_.store(counts.enrolments, std::memory_order_relaxed);
  cloudlets_.store(counts.cloudlets, std::memory_order_relaxed);
}

void IntakeCounters::AddReadingBatch(std::uint32_t readings, bool new_patient) {
  reading_batches_.fetch_add(1, std::memory_order_relaxed);
  readings_.fetch_add(readings, std::memory_order_relaxed);
  if (new_patient) AddPatient();
}

void IntakeCounters::AddPatient() { patients_.fetch_add(1, std::memory_order_relaxed); }
void IntakeCounters::AddEnrolment() { enrolments_.fetch_add(1, std::memory_order_relaxed); }
void IntakeCounters::AddCloudlet() { cloudlets_.fetch_add(1, std::memory_order_relaxed); }

IntakeCounts IntakeCounters::Get() const {
  return {reading_batches_.load(std::memory_order_relaxed),
          readings_.load(std::memory_order_relaxed), patients_.load(std::memory_order_relaxed),
          enrolments_.load(std::memory_order_relaxed), cloudlets_.load(std::memory_order_relaxed)};
}

}  // namespace medmesh::cloud
