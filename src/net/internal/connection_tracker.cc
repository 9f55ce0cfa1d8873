#include "net/internal/connection_tracker.h"

#include <limits>
#include <vector>

namespace medmesh::net::internal {

ConnectionTracker::ConnectionTracker(const std::string& server_name, ConnectionLimits limits,
                                     MetricsRegistry* metrics)
    : limits_(limits) {
  if (metrics != nullptr) {
    active_gauge_ =
        &metrics->AddGauge("medmesh_http_connections_active", "Open HTTP connections.", {"server"})
             .WithLabels({server_name});
    rejected_ = &metrics
                     ->AddCounter("medmesh_http_connections_rejected_total",
                                  "Connections closed on accept: a connection limit with no "
                                  "room to make, or shutdown.",
                                  {"server"})
                     .WithLabels({server_name});
    evicted_ =
        &metrics
             ->AddCounter("medmesh_http_connections_evicted_total",
                          "Waiting connections closed to make room for a new one.", {"server"})
             .WithLabels({server_name});
  }
}

template <typename Range, typename Allowed>
const Connection* ConnectionTracker::PickVictim(const Range& candidates, Allowed allowed) const {
  // Idle keep-alive connections go first, then connections still waiting for a head; the
  // oldest in its phase first. A connection with a request in progress is never chosen.
  const Connection* best = nullptr;
  int best_rank = std::numeric_limits<int>::max();
  std::int64_t best_since = 0;
  std::uint64_t best_sequence = 0;
  for (const Connection* candidate : candidates) {
    const auto it = connections_.find(candidate);
    if (it == connections_.end() || it->second.evicted || !allowed(it->second)) continue;
    const Connection::Phase phase = candidate->phase();
    if (phase == Connection::Phase::kBusy) continue;
    const int rank = phase == Connection::Phase::kIdle ? 0 : 1;
    const std::int64_t since = candidate->phase_since_ns();
    const std::uint64_t sequence = it->second.sequence;
    if (rank < best_rank ||
        (rank == best_rank &&
         (since < best_since || (since == best_since && sequence < best_sequence)))) {
      best = candidate;
      best_rank = rank;
      best_since = since;
      best_sequence = sequence;
    }
  }
  return best;
}

std::shared_ptr<Connection> ConnectionTracker::EvictLocked(const Connection* victim) {
  Entry& entry = connections_.at(victim);
  entry.evicted = true;
  sources_[entry.source].open.erase(victim);
  counted_.fetch_sub(1);
  return entry.connection.lock();
}

bool ConnectionTracker::Add(const std::shared_ptr<Connection>& connection,
                            const std::string& source) {
  std::vector<std::shared_ptr<Connection>> victims;
  bool added = false;
  {
    std::lock_guard lock(mu_);
    const bool authenticated = authenticated_.contains(source);
    Source& mine = sources_[source];
    const std::size_t per_source =
        authenticated ? limits_.max_per_authenticated_source : limits_.max_per_source;
    const std::size_t total = authenticated
                                  ? limits_.max_connections
                                  : limits_.max_connections - limits_.reserved_connections;
    bool room = !draining_;
    if (room && mine.open.size() >= per_source) {
      const Connection* victim = PickVictim(mine.open, [](const Entry&) { return true; });
      if (victim != nullptr) {
        victims.push_back(EvictLocked(victim));
      } else {
        room = false;
      }
    }
    if (room && counted_.load() >= total) {
      // Every connection is a candidate; only unauthenticated ones for a newcomer that is not.
      std::vector<const Connection*> all;
      all.reserve(connections_.size());
      for (const auto& [ptr, entry] : connections_) all.push_back(ptr);
      const Connection* victim = PickVictim(all, [](const Entry& e) { return !e.authenticated; });
      if (victim == nullptr && authenticated) {
        victim = PickVictim(all, [](const Entry&) { return true; });
      }
      if (victim != nullptr) {
        victims.push_back(EvictLocked(victim));
      } else {
        room = false;
      }
    }
    if (room) {
      connections_.emplace(connection.get(),
                           Entry{connection, source, authenticated, false, next_sequence_++});
      mine.open.insert(connection.get());
      counted_.fetch_add(1);
      added = true;
    } else if (mine.open.empty()) {
      sources_.erase(source);
    }
    UpdateGaugeLocked();
  }
  for (const auto& victim : victims) {
    if (victim) victim->Evict();
    if (evicted_ != nullptr) evicted_->Increment();
  }
  if (!added && rejected_ != nullptr) rejected_->Increment();
  return added;
}

void ConnectionTracker::Remove(const Connection* connection) {
  std::lock_guard lock(mu_);
  const auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  if (!it->second.evicted) {
    counted_.fetch_sub(1);
    const auto source = sources_.find(it->second.source);
    if (source != sources_.end()) {
      source->second.open.erase(connection);
      if (source->second.open.empty()) sources_.erase(source);
    }
  }
  connections_.erase(it);
  UpdateGaugeLocked();
  if (connections_.empty()) empty_cv_.notify_all();
}

void ConnectionTracker::MarkAuthenticated(const Connection* connection) {
  std::lock_guard lock(mu_);
  const auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  it->second.authenticated = true;
  Remember(it->second.source);
}

void ConnectionTracker::Remember(const std::string& source) {
  if (limits_.authenticated_sources_remembered == 0) return;
  if (const auto it = authenticated_.find(source); it != authenticated_.end()) {
    authenticated_order_.splice(authenticated_order_.begin(), authenticated_order_, it->second);
    return;
  }
  authenticated_order_.push_front(source);
  authenticated_.emplace(source, authenticated_order_.begin());
  if (authenticated_order_.size() > limits_.authenticated_sources_remembered) {
    authenticated_.erase(authenticated_order_.back());
    authenticated_order_.pop_back();
  }
}

bool ConnectionTracker::IsAuthenticatedSource(const std::string& source) const {
  std::lock_guard lock(mu_);
  return authenticated_.contains(source);
}

bool ConnectionTracker::under_pressure() const {
  return counted_.load() >= limits_.pressure_threshold;
}

void ConnectionTracker::UpdateGaugeLocked() {
  if (active_gauge_ != nullptr) active_gauge_->Set(static_cast<double>(connections_.size()));
}

template <typename Fn>
void ConnectionTracker::ForEach(Fn fn) {
  // Collect under the lock, call outside it: a connection's destructor takes the same lock.
  std::vector<std::shared_ptr<Connection>> live;
  {
    std::lock_guard lock(mu_);
    live.reserve(connections_.size());
    for (const auto& [ptr, entry] : connections_) {
      if (auto strong = entry.connection.lock()) live.push_back(std::move(strong));
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
