// The AVX2 build of the NTRU KEM: the same templates compiled with -mavx2 -mbmi2, plus the
// hand-written kernels of avx2/ that kem_impl.h calls under MEDMESH_NTRU_AVX2_KERNELS. Only called
// after CPU detection.
#define MEDMESH_NTRU_TARGET avx2
#define MEDMESH_NTRU_AVX2_KERNELS 1  // avx2/kernels.h: multiplication and sort
#include "crypto/ntru/internal/kem_impl.h"

namespace medmesh::ntru {
const KemFunctions* Avx2Table() { return avx2::kTable; }
}  // namespace medmesh::ntru
