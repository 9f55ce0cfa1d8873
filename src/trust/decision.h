// The sharing decision: may `requester` see this category of the owner's data?
//
// Allowed only when ALL of these hold, and each is a reason shown and audited:
//   approval    the requester is a hospital-approved identity;
//   consent     the owner allows this category (never beyond the owner's consent);
//   similarity  S(owner, requester) >= the category's min_similarity (sharing is between
//               patients with similar illnesses);
//   trust       T(owner, requester) >= the category's min_trust; the reason carries the
//               reputation and direct parts of T.
// Every reason is evaluated (not only the first failing one) so the explanation is complete.
// Reason texts hold numbers and category names only, never ids or names.
// Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "trust/trust_model.h"

namespace medmesh::trust {

enum class DataCategory : std::uint8_t { kVitalsSummary, kDiagnoses, kFullRecord };
std::string_view DataCategoryName(DataCategory category);  // "vitals_summary", "diagnoses",
                                                           // "full_record"
std::optional<DataCategory> DataCategoryFromName(std::string_view name);

struct CategoryThreshold {
  double min_trust = 1;
  double min_similarity = 0;
};

// Defaults (docs/trust.md, tuned by `medmesh eval trust`): vitals summary 0.65, diagnoses 0.7,
// full record 0.8; similarity 0.15 for each. All above the base rate 0.3 of TrustParams.
struct SharingPolicy {
  CategoryThreshold vitals_summary{0.65, 0.15};
  CategoryThreshold diagnoses{0.7, 0.15};
  CategoryThreshold full_record{0.8, 0.15};
  const CategoryThreshold& For(DataCategory category) const;
};

struct DecisionInput {
  DataCategory category = DataCategory::kVitalsSummary;
  std::set<DataCategory> owner_consents;  // the categories the owner allows to share
  bool requester_approved = false;
  double similarity = 0;  // S(owner, requester)
  TrustEstimate trust;    // T(owner, requester)
  SharingPolicy policy;
};

enum class ReasonKind : std::uint8_t { kApproval, kConsent, kSimilarity, kTrust };
std::string_view ReasonKindName(ReasonKind kind);  // "approval", "consent", "similarity", "trust"

struct DecisionReason {
  ReasonKind kind = ReasonKind::kApproval;
  bool met = false;
  double value = 0;     // approval/consent: 1 or 0; similarity: S; trust: T
  double required = 0;  // approval/consent: 1; else the category's threshold
  std::string text;     // one sentence for people, e.g. "trust 0.72 >= 0.70 (reputation 0.68
                        // from 5 opinions, direct 0.80 weighted 0.40)"
};

struct Decision {
  bool allow = false;
  DataCategory category = DataCategory::kVitalsSummary;
  std::vector<DecisionReason> reasons;  // approval, consent, similarity, trust in that order
  // "allow vitals_summary: ..." / "deny diagnoses: consent not given; ...": the reasons joined.
  std::string Summary() const;
};

Decision Decide(const DecisionInput& input);

}  // namespace medmesh::trust
