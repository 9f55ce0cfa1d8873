// Entry points of ntru_rq_inverse_test: RqInv (internal/inverse_impl.h) of each build, and the
// bitsliced F_3 product of batch key generation (S3MulTrits), compiled from the same templates
// as the KEM (rq_inverse_test_portable.cc, avx2/rq_inverse_test_avx2.cc).
#pragma once

#include <cstdint>

namespace medmesh::ntru::rq_inverse_test {

// r = a^-1 mod (q, Phi_n) (only the low LogQ bits of r are specified). r and a hold P::kPad
// coefficients, those at index >= n zero in a.
template <class P>
void PortableRqInv(std::uint16_t* r, const std::uint16_t* a);
// The same in the AVX2 build (its R2 inverse and mod-q product kernels); needs AVX2, BMI2 and
// PCLMULQDQ (medmesh_ntru_cpu_has_avx2()).
template <class P>
void Avx2RqInv(std::uint16_t* r, const std::uint16_t* a);

// r = a * b mod (3, Phi_n) by S3MulTrits, through ToTrits / FromTrits: a, b with coefficients
// in {0,1,2}, those at index >= n-1 zero; r in {0,1,2}, P::kPad coefficients. The portable
// build's (vectors of two 64-bit words) and the AVX2 build's (four words; needs AVX2).
template <class P>
void PortableS3MulTrits(std::uint16_t* r, const std::uint16_t* a, const std::uint16_t* b);
template <class P>
void Avx2S3MulTrits(std::uint16_t* r, const std::uint16_t* a, const std::uint16_t* b);

}  // namespace medmesh::ntru::rq_inverse_test
