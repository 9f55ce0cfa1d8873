// A service's data folder: created 0700 if missing, and locked for the lifetime of the service
// so that a second process started on the same folder (a double `medmesh cloudlet`, a demo
// started twice) is refused instead of corrupting sessions, leases and counters. The lock is an
// advisory flock(2) on <dir>/.lock: the kernel drops it when the process dies, even by SIGKILL,
// so a crashed service never leaves a stale lock behind.
// Thread safety: DataDirLock is a move-only handle; EnsureDataDir is reentrant.
#pragma once

#include <filesystem>

#include "core/status.h"

namespace medmesh::node {

// Creates `dir` (and parents) with mode 0700 if it does not exist. kInvalidArgument for an
// empty path, kUnavailable if it cannot be created.
Status EnsureDataDir(const std::filesystem::path& dir);

class DataDirLock {
 public:
  // EnsureDataDir, then takes the lock. kFailedPrecondition if another process holds it;
  // kUnavailable if the lock file cannot be opened.
  static Result<DataDirLock> Acquire(const std::filesystem::path& dir);

  DataDirLock(DataDirLock&& other) noexcept;
  DataDirLock& operator=(DataDirLock&& other) noexcept;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace medmesh::node
