#include "node/data_dir.h"

#include <utility>

namespace medmesh::node {

Status EnsureDataDir(const std::filesystem::path& dir, Env& env) {
  if (dir.empty()) return InvalidArgument("the data folder is not set");
  if (Status created = env.CreateDir(dir, 0700); !created) {
    return Error(created.error().code(), "the data folder: " + created.error().message());
  }
  return OkStatus();
}

Result<DataDirLock> DataDirLock::Acquire(const std::filesystem::path& dir, Env& env) {
  MEDMESH_RETURN_IF_ERROR(EnsureDataDir(dir, env));
  auto lock = env.LockFile(dir / ".lock");
  if (!lock) {
    if (lock.error().code() == ErrorCode::kFailedPrecondition) {
      return FailedPrecondition("the data folder " + dir.string() +
                                " is in use by another running process");
    }
    return Error(lock.error().code(), "cannot lock the data folder: " + lock.error().message());
  }
  return DataDirLock(std::move(*lock));
}

}  // namespace medmesh::node
