// The portable build's templates compiled with the AVX2 flags (CMakeLists.txt), as a build for
// the build machine's CPU (-march=native) compiles ntru_portable.cc: its generic vectors are
// 256 bits wide, so batch key generation takes the 8-lane paths of its Fixed_Type
// (FixedTypeRandomKeys, ColumnSorter) that the default portable build (SSE2, 4 lanes) does not.
// No AVX2 kernel is used (MEDMESH_NTRU_AVX2_KERNELS stays undefined). Entry points for
// ntru_rq_inverse_test (see ../rq_inverse_test.h), in a namespace of their own.
#define MEDMESH_NTRU_TARGET rq_inverse_test_portable_wide
#include "crypto/ntru/internal/kem_impl.h"

#define MEDMESH_NTRU_TEST_PREFIX PortableWide
#include "crypto/ntru/rq_inverse_test_build.h"
