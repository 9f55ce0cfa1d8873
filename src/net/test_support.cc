#include "net/test_support.h"

#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>

namespace medmesh::net::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

[[noreturn]] void Fail(const std::string& what) { throw std::runtime_error(what); }

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509, X509_free>>;

void AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) Fail("X509V3_EXT_conf_nid failed for " + value);
  const int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (added != 1) Fail("X509_add_ext failed");
}

void WritePem(const std::filesystem::path& path, const auto& write) {
  BIO* bio = BIO_new_file(path.c_str(), "w");
  if (bio == nullptr) Fail("cannot create " + path.string());
  const int ok = write(bio);
  BIO_free(bio);
  if (ok != 1) Fail("cannot write " + path.string());
}

std::string Unescape(std::string_view s, std::size_t& pos, char terminator, bool& ok) {
  std::string out;
  while (pos < s.size() && s[pos] != terminator) {
    if (s[pos] == '\\') {
      if (pos + 1 >= s.size()) {
        ok = false;
        return out;
      }
      const char next = s[pos + 1];
      if (next == 'n') {
        out.push_back('\n');
      } else if (next == '\\' || next == '"') {
        out.push_back(next);
      } else {
        ok = false;
        return out;
      }
      pos += 2;
    } else {
      out.push_back(s[pos++]);
    }
  }
  return out;
}

bool IsMetricNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == ':';
}

std::optional<Sample> ParseSample(std::string_view line) {
  Sample sample;
  std::size_t pos = 0;
  while (pos < line.size() && IsMetricNameChar(line[pos])) ++pos;
  if (pos == 0) return std::nullopt;
  sample.name = std::string(line.substr(0, pos));
  if (pos < line.size() && line[pos] == '{') {
    ++pos;
    while (true) {
      const std::size_t eq = line.find('=', pos);
      if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
        return std::nullopt;
      }
      const std::string key(line.substr(pos, eq - pos));
      pos = eq + 2;
      bool ok = true;
      std::string value = Unescape(line, pos, '"', ok);
      if (!ok || pos >= line.size()) return std::nullopt;
      ++pos;  // closing quote
      if (!sample.labels.emplace(key, std::move(value)).second) return std::nullopt;
      if (pos < line.size() && line[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < line.size() && line[pos] == '}') {
        ++pos;
        break;
      }
      return std::nullopt;
    }
  }
  if (pos >= line.size() || line[pos] != ' ') return std::nullopt;
  sample.value = std::string(line.substr(pos + 1));
  if (sample.value.empty() || sample.value.find(' ') != std::string::npos) return std::nullopt;
  return sample;
}

}  // namespace

CertificateFiles WriteSelfSignedCertificate(const std::filesystem::path& dir, std::string_view stem,
                                            const std::vector<std::string>& dns_names,
                                            const std::vector<std::string>& ip_addresses) {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) Fail("EC key generation failed");
  X509Ptr cert(X509_new());
  if (!cert) Fail("X509_new failed");
  X509_set_version(cert.get(), 2);  // v3
  static std::atomic<long> serial{1};
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24L * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  const std::string common_name = "medmesh test " + std::string(stem);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  X509_set_issuer_name(cert.get(), name);

  std::string san;
  for (const auto& dns : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + dns;
  for (const auto& ip : ip_addresses) san += (san.empty() ? "IP:" : ",IP:") + ip;
  if (!san.empty()) AddExtension(cert.get(), NID_subject_alt_name, san);
  AddExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) Fail("X509_sign failed");

  CertificateFiles files;
  files.certificate_file = (dir / (std::string(stem) + ".crt")).string();
  files.private_key_file = (dir / (std::string(stem) + ".key")).string();
  WritePem(files.certificate_file, [&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()); });
  WritePem(files.private_key_file, [&](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  // The server refuses a private key that group or others can read, as for every key file.
  std::filesystem::permissions(
      files.private_key_file,
      std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      std::filesystem::perm_options::replace);
  return files;
}

Exposition ParseExposition(std::string_view text) {
  Exposition out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      out.errors.emplace_back("missing final newline");
      end = text.size();
    }
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
      const bool help = line[2] == 'H';
      const std::string_view rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      if (space == std::string_view::npos) {
        out.errors.emplace_back(line);
        continue;
      }
      const std::string name(rest.substr(0, space));
      std::size_t pos = space + 1;
      if (help) {
        bool ok = true;
        // HELP text has no closing quote: unescape to the end of the line.
        std::string value = Unescape(rest, pos, '\n', ok);
        if (!ok) out.errors.emplace_back(line);
        out.help[name] = std::move(value);
      } else {
        out.type[name] = std::string(rest.substr(pos));
      }
      continue;
    }
    if (std::optional<Sample> sample = ParseSample(line)) {
      out.samples.push_back(std::move(*sample));
    } else {
      out.errors.emplace_back(line);
    }
  }
  return out;
}

