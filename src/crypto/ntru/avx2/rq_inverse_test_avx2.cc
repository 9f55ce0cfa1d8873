// RqInv of the AVX2 build for ntru_rq_inverse_test (see ../rq_inverse_test.h): the KEM's
// templates with the AVX2 kernels, in a namespace of their own that sees the kernels (compiled
// with the AVX2 build's flags, CMakeLists.txt).
#include "crypto/ntru/avx2/inv_kernels.h"
#include "crypto/ntru/avx2/kernels.h"

namespace medmesh::ntru::rq_inverse_test_avx2 {
using namespace medmesh::ntru::avx2;  // NOLINT(google-build-using-namespace): the kernels
}  // namespace medmesh::ntru::rq_inverse_test_avx2

#define MEDMESH_NTRU_TARGET rq_inverse_test_avx2
#define MEDMESH_NTRU_AVX2_KERNELS 1
#include "crypto/ntru/internal/kem_impl.h"
#include "crypto/ntru/rq_inverse_test.h"

namespace medmesh::ntru::rq_inverse_test {

template <class P>
void Avx2RqInv(std::uint16_t* r, const std::uint16_t* a) {
  rq_inverse_test_avx2::Poly<P> in;
  rq_inverse_test_avx2::Poly<P> out;
  std::memcpy(in.c, a, sizeof in.c);
  rq_inverse_test_avx2::RqInv(out, in);
  std::memcpy(r, out.c, sizeof out.c);
}

template void Avx2RqInv<Hps2048509>(std::uint16_t*, const std::uint16_t*);
template void Avx2RqInv<Hps2048677>(std::uint16_t*, const std::uint16_t*);
template void Avx2RqInv<Hps4096821>(std::uint16_t*, const std::uint16_t*);
template void Avx2RqInv<Hrss701>(std::uint16_t*, const std::uint16_t*);

}  // namespace medmesh::ntru::rq_inverse_test
