// k-anonymity for the generalised copy of the quasi-identifiers (QI) that the remote cloud
// keeps for statistics (DESIGN.md section 6; docs/three_part_store.md).
//
// Each patient's QI (age, sex, postcode) is generalised along three hierarchies:
//   age       5-year band → 10-year band → 20-year band → "*"   (90 and over: "90+")
//   postcode  first 3 characters → 2 → 1 → "*"
//   sex       as recorded → "*"
// One level per hierarchy is chosen for the whole table (global recoding: every row is
// generalised alike, so rows stay comparable). Anonymise() takes the least general level whose
// equivalence classes (rows with identical generalised values) all have at least k members
// once the rows of smaller classes are suppressed (left out), provided that suppresses at most
// a fraction of the rows; the most general level ("*", "*", "*") always qualifies when there
// are k rows or more, and with fewer than k rows every row is suppressed.
//
// WARNING: k-anonymity bounds re-identification by linking on these QI; it does not stop
// attribute disclosure (a class whose members all share a sensitive value) or inference from
// combining releases taken at different times. Statistics built on the table suppress small
// counts as well (three_part.h).
// Thread safety: pure functions.
#pragma once

#include <compare>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace medmesh::cloud {

// One patient's quasi-identifiers as the generaliser sees them.
struct QuasiIdentifiers {
  std::optional<int> age_years;  // none if the birth date is unknown
  std::string sex;               // "female", "male", "other" or "unknown"
  std::string postcode;          // normalised: upper-case letters and digits only; may be empty
};

// A point of the generalisation lattice.
struct GeneralisationLevel {
  int age_band_years = 5;  // 5, 10 or 20; 0 suppresses the age ("*")
  int postcode_chars = 3;  // 3, 2 or 1; 0 suppresses the postcode ("*")
  bool keep_sex = true;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  auto operator<=>(const GeneralisationLevel&) const = default;
};

struct GeneralisedQi {
  std::string age_band;         // "30-34", "30-39", "20-39", "90+", "*"
  std::string sex;              // as recorded, or "*"
  std::string postcode_prefix;  // "SW1", "SW", "S", "*"
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>
  auto operator<=>(const GeneralisedQi&) const = default;
};

// "30-34" for age 32 in 5-year bands; "90+" from 90 on; "*" if the age is unknown or
// band_years is 0. band_years must be 0, 5, 10 or 20 (a programming error otherwise).
std::string AgeBand(std::optional<int> age_years, int band_years);

// Generalises one patient's QI to `level`. A postcode shorter than the prefix, or missing, and
// an unknown age become "*".
GeneralisedQi Generalise(const QuasiIdentifiers& qi, const GeneralisationLevel& level);

struct KAnonymityOptions {
  std::size_t k = 5;              // at least 2
  double max_suppression = 0.05;  // the largest fraction of rows that may be left out, [0, 1]
};

struct KAnonymisation {
  GeneralisationLevel level;
  std::vector<GeneralisedQi> rows;  // the released rows, in input order, suppressed ones left out
  std::size_t suppressed = 0;       // rows left out
};

// The least general level satisfying the rule above (ties: less suppression, then a finer age
// band, then a longer postcode prefix), and the table it gives. `options` must be valid (a
// programming error otherwise: see ValidKAnonymityOptions).
KAnonymisation Anonymise(std::span<const QuasiIdentifiers> population,
                         const KAnonymityOptions& options);

bool ValidKAnonymityOptions(const KAnonymityOptions& options);

// True if every equivalence class of `rows` has at least k members (an empty table is).
bool IsKAnonymous(std::span<const GeneralisedQi> rows, std::size_t k);

// The size of the smallest equivalence class; 0 for an empty table.
std::size_t SmallestClassSize(std::span<const GeneralisedQi> rows);

}  // namespace medmesh::cloud
