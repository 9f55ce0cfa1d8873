#include "wearable/internal/png.h"

#include <algorithm>
#include <string_view>

#include "core/check.h"

namespace medmesh::wearable::internal {
namespace {

std::uint32_t Crc32(ByteView a, ByteView b) {
  // Bitwise CRC-32 (reflected, polynomial 0xEDB88320): images here are a few KB, so no table.
  std::uint32_t crc = 0xFFFFFFFFu;
  for (ByteView part : {a, b}) {
    for (std::uint8_t byte : part) {
      crc ^= byte;
      for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
  }
  return crc ^ 0xFFFFFFFFu;
}

std::uint32_t Adler32(ByteView data) {
  std::uint32_t a = 1;
  std::uint32_t b = 0;
  for (std::uint8_t byte : data) {
    a = (a + byte) % 65521u;
    b = (b + a) % 65521u;
  }
  return (b << 16) | a;
}

void AppendU32Be(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

void AppendChunk(Bytes& out, std::string_view type, ByteView data) {
  AppendU32Be(out, static_cast<std::uint32_t>(data.size()));
  const ByteView type_bytes = AsBytes(type);
  AppendBytes(out, type_bytes);
  AppendBytes(out, data);
  AppendU32Be(out, Crc32(type_bytes, data));
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
  // zlib stream: header 0x78 0x01, deflate stored blocks of at most 65535 bytes, Adler-32.
  Bytes z = {0x78, 0x01};
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min<std::size_t>(65535, raw.size() - pos);
    const bool final_block = pos + n == raw.size();
    z.push_back(final_block ? 1 : 0);
    AppendU16Le(z, static_cast<std::uint16_t>(n));
    AppendU16Le(z, static_cast<std::uint16_t>(~n));
    z.insert(z.end(), raw.begin() + static_cast<std::ptrdiff_t>(pos),
             raw.begin() + static_cast<std::ptrdiff_t>(pos + n));
    pos += n;
  } while (pos < raw.size());
  AppendU32Be(z, Adler32(raw));

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
