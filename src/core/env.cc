#include "core/env.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace medmesh {
namespace {

namespace fs = std::filesystem;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Reads until end of file into out[0, capacity); returns the number of bytes read, or
// capacity + 1 if the file holds more.
Result<std::size_t> ReadInto(int fd, std::uint8_t* out, std::size_t capacity,
                             const fs::path& file) {
  std::size_t size = 0;
  while (true) {
    std::uint8_t probe = 0;
    std::uint8_t* target = size < capacity ? out + size : &probe;
    const std::size_t room = size < capacity ? capacity - size : 1;
    const ssize_t n = ::read(fd, target, room);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot read", file, errno);
    }
    if (n == 0) return size;
    if (size >= capacity) return capacity + 1;
    size += static_cast<std::size_t>(n);
  }
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, fs::path path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(ByteView data) override {
    if (fd_ < 0) return FailedPrecondition("write to a closed file " + path_.string());
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot write", path_, errno);
      }
      done += static_cast<std::size_t>(n);
    }
    return OkStatus();
  }

  Status Sync() override {
    if (fd_ < 0) return FailedPrecondition("sync of a closed file " + path_.string());
    if (::fsync(fd_) != 0) return ErrnoError("cannot sync", path_, errno);
    return OkStatus();
  }

  Status Close() override {
    if (fd_ < 0) return FailedPrecondition("file already closed: " + path_.string());
    const int fd = std::exchange(fd_, -1);
    // close(2) must not be retried on EINTR on Linux: the descriptor is gone either way.
    if (::close(fd) != 0 && errno != EINTR) return ErrnoError("cannot close", path_, errno);
    return OkStatus();
  }

  const fs::path& path() const override { return path_; }

 private:
  int fd_;
  fs::path path_;
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // closing the last descriptor releases the lock
  PosixFileLock(const PosixFileLock&) = delete;
  PosixFileLock& operator=(const PosixFileLock&) = delete;

 private:
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<Bytes> ReadSmallFile(const fs::path& file, std::size_t max_bytes) override {
    Fd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoError("cannot open", file, errno);
    Bytes out;
    std::uint8_t buffer[8192];
    while (true) {
      const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("cannot read", file, errno);
      }
      if (n == 0) break;
      out.insert(out.end(), buffer, buffer + n);
      if (out.size() > max_bytes) return ResourceExhausted(file.string() + " is too large");
    }
    return out;
  }

  Result<SecretBytes> ReadPrivateFile(const fs::path& file, std::size_t max_bytes) override {
    // O_NONBLOCK: a FIFO planted at the path must not hang us; it is refused below.
    Fd fd(::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) {
      if (errno == ELOOP) {
        return PermissionDenied(file.string() + " is a symbolic link; refusing it");
      }
      return ErrnoError("cannot open", file, errno);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return ErrnoError("cannot stat", file, errno);
    if (!S_ISREG(st.st_mode)) return PermissionDenied(file.string() + " is not a regular file");
    if (st.st_uid != ::geteuid()) {
      return PermissionDenied(file.string() + " is owned by another user");
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      return PermissionDenied(file.string() + " has mode " + mode +
                              " and is accessible by group or others; run: chmod 600 " +
                              file.string());
    }
    if (st.st_size < 0 || static_cast<std::uint64_t>(st.st_size) > max_bytes) {
      return ResourceExhausted(file.string() + " is too large");
    }
    SecretBytes buffer(max_bytes);
    MEDMESH_ASSIGN_OR_RETURN(std::size_t size,
                             ReadInto(fd.get(), buffer.mutable_bytes().data(), max_bytes, file));
    if (size > max_bytes) return ResourceExhausted(file.string() + " is too large");
    return SecretBytes(buffer.reveal().first(size));
  }

  Result<std::unique_ptr<WritableFile>> NewExclusiveFile(const fs::path& file,
                                                         unsigned mode) override {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                          static_cast<mode_t>(mode));
    if (fd < 0) return ErrnoError("cannot create", file, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, file));
  }

  Result<std::unique_ptr<WritableFile>> NewTempFileBeside(const fs::path& file,
                                                          unsigned mode) override {
    const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
    std::string name = (dir / ("." + file.filename().string() + ".XXXXXX")).string();
    // mkostemp opens with O_CREAT|O_EXCL and mode 0600; fchmod then sets `mode` before any byte
    // is written.
    Fd fd(::mkostemp(name.data(), O_CLOEXEC));
    if (fd.get() < 0) return ErrnoError("cannot create a temporary file beside", file, errno);
    if (::fchmod(fd.get(), static_cast<mode_t>(mode)) != 0) {
      const int err = errno;
      ::unlink(name.c_str());
      return ErrnoError("cannot set the mode of", name, err);
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd.release(), name));
  }

  Status RenameFile(const fs::path& from, const fs::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoError("cannot rename to", to, errno);
    return OkStatus();
  }

  Status RemoveFile(const fs::path& file) override {
    if (::unlink(file.c_str()) != 0) return ErrnoError("cannot remove", file, errno);
    return OkStatus();
  }

  Status SyncDir(const fs::path& dir) override {
    const fs::path d = dir.empty() ? fs::path(".") : dir;
    Fd fd(::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoError("cannot open the folder", d, errno);
    if (::fsync(fd.get()) != 0 && errno != EINVAL) return ErrnoError("cannot sync", d, errno);
    return OkStatus();
  }

  Status CreateDir(const fs::path& dir, unsigned mode) override {
    if (dir.empty()) return InvalidArgument("empty folder name");
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return OkStatus();
      return AlreadyExists(dir.string() + " exists and is not a folder");
    }
    if (dir.has_parent_path() && dir.parent_path() != dir) {
      MEDMESH_RETURN_IF_ERROR(CreateDir(dir.parent_path(), mode));
    }
    if (::mkdir(dir.c_str(), static_cast<mode_t>(mode)) != 0) {
      if (errno == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        return OkStatus();  // created by someone else meanwhile
      }
      return ErrnoError("cannot create the folder", dir, errno);
    }
    // mkdir's mode is filtered by the umask; the requested mode is what the caller relies on
    // (e.g. 0700 for a data folder).
    if (::chmod(dir.c_str(), static_cast<mode_t>(mode)) != 0) {
      return ErrnoError("cannot set the mode of", dir, errno);
    }
    return OkStatus();
  }

  Result<std::unique_ptr<FileLock>> LockFile(const fs::path& file) override {
    Fd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) return ErrnoError("cannot open the lock file", file, errno);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return FailedPrecondition(file.string() + " is locked");
      return ErrnoError("cannot lock", file, errno);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd.release()));
  }

  Result<std::uint64_t> FileSize(const fs::path& file) override {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return ErrnoError("cannot stat", file, errno);
    return static_cast<std::uint64_t>(st.st_size);
  }

  bool FileExists(const fs::path& file) override {
    struct stat st {};
    return ::lstat(file.c_str(), &st) == 0;
  }
};

}  // namespace

