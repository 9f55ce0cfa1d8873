// Byte views and small helpers for binary encodings.
// ByteView is a non-owning view (like std::span<const uint8_t>); Bytes owns.
// Thread safety: plain value types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace medmesh {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;
using MutableByteView = std::span<std::uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsStringView(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Lower-case hex; HexDecode accepts either case and rejects odd length or non-hex characters.
std::string HexEncode(ByteView data);
Result<Bytes> HexDecode(std::string_view hex);

// Little-endian fixed-width writers/readers for wire formats.
void AppendU8(Bytes& out, std::uint8_t v);
void AppendU16Le(Bytes& out, std::uint16_t v);
void AppendU32Le(Bytes& out, std::uint32_t v);
void AppendU64Le(Bytes& out, std::uint64_t v);
void AppendBytes(Bytes& out, ByteView v);

// Sequential reader over untrusted bytes: every read is bounds-checked and a short input gives
// kInvalidArgument, never an out-of-range access.
class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}
  Result<std::uint8_t> ReadU8();
  Result<std::uint16_t> ReadU16Le();
  Result<std::uint32_t> ReadU32Le();
  Result<std::uint64_t> ReadU64Le();
  Result<ByteView> ReadBytes(std::size_t n);
  std::size_t remaining() const { return data_.size() - pos_; }
  std::size_t position() const { return pos_; }
  ByteView Rest() const { return data_.subspan(pos_); }

 private:
  ByteView data_;
  std::size_t pos_ = 0;
};

}  // namespace medmesh
