// Beta reputation with forgetting (Jøsang & Ismail 2002, "The Beta Reputation System").
//
// A BetaOpinion holds the positive evidence r and negative evidence s about one subject as of
// time `as_of_ms`. A rating with score x in [0, 1] adds x to r and 1 - x to s. Evidence fades
// with half-lives: after `half_life` without news r is halved, after `negative_half_life` s is,
// so old behaviour stops deciding (a reformed subject can recover) while misbehaviour is
// remembered longer than good behaviour (an on-off attacker's bad phase outlives its next good
// one).
//
//   expectation E = (r + W a) / (r + s + W)     a: base rate (the prior), W: prior weight (2)
//   confidence  c = (r + s) / (r + s + W)       0 with no evidence, towards 1 as evidence grows
//
// With a = 0.5 and W = 2 the expectation is the classic (r + 1) / (r + s + 2).
// Times are inputs (milliseconds since the epoch); nothing here reads a clock. Pure value
// types; thread safety as for any value.
#pragma once

#include <chrono>
#include <cstdint>

namespace medmesh::trust {

struct Forgetting {
  // Positive evidence loses half its weight after this long. Zero or negative: never forget.
  std::chrono::milliseconds half_life = std::chrono::hours(24 * 30);
  // The same for negative evidence. Longer than half_life by default: misbehaviour is
  // remembered longer than good behaviour, so an on-off attacker's bad phase is not washed
  // out by the next good one. Zero or negative: never forget.
  std::chrono::milliseconds negative_half_life = std::chrono::hours(24 * 90);
  // exp2(-elapsed / half_life), 1 for elapsed <= 0 or no forgetting; the second for negatives.
  double Factor(std::int64_t elapsed_ms) const;
  double NegativeFactor(std::int64_t elapsed_ms) const;
};

struct BetaOpinion {
  double r = 0;  // positive evidence
  double s = 0;  // negative evidence
  std::int64_t as_of_ms = 0;

  // The opinion decayed to `now_ms` (unchanged if now_ms <= as_of_ms).
  BetaOpinion DecayedTo(std::int64_t now_ms, const Forgetting& forgetting) const;
  // Decays to at_ms (if later) and adds one rating of `score`, clamped to [0, 1]; `weight`
  // scales it (1 for a plain rating). A rating older than as_of_ms is added with its own
  // decay relative to as_of_ms, so the order of Add calls does not matter.
  void Add(double score, std::int64_t at_ms, const Forgetting& forgetting, double weight = 1.0);
  double evidence() const { return r + s; }
  double Expectation(double base_rate = 0.5, double prior_weight = 2.0) const;
  double Confidence(double prior_weight = 2.0) const;
};

}  // namespace medmesh::trust
