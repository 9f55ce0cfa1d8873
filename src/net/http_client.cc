#include "net/http_client.h"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <map>
#include <mutex>

#include "net/internal/tls_context.h"

namespace medmesh::net {
namespace internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Tcp = asio::ip::tcp;

// Where a request goes.
struct ClientTarget {
  bool tls = false;
  std::string host;  // without brackets: "cloud.example", "10.0.0.1", "::1"
  std::uint16_t port = 0;
  std::string host_header;  // "cloud.example:8443", "[::1]:8080"
  std::string target;       // "/path?query"
  std::string origin;       // "https://cloud.example:8443", the pool key and log name
  bool host_is_ip = false;
};

Result<ClientTarget> ParseClientUrl(std::string_view url) {
  const auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return InvalidArgument("not an absolute URL");
  const boost::urls::url_view& u = *parsed;
  ClientTarget t;
  if (u.scheme_id() == boost::urls::scheme::https) {
    t.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    return InvalidArgument("URL scheme must be http or https");
  }
  if (u.has_userinfo()) return InvalidArgument("credentials in URLs are not supported");
  const auto type = u.host_type();
  if (type == boost::urls::host_type::none || type == boost::urls::host_type::ipvfuture) {
    return InvalidArgument("URL has no usable host");
  }
  t.host = u.host_address();
  if (t.host.empty() || t.host.find('\0') != std::string::npos) {
    return InvalidArgument("URL has no usable host");
  }
  t.host_is_ip = type == boost::urls::host_type::ipv4 || type == boost::urls::host_type::ipv6;
  t.port = t.tls ? 443 : 80;
  if (u.has_port() && !u.port().empty()) {
    const auto port = u.port();
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return InvalidArgument("bad port in URL");
    }
    t.port = static_cast<std::uint16_t>(value);
  }
  const auto encoded_host = u.encoded_host();  // keeps the brackets of an IPv6 literal
  t.host_header.assign(encoded_host.data(), encoded_host.size());
  if (t.port != (t.tls ? 443 : 80)) t.host_header += ":" + std::to_string(t.port);
  t.origin = (t.tls ? "https://" : "http://") + t.host_header;
  const auto path = u.encoded_path();
  t.target = path.empty() ? "/" : std::string(path.data(), path.size());
  if (u.has_query()) {
    const auto query = u.encoded_query();
    t.target += "?";
    t.target.append(query.data(), query.size());
  }
  return t;
}

http::verb ToVerb(Method method) {
  switch (method) {
    case Method::kGet: return http::verb::get;
    case Method::kHead: return http::verb::head;
    case Method::kPost: return http::verb::post;
    case Method::kPut: return http::verb::put;
    case Method::kPatch: return http::verb::patch;
    case Method::kDelete: return http::verb::delete_;
    case Method::kOptions: return http::verb::options;
  }
  return http::verb::get;
}

bool IsHeaderSafe(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// One connection with its own io_context: the client is synchronous, but Beast's timeouts
// (tcp_stream::expires_*) only apply to asynchronous operations, so each call starts the
// operation and runs this io_context until it completes. One thread uses a connection at a
// time (it is out of the pool while in use).
class ClientConnection {
 public:
  ClientConnection(const ClientTarget& target, asio::ssl::context& tls_context) {
    if (target.tls) {
      secure_ = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io_, tls_context);
    } else {
      plain_ = std::make_unique<beast::tcp_stream>(io_);
    }
  }
  ~ClientConnection() {
    beast::error_code ignored;
    Lowest().socket().shutdown(Tcp::socket::shutdown_both, ignored);
    Lowest().close();
  }
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  beast::tcp_stream& Lowest() { return secure_ ? beast::get_lowest_layer(*secure_) : *plain_; }
  beast::flat_buffer& buffer() { return buffer_; }
  asio::io_context& io() { return io_; }
  beast::ssl_stream<beast::tcp_stream>* secure() { return secure_.get(); }

  // Calls fn with the stream requests are written to (TLS or plain).
  template <typename Fn>
  void WithStream(Fn&& fn) {
    if (secure_) {
      fn(*secure_);
    } else {
      fn(*plain_);
    }
  }

  // Runs the io_context until the started operations complete.
  void Run() {
    io_.restart();
    io_.run();
  }

  // An idle HTTP/1.1 connection has nothing to read. Anything readable (the server's FIN, a
  // TLS close_notify, stray bytes) means it must not be reused.
  bool LooksReusable() {
    auto& socket = Lowest().socket();
    if (!socket.is_open() || buffer_.size() != 0) return false;
    beast::error_code ec;
    socket.non_blocking(true, ec);
    if (ec) return false;
    char byte = 0;
    (void)socket.receive(asio::buffer(&byte, 1), Tcp::socket::message_peek, ec);
    const bool idle = ec == asio::error::would_block;
    socket.non_blocking(false, ec);
    return idle && !ec;
  }

 private:
  asio::io_context io_;  // first: outlives the streams
  beast::flat_buffer buffer_;
  std::unique_ptr<beast::tcp_stream> plain_;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> secure_;
};

}  // namespace internal

