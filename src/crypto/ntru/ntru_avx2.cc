// The AVX2 build of the NTRU KEM: the same templates compiled with -mavx2 -mbmi2, plus the
// AVX2 kernels that kem_impl.h selects under __AVX2__. Only called after CPU detection.
#define MEDMESH_NTRU_TARGET avx2
#include "crypto/ntru/internal/kem_impl.h"

namespace medmesh::ntru {
const KemFunctions* Avx2Table() { return avx2::kTable; }
}  // namespace medmesh::ntru
