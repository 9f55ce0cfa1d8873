#include "testing/faulty_sqlite_vfs.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "core/check.h"

namespace medmesh::testing {
namespace {

// Our file: SQLite allocates szOsFile bytes; the base VFS's file follows this header.
struct FaultyFile {
  sqlite3_file base;  // first: SQLite sees a sqlite3_file*
  FaultySqliteVfs* owner;
  const char* name;  // valid until xClose (SQLite's guarantee); null for temp files
  sqlite3_file* inner() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
// The base VFS's file starts right after this header, which keeps pointer alignment.
static_assert(sizeof(FaultyFile) % alignof(void*) == 0);

FaultyFile* Cast(sqlite3_file* f) { return reinterpret_cast<FaultyFile*>(f); }
sqlite3_vfs* Base(sqlite3_vfs* vfs);

int Close(sqlite3_file* f) {
  FaultyFile* file = Cast(f);
  const int rc = file->inner()->pMethods->xClose(file->inner());
  file->owner->OnClose();
  return rc;
}
int Read(sqlite3_file* f, void* out, int amount, sqlite3_int64 offset) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xRead(in, out, amount, offset);
}
int Write(sqlite3_file* f, const void* data, int amount, sqlite3_int64 offset) {
  FaultyFile* file = Cast(f);
  sqlite3_file* in = file->inner();
  auto allowed = static_cast<std::uint64_t>(amount);
  const int rc = file->owner->Decide(FaultySqliteVfs::Op::kWrite, file->name,
                                     static_cast<std::uint64_t>(amount), &allowed);
  if (rc == SQLITE_OK) return in->pMethods->xWrite(in, data, amount, offset);
  if (allowed > 0) {  // the part that still fitted reaches the file, as on a real full disk
    (void)in->pMethods->xWrite(in, data, static_cast<int>(allowed), offset);
  }
  return rc;
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  FaultyFile* file = Cast(f);
  std::uint64_t allowed = 0;
  const int rc = file->owner->Decide(FaultySqliteVfs::Op::kTruncate, file->name, 0, &allowed);
  if (rc != SQLITE_OK) return rc;
  return file->inner()->pMethods->xTruncate(file->inner(), size);
}
int Sync(sqlite3_file* f, int flags) {
  FaultyFile* file = Cast(f);
  std::uint64_t allowed = 0;
  const int rc = file->owner->Decide(FaultySqliteVfs::Op::kSync, file->name, 0, &allowed);
  if (rc != SQLITE_OK) return rc;
  return file->inner()->pMethods->xSync(file->inner(), flags);
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xFileSize(in, size);
}
int Lock(sqlite3_file* f, int level) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xLock(in, level);
}
int Unlock(sqlite3_file* f, int level) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xUnlock(in, level);
}
int CheckReservedLock(sqlite3_file* f, int* out) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xCheckReservedLock(in, out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xFileControl(in, op, arg);
}
int SectorSize(sqlite3_file* f) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xSectorSize(in);
}
int DeviceCharacteristics(sqlite3_file* f) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xDeviceCharacteristics(in);
}
int ShmMap(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xShmMap(in, page, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xShmLock(in, offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) {
  sqlite3_file* in = Cast(f)->inner();
  in->pMethods->xShmBarrier(in);
}
int ShmUnmap(sqlite3_file* f, int delete_flag) {
  sqlite3_file* in = Cast(f)->inner();
  return in->pMethods->xShmUnmap(in, delete_flag);
}
// Version 2 methods (WAL needs the shared-memory calls); memory-mapped I/O (version 3) is left
// out, so every write goes through xWrite.
constexpr sqlite3_io_methods kMethods = {2,
                                         Close,
                                         Read,
                                         Write,
                                         Truncate,
                                         Sync,
                                         FileSize,
                                         Lock,
                                         Unlock,
                                         CheckReservedLock,
                                         FileControl,
                                         SectorSize,
                                         DeviceCharacteristics,
                                         ShmMap,
                                         ShmLock,
                                         ShmBarrier,
                                         ShmUnmap,
                                         nullptr,
                                         nullptr};

struct VfsData {
  FaultySqliteVfs* owner;
  sqlite3_vfs* base;
};

sqlite3_vfs* Base(sqlite3_vfs* vfs) { return static_cast<VfsData*>(vfs->pAppData)->base; }

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* data = static_cast<VfsData*>(vfs->pAppData);
  FaultyFile* file = Cast(f);
  std::memset(file, 0, sizeof(FaultyFile));
  const int rc = data->base->xOpen(data->base, name, file->inner(), flags, out_flags);
  if (rc != SQLITE_OK) {
    // SQLite calls xClose only when pMethods is set; the base cleaned up after itself.
    file->base.pMethods = nullptr;
    return rc;
  }
  file->owner = data->owner;
  file->name = name;
  file->base.pMethods = &kMethods;
  data->owner->OnOpen();
  return SQLITE_OK;
}
int Delete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return Base(vfs)->xDelete(Base(vfs), name, sync_dir);
}
int Access(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return Base(vfs)->xAccess(Base(vfs), name, flags, out);
}
int FullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  return Base(vfs)->xFullPathname(Base(vfs), name, size, out);
}
void* DlOpen(sqlite3_vfs* vfs, const char* name) { return Base(vfs)->xDlOpen(Base(vfs), name); }
void DlError(sqlite3_vfs* vfs, int size, char* out) { Base(vfs)->xDlError(Base(vfs), size, out); }
void (*DlSym(sqlite3_vfs* vfs, void* handle, const char* symbol))(void) {
  return Base(vfs)->xDlSym(Base(vfs), handle, symbol);
}
void DlClose(sqlite3_vfs* vfs, void* handle) { Base(vfs)->xDlClose(Base(vfs), handle); }
int Randomness(sqlite3_vfs* vfs, int size, char* out) {
  return Base(vfs)->xRandomness(Base(vfs), size, out);
}
int Sleep(sqlite3_vfs* vfs, int microseconds) { return Base(vfs)->xSleep(Base(vfs), microseconds); }
int CurrentTime(sqlite3_vfs* vfs, double* out) { return Base(vfs)->xCurrentTime(Base(vfs), out); }
int GetLastError(sqlite3_vfs* vfs, int size, char* out) {
  return Base(vfs)->xGetLastError(Base(vfs), size, out);
}
int CurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return Base(vfs)->xCurrentTimeInt64(Base(vfs), out);
}

