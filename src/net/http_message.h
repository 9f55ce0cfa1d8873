// HTTP message types shared by the server (src/net/http_server.h), the router and the client:
// Method, Request (what a handler sees), Response (what a handler returns, and what the
// client returns).
//
// These types hide Boost.Beast: services include this header, never Beast's.
// Thread safety: plain value types (a Request is a view, see below).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/bytes.h"

namespace medmesh::net {

// The methods MedMesh routes. Requests with any other method get 405 (or 404 if no route
// has the path).
enum class Method : std::uint8_t { kGet, kHead, kPost, kPut, kPatch, kDelete, kOptions };

// "GET", "POST", ...
std::string_view MethodName(Method method);
// The method for an upper-case token ("GET"); nullopt for anything else (methods are
// case-sensitive, RFC 9110 section 9.1).
std::optional<Method> ParseMethod(std::string_view token);

// ASCII case-insensitive comparison, for header names.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// What the server lets a handler say about the connection a request came on. Implemented by
// the server; handlers reach it through Request::MarkPeerAuthenticated().
class PeerMarker {
 public:
  // The request proved who sent it (see Request::MarkPeerAuthenticated()).
  virtual void MarkPeerAuthenticated() = 0;

 protected:
  ~PeerMarker() = default;
};

// A request as a handler or a filter sees it.
//
// It is a view: `path`, `route`, `headers` and `body` point into buffers the server owns and
// are valid only for the duration of the handler (or filter) call. Copy what you keep.
// Tests may build one by hand (pointing at their own strings) to call a handler directly.
struct Request {
  Method method = Method::kGet;
  // The path as received, still percent-encoded, without the query ("/api/patients/p%201").
  std::string_view path;
  // The route pattern that matched ("/api/patients/{id}"); empty in filters, which run
  // before routing.
  std::string_view route;
  // Path parameters of the matched route, percent-decoded, in pattern order.
  std::vector<std::pair<std::string, std::string>> path_params;
  // Query parameters in order, percent-decoded ('+' is a space); a key without '=' has an
  // empty value. Repeated keys are kept.
  std::vector<std::pair<std::string, std::string>> query;
  // Header fields in received order (names as sent by the client).
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  // The request body. Empty in filters: they run after the head is read and before the
  // body is, so a blocked client cannot make the server read a large body.
  ByteView body;
  // The peer's IP address as text; IPv4-mapped IPv6 addresses ("::ffff:10.0.0.1") are
  // normalised to IPv4 ("10.0.0.1"). This is the TCP peer: X-Forwarded-For is not trusted.
  std::string peer_address;
  std::uint16_t peer_port = 0;
  // Set by the server (null in a Request built by hand); use MarkPeerAuthenticated().
  PeerMarker* peer_marker = nullptr;

  // Call after this request proved who sent it (a valid device or cloudlet signature, a
  // session, a bearer token): the connection and its source address count as authenticated
  // from then on, so they may use the connection slots and body budget kept for
  // authenticated peers, and their higher per-source limits (src/net/http_server.h). Never
  // call it for a request that merely parsed. Only during the handler call; a no-op when
  // the request was not made by the server.
  void MarkPeerAuthenticated() const {
    if (peer_marker != nullptr) peer_marker->MarkPeerAuthenticated();
  }

  // The value of a path parameter; nullopt if the route has no such parameter.
  std::optional<std::string_view> PathParam(std::string_view name) const;
  // The first value of a query parameter; nullopt if absent.
  std::optional<std::string_view> QueryParam(std::string_view name) const;
  // The first header with this name (case-insensitive); nullopt if absent.
  std::optional<std::string_view> Header(std::string_view name) const;
  std::string_view body_text() const { return AsStringView(body); }
};

// An HTTP response: produced by handlers and filters on the server, returned by HttpClient.
struct Response {
  int status = 200;
  // Sent as the Content-Type header when the body is not empty (server side). On the client,
  // the received Content-Type (empty if none).
  std::string content_type = "application/json";
  std::string body;  // may hold binary data
  // Extra headers. On the server, the framing and connection headers (Content-Length,
  // Transfer-Encoding, Connection, Content-Type) are owned by the server and ignored here,
  // and a name or value with CR, LF or NUL is dropped (and logged), so user data placed in a
  // header cannot split the response. On the client: every received header.
  std::vector<std::pair<std::string, std::string>> headers;

  static Response Json(std::string body, int status = 200);
  static Response Text(std::string body, int status = 200);  // text/plain; charset=utf-8
  static Response Binary(ByteView body, int status = 200);   // application/octet-stream

  // The first extra header with this name (case-insensitive); nullopt if absent.
  std::optional<std::string_view> Header(std::string_view name) const;
  ByteView body_bytes() const { return AsBytes(body); }
};

}  // namespace medmesh::net
