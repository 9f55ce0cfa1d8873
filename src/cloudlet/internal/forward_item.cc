#include "cloudlet/internal/forward_item.h"

#include <algorithm>

#include "crypto/kdf.h"
#include "wire/model.h"

namespace medmesh::cloudlet::internal {
namespace {

constexpr std::string_view kMagic = "MMFQ";
constexpr std::uint8_t kVersion = 1;

void AppendId(Bytes& out, std::string_view id) {
  AppendU8(out, static_cast<std::uint8_t>(id.size()));
  AppendBytes(out, AsBytes(id));
}

Result<std::string> ReadId(ByteReader& reader) {
  MEDMESH_ASSIGN_OR_RETURN(std::uint8_t length, reader.ReadU8());
  MEDMESH_ASSIGN_OR_RETURN(ByteView bytes, reader.ReadBytes(length));
  std::string id(AsStringView(bytes));
  if (!wire::IsValidId(id)) return InvalidArgument("forward item: bad id");
  return id;
}

}  // namespace

Bytes EncodeUploadItem(const UploadItem& item) {
  Bytes out;
  AppendBytes(out, AsBytes(kMagic));
  AppendU8(out, kVersion);
  AppendU8(out, static_cast<std::uint8_t>(item.content_type));
  AppendId(out, item.device_id);
  AppendId(out, item.patient_id);
  AppendBytes(out, item.ciphertext);
  return out;
}

Result<UploadItem> DecodeUploadItem(ByteView encoded) {
  ByteReader reader(encoded);
  MEDMESH_ASSIGN_OR_RETURN(ByteView magic, reader.ReadBytes(kMagic.size()));
  if (AsStringView(magic) != kMagic) return InvalidArgument("forward item: bad magic");
  MEDMESH_ASSIGN_OR_RETURN(std::uint8_t version, reader.ReadU8());
  if (version != kVersion) return InvalidArgument("forward item: unknown version");
  MEDMESH_ASSIGN_OR_RETURN(std::uint8_t type, reader.ReadU8());
  if (type != static_cast<std::uint8_t>(wire::ContentType::kReadingsBatch) &&
      type != static_cast<std::uint8_t>(wire::ContentType::kPatientRecord)) {
    return InvalidArgument("forward item: unknown content type");
  }
  UploadItem item;
  item.content_type = static_cast<wire::ContentType>(type);
  MEDMESH_ASSIGN_OR_RETURN(item.device_id, ReadId(reader));
  MEDMESH_ASSIGN_OR_RETURN(item.patient_id, ReadId(reader));
  const ByteView rest = reader.Rest();
  if (rest.empty()) return InvalidArgument("forward item: no ciphertext");
  item.ciphertext.assign(rest.begin(), rest.end());
  return item;
}

wire::ForwardId DeriveForwardId(std::string_view cloudlet_id, std::string_view device_id,
                                const wire::BatchId& batch_id) {
  Bytes data;
  AppendId(data, cloudlet_id);
  AppendId(data, device_id);
  AppendBytes(data, batch_id);
  const crypto::KeyId id = crypto::ComputeKeyId("MedMesh forward id v1", data);
  wire::ForwardId out{};
  std::copy(id.begin(), id.end(), out.begin());
  return out;
}

std::string UploadItemId(const wire::ForwardId& forward_id) {
  return std::string(kUploadItemPrefix) + HexEncode(forward_id);
}

Result<wire::ForwardId> ForwardIdFromItemId(std::string_view item_id) {
  if (item_id.substr(0, kUploadItemPrefix.size()) != kUploadItemPrefix) {
    return InvalidArgument("not an upload item id");
  }
  auto bytes = HexDecode(item_id.substr(kUploadItemPrefix.size()));
  if (!bytes || bytes->size() != wire::kBatchIdBytes) return InvalidArgument("bad forward id");
  wire::ForwardId id{};
  std::copy(bytes->begin(), bytes->end(), id.begin());
  return id;
}

std::string EnrolmentItemId(std::string_view device_id) {
  return std::string(kEnrolmentItemPrefix) + std::string(device_id);
}

}  // namespace medmesh::cloudlet::internal
