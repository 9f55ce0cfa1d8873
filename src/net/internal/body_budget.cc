#include "net/internal/body_budget.h"

#include <utility>

namespace medmesh::net::internal {

BodyBudget::BodyBudget(const std::string& server_name, BodyBudgetLimits limits,
                       MetricsRegistry* metrics)
    : limits_(limits) {
  if (metrics == nullptr) return;
  reserved_gauge_ =
      &metrics
           ->AddGauge("medmesh_http_body_bytes_reserved",
                      "Request-body bytes reserved by large bodies being received.", {"server"})
           .WithLabels({server_name});
  CounterFamily& refused = metrics->AddCounter(
      "medmesh_http_body_refused_total",
      "Large request bodies refused before reading: the node's or the source's body budget "
      "was spent.",
      {"server", "reason"});
  refused_node_ = &refused.WithLabels({server_name, "node"});
  refused_source_ = &refused.WithLabels({server_name, "source"});
}

BodyBudget::Reservation::Reservation(Reservation&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)),
      source_(std::move(other.source_)),
      bytes_(std::exchange(other.bytes_, 0)) {}

BodyBudget::Reservation& BodyBudget::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    Release();
    budget_ = std::exchange(other.budget_, nullptr);
    source_ = std::move(other.source_);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void BodyBudget::Reservation::Release() {
  if (budget_ == nullptr) return;
  std::exchange(budget_, nullptr)->Return(source_, bytes_);
  bytes_ = 0;
}

std::variant<BodyBudget::Reservation, BodyBudget::Refusal> BodyBudget::Reserve(
    const std::string& source, std::size_t bytes, bool authenticated) {
  if (bytes <= limits_.large_body_bytes) return Reservation();
  {
    std::lock_guard lock(mu_);
    const std::size_t node_bytes =
        authenticated ? limits_.total_bytes : limits_.total_bytes - limits_.reserved_bytes;
    const std::size_t node_bodies = authenticated
                                        ? limits_.max_large_bodies
                                        : limits_.max_large_bodies - limits_.reserved_large_bodies;
    const Use& mine = sources_[source];
    const bool source_ok = mine.bytes + bytes <= limits_.per_source_bytes &&
                           mine.bodies < limits_.max_large_bodies_per_source;
    const bool node_ok = total_.bytes + bytes <= node_bytes && total_.bodies < node_bodies;
    if (source_ok && node_ok) {
      Use& use = sources_[source];
      use.bytes += bytes;
      use.bodies += 1;
      total_.bytes += bytes;
      total_.bodies += 1;
      if (reserved_gauge_ != nullptr) reserved_gauge_->Set(static_cast<double>(total_.bytes));
      return Reservation(this, source, bytes);
    }
    if (mine.bodies == 0) sources_.erase(source);
    // The source's own share first: a source over its share is told to slow down even when
    // the node is also full.
    if (!source_ok) {
      if (refused_source_ != nullptr) refused_source_->Increment();
      return Refusal::kSource;
    }
  }
  if (refused_node_ != nullptr) refused_node_->Increment();
  return Refusal::kNode;
}

void BodyBudget::Return(const std::string& source, std::size_t bytes) {
  std::lock_guard lock(mu_);
  total_.bytes -= bytes;
  total_.bodies -= 1;
  if (const auto it = sources_.find(source); it != sources_.end()) {
    it->second.bytes -= bytes;
    it->second.bodies -= 1;
    if (it->second.bodies == 0) sources_.erase(it);
  }
  if (reserved_gauge_ != nullptr) reserved_gauge_->Set(static_cast<double>(total_.bytes));
}

std::size_t BodyBudget::reserved_bytes() const {
  std::lock_guard lock(mu_);
  return total_.bytes;
}

}  // namespace medmesh::net::internal
