// The entry points of rq_inverse_test.h for one build: included by rq_inverse_test_portable.cc,
// avx2/rq_inverse_test_avx2.cc and avx2/rq_inverse_test_portable_wide.cc after kem_impl.h, with
// MEDMESH_NTRU_TARGET naming that build's namespace and MEDMESH_NTRU_TEST_PREFIX (Portable, Avx2
// or PortableWide) the functions' prefix.
#if !defined(MEDMESH_NTRU_TARGET) || !defined(MEDMESH_NTRU_TEST_PREFIX)
#error "define MEDMESH_NTRU_TARGET and MEDMESH_NTRU_TEST_PREFIX first"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "crypto/ntru/rq_inverse_test.h"

#define MEDMESH_NTRU_TEST_CAT2(a, b) a##b
#define MEDMESH_NTRU_TEST_CAT(a, b) MEDMESH_NTRU_TEST_CAT2(a, b)
#define MEDMESH_NTRU_TEST_FN(name) MEDMESH_NTRU_TEST_CAT(MEDMESH_NTRU_TEST_PREFIX, name)

namespace medmesh::ntru::rq_inverse_test {

namespace build = medmesh::ntru::MEDMESH_NTRU_TARGET;

template <class P>
void MEDMESH_NTRU_TEST_FN(RqInv)(std::uint16_t* r, const std::uint16_t* a) {
  build::Poly<P> in;
  build::Poly<P> out;
  std::memcpy(in.c, a, sizeof in.c);
  build::RqInv(out, in);
  std::memcpy(r, out.c, sizeof out.c);
}

template <class P>
void MEDMESH_NTRU_TEST_FN(S3MulTrits)(std::uint16_t* r, const std::uint16_t* a,
                                      const std::uint16_t* b) {
  build::Poly<P> pa;
  build::Poly<P> pb;
  std::memcpy(pa.c, a, sizeof pa.c);
  std::memcpy(pb.c, b, sizeof pb.c);
  build::Trits<P::kN> ta;
  build::Trits<P::kN> tb;
  build::ToTrits(ta, pa);
  build::ToTrits(tb, pb);
  build::S3MulTrits(ta, ta, tb);  // aliasing, as the batch's chain does
  build::FromTrits(pa, ta);
  std::memcpy(r, pa.c, sizeof pa.c);
}

int MEDMESH_NTRU_TEST_FN(ColumnLanes)() { return build::kI32Lanes; }

template <int kLen>
void MEDMESH_NTRU_TEST_FN(ColumnSort)(std::int32_t* x) {
  constexpr int kL = build::kI32Lanes;
  build::VecI32 v[kLen];
  for (int i = 0; i < kLen; ++i) {
    for (int l = 0; l < kL; ++l) v[i][l] = x[l * kLen + i];
  }
  build::ColumnSorter<kLen>::Sort(v);
  for (int i = 0; i < kLen; ++i) {
    for (int l = 0; l < kL; ++l) x[l * kLen + i] = v[i][l];
  }
}
template void MEDMESH_NTRU_TEST_FN(ColumnSort)<508>(std::int32_t*);
template void MEDMESH_NTRU_TEST_FN(ColumnSort)<676>(std::int32_t*);
template void MEDMESH_NTRU_TEST_FN(ColumnSort)<820>(std::int32_t*);
template void MEDMESH_NTRU_TEST_FN(ColumnSort)<9>(std::int32_t*);

template <class P>
void MEDMESH_NTRU_TEST_FN(FixedTypes)(const std::uint8_t* u, std::size_t stride, std::size_t count,
                                      std::uint8_t* out, std::size_t out_stride) {
  build::SampleFixedTypesPacked<P>(u, stride, count, out, out_stride);
}

template <class P>
void MEDMESH_NTRU_TEST_FN(FixedType)(std::uint8_t* out, const std::uint8_t* u) {
  build::Poly<P> g;
  build::SampleFixedType(g, u);
  build::PackS3(out, g);
}

template <class P>
void MEDMESH_NTRU_TEST_FN(Keypair)(std::uint8_t* pk, std::uint8_t* sk, const std::uint8_t* fg_coins,
                                   const std::uint8_t* prf_key) {
  build::KeypairDerand<P>(pk, sk, fg_coins, prf_key);
}

template <class P>
void MEDMESH_NTRU_TEST_FN(KeypairBatch)(std::size_t n, std::uint8_t* pks, std::uint8_t* sks,
                                        const std::uint8_t* fg_coins,
                                        const std::uint8_t* prf_keys) {
  build::KeypairBatchDerand<P>(n, pks, sks, fg_coins, prf_keys);
}

#define MEDMESH_NTRU_TEST_INSTANTIATE_HPS(P)                                                       \
  template void MEDMESH_NTRU_TEST_FN(FixedTypes)<P>(const std::uint8_t*, std::size_t, std::size_t, \
                                                    std::uint8_t*, std::size_t);                   \
  template void MEDMESH_NTRU_TEST_FN(FixedType)<P>(std::uint8_t*, const std::uint8_t*);
MEDMESH_NTRU_TEST_INSTANTIATE_HPS(Hps2048509)
MEDMESH_NTRU_TEST_INSTANTIATE_HPS(Hps2048677)
MEDMESH_NTRU_TEST_INSTANTIATE_HPS(Hps4096821)
#undef MEDMESH_NTRU_TEST_INSTANTIATE_HPS

#define MEDMESH_NTRU_TEST_INSTANTIATE(P)                                                         \
  template void MEDMESH_NTRU_TEST_FN(RqInv)<P>(std::uint16_t*, const std::uint16_t*);            \
  template void MEDMESH_NTRU_TEST_FN(S3MulTrits)<P>(std::uint16_t*, const std::uint16_t*,        \
                                                    const std::uint16_t*);                       \
  template void MEDMESH_NTRU_TEST_FN(Keypair)<P>(std::uint8_t*, std::uint8_t*,                   \
                                                 const std::uint8_t*, const std::uint8_t*);      \
  template void MEDMESH_NTRU_TEST_FN(KeypairBatch)<P>(std::size_t, std::uint8_t*, std::uint8_t*, \
                                                      const std::uint8_t*, const std::uint8_t*);
MEDMESH_NTRU_TEST_INSTANTIATE(Hps2048509)
MEDMESH_NTRU_TEST_INSTANTIATE(Hps2048677)
MEDMESH_NTRU_TEST_INSTANTIATE(Hps4096821)
MEDMESH_NTRU_TEST_INSTANTIATE(Hrss701)
#undef MEDMESH_NTRU_TEST_INSTANTIATE

}  // namespace medmesh::ntru::rq_inverse_test
