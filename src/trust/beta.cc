#include "trust/beta.h"

#include <algorithm>
#include <cmath>

namespace medmesh::trust {

namespace {

double HalfLifeFactor(std::int64_t elapsed_ms, std::chrono::milliseconds half_life) {
  if (elapsed_ms <= 0 || half_life.count() <= 0) return 1.0;
  return std::exp2(-static_cast<double>(elapsed_ms) / static_cast<double>(half_life.count()));
}

}  // namespace

double Forgetting::Factor(std::int64_t elapsed_ms) const {
  return HalfLifeFactor(elapsed_ms, half_life);
}

double Forgetting::NegativeFactor(std::int64_t elapsed_ms) const {
  return HalfLifeFactor(elapsed_ms, negative_half_life);
}

BetaOpinion BetaOpinion::DecayedTo(std::int64_t now_ms, const Forgetting& forgetting) const {
  if (now_ms <= as_of_ms) return *this;
  return BetaOpinion{r * forgetting.Factor(now_ms - as_of_ms),
                     s * forgetting.NegativeFactor(now_ms - as_of_ms), now_ms};
}

void BetaOpinion::Add(double score, std::int64_t at_ms, const Forgetting& forgetting,
                      double weight) {
  if (std::isnan(score)) return;
  score = std::clamp(score, 0.0, 1.0);
  if (at_ms > as_of_ms) *this = DecayedTo(at_ms, forgetting);
  // A rating from before as_of_ms has already aged by the difference.
  r += score * forgetting.Factor(as_of_ms - at_ms) * weight;
  s += (1.0 - score) * forgetting.NegativeFactor(as_of_ms - at_ms) * weight;
}

double BetaOpinion::Expectation(double base_rate, double prior_weight) const {
  return (r + prior_weight * base_rate) / (r + s + prior_weight);
}

double BetaOpinion::Confidence(double prior_weight) const {
  return (r + s) / (r + s + prior_weight);
}

}  // namespace medmesh::trust
