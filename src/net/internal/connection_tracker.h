// ConnectionTracker: the server's list of open connections, its connection cap, and the
// drain/close broadcast that graceful shutdown uses. Internal to src/net.
// Thread safety: all members are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "net/metrics.h"

namespace medmesh::net::internal {

// One open connection, as the tracker sees it. Implementations post to their own strand, so
// both calls return at once and may come from any thread.
class Connection {
 public:
  virtual ~Connection() = default;
  // Begins serving (called once, after the tracker accepted the connection).
  virtual void Start() = 0;
  // Closes at once if idle (no request in progress, nothing buffered); otherwise lets the
  // current request finish, answers it with "Connection: close" and closes.
  virtual void Drain() = 0;
  // Closes the socket now; a request in progress is abandoned.
  virtual void Close() = 0;
};

class ConnectionTracker {
 public:
  // `metrics` may be null; not owned.
  ConnectionTracker(std::string server_name, std::size_t max_connections, MetricsRegistry* metrics);
  ConnectionTracker(const ConnectionTracker&) = delete;
  ConnectionTracker& operator=(const ConnectionTracker&) = delete;

  // Registers a new connection; false (and counted as rejected) when the cap is reached or
  // the server is draining, in which case the caller drops the connection.
  bool Add(const std::shared_ptr<Connection>& connection);
  // Unregisters; called from the connection's destructor. Unknown pointers are ignored.
  void Remove(const Connection* connection);

  // From now on Add() refuses; every registered connection gets Drain().
  void DrainAll();
  bool draining() const;
  // Every registered connection gets Close().
  void CloseAll();
  // Blocks until no connection is registered (true) or `deadline` passes (false).
  bool WaitUntilEmpty(std::chrono::steady_clock::time_point deadline);
  std::size_t size() const;

 private:
  template <typename Fn>
  void ForEach(Fn fn);

  const std::size_t max_connections_;
  mutable std::mutex mu_;
  std::condition_variable empty_cv_;
  std::atomic<bool> draining_{false};  // written under mu_, read without it (every response)
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> connections_;
  Gauge* active_gauge_ = nullptr;
  Counter* rejected_ = nullptr;
};

}  // namespace medmesh::net::internal
