#include "ids/ml/flow_profile.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace medmesh::ids::ml {
namespace {

constexpr std::array<std::string_view, kFlowProfileFeatureCount> kNames = {
    "group_sum", "group_max", "global_sum", "rare_features", "service", "flag", "service_flag"};

// Rates (in [0,1]) in 20 steps; counts and bytes by half units of log1p; capped.
std::size_t Bin(std::size_t feature, double value) {
  const double v = KddNumericIsLogScaled(feature) ? std::log1p(value) * 2.0 : value * 20.0;
  if (!(v >= 0)) return 0;
  return std::min<std::size_t>(kFlowProfileBins - 1, static_cast<std::size_t>(v));
}

// -log10 of the add-one-smoothed frequency of `count` among `total`.
float Rarity(std::uint64_t count, std::uint64_t total, std::size_t outcomes) {
  return static_cast<float>(
      -std::log10((static_cast<double>(count) + 1.0) /
                  (static_cast<double>(total) + static_cast<double>(outcomes))));
}

template <typename T>
std::uint64_t Lookup(const std::map<std::string, std::uint64_t>& m, const T& key) {
  const auto it = m.find(std::string(key));
  return it == m.end() ? 0 : it->second;
}

}  // namespace

const std::array<std::string_view, kFlowProfileFeatureCount>& FlowProfileFeatureNames() {
  return kNames;
}

void FlowProfile::AddNormal(const FlowRecord& record) {
  ++total_;
  const std::size_t group = KddServiceGroupIndex(record.service);
  ++group_total_[group];
  for (std::size_t j = 0; j < kKddNumericCount; ++j) {
    const std::size_t bin = Bin(j, record.numeric[j]);
    ++global_[j][bin];
    ++by_group_[group][j][bin];
  }
  ++services_[record.service];
  ++flags_[record.flag];
  ++pairs_[record.service + "/" + record.flag];
}

std::array<float, kFlowProfileFeatureCount> FlowProfile::Features(const FlowRecord& record) const {
  std::array<float, kFlowProfileFeatureCount> f;
  f.fill(std::numeric_limits<float>::quiet_NaN());
  if (empty()) return f;
  f.fill(0.0f);
  const std::size_t group = KddServiceGroupIndex(record.service);
  for (std::size_t j = 0; j < kKddNumericCount; ++j) {
    const std::size_t bin = Bin(j, record.numeric[j]);
    const float in_group = Rarity(by_group_[group][j][bin], group_total_[group], kFlowProfileBins);
    const float global = Rarity(global_[j][bin], total_, kFlowProfileBins);
    f[0] += in_group;
    f[1] = std::max(f[1], in_group);
    f[2] += global;
    f[3] += global >= 3.0f ? 1.0f : 0.0f;
  }
  f[4] = Rarity(Lookup(services_, record.service), total_, services_.size() + 1);
  f[5] = Rarity(Lookup(flags_, record.flag), total_, flags_.size() + 1);
  f[6] = Rarity(Lookup(pairs_, record.service + "/" + record.flag), total_, pairs_.size() + 1);
  return f;
}

std::string FlowProfile::ToJson() const {
  auto histograms = [](const std::array<Histogram, kKddNumericCount>& h) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const Histogram& row : h) out.push_back(row);
    return out;
  };
  nlohmann::ordered_json groups = nlohmann::ordered_json::array();
  for (std::size_t g = 0; g < kFlowServiceGroups; ++g) {
    groups.push_back({{"n", group_total_[g]}, {"bins", histograms(by_group_[g])}});
  }
  const nlohmann::ordered_json j = {{"format", "medmesh-flow-profile-1"},
                                    {"n", total_},
                                    {"bins", histograms(global_)},
                                    {"groups", groups},
                                    {"services", services_},
                                    {"flags", flags_},
                                    {"service_flags", pairs_}};
  return j.dump() + "\n";
}

Result<FlowProfile> FlowProfile::FromJson(std::string_view json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  auto bad = [](const char* what) { return InvalidArgument(std::string("flow profile: ") + what); };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  if (!j.contains("format") || j["format"] != "medmesh-flow-profile-1") return bad("format");
  for (const char* key : {"n", "bins", "groups", "services", "flags", "service_flags"}) {
    if (!j.contains(key)) return bad("missing member");
  }
  FlowProfile out;
  auto histograms = [](const nlohmann::json& a, std::array<Histogram, kKddNumericCount>& h) {
    if (!a.is_array() || a.size() != kKddNumericCount) return false;
    for (std::size_t f = 0; f < kKddNumericCount; ++f) {
      if (!a[f].is_array() || a[f].size() != kFlowProfileBins) return false;
      for (std::size_t b = 0; b < kFlowProfileBins; ++b) {
        if (!a[f][b].is_number_unsigned()) return false;
        h[f][b] = a[f][b].get<std::uint64_t>();
      }
    }
    return true;
  };
  auto counts = [](const nlohmann::json& o, std::map<std::string, std::uint64_t>& m) {
    if (!o.is_object()) return false;
    for (const auto& [k, v] : o.items()) {
      if (!v.is_number_unsigned()) return false;
      m[k] = v.get<std::uint64_t>();
    }
    return true;
  };
  if (!j["n"].is_number_unsigned()) return bad("n");
  out.total_ = j["n"].get<std::uint64_t>();
  if (!histograms(j["bins"], out.global_)) return bad("bins");
  if (!j["groups"].is_array() || j["groups"].size() != kFlowServiceGroups) return bad("groups");
  for (std::size_t g = 0; g < kFlowServiceGroups; ++g) {
    const auto& group = j["groups"][g];
    if (!group.is_object() || !group.contains("n") || !group["n"].is_number_unsigned() ||
        !group.contains("bins") || !histograms(group["bins"], out.by_group_[g])) {
      return bad("group");
    }
    out.group_total_[g] = group["n"].get<std::uint64_t>();
  }
  if (!counts(j["services"], out.services_) || !counts(j["flags"], out.flags_) ||
      !counts(j["service_flags"], out.pairs_)) {
    return bad("symbol counts");
  }
  return out;
}

}  // namespace medmesh::ids::ml
