// RqInv, S3MulTrits, Fixed_Type and key generation of the portable build for
// ntru_rq_inverse_test (see rq_inverse_test.h), from the KEM's templates in a namespace of their
// own.
#define MEDMESH_NTRU_TARGET rq_inverse_test_portable
#include "crypto/ntru/internal/kem_impl.h"

#define MEDMESH_NTRU_TEST_PREFIX Portable
#include "crypto/ntru/rq_inverse_test_build.h"
