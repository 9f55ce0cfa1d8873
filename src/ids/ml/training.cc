#include "ids/ml/training.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>

#include "core/env.h"
#include "crypto/keyed_hash.h"
#include "ids/ml/classifier.h"
#include "ids/ml/flow_features.h"
#include "ids/ml/flow_profile.h"
#include "ids/ml/http_features.h"
#include "ids/ml/param_profile.h"
#include "ids/ml/stable_hash.h"

namespace medmesh::ids::ml {
namespace {

std::string Salt(std::uint64_t seed, std::string_view purpose) {
  return std::to_string(seed) + ":" + std::string(purpose);
}

DenseMatrix Rows(const DenseMatrix& x, const std::vector<std::size_t>& rows) {
  DenseMatrix out;
  out.cols = x.cols;
  out.rows = rows.size();
  out.values.reserve(rows.size() * x.cols);
  for (std::size_t r : rows) {
    const auto row = x.Row(r);
    out.values.insert(out.values.end(), row.begin(), row.end());
  }
  return out;
}

template <typename T>
std::vector<T> Pick(const std::vector<T>& v, const std::vector<std::size_t>& rows) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (std::size_t r : rows) out.push_back(v[r]);
  return out;
}

std::vector<float> AsFloat(const std::vector<int>& v) { return {v.begin(), v.end()}; }

// The first `width` columns of `x`.
DenseMatrix KeepColumns(const DenseMatrix& x, std::size_t width) {
  if (width >= x.cols) return x;
  DenseMatrix out;
  out.cols = width;
  out.rows = x.rows;
  out.values.reserve(x.rows * width);
  for (std::size_t r = 0; r < x.rows; ++r) {
    const auto row = x.Row(r);
    out.values.insert(out.values.end(), row.begin(),
                      row.begin() + static_cast<std::ptrdiff_t>(width));
  }
  return out;
}

HttpRequestInput AsInput(const LabeledRequest& r) { return {r.method, r.path, r.query, r.body}; }

// A CSIC request's content without its method: CSIC's anomalies often come as GET/POST twins.
std::uint64_t ContentHash(const LabeledRequest& r) {
  return StableHash("content", r.path + "?" + r.query + "\n" + r.body);
}

// HTTP data made ready for one training (training.h, "v2"): profile columns filled, unprofiled
// copies of the CSIC rows appended (row `r`'s copy is `copy_offset + r`).
struct PreparedHttp {
  HttpData data;
  ParamProfile profile;  // of all benign CSIC rows in `train`
  std::size_t copy_offset = 0;
  bool copies = false;
  std::size_t Unprofiled(std::size_t r) const { return copies ? copy_offset + r : r; }
};

constexpr int kProfileParts = 5;

PreparedHttp PrepareHttp(const HttpData& data, const std::vector<std::size_t>& train,
                         const std::vector<std::size_t>& profiled_test,
                         const ModelOptions& options) {
  PreparedHttp out;
  out.data = data;
  if (options.v1_features) {
    out.data.x = KeepColumns(data.x, kHttpV1FeatureCount);
    return out;
  }
  const std::string salt = Salt(options.seed, "http-profile");
  auto part = [&](std::size_t r) {
    return static_cast<int>(StableHash(salt, std::to_string(data.group_hash[r])) % kProfileParts);
  };
  std::vector<ParamProfile> without(kProfileParts);  // without[k]: all benign rows not in part k
  for (std::size_t r : train) {
    if (data.source[r] != 0 || data.labels[r] != 0) continue;
    const HttpRequestInput input = AsInput(data.requests[r]);
    out.profile.AddBenign(input);
    for (int k = 0; k < kProfileParts; ++k) {
      if (k != part(r)) without[static_cast<std::size_t>(k)].AddBenign(input);
    }
  }
  const std::size_t column = HttpFeatureSchema().size() - kProfileFeatureCount;
  auto fill = [&](std::size_t r, const ParamProfile& profile) {
    const auto f = profile.Features(AsInput(data.requests[r]));
    std::copy(
        f.begin(), f.end(),
        out.data.x.values.begin() + static_cast<std::ptrdiff_t>(r * out.data.x.cols + column));
  };
  for (std::size_t r : train) {
    if (data.source[r] != 0) continue;
    fill(r, data.labels[r] == 0 ? without[static_cast<std::size_t>(part(r))] : out.profile);
  }
  for (std::size_t r : profiled_test) fill(r, out.profile);
  // The unprofiled copies (the original rows' profile columns are NaN).
  out.copies = true;
  out.copy_offset = data.labels.size();
  for (std::size_t r = 0; r < data.requests.size(); ++r) {
    out.data.x.AppendRow(data.x.Row(r));
    out.data.labels.push_back(data.labels[r]);
    out.data.source.push_back(2);
    out.data.names.push_back(data.names[r]);
    out.data.attack_type.push_back(data.attack_type[r]);
    out.data.value_hash.push_back(data.value_hash[r]);
    out.data.group_hash.push_back(data.group_hash[r]);
    out.data.flaggable.push_back(data.flaggable[r]);
  }
  return out;
}

// The flow matrix for one training: rarity columns filled from the normal records of `train`.
// Every row, whatever its label and whether it trains or tests, is scored with a profile of
// four fifths of those records: the fifth its own index hashes to is left out (for a normal
// training record, the fifth holding itself). Rarity depends on the profile's size, so rows
// scored with profiles of different sizes by label would leak the label (a first version gave
// normal records the 4/5 profile and attacks the whole one, and learned exactly that). The
// stored profile is the first of the five, so serving sees the same size too.
DenseMatrix PrepareFlow(const FlowData& data, const std::vector<std::size_t>& train,
                        const ModelOptions& options, FlowProfile* profile_out) {
  if (options.v1_features) return KeepColumns(data.x, kFlowV1FeatureCount);
  const std::string salt = Salt(options.seed, "flow-profile");
  auto part = [&](std::size_t r) {
    return static_cast<std::size_t>(StableHash(salt, std::to_string(r)) % kProfileParts);
  };
  std::vector<FlowProfile> without(kProfileParts);
  for (std::size_t r : train) {
    if (data.labels[r] != 0) continue;
    for (std::size_t k = 0; k < static_cast<std::size_t>(kProfileParts); ++k) {
      if (k != part(r)) without[k].AddNormal(data.records[r]);
    }
  }
  DenseMatrix x = data.x;
  const std::size_t column = x.cols - kFlowProfileFeatureCount;
  for (std::size_t r = 0; r < x.rows; ++r) {
    const auto f = without[part(r)].Features(data.records[r]);
    std::copy(f.begin(), f.end(),
              x.values.begin() + static_cast<std::ptrdiff_t>(r * x.cols + column));
  }
  if (profile_out != nullptr) *profile_out = std::move(without[0]);
  return x;
}

// `train` plus the unprofiled copies of its CSIC rows.
std::vector<std::size_t> WithCopies(const PreparedHttp& prepared,
                                    const std::vector<std::size_t>& train) {
  std::vector<std::size_t> out = train;
  if (!prepared.copies) return out;
  for (std::size_t r : train) {
    if (prepared.data.source[r] == 0) out.push_back(prepared.Unprofiled(r));
  }
  return out;
}

struct Calibrated {
  std::unique_ptr<Booster> booster;
  std::vector<double> thresholds;  // one per calibration group
};

// The calibration group of a row: 0 for whole requests and flow records, 1 for single values.
using GroupFn = std::function<int(std::size_t)>;

// Trains on `rows` and calibrates the threshold on a group hold-out (see training.h): a model
// trained without the rows where `held_out` is true scores their benign rows, the threshold keeps
// their false-positive rate at most `max_fpr`; then the model is trained again on all of `rows`.
// With `distinct`, benign rows of one key count once (CSIC repeats its fixed requests hundreds of
// times: counted by copies, they would set the threshold for the rest).
using KeyFn = std::function<std::uint64_t(std::size_t)>;
Result<Calibrated> TrainCalibrated(const DenseMatrix& x, const std::vector<int>& labels,
                                   const std::vector<float>& weights,
                                   const std::vector<std::size_t>& rows,
                                   const std::function<bool(std::size_t)>& held_out,
                                   const GroupFn& group, int groups, double max_fpr,
                                   const TrainOptions& options, const std::string& stage,
                                   const ProgressFn& progress, const KeyFn& distinct = nullptr) {
  std::vector<std::size_t> inner, calibration;
  for (std::size_t r : rows) {
    if (!held_out(r)) {
      inner.push_back(r);
    } else if (labels[r] == 0) {
      calibration.push_back(r);
    }
  }
  if (inner.empty() || calibration.empty()) return InvalidArgument("calibration split is empty");
  auto report = [&](const std::string& what) {
    return [&progress, what](int done, int total) {
      if (progress) progress(what, done, total);
    };
  };
  const std::vector<float> inner_weights =
      weights.empty() ? std::vector<float>() : Pick(weights, inner);
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<Booster> probe,
                           Booster::Train(Rows(x, inner), AsFloat(Pick(labels, inner)),
                                          inner_weights, options, report(stage + " calibrate")));
  MEDMESH_ASSIGN_OR_RETURN(std::vector<float> scores, probe->Predict(Rows(x, calibration)));
  Calibrated out;
  for (int g = 0; g < groups; ++g) {
    std::vector<float> benign;
    std::set<std::uint64_t> seen;
    for (std::size_t i = 0; i < calibration.size(); ++i) {
      if (group(calibration[i]) != g) continue;
      if (distinct && !seen.insert(distinct(calibration[i])).second) continue;
      benign.push_back(scores[i]);
    }
    if (benign.empty()) {
      // No rows of this kind in the training part (the CSIC folds train on no single values):
      // nothing to calibrate, and nothing of this kind is tested either.
      if (g == 0) return InvalidArgument("no held-out benign rows to calibrate on");
      out.thresholds.push_back(out.thresholds[0]);
      continue;
    }
    out.thresholds.push_back(ThresholdForFpr(benign, std::vector<int>(benign.size(), 0), max_fpr));
  }
  const std::vector<float> all_weights =
      weights.empty() ? std::vector<float>() : Pick(weights, rows);
  MEDMESH_ASSIGN_OR_RETURN(
      out.booster, Booster::Train(Rows(x, rows), AsFloat(Pick(labels, rows)), all_weights, options,
                                  report(stage + " train")));
  return out;
}

