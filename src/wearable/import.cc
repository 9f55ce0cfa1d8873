#include "wearable/import.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <utility>

#include "wearable/internal/civil_time.h"

namespace medmesh::wearable {
namespace {

using nlohmann::json;
using wire::Reading;
using wire::VitalKind;

constexpr std::string_view kLoincSystem = "http://loinc.org";
constexpr std::string_view kUcumSystem = "http://unitsofmeasure.org";
constexpr int kMaxJsonDepth = 64;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Untrusted text shown in a message: printable ASCII only, cut to `max` characters.
std::string Printable(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (s.size() > max) out += "...";
  return out;
}
std::string Quote(std::string_view s) { return "'" + Printable(s, 40) + "'"; }

// --- Units -----------------------------------------------------------------------------------

struct UnitRule {
  VitalKind kind;
  std::string_view unit;  // compared case-sensitively, as UCUM is (but see Canonical())
  double scale;           // canonical = value * scale + offset
  double offset;
};

constexpr std::array<UnitRule, 37> kUnits = {{
    {VitalKind::kHeartRate, "/min", 1, 0},
    {VitalKind::kHeartRate, "bpm", 1, 0},
    {VitalKind::kHeartRate, "beats/min", 1, 0},
    {VitalKind::kHeartRate, "{beats}/min", 1, 0},
    {VitalKind::kHeartRate, "1/min", 1, 0},
    {VitalKind::kSpO2, "%", 1, 0},
    {VitalKind::kBodyTemperature, "Cel", 1, 0},
    {VitalKind::kBodyTemperature, "degC", 1, 0},
    {VitalKind::kBodyTemperature, "C", 1, 0},
    {VitalKind::kBodyTemperature,
     "\xC2\xB0"
     "C",
     1, 0},
    {VitalKind::kBodyTemperature, "[degF]", 5.0 / 9.0, -32.0 * 5.0 / 9.0},
    {VitalKind::kBodyTemperature, "degF", 5.0 / 9.0, -32.0 * 5.0 / 9.0},
    {VitalKind::kBodyTemperature, "F", 5.0 / 9.0, -32.0 * 5.0 / 9.0},
    {VitalKind::kBodyTemperature,
     "\xC2\xB0"
     "F",
     5.0 / 9.0, -32.0 * 5.0 / 9.0},
    {VitalKind::kBodyTemperature, "K", 1, -273.15},
    {VitalKind::kSystolicBp, "mm[Hg]", 1, 0},
    {VitalKind::kSystolicBp, "mmHg", 1, 0},
    {VitalKind::kSystolicBp, "kPa", 7.500617, 0},
    {VitalKind::kDiastolicBp, "mm[Hg]", 1, 0},
    {VitalKind::kDiastolicBp, "mmHg", 1, 0},
    {VitalKind::kDiastolicBp, "kPa", 7.500617, 0},
    {VitalKind::kRespiratoryRate, "/min", 1, 0},
    {VitalKind::kRespiratoryRate, "breaths/min", 1, 0},
    {VitalKind::kRespiratoryRate, "{breaths}/min", 1, 0},
    {VitalKind::kRespiratoryRate, "1/min", 1, 0},
    {VitalKind::kGlucose, "mg/dL", 1, 0},
    {VitalKind::kGlucose, "mg/dl", 1, 0},
    // Glucose: 180.16 g/mol, so 1 mmol/L = 180.16 mg/L = 18.016 mg/dL.
    {VitalKind::kGlucose, "mmol/L", 18.016, 0},
    {VitalKind::kGlucose, "mmol/l", 18.016, 0},
    {VitalKind::kSteps, "{steps}", 1, 0},
    {VitalKind::kSteps, "steps", 1, 0},
    {VitalKind::kSteps, "{step}", 1, 0},
    {VitalKind::kSteps, "{count}", 1, 0},
    {VitalKind::kSteps, "1", 1, 0},
    {VitalKind::kSpO2, "%{Oxygen}", 1, 0},
    {VitalKind::kHeartRate, "{beat}/min", 1, 0},
    {VitalKind::kSteps, "/min", 1, 0},
}};

// --- Kinds -----------------------------------------------------------------------------------

struct KindAlias {
  std::string_view alias;
  VitalKind kind;
};
constexpr std::array<KindAlias, 24> kKindAliases = {{
    {"hr", VitalKind::kHeartRate},
    {"pulse", VitalKind::kHeartRate},
    {"heartrate", VitalKind::kHeartRate},
    {"oxygen_saturation", VitalKind::kSpO2},
    {"sao2", VitalKind::kSpO2},
    {"temp", VitalKind::kBodyTemperature},
    {"temperature", VitalKind::kBodyTemperature},
    {"sbp", VitalKind::kSystolicBp},
    {"systolic", VitalKind::kSystolicBp},
    {"dbp", VitalKind::kDiastolicBp},
    {"diastolic", VitalKind::kDiastolicBp},
    {"rr", VitalKind::kRespiratoryRate},
    {"resp_rate", VitalKind::kRespiratoryRate},
    {"breathing_rate", VitalKind::kRespiratoryRate},
    {"bg", VitalKind::kGlucose},
    {"blood_glucose", VitalKind::kGlucose},
    {"cgm", VitalKind::kGlucose},
    {"step_count", VitalKind::kSteps},
    {"ecg", VitalKind::kEcgRhythm},
    {"rhythm", VitalKind::kEcgRhythm},
    {"heart_rhythm", VitalKind::kEcgRhythm},
    {"bp_systolic", VitalKind::kSystolicBp},
    {"bp_diastolic", VitalKind::kDiastolicBp},
    {"spo2_pct", VitalKind::kSpO2},
}};

// LOINC codes beyond the one per kind in wire::Info().
constexpr std::array<KindAlias, 9> kExtraLoinc = {{
    {"2708-6", VitalKind::kSpO2},             // oxygen saturation in arterial blood
    {"8331-1", VitalKind::kBodyTemperature},  // oral temperature
    {"8332-9", VitalKind::kBodyTemperature},  // rectal temperature
    {"8333-7", VitalKind::kBodyTemperature},  // tympanic temperature
    {"2345-7", VitalKind::kGlucose},          // glucose in serum or plasma
    {"15074-8", VitalKind::kGlucose},         // glucose in blood (moles/volume)
    {"41653-7", VitalKind::kGlucose},         // glucose by glucometer
    {"8884-9", VitalKind::kEcgRhythm},        // heart rate rhythm
    {"8889-8", VitalKind::kHeartRate},        // heart rate by pulse oximetry
}};
constexpr std::array<std::string_view, 2> kBpPanels = {"85354-9", "55284-4"};

std::optional<VitalKind> KindFromLoinc(std::string_view code) {
  for (const auto& info : wire::AllVitals()) {
    if (!info.loinc.empty() && info.loinc == code) return info.kind;
  }
  for (const auto& a : kExtraLoinc) {
    if (a.alias == code) return a.kind;
  }
  return std::nullopt;
}

std::optional<VitalKind> KindFromText(std::string_view text) {
  const std::string lower = Lower(Trim(text));
  if (auto k = wire::VitalKindFromName(lower)) return k;
  for (const auto& a : kKindAliases) {
    if (a.alias == lower) return a.kind;
  }
  return KindFromLoinc(lower);
}

// An ECG rhythm from a code (0..4), a name, or free text (FHIR display / text).
std::optional<wire::EcgRhythm> RhythmFromText(std::string_view text) {
  const std::string t = Lower(Trim(text));
  if (t.size() == 1 && t[0] >= '0' && t[0] <= '4') return static_cast<wire::EcgRhythm>(t[0] - '0');
  if (t == "afib" || t == "af" || t == "atrial_fibrillation" || t == "49436004" ||
      t.find("fibrillation") != std::string::npos) {
    return wire::EcgRhythm::kAtrialFibrillation;
  }
  if (t == "sinus_tachycardia" || t == "11092001" || t.find("tachycardia") != std::string::npos) {
    return wire::EcgRhythm::kSinusTachycardia;
  }
  if (t == "sinus_bradycardia" || t == "426627000" || t.find("bradycardia") != std::string::npos) {
    return wire::EcgRhythm::kSinusBradycardia;
  }
  if (t == "sinus" || t == "426783006" || t.find("sinus") != std::string::npos) {
    return wire::EcgRhythm::kSinus;
  }
  if (t == "other") return wire::EcgRhythm::kOther;
  return std::nullopt;
}

std::optional<double> ParseNumber(std::string_view s) {
  s = Trim(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

// A reading from its parts; the error text is the rejection reason.
Result<Reading> MakeReading(std::int64_t time_ms, VitalKind kind, std::string_view value_text,
                            std::optional<double> value, std::string_view unit) {
  Reading r{time_ms, kind, 0};
  if (kind == VitalKind::kEcgRhythm) {
    if (!unit.empty() && unit != "{code}") {
      return InvalidArgument("ecg_rhythm takes no unit (or {code}), not " + Quote(unit));
    }
    auto rhythm = RhythmFromText(value_text);
    if (!rhythm) {
      return InvalidArgument("unknown ECG rhythm " + Quote(value_text) +
                             " (use sinus, sinus_tachycardia, sinus_bradycardia, "
                             "atrial_fibrillation, other or a code 0..4)");
    }
    r.value_milli = static_cast<std::int64_t>(*rhythm) * 1000;
  } else {
    if (!value) value = ParseNumber(value_text);
    if (!value) return InvalidArgument("value " + Quote(value_text) + " is not a number");
    MEDMESH_ASSIGN_OR_RETURN(r.value_milli, ToMilliUnits(kind, *value, unit));
  }
  MEDMESH_RETURN_IF_ERROR(wire::CheckPlausible(r));
  return r;
}

std::optional<std::int64_t> ParseTime(std::string_view text, std::string* why) {
  text = Trim(text);
  if (!text.empty() &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::int64_t ms = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
    if (ec != std::errc() || end != text.data() + text.size()) {
      *why = "time " + Quote(text) + " is out of range";
      return std::nullopt;
    }
    if (ms < 100'000'000'000) {
      *why =
          "time " + Quote(text) + " looks like epoch seconds; use epoch milliseconds or ISO-8601";
      return std::nullopt;
    }
    return ms;
  }
  auto t = ParseIsoDateTime(text);
  if (!t) {
    *why = "time " + Quote(text) +
           " is neither ISO-8601 with a zone (2027-01-15T08:30:00Z) nor epoch milliseconds";
  }
  return t;
}

// Collects readings and rejections under the options' limits.
class Collector {
 public:
  explicit Collector(const ImportOptions& options) : options_(options) {}
  Status Add(Reading r) {
    if (result_.readings.size() >= options_.max_readings) {
      return ResourceExhausted("import has more than " + std::to_string(options_.max_readings) +
                               " readings");
    }
    result_.readings.push_back(r);
    return OkStatus();
  }
  void Reject(std::size_t number, std::string location, std::string reason) {
    ++result_.rejected;
    if (result_.rejections.size() < options_.max_listed_rejections) {
      result_.rejections.push_back({number, std::move(location), std::move(reason)});
    }
  }
  void Skip() { ++result_.skipped; }
  ImportResult Take() { return std::move(result_); }

 private:
  const ImportOptions& options_;
  ImportResult result_;
};

// --- CSV -------------------------------------------------------------------------------------

// Reads one record starting at `pos`; advances `pos` past its line end and `line` by the line
// breaks consumed. Fields of quoted text keep their quotes' content verbatim.
Result<std::vector<std::string>> NextRecord(std::string_view text, std::size_t& pos,
                                            std::size_t& line) {
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false;
  bool was_quoted = false;
  const std::size_t start_line = line;
  while (pos < text.size()) {
    const char c = text[pos];
    if (quoted) {
      if (c == '"') {
        if (pos + 1 < text.size() && text[pos + 1] == '"') {
          field.push_back('"');
          pos += 2;
          continue;
        }
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      ++pos;
      continue;
    }
    if (c == '"' && Trim(field).empty() && !was_quoted) {
      field.clear();
      quoted = was_quoted = true;
      ++pos;
      continue;
    }
    if (c == ',') {
      fields.push_back(was_quoted ? field : std::string(Trim(field)));
      field.clear();
      was_quoted = false;
      ++pos;
      continue;
    }
    if (c == '\n' || c == '\r') {
      if (c == '\r' && pos + 1 < text.size() && text[pos + 1] == '\n') ++pos;
      ++pos;
      ++line;
      fields.push_back(was_quoted ? field : std::string(Trim(field)));
      return fields;
    }
    field.push_back(c);
    ++pos;
  }
  if (quoted) {
    return InvalidArgument("line " + std::to_string(start_line) + ": unterminated quoted field");
  }
  fields.push_back(was_quoted ? field : std::string(Trim(field)));
  ++line;
  return fields;
}

bool IsBlankOrComment(const std::vector<std::string>& fields) {
  if (fields.size() == 1 && fields[0].empty()) return true;
  return !fields.empty() && !fields[0].empty() && fields[0][0] == '#';
}

// --- JSON helpers (never throw) --------------------------------------------------------------

const json* Member(const json& o, const char* key) {
  if (!o.is_object()) return nullptr;
  const auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

std::optional<std::string> StringMember(const json& o, const char* key) {
  const json* m = Member(o, key);
  if (m == nullptr || !m->is_string()) return std::nullopt;
  return m->get<std::string>();
}

// Rejects JSON nested deeper than kMaxJsonDepth before the (recursive) parser sees it.
bool NestingWithinLimit(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

// The LOINC codes of a CodeableConcept.
std::vector<std::string> LoincCodes(const json& codeable_concept) {
  std::vector<std::string> codes;
  const json* coding = Member(codeable_concept, "coding");
  if (coding == nullptr || !coding->is_array()) return codes;
  for (const json& c : *coding) {
    if (StringMember(c, "system") == std::string(kLoincSystem)) {
      if (auto code = StringMember(c, "code")) codes.push_back(*code);
    }
  }
  return codes;
}

struct Quantity {
  double value;
  std::string unit;
};

Result<Quantity> ReadQuantity(const json& holder) {
  const json* q = Member(holder, "valueQuantity");
  if (q == nullptr || !q->is_object()) return InvalidArgument("no valueQuantity");
  const json* v = Member(*q, "value");
  if (v == nullptr || !v->is_number()) return InvalidArgument("valueQuantity has no numeric value");
  Quantity out{v->get<double>(), ""};
  const auto system = StringMember(*q, "system");
  const auto code = StringMember(*q, "code");
  const auto unit = StringMember(*q, "unit");
  // A UCUM code first, then the display unit, then a code of another system.
  const bool ucum_code = code && (!system || *system == kUcumSystem);
  if (unit && !ucum_code) {
    out.unit = *unit;
  } else if (code) {
    out.unit = *code;
  }
  return out;
}

Result<std::int64_t> ReadEffectiveTime(const json& obs) {
  std::optional<std::string> text = StringMember(obs, "effectiveDateTime");
  if (!text) text = StringMember(obs, "effectiveInstant");
  if (!text) {
    if (const json* period = Member(obs, "effectivePeriod")) text = StringMember(*period, "start");
  }
  if (!text) return InvalidArgument("no effectiveDateTime, effectiveInstant or effectivePeriod");
  auto t = ParseIsoDateTime(*text);
  if (!t) {
    return InvalidArgument("effective time " + Quote(*text) +
                           " is not a date-time with hours, minutes and a zone");
  }
  return *t;
}

std::string RhythmText(const json& obs) {
  if (auto s = StringMember(obs, "valueString")) return *s;
  if (const json* cc = Member(obs, "valueCodeableConcept")) {
    if (const json* coding = Member(*cc, "coding"); coding != nullptr && coding->is_array()) {
      for (const json& c : *coding) {
        if (auto code = StringMember(c, "code"); code && RhythmFromText(*code)) return *code;
        if (auto display = StringMember(c, "display"); display && RhythmFromText(*display)) {
          return *display;
        }
      }
    }
    if (auto t = StringMember(*cc, "text")) return *t;
  }
  return "";
}

// The readings of one Observation, or the reason it is rejected.
Result<std::vector<Reading>> ReadObservation(const json& obs) {
  if (auto status = StringMember(obs, "status");
      status && (*status == "entered-in-error" || *status == "cancelled")) {
    return InvalidArgument("status is " + *status);
  }
  const json* code = Member(obs, "code");
  if (code == nullptr) return InvalidArgument("no code");
  const std::vector<std::string> loinc = LoincCodes(*code);
  if (loinc.empty()) return InvalidArgument("no LOINC coding (system http://loinc.org)");
  MEDMESH_ASSIGN_OR_RETURN(const std::int64_t time_ms, ReadEffectiveTime(obs));

  for (const std::string& c : loinc) {
    if (std::find(kBpPanels.begin(), kBpPanels.end(), c) == kBpPanels.end()) continue;
    const json* components = Member(obs, "component");
    if (components == nullptr || !components->is_array()) {
      return InvalidArgument("blood pressure panel without components");
    }
    std::vector<Reading> out;
    for (const json& comp : *components) {
      const json* comp_code = Member(comp, "code");
      if (comp_code == nullptr) continue;
      for (const std::string& cc : LoincCodes(*comp_code)) {
        const auto kind = KindFromLoinc(cc);
        if (kind != VitalKind::kSystolicBp && kind != VitalKind::kDiastolicBp) continue;
        MEDMESH_ASSIGN_OR_RETURN(Quantity q, ReadQuantity(comp));
        MEDMESH_ASSIGN_OR_RETURN(Reading r, MakeReading(time_ms, *kind, "", q.value, q.unit));
        out.push_back(r);
        break;
      }
    }
    if (out.empty())
      return InvalidArgument("blood pressure panel has no 8480-6 / 8462-4 component");
    return out;
  }
  for (const std::string& c : loinc) {
    const auto kind = KindFromLoinc(c);
    if (!kind) continue;
    if (*kind == VitalKind::kEcgRhythm) {
      MEDMESH_ASSIGN_OR_RETURN(Reading r, MakeReading(time_ms, *kind, RhythmText(obs), {}, ""));
      return std::vector<Reading>{r};
    }
    MEDMESH_ASSIGN_OR_RETURN(Quantity q, ReadQuantity(obs));
    MEDMESH_ASSIGN_OR_RETURN(Reading r, MakeReading(time_ms, *kind, "", q.value, q.unit));
    return std::vector<Reading>{r};
  }
  return InvalidArgument("unsupported LOINC code " + Quote(loinc.front()));
}

}  // namespace

Status ImportResult::AllAccepted() const {
  if (rejected == 0) return OkStatus();
  std::string message = std::to_string(rejected) + " rejected: ";
  for (std::size_t i = 0; i < std::min<std::size_t>(3, rejections.size()); ++i) {
    message += (i ? "; " : "") + rejections[i].location + ": " + rejections[i].reason;
  }
  if (rejected > 3) message += "; ...";
  return InvalidArgument(message);
}

std::optional<std::int64_t> ParseIsoDateTime(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&](int n) -> std::optional<int> {
    if (i + static_cast<std::size_t>(n) > s.size()) return std::nullopt;
    int v = 0;
    for (int k = 0; k < n; ++k) {
      const char c = s[i++];
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  };
  auto expect = [&](char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  const auto year = digits(4);
  if (!year || !expect('-')) return std::nullopt;
  const auto month = digits(2);
  if (!month || !expect('-')) return std::nullopt;
  const auto day = digits(2);
  if (!day || *month < 1 || *month > 12 || *day < 1 ||
      *day > internal::DaysInMonth(*year, *month)) {
    return std::nullopt;
  }
  if (!expect('T') && !expect('t') && !expect(' ')) return std::nullopt;
  const auto hour = digits(2);
  if (!hour || !expect(':')) return std::nullopt;
  const auto minute = digits(2);
  if (!minute || *hour > 23 || *minute > 59) return std::nullopt;
  int second = 0;
  int millis = 0;
  if (expect(':')) {
    const auto sec = digits(2);
    if (!sec || *sec > 59) return std::nullopt;
    second = *sec;
    if (expect('.') || expect(',')) {
      int n = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (n < 3) millis = millis * 10 + (s[i] - '0');
        ++n;
        ++i;
      }
      if (n == 0 || n > 9) return std::nullopt;
      for (int k = n; k < 3; ++k) millis *= 10;
    }
  }
  int offset_min = 0;
  if (expect('Z') || expect('z')) {
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i++] == '-' ? -1 : 1;
    const auto oh = digits(2);
    if (!oh) return std::nullopt;
    expect(':');
    const auto om = digits(2);
    if (!om || *oh > 14 || *om > 59) return std::nullopt;
    offset_min = sign * (*oh * 60 + *om);
  } else {
    return std::nullopt;  // a time without a zone is ambiguous
  }
  if (i != s.size()) return std::nullopt;
  const std::int64_t days = internal::DaysFromCivil(*year, *month, *day);
  return ((days * 24 + *hour) * 60 + *minute - offset_min) * 60'000 + std::int64_t{second} * 1000 +
         millis;
}

Result<std::int64_t> ToMilliUnits(VitalKind kind, double value, std::string_view unit) {
  if (!std::isfinite(value)) return InvalidArgument("value is not a finite number");
  unit = Trim(unit);
  const wire::VitalInfo& info = wire::Info(kind);
  std::optional<double> canonical;
  if (unit.empty() || unit == info.unit) canonical = value;
  std::string accepted(info.unit);
  for (const UnitRule& rule : kUnits) {
    if (rule.kind != kind || canonical) continue;
    if (unit == rule.unit) {
      canonical = value * rule.scale + rule.offset;
    } else if (rule.unit != info.unit) {
      accepted += ", " + std::string(rule.unit);
    }
  }
  if (!canonical) {
    return InvalidArgument("unit " + Quote(unit) + " is not supported for " +
                           std::string(info.name) + " (accepted: " + accepted + ")");
  }
  // Far outside any plausible range, and keeps llround defined.
  if (std::abs(*canonical) > 1e12) return InvalidArgument("value out of range");
  return static_cast<std::int64_t>(std::llround(*canonical * 1000.0));
}

Result<ImportResult> ImportCsv(std::string_view text, const ImportOptions& options) {
  if (text.size() > options.max_input_bytes) {
    return ResourceExhausted("CSV input of " + std::to_string(text.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(options.max_input_bytes));
  }
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte-order mark
  Collector collector(options);
  std::size_t pos = 0;
  std::size_t line = 1;
  std::optional<std::size_t> col_time;
  std::optional<std::size_t> col_kind;
  std::optional<std::size_t> col_value;
  std::optional<std::size_t> col_unit;
  std::size_t header_columns = 0;
  while (pos < text.size()) {
    const std::size_t record_line = line;
    MEDMESH_ASSIGN_OR_RETURN(std::vector<std::string> fields, NextRecord(text, pos, line));
    if (IsBlankOrComment(fields)) {
      collector.Skip();
      continue;
    }
    if (header_columns == 0) {
      header_columns = fields.size();
      for (std::size_t c = 0; c < fields.size(); ++c) {
        const std::string name = Lower(Trim(fields[c]));
        if (name == "time" || name == "timestamp" || name == "datetime") col_time = c;
        if (name == "kind" || name == "type" || name == "vital") col_kind = c;
        if (name == "value") col_value = c;
        if (name == "unit" || name == "units") col_unit = c;
      }
      if (!col_time || !col_kind || !col_value) {
        return InvalidArgument("line " + std::to_string(record_line) +
                               ": the CSV header must name the columns time, kind and value "
                               "(and optionally unit)");
      }
      continue;
    }
    const std::string location = "line " + std::to_string(record_line);
    const std::size_t needed = std::max({*col_time, *col_kind, *col_value}) + 1;
    if (fields.size() < needed) {
      collector.Reject(record_line, location,
                       "expected " + std::to_string(header_columns) + " columns, found " +
                           std::to_string(fields.size()));
      continue;
    }
    std::string why;
    const auto time_ms = ParseTime(fields[*col_time], &why);
    if (!time_ms) {
      collector.Reject(record_line, location, why);
      continue;
    }
    const auto kind = KindFromText(fields[*col_kind]);
    if (!kind) {
      collector.Reject(record_line, location, "unknown kind " + Quote(fields[*col_kind]));
      continue;
    }
    const std::string_view unit =
        col_unit && *col_unit < fields.size() ? std::string_view(fields[*col_unit]) : "";
    auto reading = MakeReading(*time_ms, *kind, fields[*col_value], std::nullopt, unit);
    if (!reading) {
      collector.Reject(record_line, location, reading.error().message());
      continue;
    }
    MEDMESH_RETURN_IF_ERROR(collector.Add(*reading));
  }
  if (header_columns == 0) return InvalidArgument("CSV input has no header line");
  return collector.Take();
}

Result<ImportResult> ImportFhir(std::string_view text, const ImportOptions& options) {
  if (text.size() > options.max_input_bytes) {
    return ResourceExhausted("FHIR input of " + std::to_string(text.size()) +
                             " bytes exceeds the limit of " +
                             std::to_string(options.max_input_bytes));
  }
  if (!NestingWithinLimit(text)) {
    return InvalidArgument("FHIR input is nested deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels");
  }
  json doc;
  try {
    doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    doc = json::value_t::discarded;
  }
  if (doc.is_discarded()) return InvalidArgument("FHIR input is not valid JSON");
  const auto type = StringMember(doc, "resourceType");
  if (!type) return InvalidArgument("FHIR input has no resourceType");
  Collector collector(options);
  auto import_one = [&](const json& obs, std::size_t number, std::string location) -> Status {
    if (auto id = StringMember(obs, "id")) location += " (Observation/" + Printable(*id, 64) + ")";
    auto readings = ReadObservation(obs);
    if (!readings) {
      collector.Reject(number, std::move(location), readings.error().message());
      return OkStatus();
    }
    for (const Reading& r : *readings) MEDMESH_RETURN_IF_ERROR(collector.Add(r));
    return OkStatus();
  };
  try {
    if (*type == "Observation") {
      MEDMESH_RETURN_IF_ERROR(import_one(doc, 1, "observation"));
    } else if (*type == "Bundle") {
      const json* entries = Member(doc, "entry");
      if (entries != nullptr && !entries->is_array()) {
        return InvalidArgument("Bundle.entry is not an array");
      }
      std::size_t number = 0;
      for (const json& entry : entries ? *entries : json::array()) {
        ++number;
        const json* resource = Member(entry, "resource");
        const auto rtype = resource ? StringMember(*resource, "resourceType") : std::nullopt;
        if (rtype != "Observation") {
          collector.Skip();
          continue;
        }
        MEDMESH_RETURN_IF_ERROR(import_one(*resource, number, "entry " + std::to_string(number)));
      }
    } else {
      return InvalidArgument("FHIR resourceType " + Quote(*type) +
                             " is neither Bundle nor Observation");
    }
  } catch (const std::exception&) {
    // Typed accessors above are guarded; this is a last line of defence at the edge.
    return InvalidArgument("FHIR input has an unexpected structure");
  }
  return collector.Take();
}

}  // namespace medmesh::wearable
