#include "net/internal/dispatcher.h"

#include <algorithm>
#include <array>
#include <exception>
#include <string>
#include <utility>

#include "core/log.h"
#include "net/error_mapping.h"
#include "net/internal/request_target.h"

namespace medmesh::net::internal {
namespace {

// Headers that describe the framing or the connection: only the server may set them.
constexpr std::array<std::string_view, 9> kServerOwnedHeaders = {
    "content-length", "transfer-encoding", "connection",       "keep-alive", "upgrade", "te",
    "trailer",        "content-type",      "proxy-connection",
};

// RFC 9110 token characters.
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsSafeHeader(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!IsTokenChar(c)) return false;
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool IsServerOwned(std::string_view name) {
  return std::ranges::any_of(kServerOwnedHeaders, [name](std::string_view owned) {
    return EqualsIgnoreCase(name, owned);
  });
}

// When a refused large body may be sent again: long enough for uploads in progress to end.
constexpr std::chrono::seconds kBodyBudgetRetryAfter{5};

// A 500 whose cause was already logged with more context than ErrorResponse() would have.
Response GenericInternalError() {
  return Response::Json(R"({"error":"internal","message":"internal error"})", 500);
}

}  // namespace

Response BadRequest(std::string_view message) {
  return JsonErrorResponse(400, "invalid_argument", message);
}

Response PayloadTooLarge(std::size_t limit_bytes) {
  return JsonErrorResponse(413, "payload_too_large",
                           "request body exceeds " + std::to_string(limit_bytes) + " bytes");
}

Response HeadersTooLarge() {
  return JsonErrorResponse(431, "headers_too_large", "request head too large");
}

Response NotImplemented() {
  // Built by hand: JsonErrorResponse() would log every scanner's odd method as a server error.
  return Response::Json(R"({"error":"not_implemented","message":"method not implemented"})", 501);
}

AccessLogSampler::AccessLogSampler(std::uint32_t lines_per_second, const Clock& clock)
    : lines_per_second_(lines_per_second), clock_(clock) {}

AccessLogSampler::Decision AccessLogSampler::Admit(int status) {
  const bool server_error = status >= 500 && status != 503;
  if (lines_per_second_ == 0) return {true, 0};
  const std::int64_t window =
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Monotonic().time_since_epoch())
          .count();
  std::lock_guard lock(mu_);
  Decision decision;
  if (window != window_) {
    window_ = window;
    written_ = 0;
    decision.suppressed_before = std::exchange(suppressed_, 0);
  }
  if (server_error || written_ < lines_per_second_) {
    ++written_;
    decision.write = true;
  } else {
    ++suppressed_;
  }
  return decision;
}

Response BodyBudgetSpent(bool whole_node) {
  // Built by hand: under a flood JsonErrorResponse() would log every 503 as a server error.
  Response response =
      whole_node
          ? Response::Json(R"({"error":"unavailable","message":"service unavailable"})", 503)
          : Response::Json(
                R"({"error":"resource_exhausted","message":"too many large requests from this address in progress; retry later"})",
                429);
  response.headers.emplace_back("Retry-After", std::to_string(kBodyBudgetRetryAfter.count()));
  return response;
}

Dispatcher::Dispatcher(std::string server_name, Router router, std::vector<Filter> filters,
                       MetricsRegistry* metrics, AccessLogOptions log)
    : server_name_(std::move(server_name)),
      router_(std::move(router)),
      filters_(std::move(filters)),
      access_log_(log.enabled),
      sampler_(std::make_unique<AccessLogSampler>(
          log.lines_per_second, log.clock != nullptr ? *log.clock : system_clock_)) {
  if (metrics != nullptr) {
    suppressed_ =
        &metrics
             ->AddCounter("medmesh_http_access_log_suppressed_total",
                          "Access log lines left out by the per-second limit.", {"server"})
             .WithLabels({server_name_});
    requests_ = &metrics->AddCounter("medmesh_http_requests_total",
                                     "HTTP requests answered, by route and status.",
                                     {"server", "method", "route", "status"});
    durations_ = &metrics->AddHistogram(
        "medmesh_http_request_duration_seconds",
        "Time from a request's head being read to its response being written.",
        {"server", "method", "route"});
  }
}