struct HttpClient::State {
  struct Idle {
    std::unique_ptr<internal::ClientConnection> connection;
    std::chrono::steady_clock::time_point since;
  };

  State(ClientOptions options_in, boost::asio::ssl::context tls_in)
      : options(std::move(options_in)), tls(std::move(tls_in)) {}

  std::unique_ptr<internal::ClientConnection> TakeIdle(const std::string& origin);
  void GiveBack(const std::string& origin, std::unique_ptr<internal::ClientConnection> c);
  Result<std::unique_ptr<internal::ClientConnection>> Connect(const internal::ClientTarget& t);

  struct Exchanged {
    Result<Response> result;
    bool retryable = false;   // failed before any byte of an answer: safe to resend
    bool keep_alive = false;  // the connection may carry another request
  };
  Exchanged Exchange(internal::ClientConnection& c, const ClientRequest& request,
                     const internal::ClientTarget& t);

  const ClientOptions options;
  boost::asio::ssl::context tls;
  std::mutex mu;
  std::map<std::string, std::vector<Idle>> idle;  // by origin, most recent last
};

std::unique_ptr<internal::ClientConnection> HttpClient::State::TakeIdle(const std::string& origin) {
  const auto now = std::chrono::steady_clock::now();
  std::unique_lock lock(mu);
  auto it = idle.find(origin);
  if (it == idle.end()) return nullptr;
  std::vector<Idle> discarded;  // destroyed outside the lock
  std::unique_ptr<internal::ClientConnection> found;
  while (!it->second.empty() && !found) {
    Idle entry = std::move(it->second.back());
    it->second.pop_back();
    if (now - entry.since < options.idle_connection_ttl && entry.connection->LooksReusable()) {
      found = std::move(entry.connection);
    } else {
      discarded.push_back(std::move(entry));
    }
  }
  lock.unlock();
  return found;
}

void HttpClient::State::GiveBack(const std::string& origin,
                                 std::unique_ptr<internal::ClientConnection> c) {
  std::lock_guard lock(mu);
  std::vector<Idle>& list = idle[origin];
  if (list.size() >= options.max_idle_connections_per_origin) {
    return;  // `c` closes as it goes out of scope
  }
  list.push_back({std::move(c), std::chrono::steady_clock::now()});
}

Result<std::unique_ptr<internal::ClientConnection>> HttpClient::State::Connect(
    const internal::ClientTarget& t) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  using Tcp = asio::ip::tcp;
  auto c = std::make_unique<internal::ClientConnection>(t, tls);

  beast::error_code ec;
  Tcp::resolver::results_type endpoints;
  Tcp::resolver resolver(c->io());
  resolver.async_resolve(t.host, std::to_string(t.port),
                         [&](beast::error_code e, Tcp::resolver::results_type results) {
                           ec = e;
                           endpoints = std::move(results);
                         });
  c->Run();
  if (ec) return Unavailable("cannot resolve " + t.origin + ": " + ec.message());

  c->Lowest().expires_after(options.connect_timeout);
  c->Lowest().async_connect(endpoints, [&](beast::error_code e, const Tcp::endpoint&) { ec = e; });
  c->Run();
  if (ec) return Unavailable("cannot connect to " + t.origin + ": " + ec.message());
  c->Lowest().socket().set_option(Tcp::no_delay(true), ec);

  if (auto* secure = c->secure()) {
    SSL* ssl = secure->native_handle();
    // Host name verification by OpenSSL (RFC 6125): the certificate must name the host we
    // dialled. SNI is for names only (RFC 6066 forbids IP literals there).
    const bool host_set =
        t.host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t.host.c_str()) == 1
                     : SSL_set1_host(ssl, t.host.c_str()) == 1 &&
                           SSL_set_tlsext_host_name(ssl, t.host.c_str()) == 1;
    if (!host_set) return InvalidArgument("cannot use host for TLS verification: " + t.host);
    secure->async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
    c->Run();
    if (ec) {
      const long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) {
        return Unauthenticated("TLS certificate of " + t.origin +
                               " rejected: " + X509_verify_cert_error_string(verify));
      }
      return Unavailable("TLS handshake with " + t.origin + " failed: " + ec.message());
    }
  }
  c->Lowest().expires_never();
  return c;
}

