#include "cloud/my_data_rollups.h"

#include <algorithm>
#include <utility>

#include "cloud/cloud_readings.h"
#include "core/check.h"
#include "core/log.h"
#include "wire/envelope.h"
#include "wire/readings_codec.h"

namespace medmesh::cloud {
namespace {

constexpr std::uint8_t kChunkVersion = 2;
constexpr std::size_t kChunkHeaderBytes = 1 + 2;
constexpr std::size_t kBucketBytes = 2 + 4 * 8;
constexpr int kRebuildAttempts = 3;
constexpr std::size_t kMaxBucketsPerRead = 100000;
// Roll-ups re-encrypted per EncryptAll call while rebuilding (bounds the plaintexts in memory).
constexpr std::size_t kRebuildChunk = 4096;

Error RollupIntegrityFailure() { return DataLoss("stored readings failed their integrity check"); }

crypto::DataKeyContext MiKey(std::string_view pseudonym) { return {std::string(pseudonym), "mi"}; }

std::int64_t FloorTo(std::int64_t t, std::int64_t width) {
  const std::int64_t q = t / width;
  return (t % width != 0 && t < 0 ? q - 1 : q) * width;
}

void MergeChunk(RollupChunk& into, const RollupChunk& from) {
  for (const auto& [slot, a] : from) into[slot].Merge(a);
}

// Merges a batch's buckets into the stored rows, under the pseudonym's MI data key.
class BatchMerger final : public RollupMerger {
 public:
  BatchMerger(const crypto::EnvelopeAead& mi, crypto::DataKeyDecryptor key,
              std::map<RollupKey, RollupChunk> delta)
      : mi_(mi), key_(std::move(key)) {
    keys_.reserve(delta.size());
    deltas_.reserve(delta.size());
    for (auto& [k, c] : delta) {
      keys_.push_back(k);
      deltas_.push_back(std::move(c));
    }
  }

  const std::vector<RollupKey>& keys() const override { return keys_; }

  Result<std::vector<Bytes>> Merge(const std::vector<std::optional<Bytes>>& stored) const override {
    if (stored.size() != keys_.size()) return Internal("roll-up merge: wrong number of rows");
    std::vector<Bytes> plaintexts;
    std::vector<Bytes> ads;
    plaintexts.reserve(keys_.size());
    ads.reserve(keys_.size());
    for (std::size_t i = 0; i < keys_.size(); ++i) {
      RollupChunk merged = deltas_[i];
      Bytes ad = RollupAd(keys_[i]);
      if (stored[i]) {
        auto plain = key_.Decrypt(*stored[i], ad);
        if (!plain) return RollupIntegrityFailure();
        const std::optional<RollupChunk> old =
            DecodeRollupChunk(*plain, RollupChunkMs(keys_[i].width_ms) / keys_[i].width_ms);
        if (!old) return RollupIntegrityFailure();
        MergeChunk(merged, *old);
      }
      plaintexts.push_back(EncodeRollupChunk(merged));
      ads.push_back(std::move(ad));
    }
    return mi_.EncryptAll(MiKey(keys_.front().pseudonym), plaintexts, ads);
  }

