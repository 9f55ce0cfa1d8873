#include "ids/ml/param_profile.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "ids/ml/stable_hash.h"

namespace medmesh::ids::ml {
namespace {

std::string Hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

bool ParseHex(const std::string& s, std::uint64_t& out) {
  if (s.empty() || s.size() > 16) return false;
  out = 0;
  for (char c : s) {
    int d = -1;
    if (c >= '0' && c <= '9') d = c - '0';
    if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    if (d < 0) return false;
    out = out * 16 + static_cast<std::uint64_t>(d);
  }
  return true;
}

std::string Directory(std::string_view decoded_path) {
  const std::size_t slash = decoded_path.rfind('/');
  return std::string(slash == std::string_view::npos ? std::string_view()
                                                     : decoded_path.substr(0, slash + 1));
}

// Letters (ASCII or not) -> 'a', digits -> '9', '+' and whitespace -> ' ', other bytes kept;
// runs of one class collapsed; at most 32 classes, then '~'.
std::string Shape(std::string_view value) {
  std::string out;
  for (unsigned char c : value) {
    char k = static_cast<char>(c);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80) {
      k = 'a';
    } else if (c >= '0' && c <= '9') {
      k = '9';
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      k = ' ';
    }
    if (!out.empty() && out.back() == k && (k == 'a' || k == '9' || k == ' ')) continue;
    if (out.size() >= 32) {
      out.push_back('~');
      break;
    }
    out.push_back(k);
  }
  return out;
}

struct DecodedParam {
  std::uint64_t name;
  std::string value;
};

std::vector<DecodedParam> DecodeParams(const HttpRequestInput& request) {
  std::vector<DecodedParam> out;
  for (std::string_view part : {request.query, request.body}) {
    for (const auto& [key, value] : SplitParams(part)) {
      out.push_back({StableHash("name", PercentDecode(key, true)), DecodeFully(value, nullptr)});
    }
  }
  return out;
}

constexpr std::array<std::string_view, kProfileFeatureCount> kNames = {
    "path_unknown",    "unknown_names", "names_new_for_path", "missing_names", "novel_chars",
    "novel_char_frac", "len_over",      "len_under",          "enum_miss",     "shape_miss"};

}  // namespace

const std::array<std::string_view, kProfileFeatureCount>& ProfileFeatureNames() { return kNames; }

void ParamProfile::AddBenign(const HttpRequestInput& request) {
  const std::string path = PercentDecode(request.path, false);
  dirs_.insert(StableHash("dir", Directory(path)));
  Path& p = paths_[StableHash("path", path)];
  ++p.count;
  std::set<std::uint64_t> seen_names;
  for (const DecodedParam& d : DecodeParams(request)) {
    if (seen_names.insert(d.name).second) ++p.names[d.name];
    Param& param = params_[d.name];
    ++param.count;
    const auto len = static_cast<std::uint32_t>(std::min<std::size_t>(d.value.size(), UINT32_MAX));
    param.min_len = std::min(param.min_len, len);
    param.max_len = std::max(param.max_len, len);
    for (unsigned char c : d.value) param.bytes.set(c);
    if (!param.values_open) {
      param.values.insert(StableHash("value", d.value));
      if (param.values.size() > kMaxValues) {
        param.values.clear();
        param.values_open = true;
      }
    }
    if (!param.shapes_open) {
      param.shapes.insert(StableHash("shape", Shape(d.value)));
      if (param.shapes.size() > kMaxShapes) {
        param.shapes.clear();
        param.shapes_open = true;
      }
    }
  }
}

bool ParamProfile::InScope(std::string_view raw_path) const {
  return !empty() && dirs_.contains(StableHash("dir", Directory(PercentDecode(raw_path, false))));
}

std::array<float, kProfileFeatureCount> ParamProfile::Features(
    const HttpRequestInput& request) const {
  std::array<float, kProfileFeatureCount> f;
  f.fill(std::numeric_limits<float>::quiet_NaN());
  if (!InScope(request.path)) return f;
  f.fill(0.0f);
  const auto path_it = paths_.find(StableHash("path", PercentDecode(request.path, false)));
  f[0] = path_it == paths_.end() ? 1.0f : 0.0f;
  std::set<std::uint64_t> names;
  for (const DecodedParam& d : DecodeParams(request)) {
    names.insert(d.name);
    const auto it = params_.find(d.name);
    if (it == params_.end()) {
      f[1] += 1;
      continue;
    }
    const Param& param = it->second;
    if (path_it != paths_.end() && !path_it->second.names.contains(d.name)) f[2] += 1;
    std::bitset<256> novel;
    std::size_t novel_bytes = 0;
    for (unsigned char c : d.value) {
      if (!param.bytes.test(c)) {
        novel.set(c);
        ++novel_bytes;
      }
    }
    f[4] = std::max(f[4], static_cast<float>(novel.count()));
    if (!d.value.empty()) {
      f[5] = std::max(f[5], static_cast<float>(novel_bytes) / static_cast<float>(d.value.size()));
    }
    const auto len = static_cast<double>(d.value.size());
    f[6] =
        std::max(f[6], static_cast<float>(std::max(
                           0.0, std::log1p(len) - std::log1p(static_cast<double>(param.max_len)))));
    f[7] =
        std::max(f[7], static_cast<float>(std::max(
                           0.0, std::log1p(static_cast<double>(param.min_len)) - std::log1p(len))));
    if (!param.values_open && !param.values.contains(StableHash("value", d.value))) f[8] += 1;
    if (!param.shapes_open && !param.shapes.contains(StableHash("shape", Shape(d.value))))
      f[9] += 1;
  }
  if (path_it != paths_.end()) {
    for (const auto& [name, count] : path_it->second.names) {
      if (count == path_it->second.count && !names.contains(name)) f[3] += 1;
    }
  }
  return f;
}

