// Env: the one seam through which MedMesh touches files outside SQLite (key files, tokens,
// certificates, the device's small state files, the data-folder lock), in the spirit of
// LevelDB's Env. Env::Default() is the POSIX implementation; tests substitute
// testing::FaultInjectionEnv (src/testing/fault_injection_env.h) to make the disk fill up,
// fsync fail, writes come up short or renames fail, and check that nothing half-written is
// ever taken for durable. SQLite databases do their I/O through SQLite's own VFS; their fault
// injection is testing::FaultySqliteVfs (ADR 0011).
//
// The primitives are the few the code needs. The compositions every caller shares
// (WriteFileAtomically, WriteNewFile) are free functions below, written once on the primitives,
// so a fault injected into a primitive reaches every caller.
//
// Errors from the OS map to codes one way (ErrnoError): EACCES/EPERM/EROFS → kPermissionDenied,
// ENOENT/ENOTDIR → kNotFound, EEXIST → kAlreadyExists, ENOSPC/EDQUOT → kResourceExhausted, anything
// else → kUnavailable. Messages name the path and the OS error, never file contents.
//
// Thread safety: Env implementations are thread-safe; a WritableFile is used by one thread.
// Env::Default() is stateless and lives for the whole process (the one process-wide object of
// this module besides the log sink; it holds no mutable state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>

#include "core/bytes.h"
#include "core/secret_bytes.h"
#include "core/status.h"

namespace medmesh {

// A file open for writing. Destroying it closes it (without a sync).
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data` (short writes and EINTR are retried). On an error some prefix of
  // `data` may have reached the file: callers discard the file.
  virtual Status Append(ByteView data) = 0;
  // Flushes the file's data and metadata to the disk (fsync). After an error nothing written
  // so far may be assumed on disk.
  virtual Status Sync() = 0;
  // Closes the descriptor; further calls are errors. An error here (e.g. a delayed write
  // error) means the contents cannot be trusted.
  virtual Status Close() = 0;
  // The file's path (for a temporary file, its generated name).
  virtual const std::filesystem::path& path() const = 0;
};

// An exclusive advisory lock (flock(2)) on a file, held until the object is destroyed. The
// kernel drops it when the process dies, even by SIGKILL.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // The POSIX implementation. Stateless and thread-safe; never destroyed.
  static Env& Default();

  // Reads the whole of `file`, which must be at most `max_bytes` long. kNotFound if missing,
  // kResourceExhausted if larger, other errors as ErrnoError.
  virtual Result<Bytes> ReadSmallFile(const std::filesystem::path& file, std::size_t max_bytes) = 0;

  // Reads a file that holds a secret (key files, bearer tokens). It must be a regular file (not
  // a symbolic link, FIFO or device), owned by this process's user and not accessible by group
  // or others: kPermissionDenied otherwise (the message names the mode and says "chmod 600").
  // kNotFound if missing, kResourceExhausted if larger than `max_bytes`. The bytes are read
  // straight into SecretBytes; no other copy is left behind.
  virtual Result<SecretBytes> ReadPrivateFile(const std::filesystem::path& file,
                                              std::size_t max_bytes) = 0;

  // Creates `file` with permissions `mode`, set at creation (O_CREAT|O_EXCL|O_NOFOLLOW: an
  // existing file or link is kAlreadyExists and left alone).
  virtual Result<std::unique_ptr<WritableFile>> NewExclusiveFile(const std::filesystem::path& file,
                                                                 unsigned mode) = 0;
  // Creates a new file with a unique name in the folder of `file` (".<name>.XXXXXX"),
  // permissions `mode`; its path() is the generated name.
  virtual Result<std::unique_ptr<WritableFile>> NewTempFileBeside(const std::filesystem::path& file,
                                                                  unsigned mode) = 0;

  // rename(2): atomically replaces `to`.
  virtual Status RenameFile(const std::filesystem::path& from, const std::filesystem::path& to) = 0;
  // unlink(2). kNotFound if missing.
  virtual Status RemoveFile(const std::filesystem::path& file) = 0;
  // fsync(2) of a folder, which makes the entries created or renamed in it durable. File
  // systems that cannot sync a folder (EINVAL) count as success.
  virtual Status SyncDir(const std::filesystem::path& dir) = 0;
  // Creates `dir` and its missing parents; the folders it creates get permissions `mode`. An
  // existing folder is left as it is (its mode unchanged). kAlreadyExists if `dir` is a file.
  virtual Status CreateDir(const std::filesystem::path& dir, unsigned mode) = 0;
  // Takes an exclusive flock on `file` (created 0600 if missing, never through a link).
  // kFailedPrecondition if another open file description holds it.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::filesystem::path& file) = 0;
  // The size in bytes. kNotFound if missing.
  virtual Result<std::uint64_t> FileSize(const std::filesystem::path& file) = 0;
  // True if something exists at `file` (a dangling link counts).
  virtual bool FileExists(const std::filesystem::path& file) = 0;
};

// Writes `contents` to `file` atomically: a temporary file beside it (mode `mode`), append,
// fsync, close, rename over `file`, fsync of the folder. On any error the temporary file is
// removed and `file` keeps its previous contents (or stays absent); the error is returned, so a
// caller never treats a write as durable that is not. Errors as the primitives'.
Status WriteFileAtomically(const std::filesystem::path& file, ByteView contents, unsigned mode,
                           Env& env = Env::Default());

// Creates `file` (mode `mode`, set at creation; kAlreadyExists if anything is there) with
// `contents`, synced, and syncs its folder. On any other error the partly written file is
// removed, so a later attempt starts afresh instead of finding a truncated file.
Status WriteNewFile(const std::filesystem::path& file, ByteView contents, unsigned mode,
                    Env& env = Env::Default());

// The Error for a failed OS call on `path`: "<what> <path>: <strerror>", code as above.
Error ErrnoError(std::string_view what, const std::filesystem::path& path, int err);

}  // namespace medmesh
