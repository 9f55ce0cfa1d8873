#include "trust/similarity.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace medmesh::trust {
namespace {

double SumOfContributions(const SimilarityResult& r) {
  return std::accumulate(
      r.factors.begin(), r.factors.end(), 0.0,
      [](double acc, const SimilarityFactor& f) { return acc + f.contribution; });
}

bool HasFactor(const SimilarityResult& r, FactorKind kind, const std::string& term) {
  for (const SimilarityFactor& f : r.factors) {
    if (f.kind == kind && f.term == term) return true;
  }
  return false;
}

TEST(Icd10, AncestorsWalkCategoryBlockChapter) {
  EXPECT_EQ(Icd10Ancestors("e11.9"), (std::vector<std::string>{"E11.9", "E11", "E1", "E"}));
  EXPECT_EQ(Icd10Ancestors(" I10 "), (std::vector<std::string>{"I10", "I1", "I"}));
  EXPECT_TRUE(Icd10Ancestors("11X").empty());
  EXPECT_TRUE(Icd10Ancestors("E1").empty());
  EXPECT_TRUE(Icd10Ancestors("E11.").empty());
  EXPECT_TRUE(Icd10Ancestors("E11.12345").empty());
  EXPECT_TRUE(Icd10Ancestors("E11-9").empty());
  EXPECT_TRUE(IsIcd10Code("J44.1"));
  EXPECT_FALSE(IsIcd10Code("J4"));
}

TEST(Symptoms, NormalisedBeforeComparing) {
  EXPECT_EQ(NormaliseSymptom("  Shortness   of\tBreath "), "shortness of breath");
  EXPECT_EQ(NormaliseSymptom("   "), "");
}

TEST(ConditionSimilarity, IdenticalIsOneAndDisjointChaptersZero) {
  PopulationStats stats;
  const PatientProfile a{{"I10", "E11.9"}, {}, {}};
  const PatientProfile b{{"J44.1"}, {}, {}};
  stats.Add(a);
  stats.Add(b);
  ConditionSimilarity m(stats);
  EXPECT_NEAR(m.Compare(a, a).score, 1.0, 1e-12);
  const SimilarityResult none = m.Compare(a, b);
  EXPECT_TRUE(none.comparable);
  EXPECT_DOUBLE_EQ(none.score, 0.0);
  EXPECT_TRUE(none.factors.empty());
}

TEST(ConditionSimilarity, SiblingCodesMeetInTheirBlockAndExplainIt) {
  PopulationStats stats;
  const PatientProfile a{{"I10"}, {}, {}};
  const PatientProfile b{{"I11.9"}, {}, {}};
  stats.Add(a);
  stats.Add(b);
  ConditionSimilarity m(stats);
  const SimilarityResult r = m.Compare(a, b);
  EXPECT_GT(r.score, 0.0);
  EXPECT_LT(r.score, 0.5);
  EXPECT_TRUE(HasFactor(r, FactorKind::kCondition, "I1"));
  EXPECT_TRUE(HasFactor(r, FactorKind::kCondition, "I"));
  EXPECT_FALSE(HasFactor(r, FactorKind::kCondition, "I10"));
  EXPECT_NEAR(SumOfContributions(r), r.score, 1e-12);
  // Block before chapter: the block weighs more.
  EXPECT_EQ(r.factors.front().term, "I1");
}

TEST(ConditionSimilarity, SharingARareDiagnosisCountsMoreThanACommonOne) {
  // Everyone has hypertension; two have COPD.
  PopulationStats stats;
  const PatientProfile copd1{{"I10", "J44.1"}, {}, {}};
  const PatientProfile copd2{{"I10", "J44.1"}, {}, {}};
  const PatientProfile p3{{"I10", "E11.9"}, {}, {}};
  stats.Add(copd1);
  stats.Add(copd2);
  stats.Add(p3);
  for (int i = 0; i < 20; ++i) stats.Add(PatientProfile{{"I10"}, {}, {}});
  ConditionSimilarity m(stats);
  const SimilarityResult rare = m.Compare(copd1, copd2);  // share I10 and J44.1
  const SimilarityResult common = m.Compare(copd1, p3);   // share only I10
  EXPECT_GT(rare.score, common.score);
  // In the pair sharing both, the rare code explains more than the common one.
  double j44 = 0;
  double i10 = 0;
  for (const SimilarityFactor& f : rare.factors) {
    if (f.term == "J44.1") j44 = f.contribution;
    if (f.term == "I10") i10 = f.contribution;
  }
  EXPECT_GT(j44, i10);
}

TEST(ConditionSimilarity, InvalidCodesAreIgnored) {
  PopulationStats stats;
  ConditionSimilarity m(stats);
  const SimilarityResult r =
      m.Compare(PatientProfile{{"not a code"}, {}, {}}, PatientProfile{{"I10"}, {}, {}});
  EXPECT_FALSE(r.comparable);
}

TEST(SymptomSimilarity, IdfWeightedJaccard) {
  PopulationStats stats;
  const PatientProfile a{{}, {"Cough", "fatigue"}, {}};
  const PatientProfile b{{}, {"cough ", "wheeze"}, {}};
  stats.Add(a);
  stats.Add(b);
  SymptomSimilarity m(stats);
  const SimilarityResult r = m.Compare(a, b);
  // cough in 2 of 2 profiles: idf 1; fatigue and wheeze in 1: ln(3/2) + 1.
  const double rare = std::log(1.5) + 1.0;
  EXPECT_NEAR(r.score, 1.0 / (1.0 + 2 * rare), 1e-12);
  ASSERT_EQ(r.factors.size(), 1u);
  EXPECT_EQ(r.factors[0].term, "cough");
}

TEST(VitalsSimilarity, GaussianOfTheStandardisedDifference) {
  PopulationStats stats;  // empty: the fallback spreads apply
  VitalsSimilarity m(stats, {{"heart_rate", 8.0}});
  const PatientProfile a{{}, {}, {{"heart_rate", 70, 5}, {"spo2", 97, 1}}};
  const PatientProfile b{{}, {}, {{"heart_rate", 78, 6}, {"spo2", 97, 1}}};
  const SimilarityResult r = m.Compare(a, b);
  EXPECT_TRUE(r.comparable);
  // heart rate one spread apart: exp(-1/2); spo2 equal: 1 (spread 1, no fallback).
  EXPECT_NEAR(r.score, (std::exp(-0.5) + 1.0) / 2.0, 1e-12);
  EXPECT_TRUE(HasFactor(r, FactorKind::kVital, "heart_rate"));
  EXPECT_NEAR(SumOfContributions(r), r.score, 1e-12);
  EXPECT_FALSE(m.Compare(a, PatientProfile{}).comparable);
}

TEST(VitalsSimilarity, UsesThePopulationSpreadWhenItHasOne) {
  PopulationStats stats;
  for (double hr : {60.0, 70.0, 80.0}) stats.Add(PatientProfile{{}, {}, {{"heart_rate", hr, 0}}});
  EXPECT_NEAR(stats.VitalSpread("heart_rate", 99), 10.0, 1e-12);
  EXPECT_DOUBLE_EQ(stats.VitalSpread("spo2", 2.5), 2.5);
  VitalsSimilarity m(stats, {});
  const SimilarityResult r = m.Compare(PatientProfile{{}, {}, {{"heart_rate", 60, 0}}},
                                       PatientProfile{{}, {}, {{"heart_rate", 80, 0}}});
  EXPECT_NEAR(r.score, std::exp(-2.0), 1e-12);
}

TEST(BlendedSimilarity, MeasuresWithoutDataDropOutAndContributionsAddUp) {
  PopulationStats stats;
  const PatientProfile a{{"J44.1"}, {}, {{"spo2", 92, 1}}};
  const PatientProfile b{{"J44.1"}, {"cough"}, {{"spo2", 92, 1}}};
  stats.Add(a);
  stats.Add(b);
  const auto blend = DefaultSimilarity(stats);
  const SimilarityResult r = blend->Compare(a, b);
  // Symptoms drop out (a has none); conditions and vitals are both identical: 1.
  EXPECT_NEAR(r.score, 1.0, 1e-12);
  EXPECT_NEAR(SumOfContributions(r), r.score, 1e-12);
  EXPECT_TRUE(HasFactor(r, FactorKind::kVital, "spo2"));
  EXPECT_TRUE(HasFactor(r, FactorKind::kCondition, "J44.1"));
  EXPECT_FALSE(blend->Compare(PatientProfile{}, b).comparable);
}

TEST(BlendedSimilarity, WeightsAreConfigurable) {
  PopulationStats stats;
  const PatientProfile a{{"I10"}, {"headache"}, {}};
  const PatientProfile b{{"I10"}, {"cough"}, {}};
  stats.Add(a);
  stats.Add(b);
  auto conditions = std::make_shared<ConditionSimilarity>(stats);
  auto symptoms = std::make_shared<SymptomSimilarity>(stats);
  const BlendedSimilarity mostly_conditions({{conditions, 0.9}, {symptoms, 0.1}});
  const BlendedSimilarity mostly_symptoms({{conditions, 0.1}, {symptoms, 0.9}});
  EXPECT_NEAR(mostly_conditions.Compare(a, b).score, 0.9, 1e-12);
  EXPECT_NEAR(mostly_symptoms.Compare(a, b).score, 0.1, 1e-12);
}

}  // namespace
}  // namespace medmesh::trust
