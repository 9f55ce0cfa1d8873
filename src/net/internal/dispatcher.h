// Dispatcher: the per-request decisions of HttpServer that do not touch a socket — filters,
// routing, limits, calling the handler, the edge error policy, response headers, the access
// log and the request metrics. The session (internal/http_session.h) does the I/O and calls
// in here, so all of this can be tested without a network.
// Internal to src/net.
// Thread safety: const after construction; every member function may run concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "net/http_message.h"
#include "net/http_server.h"
#include "net/metrics.h"
#include "net/router.h"

namespace medmesh::net::internal {

// Metrics "route" labels for requests that matched no route.
inline constexpr std::string_view kUnmatchedRoute = "unmatched";
inline constexpr std::string_view kFilteredRoute = "filtered";

// Responses for protocol-level failures (JSON bodies as in error_mapping.h).
Response BadRequest(std::string_view message);      // 400 invalid_argument
Response PayloadTooLarge(std::size_t limit_bytes);  // 413 payload_too_large
Response HeadersTooLarge();                         // 431 headers_too_large
Response NotImplemented();                          // 501 not_implemented
// The body budget (internal/body_budget.h) cannot take a large body: 503 unavailable when
// the node's budget is spent, 429 resource_exhausted when the source's share is; both
// with "Retry-After".
Response BodyBudgetSpent(bool whole_node);

// Decides which access lines are written: at most `lines_per_second` per second of the
// clock's monotonic time (whole-second windows; 0: every line), except server errors (5xx
// other than 503, which is load shedding), which are always written.
// Thread safety: Admit() may run concurrently.
class AccessLogSampler {
 public:
  // `clock` must outlive the sampler.
  AccessLogSampler(std::uint32_t lines_per_second, const Clock& clock);

  struct Decision {
    bool write = false;
    // Lines left out in windows that have ended since the last summary: the caller writes
    // one summary line with this count (then the sampler forgets them).
    std::uint64_t suppressed_before = 0;
  };
  Decision Admit(int status);

 private:
  const std::uint32_t lines_per_second_;
  const Clock& clock_;
  std::mutex mu_;
  std::int64_t window_ = -1;  // whole seconds of monotonic time
  std::uint32_t written_ = 0;
  std::uint64_t suppressed_ = 0;
};

struct AccessLogOptions {
  bool enabled = true;
  std::uint32_t lines_per_second = 0;  // 0: no limit
  const Clock* clock = nullptr;        // null: the system clock
};

class Dispatcher {
 public:
  // `metrics` may be null (no metrics); not owned. `log.clock` must outlive the dispatcher.
  Dispatcher(std::string server_name, Router router, std::vector<Filter> filters,
             MetricsRegistry* metrics, AccessLogOptions log = {});

  struct HeadOutcome {
    // Set: answer with this now; the body (if any) is not read.
    std::optional<Response> response;
    // With `response`: close the connection afterwards even if the request could be
    // followed by another (set for unparsable targets and unknown methods: such a client
    // is broken or probing, and its next bytes are not worth reading).
    bool close_connection = false;
    // Otherwise: the route whose handler gets the request once the body is read (at most
    // route->options.body_limit_bytes). Points into the router, valid for its lifetime.
    const Route* route = nullptr;
    // The metrics/log label of the request ("/api/x/{id}", "unmatched", "filtered").
    std::string route_label = std::string(kUnmatchedRoute);
  };

  // Called once the request head is read. `request` must carry the headers and peer; this
  // fills method, path, query, route and path_params (path points into `target`).
  // `content_length` is the declared body length, nullopt for chunked or none.
  HeadOutcome OnHead(std::string_view method_token, std::string_view target,
                     std::optional<std::uint64_t> content_length, Request& request) const;

  // Calls the route's handler: an Error becomes ErrorResponse(), an exception or an invalid
  // status (outside 200..599) a generic 500, and both are logged.
  Response Invoke(const Route& route, const Request& request) const;
  // The same for a route added with AddAsync: calls its handler with `respond`; an exception
  // from the handler is logged and answered with a generic 500 through `respond`.
  void InvokeAsync(const Route& route, const Request& request, const Responder& respond) const;
  // What a deferred answer becomes: an Error is mapped by ErrorResponse().
  static Response Deferred(Result<Response> result);

  // Makes `response` safe to send: drops the headers the server owns and any name or value
  // that could split the response, clears the body of 204/304, and adds
  // "X-Content-Type-Options: nosniff" and, unless the handler set one,
  // "Cache-Control: no-store" (responses carry medical data; opt in to caching explicitly).
  static void Sanitize(Response& response);

  // Writes the access log line (if enabled and admitted by the sampler; a suppressed line is
  // counted) and updates the request metrics. The session calls it
  // before writing the response, so that a client that has read its response finds it counted.
  // `method` is the raw token (untrusted; the metrics label collapses unknown methods to "other").
  // The raw path is never logged: it may carry patient ids; `route_label` is the matched pattern.
  void Record(std::string_view method, std::string_view route_label, int status,
              std::chrono::steady_clock::duration duration, std::string_view peer) const;

  const std::string& server_name() const { return server_name_; }

 private:
  std::optional<Response> RunFilters(const Request& request) const;

  std::string server_name_;
  Router router_;
  std::vector<Filter> filters_;
  bool access_log_;
  SystemClock system_clock_;
  std::unique_ptr<AccessLogSampler> sampler_;  // mutable state behind a const interface
  CounterFamily* requests_ = nullptr;
  Counter* suppressed_ = nullptr;
  HistogramFamily* durations_ = nullptr;
};

}  // namespace medmesh::net::internal
