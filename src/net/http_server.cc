#include "net/http_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cerrno>
#include <cstring>
#include <exception>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "core/check.h"
#include "core/log.h"
#include "net/internal/body_budget.h"
#include "net/internal/connection_tracker.h"
#include "net/internal/dispatcher.h"
#include "net/internal/http_session.h"
#include "net/internal/peer_address.h"
#include "net/internal/syn_drop_filter.h"
#include "net/internal/tls_context.h"

namespace medmesh::net {
namespace internal {
namespace {

namespace asio = boost::asio;
using Tcp = asio::ip::tcp;

// How long Stop() waits for connections to go away after closing them by force.
constexpr std::chrono::seconds kForcedCloseWait{2};
// Pause before accepting again after an accept error (e.g. out of file descriptors), so the
// loop does not spin.
constexpr std::chrono::milliseconds kAcceptRetryDelay{50};
// Connections taken from the backlog per wake-up before other work gets the thread.
constexpr int kMaxAcceptsPerWake = 64;
// Refused sources whose refusals of the current second are counted (for the kernel drop); when
// full, the counts start over (an attacker with more addresses than this is held by the
// accept-time refusal alone).
constexpr std::size_t kMaxRefusalCounts = 4096;

bool IsIpv4(const asio::ip::address& a) { return a.is_v4() || a.to_v6().is_v4_mapped(); }

// The first address of the IPv6 /64 that `a` is in.
asio::ip::address_v6 Slash64Of(const asio::ip::address_v6& a) {
  auto bytes = a.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return asio::ip::address_v6(bytes);
}

std::int64_t SteadySecond() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// An entry of the kernel drop: a source (its normalised text and address), or an IPv6 /64
// ("2001:db8:1:2::/64" and the range's first address).
struct KernelDropEntry {
  std::string key;
  asio::ip::address address;
  bool range = false;
};

// The answer to a connection refused at accept (http_server.h), written without a session.
constexpr std::string_view kRefusedBody = R"({"error":"forbidden","message":"blocked"})";
const std::string& RefusedResponse() {
  static const std::string response =
      "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: " +
      std::to_string(kRefusedBody.size()) +
      "\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\n"
      "Cache-Control: no-store\r\n\r\n" +
      std::string(kRefusedBody);
  return response;
}

// Refuses an accepted connection (its descriptor, not yet owned by anything) without a session
// and without ever waiting: a few system calls on the accepting thread, then closes it.
void RefuseAtAccept(int fd, bool answer) {
  if (!answer) {
    // A reset: no answer to read, no FIN exchange, no TIME_WAIT.
    const linger reset{1, 0};
    (void)::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  } else {
    // Swallow what the client already sent (usually its whole head), so that closing sends a
    // FIN after the answer rather than a reset that could destroy it before it is read.
    std::array<char, 4096> sink;
    (void)::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT);
    const std::string& response = RefusedResponse();
    (void)::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)::shutdown(fd, SHUT_WR);
  }
  (void)::close(fd);
}

}  // namespace

ConnectionLimits LimitsFrom(const ServerOptions& options) {
  ConnectionLimits limits;
  limits.max_connections = options.max_connections;
  limits.reserved_connections = options.reserved_connections;
  limits.max_per_source = options.max_connections_per_source;
  limits.max_per_authenticated_source = options.max_connections_per_authenticated_source;
  limits.authenticated_sources_remembered = options.authenticated_sources_remembered;
  limits.pressure_threshold = std::max<std::size_t>(1, options.max_connections / 2);
  return limits;
}

