// HttpServer: the HTTP/1.1 server of every MedMesh node (Boost.Beast underneath).
//
//   Router router;
//   router.Get("/api/patients/{id}", [&](const Request& r) -> Result<Response> {...});
//   AddHealthEndpoints(router, [&] { return store.Ready(); });
//   auto server = HttpServer::Start(options, std::move(router), {ids_filter});
//   if (!server) ...;  (*server)->port();  ...  (*server)->Stop(std::chrono::seconds(10));
//
// Per request, in order:
//   1. read the head (header limit 8 KiB by default; larger heads get 431);
//   2. parse the target (400 unless origin-form without dot segments or encoded NULs, see
//      internal/request_target.h; an unknown method gets 501);
//   3. run the filters: the first that returns a response wins, the body is never read and the
//      connection is closed after the answer (a filter refuses a client, not one request);
//   4. route: 404, or 405 with Allow;
//   5. enforce the route's body limit: 413 when Content-Length or a chunked body exceeds it;
//      then reserve a large body's size in the body budget (below), 503 or 429 if it has no
//      room; a request with "Expect: 100-continue" gets "100 Continue" once it passed this
//      point;
//   6. read the body and call the handler (an Error is mapped by ErrorResponse(), an
//      exception becomes a generic 500); a route added with Router::AddAsync answers later,
//      from any thread, through its Responder (router.h, "Deferred answers"): meanwhile the
//      connection waits without timeouts and the I/O thread serves others;
//   7. write the response, with "X-Content-Type-Options: nosniff" and, unless the handler
//      chose one, "Cache-Control: no-store" (HEAD is answered by the GET handler, without
//      the body);
//   8. log one access line ("http_access": method, route pattern, status, duration_ms, peer;
//      never the raw path, which may carry patient ids, nor bodies, queries or headers; at
//      most options.access_log_lines_per_second per second, server errors always, the rest
//      counted and summarised in one "http_access_suppressed" line with "lines") and update
//      the metrics.
//
// Before all of this, at accept (options.connection_filter): a connection whose source
// address the filter refuses gets no session at all. On plain HTTP, for the first
// options.refusal_answers_per_second refusals of each second, the server reads (without
// waiting) what the client already sent, writes a canned "403 Forbidden" with
// {"error":"forbidden","message":"blocked"} and "Connection: close" straight to the socket
// (best effort, never blocking) and closes it: a blocked person sees why. Beyond that rate (a
// flood), and always on HTTPS (answering would cost a TLS handshake), it resets the connection
// at once: no answer, no FIN exchange, no TIME_WAIT. Counted in
// medmesh_http_connections_refused_total; not logged, not seen by the observer. The head-time
// filters (step 3) still run for every request on the connections accepted.
//
// Kernel drop (escalation): a source refused more than options.kernel_drop_after_per_second
// times within one second is flooding; its connection that crossed the line is reset and the
// server has the kernel drop the source's SYNs from then on, before a handshake, a request
// socket or an accept (a classic BPF filter on the listening socket, rebuilt whenever the set
// changes; internal/syn_drop_filter.h). Its connects then go unanswered
// (the client's SYN retransmissions, 1 s, 3 s, ..., fail too). Every
// options.kernel_drop_recheck the server asks the filter's ConnectionFilter::still_refuses
// for each such source and lets the kernel pass those no longer refused (a decision revoked,
// expired or overridden by the allowlist): their next connect gets through, within that
// interval of the change. By exact address (IPv4, IPv6; an IPv4-mapped source as its IPv4
// address, which is what a dual-stack listener receives), or for an IPv6 source whose whole
// /64 the filter refuses (ConnectionFilter::refuses_range) by that /64, which then replaces the
// range's single addresses; at most options.kernel_drop_max_sources entries and what fits in
// one program (4,096 instructions: 2 per IPv4 address, 9 per IPv6 address, 5 per /64) - beyond
// that, and if the kernel refuses the filter (logged once as "http_kernel_drop_unavailable"),
// the accept-time refusal above goes on. The server never sees a dropped SYN, and a classic
// filter cannot count: what is counted is the kernel's own drop count of the listening socket
// (SO_MEMINFO), read every kernel_drop_recheck while the drop is in use - the filter's drops,
// and also connection attempts dropped because the accept queue was full.
//
// Connections are kept alive (HTTP/1.1 default) except after a 400, 431 or 501, or a
// response sent while the request's body was still unread (a filter's answer, 404, 405,
// 413). After any response sent with "Connection: close" the server shuts its sending side
// and discards what the client still sends for a short while (1 s, 1 MiB) before closing,
// so the client reads the error instead of a reset.
//
// Timeouts (tcp_stream::expires_after): the TLS handshake (handshake_timeout); the whole head
// of the first request, from the connection or the handshake (head_timeout); on a kept-alive
// connection the wait for the first byte of the next request (idle_timeout, or
// idle_timeout_under_pressure while half of max_connections are open), then the rest of that
// head (head_timeout); the body (read_timeout); each response (write_timeout). An expired
// timeout closes the connection without an answer (Beast's tcp_stream closes the socket when
// it fires). So a slow-header client holds a connection for head_timeout at most.
//
// Connection limits, per source IP address (Request::peer_address) and in total:
//   - a source may hold max_connections_per_source connections, or
//     max_connections_per_authenticated_source once it has authenticated;
//   - of max_connections, the last reserved_connections are only for authenticated sources;
//   - a source is authenticated when a handler called Request::MarkPeerAuthenticated() on
//     one of its requests (remembered for authenticated_sources_remembered addresses).
// When a limit is reached, the server makes room by evicting a waiting connection, oldest
// first: an idle keep-alive connection, else one still waiting for (the rest of) a head;
// never one with a request in progress. For the per-source limit only that source's
// connections are candidates; for the total only unauthenticated ones (an authenticated
// newcomer may also evict an authenticated idle one). With no candidate the new connection
// is accepted and closed at once (medmesh_http_connections_rejected_total), so the backlog
// never holds clients that wait for nothing. Evictions: medmesh_http_connections_evicted_total.
//
// Body budget (options.body_budget): a body larger than large_body_bytes (its
// Content-Length, or the route's limit when chunked) must reserve its size before it is
// read: from the node's total_bytes (the last reserved_bytes only for authenticated peers)
// and the source's per_source_bytes, and it counts against max_large_bodies (the last
// reserved_large_bodies for authenticated peers) and max_large_bodies_per_source. Without
// room it is refused unread, with "Retry-After: 5" and the connection closed: 503
// "unavailable" when the node's budget is spent, 429 "resource_exhausted" when the source's
// is. The reservation is released when the handler returns. Smaller bodies are bounded by
// the connection limits (max_connections x large_body_bytes).
//
// Metrics (if options.metrics is set), labelled with options.name as "server":
//   medmesh_http_requests_total{server,method,route,status}         counter
//   medmesh_http_request_duration_seconds{server,method,route}      histogram
//   medmesh_http_connections_active{server}                         gauge
//   medmesh_http_connections_rejected_total{server}                 counter
//   medmesh_http_connections_evicted_total{server}                  counter
//   medmesh_http_connections_refused_total{server}                  counter
//   medmesh_http_kernel_drop_sources{server}                        gauge
//   medmesh_http_kernel_drop_escalations_total{server}              counter
//   medmesh_http_kernel_drop_ranges{server}                          gauge (of the sources)
//   medmesh_http_listener_dropped_segments_total{server}            counter
//   medmesh_http_body_bytes_reserved{server}                        gauge
//   medmesh_http_body_refused_total{server,reason="node"|"source"}  counter
//   medmesh_http_access_log_suppressed_total{server}                counter
// "route" is the matched pattern, "unmatched" for 404s and requests refused before routing,
// "filtered" for responses from a filter: never the raw path, so cardinality stays bounded.
//
// Threads: Start() runs one io_context on `io_threads` threads owned by the server (an I/O
// adapter needs its own; the cloudlet's Forwarder is the other service thread outside apps/).
// Handlers and filters run on those threads; see the handler contract in router.h. Deferred
// answers arrive from other threads and are posted to their connection's strand; after Stop()
// they are dropped.
//
// WARNING: the server does not authenticate anyone, limit request rates or trust
// X-Forwarded-For; authentication lives in handlers, rate limits and blocks in filters.
// Per-source limits count TCP peer addresses: many clients behind one NAT share a limit,
// and an attacker with many addresses is held only by the totals, the eviction order and
// the timeouts. Authentication is remembered per address, so a stranger behind the same NAT
// as an authenticated device shares its reserved room.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "net/http_message.h"
#include "net/metrics.h"
#include "net/router.h"

