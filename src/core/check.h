// MEDMESH_CHECK: aborts with a clear message when one of our own invariants is broken.
// Not for untrusted input: that returns Status/Result.
#pragma once

namespace medmesh::internal {
[[noreturn]] void CheckFailed(const char* file, int line, const char* cond, const char* msg);
}  // namespace medmesh::internal

#define MEDMESH_CHECK(cond, msg)                                                   \
  do {                                                                             \
    if (!(cond)) ::medmesh::internal::CheckFailed(__FILE__, __LINE__, #cond, msg); \
  } while (0)
