// RqInv and S3MulTrits of the AVX2 build for ntru_rq_inverse_test (see ../rq_inverse_test.h): the
// KEM's templates with the AVX2 kernels, in a namespace of their own that sees the kernels
// (compiled with the AVX2 build's flags, CMakeLists.txt).
#include "crypto/ntru/avx2/inv_kernels.h"
#include "crypto/ntru/avx2/kernels.h"

namespace medmesh::ntru::rq_inverse_test_avx2 {
using namespace medmesh::ntru::avx2;  // NOLINT(google-build-using-namespace): the kernels
}  // namespace medmesh::ntru::rq_inverse_test_avx2

#define MEDMESH_NTRU_TARGET rq_inverse_test_avx2
#define MEDMESH_NTRU_AVX2_KERNELS 1
#include "crypto/ntru/internal/kem_impl.h"

#define MEDMESH_NTRU_TEST_PREFIX Avx2
#include "crypto/ntru/rq_inverse_test_build.h"