std::optional<std::string> FindSample(const Exposition& exposition, std::string_view name,
                                      const std::map<std::string, std::string>& labels) {
  for (const Sample& s : exposition.samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

RawConnection::RawConnection(std::uint16_t port, std::chrono::milliseconds read_timeout,
                             std::string_view from, std::string_view to)
    : read_timeout_(read_timeout) {
  boost::system::error_code ec;
  const asio::ip::address local = asio::ip::make_address(from, ec);
  if (ec) return;
  const asio::ip::address remote = asio::ip::make_address(to, ec);
  if (ec) return;
  socket_.open(local.is_v4() ? asio::ip::tcp::v4() : asio::ip::tcp::v6(), ec);
  if (ec) return;
  socket_.bind({local, 0}, ec);
  if (ec) return;
  socket_.connect({remote, port}, ec);
  // ECONNRESET: the handshake completed and the server reset the connection at accept (a
  // refused source) before this thread returned from connect - connected, as ConnectsWithin
  // counts it; Send and Read then fail as after any reset. (Seen under ASan: the refused
  // source's loop in TheKernelDropIsBoundedAndCanBeTurnedOff read it as not connected.)
  if (ec && ec != asio::error::connection_reset) return;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(read_timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((read_timeout.count() % 1000) * 1000);
  setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  connected_ = true;
}

bool ConnectsWithin(std::uint16_t port, std::string_view from, std::string_view to,
                    std::chrono::milliseconds wait) {
  boost::system::error_code ec;
  const asio::ip::address local = asio::ip::make_address(from, ec);
  if (ec) return false;
  const asio::ip::address remote = asio::ip::make_address(to, ec);
  if (ec) return false;
  const asio::ip::tcp::endpoint local_end(local, 0), remote_end(remote, port);
  const int fd =
      ::socket(local.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool connected = false;
  if (::bind(fd, local_end.data(), static_cast<socklen_t>(local_end.size())) == 0) {
    if (::connect(fd, remote_end.data(), static_cast<socklen_t>(remote_end.size())) == 0) {
      connected = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int error = 0;
      socklen_t length = sizeof error;
      // ECONNRESET: the handshake completed and the server reset the connection at accept
      // (a refused source), possibly before this thread polled; a dropped SYN never gets here.
      connected = ::poll(&p, 1, static_cast<int>(wait.count())) == 1 &&
                  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 &&
                  (error == 0 || error == ECONNRESET);
    }
  }
  ::close(fd);
  return connected;
}

bool RawConnection::Send(std::string_view bytes) {
  boost::system::error_code ec;
  asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ec);
  return !ec;
}

void RawConnection::ShutdownSend() {
  boost::system::error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
}

std::optional<RawConnection::Reply> RawConnection::Read(bool head) {
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  if (head) parser.skip(true);
  boost::system::error_code ec;
  http::read(socket_, buffer_, parser, ec);
  if (ec) return std::nullopt;
  const auto& message = parser.get();
  Reply reply;
  reply.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    reply.headers[name] = std::string(field.value());
  }
  reply.body = message.body();
  reply.keep_alive = message.keep_alive();
  return reply;
}

bool RawConnection::ReadsEof() {
  if (buffer_.size() != 0) return false;
  pollfd waiting{socket_.native_handle(), POLLIN, 0};
  if (::poll(&waiting, 1, static_cast<int>(read_timeout_.count())) <= 0) return false;
  char byte = 0;
  boost::system::error_code ec;
  const std::size_t n = socket_.read_some(asio::buffer(&byte, 1), ec);
  if (n > 0) return false;
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

std::optional<RawConnection::Reply> RawExchange(std::uint16_t port, std::string_view request) {
  RawConnection connection(port);
  if (!connection.connected() || !connection.Send(request)) return std::nullopt;
  return connection.Read();
}

std::uint16_t RestartablePort() {
  int low = 32768;  // Linux's default when the file cannot be read
  if (std::FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    int lo = 0;
    int hi = 0;
    if (std::fscanf(f, "%d %d", &lo, &hi) == 2 && lo > 0) low = lo;
    std::fclose(f);
  }
  const int first = 10000;
  if (low <= first + 100) throw std::runtime_error("no ports below the ephemeral range");
  std::random_device seed;
  std::mt19937 pick(seed());
  std::uniform_int_distribution<int> port_of(first, low - 1);
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = port_of(pick);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool bound = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    ::close(fd);
    if (bound) return static_cast<std::uint16_t>(port);
  }
  throw std::runtime_error("no free port below the ephemeral range");
}

}  // namespace medmesh::net::testing
