#include "store/record_store.h"

#include <string>

namespace medmesh::store {

std::string_view RecordPartName(RecordPart part) {
  switch (part) {
    case RecordPart::kEi: return "ei";
    case RecordPart::kQi: return "qi";
    case RecordPart::kMi: return "mi";
  }
  return "unknown";
}

Status ValidateStoreString(std::string_view what, std::string_view value, std::size_t max_bytes) {
  if (value.empty() || value.size() > max_bytes) {
    return InvalidArgument(std::string(what) + " must be 1.." + std::to_string(max_bytes) +
                           " bytes");
  }
  return OkStatus();
}

Status ValidatePageLimit(std::size_t limit) {
  if (limit == 0 || limit > kMaxStorePageRows) {
    return InvalidArgument("page limit must be 1.." + std::to_string(kMaxStorePageRows));
  }
  return OkStatus();
}

namespace {

Status ValidateBlob(std::string_view what, ByteView blob) {
  if (blob.empty() || blob.size() > kMaxStoreBlobBytes) {
    return InvalidArgument(std::string(what) + " must be 1.." + std::to_string(kMaxStoreBlobBytes) +
                           " bytes");
  }
  return OkStatus();
}

Status ValidateSnapshot(std::string_view what, const SnapshotRow& row) {
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString(std::string(what) + " snapshot_ref", row.snapshot_ref,
                                              kMaxStoreRefBytes));
  return ValidateBlob(std::string(what) + " ciphertext", row.ciphertext);
}

}  // namespace

Status ValidateNewRecord(const NewRecord& record) {
  const std::string& patient = record.link.patient_id;
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("patient_id", patient, kMaxStoreIdBytes));
  MEDMESH_RETURN_IF_ERROR(
      ValidateStoreString("record_ref", record.link.record_ref, kMaxStoreRefBytes));
  MEDMESH_RETURN_IF_ERROR(ValidateBlob("record digest", record.link.digest));
  MEDMESH_RETURN_IF_ERROR(ValidateBlob("record link ciphertext", record.link.ciphertext));
  if (record.ei.patient_id != patient || record.qi.patient_id != patient) {
    return InvalidArgument("the EI and QI snapshots must belong to the record's patient");
  }
  MEDMESH_RETURN_IF_ERROR(ValidateSnapshot("ei", record.ei));
  MEDMESH_RETURN_IF_ERROR(ValidateSnapshot("qi", record.qi));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("mi_ref", record.mi.mi_ref, kMaxStoreRefBytes));
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("pseudonym", record.mi.pseudonym, kMaxStoreIdBytes));
  MEDMESH_RETURN_IF_ERROR(ValidateBlob("mi ciphertext", record.mi.ciphertext));
  for (const BlindIndexRow& row : record.blind_index) {
    MEDMESH_RETURN_IF_ERROR(ValidateStoreString("blind index field", row.field, kMaxStoreRefBytes));
    if (row.token.empty() || row.token.size() > 64) {
      return InvalidArgument("blind index token must be 1..64 bytes");
    }
    if (row.patient_id != patient) {
      return InvalidArgument("blind index rows must belong to the record's patient");
    }
  }
  return OkStatus();
}

Status ValidateChainAppend(ChainEntryKind kind, std::string_view ref, ByteView digest) {
  if (kind != ChainEntryKind::kReadingsPut && kind != ChainEntryKind::kReadingsDelete &&
      kind != ChainEntryKind::kReadingsRestore) {
    return InvalidArgument("only reading batch entries are appended on their own");
  }
  MEDMESH_RETURN_IF_ERROR(ValidateStoreString("chain reference", ref, kMaxStoreRefBytes));
  const bool want_digest = kind != ChainEntryKind::kReadingsDelete;
  if (want_digest != !digest.empty() || digest.size() > 64) {
    return InvalidArgument("chain digest must be 1..64 bytes, and empty for a delete");
  }
  return OkStatus();
}

}  // namespace medmesh::store