Result<FoldResult> RunFold(const std::string& name, const DenseMatrix& x,
                           const std::vector<int>& labels, const std::vector<float>& weights,
                           const std::vector<std::size_t>& train,
                           const std::vector<std::size_t>& test,
                           const std::function<bool(std::size_t)>& held_out, const GroupFn& group,
                           int groups, double max_fpr, const TrainOptions& options,
                           const ProgressFn& progress,
                           const std::function<bool(std::size_t)>& flaggable = nullptr,
                           const KeyFn& distinct = nullptr) {
  MEDMESH_ASSIGN_OR_RETURN(
      Calibrated model, TrainCalibrated(x, labels, weights, train, held_out, group, groups, max_fpr,
                                        options, name, progress, distinct));
  MEDMESH_ASSIGN_OR_RETURN(std::vector<float> scores, model.booster->Predict(Rows(x, test)));
  const std::vector<int> test_labels = Pick(labels, test);
  FoldResult fold;
  fold.name = name;
  fold.train_rows = train.size();
  // Each test row is judged at its group's threshold; the fold reports the threshold of the
  // group most of its rows belong to.
  ConfusionMatrix cm;
  std::vector<std::size_t> per_group(static_cast<std::size_t>(groups), 0);
  for (std::size_t i = 0; i < test.size(); ++i) {
    const int g = group(test[i]);
    ++per_group[static_cast<std::size_t>(g)];
    const bool predicted = scores[i] >= model.thresholds[static_cast<std::size_t>(g)] &&
                           (!flaggable || flaggable(test[i]));
    if (test_labels[i] == 1) {
      (predicted ? cm.tp : cm.fn) += 1;
    } else {
      (predicted ? cm.fp : cm.tn) += 1;
    }
  }
  const auto main_group = std::max_element(per_group.begin(), per_group.end()) - per_group.begin();
  fold.threshold = model.thresholds[static_cast<std::size_t>(main_group)];
  fold.at_threshold = MetricsFrom(cm);
  fold.at_threshold.auc = RocAuc(scores, test_labels);
  const double t = ThresholdForFpr(scores, test_labels, 0.005);
  fold.detection_at_half_percent_fpr = MetricsFrom(Confuse(scores, test_labels, t)).detection_rate;
  return fold;
}