namespace medmesh::net {
namespace internal {
class ServerRuntime;  // the io_context, acceptor, threads and sessions (http_server.cc)
}  // namespace internal

// A request filter, run before routing on the request head (body empty, route empty). Return
// a response to answer the request with it (e.g. 403 for a blocked address, 429 with
// Retry-After to throttle), nullopt to let it through. Filters run in order on I/O threads,
// concurrently with themselves, and must be fast and thread-safe. An exception from a filter
// is answered with a generic 500.
using Filter = std::function<std::optional<Response>(const Request&)>;

// What the server tells an observer (ServerOptions::observer), for intrusion detection: every
// response it sends (kResponse, with the status and the route label of the metrics), and every
// connection it closes because the client was too slow sending a head or a body (kTimeout,
// status 0). `peer` is Request::peer_address. Views valid during the call only.
struct ServerEvent {
  enum class Kind { kResponse, kTimeout };
  Kind kind = Kind::kResponse;
  std::string_view peer;
  std::string_view route;  // the route label: pattern, "unmatched" or "filtered"
  int status = 0;
  bool authenticated = false;  // the peer address has authenticated (see Connection limits)
};
// Runs on I/O threads, concurrently with itself, once per response: must be fast,
// thread-safe and must not throw.
using ServerObserver = std::function<void(const ServerEvent&)>;

// Decides at accept time, from the source address alone (Request::peer_address form), whether
// a new connection is refused before any session exists (see "Before all of this" and "Kernel
// drop"). Both functions run on the accepting thread, concurrently with requests: they must be
// very cheap (no lock on the common path), thread-safe and must not throw.
struct ConnectionFilter {
  ConnectionFilter() = default;
  // A filter whose refuses() also answers still_refuses() (fine when it has no side effect).
  template <typename F>
    requires std::is_invocable_r_v<bool, F&, std::string_view> ConnectionFilter(
        F refuses_in)  // NOLINT(google-explicit-constructor): a filter is a function
        : refuses(std::move(refuses_in)) {}
    ConnectionFilter(std::function<bool(std::string_view peer)> refuses_in,
                     std::function<bool(std::string_view peer)> still_refuses_in)
        : refuses(std::move(refuses_in)), still_refuses(std::move(still_refuses_in)) {}
    explicit operator bool() const { return static_cast<bool>(refuses); }

