#include "net/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <filesystem>
#include <set>
#include <thread>

#include "net/http_server.h"
#include "net/test_support.h"

namespace medmesh::net {
namespace {

using namespace std::chrono_literals;

// A server that answers every request with what it saw, for the client tests.
Router EchoRouter(std::atomic<int>* calls = nullptr, std::set<std::uint16_t>* ports = nullptr,
                  std::mutex* ports_mu = nullptr) {
  Router router;
  const auto echo = [=](const Request& r) -> Result<Response> {
    if (calls != nullptr) ++*calls;
    if (ports != nullptr) {
      std::lock_guard lock(*ports_mu);
      ports->insert(r.peer_port);
    }
    Response response = Response::Text(std::string(MethodName(r.method)) + " " +
                                       std::string(r.path) + " " + std::string(r.body_text()));
    response.headers.emplace_back("X-Seen-Header", std::string(r.Header("X-Custom").value_or("")));
    response.headers.emplace_back("X-Seen-Query", std::string(r.QueryParam("q").value_or("")));
    return response;
  };
  router.Get("/echo", echo);
  router.Post("/echo", echo);
  router.Add(Method::kPut, "/echo", echo);
  router.Get("/big", [](const Request&) -> Result<Response> {
    return Response::Text(std::string(4096, 'b'));
  });
  router.Get("/status/{code}", [](const Request& r) -> Result<Response> {
    return Response::Text("status", std::stoi(std::string(*r.PathParam("code"))));
  });
  return router;
}

std::unique_ptr<HttpServer> StartServer(Router router,
                                        const std::function<void(ServerOptions&)>& tweak = {}) {
  ServerOptions options;
  options.name = "client-test";
  if (tweak) tweak(options);
  auto server = HttpServer::Start(options, std::move(router));
  EXPECT_TRUE(server) << server.error().ToString();
  return server ? std::move(server).value() : nullptr;
}

std::string Url(const HttpServer& server, std::string_view path, bool tls = false,
                std::string_view host = "127.0.0.1") {
  return std::string(tls ? "https://" : "http://") + std::string(host) + ":" +
         std::to_string(server.port()) + std::string(path);
}

ClientOptions Options(const std::function<void(ClientOptions&)>& tweak) {
  ClientOptions options;
  tweak(options);
  return options;
}

ClientOptions WithCa(std::string ca_file) {
  return Options([&](ClientOptions& o) { o.ca_file = std::move(ca_file); });
}

std::unique_ptr<HttpClient> NewClient(ClientOptions options = ClientOptions()) {
  auto client = HttpClient::Create(std::move(options));
  EXPECT_TRUE(client) << client.error().ToString();
  return std::move(client).value();
}

TEST(HttpClientTest, SendsMethodHeadersQueryAndBody) {
  auto server = StartServer(EchoRouter());
  ASSERT_TRUE(server);
  auto client = NewClient();
  ClientRequest request;
  request.method = Method::kPut;
  request.url = Url(*server, "/echo?q=a%20b");
  request.headers = {{"X-Custom", "v1"}};
  request.body = "payload";
  request.content_type = "text/plain";
  const auto reply = client->Send(request);
  ASSERT_TRUE(reply) << reply.error().ToString();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "PUT /echo payload");
  EXPECT_EQ(reply->content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(reply->Header("x-seen-header"), "v1");
  EXPECT_EQ(reply->Header("X-Seen-Query"), "a b");

  const auto posted = client->Post(Url(*server, "/echo"), "xyz", "application/octet-stream");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->body, "POST /echo xyz");
}

TEST(HttpClientTest, ErrorStatusesAreResponsesNotErrors) {
  auto server = StartServer(EchoRouter());
  ASSERT_TRUE(server);
  auto client = NewClient();
  const auto reply = client->Get(Url(*server, "/status/409"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 409);
  const auto missing = client->Get(Url(*server, "/nothing"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(HttpClientTest, ReusesOneConnectionForSequentialRequests) {
  std::atomic<int> calls{0};
  std::set<std::uint16_t> ports;
  std::mutex ports_mu;
  auto server = StartServer(EchoRouter(&calls, &ports, &ports_mu));
  ASSERT_TRUE(server);
  auto client = NewClient();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(client->Get(Url(*server, "/echo"))->status, 200);
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(ports.size(), 1u);  // one client port: one connection
}

TEST(HttpClientTest, ReconnectsWhenTheServerClosedAnIdleConnection) {
  std::atomic<int> calls{0};
  std::set<std::uint16_t> ports;
  std::mutex ports_mu;
  auto server = StartServer(EchoRouter(&calls, &ports, &ports_mu),
                            [](ServerOptions& o) { o.idle_timeout = 100ms; });
  ASSERT_TRUE(server);
  auto client = NewClient();
  ASSERT_EQ(client->Get(Url(*server, "/echo"))->status, 200);
  std::this_thread::sleep_for(400ms);  // the server drops the kept-alive connection
  const auto reply = client->Get(Url(*server, "/echo"));
  ASSERT_TRUE(reply) << reply.error().ToString();
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(calls, 2);  // sent once, not twice
  EXPECT_EQ(ports.size(), 2u);
}

TEST(HttpClientTest, HeadReadsNoBody) {
  auto server = StartServer(EchoRouter());
  ASSERT_TRUE(server);
  auto client = NewClient();
  ClientRequest head;
  head.method = Method::kHead;
  head.url = Url(*server, "/big");
  const auto reply = client->Send(head);
  ASSERT_TRUE(reply) << reply.error().ToString();
  EXPECT_EQ(reply->status, 200);
  EXPECT_TRUE(reply->body.empty());
  EXPECT_EQ(reply->Header("Content-Length"), "4096");
  EXPECT_EQ(client->Get(Url(*server, "/big"))->body.size(), 4096u);  // same connection, in sync
}

TEST(HttpClientTest, ResponseBodyLimitIsEnforced) {
  auto server = StartServer(EchoRouter());
  ASSERT_TRUE(server);
  auto client = NewClient(Options([](ClientOptions& o) { o.max_response_body_bytes = 1000; }));
  const auto reply = client->Get(Url(*server, "/big"));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(client->Get(Url(*server, "/echo"))->status, 200);  // the client still works
}

TEST(HttpClientTest, TimesOutAgainstAServerThatNeverAnswers) {
  // A listening socket that never accepts: the kernel completes the TCP handshake and
  // buffers the request, and no answer ever comes.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor silent(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = silent.local_endpoint().port();
  auto client = NewClient(Options([](ClientOptions& o) { o.request_timeout = 300ms; }));
  const auto start = std::chrono::steady_clock::now();
  const auto reply = client->Get("http://127.0.0.1:" + std::to_string(port) + "/x");
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code(), ErrorCode::kUnavailable);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
}

TEST(HttpClientTest, ConnectionRefusedIsUnavailable) {
  std::uint16_t port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    port = a.local_endpoint().port();
  }  // closed again: nothing listens there now
  auto client = NewClient();
  const auto reply = client->Get("http://127.0.0.1:" + std::to_string(port) + "/");
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code(), ErrorCode::kUnavailable);
}

TEST(HttpClientTest, RefusesBadUrlsAndHeaders) {
  auto client = NewClient();
  for (const char* url : {"ftp://host/x", "/relative", "http://", "http://user:pw@host/",
                          "http://host:99999/", "http://host:0/", "not a url"}) {
    const auto reply = client->Get(url);
    ASSERT_FALSE(reply) << url;
    EXPECT_EQ(reply.error().code(), ErrorCode::kInvalidArgument) << url;
  }
  ClientRequest injected;
  injected.url = "http://127.0.0.1:1/";
  injected.headers = {{"X-A", "v\r\nX-Injected: 1"}};
  EXPECT_EQ(client->Send(injected).error().code(), ErrorCode::kInvalidArgument);
}

TEST(HttpClientTest, MissingCaFileIsRefusedAtCreation) {
  const auto client = HttpClient::Create(WithCa("/nonexistent/ca.pem"));
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code(), ErrorCode::kInvalidArgument);
}

class TlsTest : public ::testing::Test {
 protected:
  TlsTest()
      : good_(testing::WriteSelfSignedCertificate(dir_.path(), "good", {"localhost"},
                                                  {"127.0.0.1", "::1"})),
        other_(testing::WriteSelfSignedCertificate(dir_.path(), "other", {"other.example"}, {})) {}

