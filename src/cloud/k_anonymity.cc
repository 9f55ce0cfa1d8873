#include "cloud/k_anonymity.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <tuple>

#include "core/check.h"

namespace medmesh::cloud {
namespace {

constexpr std::array<int, 4> kAgeLevels = {5, 10, 20, 0};
constexpr std::array<int, 4> kPostcodeLevels = {3, 2, 1, 0};
constexpr std::array<bool, 2> kSexLevels = {true, false};

std::map<GeneralisedQi, std::size_t> Classes(std::span<const GeneralisedQi> rows) {
  std::map<GeneralisedQi, std::size_t> classes;
  for (const GeneralisedQi& r : rows) ++classes[r];
  return classes;
}

}  // namespace

std::string AgeBand(std::optional<int> age_years, int band_years) {
  MEDMESH_CHECK(band_years == 0 || band_years == 5 || band_years == 10 || band_years == 20,
                "age band must be 0, 5, 10 or 20 years");
  if (band_years == 0 || !age_years || *age_years < 0) return "*";
  // Top-coded: few people are this old, so the oldest share one band.
  const int top = band_years == 20 ? 80 : 90;
  if (*age_years >= top) return std::to_string(top) + "+";
  const int low = *age_years / band_years * band_years;
  return std::to_string(low) + "-" + std::to_string(low + band_years - 1);
}

GeneralisedQi Generalise(const QuasiIdentifiers& qi, const GeneralisationLevel& level) {
  GeneralisedQi out;
  out.age_band = AgeBand(qi.age_years, level.age_band_years);
  out.sex = level.keep_sex ? (qi.sex.empty() ? "unknown" : qi.sex) : "*";
  const auto chars = static_cast<std::size_t>(std::max(level.postcode_chars, 0));
  out.postcode_prefix =
      chars == 0 || qi.postcode.size() < chars ? "*" : qi.postcode.substr(0, chars);
  return out;
}

bool ValidKAnonymityOptions(const KAnonymityOptions& options) {
  return options.k >= 2 && options.max_suppression >= 0.0 && options.max_suppression <= 1.0;
}

KAnonymisation Anonymise(std::span<const QuasiIdentifiers> population,
                         const KAnonymityOptions& options) {
  MEDMESH_CHECK(ValidKAnonymityOptions(options), "invalid k-anonymity options");
  const auto allowed = static_cast<std::size_t>(
      std::floor(options.max_suppression * static_cast<double>(population.size())));

  struct Candidate {
    GeneralisationLevel level;
    std::size_t height;
    std::size_t suppressed;
    std::size_t age_index;
    std::size_t postcode_index;
  };
  std::optional<Candidate> best;
  std::vector<GeneralisedQi> rows(population.size());
  for (std::size_t a = 0; a < kAgeLevels.size(); ++a) {
    for (std::size_t p = 0; p < kPostcodeLevels.size(); ++p) {
      for (std::size_t s = 0; s < kSexLevels.size(); ++s) {
        const GeneralisationLevel level{kAgeLevels[a], kPostcodeLevels[p], kSexLevels[s]};
        for (std::size_t i = 0; i < population.size(); ++i) {
          rows[i] = Generalise(population[i], level);
        }
        std::size_t suppressed = 0;
        for (const auto& [value, count] : Classes(rows)) {
          if (count < options.k) suppressed += count;
        }
        if (suppressed > allowed) continue;
        const Candidate c{level, a + p + s, suppressed, a, p};
        const auto key = [](const Candidate& x) {
          return std::tie(x.height, x.suppressed, x.age_index, x.postcode_index);
        };
        if (!best || key(c) < key(*best)) best = c;
      }
    }
  }

  KAnonymisation out;
  // With fewer than k rows even the most general level has one small class: release nothing.
  out.level = best ? best->level : GeneralisationLevel{0, 0, false};
  for (const QuasiIdentifiers& qi : population) out.rows.push_back(Generalise(qi, out.level));
  const auto classes = Classes(out.rows);
  std::erase_if(out.rows, [&](const GeneralisedQi& r) { return classes.at(r) < options.k; });
  out.suppressed = population.size() - out.rows.size();
  return out;
}

bool IsKAnonymous(std::span<const GeneralisedQi> rows, std::size_t k) {
  return rows.empty() || SmallestClassSize(rows) >= k;
}

std::size_t SmallestClassSize(std::span<const GeneralisedQi> rows) {
  std::size_t smallest = 0;
  for (const auto& [value, count] : Classes(rows)) {
    if (smallest == 0 || count < smallest) smallest = count;
  }
  return smallest;
}

}  // namespace medmesh::cloud
