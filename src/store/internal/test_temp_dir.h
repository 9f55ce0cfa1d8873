// The tests of this folder use the shared TempDir (src/testing/temp_dir.h). Test-only.
#pragma once

#include "testing/temp_dir.h"

namespace medmesh::store::internal {

using TempDir = ::medmesh::testing::TempDir;

}  // namespace medmesh::store::internal
