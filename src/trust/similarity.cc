#include "trust/similarity.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <utility>

namespace medmesh::trust {

namespace {

bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

double Idf(int n_total, int n_term) { return std::log((n_total + 1.0) / (n_term + 1.0)) + 1.0; }

int CountOf(const std::map<std::string, int, std::less<>>& counts, std::string_view term) {
  auto it = counts.find(term);
  return it == counts.end() ? 0 : it->second;
}

// Condition terms of a profile with their level weight (max over the codes that imply them).
std::map<std::string, double> ConditionTerms(const PatientProfile& p,
                                             const ConditionLevelWeights& w) {
  std::map<std::string, double> out;
  for (const std::string& code : p.conditions) {
    const std::vector<std::string> chain = Icd10Ancestors(code);
    for (std::size_t i = 0; i < chain.size(); ++i) {
      double level;
      const std::size_t len = chain[i].size();
      if (i == 0) {
        level = w.code;
      } else if (len == 3) {
        level = w.category;
      } else if (len == 2) {
        level = w.block;
      } else {
        level = w.chapter;
      }
      double& slot = out[chain[i]];
      slot = std::max(slot, level);
    }
  }
  return out;
}

std::set<std::string> SymptomTerms(const PatientProfile& p) {
  std::set<std::string> out;
  for (const std::string& s : p.symptoms) {
    std::string n = NormaliseSymptom(s);
    if (!n.empty()) out.insert(std::move(n));
  }
  return out;
}

void SortFactors(std::vector<SimilarityFactor>& factors) {
  std::stable_sort(factors.begin(), factors.end(),
                   [](const SimilarityFactor& a, const SimilarityFactor& b) {
                     if (a.contribution != b.contribution) return a.contribution > b.contribution;
                     if (a.kind != b.kind) return a.kind < b.kind;
                     return a.term < b.term;
                   });
}

}  // namespace

bool IsIcd10Code(std::string_view code) {
  if (code.size() < 3 || !std::isalpha(static_cast<unsigned char>(code[0])) || !IsDigit(code[1]) ||
      !IsDigit(code[2])) {
    return false;
  }
  if (code.size() == 3) return true;
  if (code[3] != '.' || code.size() < 5 || code.size() > 8) return false;
  return std::all_of(code.begin() + 4, code.end(), IsAlnum);
}

std::vector<std::string> Icd10Ancestors(std::string_view code) {
  code = Trim(code);
  if (!IsIcd10Code(code)) return {};
  const std::string upper = Upper(code);
  std::vector<std::string> out;
  out.push_back(upper);
  if (upper.size() > 3) out.push_back(upper.substr(0, 3));
  out.push_back(upper.substr(0, 2));
  out.push_back(upper.substr(0, 1));
  return out;
}

std::string NormaliseSymptom(std::string_view symptom) {
  symptom = Trim(symptom);
  std::string out;
  bool space = false;
  for (char c : symptom) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string_view FactorKindName(FactorKind kind) {
  switch (kind) {
    case FactorKind::kCondition: return "condition";
    case FactorKind::kSymptom: return "symptom";
    case FactorKind::kVital: return "vital";
  }
  return "unknown";
}

// --- PopulationStats ---------------------------------------------------------------------------

void PopulationStats::Add(const PatientProfile& profile) {
  ++size_;
  for (const auto& [term, weight] : ConditionTerms(profile, ConditionLevelWeights{})) {
    ++conditions_[term];
  }
  for (const std::string& s : SymptomTerms(profile)) ++symptoms_[s];
  std::set<std::string> seen;
  for (const VitalSummary& v : profile.vitals) {
    if (!std::isfinite(v.mean) || !seen.insert(v.name).second) continue;
    Moments& m = vitals_[v.name];
    ++m.n;
    m.sum += v.mean;
    m.sum_sq += v.mean * v.mean;
  }
}

double PopulationStats::ConditionIdf(std::string_view term) const {
  return Idf(size_, CountOf(conditions_, term));
}

double PopulationStats::SymptomIdf(std::string_view symptom) const {
  return Idf(size_, CountOf(symptoms_, symptom));
}

double PopulationStats::VitalSpread(std::string_view name, double fallback) const {
  auto it = vitals_.find(name);
  if (it == vitals_.end() || it->second.n < 2) return fallback;
  const Moments& m = it->second;
  const double mean = m.sum / m.n;
  const double var = (m.sum_sq - m.n * mean * mean) / (m.n - 1);
  if (!(var > 1e-12)) return fallback;
  return std::sqrt(var);
}

// --- measures ----------------------------------------------------------------------------------

ConditionSimilarity::ConditionSimilarity(const PopulationStats& stats,
                                         ConditionLevelWeights weights)
    : stats_(stats), weights_(weights) {}

SimilarityResult ConditionSimilarity::Compare(const PatientProfile& a,
                                              const PatientProfile& b) const {
  SimilarityResult out;
  const auto ta = ConditionTerms(a, weights_);
  const auto tb = ConditionTerms(b, weights_);
  if (ta.empty() || tb.empty()) return out;
  out.comparable = true;
  // Weighted Jaccard: sum of min over sum of max, each term's weight times its idf.
  double union_weight = 0;
  std::vector<std::pair<std::string, double>> shared;
  auto ia = ta.begin();
  auto ib = tb.begin();
  while (ia != ta.end() || ib != tb.end()) {
    if (ib == tb.end() || (ia != ta.end() && ia->first < ib->first)) {
      union_weight += ia->second * stats_.ConditionIdf(ia->first);
      ++ia;
    } else if (ia == ta.end() || ib->first < ia->first) {
      union_weight += ib->second * stats_.ConditionIdf(ib->first);
      ++ib;
    } else {
      const double idf = stats_.ConditionIdf(ia->first);
      union_weight += std::max(ia->second, ib->second) * idf;
      shared.emplace_back(ia->first, std::min(ia->second, ib->second) * idf);
      ++ia;
      ++ib;
    }
  }
  if (union_weight <= 0) return out;
  for (auto& [term, weight] : shared) {
    const double c = weight / union_weight;
    out.score += c;
    out.factors.push_back({FactorKind::kCondition, term, c});
  }
  out.score = std::clamp(out.score, 0.0, 1.0);
  SortFactors(out.factors);
  return out;
}

SymptomSimilarity::SymptomSimilarity(const PopulationStats& stats) : stats_(stats) {}

SimilarityResult SymptomSimilarity::Compare(const PatientProfile& a,
                                            const PatientProfile& b) const {
  SimilarityResult out;
  const auto sa = SymptomTerms(a);
  const auto sb = SymptomTerms(b);
  if (sa.empty() || sb.empty()) return out;
  out.comparable = true;
  double union_weight = 0;
  std::vector<std::pair<std::string, double>> shared;
  std::set<std::string> all(sa);
  all.insert(sb.begin(), sb.end());
  for (const std::string& s : all) {
    const double idf = stats_.SymptomIdf(s);
    union_weight += idf;
    if (sa.contains(s) && sb.contains(s)) shared.emplace_back(s, idf);
  }
  for (auto& [term, weight] : shared) {
    const double c = weight / union_weight;
    out.score += c;
    out.factors.push_back({FactorKind::kSymptom, term, c});
  }
  out.score = std::clamp(out.score, 0.0, 1.0);
  SortFactors(out.factors);
  return out;
}

VitalsSimilarity::VitalsSimilarity(const PopulationStats& stats,
                                   std::map<std::string, double> fallback_spreads)
    : stats_(stats), fallback_spreads_(std::move(fallback_spreads)) {}

SimilarityResult VitalsSimilarity::Compare(const PatientProfile& a, const PatientProfile& b) const {
  SimilarityResult out;
  std::vector<std::pair<std::string, double>> per_vital;
  for (const VitalSummary& va : a.vitals) {
    if (!std::isfinite(va.mean)) continue;
    auto vb = std::find_if(b.vitals.begin(), b.vitals.end(),
                           [&](const VitalSummary& v) { return v.name == va.name; });
    if (vb == b.vitals.end() || !std::isfinite(vb->mean)) continue;
    if (std::any_of(per_vital.begin(), per_vital.end(),
                    [&](const auto& p) { return p.first == va.name; })) {
      continue;
    }
    auto fb = fallback_spreads_.find(va.name);
    const double spread =
        stats_.VitalSpread(va.name, fb == fallback_spreads_.end() ? 1.0 : fb->second);
    const double z = (va.mean - vb->mean) / spread;
    per_vital.emplace_back(va.name, std::exp(-0.5 * z * z));
  }
  if (per_vital.empty()) return out;
  out.comparable = true;
  const double n = static_cast<double>(per_vital.size());
  for (auto& [name, s] : per_vital) {
    out.score += s / n;
    out.factors.push_back({FactorKind::kVital, name, s / n});
  }
  out.score = std::clamp(out.score, 0.0, 1.0);
  SortFactors(out.factors);
  return out;
}

BlendedSimilarity::BlendedSimilarity(std::vector<Part> parts) : parts_(std::move(parts)) {}

SimilarityResult BlendedSimilarity::Compare(const PatientProfile& a,
                                            const PatientProfile& b) const {
  SimilarityResult out;
  double total_weight = 0;
  std::vector<std::pair<SimilarityResult, double>> results;
  for (const Part& part : parts_) {
    if (!part.measure || !(part.weight > 0)) continue;
    SimilarityResult r = part.measure->Compare(a, b);
    if (!r.comparable) continue;
    total_weight += part.weight;
    results.emplace_back(std::move(r), part.weight);
  }
  if (results.empty()) return out;
  out.comparable = true;
  for (auto& [r, weight] : results) {
    const double share = weight / total_weight;
    out.score += share * r.score;
    for (SimilarityFactor& f : r.factors) {
      f.contribution *= share;
      out.factors.push_back(std::move(f));
    }
  }
  out.score = std::clamp(out.score, 0.0, 1.0);
  SortFactors(out.factors);
  return out;
}

std::shared_ptr<const SimilarityMeasure> DefaultSimilarity(const PopulationStats& stats) {
  std::map<std::string, double> spreads = {
      {"heart_rate", 8}, {"spo2", 2},      {"temperature", 0.4},
      {"systolic", 14},  {"diastolic", 9}, {"respiratory_rate", 3},
      {"glucose", 25},
  };
  std::vector<BlendedSimilarity::Part> parts;
  parts.push_back({std::make_shared<ConditionSimilarity>(stats), 0.5});
  parts.push_back({std::make_shared<SymptomSimilarity>(stats), 0.2});
  parts.push_back({std::make_shared<VitalsSimilarity>(stats, std::move(spreads)), 0.3});
  return std::make_shared<BlendedSimilarity>(std::move(parts));
}

}  // namespace medmesh::trust
