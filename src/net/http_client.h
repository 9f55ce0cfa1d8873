// HttpClient: a small synchronous HTTP/1.1 client (plain and TLS) for node-to-node calls:
// the wearable agent uploading batches, a cloudlet forwarding to the cloud, mesh peers.
//
//   auto client = HttpClient::Create({.ca_file = "cloud-root.pem"});
//   Result<Response> r = (*client)->Post("https://cloud:8443/api/ingest", body,
//                                        "application/octet-stream");
//   if (!r) ...;                      // could not get an answer (see errors below)
//   if (r->status >= 300) return ErrorFromResponse(*r);   // error_mapping.h
//
// Connections are kept alive and reused per origin (scheme, host, port): a call takes an idle
// connection of its origin or opens a new one, and gives it back afterwards if the server
// kept it open. If a reused connection turns out to have been closed by the server before
// any byte of the answer arrived, the request is sent once more on a new connection.
// WARNING: that retry can repeat a request the server saw but never answered (this is
// inherent to HTTP/1.1 keep-alive); MedMesh's uploads carry batch ids and are idempotent.
//
// TLS: the server's certificate must chain to `ca_file` (pinning the deployment's own CA)
// or, without it, to the system trust store, and must name the URL's host (DNS name or IP
// address, RFC 6125 matching by OpenSSL). There is no option to skip verification.
//
// Thread safety: Send() and its wrappers may be called from many threads at once; each call
// uses its own connection. Ownership: the client owns its pooled connections.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "net/http_message.h"

namespace medmesh::net {

struct ClientOptions {
  // Trust anchors for https (PEM file with one or more CA certificates). Empty: the system
  // trust store.
  std::string ca_file;
  // Name resolution is not covered: it uses the system resolver and its own timeouts.
  std::chrono::milliseconds connect_timeout{5'000};   // TCP connect + TLS handshake
  std::chrono::milliseconds request_timeout{30'000};  // writing the request + reading the answer
  std::size_t max_response_body_bytes = std::size_t{8} << 20;
  std::size_t max_idle_connections_per_origin = 4;
  // Idle connections older than this are not reused (keep it below the servers' keep-alive
  // idle timeout).
  std::chrono::milliseconds idle_connection_ttl{10'000};
  std::string user_agent = "medmesh";
};

struct ClientRequest {
  Method method = Method::kGet;
  // Absolute "http://" or "https://" URL; host names, IPv4 and [IPv6] literals.
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;  // sent when the body is not empty
};

class HttpClient {
 public:
  // kInvalidArgument if options.ca_file is set and cannot be loaded.
  static Result<std::unique_ptr<HttpClient>> Create(ClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request and reads the whole response. Any HTTP status is a successful result;
  // errors mean there is no usable answer:
  //   kInvalidArgument    bad URL or scheme, a header with CR/LF/NUL
  //   kUnavailable        name resolution, connect, TLS handshake or I/O failed, a timeout
  //                       expired, or the response was malformed
  //   kUnauthenticated    the server's TLS certificate is not trusted or does not name the host
  //   kResourceExhausted  the response body exceeds max_response_body_bytes
  Result<Response> Send(const ClientRequest& request);
  Result<Response> Get(std::string_view url);
  Result<Response> Post(std::string_view url, std::string body, std::string content_type);

 private:
  struct State;  // options, TLS context and connection pool (http_client.cc)
  explicit HttpClient(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace medmesh::net
