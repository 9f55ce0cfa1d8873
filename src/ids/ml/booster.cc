#include "ids/ml/booster.h"

#include <xgboost/c_api.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "core/check.h"

namespace medmesh::ids::ml {
namespace {

// A DMatrix that frees itself.
struct DMatrixHolder {
  DMatrixHandle handle = nullptr;
  ~DMatrixHolder() {
    if (handle != nullptr) XGDMatrixFree(handle);
  }
};

std::string FormatDouble(double v) {
  std::ostringstream out;
  out.precision(17);
  out << v;
  return out.str();
}

// The JSON __array_interface__ of a dense float32 row-major matrix at `data`.
std::string ArrayInterface(const float* data, std::size_t rows, std::size_t cols) {
  return "{\"data\":[" + std::to_string(reinterpret_cast<std::uintptr_t>(data)) +
         ",true],\"shape\":[" + std::to_string(rows) + "," + std::to_string(cols) +
         "],\"typestr\":\"<f4\",\"version\":3}";
}

// XGBoost 1.7's in-place prediction needs "cache_id":0 (STACK.md) and reads "missing".
constexpr const char* kPredictConfig =
    "{\"type\":0,\"training\":false,\"iteration_begin\":0,\"iteration_end\":0,"
    "\"strict_shape\":false,\"cache_id\":0,\"missing\":NaN}";

}  // namespace

void DenseMatrix::AppendRow(std::span<const float> row) {
  if (rows == 0 && cols == 0) cols = row.size();
  MEDMESH_CHECK(row.size() == cols, "DenseMatrix row of the wrong width");
  values.insert(values.end(), row.begin(), row.end());
  ++rows;
}

std::string TrainOptions::ParamString() const {
  return "objective=binary:logistic,tree_method=hist,max_depth=" + std::to_string(max_depth) +
         ",eta=" + FormatDouble(eta) + ",subsample=" + FormatDouble(subsample) +
         ",colsample_bytree=" + FormatDouble(colsample_bytree) +
         ",min_child_weight=" + FormatDouble(min_child_weight) + ",lambda=" + FormatDouble(lambda) +
         ",scale_pos_weight=" + FormatDouble(scale_pos_weight) +
         ",rounds=" + std::to_string(rounds);
}

Booster::~Booster() {
  if (handle_ != nullptr) XGBoosterFree(handle_);
}

Result<std::unique_ptr<Booster>> Booster::Train(const DenseMatrix& x, std::span<const float> labels,
                                                std::span<const float> weights,
                                                const TrainOptions& options,
                                                const std::function<void(int, int)>& progress) {
  if (x.rows == 0 || x.cols == 0 || x.values.size() != x.rows * x.cols) {
    return InvalidArgument("training matrix is empty or malformed");
  }
  if (labels.size() != x.rows || (!weights.empty() && weights.size() != x.rows)) {
    return InvalidArgument("labels or weights do not match the training matrix");
  }
  DMatrixHolder dtrain;
  if (XGDMatrixCreateFromMat(x.values.data(), x.rows, x.cols,
                             std::numeric_limits<float>::quiet_NaN(), &dtrain.handle) != 0 ||
      XGDMatrixSetFloatInfo(dtrain.handle, "label", labels.data(), labels.size()) != 0) {
    return Internal("XGBoost could not build the training matrix");
  }
  if (!weights.empty() &&
      XGDMatrixSetFloatInfo(dtrain.handle, "weight", weights.data(), weights.size()) != 0) {
    return Internal("XGBoost could not set the training weights");
  }
  BoosterHandle handle = nullptr;
  if (XGBoosterCreate(&dtrain.handle, 1, &handle) != 0) return Internal("XGBoost: create failed");
  std::unique_ptr<Booster> booster(new Booster(handle, x.cols));
  const std::pair<const char*, std::string> params[] = {
      {"objective", "binary:logistic"},
      {"tree_method", "hist"},
      {"eval_metric", "logloss"},
      {"max_depth", std::to_string(options.max_depth)},
      {"eta", FormatDouble(options.eta)},
      {"subsample", FormatDouble(options.subsample)},
      {"colsample_bytree", FormatDouble(options.colsample_bytree)},
      {"min_child_weight", FormatDouble(options.min_child_weight)},
      {"lambda", FormatDouble(options.lambda)},
      {"scale_pos_weight", FormatDouble(options.scale_pos_weight)},
      {"seed", std::to_string(options.seed)},
      {"nthread", std::to_string(options.nthread)},
      {"verbosity", "0"},
  };
  for (const auto& [key, value] : params) {
    if (XGBoosterSetParam(handle, key, value.c_str()) != 0) {
      return Internal(std::string("XGBoost rejected parameter ") + key);
    }
  }
  for (int i = 0; i < options.rounds; ++i) {
    if (XGBoosterUpdateOneIter(handle, i, dtrain.handle) != 0) {
      return Internal("XGBoost: training round failed");
    }
    if (progress) progress(i + 1, options.rounds);
  }
  // Serving uses one thread per call (the server owns the threads).
  if (XGBoosterSetParam(handle, "nthread", "1") != 0) return Internal("XGBoost: nthread");
  return booster;
}

Result<std::unique_ptr<Booster>> Booster::Load(ByteView ubj, std::size_t feature_count,
                                               int nthread) {
  BoosterHandle handle = nullptr;
  if (XGBoosterCreate(nullptr, 0, &handle) != 0) return Internal("XGBoost: create failed");
  std::unique_ptr<Booster> booster(new Booster(handle, feature_count));
  if (ubj.empty() || XGBoosterLoadModelFromBuffer(handle, ubj.data(), ubj.size()) != 0) {
    return InvalidArgument("the model file is not an XGBoost model");
  }
  bst_ulong features = 0;
  if (XGBoosterGetNumFeature(handle, &features) != 0 || features != feature_count) {
    return InvalidArgument("the model expects another number of features");
  }
  if (XGBoosterSetParam(handle, "nthread", std::to_string(nthread).c_str()) != 0) {
    return Internal("XGBoost: nthread");
  }
  return booster;
}

Result<Bytes> Booster::Save() const {
  bst_ulong len = 0;
  const char* data = nullptr;
  if (XGBoosterSaveModelToBuffer(handle_, "{\"format\":\"ubj\"}", &len, &data) != 0) {
    return Internal("XGBoost could not save the model");
  }
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(data);
  return Bytes(bytes, bytes + len);
}

Result<std::vector<float>> Booster::Predict(const DenseMatrix& x) const {
  if (x.cols != feature_count_ || x.values.size() != x.rows * x.cols) {
    return InvalidArgument("feature matrix of the wrong width");
  }
  if (x.rows == 0) return std::vector<float>();
  const std::string array = ArrayInterface(x.values.data(), x.rows, x.cols);
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  if (XGBoosterPredictFromDense(handle_, array.c_str(), kPredictConfig, nullptr, &shape, &dim,
                                &result) != 0) {
    return Internal("XGBoost prediction failed");
  }
  // `result` lives in XGBoost's thread-local buffer: copy it before anything else runs here.
  return std::vector<float>(result, result + x.rows);
}

Result<float> Booster::PredictOne(std::span<const float> row) const {
  DenseMatrix x;
  x.AppendRow(row);
  MEDMESH_ASSIGN_OR_RETURN(std::vector<float> p, Predict(x));
  return p[0];
}

}  // namespace medmesh::ids::ml
