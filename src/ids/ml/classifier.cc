#include "ids/ml/classifier.h"

#include <algorithm>
#include <initializer_list>
#include <span>

#include "core/bytes.h"
#include "core/env.h"
#include "crypto/keyed_hash.h"

namespace medmesh::ids::ml {
namespace {

constexpr std::size_t kMaxModelBytes = 64u << 20;
constexpr std::size_t kMaxManifestBytes = 1u << 20;

std::vector<std::string> Prefix(const std::vector<std::string>& names, std::size_t n) {
  return {names.begin(), names.begin() + static_cast<std::ptrdiff_t>(std::min(n, names.size()))};
}

// Loads the newest of `versions` (descending) whose manifest exists.
template <typename SchemaFn>
Result<LoadedModel> LoadNewest(const std::filesystem::path& dir, const std::string& name,
                               std::initializer_list<int> versions, SchemaFn schema) {
  for (int version : versions) {
    auto loaded = LoadModel(dir, name, version, schema(version));
    if (loaded || loaded.error().code() != ErrorCode::kNotFound) return loaded;
  }
  return NotFound("no " + name + " model in the models folder");
}

}  // namespace

std::vector<std::string> HttpSchemaForVersion(int version) {
  return version == 1 ? Prefix(HttpFeatureSchema(), kHttpV1FeatureCount) : HttpFeatureSchema();
}
std::vector<std::string> FlowSchemaForVersion(int version) {
  return version == 1 ? Prefix(FlowFeatureSchema(), kFlowV1FeatureCount) : FlowFeatureSchema();
}

Result<LoadedModel> LoadModel(const std::filesystem::path& dir, const std::string& name,
                              int version, const std::vector<std::string>& schema) {
  Env& env = Env::Default();
  MEDMESH_ASSIGN_OR_RETURN(
      Bytes manifest_bytes,
      env.ReadSmallFile(dir / ManifestFileName(name, version), kMaxManifestBytes));
  MEDMESH_ASSIGN_OR_RETURN(ModelManifest manifest, ManifestFromJson(AsStringView(manifest_bytes)));
  if (manifest.name != name || manifest.version != version) {
    return FailedPrecondition("model manifest " + ManifestFileName(name, version) +
                              " names another model or version");
  }
  if (manifest.feature_schema != SchemaHash(schema) || manifest.feature_count != schema.size()) {
    return FailedPrecondition("model " + name +
                              " was trained on another feature layout; retrain "
                              "it with `medmesh ids train`");
  }
  MEDMESH_ASSIGN_OR_RETURN(Bytes model,
                           env.ReadSmallFile(dir / ModelFileName(name, version), kMaxModelBytes));
  if (HexEncode(crypto::Blake2b256(model)) != manifest.model_blake2b256) {
    return DataLoss("model file " + ModelFileName(name, version) +
                    " does not match the digest in its manifest");
  }
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<Booster> booster, Booster::Load(model, schema.size()));
  std::string profile;
  if (!manifest.profile_blake2b256.empty()) {
    auto bytes = env.ReadSmallFile(dir / ProfileFileName(name, version), kMaxModelBytes);
    if (!bytes) {
      // Not kNotFound: a v2 model without its profile must not fall back to v1 silently.
      return FailedPrecondition("model " + name + " v" + std::to_string(version) +
                                " names a profile that cannot be read");
    }
    if (HexEncode(crypto::Blake2b256(*bytes)) != manifest.profile_blake2b256) {
      return DataLoss("profile file " + ProfileFileName(name, version) +
                      " does not match the digest in its manifest");
    }
    profile = std::string(AsStringView(*bytes));
  }
  return LoadedModel{std::move(manifest), std::move(booster), std::move(profile)};
}

Result<std::unique_ptr<RequestClassifier>> RequestClassifier::Load(
    const std::filesystem::path& dir) {
  MEDMESH_ASSIGN_OR_RETURN(LoadedModel loaded,
                           LoadNewest(dir, "http", {kHttpModelVersion, 1}, HttpSchemaForVersion));
  std::unique_ptr<ParamProfile> profile;
  if (!loaded.profile.empty()) {
    MEDMESH_ASSIGN_OR_RETURN(ParamProfile parsed, ParamProfile::FromJson(loaded.profile));
    profile = std::make_unique<ParamProfile>(std::move(parsed));
  }
  return std::make_unique<RequestClassifier>(std::move(loaded.manifest), std::move(loaded.booster),
                                             std::move(profile));
}

Result<Verdict> RequestClassifier::ScoreFeatures(const std::vector<float>& features,
                                                 double threshold) const {
  // A v1 model reads the prefix of the current layout (its own layout, unchanged).
  MEDMESH_ASSIGN_OR_RETURN(float p, booster_->PredictOne(std::span<const float>(features).first(
                                        std::min(features.size(), booster_->feature_count()))));
  return Verdict{p, p >= threshold};
}

Result<Verdict> RequestClassifier::Score(const HttpRequestInput& request) const {
  const bool profiled = profile_ != nullptr && profile_->InScope(request.path);
  return ScoreFeatures(ExtractRequestFeatures(request, profile_.get()),
                       profiled ? manifest_.threshold : manifest_.unprofiled_threshold);
}

Result<Verdict> RequestClassifier::ScoreValue(std::string_view value) const {
  MEDMESH_ASSIGN_OR_RETURN(Verdict verdict, ScoreFeatures(ExtractValueRequestFeatures(value),
                                                          manifest_.value_threshold));
  // Prose has the shape of many injections (long, spaced, punctuated) but none of their
  // structures: a value without one is never flagged (docs/ids_models.md, ADR 0030).
  verdict.attack = verdict.attack && HasAttackStructure(value);
  return verdict;
}

Result<std::unique_ptr<FlowClassifier>> FlowClassifier::Load(const std::filesystem::path& dir) {
  MEDMESH_ASSIGN_OR_RETURN(LoadedModel loaded,
                           LoadNewest(dir, "flow", {kFlowModelVersion, 1}, FlowSchemaForVersion));
  std::unique_ptr<FlowProfile> profile;
  if (!loaded.profile.empty()) {
    MEDMESH_ASSIGN_OR_RETURN(FlowProfile parsed, FlowProfile::FromJson(loaded.profile));
    profile = std::make_unique<FlowProfile>(std::move(parsed));
  }
  return std::make_unique<FlowClassifier>(std::move(loaded.manifest), std::move(loaded.booster),
                                          std::move(profile));
}

Result<Verdict> FlowClassifier::Score(const FlowRecord& record) const {
  const std::vector<float> features = ExtractFlowFeatures(record, profile_.get());
  MEDMESH_ASSIGN_OR_RETURN(float p, booster_->PredictOne(std::span<const float>(features).first(
                                        std::min(features.size(), booster_->feature_count()))));
  return Verdict{p, p >= manifest_.threshold};
}

}  // namespace medmesh::ids::ml
