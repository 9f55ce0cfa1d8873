// Relaying to the cloud through a trusted peer cloudlet (issue 10; cloudlet/relay.h), in one
// process over loopback HTTP: a real cloud, cloudlet B whose link to it works, and cloudlet A
// whose cloud URL is a closed port. A's queued uploads reach the cloud through B, and B's trust
// at A rises; a broken relay (answers 5xx) keeps A's items queued and loses trust; B refuses
// relay requests that are forged, from cloudlets it is not configured with, or malformed.
#include "cloudlet/relay.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cloud/cloud_service.h"
#include "cloudlet/cloudlet_service.h"
#include "core/bytes.h"
#include "crypto/signing.h"
#include "ids/mesh_report.h"
#include "net/http_server.h"
#include "net/test_support.h"
#include "node/test_support.h"
#include "testing/wait.h"
#include "wire/envelope.h"
#include "wire/receipt.h"

namespace medmesh {
namespace {

using nlohmann::json;
using node::testing::HeartRate;
using node::testing::TestDevice;

Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

// A fake peer's server: one I/O thread, no access log.
std::unique_ptr<net::HttpServer> StartPeerServer(std::string name, net::Router router) {
  net::ServerOptions options;
  options.name = std::move(name);
  options.io_threads = 1;
  options.access_log = false;
  return net::HttpServer::Start(std::move(options), std::move(router)).value();
}

// A fake peer's relay route: opens the relay request (refusing one that does not open) and
// answers `answer`'s response marked as the cloud's, or its error unmarked (the peer's own).
net::Router FakeRelayRoutes(
    const crypto::SigningPublicKey& root,
    std::function<Result<net::Response>(const cloudlet::RelayRequest&)> answer) {
  net::Router router;
  router.Post("/api/v1/relay/{target}",
              [root, answer = std::move(answer)](const net::Request& r) -> Result<net::Response> {
                auto opened = cloudlet::OpenRelayRequest(r.body, root, NowMs());
                if (!opened) return net::ErrorResponse(opened.error());
                auto out = answer(opened->request);
                if (!out) return net::ErrorResponse(out.error());
                out->headers.emplace_back(std::string(cloudlet::kRelayedHeader), "cloud");
                return out;
              });
  return router;
}

// A peer that answers every relay request 503 without passing anything on.
class BrokenRelay {
 public:
  BrokenRelay() {
    net::Router router;
    router.Post("/api/v1/relay/{target}", [this](const net::Request&) -> Result<net::Response> {
      ++calls_;
      return net::Response::Json(R"({"error":"unavailable","message":"down"})", 503);
    });
    server_ = StartPeerServer("broken-relay", std::move(router));
  }
  ~BrokenRelay() { server_->Stop(std::chrono::seconds(1)); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  int calls() const { return calls_.load(); }

 private:
  std::atomic<int> calls_{0};
  std::unique_ptr<net::HttpServer> server_;
};

// A peer that lies: it relays the cloud's certificate, the registration and enrolments like an
// honest relay (so the origin gets as far as sending forwards through it), but answers every
// forward 200 "stored", marked as the cloud's, with a receipt it signed itself (everything
// right but the key), without passing the forward on.
class LyingRelay {
 public:
  LyingRelay(const crypto::SigningPublicKey& root, std::string cloud_url,
             const crypto::SigningSecretKey& own_key)
      : root_(root),
        cloud_url_(std::move(cloud_url)),
        signer_(crypto::NewEd25519Signer(own_key.Clone())) {
    auto answer = [this](const cloudlet::RelayRequest& request) -> Result<net::Response> {
      if (request.target == "forward") {
        ++lies_;
        auto forward = wire::ParseForward(request.body);
        if (!forward) return InvalidArgument("not a forward");
        const std::string forward_id = HexEncode(forward->header.forward_id);
        const Bytes receipt =
            wire::SignReceipt({wire::ReceiptKind::kForward, "cloud", request.origin, forward_id,
                               wire::ReceiptDigest(request.body), NowMs(), request.challenge},
                              *signer_)
                .value();
        return net::Response::Json(
            json{{"forward_id", forward_id}, {"status", "stored"}, {"receipt", HexEncode(receipt)}}
                .dump());
      }
      auto passed = client_->Send(cloudlet::CloudRequestFor(cloud_url_, request));
      if (!passed) return Unavailable("no cloud");
      return passed;
    };
    server_ = StartPeerServer("lying-relay", FakeRelayRoutes(root_, std::move(answer)));
  }
  ~LyingRelay() { server_->Stop(std::chrono::seconds(1)); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  int lies() const { return lies_.load(); }

 private:
  crypto::SigningPublicKey root_;
  std::string cloud_url_;
  std::unique_ptr<crypto::Signer> signer_;
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::atomic<int> lies_{0};
  std::unique_ptr<net::HttpServer> server_;
};

// A peer that replays: it relays honestly, but keeps the cloud's answer to the first enrolment
// push, then answers the first forward with a made-up 409 failed_precondition "from the cloud"
// (so the origin pushes the same enrolment record again) and answers that second push with the
// kept answer (the cloud's genuine receipt of the same bytes) without passing it on. Everything
// after is relayed honestly.
class ReplayingRelay {
 public:
  ReplayingRelay(const crypto::SigningPublicKey& root, std::string cloud_url)
      : root_(root), cloud_url_(std::move(cloud_url)) {
    auto answer = [this](const cloudlet::RelayRequest& request) -> Result<net::Response> {
      std::lock_guard lock(mu_);
      if (request.target == "forward" && kept_ && !provoked_) {
        provoked_ = true;
        return net::ErrorResponse(FailedPrecondition("unknown device"));
      }
      if (request.target == "enrolments" && kept_ && provoked_ && replays_ == 0) {
        ++replays_;
        return *kept_;
      }
      auto passed = client_->Send(cloudlet::CloudRequestFor(cloud_url_, request));
      if (!passed) return Unavailable("no cloud");
      if (request.target == "enrolments" && !kept_) kept_ = *passed;
      return passed;
    };
    server_ = StartPeerServer("replaying-relay", FakeRelayRoutes(root_, std::move(answer)));
  }
  ~ReplayingRelay() { server_->Stop(std::chrono::seconds(1)); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  int replays() const {
    std::lock_guard lock(mu_);
    return replays_;
  }

 private:
  crypto::SigningPublicKey root_;
  std::string cloud_url_;
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  mutable std::mutex mu_;
  std::optional<net::Response> kept_;  // guarded by mu_
  bool provoked_ = false;              // guarded by mu_
  int replays_ = 0;                    // guarded by mu_
  std::unique_ptr<net::HttpServer> server_;
};

class RelayTest : public ::testing::Test {
 protected:
  // Ports below the kernel's ephemeral range (net::testing::RestartablePort): a test that
  // restarts the cloud, or moves it onto the closed port, finds the port still free, where a
  // port from bind(0) can be handed to another test's outgoing connection meanwhile.
  void SetUp() override {
    ASSERT_TRUE(net::testing::UseRestartablePort([this](std::uint16_t port) {
      StartCloud(port, /*may_fail=*/true);
      return cloud_ != nullptr;
    }));
  }

