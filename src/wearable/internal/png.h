// A minimal PNG writer (8-bit RGB, no filter, zlib-compressed) for the small generated demo
// photos. zlib does the deflate stream and the chunk CRCs; this file only lays out the chunks.
// Thread safety: pure function.
#pragma once

#include <cstdint>

#include "core/bytes.h"

namespace medmesh::wearable::internal {

// `rgb` holds width * height * 3 bytes, row by row. width and height must be 1..4096
// (a programming error otherwise). The output depends only on the input and the zlib
// version (compression level 9).
Bytes EncodePngRgb(std::uint32_t width, std::uint32_t height, ByteView rgb);

}  // namespace medmesh::wearable::internal
