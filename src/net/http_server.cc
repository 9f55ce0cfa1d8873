#include "net/http_server.h"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <exception>
#include <future>
#include <mutex>
#include <thread>

#include "core/check.h"
#include "core/log.h"
#include "net/internal/body_budget.h"
#include "net/internal/connection_tracker.h"
#include "net/internal/dispatcher.h"
#include "net/internal/http_session.h"
#include "net/internal/peer_address.h"
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
        retry_timer(acceptor.get_executor()) {}

  SessionContext session_context() {
    return SessionContext{options, dispatcher, tracker, body_budget, tls ? &*tls : nullptr, life};
  }

  void Accept() {
    acceptor.async_accept(asio::make_strand(io),
                          [this](boost::system::error_code ec, Tcp::socket socket) {
                            OnAccept(ec, std::move(socket));
                          });
  }

  void OnAccept(boost::system::error_code ec, Tcp::socket socket) {
    // Stop() closes the acceptor on this strand; an accept that completed just before is
    // dropped here rather than registered after the drain began.
    if (!acceptor.is_open()) return;
    if (ec) {
      log::Warn("http_accept_failed", {{"server", options.name}, {"error", ec.message()}});
      retry_timer.expires_after(kAcceptRetryDelay);
      retry_timer.async_wait([this](boost::system::error_code wait_ec) {
        if (!wait_ec && acceptor.is_open()) Accept();
      });
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(Tcp::no_delay(true), ignored);
    boost::system::error_code peer_ec;
    const Tcp::endpoint peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) {  // the client already left
      Accept();
      return;
    }
    std::string source = NormalizedAddress(peer.address());
    std::shared_ptr<Connection> session =
        NewSession(std::move(socket), session_context(), source, peer.port());
    if (tracker.Add(session, source)) {
      session->Start();
    } else {
      // Debug only: under a connection flood a line per connection would flood the log too;
      // medmesh_http_connections_rejected_total counts them.
      log::Debug("http_connection_rejected", {{"server", options.name}});
    }
    Accept();
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
  rt.port = rt.acceptor.local_endpoint().port();
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
    rt.acceptor.close(ignored);
    rt.retry_timer.cancel();
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
