// BodyBudget: bounds the request-body memory a server holds, in total and per source address,
// and the number of large bodies being received at once. A session reserves a body's size
// before it reads a large body, and releases it when the handler has returned (or the
// connection is gone). Bodies up to `large_body_bytes` need no reservation: they are bounded
// by the connection limits. Internal to src/net.
// Thread safety: all members are thread-safe; a Reservation belongs to one session.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>

#include "net/http_server.h"
#include "net/metrics.h"

namespace medmesh::net::internal {

using BodyBudgetLimits = BodyBudgetOptions;  // net/http_server.h

class BodyBudget {
 public:
  // `metrics` may be null; not owned.
  BodyBudget(const std::string& server_name, BodyBudgetLimits limits, MetricsRegistry* metrics);
  BodyBudget(const BodyBudget&) = delete;
  BodyBudget& operator=(const BodyBudget&) = delete;

  // A granted reservation; releases itself when destroyed or reset. Empty (and free) for
  // small bodies. Must not outlive the budget.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation() { Release(); }
    void Release();

   private:
    friend class BodyBudget;
    Reservation(BodyBudget* budget, std::string source, std::size_t bytes)
        : budget_(budget), source_(std::move(source)), bytes_(bytes) {}
    BodyBudget* budget_ = nullptr;
    std::string source_;
    std::size_t bytes_ = 0;
  };

  // Why a reservation was refused: the node's budget is spent (answer 503), or this source's
  // share is (answer 429).
  enum class Refusal { kNode, kSource };

  // Reserves `bytes` for a body from `source`. `authenticated`: the source or connection has
  // authenticated, so the reserved part of the budget is open to it.
  std::variant<Reservation, Refusal> Reserve(const std::string& source, std::size_t bytes,
                                             bool authenticated);

  // Bytes currently reserved (for tests and diagnostics).
  std::size_t reserved_bytes() const;

 private:
  struct Use {
    std::size_t bytes = 0;
    std::size_t bodies = 0;
  };
  void Return(const std::string& source, std::size_t bytes);

  const BodyBudgetLimits limits_;
  mutable std::mutex mu_;
  Use total_;
  std::unordered_map<std::string, Use> sources_;
  Gauge* reserved_gauge_ = nullptr;
  Counter* refused_node_ = nullptr;
  Counter* refused_source_ = nullptr;
};

}  // namespace medmesh::net::internal
