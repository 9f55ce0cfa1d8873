#include "attack/source_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace medmesh::attack {
namespace {

constexpr std::size_t kMaxAnswerBytes = std::size_t{8} << 20;
constexpr std::size_t kMaxHeadBytes = 64 * 1024;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

Result<in_addr> ParseIpv4(std::string_view text) {
  in_addr address{};
  const std::string s = text == "localhost" ? "127.0.0.1" : std::string(text);
  if (::inet_pton(AF_INET, s.c_str(), &address) != 1) {
    return InvalidArgument("not an IPv4 address: " + s);
  }
  return address;
}

int Milliseconds(std::chrono::milliseconds d) {
  return static_cast<int>(std::max<std::int64_t>(0, d.count()));
}

}  // namespace

Result<HttpTarget> ParseHttpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgument("only http:// URLs are supported by the attack tool");
  }
  std::string_view rest = url.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) return InvalidArgument("the URL needs a port");
  HttpTarget target;
  target.host = std::string(rest.substr(0, colon));
  if (target.host == "localhost") target.host = "127.0.0.1";
  MEDMESH_ASSIGN_OR_RETURN(in_addr unused, ParseIpv4(target.host));
  (void)unused;
  const std::string_view port = rest.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
    return InvalidArgument("bad port in URL");
  }
  target.port = static_cast<std::uint16_t>(value);
  return target;
}

Result<std::string> NextAddress(std::string_view ipv4, int n) {
  MEDMESH_ASSIGN_OR_RETURN(in_addr address, ParseIpv4(ipv4));
  const std::uint32_t host = ntohl(address.s_addr);
  const std::uint32_t last = (host & 0xff) + static_cast<std::uint32_t>(n);
  if (n < 0 || last > 254) return InvalidArgument("source address range runs past .254");
  in_addr next{};
  next.s_addr = htonl((host & ~std::uint32_t{0xff}) | last);
  char text[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &next, text, sizeof text);
  return std::string(text);
}

// --- RawConnection ----------------------------------------------------------------------------

Result<RawConnection> RawConnection::Open(const HttpTarget& target, const std::string& source,
                                          std::chrono::milliseconds timeout) {
  MEDMESH_ASSIGN_OR_RETURN(in_addr remote, ParseIpv4(target.host));
  std::optional<in_addr> local;
  if (!source.empty()) {
    MEDMESH_ASSIGN_OR_RETURN(in_addr parsed, ParseIpv4(source));
    local = parsed;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Unavailable(std::string("socket: ") + std::strerror(errno));
  RawConnection connection(fd, timeout);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (local) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr = *local;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) != 0) {
      return Unavailable("cannot bind to source " + source + ": " + std::strerror(errno));
    }
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = remote;
  to.sin_port = htons(target.port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0) {
    if (errno != EINPROGRESS) {
      return Unavailable("cannot connect to " + target.origin() + ": " + std::strerror(errno));
    }
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, Milliseconds(timeout)) <= 0) {
      return Unavailable("connect to " + target.origin() + " timed out");
    }
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) {
      return Unavailable("cannot connect to " + target.origin() + ": " + std::strerror(error));
    }
  }
  return connection;
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      timeout_(other.timeout_),
      buffer_(std::move(other.buffer_)) {}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    timeout_ = other.timeout_;
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

Status RawConnection::Write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return Unavailable(std::string("write failed: ") + std::strerror(errno));
    }
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, Milliseconds(timeout_)) <= 0) return Unavailable("write timed out");
  }
  return OkStatus();
}

