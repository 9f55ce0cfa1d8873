// Helpers for the src/net tests only (linked into the test binaries, not into medmesh_net):
// temporary directories, self-signed certificates, a Prometheus text parser, and a raw
// loopback connection for hand-written HTTP.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "testing/temp_dir.h"

namespace medmesh::net::testing {

// A fresh private folder, removed with its contents on destruction (src/testing/temp_dir.h).
using TempDir = ::medmesh::testing::TempDir;

struct CertificateFiles {
  std::string certificate_file;
  std::string private_key_file;
};

// Writes a self-signed EC P-256 certificate (valid from an hour ago for a day, usable as its
// own trust anchor) and its key as PEM files "<stem>.crt" / "<stem>.key" in `dir`. The
// certificate names `dns_names` and `ip_addresses` in its subjectAltName.
CertificateFiles WriteSelfSignedCertificate(const std::filesystem::path& dir, std::string_view stem,
                                            const std::vector<std::string>& dns_names,
                                            const std::vector<std::string>& ip_addresses);

// One sample line of the Prometheus text format.
struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;  // unescaped values
  std::string value;                          // as written ("1", "0.25", "+Inf")
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, std::string> help;  // unescaped
  std::map<std::string, std::string> type;
  std::vector<std::string> errors;  // lines that do not parse
};

// A strict parser for the text format 0.0.4 as MetricsRegistry writes it.
Exposition ParseExposition(std::string_view text);

// The value of the sample with exactly these labels, or nullopt.
std::optional<std::string> FindSample(const Exposition& exposition, std::string_view name,
                                      const std::map<std::string, std::string>& labels);

// A blocking loopback TCP connection for hand-written requests. Every read gives up after
// `read_timeout` (SO_RCVTIMEO), so a misbehaving server fails a test instead of hanging it.
// `from` is the local address to connect from: any 127.x.y.z works on Linux, so tests can
// play several source addresses; `to` the server's ("::1" with from "::1" for IPv6).
// WARNING: the connect blocks; toward a server that drops the source's SYNs (http_server.h,
// "Kernel drop") it waits for the kernel's retransmissions: check with ConnectsWithin first.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port,
                         std::chrono::milliseconds read_timeout = std::chrono::seconds(5),
                         std::string_view from = "127.0.0.1", std::string_view to = "127.0.0.1");
  bool connected() const { return connected_; }

  // False if the write failed (e.g. the server already closed the connection).
  bool Send(std::string_view bytes);
  void ShutdownSend();

  struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    bool keep_alive = false;
  };
  // Reads one response (for a HEAD request, pass head = true: no body follows). nullopt on
  // EOF, reset, timeout or a malformed response.
  std::optional<Reply> Read(bool head = false);

  // True if the server closes the connection (EOF or reset) before the read timeout, with no
  // further bytes; false if bytes arrive or the timeout expires first. (Waits with poll():
  // Asio's blocking reads retry past SO_RCVTIMEO, so only this call has a hard deadline.)
  bool ReadsEof();

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_{io_};
  boost::beast::flat_buffer buffer_;
  std::chrono::milliseconds read_timeout_;
  bool connected_ = false;
};

// Whether a TCP connection from `from` to `to`:port completes within `wait` (non-blocking
// connect, then closed). A handshake on loopback takes microseconds and a dropped SYN is
// retransmitted only after a second, so a few hundred milliseconds tell a dropped SYN apart.
// A handshake that completed and was then reset by the server (a source refused at accept)
// counts as connected: the kernel let the SYN through.
bool ConnectsWithin(std::uint16_t port, std::string_view from, std::string_view to,
                    std::chrono::milliseconds wait);

// Sends `request` on a new connection and reads one response.
std::optional<RawConnection::Reply> RawExchange(std::uint16_t port, std::string_view request);

// A loopback port for a server a test stops and starts again on the same port: free now (a
// bind to 127.0.0.1 succeeds) and below the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), chosen at random. A port the kernel handed out
// (bind to 0) can be handed to another process's connection or listener while the server is
// down, and the restart then fails with "address already in use"; ports below the range are
// never handed out, so only another test choosing the same one at random could take it.
std::uint16_t RestartablePort();

// Calls use(port) with ports from RestartablePort() until it returns true (a port free when
// picked may be taken by another test before `use` binds it); false after 20 tries.
template <class Use>
bool UseRestartablePort(Use use) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (use(RestartablePort())) return true;
  }
  return false;
}

}  // namespace medmesh::net::testing
