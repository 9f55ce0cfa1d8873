// ConnectionTracker: the server's list of open connections, its connection limits (in total,
// per source address, and the slots kept for authenticated sources), the choice of which
// connection to evict when full, the memory of sources that authenticated, and the
// drain/close broadcast that graceful shutdown uses. Internal to src/net.
// Thread safety: all members are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "net/metrics.h"

namespace medmesh::net::internal {

// One open connection, as the tracker sees it. Implementations post to their own strand, so
// the calls return at once and may come from any thread.
class Connection {
 public:
  // What the connection is doing, for the choice of whom to evict. Written by the session,
  // read by the tracker (relaxed atomics: a stale value costs at most a poor choice, and
  // Evict() checks again on the session's strand).
  enum class Phase : std::uint8_t {
    kAwaitingHead,  // waiting for (the rest of) a request head
    kIdle,          // kept alive between requests, nothing received yet
    kBusy,          // a request is being read, handled or answered
  };

  virtual ~Connection() = default;
  // Begins serving (called once, after the tracker accepted the connection).
  virtual void Start() = 0;
  // Closes at once if idle (no request in progress, nothing buffered); otherwise lets the
  // current request finish, answers it with "Connection: close" and closes.
  virtual void Drain() = 0;
  // Closes at once unless a request is in progress (its head fully read); then as Drain().
  // Used to make room: the tracker no longer counts the connection.
  virtual void Evict() = 0;
  // Closes the socket now; a request in progress is abandoned.
  virtual void Close() = 0;

  // Records a change of phase and when it happened (a repeated phase keeps its start, so
  // a connection that waits for its first head is as old as the connection).
  void SetPhase(Phase phase) {
    if (phase_.load(std::memory_order_relaxed) == phase) return;
    phase_since_ns_.store(NowNs(), std::memory_order_relaxed);
    phase_.store(phase, std::memory_order_relaxed);
  }
  Phase phase() const { return phase_.load(std::memory_order_relaxed); }
  std::int64_t phase_since_ns() const { return phase_since_ns_.load(std::memory_order_relaxed); }

 private:
  static std::int64_t NowNs() {
    return std::chrono::steady_clock::now().time_since_epoch().count();
  }
  // Only the session's strand writes these.
  std::atomic<Phase> phase_{Phase::kAwaitingHead};
  std::atomic<std::int64_t> phase_since_ns_{NowNs()};
};

struct ConnectionLimits {
  std::size_t max_connections = 1024;
  // Of max_connections, the slots only sources in the authenticated set may take.
  std::size_t reserved_connections = 0;
  std::size_t max_per_source = 1024;
  std::size_t max_per_authenticated_source = 1024;
  // How many authenticated source addresses are remembered (least recently marked dropped).
  std::size_t authenticated_sources_remembered = 4096;
  // Open connections at or above this count make under_pressure() true.
  std::size_t pressure_threshold = 512;
};

class ConnectionTracker {
 public:
  // `metrics` may be null; not owned.
  ConnectionTracker(const std::string& server_name, ConnectionLimits limits,
                    MetricsRegistry* metrics);
  ConnectionTracker(const ConnectionTracker&) = delete;
  ConnectionTracker& operator=(const ConnectionTracker&) = delete;

  // Registers a new connection from `source` (its normalised IP address). When a limit is
  // reached it first tries to make room by evicting, oldest first, a connection kept alive
  // between requests, then one still waiting for a request head: for the per-source limit,
  // one of that source's; for the total, one of an unauthenticated connection (an
  // authenticated newcomer may also evict an authenticated connection that waits). Returns
  // false (counted as rejected) when no room can be made or the server is draining; the
  // caller then drops the connection. Evicted connections get Evict() and stop counting at
  // once, so the count may briefly exceed the cap while they close.
  bool Add(const std::shared_ptr<Connection>& connection, const std::string& source);
  // Unregisters; called from the connection's destructor. Unknown pointers are ignored.
  void Remove(const Connection* connection);

  // Records that `connection` proved who its peer is: the connection counts as
  // authenticated, and its source joins the authenticated set (remembered for later
  // connections, up to limits.authenticated_sources_remembered addresses).
  void MarkAuthenticated(const Connection* connection);
  // True if `source` is in the authenticated set.
  bool IsAuthenticatedSource(const std::string& source) const;
  // True while the open connections reach limits.pressure_threshold.
  bool under_pressure() const;

  // From now on Add() refuses; every registered connection gets Drain().
  void DrainAll();
  bool draining() const;
  // Every registered connection gets Close().
  void CloseAll();
  // Blocks until no connection is registered (true) or `deadline` passes (false).
  bool WaitUntilEmpty(std::chrono::steady_clock::time_point deadline);
  // Registered connections (evicted ones included until they are gone).
  std::size_t size() const;

 private:
  struct Entry {
    std::weak_ptr<Connection> connection;
    std::string source;
    bool authenticated = false;
    bool evicted = false;
    std::uint64_t sequence = 0;  // order of registration, to break ties of phase_since_ns
  };
  struct Source {
    std::unordered_set<const Connection*> open;  // not evicted
  };

  template <typename Fn>
  void ForEach(Fn fn);
  // The best connection to evict among `candidates`, or null. Called under mu_.
  template <typename Range, typename Allowed>
  const Connection* PickVictim(const Range& candidates, Allowed allowed) const;
  // Marks `victim` evicted and stops counting it; returns it to Evict() outside the lock.
  std::shared_ptr<Connection> EvictLocked(const Connection* victim);
  void Remember(const std::string& source);
  void UpdateGaugeLocked();

  const ConnectionLimits limits_;
  mutable std::mutex mu_;
  std::condition_variable empty_cv_;
  std::atomic<bool> draining_{false};    // written under mu_, read without it (every response)
  std::atomic<std::size_t> counted_{0};  // registered and not evicted
  std::uint64_t next_sequence_ = 0;
  std::unordered_map<const Connection*, Entry> connections_;
  std::unordered_map<std::string, Source> sources_;
  // The authenticated set, most recently marked first.
  std::list<std::string> authenticated_order_;
  std::unordered_map<std::string, std::list<std::string>::iterator> authenticated_;
  Gauge* active_gauge_ = nullptr;
  Counter* rejected_ = nullptr;
  Counter* evicted_ = nullptr;
};

}  // namespace medmesh::net::internal
