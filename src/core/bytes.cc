#include "core/bytes.h"

namespace medmesh {

std::string HexEncode(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (std::uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Bytes> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return InvalidArgument("hex string has odd length");
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return InvalidArgument("hex string has a non-hex character");
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

void AppendU8(Bytes& out, std::uint8_t v) { out.push_back(v); }
void AppendU16Le(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}
void AppendU32Le(Bytes& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void AppendU64Le(Bytes& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void AppendBytes(Bytes& out, ByteView v) { out.insert(out.end(), v.begin(), v.end()); }

Result<std::uint8_t> ByteReader::ReadU8() {
  if (remaining() < 1) return InvalidArgument("input truncated");
  return data_[pos_++];
}
Result<std::uint16_t> ByteReader::ReadU16Le() {
  if (remaining() < 2) return InvalidArgument("input truncated");
  const auto v = static_cast<std::uint16_t>(data_[pos_] | data_[pos_ + 1] << 8);
  pos_ += 2;
  return v;
}
Result<std::uint32_t> ByteReader::ReadU32Le() {
  if (remaining() < 4) return InvalidArgument("input truncated");
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = v << 8 | data_[pos_ + i];
  pos_ += 4;
  return v;
}
Result<std::uint64_t> ByteReader::ReadU64Le() {
  if (remaining() < 8) return InvalidArgument("input truncated");
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | data_[pos_ + i];
  pos_ += 8;
  return v;
}
Result<ByteView> ByteReader::ReadBytes(std::size_t n) {
  if (remaining() < n) return InvalidArgument("input truncated");
  ByteView v = data_.subspan(pos_, n);
  pos_ += n;
  return v;
}

}  // namespace medmesh
