// Batching policy of the device agent: readings accumulate until a batch holds
// `max_readings` (default 600) or its oldest reading has waited `max_age` (default 60 s, on the
// injected Clock's monotonic time), whichever comes first. Fewer, larger batches mean one seal
// and one signature for many readings and better compression (docs/energy_model.md); the age
// bound keeps data fresh at the cloudlet.
//
// Each batch gets a sequence number from a SequenceSource (durable on a device: the outbox's
// counter, store/outbox.h) and 16 random bytes (wire::BatchId, the batch id of the upload
// header). Together they name the batch, also as a text key for queues and stores:
//   batch key = hex(batch id) "-" decimal sequence           (e.g. "3f9c…e1-42", ≤ 53 chars)
// which is unique even if a device loses its counter, and is reused on every retry of the
// batch, so every hop can de-duplicate. Batch keys satisfy wire::IsValidId.
//
// Readings are never dropped: if the sequence source fails, they stay pending and the error
// is returned; the next call tries again.
// Thread safety: thread-safe (internally locked). The SequenceSource, Random and Clock must
// outlive the batcher.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "wire/envelope.h"
#include "wire/model.h"

namespace medmesh::wearable {

class SequenceSource {
 public:
  virtual ~SequenceSource() = default;
  // The next batch sequence number of the device; never the same twice.
  virtual Result<std::uint64_t> Next() = 0;
};

// An in-memory counter starting at `first` (tests, simulations). Thread-safe.
class CountingSequenceSource final : public SequenceSource {
 public:
  explicit CountingSequenceSource(std::uint64_t first = 1) : next_(first) {}
  Result<std::uint64_t> Next() override {
    std::lock_guard lock(mu_);
    return next_++;
  }

 private:
  std::mutex mu_;
  std::uint64_t next_;
};

struct BatcherOptions {
  std::size_t max_readings = 600;  // 1..wire::kMaxReadingsPerBatch
  std::chrono::milliseconds max_age{60'000};
};

// "<32 hex>-<sequence>".
std::string BatchKey(const wire::BatchId& batch_id, std::uint64_t sequence);
// The parts of a batch key; nullopt if `key` is not of that form.
struct BatchKeyParts {
  wire::BatchId batch_id;
  std::uint64_t sequence;
};
std::optional<BatchKeyParts> ParseBatchKey(std::string_view key);

struct PendingBatch {
  wire::BatchId batch_id;    // random, for the upload header
  wire::ReadingBatch batch;  // device_id, patient_id, sequence, readings (arrival order)
  std::string key() const { return BatchKey(batch_id, batch.sequence); }
};

class Batcher {
 public:
  // kInvalidArgument for invalid ids (wire::IsValidId) or options out of range.
  static Result<std::unique_ptr<Batcher>> Create(std::string device_id, std::string patient_id,
                                                 SequenceSource& sequence, Random& random,
                                                 const Clock& clock, BatcherOptions options = {});

  // Adds readings and returns the batches they completed by count (none, one or several).
  Result<std::vector<PendingBatch>> Add(std::span<const wire::Reading> readings);

  // Returns a batch of what is pending if the oldest pending reading has waited max_age;
  // nullopt otherwise (also when nothing is pending).
  Result<std::optional<PendingBatch>> Poll();

  // Returns what is pending now, whatever its age (e.g. at shutdown); nullopt if nothing.
  Result<std::optional<PendingBatch>> Flush();

  std::size_t pending() const;
  // When Poll() will next return a batch (nullopt if nothing is pending).
  std::optional<std::chrono::steady_clock::time_point> deadline() const;

  const BatcherOptions& options() const { return options_; }

 private:
  Batcher(std::string device_id, std::string patient_id, SequenceSource& sequence, Random& random,
          const Clock& clock, BatcherOptions options)
      : device_id_(std::move(device_id)),
        patient_id_(std::move(patient_id)),
        sequence_(sequence),
        random_(random),
        clock_(clock),
        options_(options) {}
  // Takes the first `n` pending readings into a batch (mu_ held).
  Result<PendingBatch> Cut(std::size_t n);

  const std::string device_id_;
  const std::string patient_id_;
  SequenceSource& sequence_;
  Random& random_;
  const Clock& clock_;
  const BatcherOptions options_;
  mutable std::mutex mu_;
  std::vector<wire::Reading> pending_;  // guarded by mu_
  // Arrival time of the oldest pending reading; guarded by mu_.
  std::optional<std::chrono::steady_clock::time_point> oldest_;
};

}  // namespace medmesh::wearable