  static std::unique_ptr<HttpServer> StartTls(const testing::CertificateFiles& cert) {
    return StartServer(EchoRouter(), [&](ServerOptions& o) {
      o.tls = TlsFiles{cert.certificate_file, cert.private_key_file};
    });
  }

  testing::TempDir dir_;
  testing::CertificateFiles good_;
  testing::CertificateFiles other_;
};

TEST_F(TlsTest, RoundTripWithAPinnedSelfSignedCertificate) {
  auto server = StartTls(good_);
  ASSERT_TRUE(server);
  auto client = NewClient(WithCa(good_.certificate_file));
  for (int i = 0; i < 3; ++i) {  // the second and third reuse the TLS connection
    const auto reply = client->Post(Url(*server, "/echo", true), "over tls", "text/plain");
    ASSERT_TRUE(reply) << reply.error().ToString();
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, "POST /echo over tls");
  }
  // By DNS name too (SNI and name check); "localhost" may resolve to ::1 first, which is
  // refused because the server listens on 127.0.0.1 only, and the client moves on.
  const auto by_name = client->Get(Url(*server, "/echo", true, "localhost"));
  ASSERT_TRUE(by_name) << by_name.error().ToString();
  EXPECT_EQ(by_name->status, 200);
}

TEST_F(TlsTest, UntrustedCertificateIsUnauthenticated) {
  auto server = StartTls(good_);
  ASSERT_TRUE(server);
  // Neither the system store nor another CA vouches for the server.
  for (const std::string& ca : {std::string(), other_.certificate_file}) {
    auto client = NewClient(WithCa(ca));
    const auto reply = client->Get(Url(*server, "/echo", true));
    ASSERT_FALSE(reply) << ca;
    EXPECT_EQ(reply.error().code(), ErrorCode::kUnauthenticated) << reply.error().ToString();
  }
}

