// OpenSSL contexts for the server and the client, with MedMesh's TLS policy: TLS 1.2 or
// later, OpenSSL's default cipher suites (no export, no RC4, no CBC-only suites in TLS 1.3).
// Internal to src/net. Thread safety: a context is shared read-only by many streams once
// built.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <string>

#include "core/status.h"
#include "net/http_server.h"

namespace medmesh::net::internal {

// kInvalidArgument if a file cannot be read, is not PEM, or the key does not match the
// certificate (the message names the file, never its content). The private key file gets the
// checks of every secret file (crypto::ReadSecretFile): kPermissionDenied if it is a symbolic
// link, not a regular file, owned by another user or accessible by group or others.
Result<boost::asio::ssl::context> NewServerTlsContext(const TlsFiles& files);

// Verifies the server's chain against `ca_file` (PEM, one or more certificates) when set,
// otherwise against the system's trust store. kInvalidArgument if `ca_file` cannot be loaded.
// Host name verification is per connection (see HttpClient).
Result<boost::asio::ssl::context> NewClientTlsContext(const std::string& ca_file);

}  // namespace medmesh::net::internal
