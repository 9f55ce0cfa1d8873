#include "net/internal/http_session.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/log.h"

namespace medmesh::net::internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Tcp = asio::ip::tcp;

// STACK.md: a default flat_buffer reads 512 bytes per read_some, which made a 4 KiB POST
// take ~9 trips through the async machinery. 16 KiB covers a full head and typical bodies.
constexpr std::size_t kReadBufferBytes = std::size_t{16} * 1024;
// After a response with "Connection: close": how long, and how much, we keep reading (and
// discarding) so that closing with unread input does not make the kernel send a reset that
// can destroy the response before the client reads it.
constexpr std::chrono::seconds kLingerTimeout{1};
constexpr std::size_t kLingerBytes = std::size_t{1} << 20;

bool IsHttpError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

// Life of a session:
//
//   kNew ─▶ kHandshake (TLS only) ─▶ kReadingHead ─▶ [kContinue] ─▶ kReadingBody ─▶ handler
//                                                          (an async route: kDeferred until
//                                                           its Responder answers) ─▶ │
//                                        ▲                                            │
//                            kIdle ──────┘ (first byte)                               │
//                              ▲                                                      │
//                              └──────────────── keep-alive ◀── kWriting ◀────────────┘
//   Any response sent without keep-alive ─▶ kClosing (shut down sending, discard input)
//   ─▶ kClosed. Errors, timeouts, the peer leaving, Close() and Evict() while no request is
//   in progress ─▶ kClosed directly.
//
// The timeouts split the wait for a request so that a slow-header client cannot hold a
// connection for long: kIdle waits for the first byte of the next request (idle_timeout,
// shorter under pressure), kReadingHead for the whole head (head_timeout), kReadingBody for
// the body (read_timeout). Pipelined bytes skip kIdle.
//
// Every handler runs on the socket's strand, so the members need no locking. Timeouts use
// tcp_stream::expires_after, which closes the socket when it fires; the pending operation
// then fails with beast::error::timeout and the session ends without an answer.
enum class State {
  kNew,
  kHandshake,
  kIdle,
  kReadingHead,
  kContinue,
  kReadingBody,
  kDeferred,
  kWriting,
  kClosing,
  kClosed
};

// The Responder target of one deferred request (router.h): posts the answer to its session's
// strand if the server still runs and the session still exists; answers 503 if it is dropped
// unanswered.
template <class SessionT>
class DeferredAnswer final : public Responder::Target {
 public:
  DeferredAnswer(std::shared_ptr<ServerLife> life, std::weak_ptr<SessionT> session)
      : life_(std::move(life)), session_(std::move(session)) {}
  ~DeferredAnswer() override {
    if (!answered_.load()) {
      DeferredAnswer::Complete(Unavailable("the server could not finish this request"), false);
    }
  }

  void Complete(Result<Response> result, bool peer_authenticated) override {
    if (answered_.exchange(true)) return;
    Response response = Dispatcher::Deferred(std::move(result));
    std::lock_guard lock(life_->mu);
    if (!life_->alive) return;
    std::shared_ptr<SessionT> session = session_.lock();
    if (!session) return;
    auto executor = session->executor();
    asio::post(executor, [session = std::move(session), response = std::move(response),
                          peer_authenticated]() mutable {
      session->OnDeferred(std::move(response), peer_authenticated);
    });
  }

 private:
  const std::shared_ptr<ServerLife> life_;
  const std::weak_ptr<SessionT> session_;
  std::atomic<bool> answered_{false};
};

