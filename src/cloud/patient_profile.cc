// ThreePartStore::SealPatientProfile / OpenPatientProfile (three_part.h): a registered patient's
// profile as CBOR under the patient's EI data key, with associated data that binds it to the
// patient id, so a sealed profile copied to another account does not open.
#include <nlohmann/json.hpp>

#include "cloud/three_part.h"
#include "crypto/envelope.h"

namespace medmesh::cloud {
namespace {

using Json = nlohmann::json;

constexpr int kProfileVersion = 1;

Bytes ProfileAd(std::string_view patient_id) {
  const std::string_view label = "MedMesh patient profile v1";
  Bytes ad(label.begin(), label.end());
  ad.push_back(0);
  ad.insert(ad.end(), patient_id.begin(), patient_id.end());
  return ad;
}

Error Corrupt() { return DataLoss("the stored patient profile is damaged"); }

}  // namespace

Result<Bytes> ThreePartStore::SealPatientProfile(std::string_view patient_id,
                                                 const PatientProfile& profile) const {
  if (patient_id.empty()) return InvalidArgument("patient_id is required");
  Json j{{"v", kProfileVersion},
         {"full_name", profile.full_name},
         {"phone", profile.phone},
         {"address", profile.address},
         {"birth_date", profile.birth_date},
         {"sex", profile.sex},
         {"photo_type", profile.photo_type},
         {"photo", Json::binary(std::vector<std::uint8_t>(profile.photo))}};
  const std::vector<std::uint8_t> plain = Json::to_cbor(j);
  return ei_.Encrypt(crypto::DataKeyContext{std::string(patient_id), "ei"}, plain,
                     ProfileAd(patient_id));
}

Result<PatientProfile> ThreePartStore::OpenPatientProfile(std::string_view patient_id,
                                                          ByteView sealed) const {
  auto plain = ei_.Decrypt(crypto::DataKeyContext{std::string(patient_id), "ei"}, sealed,
                           ProfileAd(patient_id));
  if (!plain) {
    if (plain.error().code() == ErrorCode::kNotFound) return NotFound("unknown patient");
    if (crypto::IsAuthenticationFailure(plain.error())) return Corrupt();
    return plain.error();
  }
  // Authenticated bytes, but parsed without exceptions all the same.
  const Json j = Json::from_cbor(*plain, true, false);
  if (!j.is_object() || !j.contains("v") || j["v"] != kProfileVersion) return Corrupt();
  PatientProfile p;
  try {
    p.full_name = j.at("full_name").get<std::string>();
    p.phone = j.at("phone").get<std::string>();
    p.address = j.at("address").get<std::string>();
    p.birth_date = j.at("birth_date").get<std::string>();
    p.sex = j.at("sex").get<std::string>();
    p.photo_type = j.at("photo_type").get<std::string>();
    const auto& photo = j.at("photo").get_binary();
    p.photo.assign(photo.begin(), photo.end());
  } catch (const Json::exception&) {
    return Corrupt();
  }
  return p;
}

}  // namespace medmesh::cloud
