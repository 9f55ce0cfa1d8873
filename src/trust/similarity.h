// Similarity of two patients, in [0, 1], with an explanation of what drove it.
//
// A patient is described by a PatientProfile: ICD-10 condition codes, symptom terms and a
// vitals profile (mean and spread per vital sign, as the cloudlet summarises its readings).
// Three measures, each behind the SimilarityMeasure interface, and a configurable blend:
//
//   ConditionSimilarity  weighted Jaccard over the codes AND their ICD-10 ancestors: "E11.9"
//                        also stands for its category "E11", its block "E1" (codes E10-E19)
//                        and its chapter letter "E". Each term weighs
//                        level_weight(level) * idf(term), idf = ln((N + 1) / (n_t + 1)) + 1
//                        from PopulationStats, so sharing a rare diagnosis counts more than
//                        sharing a common one, and I10 vs I11 still meet in the block "I1".
//                        NOTE: blocks are approximated by letter + first digit and chapters by
//                        the letter; the real ICD-10 blocks and chapters do not always align
//                        with that (e.g. chapter III is D50-D89, block I10-I15 is "I1").
//   SymptomSimilarity    IDF-weighted Jaccard over normalised symptom terms (lower-case, trimmed).
//   VitalsSimilarity     per vital both patients have: exp(-z^2 / 2) with z the difference of
//                        the means over the population's spread of that vital (PopulationStats),
//                        averaged over the shared vitals; each vital is one factor.
//   BlendedSimilarity    weighted mean of the measures that have something to compare (a measure
//                        with nothing on one side drops out and the weights renormalise); the
//                        factors are the union, their contributions scaled by the blend weight.
//
// Every result lists its factors (shared conditions, symptoms, vitals) with their contribution:
// the contributions of a measure sum to its score, so an explanation adds up.
//
// Pure functions of their inputs; the measures are immutable after construction and safe to use
// from several threads. Identities never enter here: a profile carries no id.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace medmesh::trust {

struct VitalSummary {
  std::string name;  // "heart_rate", "spo2", "temperature", "systolic", ... (the caller's names)
  double mean = 0;
  double spread = 0;  // standard deviation of the readings (informational; not compared)
};

struct PatientProfile {
  std::vector<std::string> conditions;  // ICD-10 codes, "I10", "E11.9", "j44.1" (normalised)
  std::vector<std::string> symptoms;    // free terms, "shortness of breath"
  std::vector<VitalSummary> vitals;
};

// "E11.9" -> {"E11.9", "E11", "E1", "E"}; "I10" -> {"I10", "I1", "I"}; upper-cases and drops
// the dot's trailing empties. Empty for something that is not letter + two digits [. more].
std::vector<std::string> Icd10Ancestors(std::string_view code);
// Whether `code` has the ICD-10 shape (letter, two digits, optional '.' and 1-4 alphanumerics).
bool IsIcd10Code(std::string_view code);
// Lower-case, surrounding spaces trimmed, inner runs of spaces collapsed.
std::string NormaliseSymptom(std::string_view symptom);

// Counts over a population of profiles: how many profiles hold each condition term (codes with
// their ancestors), each symptom, and the mean and spread of each vital's mean.
class PopulationStats {
 public:
  void Add(const PatientProfile& profile);
  int size() const { return size_; }
  // ln((N + 1) / (n + 1)) + 1 with n the profiles holding the term (>= 1 always).
  double ConditionIdf(std::string_view term) const;
  double SymptomIdf(std::string_view symptom) const;
  // Standard deviation of the vital's means over the population; `fallback` if fewer than two
  // profiles carry it or they are all equal.
  double VitalSpread(std::string_view name, double fallback) const;

 private:
  struct Moments {
    int n = 0;
    double sum = 0;
    double sum_sq = 0;
  };
  int size_ = 0;
  std::map<std::string, int, std::less<>> conditions_;
  std::map<std::string, int, std::less<>> symptoms_;
  std::map<std::string, Moments, std::less<>> vitals_;
};

enum class FactorKind { kCondition, kSymptom, kVital };
std::string_view FactorKindName(FactorKind kind);  // "condition", "symptom", "vital"

struct SimilarityFactor {
  FactorKind kind = FactorKind::kCondition;
  std::string term;         // "E11" (a shared code or ancestor), "cough", "heart_rate"
  double contribution = 0;  // share of the score this factor explains
};

struct SimilarityResult {
  double score = 0;                       // in [0, 1]
  bool comparable = false;                // false: nothing to compare (score 0)
  std::vector<SimilarityFactor> factors;  // largest contribution first
};

class SimilarityMeasure {
 public:
  virtual ~SimilarityMeasure() = default;
  virtual SimilarityResult Compare(const PatientProfile& a, const PatientProfile& b) const = 0;
};

struct ConditionLevelWeights {
  double code = 1.0;      // the code as given ("E11.9", or "I10")
  double category = 0.8;  // three characters ("E11"), when the code has a subcode
  double block = 0.35;    // letter + first digit ("E1")
  double chapter = 0.1;   // letter ("E")
};

class ConditionSimilarity final : public SimilarityMeasure {
 public:
  // `stats` must outlive the measure.
  explicit ConditionSimilarity(const PopulationStats& stats, ConditionLevelWeights weights = {});
  SimilarityResult Compare(const PatientProfile& a, const PatientProfile& b) const override;

 private:
  const PopulationStats& stats_;
  ConditionLevelWeights weights_;
};

class SymptomSimilarity final : public SimilarityMeasure {
 public:
  explicit SymptomSimilarity(const PopulationStats& stats);
  SimilarityResult Compare(const PatientProfile& a, const PatientProfile& b) const override;

 private:
  const PopulationStats& stats_;
};

class VitalsSimilarity final : public SimilarityMeasure {
 public:
  // `fallback_spreads`: the spread to use for a vital the population cannot estimate (fewer
  // than two carriers); a vital in neither is compared with spread 1.
  VitalsSimilarity(const PopulationStats& stats, std::map<std::string, double> fallback_spreads);
  SimilarityResult Compare(const PatientProfile& a, const PatientProfile& b) const override;

 private:
  const PopulationStats& stats_;
  std::map<std::string, double> fallback_spreads_;
};

class BlendedSimilarity final : public SimilarityMeasure {
 public:
  struct Part {
    std::shared_ptr<const SimilarityMeasure> measure;
    double weight = 1;  // > 0
  };
  explicit BlendedSimilarity(std::vector<Part> parts);
  SimilarityResult Compare(const PatientProfile& a, const PatientProfile& b) const override;

 private:
  std::vector<Part> parts_;
};

// The default blend: conditions 0.5, symptoms 0.2, vitals 0.3, with the usual spreads of the
// wearable's vitals as fallbacks (heart_rate 8 bpm, spo2 2 %, temperature 0.4 C, systolic 14,
// diastolic 9 mmHg, respiratory_rate 3 /min, glucose 25 mg/dL). `stats` must outlive it.
std::shared_ptr<const SimilarityMeasure> DefaultSimilarity(const PopulationStats& stats);

}  // namespace medmesh::trust
