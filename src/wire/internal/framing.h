// Private helpers shared by the signed formats of this folder (certificate, enrolment,
// envelope): short ids, times and magics. Not part of the public API.
// Thread safety: free functions without shared state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"

namespace medmesh::wire::internal {

// u8 length || id. The id must satisfy IsValidId (a programming error otherwise: callers
// validate first and return kInvalidArgument).
void AppendId(Bytes& out, std::string_view id);
// Reads u8 length || id and checks IsValidId; kInvalidArgument "<format>: bad <field>".
Result<std::string> ReadId(ByteReader& in, std::string_view format, std::string_view field);

// A time in ms as u64 LE, in [0, kMaxTimeMs] (checked on read: kInvalidArgument).
void AppendTimeMs(Bytes& out, std::int64_t time_ms);
Result<std::int64_t> ReadTimeMs(ByteReader& in, std::string_view format, std::string_view field);

// Reads exactly N bytes into an array; kInvalidArgument "<format>: truncated".
template <std::size_t N>
Result<std::array<std::uint8_t, N>> ReadArray(ByteReader& in, std::string_view format) {
  auto bytes = in.ReadBytes(N);
  if (!bytes) return InvalidArgument(std::string(format) + ": truncated");
  std::array<std::uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = (*bytes)[i];
  return out;
}

// Checks `magic` (4 ASCII bytes) and the version byte after it, and consumes both.
Status ReadMagicAndVersion(ByteReader& in, std::string_view magic, std::uint8_t version,
                           std::string_view format);

}  // namespace medmesh::wire::internal