// The HTTP calibration hold-out of training.h.
std::function<bool(std::size_t)> HttpHeldOut(const HttpData& data, std::uint64_t seed) {
  const std::string salt = Salt(seed, "http-calibration");
  // Benign rows only, grouped by their whole content (CSIC repeats identical requests, which
  // would otherwise sit on both sides and pull the threshold down).
  return [&data, salt](std::size_t r) {
    return data.labels[r] == 0 && StableHash(salt, std::to_string(data.group_hash[r])) % 5 == 0;
  };
}

// Calibration counts each distinct benign request or value once.
KeyFn HttpDistinct(const HttpData& data) {
  return [&data](std::size_t r) { return data.value_hash[r]; };
}

// 0 profiled request, 1 single value, 2 unprofiled request.
GroupFn HttpGroup(const HttpData& data) {
  return [&data](std::size_t r) { return data.source[r]; };
}
constexpr int kHttpGroups = 3;

GroupFn SingleGroup() {
  return [](std::size_t) { return 0; };
}

std::function<bool(std::size_t)> FlowHeldOut(const FlowData& data, std::uint64_t seed) {
  const std::string salt = Salt(seed, "flow-calibration");
  return [&data, salt](std::size_t r) {
    if (data.labels[r] == 0) return StableHash(salt, std::to_string(r)) % 5 == 0;
    return StableHash(salt, data.attack[r]) % 5 == 0;
  };
}

