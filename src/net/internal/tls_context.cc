#include "net/internal/tls_context.h"

#include <openssl/ssl.h>

#include <boost/asio/buffer.hpp>

#include "crypto/key_file.h"

namespace medmesh::net::internal {
namespace {

namespace ssl = boost::asio::ssl;

// A PEM private key (RSA 8192 with its header is under 7 KiB).
constexpr std::size_t kMaxTlsKeyBytes = std::size_t{64} * 1024;

void ApplyPolicy(ssl::context& context) {
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                      ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
}

}  // namespace

Result<ssl::context> NewServerTlsContext(const TlsFiles& files) {
  ssl::context context(ssl::context::tls_server);
  ApplyPolicy(context);
  boost::system::error_code ec;
  context.use_certificate_chain_file(files.certificate_chain_file, ec);
  if (ec) {
    return InvalidArgument("cannot load TLS certificate chain " + files.certificate_chain_file +
                           ": " + ec.message());
  }
  // Read with the owner and mode checks of every secret file (crypto/key_file.h), then handed
  // to OpenSSL from memory, so the file OpenSSL parses is the file that was checked.
  MEDMESH_ASSIGN_OR_RETURN(
      const SecretBytes pem,
      crypto::ReadSecretFile(files.private_key_file, kMaxTlsKeyBytes, "TLS private key"));
  context.use_private_key(boost::asio::buffer(pem.reveal().data(), pem.size()), ssl::context::pem,
                          ec);
  if (ec) {
    return InvalidArgument("cannot load TLS private key " + files.private_key_file + ": " +
                           ec.message());
  }
  if (SSL_CTX_check_private_key(context.native_handle()) != 1) {
    return InvalidArgument("TLS private key " + files.private_key_file +
                           " does not match the certificate");
  }
  return context;
}

Result<ssl::context> NewClientTlsContext(const std::string& ca_file) {
  ssl::context context(ssl::context::tls_client);
  ApplyPolicy(context);
  boost::system::error_code ec;
  if (ca_file.empty()) {
    context.set_default_verify_paths(ec);
  } else {
    context.load_verify_file(ca_file, ec);
  }
  if (ec) {
    return InvalidArgument("cannot load TLS trust anchors" +
                           (ca_file.empty() ? std::string() : " " + ca_file) + ": " + ec.message());
  }
  context.set_verify_mode(ssl::verify_peer);
  return context;
}

}  // namespace medmesh::net::internal
