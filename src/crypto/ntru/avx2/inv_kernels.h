// Hand-written AVX2 kernels for the two small-field inversions of NTRU key generation, compiled
// only into the AVX2 build (-mavx2 -mbmi2 -mpclmul) and called by ../internal/inverse_impl.h
// when ntru_avx2.cc defines MEDMESH_NTRU_AVX2_KERNELS. Callers must have checked that the CPU
// has AVX2, BMI2 and PCLMULQDQ (dispatch.cc). Design and measurements: docs/adr/0038.
//
// Contract shared by both kernels:
// - a has P::kPad coefficients; coefficients at index >= n are zero (the KEM's padding rule).
// - a must be invertible in the field (f mod 3, and g*f mod 2, always are; Phi_n is
//   irreducible mod 2 and mod 3 for the four sets). A non-invertible input gives an
//   unspecified result, never a crash.
// - r receives P::kPad coefficients: the unique representative of the inverse of degree
//   < n - 1, so r[i] = 0 for i >= n - 1. r may alias a. No alignment needed; stack only.
// - Constant time: no branch or memory index depends on coefficient values.
#pragma once

#include <cstdint>

namespace medmesh::ntru::avx2 {

// r = a^-1 mod (2, Phi_n), coefficients in {0, 1}; only bit 0 of each a[i] is read.
// Itoh-Tsujii: a^(2^(n-1) - 2) in F_2[x]/(x^n - 1), reduced mod Phi_n at the end. Squarings
// are bit permutations (i -> 2^k i mod n), products are carry-less (PCLMULQDQ) schoolbooks.
template <class P>
void R2Inverse(std::uint16_t* r, const std::uint16_t* a);

// r = a^-1 mod (3, Phi_n), coefficients in {0, 1, 2}; a's coefficients are in {0, 1, 2}.
// Bernstein-Yang divsteps on bitsliced trits held in AVX2 registers.
template <class P>
void S3Inverse(std::uint16_t* r, const std::uint16_t* a);

}  // namespace medmesh::ntru::avx2
