#include "node/maintenance_thread.h"

#include <exception>
#include <utility>

#include "core/check.h"
#include "core/log.h"

namespace medmesh::node {

MaintenanceThread::MaintenanceThread(std::string name, std::chrono::milliseconds interval,
                                     std::function<void()> task)
    : name_(std::move(name)), interval_(interval), task_(std::move(task)) {
  MEDMESH_CHECK(interval_.count() > 0, "MaintenanceThread: the interval must be positive");
  MEDMESH_CHECK(task_ != nullptr, "MaintenanceThread: no task");
  thread_ = std::thread([this] { Loop(); });
}

MaintenanceThread::~MaintenanceThread() { Stop(); }

void MaintenanceThread::RunNow() {
  {
    std::lock_guard lock(mu_);
    run_now_ = true;
  }
  cv_.notify_all();
}

void MaintenanceThread::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::uint64_t MaintenanceThread::runs() const {
  std::lock_guard lock(mu_);
  return runs_;
}

std::uint64_t MaintenanceThread::failures() const {
  std::lock_guard lock(mu_);
  return failures_;
}

bool MaintenanceThread::WaitForRuns(std::uint64_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return runs_ >= n; });
}

void MaintenanceThread::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait_for(lock, interval_, [this] { return stop_ || run_now_; });
    if (stop_) return;
    run_now_ = false;
    lock.unlock();
    // The last-resort handler: housekeeping that fails must not take the service down; it is
    // retried at the next interval.
    bool failed = false;
    try {
      task_();
    } catch (const std::exception& e) {
      failed = true;
      log::Error("maintenance_task_failed", {{"task", name_}, {"error", e.what()}});
    } catch (...) {
      failed = true;
      log::Error("maintenance_task_failed", {{"task", name_}, {"error", "unknown exception"}});
    }
    lock.lock();
    ++runs_;
    if (failed) ++failures_;
    cv_.notify_all();
  }
}

}  // namespace medmesh::node