template <class Stream>
class Session final : public Connection,
                      public PeerMarker,
                      public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  Session(Tcp::socket&& socket, const SessionContext& context, std::string peer,
          std::uint16_t peer_port) requires(!kTls)
      : context_(context),
        stream_(std::move(socket)),
        peer_(std::move(peer)),
        peer_port_(peer_port) {}
  Session(Tcp::socket&& socket, const SessionContext& context, std::string peer,
          std::uint16_t peer_port) requires(kTls)
      : context_(context),
        stream_(std::move(socket), *context.tls),
        peer_(std::move(peer)),
        peer_port_(peer_port) {}

  ~Session() override {
    body_reservation_.Release();
    context_.tracker.Remove(this);
  }

  void Start() override { asio::dispatch(stream_.get_executor(), Bind(&Session::Begin)); }
  void Drain() override { asio::post(stream_.get_executor(), Bind(&Session::OnDrain)); }
  void Evict() override { asio::post(stream_.get_executor(), Bind(&Session::OnEvict)); }
  void Close() override { asio::post(stream_.get_executor(), Bind(&Session::CloseNow)); }

  auto executor() { return stream_.get_executor(); }

  // A deferred answer (DeferredAnswer), on this session's strand.
  void OnDeferred(Response response, bool peer_authenticated) {
    const std::shared_ptr<Session> keep = std::move(self_);
    if (state_ != State::kDeferred) return;  // closed meanwhile
    if (peer_authenticated) MarkPeerAuthenticated();
    Send(std::move(response));
  }

  // Called by a handler (on this session's strand) through Request::MarkPeerAuthenticated().
  void MarkPeerAuthenticated() override {
    if (authenticated_) return;
    authenticated_ = true;
    context_.tracker.MarkAuthenticated(this);
  }

 private:
  const ServerOptions& options() const { return context_.options; }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  template <typename Fn>
  auto Bind(Fn fn) {
    return beast::bind_front_handler(fn, this->shared_from_this());
  }

  void Begin() {
    if (state_ == State::kClosed) return;  // closed by Stop() before it started
    buffer_.reserve(kReadBufferBytes);
    if constexpr (kTls) {
      state_ = State::kHandshake;
      Lowest().expires_after(options().handshake_timeout);
      stream_.async_handshake(asio::ssl::stream_base::server, Bind(&Session::OnHandshake));
    } else {
      ReadHead();
    }
  }

  void OnHandshake(beast::error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec) {
      log::Debug("http_tls_handshake_failed", {{"peer", peer_}, {"error", ec.message()}});
      CloseNow();
      return;
    }
    ReadHead();
  }

  void ReadHead() {
    if (drain_requested_ && buffer_.size() == 0) {
      CloseNow();
      return;
    }
    if (!first_request_ && buffer_.size() == 0) {
      WaitIdle();
      return;
    }
    ReadHeadBytes();
  }

  // Keep-alive: wait for the first byte of the next request.
  void WaitIdle() {
    state_ = State::kIdle;
    SetPhase(Phase::kIdle);
    const auto timeout =
        context_.tracker.under_pressure()
            ? std::min(options().idle_timeout, options().idle_timeout_under_pressure)
            : options().idle_timeout;
    Lowest().expires_after(timeout);
    stream_.async_read_some(buffer_.prepare(kReadBufferBytes), Bind(&Session::OnIdleRead));
  }

  void OnIdleRead(beast::error_code ec, std::size_t bytes) {
    if (state_ == State::kClosed) return;
    if (ec) {
      CloseNow();  // the peer left, the idle timeout fired, or Close()/Evict() did
      return;
    }
    buffer_.commit(bytes);
    ReadHeadBytes();
  }

  void ReadHeadBytes() {
    SetPhase(Phase::kAwaitingHead);
    parser_.emplace();
    parser_->header_limit(options().header_limit_bytes);
    // No limit until the route is known; OnHead() sets the route's limit before any body
    // byte is parsed (Beast applies it to Content-Length and to chunked bodies alike).
    parser_->body_limit(boost::none);
    request_ = Request{};
    outcome_ = Dispatcher::HeadOutcome{};
    head_parsed_ = false;
    head_request_ = false;
    must_close_ = false;
    state_ = State::kReadingHead;
    Lowest().expires_after(options().head_timeout);
    http::async_read_header(stream_, buffer_, *parser_, Bind(&Session::OnHead));
  }

  void OnHead(beast::error_code ec, std::size_t /*bytes*/) {
    started_ = std::chrono::steady_clock::now();
    if (state_ == State::kClosed) return;
    if (ec) {
      OnReadError(ec);
      return;
    }
    head_parsed_ = true;
    SetPhase(Phase::kBusy);
    const auto& message = parser_->get();
    request_.peer_address = peer_;
    request_.peer_port = peer_port_;
    request_.peer_marker = this;
    for (const auto& field : message) {
      request_.headers.emplace_back(field.name_string(), field.value());
    }
    head_request_ = message.method() == http::verb::head;
    std::optional<std::uint64_t> content_length;
    if (const auto length = parser_->content_length()) content_length = *length;
    outcome_ = context_.dispatcher.OnHead(message.method_string(), message.target(), content_length,
                                          request_);
    if (outcome_.response) {
      // The body, if any, stays unread, so the connection cannot carry another request.
      must_close_ = outcome_.close_connection || !parser_->is_done();
      Send(std::move(*outcome_.response));
      return;
    }
    parser_->body_limit(outcome_.route->options.body_limit_bytes);
    if (parser_->is_done()) {
      Handle();
      return;
    }
    // Reserve the body's memory before reading it: the declared length, or for a chunked
    // body the route's limit. Refused: answer now, leave the body unread, close.
    const std::size_t body_bytes = content_length ? static_cast<std::size_t>(*content_length)
                                                  : outcome_.route->options.body_limit_bytes;
    auto reservation = context_.body_budget.Reserve(
        peer_, body_bytes, authenticated_ || context_.tracker.IsAuthenticatedSource(peer_));
    if (const auto* refusal = std::get_if<BodyBudget::Refusal>(&reservation)) {
      must_close_ = true;
      Send(BodyBudgetSpent(*refusal == BodyBudget::Refusal::kNode));
      return;
    }
    body_reservation_ = std::move(std::get<BodyBudget::Reservation>(reservation));
    const auto expect = message[http::field::expect];
    if (EqualsIgnoreCase(std::string_view(expect.data(), expect.size()), "100-continue")) {
      state_ = State::kContinue;
      continue_ = {http::status::continue_, 11};
      Lowest().expires_after(options().write_timeout);
      http::async_write(stream_, continue_, Bind(&Session::OnContinueWritten));
      return;
    }
    ReadBody();
  }

  void OnContinueWritten(beast::error_code ec, std::size_t /*bytes*/) {
    if (state_ == State::kClosed) return;
    if (ec) {
      CloseNow();
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    state_ = State::kReadingBody;
    Lowest().expires_after(options().read_timeout);
    http::async_read(stream_, buffer_, *parser_, Bind(&Session::OnBody));
  }

  void OnBody(beast::error_code ec, std::size_t /*bytes*/) {
    if (state_ == State::kClosed) return;
    if (ec) {
      OnReadError(ec);
      return;
    }
    Handle();
  }

  void OnReadError(const beast::error_code& ec) {
    must_close_ = true;
    if (ec == http::error::header_limit) {
      Send(HeadersTooLarge());
    } else if (ec == http::error::body_limit) {
      Send(PayloadTooLarge(outcome_.route != nullptr ? outcome_.route->options.body_limit_bytes
                                                     : 0));
    } else if (IsHttpError(ec) && ec != http::error::end_of_stream &&
               ec != http::error::partial_message) {
      Send(BadRequest("malformed HTTP request"));
    } else {
      if (ec == beast::error::timeout && options().observer) {
        options().observer(
            {ServerEvent::Kind::kTimeout, peer_, outcome_.route_label, 0, authenticated_});
      }
      // The peer left (end_of_stream, partial_message, reset), a timeout closed the socket,
      // or Close() did: there is no one to answer.
      CloseNow();
    }
  }

  void Handle() {
    request_.body = AsBytes(std::string_view(parser_->get().body()));
    if (outcome_.route->async_handler) {
      // Kept alive by self_ (no operation is pending while the answer is awaited) until the
      // answer arrives or the connection is closed.
      state_ = State::kDeferred;
      self_ = this->shared_from_this();
      context_.dispatcher.InvokeAsync(
          *outcome_.route, request_,
          Responder(std::make_shared<DeferredAnswer<Session>>(context_.life, self_)));
      request_.body = {};
      std::string().swap(parser_->get().body());
      body_reservation_.Release();
      return;
    }
    Response response = context_.dispatcher.Invoke(*outcome_.route, request_);
    // The body is no longer needed: free it and its reservation before writing the answer.
    request_.body = {};
    std::string().swap(parser_->get().body());
    body_reservation_.Release();
    Send(std::move(response));
  }

  void Send(Response response) {
    Dispatcher::Sanitize(response);
    status_ = response.status;
    const bool keep_alive = !must_close_ && !drain_requested_ && !context_.tracker.draining() &&
                            parser_->get().keep_alive();
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(response.status));
    for (const auto& [name, value] : response.headers) response_.insert(name, value);
    if (!response.body.empty()) response_.set(http::field::content_type, response.content_type);
    response_.keep_alive(keep_alive);
    if (head_request_) {
      // A HEAD answer carries the length a GET would get, and no body.
      if (response.status != 204 && response.status != 304) {
        response_.content_length(response.body.size());
      }
    } else {
      response_.body() = std::move(response.body);
      response_.prepare_payload();
    }
    // Counted before the first byte is written: a client that has read its response must
    // find it in /metrics (OnWrite can run after the client has read everything).
    context_.dispatcher.Record(MethodForLog(), outcome_.route_label, status_,
                               std::chrono::steady_clock::now() - started_, peer_);
    if (options().observer) {
      options().observer({ServerEvent::Kind::kResponse, peer_, outcome_.route_label, status_,
                          authenticated_ || context_.tracker.IsAuthenticatedSource(peer_)});
    }
    state_ = State::kWriting;
    Lowest().expires_after(options().write_timeout);
    http::async_write(stream_, response_, Bind(&Session::OnWrite));
  }

  void OnWrite(beast::error_code ec, std::size_t /*bytes*/) {
    if (state_ == State::kClosed) return;
    if (ec) {
      CloseNow();
      return;
    }
    if (!response_.keep_alive()) {
      GracefulClose();
      return;
    }
    first_request_ = false;
    ReadHead();
  }

  std::string_view MethodForLog() const {
    if (!head_parsed_) return "-";
    const auto method = parser_->get().method_string();
    return {method.data(), method.size()};
  }

  void OnDrain() {
    drain_requested_ = true;
    const bool idle = state_ == State::kNew || state_ == State::kHandshake ||
                      state_ == State::kIdle ||
                      (state_ == State::kReadingHead && buffer_.size() == 0);
    if (idle) CloseNow();
  }

  void OnEvict() {
    // Waiting for a head (even half of one) is not a request in progress.
    const bool waiting = state_ == State::kNew || state_ == State::kHandshake ||
                         state_ == State::kIdle || state_ == State::kReadingHead;
    if (waiting) {
      CloseNow();
    } else {
      OnDrain();
    }
  }

  void GracefulClose() {
    state_ = State::kClosing;
    Lowest().expires_after(kLingerTimeout);
    if constexpr (kTls) {
      stream_.async_shutdown(Bind(&Session::OnTlsShutdown));
    } else {
      beast::error_code ec;
      Lowest().socket().shutdown(Tcp::socket::shutdown_send, ec);
      buffer_.consume(buffer_.size());
      Linger();
    }
  }

  void Linger() {
    Lowest().async_read_some(buffer_.prepare(kReadBufferBytes), Bind(&Session::OnLinger));
  }

  void OnLinger(beast::error_code ec, std::size_t bytes) {
    lingered_ += bytes;
    if (ec || state_ == State::kClosed || lingered_ >= kLingerBytes) {
      CloseNow();
      return;
    }
    Linger();
  }

  void OnTlsShutdown(beast::error_code /*ec*/) { CloseNow(); }

  void CloseNow() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    // Its destruction (if it is the last reference) waits until this function returns.
    const std::shared_ptr<Session> keep = std::move(self_);
    body_reservation_.Release();
    beast::error_code ec;
    Lowest().socket().shutdown(Tcp::socket::shutdown_both, ec);
    Lowest().close();
  }

  SessionContext context_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  http::response<http::empty_body> continue_;
  Request request_;
  Dispatcher::HeadOutcome outcome_;
  BodyBudget::Reservation body_reservation_;
  std::shared_ptr<Session> self_;  // set while a deferred answer is awaited (kDeferred)
  const std::string peer_;
  const std::uint16_t peer_port_;
  State state_ = State::kNew;
  bool authenticated_ = false;
  bool first_request_ = true;
  bool drain_requested_ = false;
  bool head_parsed_ = false;
  bool head_request_ = false;
  bool must_close_ = false;
  int status_ = 0;
  std::size_t lingered_ = 0;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace

std::shared_ptr<Connection> NewSession(Tcp::socket socket, const SessionContext& context,
                                       std::string peer_address, std::uint16_t peer_port) {
  if (context.tls != nullptr) {
    return std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
        std::move(socket), context, std::move(peer_address), peer_port);
  }
  return std::make_shared<Session<beast::tcp_stream>>(std::move(socket), context,
                                                      std::move(peer_address), peer_port);
}

}  // namespace medmesh::net::internal
