#include "core/random.h"

#include <sodium.h>

#include "core/check.h"

namespace medmesh {

void SystemRandom::Fill(MutableByteView out) {
  // An empty span may have a null data(); randombytes_buf's pointer is declared nonnull, so
  // passing it even with length 0 is undefined behaviour (UBSan reports it).
  if (out.empty()) return;
  // sodium_init is idempotent and thread-safe; it only fails if no entropy source exists.
  MEDMESH_CHECK(sodium_init() >= 0, "libsodium initialisation failed");
  randombytes_buf(out.data(), out.size());
}

}  // namespace medmesh
