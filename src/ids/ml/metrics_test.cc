#include "ids/ml/metrics.h"

#include <gtest/gtest.h>

#include <vector>

namespace medmesh::ids::ml {
namespace {

TEST(Metrics, HandComputedConfusionMatrix) {
  // Attacks: 0.9 0.8 0.3 (2 caught, 1 missed); benign: 0.7 0.2 0.1 0.05 (1 false alarm).
  const std::vector<float> scores = {0.9f, 0.8f, 0.3f, 0.7f, 0.2f, 0.1f, 0.05f};
  const std::vector<int> labels = {1, 1, 1, 0, 0, 0, 0};
  const BinaryMetrics m = Evaluate(scores, labels, 0.5);
  EXPECT_EQ(m.cm.tp, 2u);
  EXPECT_EQ(m.cm.fn, 1u);
  EXPECT_EQ(m.cm.fp, 1u);
  EXPECT_EQ(m.cm.tn, 3u);
  EXPECT_DOUBLE_EQ(m.accuracy, 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(m.detection_rate, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.false_positive_rate, 1.0 / 4.0);
  EXPECT_DOUBLE_EQ(m.precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.f1, 2.0 / 3.0);
  // Pairs (attack, benign) ranked right: 0.9 beats 4, 0.8 beats 4, 0.3 beats 3 -> 11 of 12.
  EXPECT_DOUBLE_EQ(m.auc, 11.0 / 12.0);
}

TEST(Metrics, TiesCountHalfAndDegenerateCases) {
  EXPECT_DOUBLE_EQ(RocAuc(std::vector<float>{0.5f, 0.5f}, std::vector<int>{1, 0}), 0.5);
  EXPECT_DOUBLE_EQ(RocAuc(std::vector<float>{0.1f, 0.9f}, std::vector<int>{1, 1}), 0.5);
  const BinaryMetrics none = MetricsFrom(ConfusionMatrix{});
  EXPECT_EQ(none.precision, 0);
  EXPECT_EQ(none.f1, 0);
  EXPECT_EQ(none.accuracy, 0);
}

TEST(Metrics, ThresholdForFprKeepsTheBound) {
  std::vector<float> scores;
  std::vector<int> labels;
  for (int i = 0; i < 200; ++i) {
    scores.push_back(static_cast<float>(i) / 200.0f);
    labels.push_back(0);
  }
  scores.push_back(0.999f);
  labels.push_back(1);
  const double t = ThresholdForFpr(scores, labels, 0.01);  // at most 2 of 200 benign
  const ConfusionMatrix cm = Confuse(scores, labels, t);
  EXPECT_EQ(cm.fp, 2u);
  EXPECT_EQ(cm.tp, 1u);
  EXPECT_EQ(Confuse(scores, labels, ThresholdForFpr(scores, labels, 0.0)).fp, 0u);
}

TEST(Metrics, FormatShowsTheMatrix) {
  ConfusionMatrix cm;
  cm.tp = 7;
  cm.tn = 11;
  cm.fp = 3;
  cm.fn = 5;
  const std::string text = FormatMetrics(MetricsFrom(cm));
  EXPECT_NE(text.find("confusion matrix"), std::string::npos);
  EXPECT_NE(text.find("  benign           11          3"), std::string::npos);
  EXPECT_NE(text.find("  attack            5          7"), std::string::npos);
}

}  // namespace
}  // namespace medmesh::ids::ml