HttpClient::State::Exchanged HttpClient::State::Exchange(internal::ClientConnection& c,
                                                         const ClientRequest& request,
                                                         const internal::ClientTarget& t) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  const http::verb verb = internal::ToVerb(request.method);
  http::request<http::string_body> req{verb, t.target, 11};
  req.set(http::field::host, t.host_header);
  req.set(http::field::user_agent, options.user_agent);
  for (const auto& [name, value] : request.headers) req.insert(name, value);
  if (!request.body.empty()) req.set(http::field::content_type, request.content_type);
  req.body() = request.body;
  req.prepare_payload();
  req.keep_alive(true);

  const auto deadline = std::chrono::steady_clock::now() + options.request_timeout;
  beast::error_code ec;
  c.Lowest().expires_at(deadline);
  c.WithStream([&](auto& stream) {
    http::async_write(stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
  });
  c.Run();
  const beast::error_code write_ec = ec;
  if (write_ec == beast::error::timeout) {
    return {Unavailable("timed out sending to " + t.origin), false, false};
  }

  // A server may answer before it has read the whole body (413 for a declared length over its
  // limit) and close; the write then fails with a broken pipe, but the answer is still there to
  // read. So even after a failed write, read what the server sent.
  http::response_parser<http::string_body> parser;
  parser.body_limit(options.max_response_body_bytes);
  if (verb == http::verb::head) parser.skip(true);
  c.Lowest().expires_at(deadline);
  c.WithStream([&](auto& stream) {
    http::async_read(stream, c.buffer(), parser, [&](beast::error_code e, std::size_t) { ec = e; });
  });
  c.Run();
  c.Lowest().expires_never();
  if (write_ec && (ec || !parser.is_done())) {
    return {Unavailable("cannot send to " + t.origin + ": " + write_ec.message()), true, false};
  }
  if (ec == http::error::body_limit) {
    return {ResourceExhausted("response from " + t.origin + " exceeds " +
                              std::to_string(options.max_response_body_bytes) + " bytes"),
            false, false};
  }
  if (ec == beast::error::timeout) {
    return {Unavailable("timed out waiting for " + t.origin), false, false};
  }
  if (ec) {
    return {Unavailable("cannot read response from " + t.origin + ": " + ec.message()),
            !parser.got_some(), false};
  }

  auto& message = parser.get();
  Response response;
  response.status = static_cast<int>(message.result_int());
  response.content_type.clear();
  for (const auto& field : message) {
    response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  if (auto type = response.Header("Content-Type")) response.content_type = std::string(*type);
  response.body = std::move(message.body());
  return {std::move(response), false, !write_ec && message.keep_alive()};
}

Result<std::unique_ptr<HttpClient>> HttpClient::Create(ClientOptions options) {
  MEDMESH_ASSIGN_OR_RETURN(boost::asio::ssl::context tls,
                           internal::NewClientTlsContext(options.ca_file));
  return std::unique_ptr<HttpClient>(
      new HttpClient(std::make_unique<State>(std::move(options), std::move(tls))));
}

HttpClient::HttpClient(std::unique_ptr<State> state) : state_(std::move(state)) {}
HttpClient::~HttpClient() = default;

Result<Response> HttpClient::Send(const ClientRequest& request) {
  MEDMESH_ASSIGN_OR_RETURN(const internal::ClientTarget target,
                           internal::ParseClientUrl(request.url));
  for (const auto& [name, value] : request.headers) {
    if (!internal::IsHeaderSafe(name, value)) return InvalidArgument("bad request header");
  }
  if (!internal::IsHeaderSafe("Content-Type", request.content_type)) {
    return InvalidArgument("bad content type");
  }
  // First attempt on a pooled connection if there is one; a second, on a new connection,
  // only if the pooled one had been closed by the server before answering.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<internal::ClientConnection> connection;
    if (attempt == 0) connection = state_->TakeIdle(target.origin);
    const bool reused = connection != nullptr;
    if (!connection) {
      MEDMESH_ASSIGN_OR_RETURN(connection, state_->Connect(target));
    }
    State::Exchanged exchanged = state_->Exchange(*connection, request, target);
    if (!exchanged.result && reused && exchanged.retryable) continue;
    if (exchanged.result && exchanged.keep_alive) {
      state_->GiveBack(target.origin, std::move(connection));
    }
    return std::move(exchanged.result);
  }
  return Internal("unreachable: retry loop exhausted");
}

Result<Response> HttpClient::Get(std::string_view url) {
  ClientRequest request;
  request.url = std::string(url);
  return Send(request);
}

Result<Response> HttpClient::Post(std::string_view url, std::string body,
                                  std::string content_type) {
  ClientRequest request;
  request.method = Method::kPost;
  request.url = std::string(url);
  request.body = std::move(body);
  request.content_type = std::move(content_type);
  return Send(request);
}

}  // namespace medmesh::net
