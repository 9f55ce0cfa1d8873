// Fuzzes DecodeReadings: any input must decode or fail cleanly within the limits, and whatever
// decodes must survive a re-encode and decode unchanged. Small limits keep each run fast.
#include <cstddef>
#include <cstdint>

#include "wire/readings_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const medmesh::wire::ReadingsDecodeLimits limits{.max_encoded_bytes = std::size_t{64} * 1024,
                                                   .max_body_bytes = std::size_t{256} * 1024,
                                                   .max_readings = 20'000,
                                                   .require_plausible = false};
  auto decoded = medmesh::wire::DecodeReadings(medmesh::ByteView(data, size), limits);
  if (!decoded) return 0;
  auto again = medmesh::wire::EncodeReadings(*decoded);
  if (!again) __builtin_trap();
  auto round_trip = medmesh::wire::DecodeReadings(*again, {.require_plausible = false});
  if (!round_trip || *round_trip != *decoded) __builtin_trap();
  return 0;
}
