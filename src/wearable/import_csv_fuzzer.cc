// Fuzzes the CSV importer. Seeds: fuzz_corpus/import_csv (and testdata/*.csv by hand).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "wearable/import.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  medmesh::wearable::ImportOptions options;
  options.max_readings = 10'000;
  const auto result = medmesh::wearable::ImportCsv(
      std::string_view(reinterpret_cast<const char*>(data), size), options);
  if (!result) return 0;
  // Whatever is accepted is plausible; every rejection is listed or counted.
  for (const auto& r : result->readings) {
    if (!medmesh::wire::CheckPlausible(r)) __builtin_trap();
  }
  if (result->rejections.size() > result->rejected) __builtin_trap();
  return 0;
}
