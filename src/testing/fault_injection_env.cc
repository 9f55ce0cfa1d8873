#include "testing/fault_injection_env.h"

#include <cerrno>
#include <utility>

namespace medmesh::testing {

// A WritableFile of the base Env, with its Append and Sync going through the faults.
class FaultInjectionEnv::File final : public WritableFile {
 public:
  File(FaultInjectionEnv& env, std::unique_ptr<WritableFile> base)
      : env_(env), base_(std::move(base)) {}

  Status Append(ByteView data) override {
    if (auto crashed = env_.CrashFault(base_->path())) return *crashed;
    const AppendPlan plan = env_.PlanAppend(base_->path(), data.size());
    if (plan.write > 0) {
      MEDMESH_RETURN_IF_ERROR(base_->Append(data.first(plan.write)));
      env_.Written(plan.write);
    }
    if (plan.error) return *plan.error;
    return OkStatus();
  }

  Status Sync() override {
    if (auto crashed = env_.CrashFault(base_->path())) return *crashed;
    if (auto fault = env_.SyncFault(base_->path())) return *fault;
    return base_->Sync();
  }

  Status Close() override { return base_->Close(); }
  const std::filesystem::path& path() const override { return base_->path(); }

 private:
  FaultInjectionEnv& env_;
  std::unique_ptr<WritableFile> base_;
};

void FaultInjectionEnv::SetSpaceLeft(std::optional<std::uint64_t> bytes) {
  std::lock_guard lock(mu_);
  space_left_ = bytes;
}
void FaultInjectionEnv::FailSyncs(bool fail) {
  std::lock_guard lock(mu_);
  fail_syncs_ = fail;
}
void FaultInjectionEnv::ShortWrites(bool fail) {
  std::lock_guard lock(mu_);
  short_writes_ = fail;
}
void FaultInjectionEnv::FailRenames(bool fail) {
  std::lock_guard lock(mu_);
  fail_renames_ = fail;
}
void FaultInjectionEnv::FailCreates(bool fail) {
  std::lock_guard lock(mu_);
  fail_creates_ = fail;
}
void FaultInjectionEnv::CrashAfter(std::optional<std::uint64_t> operations) {
  std::lock_guard lock(mu_);
  operations_left_ = operations;
}
void FaultInjectionEnv::Clear() {
  std::lock_guard lock(mu_);
  space_left_.reset();
  operations_left_.reset();
  fail_syncs_ = short_writes_ = fail_renames_ = fail_creates_ = false;
}

std::uint64_t FaultInjectionEnv::injected_faults() const {
  std::lock_guard lock(mu_);
  return injected_;
}
std::uint64_t FaultInjectionEnv::bytes_written() const {
  std::lock_guard lock(mu_);
  return written_;
}

FaultInjectionEnv::AppendPlan FaultInjectionEnv::PlanAppend(const std::filesystem::path& file,
                                                            std::size_t size) {
  std::lock_guard lock(mu_);
  AppendPlan plan{size, std::nullopt};
  if (short_writes_ && size > 0) {
    plan.write = size / 2;
    plan.error = ErrnoError("cannot write (injected short write)", file, EIO);
  }
  if (space_left_ && plan.write > *space_left_) {
    plan.write = static_cast<std::size_t>(*space_left_);
    plan.error = ErrnoError("cannot write (injected)", file, ENOSPC);
  }
  if (space_left_) *space_left_ -= plan.write;
  if (plan.error) ++injected_;
  return plan;
}

void FaultInjectionEnv::Written(std::size_t bytes) {
  std::lock_guard lock(mu_);
  written_ += bytes;
}

std::optional<Error> FaultInjectionEnv::SyncFault(const std::filesystem::path& file) {
  std::lock_guard lock(mu_);
  if (!fail_syncs_) return std::nullopt;
  ++injected_;
  return ErrnoError("cannot sync (injected)", file, EIO);
}

std::optional<Error> FaultInjectionEnv::CrashFault(const std::filesystem::path& file) {
  std::lock_guard lock(mu_);
  if (!operations_left_) return std::nullopt;
  if (*operations_left_ > 0) {
    --*operations_left_;
    return std::nullopt;
  }
  ++injected_;
  return ErrnoError("cannot change (injected crash)", file, EIO);
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::Wrap(
    Result<std::unique_ptr<WritableFile>> file) {
  if (!file) return file.error();
  return std::unique_ptr<WritableFile>(new File(*this, std::move(*file)));
}

Result<Bytes> FaultInjectionEnv::ReadSmallFile(const std::filesystem::path& file,
                                               std::size_t max_bytes) {
  return base_.ReadSmallFile(file, max_bytes);
}

Result<SecretBytes> FaultInjectionEnv::ReadPrivateFile(const std::filesystem::path& file,
                                                       std::size_t max_bytes) {
  return base_.ReadPrivateFile(file, max_bytes);
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewExclusiveFile(
    const std::filesystem::path& file, unsigned mode) {
  if (auto crashed = CrashFault(file)) return *crashed;
  {
    std::lock_guard lock(mu_);
    if (fail_creates_) {
      ++injected_;
      return ErrnoError("cannot create (injected)", file, ENOSPC);
    }
  }
  return Wrap(base_.NewExclusiveFile(file, mode));
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewTempFileBeside(
    const std::filesystem::path& file, unsigned mode) {
  if (auto crashed = CrashFault(file)) return *crashed;
  {
    std::lock_guard lock(mu_);
    if (fail_creates_) {
      ++injected_;
      return ErrnoError("cannot create a temporary file beside (injected)", file, ENOSPC);
    }
  }
  return Wrap(base_.NewTempFileBeside(file, mode));
}

Status FaultInjectionEnv::RenameFile(const std::filesystem::path& from,
                                     const std::filesystem::path& to) {
  if (auto crashed = CrashFault(to)) return *crashed;
  {
    std::lock_guard lock(mu_);
    if (fail_renames_) {
      ++injected_;
      return ErrnoError("cannot rename to (injected)", to, EIO);
    }
  }
  return base_.RenameFile(from, to);
}

Status FaultInjectionEnv::RemoveFile(const std::filesystem::path& file) {
  if (auto crashed = CrashFault(file)) return *crashed;
  return base_.RemoveFile(file);
}

Status FaultInjectionEnv::SyncDir(const std::filesystem::path& dir) {
  if (auto crashed = CrashFault(dir)) return *crashed;
  if (auto fault = SyncFault(dir)) return *fault;
  return base_.SyncDir(dir);
}

Status FaultInjectionEnv::CreateDir(const std::filesystem::path& dir, unsigned mode) {
  {
    std::lock_guard lock(mu_);
    if (fail_creates_ && !base_.FileExists(dir)) {
      ++injected_;
      return ErrnoError("cannot create the folder (injected)", dir, ENOSPC);
    }
  }
  return base_.CreateDir(dir, mode);
}

Result<std::unique_ptr<FileLock>> FaultInjectionEnv::LockFile(const std::filesystem::path& file) {
  return base_.LockFile(file);
}

Result<std::uint64_t> FaultInjectionEnv::FileSize(const std::filesystem::path& file) {
  return base_.FileSize(file);
}

bool FaultInjectionEnv::FileExists(const std::filesystem::path& file) {
  return base_.FileExists(file);
}

}  // namespace medmesh::testing
