// The portable build of the NTRU KEM: plain C++ for any CPU (on x86-64 the compiler may use
// the SSE2 baseline).
#define MEDMESH_NTRU_TARGET portable
#include "crypto/ntru/internal/kem_impl.h"

namespace medmesh::ntru {
const KemFunctions* PortableTable() { return portable::kTable; }
}  // namespace medmesh::ntru
