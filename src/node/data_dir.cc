#include "node/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>

namespace medmesh::node {

Status EnsureDataDir(const std::filesystem::path& dir) {
  if (dir.empty()) return InvalidArgument("the data folder is not set");
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return OkStatus();
  std::filesystem::create_directories(dir, ec);
  if (ec) return Unavailable("cannot create the data folder " + dir.string());
  if (::chmod(dir.c_str(), 0700) != 0) {
    return Unavailable("cannot restrict the data folder " + dir.string() + " to its owner");
  }
  return OkStatus();
}

Result<DataDirLock> DataDirLock::Acquire(const std::filesystem::path& dir) {
  MEDMESH_RETURN_IF_ERROR(EnsureDataDir(dir));
  const std::filesystem::path file = dir / ".lock";
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Unavailable("cannot open the lock file " + file.string());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return FailedPrecondition("the data folder " + dir.string() +
                                " is in use by another running process");
    }
    return Unavailable("cannot lock the data folder " + dir.string());
  }
  return DataDirLock(fd);
}

DataDirLock::DataDirLock(DataDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DataDirLock& DataDirLock::operator=(DataDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace medmesh::node
