#include "cloud/k_anonymity.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace medmesh::cloud {
namespace {

// A town of `n` people: ages skewed towards the middle, a handful of postcode districts of
// very different sizes (some rare), and a few unknown values, as real registers have.
std::vector<QuasiIdentifiers> Population(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<std::string> districts = {"SW1A1AA", "SW1P3BU", "SW3 5RS", "E1 6AN",
                                              "E14 5AB", "N1 9GU",  "NW3 2QG", "SE1 7PB",
                                              "W1A 0AX", "EC1A1BB", "KT1 1AA", "ZE2 9XE"};
  const std::vector<double> weights = {20, 12, 9, 15, 8, 10, 6, 11, 4, 3, 1.5, 0.5};
  std::discrete_distribution<std::size_t> district(weights.begin(), weights.end());
  std::normal_distribution<double> age(46, 19);
  std::discrete_distribution<int> sex({48, 48, 2, 2});
  const char* sexes[] = {"female", "male", "other", "unknown"};
  std::vector<QuasiIdentifiers> out;
  for (std::size_t i = 0; i < n; ++i) {
    QuasiIdentifiers q;
    if (rng() % 50 != 0) q.age_years = std::clamp(static_cast<int>(age(rng)), 0, 104);
    q.sex = sexes[sex(rng)];
    std::string pc = districts[district(rng)];
    std::erase(pc, ' ');
    if (rng() % 40 != 0) q.postcode = pc;
    out.push_back(q);
  }
  return out;
}

TEST(AgeBandTest, BandsAndTopCoding) {
  EXPECT_EQ(AgeBand(32, 5), "30-34");
  EXPECT_EQ(AgeBand(35, 5), "35-39");
  EXPECT_EQ(AgeBand(32, 10), "30-39");
  EXPECT_EQ(AgeBand(32, 20), "20-39");
  EXPECT_EQ(AgeBand(0, 10), "0-9");
  EXPECT_EQ(AgeBand(89, 5), "85-89");
  EXPECT_EQ(AgeBand(90, 5), "90+");
  EXPECT_EQ(AgeBand(104, 10), "90+");
  EXPECT_EQ(AgeBand(85, 20), "80+");
  EXPECT_EQ(AgeBand(32, 0), "*");
  EXPECT_EQ(AgeBand(std::nullopt, 5), "*");
}

TEST(GeneraliseTest, AppliesEachHierarchy) {
  const QuasiIdentifiers q{41, "female", "SW1A1AA"};
  EXPECT_EQ(Generalise(q, {5, 3, true}), (GeneralisedQi{"40-44", "female", "SW1"}));
  EXPECT_EQ(Generalise(q, {10, 2, true}), (GeneralisedQi{"40-49", "female", "SW"}));
  EXPECT_EQ(Generalise(q, {20, 1, false}), (GeneralisedQi{"40-59", "*", "S"}));
  EXPECT_EQ(Generalise(q, {0, 0, false}), (GeneralisedQi{"*", "*", "*"}));
  // Missing values generalise to "*" (sex to "unknown" while sex is kept).
  EXPECT_EQ(Generalise({std::nullopt, "", "E1"}, {5, 3, true}),
            (GeneralisedQi{"*", "unknown", "*"}));
}

TEST(KAnonymityTest, AGeneratedPopulationOfFourHundredIsKAnonymous) {
  const auto population = Population(400, 2027);
  for (std::size_t k : {2U, 5U, 10U}) {
    const KAnonymisation anon = Anonymise(population, {.k = k, .max_suppression = 0.05});
    EXPECT_TRUE(IsKAnonymous(anon.rows, k)) << "k=" << k;
    EXPECT_GE(SmallestClassSize(anon.rows), k);
    EXPECT_EQ(anon.rows.size() + anon.suppressed, population.size());
    EXPECT_LE(anon.suppressed, 20U);  // 5 % of 400
    // Something useful is left: not everything generalised away.
    EXPECT_FALSE(anon.level.age_band_years == 0 && anon.level.postcode_chars == 0 &&
                 !anon.level.keep_sex)
        << "k=" << k;
    // The released rows are the population's rows generalised to the chosen level.
    std::map<GeneralisedQi, std::size_t> expected;
    for (const auto& q : population) ++expected[Generalise(q, anon.level)];
    for (const auto& row : anon.rows) EXPECT_GE(expected[row], k);
  }
}

TEST(KAnonymityTest, LargerKNeverGivesAFinerTable) {
  const auto population = Population(300, 7);
  const auto k2 = Anonymise(population, {.k = 2});
  const auto k20 = Anonymise(population, {.k = 20});
  const auto height = [](const GeneralisationLevel& l) {
    const int age = l.age_band_years == 0    ? 3
                    : l.age_band_years == 20 ? 2
                    : l.age_band_years == 10 ? 1
                                             : 0;
    return age + (3 - l.postcode_chars) + (l.keep_sex ? 0 : 1);
  };
  EXPECT_LE(height(k2.level), height(k20.level));
}

TEST(KAnonymityTest, IdenticalPeopleNeedNoGeneralisation) {
  const std::vector<QuasiIdentifiers> same(6, QuasiIdentifiers{33, "male", "E16AN"});
  const KAnonymisation anon = Anonymise(same, {.k = 5});
  EXPECT_EQ(anon.level, (GeneralisationLevel{5, 3, true}));
  EXPECT_EQ(anon.suppressed, 0U);
  EXPECT_EQ(anon.rows.size(), 6U);
}

TEST(KAnonymityTest, FewerThanKPeopleReleaseNothing) {
  const std::vector<QuasiIdentifiers> few(4, QuasiIdentifiers{33, "male", "E16AN"});
  const KAnonymisation anon = Anonymise(few, {.k = 5});
  EXPECT_TRUE(anon.rows.empty());
  EXPECT_EQ(anon.suppressed, 4U);
  EXPECT_TRUE(Anonymise({}, {.k = 5}).rows.empty());
}

TEST(KAnonymityTest, WithoutASuppressionBudgetEveryRowIsKept) {
  const auto population = Population(200, 99);
  const KAnonymisation anon = Anonymise(population, {.k = 5, .max_suppression = 0.0});
  EXPECT_EQ(anon.suppressed, 0U);
  EXPECT_EQ(anon.rows.size(), 200U);
  EXPECT_TRUE(IsKAnonymous(anon.rows, 5));
}

TEST(KAnonymityTest, TheCheckSeesASmallClass) {
  std::vector<GeneralisedQi> rows(5, GeneralisedQi{"30-39", "female", "SW"});
  EXPECT_TRUE(IsKAnonymous(rows, 5));
  rows.push_back({"30-39", "male", "SW"});
  EXPECT_FALSE(IsKAnonymous(rows, 5));
  EXPECT_EQ(SmallestClassSize(rows), 1U);
  EXPECT_TRUE(IsKAnonymous({}, 5));
}

TEST(KAnonymityTest, OptionsAreChecked) {
  EXPECT_TRUE(ValidKAnonymityOptions({.k = 5}));
  EXPECT_FALSE(ValidKAnonymityOptions({.k = 1}));
  EXPECT_FALSE(ValidKAnonymityOptions({.k = 5, .max_suppression = 1.5}));
  EXPECT_FALSE(ValidKAnonymityOptions({.k = 5, .max_suppression = -0.1}));
}

}  // namespace
}  // namespace medmesh::cloud
