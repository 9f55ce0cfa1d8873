#include "trust/decision.h"

#include <cstdio>

namespace medmesh::trust {

std::string_view DataCategoryName(DataCategory category) {
  switch (category) {
    case DataCategory::kVitalsSummary: return "vitals_summary";
    case DataCategory::kDiagnoses: return "diagnoses";
    case DataCategory::kFullRecord: return "full_record";
  }
  return "unknown";
}

std::optional<DataCategory> DataCategoryFromName(std::string_view name) {
  for (DataCategory c :
       {DataCategory::kVitalsSummary, DataCategory::kDiagnoses, DataCategory::kFullRecord}) {
    if (DataCategoryName(c) == name) return c;
  }
  return std::nullopt;
}

const CategoryThreshold& SharingPolicy::For(DataCategory category) const {
  switch (category) {
    case DataCategory::kVitalsSummary: return vitals_summary;
    case DataCategory::kDiagnoses: return diagnoses;
    case DataCategory::kFullRecord: return full_record;
  }
  return full_record;  // unreachable for a valid enum; the strictest is the safe answer
}

std::string_view ReasonKindName(ReasonKind kind) {
  switch (kind) {
    case ReasonKind::kApproval: return "approval";
    case ReasonKind::kConsent: return "consent";
    case ReasonKind::kSimilarity: return "similarity";
    case ReasonKind::kTrust: return "trust";
  }
  return "unknown";
}

namespace {

std::string Fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
std::string Fixed2(double v) { return Fixed(v, 2); }
std::string Fixed1(double v) { return Fixed(v, 1); }

std::string Compare(bool met) { return met ? " >= " : " < "; }

}  // namespace

Decision Decide(const DecisionInput& input) {
  Decision d;
  d.category = input.category;
  const CategoryThreshold& threshold = input.policy.For(input.category);
  const std::string category(DataCategoryName(input.category));

  DecisionReason approval{ReasonKind::kApproval, input.requester_approved,
                          input.requester_approved ? 1.0 : 0.0, 1.0, ""};
  approval.text = input.requester_approved ? "requester is a hospital-approved identity"
                                           : "requester is not a hospital-approved identity";

  const bool consented = input.owner_consents.contains(input.category);
  DecisionReason consent{ReasonKind::kConsent, consented, consented ? 1.0 : 0.0, 1.0, ""};
  consent.text =
      consented ? "owner allows sharing " + category : "owner does not allow sharing " + category;

  // Compare with a hair of tolerance so a value printed as the threshold is not refused.
  const bool similar = input.similarity + 1e-12 >= threshold.min_similarity;
  DecisionReason similarity{ReasonKind::kSimilarity, similar, input.similarity,
                            threshold.min_similarity, ""};
  similarity.text = "similarity " + Fixed2(input.similarity) + Compare(similar) +
                    Fixed2(threshold.min_similarity);

  const TrustEstimate& t = input.trust;
  const bool trusted = t.value + 1e-12 >= threshold.min_trust;
  DecisionReason trust{ReasonKind::kTrust, trusted, t.value, threshold.min_trust, ""};
  trust.text =
      "trust " + Fixed2(t.value) + Compare(trusted) + Fixed2(threshold.min_trust) +
      " (reputation " + Fixed2(t.reputation) + " from " + std::to_string(t.holders_used) +
      " opinions" +
      (t.holders_filtered > 0 ? ", " + std::to_string(t.holders_filtered) + " filtered as unfair"
                              : std::string()) +
      ", direct " + Fixed2(t.direct) + " weighted " + Fixed2(t.direct_weight) +
      (t.probation ? ", on probation after " + Fixed1(t.probation_bad) + " bad of " +
                         Fixed1(t.probation_ratings) + " recent ratings"
                   : std::string()) +
      (t.lying_rater ? ", rates others unfairly (rater honesty " + Fixed2(t.rater_honesty) + ")"
                     : std::string()) +
      ")";

  d.allow = approval.met && consent.met && similarity.met && trust.met;
  d.reasons = {std::move(approval), std::move(consent), std::move(similarity), std::move(trust)};
  return d;
}

std::string Decision::Summary() const {
  std::string out = (allow ? "allow " : "deny ") + std::string(DataCategoryName(category)) + ":";
  bool first = true;
  for (const DecisionReason& r : reasons) {
    // A denial names what failed first, then the rest; an allowance lists everything.
    if (!allow && r.met) continue;
    out += first ? " " : "; ";
    out += r.text;
    first = false;
  }
  if (!allow) {
    for (const DecisionReason& r : reasons) {
      if (!r.met) continue;
      out += "; " + r.text;
    }
  }
  return out;
}

}  // namespace medmesh::trust