 private:
  const crypto::EnvelopeAead& mi_;
  crypto::DataKeyDecryptor key_;
  std::vector<RollupKey> keys_;
  std::vector<RollupChunk> deltas_;
};

}  // namespace

void ReadingAggregate::Add(std::int64_t value_milli) {
  min_milli = count == 0 ? value_milli : std::min(min_milli, value_milli);
  max_milli = count == 0 ? value_milli : std::max(max_milli, value_milli);
  sum_milli += value_milli;
  ++count;
}

void ReadingAggregate::Merge(const ReadingAggregate& other) {
  if (other.count == 0) return;
  min_milli = count == 0 ? other.min_milli : std::min(min_milli, other.min_milli);
  max_milli = count == 0 ? other.max_milli : std::max(max_milli, other.max_milli);
  sum_milli += other.sum_milli;
  count += other.count;
}

std::int64_t RollupChunkMs(std::int64_t width_ms) {
  for (std::size_t i = 0; i < kRollupWidthsMs.size(); ++i) {
    if (kRollupWidthsMs[i] == width_ms) return width_ms * kRollupSlots[i];
  }
  MEDMESH_CHECK(false, "not a roll-up width");
}

Bytes EncodeRollupChunk(const RollupChunk& chunk) {
  Bytes out;
  out.reserve(kChunkHeaderBytes + chunk.size() * kBucketBytes);
  AppendU8(out, kChunkVersion);
  AppendU16Le(out, static_cast<std::uint16_t>(chunk.size()));
  for (const auto& [slot, a] : chunk) {
    AppendU16Le(out, slot);
    AppendU64Le(out, a.count);
    AppendU64Le(out, static_cast<std::uint64_t>(a.sum_milli));
    AppendU64Le(out, static_cast<std::uint64_t>(a.min_milli));
    AppendU64Le(out, static_cast<std::uint64_t>(a.max_milli));
  }
  return out;
}

std::optional<RollupChunk> DecodeRollupChunk(ByteView encoded, std::int64_t slots) {
  if (encoded.size() < kChunkHeaderBytes) return std::nullopt;
  ByteReader r(encoded);
  if (*r.ReadU8() != kChunkVersion) return std::nullopt;  // sizes checked before each read
  const std::uint16_t n = *r.ReadU16Le();
  if (encoded.size() != kChunkHeaderBytes + std::size_t{n} * kBucketBytes) return std::nullopt;
  RollupChunk out;
  for (std::uint16_t i = 0; i < n; ++i) {
    const std::uint16_t slot = *r.ReadU16Le();
    ReadingAggregate a;
    a.count = *r.ReadU64Le();
    a.sum_milli = static_cast<std::int64_t>(*r.ReadU64Le());
    a.min_milli = static_cast<std::int64_t>(*r.ReadU64Le());
    a.max_milli = static_cast<std::int64_t>(*r.ReadU64Le());
    if (slot >= slots || (!out.empty() && out.rbegin()->first >= slot) || a.count == 0 ||
        a.min_milli > a.max_milli) {
      return std::nullopt;
    }
    out.emplace_hint(out.end(), slot, a);
  }
  return out;
}

Bytes RollupAd(const RollupKey& key) {
  Bytes ad;
  AppendBytes(ad, AsBytes("cloud rollup v2"));
  AppendU8(ad, 0);
  AppendBytes(ad, AsBytes(key.pseudonym));
  AppendU8(ad, 0);
  AppendU8(ad, key.kind);
  AppendU64Le(ad, static_cast<std::uint64_t>(key.width_ms));
  AppendU64Le(ad, static_cast<std::uint64_t>(key.start_ms));
  return ad;
}

std::map<RollupKey, RollupChunk> AggregateReadings(std::string_view pseudonym,
                                                   const std::vector<wire::Reading>& readings) {
  std::map<RollupKey, RollupChunk> out;
  const std::string p(pseudonym);
  for (const wire::Reading& r : readings) {
    if (!wire::CheckPlausible(r)) continue;
    for (const std::int64_t width : kRollupWidthsMs) {
      const std::int64_t chunk = RollupChunkMs(width);
      const std::int64_t start = FloorTo(r.time_ms, chunk);
      const auto slot = static_cast<std::uint16_t>((r.time_ms - start) / width);
      out[RollupKey{p, static_cast<std::uint8_t>(r.kind), width, start}][slot].Add(r.value_milli);
    }
  }
  return out;
}

ReadingRollups::ReadingRollups(ThreePartStore& records, IntakeStore& intake)
    : records_(records), intake_(intake) {}

Result<IntakeOutcome> ReadingRollups::PutBatch(const ReadingBatchRow& row,
                                               const std::vector<wire::Reading>& readings) const {
  std::map<RollupKey, RollupChunk> delta = AggregateReadings(row.pseudonym, readings);
  const crypto::EnvelopeAead& mi = records_.envelope(store::RecordPart::kMi);
  // The batch row was just encrypted under this key, so it exists (unless destroyed meanwhile,
  // when the batch is stored as the caller asked and the roll-ups wait for a rebuild).
  auto key = mi.OpenDataKey(MiKey(row.pseudonym));
  if (delta.empty() || !key) return intake_.PutReadingBatch(row);
  const BatchMerger merger(mi, std::move(*key), std::move(delta));
  auto put = intake_.PutReadingBatch(row, merger);
  if (!put && put.error().code() == ErrorCode::kDataLoss) {
    // A stored bucket did not decrypt: keep the batch, and let the next reader rebuild.
    log::Warn("cloud_rollups_unreadable", {{"error", put.error().ToString()}});
    return intake_.PutReadingBatch(row);
  }
  return put;
}

Result<bool> ReadingRollups::EnsureComplete(std::string_view pseudonym) const {
  MEDMESH_ASSIGN_OR_RETURN(const bool complete, intake_.RollupsComplete(pseudonym));
  if (complete) return false;
  std::lock_guard lock(rebuild_mu_);
  for (int attempt = 0; attempt < kRebuildAttempts; ++attempt) {
    MEDMESH_ASSIGN_OR_RETURN(const bool done, intake_.RollupsComplete(pseudonym));
    if (done) return attempt > 0;
    Status rebuilt = Rebuild(pseudonym);
    if (rebuilt) return true;
    if (rebuilt.error().code() != ErrorCode::kFailedPrecondition) return rebuilt.error();
  }
  return Unavailable("readings kept arriving while their roll-ups were rebuilt; try again");
}

Status ReadingRollups::Rebuild(std::string_view pseudonym) const {
  MEDMESH_ASSIGN_OR_RETURN(const std::vector<std::string> refs, intake_.ListBatchRefs(pseudonym));
  const crypto::EnvelopeAead& mi = records_.envelope(store::RecordPart::kMi);
  std::map<RollupKey, RollupChunk> all;
  if (!refs.empty()) {
    auto key = mi.OpenDataKey(MiKey(pseudonym));
    if (!key && key.error().code() == ErrorCode::kNotFound) return OkStatus();  // shredded
    if (!key) return RollupIntegrityFailure();
    for (const std::string& ref : refs) {
      MEDMESH_ASSIGN_OR_RETURN(const std::optional<ReadingBatchRow> row,
                               intake_.GetReadingBatch(ref));
      if (!row) continue;  // deleted meanwhile: ReplaceRollups's count check notices
      auto plain = key->Decrypt(row->ciphertext, ReadingBatchAd(row->batch_ref));
      if (!plain) return RollupIntegrityFailure();
      auto parts = wire::DecodeEvidenceAndPayload(*plain);
      if (!parts) return RollupIntegrityFailure();
      auto readings = wire::DecodeReadings(parts->payload, {.require_plausible = false});
      if (!readings) return RollupIntegrityFailure();
      for (auto& [k, c] : AggregateReadings(pseudonym, *readings)) MergeChunk(all[k], c);
    }
  }
  std::vector<RollupRow> rows;
  rows.reserve(all.size());
  std::vector<Bytes> plaintexts;
  std::vector<Bytes> ads;
  std::vector<RollupKey> keys;
  const auto flush = [&]() -> Status {
    MEDMESH_ASSIGN_OR_RETURN(std::vector<Bytes> sealed,
                             mi.EncryptAll(MiKey(pseudonym), plaintexts, ads));
    for (std::size_t i = 0; i < sealed.size(); ++i) {
      rows.push_back({std::move(keys[i]), std::move(sealed[i])});
    }
    plaintexts.clear();
    ads.clear();
    keys.clear();
    return OkStatus();
  };
  for (auto& [k, c] : all) {
    plaintexts.push_back(EncodeRollupChunk(c));
    ads.push_back(RollupAd(k));
    keys.push_back(k);
    if (keys.size() == kRebuildChunk) MEDMESH_RETURN_IF_ERROR(flush());
  }
  MEDMESH_RETURN_IF_ERROR(flush());
  log::Info("cloud_rollups_rebuilt", {{"batches", refs.size()}, {"buckets", rows.size()}});
  return intake_.ReplaceRollups(pseudonym, rows, refs.size());
}

Result<std::vector<RollupBucket>> ReadingRollups::Read(std::string_view pseudonym,
                                                       wire::VitalKind kind, std::int64_t width_ms,
                                                       std::int64_t from_ms,
                                                       std::int64_t to_ms) const {
  std::vector<RollupBucket> out;
  if (to_ms <= from_ms) return out;
  const std::int64_t chunk = RollupChunkMs(width_ms);
  if ((to_ms - from_ms) / width_ms > static_cast<std::int64_t>(kMaxBucketsPerRead)) {
    return InvalidArgument("too many roll-up buckets in one read");
  }
  const crypto::EnvelopeAead& mi = records_.envelope(store::RecordPart::kMi);
  auto key = mi.OpenDataKey(MiKey(pseudonym));
  if (!key && key.error().code() == ErrorCode::kNotFound) return out;  // shredded or none
  if (!key) return RollupIntegrityFailure();
  const std::int64_t first = FloorTo(from_ms, chunk);
  MEDMESH_ASSIGN_OR_RETURN(
      const std::vector<RollupRow> rows,
      intake_.ListRollups(pseudonym, static_cast<std::uint8_t>(kind), width_ms, first, to_ms,
                          static_cast<std::size_t>((to_ms - first) / chunk + 1)));
  for (const RollupRow& row : rows) {
    auto plain = key->Decrypt(row.ciphertext, RollupAd(row.key));
    if (!plain) return RollupIntegrityFailure();
    const std::optional<RollupChunk> buckets = DecodeRollupChunk(*plain, chunk / width_ms);
    if (!buckets) return RollupIntegrityFailure();
    for (const auto& [slot, a] : *buckets) {
      const std::int64_t start = row.key.start_ms + std::int64_t{slot} * width_ms;
      if (start >= from_ms && start < to_ms) out.push_back({start, a});
    }
  }
  return out;
}

}  // namespace medmesh::cloud
