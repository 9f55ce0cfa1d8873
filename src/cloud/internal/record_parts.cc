#include "cloud/internal/record_parts.h"

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string_view>

namespace medmesh::cloud::internal {
namespace {

using json = nlohmann::json;

constexpr int kPartFormatVersion = 1;

Error Malformed() { return DataLoss("stored record part is malformed"); }

json Binary(const Bytes& b) { return json::binary(std::vector<std::uint8_t>(b.begin(), b.end())); }

Bytes ToCbor(const json& j) { return json::to_cbor(j); }

// Parses and checks the version and the exact set of fields.
Result<json> Parse(ByteView encoded, std::initializer_list<std::string_view> fields) {
  json j;
  try {
    j = json::from_cbor(encoded.begin(), encoded.end());
  } catch (const json::exception&) {
    return Malformed();
  }
  if (!j.is_object() || j.size() != fields.size() + 1 || !j.contains("v") ||
      !j["v"].is_number_integer() || j["v"].get<int>() != kPartFormatVersion) {
    return Malformed();
  }
  for (std::string_view f : fields) {
    if (!j.contains(f)) return Malformed();
  }
  return j;
}

bool GetString(const json& j, const char* key, std::string& out) {
  const json& v = j.at(key);
  if (!v.is_string()) return false;
  out = v.get<std::string>();
  return true;
}

bool GetBytes(const json& j, const char* key, Bytes& out) {
  const json& v = j.at(key);
  if (!v.is_binary()) return false;
  const auto& b = v.get_binary();
  out.assign(b.begin(), b.end());
  return true;
}

bool GetStrings(const json& j, const char* key, std::vector<std::string>& out) {
  const json& v = j.at(key);
  if (!v.is_array()) return false;
  out.clear();
  for (const json& item : v) {
    if (!item.is_string()) return false;
    out.push_back(item.get<std::string>());
  }
  return true;
}

template <typename T>
bool GetInt(const json& j, const char* key, T& out) {
  const json& v = j.at(key);
  if (!v.is_number_integer()) return false;
  out = v.get<T>();
  return true;
}

}  // namespace

Bytes EncodeEiPart(const wire::PatientRecord& r) {
  return ToCbor({{"v", kPartFormatVersion},
                 {"name", r.name},
                 {"phone", r.phone},
                 {"email", r.email},
                 {"address", r.address},
                 {"national_id", r.national_id},
                 {"photo", Binary(r.photo)},
                 {"photo_type", r.photo_type}});
}

Status DecodeEiPart(ByteView encoded, wire::PatientRecord& into) {
  MEDMESH_ASSIGN_OR_RETURN(json j, Parse(encoded, {"name", "phone", "email", "address",
                                                   "national_id", "photo", "photo_type"}));
  if (!GetString(j, "name", into.name) || !GetString(j, "phone", into.phone) ||
      !GetString(j, "email", into.email) || !GetString(j, "address", into.address) ||
      !GetString(j, "national_id", into.national_id) || !GetBytes(j, "photo", into.photo) ||
      !GetString(j, "photo_type", into.photo_type)) {
    return Malformed();
  }
  return OkStatus();
}

Bytes EncodeQiPart(const wire::PatientRecord& r) {
  return ToCbor({{"v", kPartFormatVersion},
                 {"birth_date", r.birth_date},
                 {"sex", r.sex},
                 {"postcode", r.postcode}});
}

Status DecodeQiPart(ByteView encoded, wire::PatientRecord& into) {
  MEDMESH_ASSIGN_OR_RETURN(json j, Parse(encoded, {"birth_date", "sex", "postcode"}));
  if (!GetString(j, "birth_date", into.birth_date) || !GetString(j, "sex", into.sex) ||
      !GetString(j, "postcode", into.postcode)) {
    return Malformed();
  }
  return OkStatus();
}

Bytes EncodeMiPart(const wire::PatientRecord& r) {
  return ToCbor({{"v", kPartFormatVersion},
                 {"created_ms", r.created_ms},
                 {"symptoms", r.symptoms},
                 {"conditions", r.conditions},
                 {"pulse_bpm", r.pulse_bpm},
                 {"ecg_summary", r.ecg_summary},
                 {"symptoms_document", Binary(r.symptoms_document)},
                 {"symptoms_document_type", r.symptoms_document_type}});
}

Status DecodeMiPart(ByteView encoded, wire::PatientRecord& into) {
  MEDMESH_ASSIGN_OR_RETURN(
      json j, Parse(encoded, {"created_ms", "symptoms", "conditions", "pulse_bpm", "ecg_summary",
                              "symptoms_document", "symptoms_document_type"}));
  try {
    if (!GetInt(j, "created_ms", into.created_ms) || !GetStrings(j, "symptoms", into.symptoms) ||
        !GetStrings(j, "conditions", into.conditions) || !GetInt(j, "pulse_bpm", into.pulse_bpm) ||
        !GetString(j, "ecg_summary", into.ecg_summary) ||
        !GetBytes(j, "symptoms_document", into.symptoms_document) ||
        !GetString(j, "symptoms_document_type", into.symptoms_document_type)) {
      return Malformed();
    }
  } catch (const json::exception&) {
    return Malformed();  // an integer out of the field's range
  }
  return OkStatus();
}

Bytes EncodeRecordLink(const RecordLink& link) {
  return ToCbor({{"v", kPartFormatVersion},
                 {"record_id", link.record_id},
                 {"device_id", link.device_id},
                 {"ei", link.ei_snapshot_ref},
                 {"qi", link.qi_snapshot_ref},
                 {"signature", Binary(link.device_signature)}});
}

Result<RecordLink> DecodeRecordLink(ByteView encoded) {
  MEDMESH_ASSIGN_OR_RETURN(json j,
                           Parse(encoded, {"record_id", "device_id", "ei", "qi", "signature"}));
  RecordLink link;
  if (!GetString(j, "record_id", link.record_id) || !GetString(j, "device_id", link.device_id) ||
      !GetString(j, "ei", link.ei_snapshot_ref) || !GetString(j, "qi", link.qi_snapshot_ref) ||
      !GetBytes(j, "signature", link.device_signature)) {
    return Malformed();
  }
  return link;
}

}  // namespace medmesh::cloud::internal