    // True to refuse a new connection from `peer`; asked once per accepted connection, so it may
    // count refusals.
    std::function<bool(std::string_view peer)> refuses;
    // The same answer without side effects, asked again for the sources in the kernel drop to
    // learn when they are let in again. Empty: refuses() is asked.
    std::function<bool(std::string_view peer)> still_refuses;
    // For an IPv6 source about to enter the kernel drop: true when every address of its /64
    // (`range`, "2001:db8:1:2::/64", RFC 5952 with "/64") is refused (e.g. a block decision on
    // the range and no exception inside it), so that the kernel drops the whole range; asked
    // again, like still_refuses, while the range is in the drop. Side-effect free. Empty:
    // sources are dropped by exact address.
    std::function<bool(std::string_view range)> refuses_range;
};

struct TlsFiles {
  std::string certificate_chain_file;  // PEM: leaf certificate first, then intermediates
  std::string private_key_file;        // PEM
};

// Bounds on request-body memory (see "Body budget" above). Every route's body_limit_bytes
// must fit in both per_source_bytes and total_bytes - reserved_bytes (checked by Start()).
struct BodyBudgetOptions {
  // Bodies larger than this (declared, or chunked on a route whose limit is larger) need a
  // reservation before they are read.
  std::size_t large_body_bytes = std::size_t{64} * 1024;
  // All reservations together, and the part of it only authenticated sources may use.
  std::size_t total_bytes = std::size_t{64} << 20;
  std::size_t reserved_bytes = std::size_t{16} << 20;
  std::size_t per_source_bytes = std::size_t{16} << 20;
  // Large bodies being received at once: in total, of which reserved for authenticated
  // sources, and per source.
  std::size_t max_large_bodies = 32;
  std::size_t reserved_large_bodies = 8;
  std::size_t max_large_bodies_per_source = 4;
};

struct ServerOptions {
  // Used in logs and as the "server" metrics label.
  std::string name = "http";
  // A numeric IPv4 or IPv6 address ("0.0.0.0", "::", "127.0.0.1"); no host names.
  std::string address = "127.0.0.1";
  // 0 picks a free port; HttpServer::port() reports it.
  std::uint16_t port = 0;
  std::size_t io_threads = 2;

  // Connection limits (see "Connection limits" above).
  std::size_t max_connections = 1024;
  // Of max_connections, the slots only authenticated sources may take.
  std::size_t reserved_connections = 128;
  std::size_t max_connections_per_source = 64;
  std::size_t max_connections_per_authenticated_source = 512;
  // How many authenticated source addresses the server remembers (least recent dropped).
  std::size_t authenticated_sources_remembered = 4096;

