#include "net/internal/connection_tracker.h"

#include <vector>

namespace medmesh::net::internal {

ConnectionTracker::ConnectionTracker(std::string server_name, std::size_t max_connections,
                                     MetricsRegistry* metrics)
    : max_connections_(max_connections) {
  if (metrics != nullptr) {
    active_gauge_ =
        &metrics->AddGauge("medmesh_http_connections_active", "Open HTTP connections.", {"server"})
             .WithLabels({server_name});
    rejected_ =
        &metrics
             ->AddCounter("medmesh_http_connections_rejected_total",
                          "Connections closed on accept: connection cap or shutdown.", {"server"})
             .WithLabels({server_name});
  }
}

bool ConnectionTracker::Add(const std::shared_ptr<Connection>& connection) {
  {
    std::lock_guard lock(mu_);
    if (!draining_ && connections_.size() < max_connections_) {
      connections_.emplace(connection.get(), connection);
      if (active_gauge_ != nullptr) active_gauge_->Set(static_cast<double>(connections_.size()));
      return true;
    }
  }
  if (rejected_ != nullptr) rejected_->Increment();
  return false;
}

void ConnectionTracker::Remove(const Connection* connection) {
  std::lock_guard lock(mu_);
  if (connections_.erase(connection) == 0) return;
  if (active_gauge_ != nullptr) active_gauge_->Set(static_cast<double>(connections_.size()));
  if (connections_.empty()) empty_cv_.notify_all();
}

template <typename Fn>
void ConnectionTracker::ForEach(Fn fn) {
  // Collect under the lock, call outside it: a connection's destructor takes the same lock.
  std::vector<std::shared_ptr<Connection>> live;
  {
    std::lock_guard lock(mu_);
    live.reserve(connections_.size());
    for (const auto& [ptr, weak] : connections_) {
      if (auto strong = weak.lock()) live.push_back(std::move(strong));
    }
  }
  for (const auto& connection : live) fn(*connection);
}

void ConnectionTracker::DrainAll() {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
  }
  ForEach([](Connection& c) { c.Drain(); });
}

bool ConnectionTracker::draining() const { return draining_.load(); }

void ConnectionTracker::CloseAll() {
  ForEach([](Connection& c) { c.Close(); });
}

bool ConnectionTracker::WaitUntilEmpty(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return empty_cv_.wait_until(lock, deadline, [this] { return connections_.empty(); });
}

std::size_t ConnectionTracker::size() const {
  std::lock_guard lock(mu_);
  return connections_.size();
}

}  // namespace medmesh::net::internal
