#include "wire/internal/framing.h"

#include "core/check.h"
#include "wire/model.h"

namespace medmesh::wire::internal {

void AppendId(Bytes& out, std::string_view id) {
  MEDMESH_CHECK(IsValidId(id), "AppendId: invalid id (validate before encoding)");
  AppendU8(out, static_cast<std::uint8_t>(id.size()));
  AppendBytes(out, AsBytes(id));
}

Result<std::string> ReadId(ByteReader& in, std::string_view format, std::string_view field) {
  auto length = in.ReadU8();
  if (!length) return InvalidArgument(std::string(format) + ": truncated");
  auto bytes = in.ReadBytes(*length);
  if (!bytes) return InvalidArgument(std::string(format) + ": truncated");
  std::string id(AsStringView(*bytes));
  if (!IsValidId(id)) return InvalidArgument(std::string(format) + ": bad " + std::string(field));
  return id;
}

void AppendTimeMs(Bytes& out, std::int64_t time_ms) {
  MEDMESH_CHECK(time_ms >= 0 && time_ms <= kMaxTimeMs, "AppendTimeMs: time out of range");
  AppendU64Le(out, static_cast<std::uint64_t>(time_ms));
}

Result<std::int64_t> ReadTimeMs(ByteReader& in, std::string_view format, std::string_view field) {
  auto v = in.ReadU64Le();
  if (!v) return InvalidArgument(std::string(format) + ": truncated");
  if (*v > static_cast<std::uint64_t>(kMaxTimeMs)) {
    return InvalidArgument(std::string(format) + ": " + std::string(field) + " out of range");
  }
  return static_cast<std::int64_t>(*v);
}

Status ReadMagicAndVersion(ByteReader& in, std::string_view magic, std::uint8_t version,
                           std::string_view format) {
  auto m = in.ReadBytes(magic.size());
  if (!m || AsStringView(*m) != magic) return InvalidArgument(std::string(format) + ": bad magic");
  auto v = in.ReadU8();
  if (!v) return InvalidArgument(std::string(format) + ": truncated");
  if (*v != version) {
    return InvalidArgument(std::string(format) + ": unsupported version " + std::to_string(*v));
  }
  return OkStatus();
}

}  // namespace medmesh::wire::internal
