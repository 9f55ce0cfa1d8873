// PasswordPool: the threads that run Argon2id password work (login verification) off the HTTP
// I/O threads, with a bounded queue (issue 8, "Performance"; docs/accounts.md "Login flood").
//
// Each Argon2id verification costs ~50 ms of a core and 64 MiB. Run on the server's I/O
// threads, a flood of logins held every I/O thread and every other request waited behind it.
// The login route (cloud/account_api.cc) now hands the hashing part of a login to this pool and
// answers later (net::Router::AddAsync); when `queue` jobs are already waiting, TrySubmit
// refuses at once and the route answers 429 with Retry-After without hashing anything.
//
//   PasswordPool pool({.threads = 0, .queue = 0});   // hardware threads, 4 jobs per thread
//   if (!pool.TrySubmit([..] { ...hash...; respond(...); })) { ...429 now... }
//
// Jobs run in submission order. The destructor stops taking jobs, drops the queued ones
// (destroying them unrun: a job must clean up in its destructor, as a net::Responder does by
// answering 503) and joins the threads after their running jobs return.
// Thread safety: TrySubmit may be called from any thread, including from a job.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace medmesh::accounts {

struct PasswordPoolOptions {
  // Worker threads; 0: the hardware threads (std::thread::hardware_concurrency, at least 1).
  std::size_t threads = 0;
  // Jobs that may wait for a thread (running ones not counted); 0: 4 per thread. At ~50 ms a
  // job, a full queue of 4 per thread waits ~200 ms.
  std::size_t queue = 0;
};

class PasswordPool {
 public:
  explicit PasswordPool(PasswordPoolOptions options = {});
  ~PasswordPool();
  PasswordPool(const PasswordPool&) = delete;
  PasswordPool& operator=(const PasswordPool&) = delete;

  // Queues `job` (never empty) and returns true, or returns false at once, without running or
  // keeping it, when the queue is full or the pool is shutting down.
  bool TrySubmit(std::function<void()> job);

  std::size_t threads() const { return threads_.size(); }
  std::size_t queue_capacity() const { return capacity_; }
  // Jobs waiting for a thread now (for tests and metrics; changes at once).
  std::size_t queued() const;
  // Whether TrySubmit would refuse now (a hint: it may change at once). Lets a caller refuse
  // before doing the work that prepares a job.
  bool full() const;

 private:
  void Run();

  std::size_t capacity_ = 0;
  mutable std::mutex mu_;
  std::condition_variable work_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace medmesh::accounts
