// CloudReadings: a patient's readings as the cloud keeps them, decrypted. forward_intake.cc
// stores each forwarded batch in the intake store (intake_store.h, reading_batches) under the
// patient's pseudonym, as "evidence ‖ payload" encrypted under the pseudonym's MI data key with
// ReadingBatchAd(batch_ref) as associated data. This is the one reader of those rows, e.g. for
// a doctor's inbox (ClinicalHooks::readings) and the patient's own readings.
//
// Read() decrypts every batch overlapping the range with one unwrap of the MI data key, decodes
// the payload (wire::DecodeReadings), and keeps the readings that are plausible
// (wire::CheckPlausible, as at intake: a stored batch keeps its implausible readings because
// the device's signature covers all of them) and lie in [from_ms, to_ms).
// It does not re-check the device's signature in the stored evidence (the verify workflow
// does).
// Errors: kNotFound never (a patient without batches, or whose keys were destroyed, has no
// readings); kDataLoss ("stored readings failed their integrity check") for a batch that fails
// to decrypt or decode; store errors as they are.
// Thread safety: thread-safe (the stores are).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "cloud/intake_store.h"
#include "cloud/three_part.h"
#include "core/bytes.h"
#include "core/status.h"
#include "wire/model.h"

namespace medmesh::cloud {

// The associated data of a stored batch's ciphertext: "cloud readings v1", 0x00, batch_ref.
Bytes ReadingBatchAd(std::string_view batch_ref);

class CloudReadings {
 public:
  // Both must outlive the object. At most `max_batches` batches are read per call (the oldest
  // ones in the range).
  CloudReadings(const IntakeStore& intake, ThreePartStore& records, std::size_t max_batches = 2000);

  // The patient's plausible readings in [from_ms, to_ms), sorted by (time, kind, value).
  [[nodiscard]] Result<std::vector<wire::Reading>> Read(std::string_view patient_id,
                                                        std::int64_t from_ms,
                                                        std::int64_t to_ms) const;

  // Where the patient's stored batches start within [from_ms, to_ms): the start of the oldest
  // batch overlapping the range (at least from_ms), or nullopt if none overlaps. Decrypts
  // nothing: lets a reader that pages through a long range skip the stretches without data.
  [[nodiscard]] Result<std::optional<std::int64_t>> FirstBatchFrom(std::string_view patient_id,
                                                                   std::int64_t from_ms,
                                                                   std::int64_t to_ms) const;

 private:
  const IntakeStore& intake_;
  ThreePartStore& records_;
  std::size_t max_batches_;
};

}  // namespace medmesh::cloud
