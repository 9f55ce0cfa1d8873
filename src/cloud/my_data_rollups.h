// ReadingRollups: a patient's readings summed up per kind and time bucket, so that a chart of a
// day or a year reads a few hundred small rows instead of decrypting every stored batch (issue 8
// workflow 2; ADR 0021).
//
// For each plausible reading (wire::CheckPlausible, as CloudReadings keeps them) of a stored
// batch, the buckets of width 5 minutes, 1 hour and 1 day that hold its time (aligned to the
// Unix epoch, so days are UTC days) gain it: count, sum, min and max of value_milli. Buckets are
// kept in chunks: one row of the intake store (reading_rollups: pseudonym, kind, width, chunk
// start, ciphertext) holds the non-empty buckets of one kind and width over kRollupSlots
// consecutive buckets (a day of 5-minute buckets, 32 days of hourly ones, 512 days of daily
// ones), so a chart of a day or a year decrypts one or two rows. Each row is encrypted under
// the pseudonym's MI data key (the key of the batches themselves) with the row's key as
// associated data, so a moved or altered row fails to decrypt. Nothing medical is stored in
// clear: the clear columns are the keyed pseudonym, the kind and the chunk's time, coarser than
// the time ranges reading_batches already show.
//
// Writing: PutBatch stores a batch and merges its buckets in the same store transaction
// (IntakeStore::PutReadingBatch with a RollupMerger), so the roll-ups never disagree with the
// batches they count; a repeat of a batch adds nothing. ForwardIntake stores every readings
// batch this way.
// Backfill: batches stored without roll-ups (before they existed, or put back by a restore of a
// deleted row) leave the pseudonym's roll-ups marked incomplete; EnsureComplete rebuilds them
// from the decrypted batches in one transaction (lazily, by the first reader).
// Deleting: IntakeStore::DeleteReadingBatches removes the rows with the batches, and the
// patient's deletion destroys the MI data key that encrypts them (crypto-shredding), as for the
// batches (integrity_service.h).
//
// Errors: kDataLoss ("stored readings failed their integrity check") for a roll-up or (while
// rebuilding) a batch that fails to decrypt or decode; store errors as they are. A patient whose
// data key was destroyed has no roll-ups (empty, never an error).
// WARNING: roll-ups are derived data outside the hash chain: an attacker with write access to
// the database can delete a bucket row or put back an older version of it undetected (each row
// is authenticated on its own, not the set). "Verify" checks the signed batches, not these.
// Thread safety: thread-safe (the stores are); rebuilds in one object are serialised.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "cloud/intake_store.h"
#include "cloud/three_part.h"
#include "core/bytes.h"
#include "core/status.h"
#include "wire/model.h"

namespace medmesh::cloud {

// The bucket widths kept, finest first, and how many buckets of each one row holds.
inline constexpr std::array<std::int64_t, 3> kRollupWidthsMs = {5 * 60'000, 60 * 60'000,
                                                                24 * 60 * 60'000};
inline constexpr std::array<std::int64_t, 3> kRollupSlots = {288, 768, 512};
// The time one row of `width_ms` (one of kRollupWidthsMs) covers: width × its slots.
std::int64_t RollupChunkMs(std::int64_t width_ms);

// What a bucket holds of one kind's readings.
struct ReadingAggregate {
  std::uint64_t count = 0;
  std::int64_t sum_milli = 0;
  std::int64_t min_milli = 0;
  std::int64_t max_milli = 0;
  void Add(std::int64_t value_milli);
  void Merge(const ReadingAggregate& other);
  bool operator==(const ReadingAggregate&) const = default;
};

// The non-empty buckets of one row, by slot (bucket start = chunk start + slot × width).
using RollupChunk = std::map<std::uint16_t, ReadingAggregate>;

// A bucket of one width, read back.
struct RollupBucket {
  std::int64_t start_ms = 0;
  ReadingAggregate aggregate;
};

// Version byte 2, u16 LE count, then per bucket: u16 slot, count, sum, min and max as 64-bit
// little-endian (34 bytes each), slots increasing.
Bytes EncodeRollupChunk(const RollupChunk& chunk);
// nullopt unless exactly that shape, with slots below `slots`, increasing, and each bucket's
// count > 0 and min <= max.
std::optional<RollupChunk> DecodeRollupChunk(ByteView encoded, std::int64_t slots);
// "cloud rollup v2", 0x00, pseudonym, 0x00, kind, width (u64 LE), chunk start (u64 LE).
Bytes RollupAd(const RollupKey& key);
// The rows (keys with the chunk start) and buckets that the plausible ones of `readings` fall
// in, aggregated, for every width.
std::map<RollupKey, RollupChunk> AggregateReadings(std::string_view pseudonym,
                                                   const std::vector<wire::Reading>& readings);

class ReadingRollups {
 public:
  // Both must outlive the object.
  ReadingRollups(ThreePartStore& records, IntakeStore& intake);

  // Stores `row` (ForwardIntake::BatchRowFor) and merges the buckets of `readings` (its
  // decoded readings; implausible ones are left out) in one transaction. Outcomes and errors
  // as IntakeStore::PutReadingBatch. If a stored bucket fails to decrypt, the batch is stored
  // without roll-ups instead (marking them incomplete, so the next reader rebuilds them).
  [[nodiscard]] Result<IntakeOutcome> PutBatch(const ReadingBatchRow& row,
                                               const std::vector<wire::Reading>& readings) const;

  // Rebuilds the pseudonym's roll-ups from its batches unless they are complete; true if it
  // rebuilt. Retries a few times if batches arrive meanwhile (then kUnavailable).
  [[nodiscard]] Result<bool> EnsureComplete(std::string_view pseudonym) const;

  // The non-empty buckets of `width_ms` (one of kRollupWidthsMs) of one kind whose start lies
  // in [from_ms, to_ms), ordered by start, decrypted. At most 100000 buckets
  // (kInvalidArgument beyond). Does not rebuild: call EnsureComplete first.
  [[nodiscard]] Result<std::vector<RollupBucket>> Read(std::string_view pseudonym,
                                                       wire::VitalKind kind, std::int64_t width_ms,
                                                       std::int64_t from_ms,
                                                       std::int64_t to_ms) const;

 private:
  Status Rebuild(std::string_view pseudonym) const;

  ThreePartStore& records_;
  IntakeStore& intake_;
  mutable std::mutex rebuild_mu_;
};

}  // namespace medmesh::cloud