std::string ParamProfile::ToJson() const {
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  for (const auto& [name, p] : params_) {
    nlohmann::ordered_json values = nullptr, shapes = nullptr;
    if (!p.values_open) {
      values = nlohmann::ordered_json::array();
      for (std::uint64_t v : p.values) values.push_back(Hex(v));
    }
    if (!p.shapes_open) {
      shapes = nlohmann::ordered_json::array();
      for (std::uint64_t v : p.shapes) shapes.push_back(Hex(v));
    }
    params[Hex(name)] = {{"n", p.count},         {"min_len", p.min_len},
                         {"max_len", p.max_len}, {"bytes", p.bytes.to_string()},
                         {"values", values},     {"shapes", shapes}};
  }
  nlohmann::ordered_json paths = nlohmann::ordered_json::object();
  for (const auto& [path, p] : paths_) {
    nlohmann::ordered_json names = nlohmann::ordered_json::object();
    for (const auto& [name, count] : p.names) names[Hex(name)] = count;
    paths[Hex(path)] = {{"n", p.count}, {"names", names}};
  }
  nlohmann::ordered_json dirs = nlohmann::ordered_json::array();
  for (std::uint64_t d : dirs_) dirs.push_back(Hex(d));
  const nlohmann::ordered_json j = {
      {"format", "medmesh-param-profile-1"}, {"dirs", dirs}, {"paths", paths}, {"params", params}};
  return j.dump(1) + "\n";
}

Result<ParamProfile> ParamProfile::FromJson(std::string_view json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  auto bad = [](const char* what) {
    return InvalidArgument(std::string("parameter profile: ") + what);
  };
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  if (!j.contains("format") || j["format"] != "medmesh-param-profile-1") return bad("format");
  for (const char* key : {"dirs", "paths", "params"}) {
    if (!j.contains(key)) return bad("missing member");
  }
  if (!j["dirs"].is_array() || !j["paths"].is_object() || !j["params"].is_object()) {
    return bad("members of the wrong type");
  }
  ParamProfile out;
  auto hex_set = [](const nlohmann::json& a, std::set<std::uint64_t>& set) {
    if (!a.is_array()) return false;
    for (const auto& v : a) {
      std::uint64_t h = 0;
      if (!v.is_string() || !ParseHex(v.get<std::string>(), h)) return false;
      set.insert(h);
    }
    return true;
  };
  if (!hex_set(j["dirs"], out.dirs_)) return bad("dirs");
  for (const auto& [key, value] : j["paths"].items()) {
    std::uint64_t h = 0;
    if (!ParseHex(key, h) || !value.is_object() || !value.contains("n") ||
        !value["n"].is_number_unsigned() || !value.contains("names") ||
        !value["names"].is_object()) {
      return bad("path entry");
    }
    Path& p = out.paths_[h];
    p.count = value["n"].get<std::uint64_t>();
    for (const auto& [name, count] : value["names"].items()) {
      std::uint64_t n = 0;
      if (!ParseHex(name, n) || !count.is_number_unsigned()) return bad("path name entry");
      p.names[n] = count.get<std::uint64_t>();
    }
  }
  for (const auto& [key, value] : j["params"].items()) {
    std::uint64_t h = 0;
    if (!ParseHex(key, h) || !value.is_object()) return bad("parameter entry");
    for (const char* member : {"n", "min_len", "max_len"}) {
      if (!value.contains(member) || !value[member].is_number_unsigned()) return bad("parameter");
    }
    if (!value.contains("bytes") || !value["bytes"].is_string() ||
        value["bytes"].get<std::string>().size() != 256 ||
        value["bytes"].get<std::string>().find_first_not_of("01") != std::string::npos ||
        !value.contains("values") || !value.contains("shapes")) {
      return bad("parameter");
    }
    Param& p = out.params_[h];
    p.count = value["n"].get<std::uint64_t>();
    const std::uint64_t min_len = value["min_len"].get<std::uint64_t>();
    const std::uint64_t max_len = value["max_len"].get<std::uint64_t>();
    if (min_len > UINT32_MAX || max_len > UINT32_MAX) return bad("length out of range");
    p.min_len = static_cast<std::uint32_t>(min_len);
    p.max_len = static_cast<std::uint32_t>(max_len);
    p.bytes = std::bitset<256>(value["bytes"].get<std::string>());
    p.values_open = value["values"].is_null();
    p.shapes_open = value["shapes"].is_null();
    if (!p.values_open && !hex_set(value["values"], p.values)) return bad("values");
    if (!p.shapes_open && !hex_set(value["shapes"], p.shapes)) return bad("shapes");
  }
  return out;
}

}  // namespace medmesh::ids::ml