// Attack rows weighted ∝ count(type)^-power, normalised to the attacks' total count.
std::vector<float> FlowWeights(const FlowData& data, const std::vector<std::size_t>& rows,
                               double power) {
  std::vector<float> weights(data.labels.size(), 1.0f);
  if (power <= 0) return weights;
  std::map<std::string, std::size_t> counts;
  std::size_t attacks = 0;
  for (std::size_t r : rows) {
    if (data.labels[r] == 1) {
      ++counts[data.attack[r]];
      ++attacks;
    }
  }
  double total = 0;
  for (std::size_t r : rows) {
    if (data.labels[r] == 1) total += std::pow(static_cast<double>(counts[data.attack[r]]), -power);
  }
  if (total <= 0) return weights;
  const double scale = static_cast<double>(attacks) / total;
  for (std::size_t r : rows) {
    if (data.labels[r] == 1) {
      weights[r] =
          static_cast<float>(scale * std::pow(static_cast<double>(counts[data.attack[r]]), -power));
    }
  }
  return weights;
}

ModelManifest BaseManifest(const std::string& name, int version,
                           const std::vector<std::string>& schema, const TrainOptions& t,
                           std::uint64_t seed) {
  ModelManifest m;
  m.name = name;
  m.version = version;
  m.feature_schema = SchemaHash(schema);
  m.feature_count = schema.size();
  m.seed = seed;
  m.rounds = t.rounds;
  m.params = t.ParamString();
  m.created_by = "medmesh ids train";
  return m;
}

Result<TrainingFile> Describe(const std::filesystem::path& datasets_dir,
                              const std::filesystem::path& file, std::uint64_t rows) {
  MEDMESH_ASSIGN_OR_RETURN(std::string digest, FileDigest(file));
  return TrainingFile{std::filesystem::relative(file, datasets_dir).generic_string(), digest, rows};
}

}  // namespace

ModelOptions DefaultModelOptions() {
  ModelOptions o;
  o.http.rounds = 200;
  o.http.max_depth = 6;
  o.http.eta = 0.1;
  o.flow.rounds = 150;
  o.flow.max_depth = 6;
  o.flow.eta = 0.1;
  o.http.seed = o.flow.seed = o.seed;
  return o;
}

