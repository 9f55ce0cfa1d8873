// SourceClient: a deliberately small HTTP/1.1 client for the red-team tool (`medmesh attack`)
// whose socket is bound to a chosen local source address, so that an attack comes from, say,
// 127.0.0.12 instead of 127.0.0.1 (Linux routes all of 127/8 to lo). The nodes' IDS never
// blocks 127.0.0.1 (policy enforce_on_local_proxy), so attacks from other loopback addresses are
// the ones that can really be blocked. net::HttpClient has no source binding and pools
// connections, which an attacker does not want; this client also writes raw bytes (slow heads).
//
//   auto target = ParseHttpUrl("http://127.0.0.1:8081");
//   SourceClient client(*target, "127.0.0.12", std::chrono::seconds(5));
//   Result<HttpAnswer> a = client.Send("POST", "/api/v1/session", body, "application/json");
//
// Plain HTTP over IPv4 only (the demo serves plain HTTP on loopback). Answers are read by their
// Content-Length (what MedMesh's server always sends) or to the end of the connection; chunked
// answers are refused as malformed. Keep-alive: one connection is kept and reused while the
// server keeps it open.
// Errors: kInvalidArgument for a bad URL or source address, kUnavailable when the connection
// fails, closes before a whole answer, or a timeout expires (each read or write waits at most
// `timeout`), kResourceExhausted for an answer over 8 MiB.
// Thread safety: not thread-safe; use one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace medmesh::attack {

struct HttpTarget {
  std::string host;  // an IPv4 literal ("localhost" is taken as 127.0.0.1)
  std::uint16_t port = 80;
  std::string origin() const { return "http://" + host + ":" + std::to_string(port); }
};

// "http://A.B.C.D:PORT" with an optional trailing "/"; kInvalidArgument otherwise.
Result<HttpTarget> ParseHttpUrl(std::string_view url);

// "127.0.0.10" + n, for the n-th scenario's own source; kInvalidArgument past .254.
Result<std::string> NextAddress(std::string_view ipv4, int n);

struct HttpAnswer {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One TCP connection from `source` (empty: the system picks) to `target`.
class RawConnection {
 public:
  static Result<RawConnection> Open(const HttpTarget& target, const std::string& source,
                                    std::chrono::milliseconds timeout);
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  ~RawConnection();

  // Writes all of `bytes`.
  Status Write(std::string_view bytes);
  // Reads one answer (head and body). Sets *keep_alive to whether the server keeps the
  // connection open.
  Result<HttpAnswer> ReadAnswer(bool* keep_alive);
  // Waits up to `timeout` for the server to close the connection (reads and drops anything
  // it sends); true if it closed.
  bool WaitClosed(std::chrono::milliseconds timeout);

 private:
  RawConnection(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffer_;  // bytes read past the previous answer
};

class SourceClient {
 public:
  SourceClient(HttpTarget target, std::string source, std::chrono::milliseconds timeout);

  // Sends one request (Host, Content-Length and the given headers) and reads the answer. A
  // kept-alive connection that turns out to be closed before any answer byte is retried once
  // on a new connection.
  Result<HttpAnswer> Send(std::string_view method, std::string_view target_path,
                          std::string_view body = {}, std::string_view content_type = {},
                          const std::vector<std::pair<std::string, std::string>>& headers = {});
  const std::string& source() const { return source_; }
  const HttpTarget& target() const { return target_; }

 private:
  HttpTarget target_;
  std::string source_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<RawConnection> connection_;
};

}  // namespace medmesh::attack