TEST_F(TlsTest, CertificateForAnotherHostIsUnauthenticated) {
  auto server = StartTls(other_);
  ASSERT_TRUE(server);
  auto client = NewClient(WithCa(other_.certificate_file));  // trusted, wrong name
  const auto reply = client->Get(Url(*server, "/echo", true));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code(), ErrorCode::kUnauthenticated) << reply.error().ToString();
}

TEST_F(TlsTest, PlainHttpToATlsPortFailsCleanly) {
  auto server = StartTls(good_);
  ASSERT_TRUE(server);
  auto client = NewClient(Options([](ClientOptions& o) { o.request_timeout = 2s; }));
  const auto reply = client->Get(Url(*server, "/echo", false));
  ASSERT_FALSE(reply);
  EXPECT_EQ(reply.error().code(), ErrorCode::kUnavailable);
  // And the server still serves TLS clients.
  auto tls_client = NewClient(WithCa(good_.certificate_file));
  EXPECT_EQ(tls_client->Get(Url(*server, "/echo", true))->status, 200);
}

TEST_F(TlsTest, ServerRefusesAKeyThatDoesNotMatchItsCertificate) {
  ServerOptions options;
  options.tls = TlsFiles{good_.certificate_file, other_.private_key_file};
  const auto server = HttpServer::Start(options, EchoRouter());
  ASSERT_FALSE(server);
  EXPECT_EQ(server.error().code(), ErrorCode::kInvalidArgument);
}

// The TLS private key gets the checks of every key file: owned by us, mode 0600, a regular file
// reached without a symbolic link.
TEST_F(TlsTest, ServerRefusesAPrivateKeyOthersCanReadOrALink) {
  namespace fs = std::filesystem;
  auto start = [&](const std::string& key) {
    ServerOptions options;
    options.tls = TlsFiles{good_.certificate_file, key};
    return HttpServer::Start(options, EchoRouter());
  };
  for (const fs::perms extra : {fs::perms::group_read, fs::perms::others_read}) {
    fs::permissions(good_.private_key_file, fs::perms::owner_read | fs::perms::owner_write | extra,
                    fs::perm_options::replace);
    const auto server = start(good_.private_key_file);
    ASSERT_FALSE(server);
    EXPECT_EQ(server.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(server.error().message().find("chmod 600"), std::string::npos)
        << server.error().message();
  }
  fs::permissions(good_.private_key_file, fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);
  const fs::path link = dir_.path() / "link.key";
  fs::create_symlink(good_.private_key_file, link);
  const auto linked = start(link.string());
  ASSERT_FALSE(linked);
  EXPECT_EQ(linked.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(start(good_.private_key_file + ".missing").error().code(), ErrorCode::kNotFound);
  auto server = start(good_.private_key_file);
  ASSERT_TRUE(server) << server.error().ToString();
}

}  // namespace
}  // namespace medmesh::net
