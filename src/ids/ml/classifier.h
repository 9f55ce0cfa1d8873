// The two learned IDS classifiers, loaded at start from a models folder (models/ids in the
// source tree; `medmesh ... --ids-models DIR` elsewhere; docs/ids_models.md):
//
//   RequestClassifier  http-v2.ubj + http-v2.json + http-v2.profile.json
//                                                  HTTP requests and single parameter values
//   FlowClassifier     flow-v2.ubj + flow-v2.json + flow-v2.profile.json
//                                                  NSL-KDD flow records from a network sensor
//
// Load picks the newest version present in the folder that this build can score: v2, else v1
// (a v2 feature vector starts with the v1 layout, so a v1 model scores its prefix). The http v2
// model comes with the benign parameter profile of the application it was trained on
// (param_profile.h): requests inside the profile's scope are judged at `threshold`, requests
// outside it (another application, e.g. MedMesh's own routes) at `unprofiled_threshold`.
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
#include "ids/ml/flow_profile.h"
#include "ids/ml/http_features.h"
#include "ids/ml/model_manifest.h"
#include "ids/ml/param_profile.h"

namespace medmesh::ids::ml {

// The versions this build trains; Load also accepts version 1 of each.
inline constexpr int kHttpModelVersion = 2;
inline constexpr int kFlowModelVersion = 2;

// The feature names a model of `version` expects (a prefix of the current schema for v1).
std::vector<std::string> HttpSchemaForVersion(int version);
std::vector<std::string> FlowSchemaForVersion(int version);

struct Verdict {
  float probability = 0;  // P(attack) in [0,1]
  bool attack = false;    // probability >= the manifest's threshold for this kind of input
};

// Reads "<dir>/<name>-v<version>.json" and the model beside it and checks them as above.
// kNotFound if a file is missing, kDataLoss if the model's digest differs from the manifest,
// kFailedPrecondition if the manifest's name, version or schema does not match this build,
// kInvalidArgument for a malformed manifest, model or profile. A manifest naming a profile
// (profile_blake2b256) needs "<name>-v<version>.profile.json" with that digest (kDataLoss).
struct LoadedModel {
  ModelManifest manifest;
  std::unique_ptr<Booster> booster;
  std::string profile;  // the profile's JSON, digest checked ("" without one)
};
Result<LoadedModel> LoadModel(const std::filesystem::path& dir, const std::string& name,
                              int version, const std::vector<std::string>& schema);

class RequestClassifier {
 public:
  static Result<std::unique_ptr<RequestClassifier>> Load(const std::filesystem::path& dir);
  // Wraps an already loaded model (training and tests).
  RequestClassifier(ModelManifest manifest, std::unique_ptr<Booster> booster,
                    std::unique_ptr<ParamProfile> profile = nullptr)
      : manifest_(std::move(manifest)),
        booster_(std::move(booster)),
        profile_(std::move(profile)) {}

  // Scores a whole request (path, query and form body) at `threshold` if the profile knows its
  // path's directory, else at `unprofiled_threshold`. kInternal only if XGBoost fails.
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
  std::unique_ptr<ParamProfile> profile_;
};

class FlowClassifier {
 public:
  static Result<std::unique_ptr<FlowClassifier>> Load(const std::filesystem::path& dir);
  FlowClassifier(ModelManifest manifest, std::unique_ptr<Booster> booster,
                 std::unique_ptr<FlowProfile> profile = nullptr)
      : manifest_(std::move(manifest)),
        booster_(std::move(booster)),
        profile_(std::move(profile)) {}

  // Scores one flow record (ParseKddLine parses the CSV form). kInternal only if XGBoost fails.
  Result<Verdict> Score(const FlowRecord& record) const;

  const ModelManifest& manifest() const { return manifest_; }

 private:
  ModelManifest manifest_;
  std::unique_ptr<Booster> booster_;
  std::unique_ptr<FlowProfile> profile_;
};

}  // namespace medmesh::ids::ml
