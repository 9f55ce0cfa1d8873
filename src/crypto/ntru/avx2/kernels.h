// Hand-vectorised AVX2 kernels of the NTRU KEM, compiled only into the AVX2 build (with
// -mavx2 -mbmi2) and used by the templates of ../internal/kem_impl.h when ntru_avx2.cc defines
// MEDMESH_NTRU_AVX2_KERNELS. Callers must have checked that the CPU has AVX2 (dispatch.cc).
//
// Every kernel is constant time: fixed loop bounds, no branch or memory index depending on
// coefficient or key values. See docs/adr/0032-avx2-kernels.md for the design.
#pragma once

#include <cstdint>

namespace medmesh::ntru::avx2 {

// r = a * b mod (x^n - 1) in Z_{2^16}[x] for the parameter set P (n = P::kN), correct mod 2^13
// (bits 13..15 of r[i] for i < n unspecified): Toom-4 (evaluation at 0, +-1, +-2, 1/2,
// infinity; its interpolation divides by 8) over 63 products of 16th parts of the operands --
// pieces of 32, 44, 44 and 52 coefficients for n = 509, 677, 701, 821, each held in a block of
// P::kPad / 16 slots (32, 48, 64) -- done 16 at a time transposed (lane i of vector k =
// coefficient k of block i) by one or two vertical Karatsuba levels and schoolbooks. Enough for
// every product modulo q (q <= 2^13) and for exact products of ternary polynomials ({0,1,2}
// coefficients: at most 4n < 2^13), which is every product of the KEM: encapsulation,
// decapsulation and, since ADR 0044, key generation (its lift works mod q).
//
// a and b have P::kPad coefficients, those at index >= n zero. r receives P::kPad coefficients,
// r[i] = 0 for i >= n. r may alias a or b. No alignment needed. Thread-safe (stack only).
template <class P>
void PolyMulQ(std::uint16_t* r, const std::uint16_t* a, const std::uint16_t* b);

// PolyMulQ in two halves, for an operand used in several products: PrepareQ evaluates a (as
// PolyMulQ's a or b: P::kPad coefficients, those at index >= n zero) into its 63 Toom-4 /
// Karatsuba blocks, transposed; PolyMulQPrepared(r, pa, pb) then equals PolyMulQ(r, a, b), r
// any buffer of P::kPad coefficients (it may be a or b themselves). PolyMulQ is PrepareQ of both
// operands and PolyMulQPrepared, so preparing once saves the operand's half of the work in every
// further product (~2.5k instructions of ~26.2k for n = 677). 4 P::kPad coefficients (6 KB for
// n = 677). Batch key generation shares operands this way (../internal/batch_impl.h).
template <class P>
struct PreparedQ {
  alignas(32) std::uint16_t v[4 * P::kPad];  // 4 groups of kPad/16 vectors of 16 lanes
};
template <class P>
void PrepareQ(PreparedQ<P>& out, const std::uint16_t* a);
template <class P>
void PolyMulQPrepared(std::uint16_t* r, const PreparedQ<P>& a, const PreparedQ<P>& b);

// Multiplication in F_3[x] / (Phi_n) on byte lanes (avx2/s3_mul.cc, ADR 0057), for batch key
// generation's mod-3 chain: PrepareS3 evaluates an operand a (P::kPad coefficients, zero from n
// on: uint16 in {0, 1, 2} or {0, 1, 2^16 - 1}, or bytes in {0, 1, 2}) into its pieces -- three
// Karatsuba levels into 27 pieces of kPiece coefficients (kPiece = 64, 88, 88, 104 for
// n = 509, 677, 701, 821), transposed into byte lanes, then kVerticalLevels Karatsuba levels on
// whole vectors (two for n = 509, three for the others): kGroups groups of kRows vectors of trits
// {-1, 0, 1} (9 of 16 for 509, 27 of kPiece / 8 for the others); S3MulPrepared(r, a, b) writes
// a * b mod (3, Phi_n) to r: P::kPad coefficients (uint16 or bytes) in {0, 1, 2}, zero from n
// on (the canonical representative, as S3Mul's). r may be the source of a or b. Thread-safe
// (stack only); constant time.
template <class P>
struct PreparedS3 {
  static constexpr int kPiece = P::kN <= 512 ? 64 : P::kN <= 704 ? 88 : 104;
  static constexpr int kVerticalLevels = P::kN <= 512 ? 2 : 3;   // ADR 0066
  static constexpr int kGroups = kVerticalLevels == 2 ? 9 : 27;  // 3^kVerticalLevels
  static constexpr int kRows = kPiece >> kVerticalLevels;        // rows of a group
  alignas(32) std::uint8_t v[kGroups * kRows * 32];  // kGroups groups of kRows rows of 32 lanes
};
template <class P, class T>  // T = std::uint16_t or std::uint8_t
void PrepareS3(PreparedS3<P>& out, const T* a);
template <class P, class T>
void S3MulPrepared(T* r, const PreparedS3<P>& a, const PreparedS3<P>& b);
// Both halves at once, for decapsulation's F_3 product with n = 821 (S3Mul in
// ../internal/kem_impl.h, ADR 0069): r = a * b mod (3, Phi_n) for a, b of P::kPad uint16
// coefficients in {0, 1, 2}, zero from n on; r as S3MulPrepared's (it may alias a or b). The two
// evaluated operands (11 KB each for 821) are product temporaries on the stack, not wiped
// (ADR 0062).
template <class P>
void S3MulByteLanes(std::uint16_t* r, const std::uint16_t* a, const std::uint16_t* b);

// Sorts kLen int32 values ascending as signed numbers, in place, with a fixed sorting network
// of AVX2 lane-wise min/max (the result equals std::sort's). kLen is a multiple of 8; a power of
// two is one bitonic network, other lengths are sorted in power-of-two pieces that are merged
// (ADR 0068). Instantiated for 512, 680, 824 and 1024 (and, for the tests, 72, 200 and 1016).
// No alignment needed. Thread-safe.
template <int kLen>
void SortInt32(std::int32_t* x);

// The whole groups of PackSq / UnpackSq (../internal/kem_impl.h) with BMI2: coefficients
// 0 .. 8 * floor((n-1) / 8) - 1, eight per P::kLogQ bytes, little-endian bit order; packing
// takes each coefficient mod q, unpacking writes values below q. The caller does the tail.
template <class P>
void PackSqGroups(std::uint8_t* out, const std::uint16_t* a);
template <class P>
void UnpackSqGroups(std::uint16_t* a, const std::uint8_t* in);

// S3 (avx2/s3.cc), with the same results as the scalar code of ../internal/kem_impl.h:
// UnpackS3Trits = UnpackS3 (five trits per byte, coefficients n-1 and up zero; reads exactly
// P::kPackS3Bytes), PackS3Trits = PackS3 for coefficients in {0,1,2} (coefficients n-1 and up
// ignored; writes exactly P::kPackS3Bytes), RqToS3Reduce = RqToS3 (r may alias a), and
// S3ReduceProduct = the reduction of S3Mul after its product: r[i] = (r[i] mod 2^13) mod
// (3, Phi_n) for i < n, zero above.
template <class P>
void UnpackS3Trits(std::uint16_t* a, const std::uint8_t* in);
template <class P>
void PackS3Trits(std::uint8_t* out, const std::uint16_t* a);
template <class P>
void RqToS3Reduce(std::uint16_t* r, const std::uint16_t* a);
template <class P>
void S3ReduceProduct(std::uint16_t* r);
// Lift(m) of HRSS (kem_impl.h): r = (x - 1) * (m / (x - 1) mod (3, Phi_n)) in Z_q, for m with
// coefficients in {0,1,2} and zero padding; r must not alias m. Only for P = Hrss701.
template <class P>
void LiftHrss(std::uint16_t* r, const std::uint16_t* m);

// The (n-1) sampling keys of Fixed_Type before the type bits: key i is bits 30 i .. 30 i + 29
// of u (little-endian) shifted left by 2, read from 15 bytes per 4 keys. Keys 8b .. 8b + 7 go
// to s + b * kBlockStride: contiguous for 8, one key's row of an 8-lane column layout for 64
// (batch key generation, ColumnSorter in ../internal/kem_impl.h).
template <class P, int kBlockStride = 8>
void FixedTypeKeys(std::int32_t* s, const std::uint8_t* u);

}  // namespace medmesh::ntru::avx2
