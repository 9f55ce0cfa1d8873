#include "wearable/internal/png.h"

#include <zlib.h>

#include <string_view>

#include "core/check.h"

namespace medmesh::wearable::internal {
namespace {

void AppendU32Be(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// Length, type, data, and the CRC-32 of type and data.
void AppendChunk(Bytes& out, std::string_view type, ByteView data) {
  AppendU32Be(out, static_cast<std::uint32_t>(data.size()));
  const ByteView type_bytes = AsBytes(type);
  AppendBytes(out, type_bytes);
  AppendBytes(out, data);
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, type_bytes.data(), static_cast<uInt>(type_bytes.size()));
  // Not for empty data (IEND): crc32() with a null buffer returns the initial value, 0.
  if (!data.empty()) crc = crc32(crc, data.data(), static_cast<uInt>(data.size()));
  AppendU32Be(out, static_cast<std::uint32_t>(crc));
}

}  // namespace

Bytes EncodePngRgb(std::uint32_t width, std::uint32_t height, ByteView rgb) {
  MEDMESH_CHECK(width >= 1 && width <= 4096 && height >= 1 && height <= 4096, "PNG size");
  MEDMESH_CHECK(rgb.size() == std::size_t{width} * height * 3, "PNG pixel buffer size");
  // Scanlines: filter type 0 (none) then the row's pixels.
  Bytes raw;
  raw.reserve(height * (1 + std::size_t{width} * 3));
  for (std::uint32_t y = 0; y < height; ++y) {
    raw.push_back(0);
    const auto row = rgb.subspan(std::size_t{y} * width * 3, std::size_t{width} * 3);
    raw.insert(raw.end(), row.begin(), row.end());
  }
  // IDAT holds one zlib stream (header, deflate, Adler-32): what compress2() writes. At most
  // 4096 * (1 + 4096 * 3) bytes in, far below uLong's range.
  uLongf z_size = compressBound(static_cast<uLong>(raw.size()));
  Bytes z(z_size);
  const int rc = compress2(z.data(), &z_size, raw.data(), static_cast<uLong>(raw.size()), 9);
  MEDMESH_CHECK(rc == Z_OK, "zlib compress2 failed");  // only Z_MEM_ERROR is possible here
  z.resize(z_size);

  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes ihdr;
  AppendU32Be(ihdr, width);
  AppendU32Be(ihdr, height);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit, RGB, deflate, no filter, no interlace
  AppendChunk(png, "IHDR", ihdr);
  AppendChunk(png, "IDAT", z);
  AppendChunk(png, "IEND", {});
  return png;
}

}  // namespace medmesh::wearable::internal