// Member order is load-bearing: sessions reference options, dispatcher, tls, tracker and
// body budget, and
// the last sessions are destroyed inside io_context's destructor, so those members are
// declared before `io` (and destroyed after it).
class ServerRuntime {
 public:
  ServerRuntime(ServerOptions options_in, Router router, std::vector<Filter> filters,
                std::optional<asio::ssl::context> tls_in)
      : options(std::move(options_in)),
        dispatcher(options.name, std::move(router), std::move(filters), options.metrics,
                   AccessLogOptions{options.access_log, options.access_log_lines_per_second,
                                    options.clock}),
        tls(std::move(tls_in)),
        tracker(options.name, LimitsFrom(options), options.metrics),
        body_budget(options.name, options.body_budget, options.metrics),
        acceptor(asio::make_strand(io)),
        retry_timer(acceptor.get_executor()),
        recheck_timer(acceptor.get_executor()) {
    if (options.metrics != nullptr) {
      refused = &options.metrics
                     ->AddCounter("medmesh_http_connections_refused_total",
                                  "Connections refused at accept by the connection filter "
                                  "(e.g. blocked sources), without a session.",
                                  {"server"})
                     .WithLabels({options.name});
      kernel_drop_sources = &options.metrics
                                 ->AddGauge("medmesh_http_kernel_drop_sources",
                                            "Sources whose connection attempts (SYNs) the kernel "
                                            "drops at the listening socket.",
                                            {"server"})
                                 .WithLabels({options.name});
      kernel_drop_escalations =
          &options.metrics
               ->AddCounter("medmesh_http_kernel_drop_escalations_total",
                            "Refused sources moved to the kernel drop for exceeding "
                            "kernel_drop_after_per_second.",
                            {"server"})
               .WithLabels({options.name});
      kernel_drop_ranges = &options.metrics
                                ->AddGauge("medmesh_http_kernel_drop_ranges",
                                           "Of the kernel drop's entries, the IPv6 /64 ranges "
                                           "(every address of the range is dropped).",
                                           {"server"})
                                .WithLabels({options.name});
      listener_drops = &options.metrics
                            ->AddCounter("medmesh_http_listener_dropped_segments_total",
                                         "Segments the kernel dropped at the listening socket: "
                                         "the kernel drop's SYNs and attempts beyond a full "
                                         "accept queue (read every kernel_drop_recheck while "
                                         "the drop is in use).",
                                         {"server"})
                            .WithLabels({options.name});
    }
  }

  SessionContext session_context() {
    return SessionContext{options, dispatcher, tracker, body_budget, tls ? &*tls : nullptr, life};
  }

  // Accepting: wait until the listening socket is readable, then take what the backlog holds
  // (at most kMaxAcceptsPerWake) with accept4 directly, so that a connection refused by the
  // connection filter costs a few system calls and nothing of Asio (no strand, no reactor
  // registration, no handler) - under a flood of blocked sources this is most connections.
  void Accept() {
    acceptor.async_wait(Tcp::acceptor::wait_read,
                        [this](boost::system::error_code ec) { OnReadable(ec); });
  }

  void RetryAcceptLater(const std::string& error) {
    log::Warn("http_accept_failed", {{"server", options.name}, {"error", error}});
    retry_timer.expires_after(kAcceptRetryDelay);
    retry_timer.async_wait([this](boost::system::error_code wait_ec) {
      if (!wait_ec && acceptor.is_open()) Accept();
    });
  }

  void OnReadable(boost::system::error_code ec) {
    // Stop() closes the acceptor on this strand; a wake-up that completed just before is
    // dropped here rather than registering connections after the drain began.
    if (!acceptor.is_open()) return;
    if (ec) {
      RetryAcceptLater(ec.message());
      return;
    }
    for (int i = 0; i < kMaxAcceptsPerWake; ++i) {
      sockaddr_storage address{};
      socklen_t length = sizeof address;
      const int fd = ::accept4(acceptor.native_handle(), reinterpret_cast<sockaddr*>(&address),
                               &length, SOCK_CLOEXEC);
      if (fd < 0) {
        const int error = errno;
        if (error == EAGAIN || error == EWOULDBLOCK) break;
        // The connection died in the backlog, or a network error pending on it (accept(2)).
        if (error == EINTR || error == ECONNABORTED || error == EPROTO || error == ENETDOWN ||
            error == ENOPROTOOPT || error == EHOSTDOWN || error == ENONET ||
            error == EHOSTUNREACH || error == EOPNOTSUPP || error == ENETUNREACH) {
          continue;
        }
        RetryAcceptLater(std::system_category().message(error));  // e.g. out of descriptors
        return;
      }
      Tcp::endpoint peer;
      if (length > peer.capacity()) {
        ::close(fd);
        continue;
      }
      std::memcpy(peer.data(), &address, length);
      peer.resize(length);
      OnAccepted(fd, peer);
    }
    Accept();
  }

