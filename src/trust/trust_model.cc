#include "trust/trust_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace medmesh::trust {

void Identities::AddClinician(const std::string& id) {
  approved_.insert(id);
  clinicians_.insert(id);
}

void Identities::Revoke(const std::string& id) {
  approved_.erase(id);
  if (auto it = clinicians_.find(id); it != clinicians_.end()) clinicians_.erase(it);
}

std::string_view RatingVerdictName(RatingVerdict verdict) {
  switch (verdict) {
    case RatingVerdict::kAccepted: return "accepted";
    case RatingVerdict::kUnknownInteraction: return "unknown_interaction";
    case RatingVerdict::kNotAParty: return "not_a_party";
    case RatingVerdict::kRaterNotApproved: return "rater_not_approved";
    case RatingVerdict::kRateeNotApproved: return "ratee_not_approved";
    case RatingVerdict::kDuplicate: return "duplicate";
    case RatingVerdict::kInvalidScore: return "invalid_score";
  }
  return "unknown";
}

// --- Beta quantile -----------------------------------------------------------------------------

namespace {

// Continued fraction of the incomplete beta function (modified Lentz), x < (a+1)/(a+b+2).
double BetaContinuedFraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300;
  constexpr double kEps = 1e-14;
  const double qab = a + b;
  const double qap = a + 1.0;
  const double qam = a - 1.0;
  double c = 1.0;
  double d = 1.0 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) < kEps) break;
  }
  return h;
}

}  // namespace

double BetaCdf(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double log_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(log_front);
  if (x < (a + 1.0) / (a + b + 2.0)) return front * BetaContinuedFraction(a, b, x) / a;
  return 1.0 - front * BetaContinuedFraction(b, a, 1.0 - x) / b;
}

