// A service's data folder: created 0700 if missing, and locked for the lifetime of the service
// so that a second process started on the same folder (a double `medmesh cloudlet`, a demo
// started twice) is refused instead of corrupting sessions, leases and counters. The lock is an
// advisory flock(2) on <dir>/.lock: the kernel drops it when the process dies, even by SIGKILL,
// so a crashed service never leaves a stale lock behind.
// Thread safety: DataDirLock is a move-only handle; EnsureDataDir is reentrant.
#pragma once

#include <filesystem>
#include <memory>

#include "core/env.h"
#include "core/status.h"

namespace medmesh::node {

// Creates `dir` (and parents) with mode 0700 if it does not exist (Env::CreateDir).
// kInvalidArgument for an empty path, errors of Env::CreateDir otherwise.
Status EnsureDataDir(const std::filesystem::path& dir, Env& env = Env::Default());

class DataDirLock {
 public:
  // EnsureDataDir, then takes the lock (Env::LockFile). kFailedPrecondition if another
  // process holds it; errors of Env::LockFile if the lock file cannot be opened.
  static Result<DataDirLock> Acquire(const std::filesystem::path& dir, Env& env = Env::Default());

 private:
  explicit DataDirLock(std::unique_ptr<FileLock> lock) : lock_(std::move(lock)) {}
  std::unique_ptr<FileLock> lock_;
};

}  // namespace medmesh::node
