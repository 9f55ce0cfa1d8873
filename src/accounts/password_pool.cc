#include "accounts/password_pool.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "core/check.h"
#include "core/log.h"

namespace medmesh::accounts {

PasswordPool::PasswordPool(PasswordPoolOptions options) {
  const std::size_t threads =
      options.threads != 0
          ? options.threads
          : std::max<std::size_t>(1, static_cast<std::size_t>(std::thread::hardware_concurrency()));
  capacity_ = options.queue != 0 ? options.queue : 4 * threads;
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

PasswordPool::~PasswordPool() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    dropped.swap(queue_);
  }
  work_.notify_all();
  // Destroyed outside the lock: a job's destructor may answer (and take other locks).
  dropped.clear();
  for (std::thread& t : threads_) t.join();
}

bool PasswordPool::TrySubmit(std::function<void()> job) {
  MEDMESH_CHECK(job != nullptr, "empty password pool job");
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= capacity_) return false;
    queue_.push_back(std::move(job));
  }
  work_.notify_one();
  return true;
}

std::size_t PasswordPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

bool PasswordPool::full() const {
  std::lock_guard lock(mu_);
  return stopping_ || queue_.size() >= capacity_;
}

void PasswordPool::Run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      // A job must not throw; one that does must not end the thread.
      log::Error("password_pool_job_exception", {{"what", e.what()}});
    } catch (...) {
      log::Error("password_pool_job_exception", {{"what", "unknown"}});
    }
  }
}

}  // namespace medmesh::accounts