HttpData BuildHttpData(const std::vector<LabeledRequest>& csic,
                       const std::vector<LabeledValue>& values, const ProgressFn& progress) {
  HttpData d;
  const std::size_t total = csic.size() + values.size();
  std::size_t done = 0;
  auto tick = [&] {
    ++done;
    if (progress && (done % 2048 == 0 || done == total)) {
      progress("features", static_cast<int>(done), static_cast<int>(total));
    }
  };
  d.requests = csic;
  // The application's fixed surface: benign requests sent verbatim many times (CSIC sends 28
  // pages, images and fixed forms 478 to 1,000 times each, 26,000 of its 36,000 benign
  // requests; every other benign request fewer than 10 times).
  constexpr int kFixedCopies = 10;
  std::map<std::uint64_t, int> benign_copies;
  auto request_hash = [](const LabeledRequest& r) {
    return StableHash("request", r.method + " " + r.path + "?" + r.query + "\n" + r.body);
  };
  for (const LabeledRequest& r : csic) {
    if (r.label == 0) ++benign_copies[request_hash(r)];
  }
  for (const LabeledRequest& r : csic) {
    d.x.AppendRow(ExtractRequestFeatures({r.method, r.path, r.query, r.body}));
    d.labels.push_back(r.label);
    d.source.push_back(0);
    std::set<std::string> names;
    for (const auto& [k, v] : SplitParams(r.query)) names.insert(PercentDecode(k, true));
    for (const auto& [k, v] : SplitParams(r.body)) names.insert(PercentDecode(k, true));
    if (names.empty()) names.insert("path:" + r.path);
    d.names.emplace_back(names.begin(), names.end());
    d.attack_type.emplace_back("csic");
    d.value_hash.push_back(request_hash(r));
    d.group_hash.push_back(r.label == 0 && benign_copies[d.value_hash.back()] >= kFixedCopies
                               ? StableHash("row", std::to_string(d.labels.size()))
                               : d.value_hash.back());
    d.flaggable.push_back(true);
    tick();
  }
  for (const LabeledValue& v : values) {
    d.x.AppendRow(ExtractValueRequestFeatures(v.payload));
    d.labels.push_back(v.label);
    d.source.push_back(1);
    d.names.emplace_back();
    d.attack_type.push_back(v.attack_type);
    d.value_hash.push_back(StableHash("value", v.payload));
    d.group_hash.push_back(d.value_hash.back());
    d.flaggable.push_back(HasAttackStructure(v.payload));
    tick();
  }
  return d;
}

FlowData BuildFlowData(const std::vector<LabeledFlow>& flows) {
  FlowData d;
  for (const LabeledFlow& f : flows) {
    d.x.AppendRow(ExtractFlowFeatures(f.record));
    d.records.push_back(f.record);
    d.labels.push_back(f.label == "normal" ? 0 : 1);
    d.attack.push_back(f.label);
  }
  return d;
}

std::string FormatFolds(const std::vector<FoldResult>& folds) {
  std::string out =
      "fold                      train   test+  test-   thresh   acc     DR      FPR     prec    "
      "F1      AUC     DR@0.5%FPR\n";
  double sums[7] = {};
  char line[512];
  for (const FoldResult& f : folds) {
    const BinaryMetrics& m = f.at_threshold;
    std::snprintf(line, sizeof(line),
                  "%-24s %7zu %7llu %6llu   %.4f   %.4f  %.4f  %.4f  %.4f  %.4f  %.4f  %.4f\n",
                  f.name.c_str(), f.train_rows, static_cast<unsigned long long>(m.cm.tp + m.cm.fn),
                  static_cast<unsigned long long>(m.cm.tn + m.cm.fp), f.threshold, m.accuracy,
                  m.detection_rate, m.false_positive_rate, m.precision, m.f1, m.auc,
                  f.detection_at_half_percent_fpr);
    out += line;
    const double v[7] = {m.accuracy,
                         m.detection_rate,
                         m.false_positive_rate,
                         m.precision,
                         m.f1,
                         m.auc,
                         f.detection_at_half_percent_fpr};
    for (int i = 0; i < 7; ++i) sums[i] += v[i];
  }
  if (!folds.empty()) {
    const double n = static_cast<double>(folds.size());
    std::snprintf(line, sizeof(line),
                  "%-24s %7s %7s %6s   %6s   %.4f  %.4f  %.4f  %.4f  %.4f  %.4f  %.4f\n", "mean",
                  "", "", "", "", sums[0] / n, sums[1] / n, sums[2] / n, sums[3] / n, sums[4] / n,
                  sums[5] / n, sums[6] / n);
    out += line;
  }
  return out;
}

