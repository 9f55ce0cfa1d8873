// RqInv of the portable build for ntru_rq_inverse_test (see rq_inverse_test.h), from the KEM's
// templates in a namespace of its own.
#define MEDMESH_NTRU_TARGET rq_inverse_test_portable
#include "crypto/ntru/internal/kem_impl.h"
#include "crypto/ntru/rq_inverse_test.h"

namespace medmesh::ntru::rq_inverse_test {

template <class P>
void PortableRqInv(std::uint16_t* r, const std::uint16_t* a) {
  rq_inverse_test_portable::Poly<P> in;
  rq_inverse_test_portable::Poly<P> out;
  std::memcpy(in.c, a, sizeof in.c);
  rq_inverse_test_portable::RqInv(out, in);
  std::memcpy(r, out.c, sizeof out.c);
}

template void PortableRqInv<Hps2048509>(std::uint16_t*, const std::uint16_t*);
template void PortableRqInv<Hps2048677>(std::uint16_t*, const std::uint16_t*);
template void PortableRqInv<Hps4096821>(std::uint16_t*, const std::uint16_t*);
template void PortableRqInv<Hrss701>(std::uint16_t*, const std::uint16_t*);

}  // namespace medmesh::ntru::rq_inverse_test
