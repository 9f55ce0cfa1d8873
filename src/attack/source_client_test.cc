// SourceClient against a real net::HttpServer on port 0: the server sees the chosen loopback
// source address, kept-alive connections are reused, bodies round-trip; URL and address
// parsing; a half-sent head is closed by the server's head timeout.
#include "attack/source_client.h"

#include <gtest/gtest.h>

#include <atomic>

#include "core/bytes.h"
#include "net/http_server.h"
#include "net/router.h"

namespace medmesh::attack {
namespace {

class SourceClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    net::Router router;
    router.Get("/who", [this](const net::Request& r) -> Result<net::Response> {
      ++requests_;
      return net::Response::Text(r.peer_address);
    });
    router.Post("/echo", [](const net::Request& r) -> Result<net::Response> {
      return net::Response::Text(std::string(AsStringView(r.body)), 201);
    });
    net::ServerOptions options;
    options.port = 0;
    options.access_log = false;
    options.head_timeout = std::chrono::milliseconds(300);
    auto server = net::HttpServer::Start(std::move(options), std::move(router));
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    target_ = {"127.0.0.1", server_->port()};
  }

  std::unique_ptr<net::HttpServer> server_;
  HttpTarget target_;
  std::atomic<int> requests_{0};
};

TEST_F(SourceClientTest, TheServerSeesTheChosenSourceAddress) {
  SourceClient client(target_, "127.0.0.23", std::chrono::seconds(5));
  for (int i = 0; i < 3; ++i) {
    auto answer = client.Send("GET", "/who");
    ASSERT_TRUE(answer) << answer.error().ToString();
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(answer->body, "127.0.0.23");
  }
  SourceClient plain(target_, "", std::chrono::seconds(5));
  auto answer = plain.Send("GET", "/who");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body, "127.0.0.1");
  EXPECT_EQ(requests_.load(), 4);
}

TEST_F(SourceClientTest, BodiesAndStatusesRoundTrip) {
  SourceClient client(target_, "127.0.0.24", std::chrono::seconds(5));
  auto answer = client.Send("POST", "/echo", "{\"a\":1}", "application/json");
  ASSERT_TRUE(answer) << answer.error().ToString();
  EXPECT_EQ(answer->status, 201);
  EXPECT_EQ(answer->body, "{\"a\":1}");
  auto missing = client.Send("GET", "/nowhere");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(SourceClientTest, AHalfSentHeadIsClosedByTheServer) {
  auto connection = RawConnection::Open(target_, "127.0.0.25", std::chrono::seconds(5));
  ASSERT_TRUE(connection) << connection.error().ToString();
  ASSERT_TRUE(connection->Write("GET /who HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  EXPECT_TRUE(connection->WaitClosed(std::chrono::seconds(30)));
  EXPECT_EQ(requests_.load(), 0);
}

TEST(SourceAddressTest, UrlsAndAddresses) {
  auto t = ParseHttpUrl("http://127.0.0.1:8081/");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 8081);
  EXPECT_EQ(ParseHttpUrl("http://localhost:9")->host, "127.0.0.1");
  EXPECT_FALSE(ParseHttpUrl("https://127.0.0.1:8443"));
  EXPECT_FALSE(ParseHttpUrl("http://127.0.0.1"));
  EXPECT_FALSE(ParseHttpUrl("http://127.0.0.1:0"));
  EXPECT_FALSE(ParseHttpUrl("http://example.org:80"));
  EXPECT_EQ(NextAddress("127.0.0.10", 0).value(), "127.0.0.10");
  EXPECT_EQ(NextAddress("127.0.0.10", 5).value(), "127.0.0.15");
  EXPECT_FALSE(NextAddress("127.0.0.250", 5));
  EXPECT_FALSE(NextAddress("not an address", 1));
}

}  // namespace
}  // namespace medmesh::attack
