#include "ids/ml/classifier.h"

#include "core/bytes.h"
#include "core/env.h"
#include "crypto/keyed_hash.h"

namespace medmesh::ids::ml {
namespace {

constexpr std::size_t kMaxModelBytes = 64u << 20;
constexpr std::size_t kMaxManifestBytes = 1u << 20;

}  // namespace

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
  return LoadedModel{std::move(manifest), std::move(booster)};
}

Result<std::unique_ptr<RequestClassifier>> RequestClassifier::Load(
    const std::filesystem::path& dir) {
  MEDMESH_ASSIGN_OR_RETURN(LoadedModel loaded,
                           LoadModel(dir, "http", kHttpModelVersion, HttpFeatureSchema()));
  return std::make_unique<RequestClassifier>(std::move(loaded.manifest), std::move(loaded.booster));
}

Result<Verdict> RequestClassifier::ScoreFeatures(const std::vector<float>& features,
                                                 double threshold) const {
  MEDMESH_ASSIGN_OR_RETURN(float p, booster_->PredictOne(features));
  return Verdict{p, p >= threshold};
}

Result<Verdict> RequestClassifier::Score(const HttpRequestInput& request) const {
  return ScoreFeatures(ExtractRequestFeatures(request), manifest_.threshold);
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
                           LoadModel(dir, "flow", kFlowModelVersion, FlowFeatureSchema()));
  return std::make_unique<FlowClassifier>(std::move(loaded.manifest), std::move(loaded.booster));
}

Result<Verdict> FlowClassifier::Score(const FlowRecord& record) const {
  MEDMESH_ASSIGN_OR_RETURN(float p, booster_->PredictOne(ExtractFlowFeatures(record)));
  return Verdict{p, p >= manifest_.threshold};
}

}  // namespace medmesh::ids::ml
