// FaultInjectionEnv: an Env (core/env.h) over a real one (Env::Default() unless given) that
// fails the way disks fail, on demand, so tests can check that a failed write is never taken
// for a durable one:
//   - SetSpaceLeft(n): the disk is full after n more bytes: an Append that crosses the limit
//     writes what fits, then fails with ENOSPC (kResourceExhausted);
//   - FailSyncs: fsync of files and folders fails with EIO (kUnavailable);
//   - ShortWrites: every Append writes only the first half of its bytes, then fails with EIO;
//   - FailRenames: rename fails with EIO;
//   - FailCreates: creating a file fails with ENOSPC (no inode left);
//   - CrashAfter(n): the process "dies" after n more operations that change the disk (create,
//     append, sync, rename, remove, folder sync): from then on each of them fails with EIO
//     and changes nothing, so a test can stop a multi-step procedure after every step and
//     check what a restart finds.
// Reads, locks and removals are passed through. Clear() heals the disk; data written before
// stays as written.
// Test-only. Thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include "core/env.h"

namespace medmesh::testing {

class FaultInjectionEnv final : public Env {
 public:
  explicit FaultInjectionEnv(Env& base = Env::Default()) : base_(base) {}

  // nullopt: unlimited (the default).
  void SetSpaceLeft(std::optional<std::uint64_t> bytes);
  void FailSyncs(bool fail);
  void ShortWrites(bool fail);
  void FailRenames(bool fail);
  void FailCreates(bool fail);
  // nullopt: never (the default).
  void CrashAfter(std::optional<std::uint64_t> operations);
  // Back to a healthy disk.
  void Clear();

  // How many operations were failed on purpose so far (a test checks that its fault fired).
  std::uint64_t injected_faults() const;
  // Bytes appended through this Env that reached the base Env.
  std::uint64_t bytes_written() const;

  Result<Bytes> ReadSmallFile(const std::filesystem::path& file, std::size_t max_bytes) override;
  Result<SecretBytes> ReadPrivateFile(const std::filesystem::path& file,
                                      std::size_t max_bytes) override;
  Result<std::unique_ptr<WritableFile>> NewExclusiveFile(const std::filesystem::path& file,
                                                         unsigned mode) override;
  Result<std::unique_ptr<WritableFile>> NewTempFileBeside(const std::filesystem::path& file,
                                                          unsigned mode) override;
  Status RenameFile(const std::filesystem::path& from, const std::filesystem::path& to) override;
  Status RemoveFile(const std::filesystem::path& file) override;
  Status SyncDir(const std::filesystem::path& dir) override;
  Status CreateDir(const std::filesystem::path& dir, unsigned mode) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::filesystem::path& file) override;
  Result<std::uint64_t> FileSize(const std::filesystem::path& file) override;
  bool FileExists(const std::filesystem::path& file) override;

 private:
  class File;
  friend class File;
  // What an Append of `size` bytes may write now, and the error to return after it, if any.
  struct AppendPlan {
    std::size_t write = 0;
    std::optional<Error> error;
  };
  AppendPlan PlanAppend(const std::filesystem::path& file, std::size_t size);
  void Written(std::size_t bytes);
  std::optional<Error> SyncFault(const std::filesystem::path& file);
  // The EIO of a "crashed" process, or nullopt while the CrashAfter budget lasts (counting
  // this operation).
  std::optional<Error> CrashFault(const std::filesystem::path& file);
  Result<std::unique_ptr<WritableFile>> Wrap(Result<std::unique_ptr<WritableFile>> file);

  Env& base_;
  mutable std::mutex mu_;
  std::optional<std::uint64_t> space_left_;
  bool fail_syncs_ = false;
  bool short_writes_ = false;
  bool fail_renames_ = false;
  bool fail_creates_ = false;
  std::optional<std::uint64_t> operations_left_;
  std::uint64_t injected_ = 0;
  std::uint64_t written_ = 0;
};

}  // namespace medmesh::testing
