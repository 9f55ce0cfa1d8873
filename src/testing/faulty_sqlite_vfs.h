// FaultySqliteVfs: a SQLite VFS over the default one whose xWrite, xSync and xTruncate fail
// (or wait) when a test says so, so the stores' callers can be tested against a full disk or a
// failing fsync. SQLite databases cannot use the Env seam (core/env.h): SQLite does its own
// I/O through its VFS layer, so the faults are injected there (ADR 0011).
//
// A test creates one, then opens the databases it wants faulty with its name()
// (store::SqliteOpenOptions::vfs, or the `sqlite_vfs` option of the services); databases opened
// without it are untouched. Faults match files by a substring of their path ("forward.db"
// matches the database and its "-wal" file).
//
//   FaultySqliteVfs vfs("faulty-1");
//   auto queue = store::ForwardQueue::Open(path, clock, random, {.sqlite_vfs = vfs.name()});
//   vfs.Inject({.op = FaultySqliteVfs::Op::kWrite, .failure = FaultySqliteVfs::Failure::kFull});
//
// Test-only. Thread-safe. The VFS is registered (not as the default) for the object's lifetime;
// every database opened with it must be closed before it is destroyed (checked).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace medmesh::testing {

class FaultySqliteVfs {
 public:
  enum class Op { kWrite, kSync, kTruncate };
  enum class Failure {
    kFull,     // SQLITE_FULL: the disk is full
    kIoError,  // SQLITE_IOERR_WRITE / _FSYNC / _TRUNCATE
  };
  struct Fault {
    Op op = Op::kWrite;
    Failure failure = Failure::kIoError;
    std::string file{};            // substring of the file's path; empty: every file
    std::uint64_t pass_ops = 0;    // matching operations that succeed before the first failure
    std::uint64_t pass_bytes = 0;  // kWrite: bytes that still fit (a write crossing the limit
                                   // writes what fits, then fails)
    std::optional<std::uint64_t> times{};  // failures before the fault heals; nullopt: until Clear
  };

  // Registers a VFS called `name` over the default VFS. The name must be unique in the process.
  explicit FaultySqliteVfs(std::string name);
  ~FaultySqliteVfs();
  FaultySqliteVfs(const FaultySqliteVfs&) = delete;
  FaultySqliteVfs& operator=(const FaultySqliteVfs&) = delete;

  const std::string& name() const { return name_; }

  void Inject(Fault fault);
  // Removes every fault (syncs paused now stay paused until Resume).
  void Clear();
  // Operations failed on purpose so far.
  std::uint64_t injected() const;
  // Every xSync of a file whose path contains `file` waits from now on until Resume().
  void PauseSyncs(std::string file);
  // Waits until `count` syncs are waiting; false if `timeout` passed first.
  bool WaitUntilPaused(std::size_t count, std::chrono::milliseconds timeout);
  // Lets the waiting syncs go on, and stops pausing.
  void Resume();

  // Used by the VFS's C callbacks (not for tests): the SQLite result code for an operation on
  // `file`, 0 (SQLITE_OK) to let it through. For kWrite, `*allowed` is set to how many of
  // `bytes` to write before returning the error.
  int Decide(Op op, const char* file, std::uint64_t bytes, std::uint64_t* allowed);
  void OnOpen();
  void OnClose();

 private:
  std::string name_;
  struct Registration;
  std::unique_ptr<Registration> registration_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Fault> faults_;
  std::uint64_t injected_ = 0;
  std::optional<std::string> pause_file_;
  std::size_t paused_ = 0;
  std::uint64_t pause_epoch_ = 0;
  std::size_t open_files_ = 0;
};

}  // namespace medmesh::testing
