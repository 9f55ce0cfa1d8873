// A minimal PNG writer (8-bit RGB, deflate "stored" blocks, no compression) for the small
// generated demo photos. Thread safety: pure function.
#pragma once

#include <cstdint>

#include "core/bytes.h"

namespace medmesh::wearable::internal {

// `rgb` holds width * height * 3 bytes, row by row. width and height must be 1..4096
// (a programming error otherwise).
Bytes EncodePngRgb(std::uint32_t width, std::uint32_t height, ByteView rgb);

}  // namespace medmesh::wearable::internal
