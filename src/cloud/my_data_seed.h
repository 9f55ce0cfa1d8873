// SeedReadings: fills the cloud with a long stretch of one patient's readings quickly, for the
// API benchmark (bench/, issue 8 "a year of readings for some") and for tests of the readings
// routes at scale. Not used by the running cloud.
//
// Each batch is what a real device would upload: a wire::SealUpload signed with `device.key`
// and opened again (with a throwaway session key pair, standing in for the cloudlet), then
// stored by the production path after the forward envelope: ForwardIntake::BatchRowFor (the
// row encrypted under the patient's MI data key), ReadingRollups::PutBatch (the batch with its
// roll-ups, one transaction) and ThreePartStore::ChainReadingBatch (its chain entry). So the
// batches verify (IntegrityService::Verify) when the device is enrolled at the cloud with
// `device.key` by `device.cloudlet_id`, and the roll-ups are complete.
//
// For a running cloud (the benchmark): enrol a node::testing::TestDevice through a cloudlet
// (its enrolment reaches the cloud as usual), then
//   SeedReadings(cloud->intake(), cloud->records(), cloud->intake_store(),
//                {device.device_id(), device.patient_id(), cloudlet_id, device.signer()},
//                {.from_ms = now - 365 * 86'400'000LL, .to_ms = now}, random, clock);
// The cloud does not check upload sequence numbers, so seeding next to the device's own uploads
// is fine.
//
// Values are deterministic in (time, kind) and plausible: heart rate 60..84 /min, SpO2 95..99 %,
// body temperature 36.4..37.0 Cel, other kinds the middle of their plausible range.
// Cost, measured on the 2-core dev machine (ADR 0021): about 10 s for a year of hourly batches
// of three kinds every minute on SQLite.
// Errors: kInvalidArgument for options out of range; otherwise those of the stores.
// Thread safety: call from one thread per device (the upload sequence is per call).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cloud/forward_intake.h"
#include "cloud/intake_store.h"
#include "cloud/three_part.h"
#include "core/clock.h"
#include "core/random.h"
#include "crypto/signing.h"
#include "wire/model.h"

namespace medmesh::cloud {

struct SeedDevice {
  std::string device_id;
  std::string patient_id;
  std::string cloudlet_id;  // the cloudlet that enrolled the device
  const crypto::Signer& key;
};

struct ReadingSeedOptions {
  std::int64_t from_ms = 0;           // the first reading's time
  std::int64_t to_ms = 0;             // readings before this time
  std::int64_t interval_ms = 60'000;  // one reading of each kind per interval
  std::int64_t batch_ms = 3'600'000;  // the time one batch (upload) covers
  std::uint64_t first_sequence = 1;   // the upload sequence number of the first batch
  std::vector<wire::VitalKind> kinds = {wire::VitalKind::kHeartRate, wire::VitalKind::kSpO2,
                                        wire::VitalKind::kBodyTemperature};
};

// The deterministic value SeedReadings stores for (kind, time) (for tests to check against).
std::int64_t SeedValueMilli(wire::VitalKind kind, std::int64_t time_ms);

// Stores the readings of `options` for `device` (see above); returns the batches stored.
[[nodiscard]] Result<std::uint64_t> SeedReadings(ForwardIntake& intake, ThreePartStore& records,
                                                 IntakeStore& store, const SeedDevice& device,
                                                 const ReadingSeedOptions& options, Random& random,
                                                 const Clock& clock);

}  // namespace medmesh::cloud
