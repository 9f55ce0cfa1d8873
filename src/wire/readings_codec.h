// Compact encoding of the readings of a ReadingBatch: the payload of a readings upload
// (envelope.h). Byte layout: docs/wire_format.md, "Readings payload".
//
// Readings are grouped by kind and sorted by time. Each group stores its first time and value
// (LEB128 varints, the value zig-zag coded), then its times as deltas of deltas and its values as
// deltas, all scaled by the group's greatest common step and zig-zag coded, as order-k
// Exp-Golomb bit codes with k chosen per column (a column of zeros, as regular sampling gives,
// costs nothing). The body is then compressed with zstd (level 3) when that makes it smaller.
// A minute of 1 Hz heart rate costs about 0.6 byte per reading, a minute of all nine kinds
// about 0.35 (figures and method in docs/wire_format.md, "Readings payload").
//
// The device id, patient id and sequence number of a batch are not in this payload: they are in
// the upload header, which is signed by the device and bound to the sealed payload
// (ReadingBatchFromUpload in envelope.h puts the two back together).
//
// Decoding treats its input as hostile: every length, count and value is checked, the
// compressed size, the decompressed size (declared and actually produced) and the number of
// readings are capped, and a failure is a Result error, never a crash or an unbounded
// allocation.
// Thread safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "wire/model.h"

namespace medmesh::wire {

inline constexpr std::uint8_t kReadingsFormatVersion = 1;
// The encoder refuses more readings than this, and the default decoder limits accept it.
inline constexpr std::size_t kMaxReadingsPerBatch = 100'000;
// The largest body the encoder can produce for kMaxReadingsPerBatch readings (every value and
// time spread over its whole range) is about 1.4 MB; these defaults leave room for it.
inline constexpr std::size_t kMaxReadingsBodyBytes = std::size_t{2} << 20;
inline constexpr std::size_t kMaxEncodedReadingsBytes = (std::size_t{2} << 20) + 64;

struct ReadingsDecodeLimits {
  // Larger inputs are refused before any work (kResourceExhausted).
  std::size_t max_encoded_bytes = kMaxEncodedReadingsBytes;
  // Decompressed body size: a larger declared size is refused before decompressing, and
  // decompression stops as soon as output would pass it (kResourceExhausted).
  std::size_t max_body_bytes = kMaxReadingsBodyBytes;
  // Total number of readings (kResourceExhausted). This also bounds memory: regular readings of
  // a constant value cost no bits, so a payload of a few bytes may declare this many.
  std::size_t max_readings = kMaxReadingsPerBatch;
  // Also run CheckPlausible (model.h) on every reading (kInvalidArgument naming the reading).
  bool require_plausible = true;
};

// Encodes readings in any order (they are sorted by kind, time and value first, so equal
// multisets give equal bytes). kInvalidArgument for an unknown kind, a time outside
// [0, kMaxTimeMs], a value with |value_milli| > kMaxAbsValueMilli, or more than
// kMaxReadingsPerBatch readings. Plausibility is not checked here, so tests can build batches
// that the cloudlet must reject. kInternal only if zstd itself fails.
Result<Bytes> EncodeReadings(std::span<const Reading> readings);

// Decodes a payload made by EncodeReadings. Returns the readings sorted by (kind, time, value).
// Errors: kResourceExhausted when a limit is exceeded (input size, declared or produced
// decompressed size, reading count); kInvalidArgument for anything malformed (unknown version or
// compression, corrupt or truncated zstd data, trailing bytes, groups out of order, counts or
// varints that overrun the body, times going backwards or out of range, values out of range),
// and, if limits.require_plausible, for an implausible reading. Messages never quote input bytes.
Result<std::vector<Reading>> DecodeReadings(ByteView encoded,
                                            const ReadingsDecodeLimits& limits = {});

}  // namespace medmesh::wire