Env& Env::Default() {
  // Stateless: the function-local static is only there to have one object to refer to.
  static PosixEnv env;
  return env;
}

Status WriteFileAtomically(const fs::path& file, ByteView contents, unsigned mode, Env& env) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> temp, env.NewTempFileBeside(file, mode));
  const fs::path temp_path = temp->path();
  Status written = temp->Append(contents);
  if (written) written = temp->Sync();
  if (written) written = temp->Close();
  temp.reset();
  if (written) written = env.RenameFile(temp_path, file);
  if (!written) {
    (void)env.RemoveFile(temp_path);  // best effort; a leftover ".name.XXXXXX" is harmless
    return written;
  }
  // The rename itself is durable only once the folder is synced.
  return env.SyncDir(file.has_parent_path() ? file.parent_path() : fs::path("."));
}

Status WriteNewFile(const fs::path& file, ByteView contents, unsigned mode, Env& env) {
  MEDMESH_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out, env.NewExclusiveFile(file, mode));
  Status written = out->Append(contents);
  if (written) written = out->Sync();
  if (written) written = out->Close();
  out.reset();
  if (written) {
    written = env.SyncDir(file.has_parent_path() ? file.parent_path() : fs::path("."));
  }
  if (!written) (void)env.RemoveFile(file);
  return written;
}

Error ErrnoError(std::string_view what, const fs::path& path, int err) {
  // std::error_code's message is thread-safe, unlike strerror.
  std::string message = std::string(what) + " " + path.string() + ": " +
                        std::error_code(err, std::generic_category()).message();
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS: return PermissionDenied(std::move(message));
    case ENOENT:
    case ENOTDIR: return NotFound(std::move(message));
    case EEXIST: return AlreadyExists(std::move(message));
    case ENOSPC:
    case EDQUOT: return ResourceExhausted(std::move(message));
    default: return Unavailable(std::move(message));
  }
}

}  // namespace medmesh
