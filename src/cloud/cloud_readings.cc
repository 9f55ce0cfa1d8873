#include "cloud/cloud_readings.h"

#include <algorithm>
#include <tuple>

#include "wire/envelope.h"
#include "wire/readings_codec.h"

namespace medmesh::cloud {
namespace {

Error ReadingsIntegrityFailure() {
  return DataLoss("stored readings failed their integrity check");
}

}  // namespace

Bytes ReadingBatchAd(std::string_view batch_ref) {
  Bytes ad;
  AppendBytes(ad, AsBytes("cloud readings v1"));
  AppendU8(ad, 0);
  AppendBytes(ad, AsBytes(batch_ref));
  return ad;
}

CloudReadings::CloudReadings(const IntakeStore& intake, ThreePartStore& records,
                             std::size_t max_batches)
    : intake_(intake), records_(records), max_batches_(max_batches) {}

Result<std::vector<wire::Reading>> CloudReadings::Read(std::string_view patient_id,
                                                       std::int64_t from_ms,
                                                       std::int64_t to_ms) const {
  std::vector<wire::Reading> out;
  if (!wire::IsValidId(patient_id) || to_ms <= from_ms) return out;
  const std::string pseudonym = records_.Pseudonym(patient_id);
  MEDMESH_ASSIGN_OR_RETURN(const auto rows,
                           intake_.ListReadingBatches(pseudonym, from_ms, to_ms, max_batches_));
  if (rows.empty()) return out;
  auto key = records_.envelope(store::RecordPart::kMi).OpenDataKey({pseudonym, "mi"});
  if (!key && key.error().code() == ErrorCode::kNotFound) return out;  // shredded
  if (!key) return ReadingsIntegrityFailure();
  for (const ReadingBatchRow& row : rows) {
    auto plain = key->Decrypt(row.ciphertext, ReadingBatchAd(row.batch_ref));
    if (!plain) return ReadingsIntegrityFailure();
    auto parts = wire::DecodeEvidenceAndPayload(*plain);
    if (!parts) return ReadingsIntegrityFailure();
    auto readings = wire::DecodeReadings(parts->payload, {.require_plausible = false});
    if (!readings) return ReadingsIntegrityFailure();
    for (const wire::Reading& r : *readings) {
      if (r.time_ms >= from_ms && r.time_ms < to_ms && wire::CheckPlausible(r)) out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end(), [](const wire::Reading& a, const wire::Reading& b) {
    return std::tie(a.time_ms, a.kind, a.value_milli) < std::tie(b.time_ms, b.kind, b.value_milli);
  });
  return out;
}

Result<std::optional<std::int64_t>> CloudReadings::FirstBatchFrom(std::string_view patient_id,
                                                                  std::int64_t from_ms,
                                                                  std::int64_t to_ms) const {
  if (!wire::IsValidId(patient_id) || to_ms <= from_ms) return std::optional<std::int64_t>();
  MEDMESH_ASSIGN_OR_RETURN(const auto rows, intake_.ListReadingBatches(
                                                records_.Pseudonym(patient_id), from_ms, to_ms, 1));
  if (rows.empty()) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(std::max(rows.front().from_ms, from_ms));
}

}  // namespace medmesh::cloud