Result<std::vector<FoldResult>> CrossValidateHttpCsic(const HttpData& data,
                                                      const ModelOptions& options, CsicSplit split,
                                                      const ProgressFn& progress) {
  const int k = std::max(2, options.cv_folds);
  const std::string salt = Salt(options.seed, "http-cv");
  const auto kk = static_cast<std::uint64_t>(k);
  std::vector<FoldResult> folds;
  for (int f = 0; f < k; ++f) {
    const auto ff = static_cast<std::uint64_t>(f);
    std::vector<std::size_t> train, test;
    for (std::size_t r = 0; r < data.labels.size(); ++r) {
      if (data.source[r] == 1) {
        if (data.labels[r] == 1) train.push_back(r);  // httpparams attacks only (training.h)
        continue;
      }
      bool in_fold = false;
      if (split == CsicSplit::kContent) {
        const bool fixed = data.group_hash[r] != data.value_hash[r];  // the fixed surface
        in_fold = StableHash(salt, std::to_string(fixed ? data.group_hash[r]
                                                        : ContentHash(data.requests[r]))) %
                      kk ==
                  ff;
      } else {
        in_fold = std::any_of(data.names[r].begin(), data.names[r].end(),
                              [&](const std::string& n) { return StableHash(salt, n) % kk == ff; });
      }
      (in_fold ? test : train).push_back(r);
    }
    const bool profiled = split != CsicSplit::kNames;
    const PreparedHttp prepared =
        PrepareHttp(data, train, profiled ? test : std::vector<std::size_t>(), options);
    std::vector<std::size_t> test_rows = test;
    if (!profiled) {
      for (std::size_t& r : test_rows) r = prepared.Unprofiled(r);
    }
    const std::string name =
        std::string(split == CsicSplit::kContent ? "csic content " : "csic names ") +
        std::to_string(f + 1) + "/" + std::to_string(k);
    MEDMESH_ASSIGN_OR_RETURN(
        FoldResult fold,
        RunFold(
            name, prepared.data.x, prepared.data.labels, {}, WithCopies(prepared, train), test_rows,
            HttpHeldOut(prepared.data, options.seed), HttpGroup(prepared.data), kHttpGroups,
            options.http_max_fpr, options.http, progress,
            [&prepared](std::size_t r) { return static_cast<bool>(prepared.data.flaggable[r]); },
            HttpDistinct(prepared.data)));
    folds.push_back(std::move(fold));
  }
  return folds;
}

Result<std::vector<FoldResult>> CrossValidateHttpParams(const HttpData& data,
                                                        const ModelOptions& options,
                                                        const ProgressFn& progress) {
  const std::vector<std::string> types = {"sqli", "xss", "cmdi", "path-traversal"};
  std::vector<FoldResult> folds;
  for (std::size_t t = 0; t < types.size(); ++t) {
    std::vector<std::size_t> train, test;
    for (std::size_t r = 0; r < data.labels.size(); ++r) {
      bool held = false;
      if (data.source[r] == 1) {
        held = data.labels[r] == 1 ? data.attack_type[r] == types[t]
                                   : data.value_hash[r] % types.size() == t;
      }
      (held ? test : train).push_back(r);
    }
    const PreparedHttp prepared = PrepareHttp(data, train, {}, options);
    MEDMESH_ASSIGN_OR_RETURN(
        FoldResult fold,
        RunFold(
            "httpparams -" + types[t], prepared.data.x, prepared.data.labels, {},
            WithCopies(prepared, train), test, HttpHeldOut(prepared.data, options.seed),
            HttpGroup(prepared.data), kHttpGroups, options.http_max_fpr, options.http, progress,
            [&prepared](std::size_t r) { return static_cast<bool>(prepared.data.flaggable[r]); },
            HttpDistinct(prepared.data)));
    folds.push_back(std::move(fold));
  }
  return folds;
}