Result<HttpAnswer> RawConnection::ReadAnswer(bool* keep_alive) {
  *keep_alive = false;
  // Reads more bytes into buffer_; false at the end of the connection.
  const auto fill = [this]() -> Result<bool> {
    char chunk[16 * 1024];
    while (true) {
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return Unavailable(std::string("read failed: ") + std::strerror(errno));
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, Milliseconds(timeout_)) <= 0) return Unavailable("read timed out");
    }
  };
  std::size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (buffer_.size() > kMaxHeadBytes) return Unavailable("answer head too large");
    MEDMESH_ASSIGN_OR_RETURN(bool more, fill());
    if (!more) return Unavailable("connection closed before an answer");
  }
  const std::string head = buffer_.substr(0, head_end);
  buffer_.erase(0, head_end + 4);

  HttpAnswer answer;
  std::size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  // "HTTP/1.1 200 OK"
  if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0) {
    return Unavailable("malformed answer");
  }
  const bool http10 = status_line.compare(0, 8, "HTTP/1.0") == 0;
  answer.status = std::atoi(status_line.c_str() + 9);
  std::optional<std::size_t> content_length;
  bool close = http10;
  while (line_end != std::string::npos) {
    const std::size_t start = line_end + 2;
    line_end = head.find("\r\n", start);
    const std::string line =
        head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (EqualsIgnoreCase(name, "Content-Length")) {
      content_length = static_cast<std::size_t>(std::strtoull(value.c_str(), nullptr, 10));
    } else if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
      return Unavailable("chunked answers are not supported");
    } else if (EqualsIgnoreCase(name, "Connection")) {
      if (EqualsIgnoreCase(value, "close")) close = true;
      if (EqualsIgnoreCase(value, "keep-alive")) close = false;
    }
    answer.headers.emplace_back(std::move(name), std::move(value));
  }
  if (content_length) {
    if (*content_length > kMaxAnswerBytes) return ResourceExhausted("answer too large");
    while (buffer_.size() < *content_length) {
      MEDMESH_ASSIGN_OR_RETURN(bool more, fill());
      if (!more) return Unavailable("connection closed inside the answer body");
    }
    answer.body = buffer_.substr(0, *content_length);
    buffer_.erase(0, *content_length);
    *keep_alive = !close;
  } else {
    while (true) {
      if (buffer_.size() > kMaxAnswerBytes) return ResourceExhausted("answer too large");
      MEDMESH_ASSIGN_OR_RETURN(bool more, fill());
      if (!more) break;
    }
    answer.body = std::move(buffer_);
    buffer_.clear();
  }
  return answer;
}

bool RawConnection::WaitClosed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char chunk[4096];
  while (true) {
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return true;  // reset: closed too
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (n > 0) continue;
    pollfd p{fd_, POLLIN, 0};
    ::poll(&p, 1, Milliseconds(left));
  }
}

// --- SourceClient -----------------------------------------------------------------------------

SourceClient::SourceClient(HttpTarget target, std::string source, std::chrono::milliseconds timeout)
    : target_(std::move(target)), source_(std::move(source)), timeout_(timeout) {}

Result<HttpAnswer> SourceClient::Send(
    std::string_view method, std::string_view target_path, std::string_view body,
    std::string_view content_type,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string request;
  request.reserve(256 + body.size());
  request.append(method).append(" ").append(target_path).append(" HTTP/1.1\r\n");
  request.append("Host: ").append(target_.host).append(":").append(std::to_string(target_.port));
  request.append("\r\nUser-Agent: medmesh-attack\r\n");
  for (const auto& [name, value] : headers)
    request.append(name).append(": ").append(value).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    if (!content_type.empty()) request.append("Content-Type: ").append(content_type).append("\r\n");
    request.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  request.append("\r\n").append(body);

  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = connection_ != nullptr;
    if (!connection_) {
      MEDMESH_ASSIGN_OR_RETURN(RawConnection opened,
                               RawConnection::Open(target_, source_, timeout_));
      connection_ = std::make_unique<RawConnection>(std::move(opened));
    }
    Status written = connection_->Write(request);
    bool keep_alive = false;
    Result<HttpAnswer> answer =
        written ? connection_->ReadAnswer(&keep_alive) : Result<HttpAnswer>(written.error());
    if (!answer || !keep_alive) connection_.reset();
    if (answer || !reused) return answer;
  }
  return Unavailable("no answer");
}

}  // namespace medmesh::attack