  // Whether a refused connection may still be answered this second (refusal_answers_per_second);
  // on the acceptor's strand only.
  bool TakeRefusalAnswer() {
    const std::int64_t second = SteadySecond();
    if (second != refusal_second) {
      refusal_second = second;
      refusal_answers = 0;
    }
    if (refusal_answers >= options.refusal_answers_per_second) return false;
    ++refusal_answers;
    return true;
  }

  // --- Kernel drop (http_server.h); all on the acceptor's strand. ---

  // Counts a refusal of `source`; true once it has more than kernel_drop_after_per_second in
  // the current second.
  bool CountRefusal(const std::string& source) {
    if (options.kernel_drop_after_per_second == 0) return false;
    const std::int64_t second = SteadySecond();
    if (refusal_counts.size() >= kMaxRefusalCounts && !refusal_counts.contains(source)) {
      refusal_counts.clear();
    }
    auto& [at, count] = refusal_counts[source];
    if (at != second) {
      at = second;
      count = 0;
    }
    return ++count > options.kernel_drop_after_per_second;
  }

  // Adds `source` to the kernel drop if it is not there and there is room: its whole IPv6 /64
  // when the filter refuses that range (ConnectionFilter::refuses_range; the range replaces
  // the entries of its addresses), else its address.
  void EscalateToKernel(const std::string& source, const asio::ip::address& address) {
    KernelDropEntry entry{source, address, false};
    const bool v6 = !IsIpv4(address);
    if (v6 && options.connection_filter.refuses_range) {
      const asio::ip::address_v6 network = Slash64Of(address.to_v6());
      std::string range = network.to_string() + "/64";
      if (options.connection_filter.refuses_range(range)) {
        entry = KernelDropEntry{std::move(range), network, true};
      }
    }
    const auto covers = [&](const KernelDropEntry& d) {
      return d.key == entry.key ||
             (d.range && v6 && Slash64Of(address.to_v6()) == d.address.to_v6());
    };
    if (std::any_of(kernel_dropped.begin(), kernel_dropped.end(), covers)) {
      return;  // a connection that completed its handshake just before the drop
    }
    std::vector<KernelDropEntry> next;
    next.reserve(kernel_dropped.size() + 1);
    for (const KernelDropEntry& d : kernel_dropped) {
      if (entry.range && !d.range && !IsIpv4(d.address) &&
          Slash64Of(d.address.to_v6()) == entry.address.to_v6()) {
        continue;  // inside the new range
      }
      next.push_back(d);
    }
    next.push_back(std::move(entry));
    const KernelDropCounts counts = CountKernelDrop(next);
    if (next.size() > options.kernel_drop_max_sources ||
        SynDropProgramLength(counts.v4, counts.v6, counts.ranges) > kMaxSocketFilterInstructions) {
      return;  // no room: the accept-time refusal goes on for this source
    }
    std::swap(kernel_dropped, next);
    if (!InstallKernelDrop()) {
      std::swap(kernel_dropped, next);
      return;
    }
    kernel_drop_escalations_total.fetch_add(1, std::memory_order_relaxed);
    if (kernel_drop_escalations != nullptr) kernel_drop_escalations->Increment();
    ArmRecheck();
  }

