// One accepted HTTP connection (plain or TLS): reads requests, hands them to the Dispatcher,
// writes responses, keeps the connection alive, enforces the timeouts, and closes cleanly.
// The state machine is described in http_session.cc. Internal to src/net.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "net/http_server.h"
#include "net/internal/body_budget.h"
#include "net/internal/connection_tracker.h"
#include "net/internal/dispatcher.h"

namespace medmesh::net::internal {

// Whether the server still runs. A deferred answer (router.h, Responder) arrives from another
// thread: it checks `alive` under `mu` before it posts to its session, and HttpServer::Stop()
// clears `alive` under `mu` once the I/O threads have ended, so no answer touches a session or
// an executor of a stopped server.
struct ServerLife {
  std::mutex mu;
  bool alive = true;  // guarded by mu
};

// What a session uses of its server. All referenced objects must outlive every session:
// HttpServer guarantees it by destroying its io_context (which destroys idle sessions)
// before them.
struct SessionContext {
  const ServerOptions& options;
  const Dispatcher& dispatcher;
  ConnectionTracker& tracker;
  BodyBudget& body_budget;
  boost::asio::ssl::context* tls;  // null: plain HTTP
  std::shared_ptr<ServerLife> life;
};

// A session for `socket` (whose executor must be a strand of its own: the session's
// handlers are serialised on it) from `peer_address` (normalised, see peer_address.h) and
// `peer_port`. Not started: register it with the tracker, then Start(). The session keeps
// itself alive through its pending operations and unregisters from the tracker when
// destroyed.
std::shared_ptr<Connection> NewSession(boost::asio::ip::tcp::socket socket,
                                       const SessionContext& context, std::string peer_address,
                                       std::uint16_t peer_port);

}  // namespace medmesh::net::internal