Result<std::vector<FoldResult>> CrossValidateFlow(const FlowData& data, const ModelOptions& options,
                                                  bool by_family, const ProgressFn& progress) {
  std::vector<std::string> groups;
  auto group_of = [&](std::size_t r) {
    return by_family ? std::string(KddAttackFamily(data.attack[r])) : data.attack[r];
  };
  {
    std::set<std::string> seen;
    for (std::size_t r = 0; r < data.labels.size(); ++r) {
      if (data.labels[r] == 1 && seen.insert(group_of(r)).second) groups.push_back(group_of(r));
    }
    std::sort(groups.begin(), groups.end());
  }
  const std::string salt = Salt(options.seed, "flow-cv");
  const auto k = static_cast<std::uint64_t>(std::max<std::size_t>(groups.size(), 2));
  std::vector<FoldResult> folds;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    std::vector<std::size_t> train, test;
    for (std::size_t r = 0; r < data.labels.size(); ++r) {
      const bool held = data.labels[r] == 1 ? group_of(r) == groups[g]
                                            : StableHash(salt, std::to_string(r)) % k == g;
      (held ? test : train).push_back(r);
    }
    const std::vector<float> weights = FlowWeights(data, train, options.flow_type_weight_power);
    const DenseMatrix x = PrepareFlow(data, train, options, nullptr);
    MEDMESH_ASSIGN_OR_RETURN(FoldResult fold,
                             RunFold("nsl-kdd -" + groups[g], x, data.labels, weights, train, test,
                                     FlowHeldOut(data, options.seed), SingleGroup(), 1,
                                     options.flow_max_fpr, options.flow, progress));
    folds.push_back(std::move(fold));
  }
  return folds;
}

DatasetFiles StandardDatasetFiles(const std::filesystem::path& dir) {
  return {dir / "csic2010" / "normalTrafficTraining.txt.gz",
          dir / "csic2010" / "anomalousTraffic_train70.txt.gz",
          dir / "httpparams" / "payload_train.csv", dir / "nsl-kdd" / "KDDTrain+.txt"};
}

