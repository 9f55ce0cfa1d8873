// Booster: a gradient-boosted tree model on XGBoost's C API (libxgboost 1.7, Debian), the only
// file that includes <xgboost/c_api.h>. Trains binary:logistic models on dense float matrices,
// saves and loads them as UBJSON bytes, and predicts in place (XGBoosterPredictFromDense).
//
// Thread safety: Predict is const and safe from many threads at once (XGBoost's in-place predict
// takes no cache and the result is copied out of XGBoost's thread-local buffer before
// returning). Train, Load and destruction need exclusive access. Each Booster is set to
// `nthread` threads (1 by default for serving, so scoring never oversubscribes server threads).
// Errors: XGBoost's message is not returned (it may quote input); codes as documented.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"

namespace medmesh::ids::ml {

// A row-major dense matrix of features.
struct DenseMatrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<float> values;  // rows * cols

  void AppendRow(std::span<const float> row);
  std::span<const float> Row(std::size_t i) const { return {values.data() + i * cols, cols}; }
};

struct TrainOptions {
  int rounds = 200;
  int max_depth = 6;
  double eta = 0.1;
  double subsample = 0.8;
  double colsample_bytree = 0.8;
  double min_child_weight = 1.0;
  double lambda = 1.0;
  double scale_pos_weight = 1.0;  // weight of the positive (attack) class
  std::uint64_t seed = 1;
  int nthread = 2;
  // "k=v,k=v" as recorded in the manifest.
  std::string ParamString() const;
};

class Booster {
 public:
  ~Booster();
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;

  // Trains on `x` with labels 0/1 and optional per-row weights (empty = all 1). `progress(i, n)`
  // is called after each round. kInvalidArgument for mismatched sizes or an empty matrix,
  // kInternal if XGBoost fails.
  static Result<std::unique_ptr<Booster>> Train(const DenseMatrix& x, std::span<const float> labels,
                                                std::span<const float> weights,
                                                const TrainOptions& options,
                                                const std::function<void(int, int)>& progress);
  // Loads a model saved by Save. kInvalidArgument if XGBoost cannot read the bytes or the model
  // expects another number of features than `feature_count`.
  static Result<std::unique_ptr<Booster>> Load(ByteView ubj, std::size_t feature_count,
                                               int nthread = 1);

  // The model as UBJSON bytes. kInternal if XGBoost fails.
  Result<Bytes> Save() const;

  // Probabilities of the positive class for each row of `x` (x.cols must equal the model's
  // feature count: kInvalidArgument otherwise). Thread-safe.
  Result<std::vector<float>> Predict(const DenseMatrix& x) const;
  Result<float> PredictOne(std::span<const float> row) const;

  std::size_t feature_count() const { return feature_count_; }

 private:
  Booster(void* handle, std::size_t feature_count)
      : handle_(handle), feature_count_(feature_count) {}
  void* handle_;  // BoosterHandle
  std::size_t feature_count_;
};

}  // namespace medmesh::ids::ml
