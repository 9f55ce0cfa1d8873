// The benign profile of one web application's parameters, learned from its normal traffic only,
// and the request features that measure how far a request departs from it (request model v2,
// docs/ids_models.md, ADR 0037).
//
// Most anomalies of CSIC 2010 are "an unusual value for this parameter": a letter in a number, a
// quote in a login, a parameter the endpoint never takes, a path the application does not have.
// No name-agnostic feature can see that; a profile of the benign traffic can, and it needs no
// attack examples, so it also catches attack types absent from training. The profile holds, per
// decoded parameter name: how often it was seen, the range of its decoded lengths, the set of
// bytes its values used, and, while they stay few, the set of its values and of their shapes
// (letters -> 'a', digits -> '9', runs collapsed: "Calle 12" -> "a 9"); per decoded path: how
// often it was seen and with which names; and the set of directories of the benign paths.
// Names, paths and values are stored only as 64-bit hashes (no literal leaves the trainer).
//
// Scope: a request is *profiled* when the directory of its path is a directory of the benign
// traffic (the profile knows this part of the application). Otherwise every profile feature is
// NaN (missing) and the model judges the request on its name-agnostic features alone, exactly
// like a request of an application it never saw (MedMesh's own routes today).
//
// Thread safety: building (AddBenign) needs exclusive access; Features is const and safe from
// any number of threads once built.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "core/status.h"
#include "ids/ml/http_features.h"

namespace medmesh::ids::ml {

inline constexpr std::size_t kProfileFeatureCount = 10;

// The profile feature names in vector order (without the "profile." prefix the schema adds):
//   path_unknown      1 if the path was never seen (its directory was)
//   unknown_names     parameters whose name the profile never saw
//   names_new_for_path  known names never seen on this path
//   missing_names     names present in every benign request of this path but absent here
//   novel_chars       max over known parameters: distinct bytes never seen in that parameter
//   novel_char_frac   max over known parameters: share of the value's bytes never seen there
//   len_over          max over known parameters: log1p(length) - log1p(longest seen), >= 0
//   len_under         max over known parameters: log1p(shortest seen) - log1p(length), >= 0
//   enum_miss         known parameters with few benign values whose value is not one of them
//   shape_miss        known parameters with few benign shapes whose shape is not one of them
const std::array<std::string_view, kProfileFeatureCount>& ProfileFeatureNames();

class ParamProfile {
 public:
  // A parameter keeps its value (shape) set while it has at most this many distinct ones.
  static constexpr std::size_t kMaxValues = 32;
  static constexpr std::size_t kMaxShapes = 48;

  // Learns one benign request.
  void AddBenign(const HttpRequestInput& request);
  bool empty() const { return paths_.empty(); }

  // True if the request's path lies in a directory of the benign traffic.
  bool InScope(std::string_view raw_path) const;
  // The profile features of `request` (all NaN when the profile is empty or the request is out of
  // scope).
  std::array<float, kProfileFeatureCount> Features(const HttpRequestInput& request) const;

  // A compact JSON document of hashes and counts; FromJson validates it (kInvalidArgument).
  std::string ToJson() const;
  static Result<ParamProfile> FromJson(std::string_view json);

 private:
  struct Param {
    std::uint64_t count = 0;
    std::uint32_t min_len = UINT32_MAX, max_len = 0;
    std::bitset<256> bytes;
    std::set<std::uint64_t> values;  // hashes; cleared and `values_open` once above kMaxValues
    bool values_open = false;
    std::set<std::uint64_t> shapes;
    bool shapes_open = false;
  };
  struct Path {
    std::uint64_t count = 0;
    std::map<std::uint64_t, std::uint64_t> names;  // name hash -> requests carrying it
  };
  std::map<std::uint64_t, Param> params_;  // by name hash
  std::map<std::uint64_t, Path> paths_;    // by path hash
  std::set<std::uint64_t> dirs_;           // directory hashes
};

}  // namespace medmesh::ids::ml
