// MaintenanceThread: a service's periodic housekeeping (retention, flushing aggregated IDS
// events) on a thread the service owns. The task runs every `interval` (and at once on
// RunNow), never twice at the same time. A task that throws does not end the thread or the
// process: the exception is caught, logged and counted (failures()), and the next run happens
// as planned.
// Thread safety: RunNow, Stop, runs, failures and WaitForRuns may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace medmesh::node {

class MaintenanceThread {
 public:
  // Starts the thread; the first run is after `interval` (must be > 0). `name` names the task
  // in log lines.
  MaintenanceThread(std::string name, std::chrono::milliseconds interval,
                    std::function<void()> task);
  // Stop().
  ~MaintenanceThread();
  MaintenanceThread(const MaintenanceThread&) = delete;
  MaintenanceThread& operator=(const MaintenanceThread&) = delete;

  // Runs the task as soon as the thread is free (without waiting for the interval).
  void RunNow();
  // Waits for the run in progress, if any, and ends the thread. Idempotent.
  void Stop();

  // Runs finished so far (including failed ones), and runs that threw.
  std::uint64_t runs() const;
  std::uint64_t failures() const;
  // Waits until at least `n` runs have finished; false if `timeout` passed first (tests).
  bool WaitForRuns(std::uint64_t n, std::chrono::milliseconds timeout) const;

 private:
  void Loop();

  const std::string name_;
  const std::chrono::milliseconds interval_;
  const std::function<void()> task_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stop_ = false;           // guarded by mu_
  bool run_now_ = false;        // guarded by mu_
  std::uint64_t runs_ = 0;      // guarded by mu_
  std::uint64_t failures_ = 0;  // guarded by mu_
  std::thread thread_;          // last: started once the members above exist
};

}  // namespace medmesh::node
