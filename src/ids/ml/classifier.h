// The two learned IDS classifiers, loaded at start from a models folder (models/ids in the
// source tree; `medmesh ... --ids-models DIR` elsewhere; docs/ids_models.md):
//
//   RequestClassifier  http-v1.ubj + http-v1.json   HTTP requests and single parameter values
//   FlowClassifier     flow-v1.ubj + flow-v1.json   NSL-KDD flow records from a network sensor
//
// Load checks the manifest (name, version, feature schema hash of this build, feature count,
// threshold in [0,1]) and the model file's BLAKE2b-256 against it, so a stale or foreign model is
// refused at start instead of scoring nonsense.
//
// Score returns the attack probability and the verdict at the manifest's operating threshold
// (chosen for a low false-positive rate; docs/ids_models.md gives the measured figures); a single
// value (ScoreValue) is judged at the manifest's value_threshold.
// WARNING: a learned score is evidence, not proof: detectors should combine it with other signals
// and never block on one score alone. The models know nothing about MedMesh's own routes.
//
// Thread safety: a loaded classifier is immutable; Score is const and safe from any number of
// threads (XGBoost in-place prediction, one XGBoost thread per call). Scoring costs a few
// microseconds per request plus feature extraction (linear in the request's length).
#pragma once

#include <filesystem>
#include <memory>
#include <string_view>

#include "core/status.h"
#include "ids/ml/booster.h"
#include "ids/ml/flow_features.h"
#include "ids/ml/http_features.h"
#include "ids/ml/model_manifest.h"

namespace medmesh::ids::ml {

inline constexpr int kHttpModelVersion = 1;
inline constexpr int kFlowModelVersion = 1;

struct Verdict {
  float probability = 0;  // P(attack) in [0,1]
  bool attack = false;    // probability >= the manifest's threshold for this kind of input
};

// Reads "<dir>/<name>-v<version>.json" and the model beside it and checks them as above.
// kNotFound if a file is missing, kDataLoss if the model's digest differs from the manifest,
// kFailedPrecondition if the manifest's name, version or schema does not match this build,
// kInvalidArgument for a malformed manifest or model.
struct LoadedModel {
  ModelManifest manifest;
  std::unique_ptr<Booster> booster;
};
Result<LoadedModel> LoadModel(const std::filesystem::path& dir, const std::string& name,
                              int version, const std::vector<std::string>& schema);

class RequestClassifier {
 public:
  static Result<std::unique_ptr<RequestClassifier>> Load(const std::filesystem::path& dir);
  // Wraps an already loaded model (training and tests).
  RequestClassifier(ModelManifest manifest, std::unique_ptr<Booster> booster)
      : manifest_(std::move(manifest)), booster_(std::move(booster)) {}

  // Scores a whole request (path, query and form body). kInternal only if XGBoost fails.
  Result<Verdict> Score(const HttpRequestInput& request) const;
  // Scores one parameter value (e.g. a JSON string field), raw or percent-encoded. `attack`
  // also requires HasAttackStructure(value), so free text without injection structures is never
  // flagged; `probability` is the model's either way.
  Result<Verdict> ScoreValue(std::string_view value) const;

  const ModelManifest& manifest() const { return manifest_; }

 private:
  Result<Verdict> ScoreFeatures(const std::vector<float>& features, double threshold) const;
  ModelManifest manifest_;
  std::unique_ptr<Booster> booster_;
};

class FlowClassifier {
 public:
  static Result<std::unique_ptr<FlowClassifier>> Load(const std::filesystem::path& dir);
  FlowClassifier(ModelManifest manifest, std::unique_ptr<Booster> booster)
      : manifest_(std::move(manifest)), booster_(std::move(booster)) {}

  // Scores one flow record (ParseKddLine parses the CSV form). kInternal only if XGBoost fails.
  Result<Verdict> Score(const FlowRecord& record) const;

  const ModelManifest& manifest() const { return manifest_; }

 private:
  ModelManifest manifest_;
  std::unique_ptr<Booster> booster_;
};

}  // namespace medmesh::ids::ml