Result<TrainedModel> TrainHttpModel(const std::filesystem::path& datasets_dir,
                                    const ModelOptions& options, const ProgressFn& progress) {
  const DatasetFiles files = StandardDatasetFiles(datasets_dir);
  MEDMESH_ASSIGN_OR_RETURN(std::vector<LabeledRequest> normal, ReadCsicFile(files.csic_normal));
  MEDMESH_ASSIGN_OR_RETURN(std::vector<LabeledRequest> anomalous,
                           ReadCsicFile(files.csic_anomalous));
  MEDMESH_ASSIGN_OR_RETURN(std::vector<LabeledValue> values, ReadHttpParamsFile(files.httpparams));
  std::vector<LabeledRequest> csic = normal;
  csic.insert(csic.end(), anomalous.begin(), anomalous.end());
  const HttpData data = BuildHttpData(csic, values, progress);
  std::vector<std::size_t> all(data.labels.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  const PreparedHttp prepared = PrepareHttp(data, all, {}, options);
  MEDMESH_ASSIGN_OR_RETURN(
      Calibrated model,
      TrainCalibrated(prepared.data.x, prepared.data.labels, {}, WithCopies(prepared, all),
                      HttpHeldOut(prepared.data, options.seed), HttpGroup(prepared.data),
                      kHttpGroups, options.http_max_fpr, options.http, "http", progress,
                      HttpDistinct(prepared.data)));
  TrainedModel out;
  const int version = options.v1_features ? 1 : kHttpModelVersion;
  out.manifest =
      BaseManifest("http", version, HttpSchemaForVersion(version), options.http, options.seed);
  out.manifest.threshold = model.thresholds[0];
  out.manifest.value_threshold = model.thresholds[1];
  out.manifest.unprofiled_threshold = model.thresholds[2];
  if (prepared.copies) {
    out.profile = prepared.profile.ToJson();
    out.manifest.profile_blake2b256 = HexEncode(crypto::Blake2b256(AsBytes(out.profile)));
  }
  char rule[320];
  std::snprintf(
      rule, sizeof(rule),
      "false-positive rate <= %.4g on held-out benign rows of a model trained without them: "
      "20%% of the distinct benign CSIC requests, with the parameter profile (threshold) and "
      "without (unprofiled_threshold), 20%% of the httpparams benign values (value_threshold)",
      options.http_max_fpr);
  out.manifest.threshold_rule = rule;
  for (const auto& [file, rows] : {std::pair{files.csic_normal, normal.size()},
                                   std::pair{files.csic_anomalous, anomalous.size()},
                                   std::pair{files.httpparams, values.size()}}) {
    MEDMESH_ASSIGN_OR_RETURN(TrainingFile f, Describe(datasets_dir, file, rows));
    out.manifest.training_files.push_back(std::move(f));
  }
  MEDMESH_ASSIGN_OR_RETURN(out.model, model.booster->Save());
  out.manifest.model_blake2b256 = HexEncode(crypto::Blake2b256(out.model));
  out.booster = std::move(model.booster);
  return out;
}

Result<TrainedModel> TrainFlowModel(const std::filesystem::path& datasets_dir,
                                    const ModelOptions& options, const ProgressFn& progress) {
  const DatasetFiles files = StandardDatasetFiles(datasets_dir);
  MEDMESH_ASSIGN_OR_RETURN(std::vector<LabeledFlow> flows, ReadKddFile(files.nsl_kdd));
  const FlowData data = BuildFlowData(flows);
  std::vector<std::size_t> all(data.labels.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
  FlowProfile profile;
  const DenseMatrix x = PrepareFlow(data, all, options, &profile);
  const std::vector<float> weights = FlowWeights(data, all, options.flow_type_weight_power);
  MEDMESH_ASSIGN_OR_RETURN(
      Calibrated model,
      TrainCalibrated(x, data.labels, weights, all, FlowHeldOut(data, options.seed), SingleGroup(),
                      1, options.flow_max_fpr, options.flow, "flow", progress));
  TrainedModel out;
  const int version = options.v1_features ? 1 : kFlowModelVersion;
  out.manifest =
      BaseManifest("flow", version, FlowSchemaForVersion(version), options.flow, options.seed);
  out.manifest.threshold = out.manifest.value_threshold = model.thresholds[0];
  out.manifest.unprofiled_threshold = model.thresholds[0];
  if (!options.v1_features) {
    out.profile = profile.ToJson();
    out.manifest.profile_blake2b256 = HexEncode(crypto::Blake2b256(AsBytes(out.profile)));
  }
  char rule[256];
  std::snprintf(rule, sizeof(rule),
                "false-positive rate <= %.4g on held-out normal records (20%%) of a model trained "
                "without them and without one attack type in five; attack types weighted by "
                "count^-%.2g",
                options.flow_max_fpr, options.flow_type_weight_power);
  out.manifest.threshold_rule = rule;
  MEDMESH_ASSIGN_OR_RETURN(TrainingFile f, Describe(datasets_dir, files.nsl_kdd, flows.size()));
  out.manifest.training_files.push_back(std::move(f));
  MEDMESH_ASSIGN_OR_RETURN(out.model, model.booster->Save());
  out.manifest.model_blake2b256 = HexEncode(crypto::Blake2b256(out.model));
  out.booster = std::move(model.booster);
  return out;
}

Status WriteModel(const std::filesystem::path& dir, const TrainedModel& model) {
  MEDMESH_RETURN_IF_ERROR(Env::Default().CreateDir(dir, 0755));
  MEDMESH_RETURN_IF_ERROR(WriteFileAtomically(
      dir / ModelFileName(model.manifest.name, model.manifest.version), model.model, 0644));
  if (!model.profile.empty()) {
    MEDMESH_RETURN_IF_ERROR(
        WriteFileAtomically(dir / ProfileFileName(model.manifest.name, model.manifest.version),
                            AsBytes(model.profile), 0644));
  }
  const std::string json = ManifestToJson(model.manifest);
  return WriteFileAtomically(dir / ManifestFileName(model.manifest.name, model.manifest.version),
                             AsBytes(json), 0644);
}

}  // namespace medmesh::ids::ml