  struct KernelDropCounts {
    std::size_t v4 = 0, v6 = 0, ranges = 0;
  };
  static KernelDropCounts CountKernelDrop(const std::vector<KernelDropEntry>& entries) {
    KernelDropCounts c;
    for (const KernelDropEntry& d : entries)
      (d.range ? c.ranges : IsIpv4(d.address) ? c.v4 : c.v6) += 1;
    return c;
  }

  // Attaches the program for kernel_dropped to the listening socket (or detaches it when
  // empty); false if the kernel refused it.
  bool InstallKernelDrop() {
    Status status = OkStatus();
    if (kernel_dropped.empty()) {
      status = DetachSocketFilter(acceptor.native_handle());
    } else {
      std::vector<asio::ip::address> addresses;
      std::vector<asio::ip::address_v6> ranges;
      for (const KernelDropEntry& d : kernel_dropped) {
        if (d.range) {
          ranges.push_back(d.address.to_v6());
        } else {
          addresses.push_back(d.address);
        }
      }
      status = AttachSocketFilter(acceptor.native_handle(), BuildSynDropProgram(addresses, ranges));
    }
    if (!status) {
      if (!kernel_drop_warned) {
        kernel_drop_warned = true;
        log::Warn("http_kernel_drop_unavailable",
                  {{"server", options.name}, {"error", status.error().ToString()}});
      }
      return false;
    }
    const std::size_t ranges = CountKernelDrop(kernel_dropped).ranges;
    kernel_dropped_count.store(kernel_dropped.size(), std::memory_order_relaxed);
    kernel_dropped_ranges.store(ranges, std::memory_order_relaxed);
    if (kernel_drop_sources != nullptr) {
      kernel_drop_sources->Set(static_cast<double>(kernel_dropped.size()));
    }
    if (kernel_drop_ranges != nullptr) kernel_drop_ranges->Set(static_cast<double>(ranges));
    return true;
  }

  void ArmRecheck() {
    if (recheck_armed) return;
    recheck_armed = true;
    recheck_timer.expires_after(options.kernel_drop_recheck);
    recheck_timer.async_wait([this](boost::system::error_code ec) {
      recheck_armed = false;
      if (!ec && acceptor.is_open()) RecheckKernelDrop();
    });
  }

  // Adds what the kernel dropped at the listening socket since the last reading to
  // listener_drops (the kernel counts them in the socket; a classic filter cannot count).
  void CountListenerDrops() {
    const Result<std::uint32_t> now = ListenerDropCount(acceptor.native_handle());
    if (!now) return;
    const std::uint32_t delta = *now - listener_drops_seen;  // modulo 2^32, as the kernel's
    listener_drops_seen = *now;
    listener_drops_total.fetch_add(delta, std::memory_order_relaxed);
    if (listener_drops != nullptr && delta > 0) listener_drops->Increment(delta);
  }

  // Lets the kernel pass the sources (and ranges) the filter no longer refuses.
  void RecheckKernelDrop() {
    const auto& still = options.connection_filter.still_refuses
                            ? options.connection_filter.still_refuses
                            : options.connection_filter.refuses;
    const std::size_t before = kernel_dropped.size();
    std::erase_if(kernel_dropped, [&](const KernelDropEntry& d) {
      return d.range ? !options.connection_filter.refuses_range(d.key) : !still(d.key);
    });
    if (kernel_dropped.size() != before && !InstallKernelDrop()) {
      // The old, longer program would go on dropping sources let in: drop nobody in the
      // kernel rather than them (the others fall back to the refusal at accept).
      kernel_dropped.clear();
      (void)InstallKernelDrop();
    }
    CountListenerDrops();  // after a detach too: its last drops
    if (!kernel_dropped.empty()) ArmRecheck();
  }