Dispatcher::HeadOutcome Dispatcher::OnHead(std::string_view method_token, std::string_view target,
                                           std::optional<std::uint64_t> content_length,
                                           Request& request) const {
  HeadOutcome out;
  const std::optional<Method> method = ParseMethod(method_token);
  if (!method) {
    out.response = NotImplemented();
    out.close_connection = true;
    return out;
  }
  request.method = *method;

  auto parsed = ParseRequestTarget(target);
  if (!parsed) {
    out.response = BadRequest(parsed.error().message());
    out.close_connection = true;
    return out;
  }
  request.path = parsed->path;
  request.query = std::move(parsed->query);

  if (std::optional<Response> blocked = RunFilters(request)) {
    out.response = std::move(blocked);
    out.close_connection = true;
    out.route_label = std::string(kFilteredRoute);
    return out;
  }

  RouteMatch match = router_.Find(*method, parsed->segments);
  switch (match.kind) {
    case RouteMatch::Kind::kNotFound:
      out.response = JsonErrorResponse(404, "not_found", "no such path");
      return out;
    case RouteMatch::Kind::kMethodNotAllowed:
      out.route_label = std::string(match.pattern);
      out.response = JsonErrorResponse(405, "method_not_allowed", "method not allowed here");
      out.response->headers.emplace_back("Allow", std::move(match.allow));
      return out;
    case RouteMatch::Kind::kFound: break;
  }
  const Route& route = *match.route;
  out.route_label = route.pattern;
  request.route = route.pattern;
  request.path_params = std::move(match.params);
  if (content_length && *content_length > route.options.body_limit_bytes) {
    out.response = PayloadTooLarge(route.options.body_limit_bytes);
    return out;
  }
  out.route = &route;
  return out;
}

std::optional<Response> Dispatcher::RunFilters(const Request& request) const {
  try {
    for (const Filter& filter : filters_) {
      if (std::optional<Response> response = filter(request)) return response;
    }
  } catch (const std::exception& e) {
    log::Error("http_filter_exception", {{"server", server_name_}, {"what", e.what()}});
    return GenericInternalError();
  } catch (...) {
    log::Error("http_filter_exception", {{"server", server_name_}, {"what", "unknown"}});
    return GenericInternalError();
  }
  return std::nullopt;
}

Response Dispatcher::Invoke(const Route& route, const Request& request) const {
  try {
    Result<Response> result = route.handler(request);
    if (!result) return ErrorResponse(result.error());
    return std::move(result).value();
  } catch (const std::exception& e) {
    log::Error("http_handler_exception",
               {{"server", server_name_}, {"route", route.pattern}, {"what", e.what()}});
  } catch (...) {
    log::Error("http_handler_exception",
               {{"server", server_name_}, {"route", route.pattern}, {"what", "unknown"}});
  }
  return GenericInternalError();
}

void Dispatcher::InvokeAsync(const Route& route, const Request& request,
                             const Responder& respond) const {
  try {
    route.async_handler(request, respond);
    return;
  } catch (const std::exception& e) {
    log::Error("http_handler_exception",
               {{"server", server_name_}, {"route", route.pattern}, {"what", e.what()}});
  } catch (...) {
    log::Error("http_handler_exception",
               {{"server", server_name_}, {"route", route.pattern}, {"what", "unknown"}});
  }
  respond(GenericInternalError());
}

Response Dispatcher::Deferred(Result<Response> result) {
  if (!result) return ErrorResponse(result.error());
  return std::move(result).value();
}

void Dispatcher::Sanitize(Response& response) {
  if (response.status < 200 || response.status > 599) {
    log::Error("http_invalid_status", {{"status", response.status}});
    response = GenericInternalError();
  }
  std::erase_if(response.headers, [](const auto& header) {
    const auto& [name, value] = header;
    if (IsServerOwned(name)) return true;
    if (!IsSafeHeader(name, value)) {
      // The name may itself be the unsafe part; the logger escapes control characters.
      log::Warn("http_header_dropped", {{"name", name}});
      return true;
    }
    return false;
  });
  if (response.status == 204 || response.status == 304) response.body.clear();
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (!response.Header("Cache-Control")) response.headers.emplace_back("Cache-Control", "no-store");
}

void Dispatcher::Record(std::string_view method, std::string_view route_label, int status,
                        std::chrono::steady_clock::duration duration, std::string_view peer) const {
  const double seconds = std::chrono::duration<double>(duration).count();
  if (access_log_) {
    const AccessLogSampler::Decision decision = sampler_->Admit(status);
    if (decision.suppressed_before > 0) {
      log::Info("http_access_suppressed",
                {{"server", server_name_}, {"lines", decision.suppressed_before}});
    }
    if (decision.write) {
      log::Info("http_access", {{"server", server_name_},
                                {"method", method},
                                {"route", route_label},
                                {"status", status},
                                {"duration_ms", seconds * 1000.0},
                                {"peer", peer}});
    } else if (suppressed_ != nullptr) {
      suppressed_->Increment();
    }
  }
  if (requests_ == nullptr) return;
  const std::string_view method_label = ParseMethod(method) ? method : "other";
  requests_->WithLabels({server_name_, method_label, route_label, std::to_string(status)})
      .Increment();
  durations_->WithLabels({server_name_, method_label, route_label}).Observe(seconds);
}

}  // namespace medmesh::net::internal
