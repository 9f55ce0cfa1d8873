#include "fhir/search.h"

#include <algorithm>

#include "fhir/codes.h"
#include "fhir/ids.h"

namespace medmesh::fhir {
namespace {

// Finds the unescaped '|' positions of one token alternative (escapes still in place).
std::vector<std::size_t> UnescapedBars(std::string_view alt) {
  std::vector<std::size_t> bars;
  for (std::size_t i = 0; i < alt.size(); ++i) {
    if (alt[i] == '\\') {
      ++i;
    } else if (alt[i] == '|') {
      bars.push_back(i);
    }
  }
  return bars;
}

std::string Unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

}  // namespace

Result<DateSearch> ParseDateSearch(std::string_view value) {
  DateSearch search;
  if (value.size() >= 2 && value[0] >= 'a' && value[0] <= 'z') {
    const std::string_view prefix = value.substr(0, 2);
    if (prefix == "eq") {
      search.prefix = DatePrefix::kEq;
    } else if (prefix == "ge") {
      search.prefix = DatePrefix::kGe;
    } else if (prefix == "le") {
      search.prefix = DatePrefix::kLe;
    } else if (prefix == "gt") {
      search.prefix = DatePrefix::kGt;
    } else if (prefix == "lt") {
      search.prefix = DatePrefix::kLt;
    } else if (prefix == "ne" || prefix == "sa" || prefix == "eb" || prefix == "ap") {
      return InvalidArgument("date prefixes ne, sa, eb and ap are not supported");
    } else {
      return InvalidArgument("unknown date prefix");
    }
    value.remove_prefix(2);
  }
  MEDMESH_ASSIGN_OR_RETURN(search.value, ParseDateTimeRange(value));
  return search;
}

TimeRange MatchingInstants(const DateSearch& search) {
  TimeRange r;  // unbounded
  switch (search.prefix) {
    case DatePrefix::kEq: return search.value;
    case DatePrefix::kGe: r.begin_ms = search.value.begin_ms; break;
    case DatePrefix::kGt: r.begin_ms = search.value.end_ms; break;
    case DatePrefix::kLe: r.end_ms = search.value.end_ms; break;
    case DatePrefix::kLt: r.end_ms = search.value.begin_ms; break;
  }
  return r;
}

Result<TimeRange> ParseDateSearches(std::span<const std::string_view> values) {
  TimeRange range;
  for (const std::string_view v : values) {
    if (v.find(',') != std::string_view::npos) {
      return InvalidArgument("a date parameter takes one value (no comma-separated list)");
    }
    MEDMESH_ASSIGN_OR_RETURN(DateSearch search, ParseDateSearch(v));
    const TimeRange m = MatchingInstants(search);
    range.begin_ms = std::max(range.begin_ms, m.begin_ms);
    range.end_ms = std::min(range.end_ms, m.end_ms);
  }
  return range;
}

Result<std::vector<TokenSearch>> ParseTokenSearch(std::string_view value) {
  if (value.empty()) return InvalidArgument("empty token parameter");
  // Split alternatives at unescaped commas, keeping the other escapes for the '|' split.
  std::vector<std::string_view> alternatives;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i < value.size() && value[i] == '\\') {
      if (i + 1 == value.size()) return InvalidArgument("dangling escape in token parameter");
      const char next = value[i + 1];
      if (next != ',' && next != '|' && next != '\\' && next != '$') {
        return InvalidArgument("unknown escape in token parameter");
      }
      ++i;
      continue;
    }
    if (i == value.size() || value[i] == ',') {
      alternatives.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  std::vector<TokenSearch> out;
  for (const std::string_view alt : alternatives) {
    if (alt.empty()) return InvalidArgument("empty alternative in token parameter");
    const std::vector<std::size_t> bars = UnescapedBars(alt);
    TokenSearch t;
    if (bars.empty()) {
      t.code = Unescape(alt);
    } else if (bars.size() == 1) {
      const std::string_view system = alt.substr(0, bars[0]);
      const std::string_view code = alt.substr(bars[0] + 1);
      if (system.empty() && code.empty()) return InvalidArgument("token parameter is only '|'");
      t.system = Unescape(system);
      if (!code.empty()) t.code = Unescape(code);
    } else {
      return InvalidArgument("a token has at most one '|'");
    }
    out.push_back(std::move(t));
  }
  return out;
}

bool TokenMatches(std::span<const TokenSearch> alternatives, std::string_view system,
                  std::string_view code) {
  return std::any_of(alternatives.begin(), alternatives.end(), [&](const TokenSearch& t) {
    if (t.system && *t.system != system) return false;
    if (t.code && *t.code != code) return false;
    return true;
  });
}

bool CodeableConceptMatches(std::span<const TokenSearch> alternatives,
                            const nlohmann::json& codeable_concept) {
  if (!codeable_concept.is_object()) return false;
  const auto codings = codeable_concept.find("coding");
  if (codings == codeable_concept.end() || !codings->is_array()) return false;
  for (const nlohmann::json& coding : *codings) {
    if (!coding.is_object()) continue;
    const auto system = coding.find("system");
    const auto code = coding.find("code");
    const std::string s =
        system != coding.end() && system->is_string() ? system->get<std::string>() : std::string();
    if (code == coding.end() || !code->is_string()) continue;
    if (TokenMatches(alternatives, s, code->get<std::string>())) return true;
  }
  return false;
}

std::vector<wire::VitalKind> VitalKindsForCodes(std::span<const TokenSearch> alternatives) {
  std::vector<wire::VitalKind> kinds;
  const bool panel = TokenMatches(alternatives, kLoincSystem, kBloodPressurePanelLoinc);
  for (const VitalCoding& c : AllVitalCodings()) {
    const bool bp =
        c.kind == wire::VitalKind::kSystolicBp || c.kind == wire::VitalKind::kDiastolicBp;
    if ((bp && panel) || TokenMatches(alternatives, kLoincSystem, c.loinc) ||
        (!c.extra_loinc.empty() && TokenMatches(alternatives, kLoincSystem, c.extra_loinc))) {
      kinds.push_back(c.kind);
    }
  }
  return kinds;
}

Result<std::string> ParsePatientSearch(std::string_view value) {
  constexpr std::string_view kPrefix = "Patient/";
  if (value.starts_with(kPrefix)) {
    value.remove_prefix(kPrefix.size());
  } else if (value.find('/') != std::string_view::npos ||
             value.find(':') != std::string_view::npos) {
    return InvalidArgument("patient must be Patient/<id> or <id>");
  }
  return FromFhirId(value);
}

}  // namespace medmesh::fhir
