#include "ids/ml/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include "core/check.h"

namespace medmesh::ids::ml {
namespace {

double Ratio(std::uint64_t num, std::uint64_t den) {
  return den == 0 ? 0.0 : static_cast<double>(num) / static_cast<double>(den);
}

}  // namespace

ConfusionMatrix Confuse(std::span<const float> scores, std::span<const int> labels,
                        double threshold) {
  MEDMESH_CHECK(scores.size() == labels.size(), "scores and labels differ in length");
  ConfusionMatrix cm;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    const bool predicted = scores[i] >= threshold;
    if (labels[i] == 1) {
      (predicted ? cm.tp : cm.fn) += 1;
    } else {
      (predicted ? cm.fp : cm.tn) += 1;
    }
  }
  return cm;
}

BinaryMetrics MetricsFrom(const ConfusionMatrix& cm) {
  BinaryMetrics m;
  m.cm = cm;
  m.accuracy = Ratio(cm.tp + cm.tn, cm.tp + cm.tn + cm.fp + cm.fn);
  m.detection_rate = Ratio(cm.tp, cm.tp + cm.fn);
  m.false_positive_rate = Ratio(cm.fp, cm.fp + cm.tn);
  m.precision = Ratio(cm.tp, cm.tp + cm.fp);
  const double pr = m.precision + m.detection_rate;
  m.f1 = pr == 0 ? 0.0 : 2 * m.precision * m.detection_rate / pr;
  return m;
}

double RocAuc(std::span<const float> scores, std::span<const int> labels) {
  MEDMESH_CHECK(scores.size() == labels.size(), "scores and labels differ in length");
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  double positive_rank_sum = 0;
  std::uint64_t positives = 0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) ++j;
    const double mean_rank = (static_cast<double>(i) + static_cast<double>(j - 1)) / 2.0 + 1.0;
    for (std::size_t k = i; k < j; ++k) {
      if (labels[order[k]] == 1) {
        positive_rank_sum += mean_rank;
        ++positives;
      }
    }
    i = j;
  }
  const std::uint64_t negatives = scores.size() - positives;
  if (positives == 0 || negatives == 0) return 0.5;
  const double p = static_cast<double>(positives), n = static_cast<double>(negatives);
  return (positive_rank_sum - p * (p + 1) / 2.0) / (p * n);
}

BinaryMetrics Evaluate(std::span<const float> scores, std::span<const int> labels,
                       double threshold) {
  BinaryMetrics m = MetricsFrom(Confuse(scores, labels, threshold));
  m.auc = RocAuc(scores, labels);
  return m;
}

double ThresholdForFpr(std::span<const float> scores, std::span<const int> labels, double max_fpr) {
  std::vector<float> benign;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] == 0) benign.push_back(scores[i]);
  }
  if (benign.empty()) return 1.0;
  std::sort(benign.begin(), benign.end(), std::greater<>());
  const auto allowed =
      static_cast<std::size_t>(std::floor(max_fpr * static_cast<double>(benign.size())));
  if (allowed >= benign.size()) return 0.0;
  // Everything strictly above benign[allowed] is flagged: at most `allowed` benign rows.
  return std::nextafter(static_cast<double>(benign[allowed]), 2.0);
}

std::string FormatMetrics(const BinaryMetrics& m) {
  char text[768];
  std::snprintf(text, sizeof(text),
                "accuracy            %.4f\n"
                "detection rate      %.4f\n"
                "false-positive rate %.4f\n"
                "precision           %.4f\n"
                "F1                  %.4f\n"
                "AUC                 %.4f\n"
                "confusion matrix (rows: actual, columns: predicted)\n"
                "                 benign     attack\n"
                "  benign   %10llu %10llu\n"
                "  attack   %10llu %10llu\n",
                m.accuracy, m.detection_rate, m.false_positive_rate, m.precision, m.f1, m.auc,
                static_cast<unsigned long long>(m.cm.tn), static_cast<unsigned long long>(m.cm.fp),
                static_cast<unsigned long long>(m.cm.fn), static_cast<unsigned long long>(m.cm.tp));
  return text;
}

}  // namespace medmesh::ids::ml
