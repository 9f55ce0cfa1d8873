// The manifest that travels with every stored model (models/ids/<name>-v<version>.json beside
// <name>-v<version>.ubj): what the model is, which feature layout it expects, the operating
// threshold, and how it was made (training files and their BLAKE2b-256, seed, parameters), so a
// model is reproducible and is never applied to vectors of another layout.
// Thread safety: value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace medmesh::ids::ml {

struct TrainingFile {
  std::string name;  // the file name relative to the datasets folder, e.g. "nsl-kdd/KDDTrain+.txt"
  std::string blake2b256;  // hex digest of the file as stored (compressed if .gz)
  std::uint64_t rows = 0;  // rows (records, requests or values) taken from it
};

struct ModelManifest {
  std::string name;            // "http" or "flow"
  int version = 1;             // bumped with any change of features or training recipe
  std::string feature_schema;  // hex BLAKE2b-256 of the feature names joined by '\n'
  std::size_t feature_count = 0;
  double threshold = 0.5;  // probability at or above which a sample is an attack
  // http only: the threshold for single parameter values (ScoreValue), calibrated apart because
  // a lone value and a whole request differ in base rates. Equal to `threshold` for flow.
  double value_threshold = 0.5;
  // http v2: the threshold for requests outside the parameter profile's scope (an application
  // the profile does not know); `threshold` is then the one for profiled requests. Absent from
  // v1 manifests, where it equals `threshold`.
  double unprofiled_threshold = 0.5;
  // http v2: hex BLAKE2b-256 of "<name>-v<version>.profile.json" (param_profile.h); "" = none.
  std::string profile_blake2b256;
  std::string threshold_rule;  // how the threshold was chosen (human-readable)
  std::uint64_t seed = 0;
  int rounds = 0;
  std::string params;            // the XGBoost parameters, "k=v,k=v"
  std::string model_blake2b256;  // hex digest of the .ubj file
  std::vector<TrainingFile> training_files;
  std::string created_by;  // e.g. "medmesh ids train"
};

// The file names of model `name` version `version`: "<name>-v<version>.ubj" / ".json".
std::string ModelFileName(const std::string& name, int version);
std::string ManifestFileName(const std::string& name, int version);
std::string ProfileFileName(const std::string& name, int version);  // "<name>-v<n>.profile.json"

// Hex BLAKE2b-256 of `names` joined by '\n' (the schema hash).
std::string SchemaHash(const std::vector<std::string>& names);

std::string ManifestToJson(const ModelManifest& manifest);
// kInvalidArgument for malformed JSON, a missing or mistyped field, or a threshold outside [0,1].
Result<ModelManifest> ManifestFromJson(std::string_view json);

}  // namespace medmesh::ids::ml
