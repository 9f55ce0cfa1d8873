// TempDir for the tests of this folder: a fresh directory under the system temp dir, removed
// with everything in it when the object goes away. Test-only.
#pragma once

#include <cstdlib>  // mkdtemp (POSIX)
#include <filesystem>
#include <string>
#include <system_error>

#include "core/check.h"

namespace medmesh::store::internal {

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "medmesh-store-XXXXXX").string();
    MEDMESH_CHECK(mkdtemp(templ.data()) != nullptr, "mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // A path for a file inside the directory.
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace medmesh::store::internal