  void OnAccepted(int fd, const Tcp::endpoint& peer) {
    std::string source = NormalizedAddress(peer.address());
    if (options.connection_filter && options.connection_filter.refuses(source)) {
      if (refused != nullptr) refused->Increment();  // before the client can see the refusal
      if (CountRefusal(source)) {
        // Flooding: drop the source's next connections in the kernel, reset this one (in
        // that order: once the client sees the reset, its next SYN meets the filter).
        EscalateToKernel(source, peer.address());
        RefuseAtAccept(fd, false);
        return;
      }
      RefuseAtAccept(fd, !tls && TakeRefusalAnswer());
      return;
    }
    Tcp::socket socket(asio::make_strand(io));
    boost::system::error_code ec;
    if (socket.assign(peer.protocol(), fd, ec); ec) {
      ::close(fd);
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(Tcp::no_delay(true), ignored);
    std::shared_ptr<Connection> session =
        NewSession(std::move(socket), session_context(), source, peer.port());
    if (tracker.Add(session, source)) {
      session->Start();
    } else {
      // Debug only: under a connection flood a line per connection would flood the log too;
      // medmesh_http_connections_rejected_total counts them.
      log::Debug("http_connection_rejected", {{"server", options.name}});
    }
  }

  bool OnIoThread() const {
    return std::any_of(threads.begin(), threads.end(), [](const std::thread& t) {
      return t.get_id() == std::this_thread::get_id();
    });
  }

  void RunIo() {
    // An exception escaping a handler (bad_alloc, a Beast invariant) must not end the thread:
    // log it and keep serving.
    while (true) {
      try {
        io.run();
        return;
      } catch (const std::exception& e) {
        log::Error("http_io_exception", {{"server", options.name}, {"what", e.what()}});
      }
    }
  }

  const ServerOptions options;
  const Dispatcher dispatcher;
  std::optional<asio::ssl::context> tls;
  ConnectionTracker tracker;
  BodyBudget body_budget;
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  Tcp::acceptor acceptor;
  asio::steady_timer retry_timer;
  Counter* refused = nullptr;  // medmesh_http_connections_refused_total, if metrics
  // Kernel drop: its entries (in escalation order), their recheck timer, refusal counts per
  // source for the current second, the listener's drop count last read; the acceptor's strand
  // only, except the atomics (read by kernel_dropped_sources(), kernel_drop()).
  std::vector<KernelDropEntry> kernel_dropped;
  asio::steady_timer recheck_timer;
  bool recheck_armed = false;
  std::unordered_map<std::string, std::pair<std::int64_t, std::uint32_t>> refusal_counts;
  bool kernel_drop_warned = false;
  std::atomic<std::size_t> kernel_dropped_count{0};
  std::atomic<std::size_t> kernel_dropped_ranges{0};
  std::atomic<std::uint64_t> kernel_drop_escalations_total{0};
  Gauge* kernel_drop_sources = nullptr;        // medmesh_http_kernel_drop_sources
  Counter* kernel_drop_escalations = nullptr;  // medmesh_http_kernel_drop_escalations_total
  Gauge* kernel_drop_ranges = nullptr;         // medmesh_http_kernel_drop_ranges
  Counter* listener_drops = nullptr;           // medmesh_http_listener_dropped_segments_total
  std::uint32_t listener_drops_seen = 0;
  std::atomic<std::uint64_t> listener_drops_total{0};
  // Refusals answered in the current second (TakeRefusalAnswer); the acceptor's strand only.
  std::int64_t refusal_second = 0;
  std::uint32_t refusal_answers = 0;
  std::uint16_t port = 0;
  // Set once in Start(), read-only afterwards.
  std::vector<std::pair<Method, std::string>> route_list;
  std::vector<std::thread> threads;
  // Shared with the deferred answers still pending elsewhere (http_session.h).
  std::shared_ptr<ServerLife> life = std::make_shared<ServerLife>();
  std::mutex stop_mu;
  bool stopped = false;
};

}  // namespace internal

