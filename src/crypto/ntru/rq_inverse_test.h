// Entry points of ntru_rq_inverse_test: RqInv (internal/inverse_impl.h) of each build, the
// bitsliced F_3 product of batch key generation (S3MulTrits), its Fixed_Type and single and
// batch key generation, compiled from the same templates as the KEM (rq_inverse_test_portable.cc,
// avx2/rq_inverse_test_avx2.cc, and avx2/rq_inverse_test_portable_wide.cc: the portable
// templates with the AVX2 flags).
#pragma once

#include <cstddef>
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

// Batch key generation's Fixed_Type (column_sort_test.cc). ColumnLanes: the keys per sort
// (int32 lanes) of the build. ColumnSort<kLen>: x[l * kLen + i] is element i of column l for
// l < lanes; sorts each column by ColumnSorter<kLen> (kLen = 508, 676, 820 or 9). FixedTypes:
// SampleFixedTypesPacked (count <= lanes keys, key l's bytes at u + l * stride, PackS3 of its g
// to out + l * out_stride). FixedType: the single-key path, PackS3(SampleFixedType(u)).
int PortableColumnLanes();
int Avx2ColumnLanes();
template <int kLen>
void PortableColumnSort(std::int32_t* x);
template <int kLen>
void Avx2ColumnSort(std::int32_t* x);
template <class P>
void PortableFixedTypes(const std::uint8_t* u, std::size_t stride, std::size_t count,
                        std::uint8_t* out, std::size_t out_stride);
template <class P>
void Avx2FixedTypes(const std::uint8_t* u, std::size_t stride, std::size_t count, std::uint8_t* out,
                    std::size_t out_stride);
template <class P>
void PortableFixedType(std::uint8_t* out, const std::uint8_t* u);
template <class P>
void Avx2FixedType(std::uint8_t* out, const std::uint8_t* u);

// The portable build's templates compiled with the AVX2 flags
// (avx2/rq_inverse_test_portable_wide.cc: 8 int32 lanes, as in a -march=native build of
// ntru_portable.cc; no AVX2 kernel), the same entry points; need an AVX2 CPU.
template <class P>
void PortableWideRqInv(std::uint16_t* r, const std::uint16_t* a);
template <class P>
void PortableWideS3MulTrits(std::uint16_t* r, const std::uint16_t* a, const std::uint16_t* b);
int PortableWideColumnLanes();
template <int kLen>
void PortableWideColumnSort(std::int32_t* x);
template <class P>
void PortableWideFixedTypes(const std::uint8_t* u, std::size_t stride, std::size_t count,
                            std::uint8_t* out, std::size_t out_stride);
template <class P>
void PortableWideFixedType(std::uint8_t* out, const std::uint8_t* u);

// Key generation of each build: KeypairDerand (Keypair) and KeypairBatchDerand (KeypairBatch:
// n keys, key i's coins at fg_coins + i * P::kSeedBytes and prf_keys + 32 i, its keys at
// pks + i * P::kPublicKeyBytes and sks + i * P::kSecretKeyBytes).
template <class P>
void PortableKeypair(std::uint8_t* pk, std::uint8_t* sk, const std::uint8_t* fg_coins,
                     const std::uint8_t* prf_key);
template <class P>
void Avx2Keypair(std::uint8_t* pk, std::uint8_t* sk, const std::uint8_t* fg_coins,
                 const std::uint8_t* prf_key);
template <class P>
void PortableWideKeypair(std::uint8_t* pk, std::uint8_t* sk, const std::uint8_t* fg_coins,
                         const std::uint8_t* prf_key);
template <class P>
void PortableKeypairBatch(std::size_t n, std::uint8_t* pks, std::uint8_t* sks,
                          const std::uint8_t* fg_coins, const std::uint8_t* prf_keys);
template <class P>
void Avx2KeypairBatch(std::size_t n, std::uint8_t* pks, std::uint8_t* sks,
                      const std::uint8_t* fg_coins, const std::uint8_t* prf_keys);
template <class P>
void PortableWideKeypairBatch(std::size_t n, std::uint8_t* pks, std::uint8_t* sks,
                              const std::uint8_t* fg_coins, const std::uint8_t* prf_keys);

}  // namespace medmesh::ntru::rq_inverse_test
