// Training and honest cross-validation of the two IDS models (docs/ids_models.md).
//
// Training reads only the datasets folder (../shared/datasets by default), is seeded and
// reproducible (same files, seed and options: byte-identical model), and returns the model with
// its manifest. The operating threshold is calibrated on a *group* hold-out, never on rows of
// groups the model trained on:
//   http  hold out 20% of the distinct benign CSIC requests (by content: CSIC repeats requests)
//         and 20% of the httpparams benign values; three thresholds, for profiled requests, for
//         single values and for unprofiled requests, each the lowest that keeps the
//         false-positive rate on its held-out benign rows at or under `http_max_fpr`; then
//         retrain on everything.
//         v2 (param_profile.h): the profile is learned from the benign CSIC training requests.
//         A benign training request gets its profile features out of fold (from a profile of
//         the other four fifths of the benign requests, by content), so that they look like those
//         of an unseen benign request; an anomalous one from the whole profile. Every CSIC
//         request also trains a second time with the profile features missing, so that the one
//         model also judges requests outside the profile's scope.
//   flow  hold out 20% of the normal records and one attack type in five; threshold at
//         `flow_max_fpr` on the held-out normal records; then retrain on everything.
//         v2 (flow_profile.h): the normal-flow profile is learned from the normal training
//         records. Every record (normal or attack, training or test) is scored with a profile
//         of four fifths of them, the fifth its index hashes to left out (so a normal training
//         record never sees itself); the stored profile is one such four-fifths profile, so
//         rarity, which depends on the profile's size, means the same everywhere.
//
// Cross-validation holds out whole groups, because the judged test sets contain parameters and
// attack types absent from training (a random split of one file would say ~99% and mean nothing):
//   http/csic        k folds over CSIC *parameter names*: a request is in the test fold if any of
//                    its parameter names (or, without parameters, its path) hashes to the fold;
//                    the model trains on CSIC requests without such a name plus the httpparams
//                    attacks (httpparams' benign values were taken from CSIC requests, so they
//                    could carry held-out values and are left out); or k folds over request
//                    contents (CsicSplit below). The profile is rebuilt from each training part.
//   http/httpparams  one fold per *attack type* (sqli, xss, cmdi, path-traversal): that type plus
//                    a quarter of the benign values are held out; the rest and all CSIC train.
//   flow             one fold per *attack family* (dos, probe, r2l, u2r) or per attack type:
//                    that family plus 1/k of the normal records are held out.
// Each fold reports the metrics at the fold's own operating threshold (calibrated on the
// training part, as above), AUC, and the detection rate at 0.5% false positives on the held-out
// benign rows (an ROC point).
// Thread safety: functions are reentrant; they use `options.nthread` XGBoost threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "ids/ml/booster.h"
#include "ids/ml/datasets.h"
#include "ids/ml/metrics.h"
#include "ids/ml/model_manifest.h"