  // The cloud on `port`, with its data kept across restarts. With may_fail, a port that is
  // taken leaves cloud_ empty instead of failing the test.
  void StartCloud(std::uint16_t port, bool may_fail = false) {
    cloud::CloudOptions options;
    options.port = port;
    options.data_dir = dir_.path() / "cloud";
    options.access_log = false;
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud");
    ASSERT_TRUE(identity) << identity.error().ToString();
    cloud::CloudSecrets secrets{std::move(*identity), kek_.Clone(), index_key_.Clone(),
                                pseudonym_key_.Clone(), SecretBytes()};
    auto service =
        cloud::CloudService::Start(std::move(options), std::move(secrets), clock_, random_);
    if (!service && may_fail) return;
    ASSERT_TRUE(service) << service.error().ToString();
    cloud_ = std::move(*service);
    cloud_url_ = "http://127.0.0.1:" + std::to_string(cloud_->port());
    if (!closed_url_.empty()) return;
    // A closed port: a socket bound to it but not listening, held for the whole test, so
    // connections are refused and no other server of a parallel test can take the port.
    closed_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(closed_fd_, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_TRUE(net::testing::UseRestartablePort([&](std::uint16_t candidate) {
      address.sin_port = htons(candidate);
      return ::bind(closed_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    }));
    closed_port_ = ntohs(address.sin_port);
    closed_url_ = "http://127.0.0.1:" + std::to_string(closed_port_);
  }

  // Frees the closed port (for a server that moves onto it).
  void OpenClosedPort() {
    if (closed_fd_ >= 0) ::close(closed_fd_);
    closed_fd_ = -1;
  }
  void TearDown() override { OpenClosedPort(); }

  std::unique_ptr<cloudlet::CloudletService> StartCloudlet(
      const std::string& id, const std::string& cloud_url,
      std::vector<ids::MeshPeerAddress> peers) {
    cloudlet::CloudletOptions options;
    options.data_dir = dir_.path() / id;
    options.access_log = false;
    options.forwarder.cloud_url = cloud_url;
    options.forwarder.poll_interval = std::chrono::milliseconds(50);
    options.forwarder.connect_timeout = std::chrono::milliseconds(500);
    options.forwarder.outage_probe_interval = std::chrono::milliseconds(100);
    options.forward_queue.initial_backoff = std::chrono::milliseconds(50);
    options.forward_queue.max_backoff = std::chrono::milliseconds(200);
    options.backpressure_refresh = std::chrono::milliseconds(0);
    options.ids.mesh.peers = std::move(peers);
    // Every request of the test comes from 127.0.0.1: the refusals the last test provokes on
    // purpose must not get loopback blocked.
    options.ids.detectors.bad_batches_per_source = 1000;
    auto identity = deployment_.Identity(wire::CertificateRole::kCloudlet, id);
    EXPECT_TRUE(identity) << identity.error().ToString();
    if (!identity) return nullptr;
    cloudlet::CloudletSecrets secrets{std::move(*identity),
                                      crypto::KeyEncryptionKey::Generate(random_),
                                      enrol_token_.Clone(), operator_token_.Clone()};
    auto service =
        cloudlet::CloudletService::Start(std::move(options), std::move(secrets), clock_, random_);
    EXPECT_TRUE(service) << service.error().ToString();
    return service ? std::move(*service) : nullptr;
  }

  static std::string Url(const cloudlet::CloudletService& c) {
    return "http://127.0.0.1:" + std::to_string(c.port());
  }

  // A's device uploads `n` readings batches of 30 readings to A.
  void UploadAt(const cloudlet::CloudletService& a, int n) {
    if (!enrolled_) {
      ASSERT_TRUE(device_.Enrol(*client_, Url(a), enrol_token_, deployment_.Root().key));
      enrolled_ = true;
    }
    for (int i = 0; i < n; ++i) {
      auto r = client_->Post(
          Url(a) + "/api/v1/ingest",
          std::string(AsStringView(
              device_.SealReadings(HeartRate(NowMs() - std::int64_t{i} * 60'000, 30)).value())),
          "application/octet-stream");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
    }
  }

  // GET /api/v1/trust/peers at `a` as its operator; null if it fails.
  json PeersAt(const cloudlet::CloudletService& a) {
    net::ClientRequest request;
    request.url = Url(a) + "/api/v1/trust/peers";
    request.headers = {{"Authorization", "Bearer " + node::testing::TokenText(operator_token_)}};
    auto r = client_->Send(request);
    if (!r || r->status != 200) return nullptr;
    const json body = json::parse(r->body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("peers")) return nullptr;
    return body;
  }

  // A's trust in `peer` as its operator sees it (GET /api/v1/trust/peers); null if absent.
  json PeerAt(const cloudlet::CloudletService& a, const std::string& peer) {
    const json body = PeersAt(a);
    if (body.is_null()) return nullptr;
    for (const json& p : body["peers"]) {
      if (p["peer_id"] == peer) return p;
    }
    return nullptr;
  }

  std::optional<std::string> Metric(cloudlet::CloudletService& c, const std::string& name,
                                    const std::map<std::string, std::string>& labels) {
    return net::testing::FindSample(net::testing::ParseExposition(c.metrics().Render()), name,
                                    labels);
  }

  net::Response PostTo(const std::string& url, const Bytes& body) {
    auto r = client_->Post(url, std::string(AsStringView(body)), "application/octet-stream");
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  SystemClock clock_;
  SystemRandom random_;
  crypto::KeyEncryptionKey kek_ = crypto::KeyEncryptionKey::Generate(random_);
  SecretBytes enrol_token_ = node::testing::RandomToken(random_);
  SecretBytes operator_token_ = node::testing::RandomToken(random_);
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  SecretBytes index_key_ = SecretBytes(random_.Generate(32));
  SecretBytes pseudonym_key_ = SecretBytes(random_.Generate(32));
  TestDevice device_{"watch-1", "patient-1", random_, clock_};
  bool enrolled_ = false;
  int closed_fd_ = -1;
  std::uint16_t closed_port_ = 0;
  std::unique_ptr<cloud::CloudService> cloud_;
  std::string cloud_url_;
  std::string closed_url_;
};

TEST_F(RelayTest, QueuedUploadsReachTheCloudThroughATrustedPeerAndItsTrustRises) {
  auto b = StartCloudlet("cloudlet-b", cloud_url_, {{"cloudlet-a", closed_url_, false}});
  ASSERT_TRUE(b);
  auto a = StartCloudlet("cloudlet-a", closed_url_, {{"cloudlet-b", Url(*b), false}});
  ASSERT_TRUE(a);
  UploadAt(*a, 3);

  ASSERT_TRUE(testing::WaitUntil([&] { return cloud_->Stats().value().readings == 90u; }))
      << "readings at the cloud: " << cloud_->Stats().value().readings;
  ASSERT_TRUE(testing::WaitUntil([&] { return a->Stats().forward_queue_depth == 0; }));
  EXPECT_EQ(a->Stats().forwarded, 3u);
  EXPECT_EQ(cloud_->Stats().value().reading_batches, 3u);
  // A's own link is still down: it was delivered by relay, not directly.
  EXPECT_EQ(a->Stats().cloud_link.state, cloudlet::CloudLink::State::kDown);
  ASSERT_TRUE(testing::WaitUntil([&] { return PeerAt(*a, "cloudlet-b").is_object(); }));
  const json peer = PeerAt(*a, "cloudlet-b");
  EXPECT_GE(peer["good"].get<int>(), 1);
  EXPECT_EQ(peer["bad"].get<int>(), 0);
  EXPECT_GT(peer["trust"].get<double>(), 0.5);
  EXPECT_TRUE(peer["partner"].get<bool>());
  // B counted what it passed on: A's certificate, the registration, the enrolment, the forwards
  // (at least the three acknowledged; a forward that overtook the enrolment push is answered
  // 409 by the cloud and sent again after it, as on a direct link).
  for (const char* target : {"certificate", "cloudlets", "enrolments"}) {
    SCOPED_TRACE(target);
    EXPECT_TRUE(Metric(*b, "medmesh_cloudlet_relay_requests_total",
                       {{"target", target}, {"outcome", "relayed"}})
                    .has_value());
  }
  const auto forwards = Metric(*b, "medmesh_cloudlet_relay_requests_total",
                               {{"target", "forward"}, {"outcome", "relayed"}});
  ASSERT_TRUE(forwards.has_value());
  EXPECT_GE(std::stod(*forwards), 3.0);
  EXPECT_EQ(a->Stats().forward_queue_depth, 0u);
}

TEST_F(RelayTest, WhenTheOwnLinkComesBackDirectSendingResumes) {
  auto b = StartCloudlet("cloudlet-b", cloud_url_, {{"cloudlet-a", closed_url_, false}});
  ASSERT_TRUE(b);
  auto a = StartCloudlet("cloudlet-a", closed_url_, {{"cloudlet-b", Url(*b), false}});
  ASSERT_TRUE(a);
  UploadAt(*a, 1);
  ASSERT_TRUE(testing::WaitUntil([&] { return cloud_->Stats().value().readings == 30u; }));
  // Settled at A too (a slow answer could still be retried through B and counted there).
  ASSERT_TRUE(testing::WaitUntil([&] { return a->Stats().forward_queue_depth == 0; }));
  const auto relayed = [&] {
    return Metric(*b, "medmesh_cloudlet_relay_requests_total",
                  {{"target", "forward"}, {"outcome", "relayed"}});
  };
  const auto before = relayed();
  ASSERT_TRUE(before.has_value());
  // The cloud moves to A's port: A's own link works now, B's no longer.
  cloud_->Stop(std::chrono::seconds(1));
  cloud_.reset();
  OpenClosedPort();
  StartCloud(closed_port_);
  ASSERT_TRUE(cloud_);
  UploadAt(*a, 2);
  ASSERT_TRUE(testing::WaitUntil([&] { return cloud_->Stats().value().readings == 90u; }))
      << "readings at the cloud: " << cloud_->Stats().value().readings;
  EXPECT_TRUE(testing::WaitUntil(
      [&] { return a->Stats().cloud_link.state == cloudlet::CloudLink::State::kUp; }));
  // The cloud stores a batch before it answers: A counts it once the answer arrives.
  EXPECT_TRUE(testing::WaitUntil([&] { return a->Stats().forwarded == 3u; }))
      << "forwarded: " << a->Stats().forwarded;
  EXPECT_EQ(relayed(), before);  // the two later ones went directly
  // The operator sees that A relays no longer; the last relay round stays shown.
  EXPECT_TRUE(testing::WaitUntil([&] {
    const json peers = PeersAt(*a);
    return peers.is_object() && !peers["relaying"].get<bool>();
  }));
  EXPECT_EQ(PeersAt(*a)["last_relay"]["peer_id"], "cloudlet-b");
}

TEST_F(RelayTest, ABrokenRelayKeepsTheItemsQueuedLosesTrustAndTheNextPeerDelivers) {
  BrokenRelay broken;
  auto b = StartCloudlet("cloudlet-b", cloud_url_, {{"cloudlet-a", closed_url_, false}});
  ASSERT_TRUE(b);
  // Both peers are untried: the broken one is tried first (configured first).
  auto a = StartCloudlet("cloudlet-a", closed_url_,
                         {{"cloudlet-c", broken.url(), false}, {"cloudlet-b", Url(*b), false}});
  ASSERT_TRUE(a);
  UploadAt(*a, 2);
  ASSERT_TRUE(testing::WaitUntil([&] { return cloud_->Stats().value().readings == 60u; }));
  ASSERT_TRUE(testing::WaitUntil([&] { return a->Stats().forward_queue_depth == 0; }));
  EXPECT_GE(broken.calls(), 1);
  const json c = PeerAt(*a, "cloudlet-c");
  ASSERT_TRUE(c.is_object());
  EXPECT_EQ(c["good"].get<int>(), 0);
  EXPECT_GE(c["bad"].get<int>(), 1);
  EXPECT_LT(c["trust"].get<double>(), 0.5);
  EXPECT_FALSE(c["partner"].get<bool>());
  // The relay round records its peer event when it ends, after its items left the queue.
  EXPECT_TRUE(testing::WaitUntil([&] {
    const json b_at_a = PeerAt(*a, "cloudlet-b");
    return b_at_a.is_object() && b_at_a.value("partner", false);
  }));
  EXPECT_TRUE(Metric(*a, "medmesh_cloudlet_forward_failures_total", {{"reason", "relay_failed"}})
                  .has_value());
}

TEST_F(RelayTest, ALyingRelayIsCaughtByTheCloudsReceiptAndNothingIsLost) {
  auto liar_identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-l");
  ASSERT_TRUE(liar_identity);
  LyingRelay liar(deployment_.Root().key, cloud_url_, liar_identity->signing_key);
  auto b = StartCloudlet("cloudlet-b", cloud_url_, {{"cloudlet-a", closed_url_, false}});
  ASSERT_TRUE(b);
  // Both peers are untried: the liar is tried first (configured first).
  auto a = StartCloudlet("cloudlet-a", closed_url_,
                         {{"cloudlet-l", liar.url(), false}, {"cloudlet-b", Url(*b), false}});
  ASSERT_TRUE(a);
  UploadAt(*a, 2);

  // Both uploads reach the cloud through the honest peer; none was dropped for the liar's 2xx.
  ASSERT_TRUE(testing::WaitUntil([&] { return cloud_->Stats().value().readings == 60u; }))
      << "readings at the cloud: " << cloud_->Stats().value().readings;
  ASSERT_TRUE(testing::WaitUntil([&] { return a->Stats().forward_queue_depth == 0; }));
  EXPECT_GE(liar.lies(), 1);
  EXPECT_EQ(a->Stats().forwarded, 2u);
  EXPECT_EQ(cloud_->Stats().value().reading_batches, 2u);

  // The liar: lost forwards at A, below the floor, no partner; an IDS event and a metric. (A
  // round through it that had only the enrolment to send, before the uploads arrived, counts as
  // good once: the enrolment did reach the cloud. B is tried only once the liar is below 0.5.)
  const json l = PeerAt(*a, "cloudlet-l");
  ASSERT_TRUE(l.is_object());
  EXPECT_LE(l["good"].get<int>(), 1);
  EXPECT_GT(l["bad"].get<int>(), l["good"].get<int>());
  EXPECT_GE(l["evidence"]["forward"]["bad"].get<int>(), 1);
  EXPECT_LT(l["trust"].get<double>(), 0.5);
  EXPECT_FALSE(l["partner"].get<bool>());
  EXPECT_TRUE(
      Metric(*a, "medmesh_cloudlet_forward_failures_total", {{"reason", "relay_bad_receipt"}})
          .has_value());
  EXPECT_GE(a->Stats().ids_events, 1u);

  // The operator sees the relaying and the peer actually used: the honest one, delivered.
  ASSERT_TRUE(testing::WaitUntil([&] {
    const json peers = PeersAt(*a);
    return peers.is_object() && peers["last_relay"].is_object() &&
           peers["last_relay"]["peer_id"] == "cloudlet-b";
  }));
  const json peers = PeersAt(*a);
  EXPECT_TRUE(peers["relaying"].get<bool>());
  EXPECT_EQ(peers["cloud_link"], "down");
  EXPECT_EQ(peers["last_relay"]["outcome"], "delivered");
  EXPECT_GE(peers["last_relay"]["sent"].get<int>(), 1);
  EXPECT_GT(peers["last_relay"]["time_ms"].get<std::int64_t>(), 0);
  EXPECT_EQ(peers["relay"], "cloudlet-b");
}

// A peer that kept the cloud's receipt of an earlier push of the same enrolment record and
// answers a later push with it, without passing it on: the receipt lacks the later attempt's
// challenge (signed by the origin inside the relay request), so it settles nothing; the peer
// is caught as lying, and the record reaches the cloud on a later attempt.
TEST_F(RelayTest, AReceiptAPeerKeptFromAnEarlierAttemptSettlesNothing) {
  ReplayingRelay replayer(deployment_.Root().key, cloud_url_);
  auto b = StartCloudlet("cloudlet-b", cloud_url_, {{"cloudlet-a", closed_url_, false}});
  ASSERT_TRUE(b);
  auto a = StartCloudlet("cloudlet-a", closed_url_,
                         {{"cloudlet-r", replayer.url(), false}, {"cloudlet-b", Url(*b), false}});
  ASSERT_TRUE(a);
  UploadAt(*a, 1);

  ASSERT_TRUE(testing::WaitUntil([&] { return replayer.replays() == 1; }));
  // The replayed receipt was refused as a lie of the relay, not taken for the cloud's.
  ASSERT_TRUE(testing::WaitUntil([&] {
    return Metric(*a, "medmesh_cloudlet_forward_failures_total", {{"reason", "relay_bad_receipt"}})
        .has_value();
  }));
  // Nothing was lost: the upload reaches the cloud, and the queue drains.
  ASSERT_TRUE(testing::WaitUntil([&] { return cloud_->Stats().value().readings == 30u; }))
      << "readings at the cloud: " << cloud_->Stats().value().readings;
  ASSERT_TRUE(testing::WaitUntil([&] { return a->Stats().forward_queue_depth == 0; }));
  EXPECT_EQ(a->Stats().forwarded, 1u);
  const json r = PeerAt(*a, "cloudlet-r");
  ASSERT_TRUE(r.is_object());
  EXPECT_GE(r["bad"].get<int>(), 1);
}

// The cloud restarts with a new key (its id, data and port kept) while a cloudlet whose own
// link is down sends through a peer. The next item is an enrolment (pushed as it is, not
// sealed to the cloud's key): the cloud's receipt for it, under the new key, fails against the
// certificate the cloudlet holds, which it fetches again through the same peer (chained to the
// pinned root) before blaming the peer - so the enrolment settles, the honest relay loses no
// trust, and the new device's readings follow.
TEST_F(RelayTest, AReceiptUnderTheCloudsRotatedKeySettlesThroughTheRelayAfterOneRefetch) {
  auto b = StartCloudlet("cloudlet-b", cloud_url_, {{"cloudlet-a", closed_url_, false}});
  ASSERT_TRUE(b);
  auto a = StartCloudlet("cloudlet-a", closed_url_, {{"cloudlet-b", Url(*b), false}});
  ASSERT_TRUE(a);
  UploadAt(*a, 1);
  ASSERT_TRUE(testing::WaitUntil([&] { return cloud_->Stats().value().readings == 30u; }));
  ASSERT_TRUE(testing::WaitUntil([&] { return a->Stats().forward_queue_depth == 0; }));

  const std::uint16_t port = cloud_->port();
  cloud_.reset();
  // Without its key file the deployment issues the cloud a new key (same id, same root).
  std::filesystem::remove_all(dir_.path() / "pki" / "cloud");
  StartCloud(port);
  ASSERT_EQ(cloud_->port(), port);
  TestDevice second("watch-2", "patient-2", random_, clock_);
  ASSERT_TRUE(second.Enrol(*client_, Url(*a), enrol_token_, deployment_.Root().key));
  ASSERT_TRUE(testing::WaitUntil([&] { return a->Stats().forward_queue_depth == 0; }));
  EXPECT_FALSE(
      Metric(*a, "medmesh_cloudlet_forward_failures_total", {{"reason", "relay_bad_receipt"}})
          .has_value());
  const json peer = PeerAt(*a, "cloudlet-b");
  ASSERT_TRUE(peer.is_object());
  EXPECT_EQ(peer["bad"].get<int>(), 0);
  EXPECT_TRUE(peer["partner"].get<bool>());

  auto r =
      client_->Post(Url(*a) + "/api/v1/ingest",
                    std::string(AsStringView(second.SealReadings(HeartRate(NowMs(), 30)).value())),
                    "application/octet-stream");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_TRUE(testing::WaitUntil([&] { return cloud_->Stats().value().readings == 60u; }))
      << "readings at the cloud: " << cloud_->Stats().value().readings;
  ASSERT_TRUE(testing::WaitUntil([&] { return a->Stats().forward_queue_depth == 0; }));
  EXPECT_EQ(a->Stats().forwarded, 2u);
  EXPECT_EQ(PeerAt(*a, "cloudlet-b")["bad"].get<int>(), 0);
}

// A peer cloudlet's IDS report that the mesh settles here is evidence for the cloudlet's own
// peer trust (the one relays are chosen by): a block of a scope allowlisted here is refuted.
TEST_F(RelayTest, AReportThePeerSentThatTheMeshRefutesLowersItsTrust) {
  auto a = StartCloudlet("cloudlet-a", cloud_url_, {{"cloudlet-b", closed_url_, false}});
  ASSERT_TRUE(a);
  net::ClientRequest allow;
  allow.method = net::Method::kPost;
  allow.url = Url(*a) + "/api/v1/ids/allowlist";
  allow.headers = {{"Authorization", "Bearer " + node::testing::TokenText(operator_token_)}};
  allow.content_type = "application/json";
  allow.body = R"({"scope":"ip","value":"198.51.100.7","note":"our partner's gateway"})";
  auto allowed = client_->Send(allow);
  ASSERT_TRUE(allowed);
  ASSERT_EQ(allowed->status, 201) << allowed->body;

  auto b_identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-b").value();
  const auto b_signer = crypto::NewEd25519Signer(b_identity.signing_key.Clone());
  ids::MeshReport report;
  report.origin = "cloudlet-b";
  report.sequence = 1;
  report.sent_ms = NowMs();
  report.kind = ids::MeshReportKind::kDecision;
  report.decision.id = "0123456789abcdef0123456789abcdef";
  report.decision.origin = report.origin;
  report.decision.detector = "credentials";
  report.decision.detector_version = 1;
  report.decision.scope = {ids::ScopeKind::kIp, "198.51.100.7"};
  report.decision.action = ids::Action::kBlock;
  report.decision.created_ms = report.sent_ms;
  report.decision.expires_ms = report.sent_ms + 600'000;
  const net::Response received =
      PostTo(Url(*a) + "/api/v1/ids/mesh/reports",
             ids::SignMeshReport(report, *b_signer, b_identity.certificate.encoded()).value());
  ASSERT_EQ(received.status, 202) << received.body;

  // Settled when it was received: one refuted report, nothing else.
  const json peer = PeerAt(*a, "cloudlet-b");
  ASSERT_TRUE(peer.is_object());
  EXPECT_EQ(peer["evidence"]["report"], (json{{"good", 0}, {"bad", 1}}));
  EXPECT_EQ(peer["evidence"]["forward"], (json{{"good", 0}, {"bad", 0}}));
  EXPECT_EQ(peer["bad"], 1);
  EXPECT_LT(peer["trust"].get<double>(), 0.5);
  EXPECT_FALSE(peer["partner"].get<bool>());
}

TEST_F(RelayTest, WithOnlyABrokenRelayEverythingStaysQueuedAndItIsNoLongerTried) {
  BrokenRelay broken;
  auto a = StartCloudlet("cloudlet-a", closed_url_, {{"cloudlet-c", broken.url(), false}});
  ASSERT_TRUE(a);
  UploadAt(*a, 2);
  ASSERT_TRUE(testing::WaitUntil([&] {
    const json c = PeerAt(*a, "cloudlet-c");
    return c.is_object() && c["bad"].get<int>() >= 1;
  }));
  // One failed relay puts its trust below the floor: no further relay round tries it. Rounds
  // still run (the probe of the closed port fails each 100 ms).
  const int calls = broken.calls();
  const auto probes = [&] {
    return Metric(*a, "medmesh_cloudlet_forward_failures_total", {{"reason", "relay_failed"}});
  };
  ASSERT_TRUE(probes().has_value());
  EXPECT_EQ(a->Stats().forward_queue_depth, 3u);  // the enrolment push and two uploads
  EXPECT_EQ(a->Stats().forwarded, 0u);
  EXPECT_EQ(cloud_->Stats().value().readings, 0u);
  EXPECT_LT(PeerAt(*a, "cloudlet-c")["trust"].get<double>(), 0.5);
  ASSERT_TRUE(a->ForwardNow());  // a whole round more, under the round lock
  ASSERT_TRUE(a->ForwardNow());
  EXPECT_EQ(broken.calls(), calls);
  EXPECT_EQ(a->Stats().forward_queue_depth, 3u);
}

TEST_F(RelayTest, ThePeerRefusesForgedUnconfiguredAndMalformedRelayRequests) {
  auto b = StartCloudlet("cloudlet-b", cloud_url_, {{"cloudlet-a", closed_url_, false}});
  ASSERT_TRUE(b);
  const std::string base = Url(*b) + "/api/v1/relay/";
  auto a_identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-a").value();
  auto x_identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-x").value();
  const auto a_signer = crypto::NewEd25519Signer(a_identity.signing_key.Clone());
  const auto x_signer = crypto::NewEd25519Signer(x_identity.signing_key.Clone());
  const auto sign = [&](const std::string& origin, const std::string& target, std::int64_t at,
                        const crypto::Signer& signer, const node::NodeIdentity& who) {
    return cloudlet::SignRelayRequest({origin, target, at, {}, std::nullopt}, signer,
                                      who.certificate.encoded())
        .value();
  };

  // A genuine request of a configured peer is passed on: the cloud's certificate.
  const net::Response ok = PostTo(
      base + "certificate", sign("cloudlet-a", "certificate", NowMs(), *a_signer, a_identity));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Header(cloudlet::kRelayedHeader), std::optional<std::string_view>("cloud"));

  // Signed by another key than the certificate's: 401.
  EXPECT_EQ(PostTo(base + "certificate",
                   sign("cloudlet-a", "certificate", NowMs(), *x_signer, a_identity))
                .status,
            401);
  // Signed for another target than the path's: 401.
  EXPECT_EQ(
      PostTo(base + "cloudlets", sign("cloudlet-a", "certificate", NowMs(), *a_signer, a_identity))
          .status,
      401);
  // Stale: 401.
  EXPECT_EQ(PostTo(base + "certificate",
                   sign("cloudlet-a", "certificate", NowMs() - 3'600'000, *a_signer, a_identity))
                .status,
            401);
  // Genuine, but from a cloudlet B does not relay for: 403.
  const net::Response stranger = PostTo(
      base + "certificate", sign("cloudlet-x", "certificate", NowMs(), *x_signer, x_identity));
  EXPECT_EQ(stranger.status, 403);
  EXPECT_FALSE(stranger.Header(cloudlet::kRelayedHeader).has_value());
  // Malformed: garbage, an empty body, an unknown target, a truncated envelope.
  Bytes genuine = sign("cloudlet-a", "certificate", NowMs(), *a_signer, a_identity);
  EXPECT_EQ(PostTo(base + "forward", ToBytes("not an envelope")).status, 400);
  EXPECT_EQ(PostTo(base + "forward", Bytes{}).status, 400);
  EXPECT_EQ(PostTo(base + "status", genuine).status, 400);
  genuine.resize(genuine.size() - 1);
  EXPECT_EQ(PostTo(base + "certificate", genuine).status, 400);
  // Over the limit: 413 before the handler.
  EXPECT_EQ(PostTo(base + "forward", Bytes(cloudlet::RelayEnvelopeLimit() + 1, 'x')).status, 413);

  // Counted, and IDS events written.
  EXPECT_EQ(Metric(*b, "medmesh_cloudlet_relay_requests_total",
                   {{"target", "certificate"}, {"outcome", "forged"}}),
            "2");
  EXPECT_EQ(Metric(*b, "medmesh_cloudlet_relay_requests_total",
                   {{"target", "certificate"}, {"outcome", "not_a_peer"}}),
            "1");
  EXPECT_GE(b->Stats().ids_events, 8u);
}

// The choice, by hand: partners by trust, then peers at or above the floor, then untried ones
// in configured order; the cloud's entry is never configured here, and a peer below the floor
// or not configured is never chosen.
TEST(RelayCandidatesTest, PartnersFirstThenNeutralThenUntriedNeverDistrusted) {
  const std::vector<cloudlet::RelayPeer> configured = {
      {"p-untried-1", "u1"}, {"p-bad", "b"},        {"p-neutral", "n"},
      {"p-partner-2", "q2"}, {"p-untried-2", "u2"}, {"p-partner-1", "q1"}};
  const std::vector<cloudlet::RankedPeer> ranked = {{"p-partner-1", 0.9, true},
                                                    {"p-partner-2", 0.7, true},
                                                    {"not-configured", 0.95, true},
                                                    {"p-neutral", 0.55, false},
                                                    {"p-bad", 0.33, false}};
  std::vector<std::string> order;
  for (const auto& p : cloudlet::RelayCandidates(configured, ranked)) order.push_back(p.id);
  EXPECT_EQ(order, (std::vector<std::string>{"p-partner-1", "p-partner-2", "p-neutral",
                                             "p-untried-1", "p-untried-2"}));
  EXPECT_TRUE(cloudlet::RelayCandidates({{"p-bad", "b"}}, ranked).empty());
  EXPECT_TRUE(cloudlet::RelayCandidates({}, ranked).empty());
}

}  // namespace
}  // namespace medmesh
