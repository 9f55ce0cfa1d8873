// Fuzzes DecodePatientRecord: any input must decode or fail cleanly, and the encoding is
// canonical, so whatever decodes must re-encode to exactly the input.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "wire/record_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const medmesh::ByteView input(data, size);
  auto record = medmesh::wire::DecodePatientRecord(input);
  if (!record) return 0;
  auto encoded = medmesh::wire::EncodePatientRecord(*record);
  if (!encoded || !std::equal(encoded->begin(), encoded->end(), input.begin(), input.end())) {
    __builtin_trap();
  }
  return 0;
}