namespace medmesh::ids::ml {

// progress(stage, done, total): stage is a short label ("features", "train", "fold 2/5").
using ProgressFn = std::function<void(const std::string&, int, int)>;

struct ModelOptions {
  TrainOptions http;
  TrainOptions flow;
  double http_max_fpr = 0.005;
  double flow_max_fpr = 0.02;
  // Flow: weight attack rows so that rare attack types count more (weight ∝ count^-power,
  // normalised so that attacks weigh as much in total as before). 0 = plain.
  double flow_type_weight_power = 0.5;
  std::uint64_t seed = 20101;
  int cv_folds = 5;
  // Feature set (docs/ids_models.md "v1 vs v2"): v1 = the first kHttpV1FeatureCount /
  // kFlowV1FeatureCount features and no parameter profile, to reproduce the v1 figures with this
  // code; v2 = everything.
  bool v1_features = false;
};
ModelOptions DefaultModelOptions();

// Features and labels of the HTTP training material, with each row's grouping keys.
struct HttpData {
  DenseMatrix x;  // profile columns NaN: each fold fills them from its own training rows
  std::vector<LabeledRequest> requests;  // the CSIC rows' requests (rows 0..size-1)
  std::vector<int> labels;
  std::vector<int> source;  // 0 CSIC request (profiled), 1 httpparams value, 2 CSIC request
                            // scored without a profile (the copies training adds)
  std::vector<std::vector<std::string>> names;  // CSIC: decoded parameter names (or {path})
  std::vector<std::string> attack_type;         // httpparams: norm/sqli/...; CSIC: "csic"
  std::vector<std::uint64_t> value_hash;        // hash of the payload / whole request
  // The group a row is held out with (calibration, profile parts, content folds): its
  // value_hash, except for a benign CSIC request of the application's fixed surface (sent
  // verbatim at least 10 times: pages, images, fixed forms, which any benign traffic sends
  // again), which is its own group. Calibration counts each distinct value_hash once.
  std::vector<std::uint64_t> group_hash;
  std::vector<bool> flaggable;  // CSIC: true; httpparams: HasAttackStructure (ScoreValue's gate)
};
HttpData BuildHttpData(const std::vector<LabeledRequest>& csic,
                       const std::vector<LabeledValue>& values, const ProgressFn& progress);

struct FlowData {
  DenseMatrix x;  // rarity columns NaN: each training fills them (flow_profile.h)
  std::vector<FlowRecord> records;
  std::vector<int> labels;
  std::vector<std::string> attack;  // label name ("normal", "neptune", ...)
};
FlowData BuildFlowData(const std::vector<LabeledFlow>& flows);

struct FoldResult {
  std::string name;
  std::size_t train_rows = 0;
  BinaryMetrics at_threshold;  // at the operating threshold calibrated on the training part
  double threshold = 0;
  double detection_at_half_percent_fpr = 0;
};
std::string FormatFolds(const std::vector<FoldResult>& folds);

// How the CSIC folds are made and scored:
//   kNames         leave-parameter-names-out; held-out requests scored without the profile (an
//                  application whose parameters the model never saw: v1's CV, comparable).
//   kNamesProfiled the same folds, scored with the profile of the training part (new parameters
//                  on endpoints the profile knows: an unknown name is then itself an anomaly).
//   kContent       5 folds over distinct request contents (method left out, so GET/POST twins
//                  stay together; the benign fixed surface spread one by one, as
//                  group_hash), scored with the training part's profile: known application,
//                  unseen requests, which is CSIC's own test condition.
enum class CsicSplit { kNames, kNamesProfiled, kContent };
Result<std::vector<FoldResult>> CrossValidateHttpCsic(const HttpData& data,
                                                      const ModelOptions& options, CsicSplit split,
                                                      const ProgressFn& progress);
Result<std::vector<FoldResult>> CrossValidateHttpParams(const HttpData& data,
                                                        const ModelOptions& options,
                                                        const ProgressFn& progress);
// by_family: one fold per family; otherwise one per attack type (22 folds on KDDTrain+).
Result<std::vector<FoldResult>> CrossValidateFlow(const FlowData& data, const ModelOptions& options,
                                                  bool by_family, const ProgressFn& progress);

struct TrainedModel {
  ModelManifest manifest;
  Bytes model;          // UBJSON
  std::string profile;  // http v2: the parameter profile's JSON (ProfileFileName), else ""
  std::unique_ptr<Booster> booster;
};

// The standard training files under `datasets_dir` (../shared/datasets layout).
struct DatasetFiles {
  std::filesystem::path csic_normal, csic_anomalous, httpparams, nsl_kdd;
};
DatasetFiles StandardDatasetFiles(const std::filesystem::path& datasets_dir);

Result<TrainedModel> TrainHttpModel(const std::filesystem::path& datasets_dir,
                                    const ModelOptions& options, const ProgressFn& progress);
Result<TrainedModel> TrainFlowModel(const std::filesystem::path& datasets_dir,
                                    const ModelOptions& options, const ProgressFn& progress);

// Writes "<name>-v<version>.ubj", ".json" and, with a profile, ".profile.json" into `dir`
// (created if missing), atomically.
Status WriteModel(const std::filesystem::path& dir, const TrainedModel& model);

}  // namespace medmesh::ids::ml