Result<std::unique_ptr<HttpServer>> HttpServer::Start(ServerOptions options, Router router,
                                                      std::vector<Filter> filters) {
  namespace asio = boost::asio;
  using Tcp = asio::ip::tcp;
  if (options.io_threads == 0) return InvalidArgument("io_threads must be at least 1");
  if (options.max_connections == 0) return InvalidArgument("max_connections must be at least 1");
  if (options.reserved_connections >= options.max_connections) {
    return InvalidArgument("reserved_connections must be below max_connections");
  }
  if (options.max_connections_per_source == 0 ||
      options.max_connections_per_authenticated_source == 0) {
    return InvalidArgument("per-source connection limits must be at least 1");
  }
  const BodyBudgetOptions& budget = options.body_budget;
  if (budget.reserved_bytes >= budget.total_bytes ||
      budget.reserved_large_bodies >= budget.max_large_bodies ||
      budget.max_large_bodies_per_source == 0) {
    return InvalidArgument(
        "body budget: reserved parts must be below the totals, and a source must be allowed "
        "one large body");
  }
  // A route whose limit exceeds what one source may reserve can never receive a body that
  // large (it gets 429): a configuration mistake that only that route suffers, so a warning.
  const std::size_t largest_body =
      std::min(budget.per_source_bytes, budget.total_bytes - budget.reserved_bytes);
  for (const Route* route : router.routes()) {
    if (route->options.body_limit_bytes > budget.large_body_bytes &&
        route->options.body_limit_bytes > largest_body) {
      log::Warn("http_body_limit_over_budget",
                {{"server", options.name},
                 {"route", route->pattern},
                 {"body_limit_bytes", static_cast<std::uint64_t>(route->options.body_limit_bytes)},
                 {"budget_bytes", static_cast<std::uint64_t>(largest_body)}});
    }
  }
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec) return InvalidArgument("not a numeric IP address: " + options.address);

  std::optional<asio::ssl::context> tls;
  if (options.tls) {
    MEDMESH_ASSIGN_OR_RETURN(asio::ssl::context context,
                             internal::NewServerTlsContext(*options.tls));
    tls.emplace(std::move(context));
  }

  std::vector<std::pair<Method, std::string>> route_list;
  for (const Route* route : router.routes()) route_list.emplace_back(route->method, route->pattern);
  auto runtime = std::make_unique<internal::ServerRuntime>(std::move(options), std::move(router),
                                                           std::move(filters), std::move(tls));
  internal::ServerRuntime& rt = *runtime;
  rt.route_list = std::move(route_list);
  const Tcp::endpoint endpoint(address, rt.options.port);
  const std::string where = rt.options.address + ":" + std::to_string(rt.options.port);
  if (rt.acceptor.open(endpoint.protocol(), ec); ec) {
    return Unavailable("cannot open a socket for " + where + ": " + ec.message());
  }
  // Lets a restarted server bind while old connections sit in TIME_WAIT; it does not let two
  // listeners share the port on Linux.
  if (rt.acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec) {
    return Unavailable("cannot set SO_REUSEADDR: " + ec.message());
  }
  if (rt.acceptor.bind(endpoint, ec); ec) {
    return Unavailable("cannot bind " + where + ": " + ec.message());
  }
  if (rt.acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return Unavailable("cannot listen on " + where + ": " + ec.message());
  }
  // Accept() takes connections with accept4 until the backlog is empty.
  if (rt.acceptor.non_blocking(true, ec); ec) {
    return Unavailable("cannot make the listening socket non-blocking: " + ec.message());
  }
  rt.port = rt.acceptor.local_endpoint().port();
  // What the kernel dropped at this socket is counted from here (0 on a kernel that cannot say).
  if (auto drops = internal::ListenerDropCount(rt.acceptor.native_handle())) {
    rt.listener_drops_seen = *drops;
  }
  asio::post(rt.acceptor.get_executor(), [&rt] { rt.Accept(); });

  rt.threads.reserve(rt.options.io_threads);
  for (std::size_t i = 0; i < rt.options.io_threads; ++i) {
    rt.threads.emplace_back([&rt] { rt.RunIo(); });
  }
  log::Info("http_listening", {{"server", rt.options.name},
                               {"address", rt.options.address},
                               {"port", static_cast<unsigned>(rt.port)},
                               {"tls", rt.tls.has_value()},
                               {"io_threads", static_cast<std::uint64_t>(rt.options.io_threads)}});
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(runtime)));
}

