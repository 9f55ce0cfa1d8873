// TempDir for tests: a fresh private directory under the system temp dir (mkdtemp, mode 0700),
// removed with everything in it when the object goes away. Test-only.
#pragma once

#include <cstdlib>  // mkdtemp (POSIX)
#include <filesystem>
#include <string>
#include <system_error>

#include "core/check.h"

namespace medmesh::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "medmesh-test-XXXXXX").string();
    MEDMESH_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // A path for a file inside the directory.
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace medmesh::testing