double BetaQuantile(double alpha, double beta, double p) {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  // I_x is increasing in x: bisection to well below any threshold we compare with.
  double lo = 0;
  double hi = 1;
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (BetaCdf(alpha, beta, mid) < p) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

// --- TrustModel --------------------------------------------------------------------------------

TrustModel::TrustModel(TrustParams params, Identities identities)
    : params_(std::move(params)), identities_(std::move(identities)) {}

bool TrustModel::LogInteraction(Interaction interaction) {
  const std::string id = interaction.id;
  return interactions_.emplace(id, std::move(interaction)).second;
}

RatingVerdict TrustModel::AddRating(const Rating& rating) {
  if (!(rating.score >= 0.0 && rating.score <= 1.0)) return RatingVerdict::kInvalidScore;
  auto it = interactions_.find(rating.interaction_id);
  if (it == interactions_.end()) return RatingVerdict::kUnknownInteraction;
  const Interaction& in = it->second;
  const bool parties = (rating.rater == in.party_a && rating.ratee == in.party_b) ||
                       (rating.rater == in.party_b && rating.ratee == in.party_a);
  if (!parties || rating.rater == rating.ratee) return RatingVerdict::kNotAParty;
  if (!identities_.IsApproved(rating.rater)) return RatingVerdict::kRaterNotApproved;
  if (!identities_.IsApproved(rating.ratee)) return RatingVerdict::kRateeNotApproved;
  if (!rated_.emplace(rating.interaction_id, rating.rater).second) {
    return RatingVerdict::kDuplicate;
  }
  BetaOpinion& opinion = opinions_[rating.ratee][rating.rater];
  opinion.Add(rating.score, rating.at_ms, params_.forgetting);
  if (params_.probation_quantile > 0) {
    received_[rating.ratee].push_back({rating.rater, rating.at_ms, rating.score});
  }
  ++accepted_;
  return RatingVerdict::kAccepted;
}

void TrustModel::Refresh(std::int64_t now_ms) {
  // Anchored credibility A: clinicians 1, the rest the best chain of products from a clinician.
  std::unordered_map<std::string, double> anchored;
  for (const std::string& c : identities_.clinicians()) anchored[c] = 1.0;
  for (int round = 0; round < params_.credibility_rounds; ++round) {
    std::unordered_map<std::string, double> next;
    for (const std::string& c : identities_.clinicians()) next[c] = 1.0;
    for (const auto& [subject, holders] : opinions_) {
      if (!identities_.IsApproved(subject) || identities_.IsClinician(subject)) continue;
      double best = 0;
      for (const auto& [holder, opinion] : holders) {
        auto a = anchored.find(holder);
        if (a == anchored.end() || a->second <= 0 || !identities_.IsApproved(holder)) continue;
        const BetaOpinion o = opinion.DecayedTo(now_ms, params_.forgetting);
        const double vouch = o.r / (o.r + o.s + params_.credibility_prior_weight);
        best = std::max(best, a->second * params_.credibility_decay * vouch);
      }
      if (best > 0) next[subject] = best;
    }
    anchored = std::move(next);
  }
  credibility_ = std::move(anchored);
  if (params_.honesty_prior_weight > 0) RefreshHonesty(now_ms);
  if (params_.probation_quantile > 0) RefreshProbation(now_ms);
}

double TrustModel::Credibility(std::string_view id) const {
  if (!identities_.IsApproved(id)) return 0;
  if (identities_.IsClinician(id)) return 1;
  double c = params_.unanchored_credibility;
  if (auto it = credibility_.find(std::string(id)); it != credibility_.end()) {
    c = std::max(c, it->second);
  }
  return c;
}

BetaOpinion TrustModel::Opinion(const std::string& holder, const std::string& subject,
                                std::int64_t now_ms) const {
  auto s = opinions_.find(subject);
  if (s == opinions_.end()) return BetaOpinion{0, 0, now_ms};
  auto h = s->second.find(holder);
  if (h == s->second.end()) return BetaOpinion{0, 0, now_ms};
  return h->second.DecayedTo(now_ms, params_.forgetting);
}

TrustModel::Reputation TrustModel::ComputeReputation(const std::string& viewer,
                                                     const std::string& subject,
                                                     std::int64_t now_ms,
                                                     const HolderSimilarity& similarity) const {
  Reputation out;
  out.opinion = BetaOpinion{0, 0, now_ms};
  std::vector<HolderView>& views = out.holders;
  if (auto s = opinions_.find(subject); s != opinions_.end()) {
    for (const auto& [holder, opinion] : s->second) {
      if (holder == viewer || holder == subject) continue;
      const double credibility = Credibility(holder);
      if (credibility <= 0) continue;
      BetaOpinion o = opinion.DecayedTo(now_ms, params_.forgetting);
      const double n = o.evidence();
      if (n <= 0) continue;
      const bool clinician = identities_.IsClinician(holder);
      double cap = params_.holder_evidence_cap;
      if (params_.reciprocity_scale > 0 && !clinician) {
        // Collusion rings: evidence both ways beyond what honest partners gather is discounted.
        const double mutual = std::min(n, Opinion(subject, holder, now_ms).evidence());
        cap /= 1.0 + std::max(0.0, mutual - params_.reciprocity_free_evidence) /
                         params_.reciprocity_scale;
      }
      if (n > cap) {
        const double scale = cap / n;
        o.r *= scale;
        o.s *= scale;
      }
      HolderView v;
      v.holder = &holder;
      v.r = o.r;
      v.s = o.s;
      v.expectation = (o.r + 1.0) / (o.r + o.s + 2.0);
      v.weight = credibility * (clinician ? params_.clinician_weight : RaterHonesty(holder));
      if (similarity) {
        const double sim = std::clamp(similarity(holder), 0.0, 1.0);
        v.weight *= params_.similarity_floor + (1.0 - params_.similarity_floor) * sim;
      }
      views.push_back(v);
    }
  }

  // Unfair-rater filter: drop the holder with whom the others' consensus is least compatible
  // (the smaller tail of the holder's Beta at the consensus), one at a time, until the
  // consensus lies inside every remaining holder's [q, 1 - q] interval.
  if (params_.filter_quantile > 0) {
    while (true) {
      // The consensus is the weighted mean of the holders' expectations (scale-free: it does
      // not depend on how much evidence the weights leave).
      double total_w = 0;
      double total_we = 0;
      int kept = 0;
      for (const HolderView& v : views) {
        if (!v.kept) continue;
        total_w += v.weight;
        total_we += v.weight * v.expectation;
        ++kept;
      }
      if (kept < 2) break;
      int worst = -1;
      double worst_tail = params_.filter_quantile;
      for (std::size_t i = 0; i < views.size(); ++i) {
        const HolderView& v = views[i];
        if (!v.kept) continue;
        const double others_w = total_w - v.weight;
        if (others_w <= 0) continue;
        const double consensus = (total_we - v.weight * v.expectation) / others_w;
        const double cdf = BetaCdf(v.r + 1.0, v.s + 1.0, consensus);
        const double tail = std::min(cdf, 1.0 - cdf);
        if (tail < worst_tail) {
          worst_tail = tail;
          worst = static_cast<int>(i);
        }
      }
      if (worst < 0) break;
      views[static_cast<std::size_t>(worst)].kept = false;
      ++out.filtered;
    }
  }

  for (const HolderView& v : views) {
    if (!v.kept) continue;
    out.opinion.r += v.weight * v.r;
    out.opinion.s += v.weight * v.s;
    ++out.used;
  }
  return out;
}

void TrustModel::RefreshHonesty(std::int64_t now_ms) {
  // Each patient holder's opinions are compared with what everyone else (the filtered,
  // credibility-weighted reputation without that holder) says about the same subject. Evidence
  // that agrees with the others' expectation p counts as agreement (r p + s (1 - p)), the rest
  // as disagreement; honesty is the Beta expectation of agreement with a prior of full honesty
  // (weight honesty_prior_weight), so a rater nobody can check keeps weight 1.
  std::unordered_map<std::string, std::pair<double, double>> agreement;  // holder -> (agree, not)
  for (const auto& [subject, holders] : opinions_) {
    if (!identities_.IsApproved(subject) || holders.size() < 2) continue;
    const Reputation rep = ComputeReputation(std::string(), subject, now_ms, nullptr);
    for (const HolderView& v : rep.holders) {
      if (identities_.IsClinician(*v.holder)) continue;
      double r = rep.opinion.r;
      double s = rep.opinion.s;
      if (v.kept) {
        r -= v.weight * v.r;
        s -= v.weight * v.s;
      }
      if (r + s < params_.honesty_min_reference) continue;  // too little to judge against
      const double p =
          (r + params_.prior_weight * params_.base_rate) / (r + s + params_.prior_weight);
      auto& [agree, disagree] = agreement[*v.holder];
      agree += v.r * p + v.s * (1.0 - p);
      disagree += v.r * (1.0 - p) + v.s * p;
    }
  }
  agreement_ = std::move(agreement);
}

void TrustModel::RefreshProbation(std::int64_t now_ms) {
  // For every bad rating of the last probation_duration, the window of ratings up to it from
  // eligible holders is tested against an honest party's bad days. Judged with the credibilities
  // and honesty of this Refresh, over the kept history (pruned below), so the result does not
  // depend on how often Refresh ran.
  const std::int64_t window = params_.probation_window.count();
  const std::int64_t duration = params_.probation_duration.count();
  std::unordered_map<std::string, bool> eligible;
  auto is_eligible = [&](const std::string& holder) {
    auto [it, inserted] = eligible.try_emplace(holder, false);
    if (inserted) {
      const bool anchored = credibility_.contains(holder);
      it->second = identities_.IsApproved(holder) &&
                   (identities_.IsClinician(holder) ||
                    (anchored && RaterHonesty(holder) >= params_.probation_min_honesty));
    }
    return it->second;
  };
  // A rating older than duration + window before now can no longer be in the window of a bad
  // rating that still matters: dropped, so the kept history (and this scan) stays bounded.
  // Refresh's now does not go backwards (the cloudlet and the evaluation only move forward).
  for (auto& [subject, received] : received_) {
    std::erase_if(received,
                  [&](const Received& e) { return e.at_ms <= now_ms - duration - window; });
  }
  std::erase_if(received_, [](const auto& entry) { return entry.second.empty(); });
  std::unordered_map<std::string, Probation> probation;
  std::map<std::string, std::pair<double, double>> per_holder;  // holder -> (ratings, bad)
  for (const auto& [subject, received] : received_) {
    if (!identities_.IsApproved(subject)) continue;
    for (const Received& trigger : received) {
      if (trigger.score >= 0.5 || trigger.at_ms > now_ms || trigger.at_ms + duration <= now_ms) {
        continue;
      }
      if (!is_eligible(trigger.holder)) continue;
      per_holder.clear();
      for (const Received& e : received) {
        if (e.at_ms > trigger.at_ms || e.at_ms <= trigger.at_ms - window) continue;
        if (!is_eligible(e.holder)) continue;
        auto& [n, bad] = per_holder[e.holder];
        n += 1.0;
        bad += 1.0 - std::clamp(e.score, 0.0, 1.0);
      }
      double n = 0;
      double bad = 0;
      int bad_holders = 0;  // holders with at least one bad rating in the window
      for (const auto& [holder, nb] : per_holder) {
        // One holder brings at most holder_evidence_cap ratings, in its own proportion.
        const double scale =
            nb.first > params_.holder_evidence_cap ? params_.holder_evidence_cap / nb.first : 1.0;
        n += nb.first * scale;
        bad += nb.second * scale;
        if (nb.second >= 0.5) ++bad_holders;
      }
      // One dispute between two parties is not a burst: the ratings of one holder are not
      // independent trials, so the bad ones must come from several holders.
      if (bad <= 0 || bad_holders < params_.probation_min_bad_holders) continue;
      // P(X >= bad), X ~ Binomial(n, p): the regularised incomplete beta I_p(bad, n - bad + 1).
      const double tail = BetaCdf(bad, n - bad + 1.0, params_.probation_honest_bad_rate);
      if (tail >= params_.probation_quantile) continue;
      Probation& p = probation[subject];
      if (trigger.at_ms + duration > p.until_ms) p = {trigger.at_ms + duration, n, bad};
    }
  }
  probation_ = std::move(probation);
}

bool TrustModel::OnProbation(std::string_view subject, std::int64_t now_ms) const {
  auto it = probation_.find(std::string(subject));
  return it != probation_.end() && now_ms < it->second.until_ms;
}

double TrustModel::RaterHonesty(std::string_view id) const {
  if (params_.honesty_prior_weight <= 0) return 1.0;
  auto it = agreement_.find(std::string(id));
  if (it == agreement_.end()) return 1.0;
  const auto [agree, disagree] = it->second;
  const double w = params_.honesty_prior_weight;
  return (agree + w) / (agree + disagree + w);
}

TrustEstimate TrustModel::Trust(const std::string& viewer, const std::string& subject,
                                std::int64_t now_ms, const HolderSimilarity& similarity) const {
  TrustEstimate t;
  if (!identities_.IsApproved(subject)) return t;
  const double a = params_.base_rate;
  const double w_prior = params_.prior_weight;

  // Direct part.
  const BetaOpinion direct = Opinion(viewer, subject, now_ms);
  t.direct = direct.Expectation(a, w_prior);
  t.direct_evidence = direct.evidence();

  // Reputation part: everyone else's opinions, capped, weighted and filtered.
  const Reputation rep = ComputeReputation(viewer, subject, now_ms, similarity);
  const BetaOpinion& reputation = rep.opinion;
  t.holders_used = rep.used;
  t.holders_filtered = rep.filtered;
  t.reputation = reputation.Expectation(a, w_prior);
  t.reputation_evidence = reputation.evidence();

  // The reputation is the prior of the viewer's own evidence: T = (r_D + K' E(R)) / (n_D + K'),
  // i.e. w * r_D / n_D + (1 - w) * E(R), w = n_D / (n_D + K'). The prior's strength K' grows
  // with the reputation's evidence (K' = K + g n_R, at most K_max): a well-attested reputation
  // is not overturned by one bad exchange (an honest patient's bad day), a thin one is.
  const double strength = std::min(
      params_.direct_half_weight + params_.reputation_strength_growth * t.reputation_evidence,
      std::max(params_.direct_half_weight, params_.reputation_strength_max));
  t.direct_weight = t.direct_evidence / (t.direct_evidence + strength);
  const double direct_ratio = t.direct_evidence > 0 ? direct.r / t.direct_evidence : 0.0;
  t.value = t.direct_weight * direct_ratio + (1.0 - t.direct_weight) * t.reputation;
  t.confidence = 1.0 - (1.0 - direct.Confidence(w_prior)) * (1.0 - reputation.Confidence(w_prior));
  // A rater caught lying about others is not trusted as a subject either.
  t.rater_honesty = RaterHonesty(subject);
  // Only once enough of its ratings were judged: two honest 0s for a well-liked on-off attacker
  // in its bad phase are not a liar's record.
  if (auto it = agreement_.find(subject); it != agreement_.end()) {
    t.rater_judged_evidence = it->second.first + it->second.second;
  }
  if (params_.lying_rater_honesty > 0 && t.rater_honesty < params_.lying_rater_honesty &&
      t.rater_judged_evidence >= params_.lying_rater_min_evidence) {
    t.lying_rater = true;
    t.value = std::min(t.value, params_.probation_cap);
  }
  // Probation: good evidence after a burst of bad ratings does not lift T above the cap.
  if (auto p = probation_.find(subject); p != probation_.end() && now_ms < p->second.until_ms) {
    t.probation = true;
    t.probation_ratings = p->second.ratings;
    t.probation_bad = p->second.bad;
    t.value = std::min(t.value, params_.probation_cap);
  }
  return t;
}

}  // namespace medmesh::trust
