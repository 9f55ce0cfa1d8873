#include "accounts/encoding.h"

#include <array>
#include <cstdint>

namespace medmesh::accounts {
namespace {

constexpr std::string_view kBase64Url =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::string_view kBase32Lower = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::size_t kIdRandomBytes = 16;
constexpr std::size_t kIdChars = 26;  // ceil(128 / 5)

int Base64Value(char c, bool url) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == (url ? '-' : '+')) return 62;
  if (c == (url ? '_' : '/')) return 63;
  return -1;
}

Result<Bytes> DecodeUnpadded(std::string_view text, bool url) {
  if (text.size() % 4 == 1) return InvalidArgument("not base64: bad length");
  Bytes out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = Base64Value(c, url);
    if (v < 0) return InvalidArgument("not base64: bad character");
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  // The bits left over must be zero, or two texts would decode to the same bytes.
  if (acc != 0) return InvalidArgument("not base64: non-canonical encoding");
  return out;
}

}  // namespace

std::string Base64UrlEncode(ByteView data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v =
        std::uint32_t{data[i]} << 16 | std::uint32_t{data[i + 1]} << 8 | std::uint32_t{data[i + 2]};
    out += kBase64Url[v >> 18 & 63];
    out += kBase64Url[v >> 12 & 63];
    out += kBase64Url[v >> 6 & 63];
    out += kBase64Url[v & 63];
  }
  const std::size_t rest = data.size() - i;
  if (rest == 1) {
    const std::uint32_t v = std::uint32_t{data[i]} << 16;
    out += kBase64Url[v >> 18 & 63];
    out += kBase64Url[v >> 12 & 63];
  } else if (rest == 2) {
    const std::uint32_t v = std::uint32_t{data[i]} << 16 | std::uint32_t{data[i + 1]} << 8;
    out += kBase64Url[v >> 18 & 63];
    out += kBase64Url[v >> 12 & 63];
    out += kBase64Url[v >> 6 & 63];
  }
  return out;
}

Result<Bytes> Base64UrlDecode(std::string_view text) { return DecodeUnpadded(text, true); }

Result<Bytes> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return InvalidArgument("not base64: bad length");
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  return DecodeUnpadded(text.substr(0, text.size() - pad), false);
}

std::string NewId(std::string_view prefix, Random& random) {
  std::array<std::uint8_t, kIdRandomBytes> bytes{};
  random.Fill(bytes);
  std::string id(prefix);
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      id += kBase32Lower[acc >> bits & 31];
    }
    acc &= (1u << bits) - 1;
  }
  if (bits > 0) id += kBase32Lower[(acc << (5 - bits)) & 31];
  return id;
}

bool IsIdWithPrefix(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + kIdChars || id.substr(0, prefix.size()) != prefix) return false;
  for (char c : id.substr(prefix.size())) {
    if (kBase32Lower.find(c) == std::string_view::npos) return false;
  }
  return true;
}

Result<std::string> NormaliseEmail(std::string_view email) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!email.empty() && is_space(email.front())) email.remove_prefix(1);
  while (!email.empty() && is_space(email.back())) email.remove_suffix(1);
  if (email.empty() || email.size() > kMaxLoginBytes) {
    return InvalidArgument("email must be 1 to 254 bytes");
  }
  std::string out;
  out.reserve(email.size());
  std::size_t at = std::string_view::npos;
  for (std::size_t i = 0; i < email.size(); ++i) {
    const auto c = static_cast<unsigned char>(email[i]);
    if (c <= 0x20 || c == 0x7f) return InvalidArgument("email must not hold spaces or controls");
    if (c == '@') {
      if (at != std::string_view::npos) return InvalidArgument("email must hold one '@'");
      at = i;
    }
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
  }
  if (at == std::string_view::npos || at == 0 || at + 1 == out.size()) {
    return InvalidArgument("email must be name@domain");
  }
  return out;
}

Result<std::string> NormaliseLogin(std::string_view email) {
  MEDMESH_ASSIGN_OR_RETURN(std::string out, NormaliseEmail(email));
  const std::size_t at = out.find('@');
  const std::size_t dot = out.find('.', at + 1);
  if (dot == std::string::npos || dot == at + 1 || dot + 1 == out.size()) {
    return InvalidArgument("email domain must hold a '.'");
  }
  return out;
}

}  // namespace medmesh::accounts
