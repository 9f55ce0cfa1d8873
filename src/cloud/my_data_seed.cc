#include "cloud/my_data_seed.h"

#include <cmath>

#include "cloud/my_data_rollups.h"
#include "crypto/hybrid_seal.h"
#include "crypto/session_seal.h"
#include "wire/enrolment.h"
#include "wire/envelope.h"
#include "wire/readings_codec.h"

namespace medmesh::cloud {

std::int64_t SeedValueMilli(wire::VitalKind kind, std::int64_t time_ms) {
  // A daily rhythm plus a small fast wobble, in whole milli-units.
  const double day = static_cast<double>(time_ms % 86'400'000) / 86'400'000.0;
  const double wobble = static_cast<double>((time_ms / 60'000) % 7) / 7.0;
  switch (kind) {
    case wire::VitalKind::kHeartRate:
      return 72'000 + static_cast<std::int64_t>(
                          std::lround(10'000.0 * std::sin(6.283185307 * day) + 2'000.0 * wobble));
    case wire::VitalKind::kSpO2:
      return 97'000 + static_cast<std::int64_t>(
                          std::lround(1'500.0 * std::sin(6.283185307 * day) + 500.0 * wobble));
    case wire::VitalKind::kBodyTemperature:
      return 36'700 + static_cast<std::int64_t>(
                          std::lround(250.0 * std::sin(6.283185307 * day) + 50.0 * wobble));
    case wire::VitalKind::kEcgRhythm: return 0;  // sinus
    default: {
      const wire::VitalInfo& info = wire::Info(kind);
      return info.min_milli + (info.max_milli - info.min_milli) / 2 / 1000 * 1000;
    }
  }
}

Result<std::uint64_t> SeedReadings(ForwardIntake& intake, ThreePartStore& records,
                                   IntakeStore& store, const SeedDevice& device,
                                   const ReadingSeedOptions& options, Random& random,
                                   const Clock& clock) {
  if (options.from_ms < 0 || options.to_ms <= options.from_ms || options.interval_ms <= 0 ||
      options.batch_ms < options.interval_ms || options.kinds.empty() ||
      options.batch_ms / options.interval_ms * static_cast<std::int64_t>(options.kinds.size()) >
          10'000) {
    return InvalidArgument("seed options out of range");
  }
  // Stands in for the cloudlet: the device seals to it, and it opens what the device sealed.
  crypto::HybridPrivateKey session_key = crypto::HybridPrivateKey::Generate(random);
  crypto::SessionSealer sealer(session_key.public_key(), random, clock);
  crypto::SessionOpener opener(std::move(session_key), clock);
  const wire::Enrolment enrolment{device.device_id, device.patient_id, device.key.public_key(),
                                  device.cloudlet_id, options.from_ms};
  const ReadingRollups rollups(records, store);
  std::uint64_t sequence = options.first_sequence;
  std::uint64_t stored = 0;
  for (std::int64_t start = options.from_ms; start < options.to_ms; start += options.batch_ms) {
    const std::int64_t end = std::min(options.to_ms, start + options.batch_ms);
    std::vector<wire::Reading> readings;
    for (std::int64_t t = start; t < end; t += options.interval_ms) {
      for (const wire::VitalKind kind : options.kinds) {
        readings.push_back({t, kind, SeedValueMilli(kind, t)});
      }
    }
    MEDMESH_ASSIGN_OR_RETURN(const Bytes payload, wire::EncodeReadings(readings));
    const wire::UploadHeader header{.content_type = wire::ContentType::kReadingsBatch,
                                    .device_id = device.device_id,
                                    .patient_id = device.patient_id,
                                    .sequence = sequence++,
                                    .batch_id = wire::NewBatchId(random),
                                    .created_ms = end};
    MEDMESH_ASSIGN_OR_RETURN(const Bytes upload,
                             wire::SealUpload(header, payload, sealer, device.key, random));
    MEDMESH_ASSIGN_OR_RETURN(const wire::ParsedUpload parsed, wire::ParseUpload(upload));
    MEDMESH_ASSIGN_OR_RETURN(const wire::OpenedUpload opened,
                             wire::OpenUpload(parsed, enrolment, opener));
    MEDMESH_ASSIGN_OR_RETURN(const ReadingBatchRow row,
                             intake.BatchRowFor(opened, wire::NowMs(clock)));
    MEDMESH_ASSIGN_OR_RETURN(const IntakeOutcome outcome, rollups.PutBatch(row, readings));
    MEDMESH_RETURN_IF_ERROR(records.ChainReadingBatch(store::ChainEntryKind::kReadingsPut,
                                                      row.batch_ref, row.digest, row.stored_ms));
    if (outcome == IntakeOutcome::kInserted) ++stored;
  }
  return stored;
}

}  // namespace medmesh::cloud
