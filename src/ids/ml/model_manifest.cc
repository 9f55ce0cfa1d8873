#include "ids/ml/model_manifest.h"

#include <nlohmann/json.hpp>

#include "core/bytes.h"
#include "crypto/keyed_hash.h"

namespace medmesh::ids::ml {

std::string ModelFileName(const std::string& name, int version) {
  return name + "-v" + std::to_string(version) + ".ubj";
}
std::string ManifestFileName(const std::string& name, int version) {
  return name + "-v" + std::to_string(version) + ".json";
}

std::string ProfileFileName(const std::string& name, int version) {
  return name + "-v" + std::to_string(version) + ".profile.json";
}

std::string SchemaHash(const std::vector<std::string>& names) {
  std::string joined;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) joined += '\n';
    joined += names[i];
  }
  return HexEncode(crypto::Blake2b256(AsBytes(joined)));
}

std::string ManifestToJson(const ModelManifest& m) {
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const TrainingFile& f : m.training_files) {
    files.push_back({{"name", f.name}, {"blake2b256", f.blake2b256}, {"rows", f.rows}});
  }
  nlohmann::ordered_json j = {{"name", m.name},
                              {"version", m.version},
                              {"feature_schema", m.feature_schema},
                              {"feature_count", m.feature_count},
                              {"threshold", m.threshold},
                              {"value_threshold", m.value_threshold},
                              {"unprofiled_threshold", m.unprofiled_threshold},
                              {"threshold_rule", m.threshold_rule},
                              {"seed", m.seed},
                              {"rounds", m.rounds},
                              {"params", m.params},
                              {"model_blake2b256", m.model_blake2b256},
                              {"profile_blake2b256", m.profile_blake2b256},
                              {"training_files", files},
                              {"created_by", m.created_by}};
  return j.dump(2) + "\n";
}

Result<ModelManifest> ManifestFromJson(std::string_view json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return InvalidArgument("model manifest is not a JSON object");
  ModelManifest m;
  auto str = [&j](const char* key, std::string& out) -> Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_string()) {
      return InvalidArgument(std::string("model manifest: missing string ") + key);
    }
    out = it->get<std::string>();
    return OkStatus();
  };
  auto uint = [&j](const char* key, std::uint64_t& out) -> Status {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number_unsigned()) {
      return InvalidArgument(std::string("model manifest: missing non-negative integer ") + key);
    }
    out = it->get<std::uint64_t>();
    return OkStatus();
  };
  std::uint64_t version = 0, count = 0, rounds = 0;
  MEDMESH_RETURN_IF_ERROR(str("name", m.name));
  MEDMESH_RETURN_IF_ERROR(uint("version", version));
  MEDMESH_RETURN_IF_ERROR(str("feature_schema", m.feature_schema));
  MEDMESH_RETURN_IF_ERROR(uint("feature_count", count));
  MEDMESH_RETURN_IF_ERROR(str("threshold_rule", m.threshold_rule));
  MEDMESH_RETURN_IF_ERROR(uint("seed", m.seed));
  MEDMESH_RETURN_IF_ERROR(uint("rounds", rounds));
  MEDMESH_RETURN_IF_ERROR(str("params", m.params));
  MEDMESH_RETURN_IF_ERROR(str("model_blake2b256", m.model_blake2b256));
  MEDMESH_RETURN_IF_ERROR(str("created_by", m.created_by));
  for (auto [key, out] :
       {std::pair{"threshold", &m.threshold}, std::pair{"value_threshold", &m.value_threshold}}) {
    auto it = j.find(key);
    if (it == j.end() || !it->is_number()) {
      return InvalidArgument(std::string("model manifest: missing number ") + key);
    }
    *out = it->get<double>();
    if (!(*out >= 0.0 && *out <= 1.0)) {
      return InvalidArgument(std::string("model manifest: ") + key + " outside [0,1]");
    }
  }
  // Optional (absent from v1 manifests).
  m.unprofiled_threshold = m.threshold;
  if (auto it = j.find("unprofiled_threshold"); it != j.end()) {
    if (!it->is_number()) return InvalidArgument("model manifest: unprofiled_threshold");
    m.unprofiled_threshold = it->get<double>();
    if (!(m.unprofiled_threshold >= 0.0 && m.unprofiled_threshold <= 1.0)) {
      return InvalidArgument("model manifest: unprofiled_threshold outside [0,1]");
    }
  }
  if (auto it = j.find("profile_blake2b256"); it != j.end()) {
    if (!it->is_string()) return InvalidArgument("model manifest: profile_blake2b256");
    m.profile_blake2b256 = it->get<std::string>();
  }
  if (version > 1000000 || rounds > 1000000)
    return InvalidArgument("model manifest: version or rounds out of range");
  m.version = static_cast<int>(version);
  m.rounds = static_cast<int>(rounds);
  m.feature_count = static_cast<std::size_t>(count);
  auto files = j.find("training_files");
  if (files == j.end() || !files->is_array()) {
    return InvalidArgument("model manifest: missing array training_files");
  }
  for (const auto& f : *files) {
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() ||
        !f.contains("blake2b256") || !f["blake2b256"].is_string() || !f.contains("rows") ||
        !f["rows"].is_number_unsigned()) {
      return InvalidArgument("model manifest: malformed training file entry");
    }
    m.training_files.push_back({f["name"].get<std::string>(), f["blake2b256"].get<std::string>(),
                                f["rows"].get<std::uint64_t>()});
  }
  return m;
}

}  // namespace medmesh::ids::ml
