#include "wearable/batcher.h"

#include <algorithm>
#include <charconv>
#include <memory>

#include "core/lower_hex.h"
#include "wire/readings_codec.h"

namespace medmesh::wearable {

std::string BatchKey(const wire::BatchId& batch_id, std::uint64_t sequence) {
  return HexEncode(batch_id) + "-" + std::to_string(sequence);
}

std::optional<BatchKeyParts> ParseBatchKey(std::string_view key) {
  if (key.size() < 34 || key[32] != '-') return std::nullopt;
  if (!IsLowerHex(key.substr(0, 32))) return std::nullopt;
  auto bytes = HexDecode(key.substr(0, 32));
  if (!bytes) return std::nullopt;
  BatchKeyParts parts{};
  std::copy(bytes->begin(), bytes->end(), parts.batch_id.begin());
  const std::string_view digits = key.substr(33);
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;  // one spelling per key
  const auto [end, ec] =
      std::from_chars(digits.data(), digits.data() + digits.size(), parts.sequence);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return parts;
}

Result<std::unique_ptr<Batcher>> Batcher::Create(std::string device_id, std::string patient_id,
                                                 SequenceSource& sequence, Random& random,
                                                 const Clock& clock, BatcherOptions options) {
  if (!wire::IsValidId(device_id)) return InvalidArgument("invalid device id");
  if (!wire::IsValidId(patient_id)) return InvalidArgument("invalid patient id");
  if (options.max_readings == 0 || options.max_readings > wire::kMaxReadingsPerBatch) {
    return InvalidArgument("max_readings must be 1.." + std::to_string(wire::kMaxReadingsPerBatch));
  }
  if (options.max_age.count() <= 0) return InvalidArgument("max_age must be positive");
  return std::unique_ptr<Batcher>(
      new Batcher(std::move(device_id), std::move(patient_id), sequence, random, clock, options));
}

Result<PendingBatch> Batcher::Cut(std::size_t n) {
  // The sequence comes first: if it fails, nothing has been taken from pending_.
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t seq, sequence_.Next());
  PendingBatch out;
  out.batch_id = wire::NewBatchId(random_);
  out.batch.device_id = device_id_;
  out.batch.patient_id = patient_id_;
  out.batch.sequence = seq;
  out.batch.readings.assign(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  // What remains arrived after the cut batch; it starts its own age now (a close enough bound:
  // it waits at most max_age from here).
  oldest_ = pending_.empty() ? std::nullopt : std::optional(clock_.Monotonic());
  return out;
}

Result<std::vector<PendingBatch>> Batcher::Add(std::span<const wire::Reading> readings) {
  std::lock_guard lock(mu_);
  if (!readings.empty() && !oldest_) oldest_ = clock_.Monotonic();
  pending_.insert(pending_.end(), readings.begin(), readings.end());
  std::vector<PendingBatch> out;
  while (pending_.size() >= options_.max_readings) {
    auto batch = Cut(options_.max_readings);
    if (!batch) {
      if (out.empty()) return batch.error();
      break;  // hand out what was cut; the rest stays pending for the next call
    }
    out.push_back(std::move(*batch));
  }
  return out;
}

Result<std::optional<PendingBatch>> Batcher::Poll() {
  std::lock_guard lock(mu_);
  if (pending_.empty() || clock_.Monotonic() - *oldest_ < options_.max_age) {
    return std::optional<PendingBatch>();
  }
  MEDMESH_ASSIGN_OR_RETURN(PendingBatch batch, Cut(pending_.size()));
  return std::optional<PendingBatch>(std::move(batch));
}

Result<std::optional<PendingBatch>> Batcher::Flush() {
  std::lock_guard lock(mu_);
  if (pending_.empty()) return std::optional<PendingBatch>();
  MEDMESH_ASSIGN_OR_RETURN(PendingBatch batch, Cut(pending_.size()));
  return std::optional<PendingBatch>(std::move(batch));
}

std::size_t Batcher::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

std::optional<std::chrono::steady_clock::time_point> Batcher::deadline() const {
  std::lock_guard lock(mu_);
  if (!oldest_) return std::nullopt;
  return *oldest_ + options_.max_age;
}

}  // namespace medmesh::wearable
