// Binary detection metrics: the confusion matrix at a threshold, accuracy, detection rate
// (recall of attacks), false-positive rate, precision, F1, ROC AUC, and the threshold that keeps
// the false-positive rate under a bound. Label 1 is an attack (positive).
// Ratios with a zero denominator are 0 (e.g. precision with no positive prediction), and AUC is
// 0.5 when one class is absent; tests pin both.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace medmesh::ids::ml {

struct ConfusionMatrix {
  std::uint64_t tp = 0, fp = 0, tn = 0, fn = 0;
};

struct BinaryMetrics {
  ConfusionMatrix cm;
  double accuracy = 0, detection_rate = 0, false_positive_rate = 0, precision = 0, f1 = 0,
         auc = 0.5;
};

// Predicted attack when score >= threshold.
ConfusionMatrix Confuse(std::span<const float> scores, std::span<const int> labels,
                        double threshold);
// The ratios of `cm` (auc left at 0.5).
BinaryMetrics MetricsFrom(const ConfusionMatrix& cm);
// Area under the ROC curve by the rank-sum (Mann-Whitney) statistic, ties counted one half.
double RocAuc(std::span<const float> scores, std::span<const int> labels);
// Confuse + MetricsFrom + RocAuc.
BinaryMetrics Evaluate(std::span<const float> scores, std::span<const int> labels,
                       double threshold);
// The smallest threshold whose false-positive rate on `labels` is at most `max_fpr` (scores of
// benign rows above it are at most floor(max_fpr * benign) rows). 1.0 + tiny if no benign rows.
double ThresholdForFpr(std::span<const float> scores, std::span<const int> labels, double max_fpr);

// A fixed multi-line report: the metrics and the confusion matrix.
std::string FormatMetrics(const BinaryMetrics& m);

}  // namespace medmesh::ids::ml
