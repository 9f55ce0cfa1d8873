// StableHash: FNV-1a 64 over `kind`, a 0x1f separator and `text`, with a final avalanche (so
// that low bits used by `% k` are well mixed). Stable across platforms and runs: benign
// profiles store these values in the model files, and cross-validation assigns folds by them.
// Not for security. Thread safety: pure.
#pragma once

#include <cstdint>
#include <string_view>

namespace medmesh::ids::ml {

inline std::uint64_t StableHash(std::string_view kind, std::string_view text) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(kind);
  mix("\x1f");
  mix(text);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

}  // namespace medmesh::ids::ml
