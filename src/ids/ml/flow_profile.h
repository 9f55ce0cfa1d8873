// The profile of normal network flows, learned from normal records only, and the rarity features
// it gives a flow record (flow model v2, docs/ids_models.md, ADR 0037).
//
// A classifier trained on some attack families learns what *those* attacks look like; a flow of
// an unseen family (NSL-KDD's test set has many) may look like none of them, yet still be rare
// among normal flows. The profile estimates, for each of the 38 numeric KDD features, how often
// normal flows fall in each bin of the value (log1p for counts and bytes, 20 bins for rates),
// globally and per service group, and how often each service, flag and (service, flag) pair
// occurs. A record's rarity of a feature is -log10 of its bin's smoothed frequency (add-one);
// the features are the sum and the maximum over the 38 features (per service group and global),
// the number of features rarer than 1 in 1,000, and the rarity of its service, flag and pair.
// Without a profile the seven features are NaN (missing).
//
// Thread safety: AddNormal needs exclusive access; Features is const and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "ids/ml/flow_features.h"

namespace medmesh::ids::ml {

inline constexpr std::size_t kFlowProfileFeatureCount = 7;
inline constexpr std::size_t kFlowProfileBins = 48;
inline constexpr std::size_t kFlowServiceGroups = 8;

// Names in vector order, without the "rarity." prefix the schema adds.
const std::array<std::string_view, kFlowProfileFeatureCount>& FlowProfileFeatureNames();

class FlowProfile {
 public:
  void AddNormal(const FlowRecord& record);
  bool empty() const { return total_ == 0; }
  std::array<float, kFlowProfileFeatureCount> Features(const FlowRecord& record) const;

  std::string ToJson() const;
  static Result<FlowProfile> FromJson(std::string_view json);

 private:
  using Histogram = std::array<std::uint64_t, kFlowProfileBins>;
  std::uint64_t total_ = 0;
  std::array<Histogram, kKddNumericCount> global_{};
  std::array<std::uint64_t, kFlowServiceGroups> group_total_{};
  std::array<std::array<Histogram, kKddNumericCount>, kFlowServiceGroups> by_group_{};
  std::map<std::string, std::uint64_t> services_, flags_, pairs_;
};

}  // namespace medmesh::ids::ml