  std::uint32_t header_limit_bytes = 8 * 1024;
  std::chrono::milliseconds handshake_timeout{10'000};
  // From the connection (or the TLS handshake) to the whole first head, and from the first
  // byte of any later head to its end.
  std::chrono::milliseconds head_timeout{5'000};
  std::chrono::milliseconds read_timeout{30'000};  // one request body
  // Keep-alive wait for the first byte of the next request; while the open connections
  // reach half of max_connections, idle_timeout_under_pressure instead.
  std::chrono::milliseconds idle_timeout{15'000};
  std::chrono::milliseconds idle_timeout_under_pressure{1'000};
  std::chrono::milliseconds write_timeout{30'000};  // one response
  BodyBudgetOptions body_budget;

  // Set to serve HTTPS (TLS 1.2 or later) instead of plain HTTP.
  std::optional<TlsFiles> tls;
  // One "http_access" log line per request (at info level). Off for very high request rates
  // where the metrics are enough.
  bool access_log = true;
  // At most this many access lines per second (0: no limit); server errors (5xx except 503)
  // are always logged. The lines left out are counted and summarised (see "Access log").
  std::uint32_t access_log_lines_per_second = 100;
  // Time for the access-log rate; not owned. Null: the system clock.
  const Clock* clock = nullptr;
  // Not owned; must outlive the server. Null: no metrics.
  MetricsRegistry* metrics = nullptr;
  // Sees every response and slow-client timeout (ServerEvent); empty: none.
  ServerObserver observer;
  // Refuses connections at accept, before a session (e.g. IDS blocks); empty: none.
  ConnectionFilter connection_filter;
  // Connections refused at accept that still get the canned 403 per second (the rest are
  // reset); 0: reset them all.
  std::uint32_t refusal_answers_per_second = 100;
  // Kernel drop (see above): refusals of one source within one second beyond which its SYNs
  // are dropped in the kernel (0: never); at most this many sources at once; how often they
  // are asked about again.
  std::uint32_t kernel_drop_after_per_second = 20;
  std::size_t kernel_drop_max_sources = 512;
  std::chrono::milliseconds kernel_drop_recheck{50};
};

// The kernel drop now (see "Kernel drop"): entries, of which IPv6 /64 ranges, escalations since
// Start(), and the segments the kernel dropped at the listening socket as last read.
struct KernelDropStats {
  std::size_t sources = 0;
  std::size_t ranges = 0;
  std::uint64_t escalations = 0;
  std::uint64_t dropped_segments = 0;
};

class HttpServer {
 public:
  // Binds, listens and starts serving on options.io_threads threads. Errors:
  // kInvalidArgument for a bad address or zero io_threads/max_connections; kUnavailable if
  // the address cannot be bound (in use, no permission); kInvalidArgument if the TLS files
  // cannot be loaded or do not match.
  static Result<std::unique_ptr<HttpServer>> Start(ServerOptions options, Router router,
                                                   std::vector<Filter> filters = {});

  // Stops with a 5 s grace period if Stop() was not called.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (useful with port 0).
  std::uint16_t port() const;

  // Graceful shutdown: stops accepting, closes idle keep-alive connections, lets requests in
  // progress finish (their responses carry "Connection: close"), and after `grace` closes
  // whatever is left; then stops the I/O threads. Returns when all of them have exited.
  // Idempotent. Must not be called from a handler or filter (it would wait for itself), and
  // cannot interrupt a handler that never returns.
  void Stop(std::chrono::milliseconds grace);

  // Connections currently open (for tests and diagnostics).
  std::size_t active_connections() const;

  // Sources whose SYNs the kernel drops now (see "Kernel drop"; for tests and diagnostics).
  std::size_t kernel_dropped_sources() const;
  // Segments the kernel dropped at the listening socket since Start() as last read (see
  // "Kernel drop": read while the drop is in use).
  std::uint64_t kernel_dropped_segments() const;
  // The kernel drop's figures at once (the metrics' medmesh_http_kernel_drop_* and
  // medmesh_http_listener_dropped_segments_total), for the IDS alerts route (ids/ids_api.h).
  KernelDropStats kernel_drop() const;

  // The method and pattern of every route of the router it serves, in no particular order (for
  // docs and tests: tests/authz_matrix_test.cc checks each has a row in docs/authorization.md).
  std::vector<std::pair<Method, std::string>> routes() const;

 private:
  explicit HttpServer(std::unique_ptr<internal::ServerRuntime> runtime);
  std::unique_ptr<internal::ServerRuntime> runtime_;
};

}  // namespace medmesh::net