bool Matches(const std::string& pattern, const char* file) {
  if (pattern.empty()) return true;
  return file != nullptr && std::strstr(file, pattern.c_str()) != nullptr;
}

}  // namespace

struct FaultySqliteVfs::Registration {
  VfsData data;
  sqlite3_vfs vfs;
};

FaultySqliteVfs::FaultySqliteVfs(std::string name)
    : name_(std::move(name)), registration_(std::make_unique<Registration>()) {
  sqlite3_vfs* base = sqlite3_vfs_find(nullptr);
  MEDMESH_CHECK(base != nullptr && base->iVersion >= 2, "no usable default SQLite VFS");
  MEDMESH_CHECK(sqlite3_vfs_find(name_.c_str()) == nullptr, "SQLite VFS name already taken");
  registration_->data = VfsData{this, base};
  sqlite3_vfs& vfs = registration_->vfs;
  std::memset(&vfs, 0, sizeof vfs);
  vfs.iVersion = 2;
  vfs.szOsFile = static_cast<int>(sizeof(FaultyFile)) + base->szOsFile;
  vfs.mxPathname = base->mxPathname;
  vfs.zName = name_.c_str();
  vfs.pAppData = &registration_->data;
  vfs.xOpen = Open;
  vfs.xDelete = Delete;
  vfs.xAccess = Access;
  vfs.xFullPathname = FullPathname;
  vfs.xDlOpen = DlOpen;
  vfs.xDlError = DlError;
  vfs.xDlSym = DlSym;
  vfs.xDlClose = DlClose;
  vfs.xRandomness = Randomness;
  vfs.xSleep = Sleep;
  vfs.xCurrentTime = CurrentTime;
  vfs.xGetLastError = GetLastError;
  vfs.xCurrentTimeInt64 = CurrentTimeInt64;
  MEDMESH_CHECK(sqlite3_vfs_register(&vfs, /*makeDflt=*/0) == SQLITE_OK,
                "cannot register the SQLite VFS");
}

FaultySqliteVfs::~FaultySqliteVfs() {
  Resume();
  {
    std::lock_guard lock(mu_);
    MEDMESH_CHECK(open_files_ == 0, "a database opened with the faulty VFS is still open");
  }
  sqlite3_vfs_unregister(&registration_->vfs);
}

void FaultySqliteVfs::Inject(Fault fault) {
  std::lock_guard lock(mu_);
  faults_.push_back(std::move(fault));
}

void FaultySqliteVfs::Clear() {
  std::lock_guard lock(mu_);
  faults_.clear();
}

std::uint64_t FaultySqliteVfs::injected() const {
  std::lock_guard lock(mu_);
  return injected_;
}

void FaultySqliteVfs::PauseSyncs(std::string file) {
  std::lock_guard lock(mu_);
  pause_file_ = std::move(file);
}

bool FaultySqliteVfs::WaitUntilPaused(std::size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return paused_ >= count; });
}

void FaultySqliteVfs::Resume() {
  {
    std::lock_guard lock(mu_);
    pause_file_.reset();
    ++pause_epoch_;
  }
  cv_.notify_all();
}

int FaultySqliteVfs::Decide(Op op, const char* file, std::uint64_t bytes, std::uint64_t* allowed) {
  std::unique_lock lock(mu_);
  if (op == Op::kSync && pause_file_ && Matches(*pause_file_, file)) {
    ++paused_;
    cv_.notify_all();
    const std::uint64_t epoch = pause_epoch_;
    cv_.wait(lock, [&] { return pause_epoch_ != epoch; });
    --paused_;
  }
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    Fault& fault = *it;
    if (fault.op != op || !Matches(fault.file, file)) continue;
    if (fault.pass_ops > 0) {
      --fault.pass_ops;
      continue;
    }
    if (op == Op::kWrite && bytes <= fault.pass_bytes) {
      fault.pass_bytes -= bytes;
      continue;
    }
    *allowed = op == Op::kWrite ? fault.pass_bytes : 0;
    fault.pass_bytes = 0;
    int rc = SQLITE_FULL;
    if (fault.failure == Failure::kIoError) {
      rc = op == Op::kWrite  ? SQLITE_IOERR_WRITE
           : op == Op::kSync ? SQLITE_IOERR_FSYNC
                             : SQLITE_IOERR_TRUNCATE;
    }
    ++injected_;
    if (fault.times && --*fault.times == 0) faults_.erase(it);
    return rc;
  }
  return SQLITE_OK;
}

void FaultySqliteVfs::OnOpen() {
  std::lock_guard lock(mu_);
  ++open_files_;
}

void FaultySqliteVfs::OnClose() {
  std::lock_guard lock(mu_);
  --open_files_;
}

}  // namespace medmesh::testing