HttpServer::HttpServer(std::unique_ptr<internal::ServerRuntime> runtime)
    : runtime_(std::move(runtime)) {}

HttpServer::~HttpServer() { Stop(std::chrono::seconds(5)); }

std::uint16_t HttpServer::port() const { return runtime_->port; }

std::size_t HttpServer::active_connections() const { return runtime_->tracker.size(); }

std::size_t HttpServer::kernel_dropped_sources() const {
  return runtime_->kernel_dropped_count.load(std::memory_order_relaxed);
}

std::uint64_t HttpServer::kernel_dropped_segments() const {
  return runtime_->listener_drops_total.load(std::memory_order_relaxed);
}

KernelDropStats HttpServer::kernel_drop() const {
  return {.sources = runtime_->kernel_dropped_count.load(std::memory_order_relaxed),
          .ranges = runtime_->kernel_dropped_ranges.load(std::memory_order_relaxed),
          .escalations = runtime_->kernel_drop_escalations_total.load(std::memory_order_relaxed),
          .dropped_segments = runtime_->listener_drops_total.load(std::memory_order_relaxed)};
}

std::vector<std::pair<Method, std::string>> HttpServer::routes() const {
  return runtime_->route_list;
}

void HttpServer::Stop(std::chrono::milliseconds grace) {
  namespace asio = boost::asio;
  internal::ServerRuntime& rt = *runtime_;
  std::lock_guard stop_lock(rt.stop_mu);
  if (rt.stopped) return;
  rt.stopped = true;
  MEDMESH_CHECK(!rt.OnIoThread(), "HttpServer::Stop() called from a handler or filter");
  const auto deadline = std::chrono::steady_clock::now() + grace;
  log::Info("http_stopping",
            {{"server", rt.options.name}, {"open", static_cast<std::uint64_t>(rt.tracker.size())}});

  // 1. Stop accepting. Closing on the acceptor's strand, and waiting for it, orders the close
  //    after any accept handler already queued, so every accepted connection is registered
  //    (and drained below) or dropped.
  std::promise<void> closed;
  asio::post(rt.acceptor.get_executor(), [&rt, &closed] {
    boost::system::error_code ignored;
    rt.acceptor.close(ignored);  // the kernel drop goes with the listening socket
    rt.retry_timer.cancel();
    rt.recheck_timer.cancel();
    closed.set_value();
  });
  closed.get_future().wait();

  // 2. Close idle connections, let busy ones finish their request.
  rt.tracker.DrainAll();
  if (!rt.tracker.WaitUntilEmpty(deadline)) {
    log::Warn("http_stop_forced", {{"server", rt.options.name},
                                   {"open", static_cast<std::uint64_t>(rt.tracker.size())}});
    // 3. Out of time: close what is left. A handler still running keeps its thread until it
    //    returns; its session then finds the socket closed.
    rt.tracker.CloseAll();
    (void)rt.tracker.WaitUntilEmpty(std::chrono::steady_clock::now() + internal::kForcedCloseWait);
  }

  // 4. Stop the threads. Sessions that are somehow still alive are destroyed with the
  //    io_context, before the objects they reference (see ServerRuntime).
  rt.work.reset();
  rt.io.stop();
  for (std::thread& t : rt.threads) t.join();
  {
    // Deferred answers that arrive from now on are dropped (their sessions die with io).
    std::lock_guard life_lock(rt.life->mu);
    rt.life->alive = false;
  }
  log::Info("http_stopped", {{"server", rt.options.name}});
}

}  // namespace medmesh::net
