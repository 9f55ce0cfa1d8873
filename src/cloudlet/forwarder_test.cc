// The forwarder against a scriptable fake cloud: a real net::HttpServer on a loopback port that
// serves a real cloud certificate, opens every forward with the cloud's key (as the cloud does)
// and answers per a script. The cloudlet side is real too (stores in a temp folder, uploads
// through the IngestPipeline); time is a FakeClock, and rounds are driven with RunOnce().
#include "cloudlet/forwarder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cloudlet/device_registry.h"
#include "cloudlet/ingest.h"
#include "cloudlet/ingest_ledger.h"
#include "cloudlet/internal/cloudlet_metrics.h"
#include "cloudlet/internal/forward_item.h"
#include "crypto/hybrid_seal.h"
#include "crypto/keyed_hash.h"
#include "crypto/session_seal.h"
#include "net/error_mapping.h"
#include "net/http_server.h"
#include "net/metrics.h"
#include "net/router.h"
#include "net/test_support.h"
#include "node/test_support.h"
#include "store/ids_event_log.h"
#include "store/reading_store.h"
#include "store/sqlite_wrapped_key_store.h"
#include "testing/fake_clock.h"
#include "testing/wait.h"
#include "wire/enrolment.h"
#include "wire/envelope.h"
#include "wire/model.h"
#include "wire/receipt.h"

namespace medmesh::cloudlet {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kCloudletId[] = "cloudlet-1";

// A cloud that answers per a script. Every request is logged as "METHOD /path". By default:
// the root and the current cloud certificate, 200 to registrations and enrolments, and to a
// forward 200 "stored" if it opens with the current cloud key (else 401, as the cloud does).
// Scripted answers for a path are used first, one per request, in order. Every 2xx JSON
// object answered to a registration, enrolment or forward gets the cloud's receipt of that
// request (wire/receipt.h, signed with the current identity's key), as the real cloud's do,
// unless it has one already or SignReceipts(false).
class FakeCloud {
 public:
  FakeCloud(const node::RootOfTrust& root, node::NodeIdentity identity,
            const wire::VerifiedCertificate& cloudlet, const DeviceRegistry& devices)
      : root_(root), cloudlet_(cloudlet), devices_(devices) {
    UseIdentity(std::move(identity));
  }
  ~FakeCloud() { Stop(); }

  // Starts serving on `port` (0: a free one). False if it cannot bind.
  bool Start(std::uint16_t port = 0) {
    net::ServerOptions options;
    options.name = "fake-cloud";
    options.port = port;
    options.io_threads = 1;
    options.access_log = false;
    auto server = net::HttpServer::Start(std::move(options), Routes());
    if (!server) return false;
    server_ = std::move(*server);
    port_ = server_->port();
    return true;
  }
  void Stop() {
    if (server_) server_->Stop(seconds(1));
    server_.reset();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const { return port_; }

  // The cloud's identity from now on: the certificate it serves and the key it opens with.
  void UseIdentity(node::NodeIdentity identity) {
    std::lock_guard lock(mu_);
    const ByteView encoded = identity.certificate.encoded();
    certificate_.assign(encoded.begin(), encoded.end());
    opener_ = crypto::NewHybridOpener(identity.kem_key.Clone());
    signer_ = crypto::NewEd25519Signer(identity.signing_key.Clone());
    cloud_id_ = identity.id();
    ++generation_;
  }

  // The next request to `path` gets this answer instead of the default one.
  void Script(const std::string& path, net::Response answer) {
    std::lock_guard lock(mu_);
    script_[path].push_back(std::move(answer));
  }
  // Every later request to `path` gets this answer (until Script or a new Always).
  void Always(const std::string& path, net::Response answer) {
    std::lock_guard lock(mu_);
    always_[path] = std::move(answer);
  }
  // A middleman on `path`: the next request reaches the cloud, but its (receipted) answer is
  // kept and 503 answered instead; the request after it does not reach the cloud and gets the
  // kept answer, receipt and all.
  void ReplayNext(const std::string& path) {
    std::lock_guard lock(mu_);
    replay_[path] = std::nullopt;
  }
  // Whether 2xx answers get receipts (see the class comment).
  void SignReceipts(bool sign) {
    std::lock_guard lock(mu_);
    sign_receipts_ = sign;
  }
  void ClearAlways() {
    std::lock_guard lock(mu_);
    always_.clear();
  }

  std::vector<std::string> TakeRequests() {
    std::lock_guard lock(mu_);
    return std::exchange(requests_, {});
  }
  // Forward ids the cloud opened and stored, with the identity generation that opened each.
  std::vector<std::pair<std::string, int>> stored() const {
    std::lock_guard lock(mu_);
    return stored_;
  }

 private:
  std::optional<net::Response> Scripted(const std::string& path) {
    if (auto it = script_.find(path); it != script_.end() && !it->second.empty()) {
      net::Response answer = std::move(it->second.front());
      it->second.pop_front();
      return answer;
    }
    if (auto it = always_.find(path); it != always_.end()) return it->second;
    return std::nullopt;
  }

  net::Router Routes() {
    net::Router router;
    auto route = [this](const std::function<net::Response(const net::Request&)>& fallback) {
      return [this, fallback](const net::Request& r) -> Result<net::Response> {
        const std::string path(r.path);
        std::optional<net::Response> scripted;
        bool keep = false;
        {
          std::lock_guard lock(mu_);
          requests_.push_back(std::string(net::MethodName(r.method)) + " " + path);
          if (auto it = replay_.find(path); it != replay_.end()) {
            if (it->second) {
              net::Response kept = std::move(*it->second);
              replay_.erase(it);
              return kept;
            }
            keep = true;
          }
          scripted = Scripted(path);
        }
        net::Response answer = WithReceipt(r, scripted ? std::move(*scripted) : fallback(r));
        if (!keep) return answer;
        std::lock_guard lock(mu_);
        replay_[path] = std::move(answer);
        return net::Response::Json(R"({"error":"unavailable","message":"lost"})", 503);
      };
    };
    router.Get("/api/v1/root", route([this](const net::Request&) {
                 return net::Response::Binary(root_.certificate);
               }));
    router.Get("/api/v1/certificate", route([this](const net::Request&) {
                 std::lock_guard lock(mu_);
                 return net::Response::Binary(certificate_);
               }));
    router.Post("/api/v1/cloudlets", route([](const net::Request&) {
                  return net::Response::Json(R"({"status":"registered"})");
                }));
    router.Post("/api/v1/enrolments", route([](const net::Request&) {
                  return net::Response::Json(R"({"status":"stored"})");
                }));
    router.Post("/api/v1/forward",
                route([this](const net::Request& r) { return OpenForward(r.body); }));
    router.Get("/readyz", route([](const net::Request&) { return net::Response::Text("ready"); }));
    return router;
  }

  // `answer` with the receipt of `r` added (see the class comment).
  net::Response WithReceipt(const net::Request& r, net::Response answer) {
    std::lock_guard lock(mu_);
    if (!sign_receipts_ || answer.status < 200 || answer.status >= 300) return answer;
    auto body = nlohmann::json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || body.contains("receipt")) return answer;
    wire::Receipt receipt{wire::ReceiptKind::kForward,
                          cloud_id_,
                          cloudlet_.certificate().subject_id,
                          {},
                          wire::ReceiptDigest(r.body),
                          1'700'000'000'000,
                          std::nullopt};
    // The challenge of this attempt, as the real cloud copies it (none: a version 1 receipt).
    if (auto challenge = r.Header(wire::kReceiptChallengeHeader)) {
      auto parsed = wire::ParseReceiptChallenge(*challenge);
      if (!parsed) return net::ErrorResponse(parsed.error());
      receipt.challenge = *parsed;
    }
    if (r.path == "/api/v1/cloudlets") {
      receipt.kind = wire::ReceiptKind::kCloudlet;
      receipt.subject_id = receipt.origin_id;
    } else if (r.path == "/api/v1/enrolments") {
      auto parsed = wire::ParseEnrolment(r.body);
      if (!parsed) return answer;
      receipt.kind = wire::ReceiptKind::kEnrolment;
      receipt.subject_id = parsed->enrolment.device_id;
    } else if (r.path == "/api/v1/forward") {
      auto parsed = wire::ParseForward(r.body);
      if (!parsed) return answer;
      receipt.subject_id = HexEncode(parsed->header.forward_id);
    } else {
      return answer;
    }
    body["receipt"] = HexEncode(wire::SignReceipt(receipt, *signer_).value());
    answer.body = body.dump();
    return answer;
  }

  net::Response OpenForward(ByteView body) {
    auto parsed = wire::ParseForward(body);
    if (!parsed) return net::ErrorResponse(InvalidArgument("malformed forward"));
    std::lock_guard lock(mu_);
    auto opened = wire::OpenForward(*parsed, cloudlet_, *opener_,
                                    [this](const wire::UploadHeader& h) -> Result<wire::Enrolment> {
                                      auto device = devices_.Find(h.device_id);
                                      if (!device) return FailedPrecondition("unknown device");
                                      return device->enrolment;
                                    });
    if (!opened) return net::ErrorResponse(Unauthenticated("the forward did not open"));
    stored_.emplace_back(HexEncode(parsed->header.forward_id), generation_);
    return net::Response::Json(R"({"status":"stored"})");
  }

  const node::RootOfTrust& root_;
  const wire::VerifiedCertificate& cloudlet_;
  const DeviceRegistry& devices_;
  mutable std::mutex mu_;
  Bytes certificate_;                                        // guarded by mu_
  std::unique_ptr<crypto::HybridOpener> opener_;             // guarded by mu_
  std::unique_ptr<crypto::Signer> signer_;                   // guarded by mu_
  std::string cloud_id_;                                     // guarded by mu_
  bool sign_receipts_ = true;                                // guarded by mu_
  int generation_ = 0;                                       // guarded by mu_
  std::map<std::string, std::deque<net::Response>> script_;  // guarded by mu_
  std::map<std::string, net::Response> always_;              // guarded by mu_
  std::vector<std::string> requests_;                        // guarded by mu_
  std::vector<std::pair<std::string, int>> stored_;          // guarded by mu_

  // Guarded by mu_: per path, armed (nullopt) or the kept answer to replay (ReplayNext).
  std::map<std::string, std::optional<net::Response>> replay_;
  std::unique_ptr<net::HttpServer> server_;
  std::uint16_t port_ = 0;
};

// The cloudlet's signer, which throws std::bad_alloc while armed: an exception from deep inside
// a round (signing happens in the middle of sending a forward).
class ThrowingSigner final : public crypto::Signer {
 public:
  explicit ThrowingSigner(const crypto::Signer& real) : real_(real) {}
  Bytes Sign(ByteView message) const override {
    if (armed.load()) throw std::bad_alloc();
    return real_.Sign(message);
  }
  const crypto::SigningPublicKey& public_key() const override { return real_.public_key(); }
  std::atomic<bool> armed{false};

 private:
  const crypto::Signer& real_;
};

net::Response Refusal(int status, std::string_view error) {
  return net::JsonErrorResponse(status, error, "refused by the fake cloud");
}

class ForwarderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cloudlet = deployment_.Identity(wire::CertificateRole::kCloudlet, kCloudletId);
    ASSERT_TRUE(cloudlet) << cloudlet.error().ToString();
    cloudlet_.emplace(std::move(*cloudlet));
    signer_ = crypto::NewEd25519Signer(cloudlet_->signing_key.Clone());
    throwing_signer_ = std::make_unique<ThrowingSigner>(*signer_);

    const auto path = [&](const char* file) { return (dir_.path() / file).string(); };
    keys_ = store::SqliteWrappedKeyStore::Open(path("keys.db")).value();
    envelope_ = std::make_unique<crypto::EnvelopeAead>(crypto::KeyEncryptionKey::Generate(random_),
                                                       *keys_, random_);
    readings_ = store::ReadingStore::Open(path("readings.db"), *envelope_, clock_).value();
    store::QueueOptions queue_options;
    queue_options.initial_backoff = kBackoff;
    queue_options.max_backoff = kBackoff;
    queue_ = store::ForwardQueue::Open(path("forward.db"), clock_, random_, queue_options).value();
    ids_ = store::IdsEventLog::Open(path("ids.db")).value();
    devices_ = DeviceRegistry::Open(path("cloudlet.db")).value();
    ledger_ =
        IngestLedger::Open(path("cloudlet.db"),
                           crypto::HashKey::FromBytes(Bytes(crypto::HashKey::kBytes, 7)).value())
            .value();
    sessions_ = std::make_unique<crypto::SessionOpener>(cloudlet_->kem_key.Clone(), clock_);
    pressure_ = std::make_unique<internal::PressureMonitor>(*queue_, clock_, metrics_,
                                                            std::chrono::milliseconds(0));
    pipeline_ = std::make_unique<IngestPipeline>(IngestContext{kCloudletId,
                                                               *devices_,
                                                               *ledger_,
                                                               *readings_,
                                                               *queue_,
                                                               *ids_,
                                                               *envelope_,
                                                               *sessions_,
                                                               clock_,
                                                               metrics_,
                                                               counters_,
                                                               *pressure_,
                                                               {}});

    auto cloud = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-1");
    ASSERT_TRUE(cloud) << cloud.error().ToString();
    cloud_.emplace(root_, std::move(*cloud), cloudlet_->certificate, *devices_);
    // A port below the kernel's ephemeral range (net::testing::RestartablePort): the outage
    // tests stop the fake cloud and start it again on the same port, which a port from
    // bind(0) could meanwhile be to another test's outgoing connection.
    ASSERT_TRUE(net::testing::UseRestartablePort(
        [this](std::uint16_t port) { return cloud_->Start(port); }));
  }

  void TearDown() override {
    if (forwarder_) forwarder_->Stop();
  }

  ForwarderOptions Options() {
    ForwarderOptions options;
    options.cloud_url = cloud_->url();
    options.poll_interval = milliseconds(10);
    options.connect_timeout = seconds(5);
    options.request_timeout = seconds(10);
    options.outage_probe_interval = kProbeInterval;
    options.certificate_refresh = kCertificateRefresh;
    return options;
  }

  Forwarder& forwarder() {
    if (!forwarder_) {
      ForwarderContext context{kCloudletId,       root_,      cloudlet_->certificate.encoded(),
                               *throwing_signer_, *queue_,    *devices_,
                               *ledger_,          *envelope_, clock_,
                               random_,           metrics_,   counters_,
                               *pressure_};
      auto created = Forwarder::Create(std::move(context), Options());
      EXPECT_TRUE(created) << created.error().ToString();
      forwarder_ = std::move(*created);
    }
    return *forwarder_;
  }

  ForwardRound Round() {
    auto round = forwarder().RunOnce();
    EXPECT_TRUE(round) << round.error().ToString();
    return round ? *round : ForwardRound{};
  }

  // Enrols a device as the cloudlet's enrol endpoint does: the record is stored and its push to
  // the cloud queued.
  std::unique_ptr<node::testing::TestDevice> Enrol(const std::string& device_id) {
    auto device = std::make_unique<node::testing::TestDevice>(device_id, "patient-" + device_id,
                                                              random_, clock_);
    device->UseCloudlet(cloudlet_->kem_key.public_key());
    const wire::Enrolment enrolment{device_id, device->patient_id(), device->signer().public_key(),
                                    kCloudletId, NowMs()};
    const Bytes record = wire::IssueEnrolment(enrolment, *signer_).value();
    EXPECT_TRUE(devices_->Enrol(enrolment, record));
    EXPECT_TRUE(queue_->Enqueue(internal::EnrolmentItemId(device_id), record));
    return device;
  }

  // Accepts one readings upload from `device` and returns its forward id (hex).
  std::string Upload(node::testing::TestDevice& device) {
    const Bytes upload = device.SealReadings(node::testing::HeartRate(NowMs(), 10)).value();
    const IngestResult result = pipeline_->Ingest(upload, "127.0.0.1");
    EXPECT_TRUE(std::holds_alternative<IngestAck>(result));
    return HexEncode(
        internal::DeriveForwardId(kCloudletId, device.device_id(), device.last_batch_id()));
  }
  static std::string ItemId(const std::string& forward_id) { return "u." + forward_id; }

  std::int64_t NowMs() const { return wire::ToUnixMs(clock_.Now()); }

  // A metric's value now (0 if it has no sample yet), read through the exposition parser.
  double Metric(std::string_view name, const std::map<std::string, std::string>& labels = {}) {
    const net::testing::Exposition exposition = net::testing::ParseExposition(registry_.Render());
    EXPECT_TRUE(exposition.errors.empty());
    const auto value = net::testing::FindSample(exposition, name, labels);
    return value ? std::stod(*value) : 0.0;
  }
  double Failures(const std::string& reason) {
    return Metric("medmesh_cloudlet_forward_failures_total", {{"reason", reason}});
  }

  std::uint64_t QueueCount() { return queue_->Stats().value().count; }
  std::string LastError(const std::string& item_id) {
    auto error = queue_->LastError(item_id);
    return error ? *error : "<" + error.error().ToString() + ">";
  }
  std::vector<std::string> Stored() {
    std::vector<std::string> ids;
    for (const auto& [id, generation] : cloud_->stored()) ids.push_back(id);
    return ids;
  }

  // Makes every item that backs off due again.
  void PassBackoff() { clock_.Advance(kBackoff + milliseconds(1)); }

  // Longer than the probe interval, so that only the probe can explain items sent early.
  static constexpr milliseconds kBackoff{60'000};
  static constexpr milliseconds kProbeInterval{5000};
  static constexpr milliseconds kCertificateRefresh{std::chrono::minutes(10)};

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  node::RootOfTrust root_ = deployment_.Root();
  testing::FakeClock clock_{std::chrono::system_clock::now()};
  SystemRandom random_;
  std::optional<node::NodeIdentity> cloudlet_;
  std::unique_ptr<crypto::Signer> signer_;
  std::unique_ptr<ThrowingSigner> throwing_signer_;
  net::MetricsRegistry registry_;
  internal::CloudletMetrics metrics_{registry_};
  internal::CloudletCounters counters_;
  std::unique_ptr<store::SqliteWrappedKeyStore> keys_;
  std::unique_ptr<crypto::EnvelopeAead> envelope_;
  std::unique_ptr<store::ReadingStore> readings_;
  std::unique_ptr<store::ForwardQueue> queue_;
  std::unique_ptr<store::IdsEventLog> ids_;
  std::unique_ptr<DeviceRegistry> devices_;
  std::unique_ptr<IngestLedger> ledger_;
  std::unique_ptr<crypto::SessionOpener> sessions_;
  std::unique_ptr<internal::PressureMonitor> pressure_;
  std::unique_ptr<IngestPipeline> pipeline_;
  std::optional<FakeCloud> cloud_;
  std::unique_ptr<Forwarder> forwarder_;
};

const std::vector<std::string> kFirstContact = {"GET /api/v1/root", "GET /api/v1/certificate",
                                                "POST /api/v1/cloudlets"};

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

TEST_F(ForwarderTest, SendsTheEnrolmentFirstThenTheUploadsAndCountsThem) {
  auto device = Enrol("watch-1");
  const std::string a = Upload(*device);
  const std::string b = Upload(*device);
  clock_.Advance(seconds(2));

  const ForwardRound round = Round();
  EXPECT_EQ(round.sent, 3u);
  EXPECT_EQ(round.failed, 0u);
  EXPECT_TRUE(round.cloud_reachable);
  EXPECT_EQ(cloud_->TakeRequests(),
            Concat(kFirstContact,
                   {"POST /api/v1/enrolments", "POST /api/v1/forward", "POST /api/v1/forward"}));
  // The cloud opened both forwards with its key and checked the device's evidence.
  EXPECT_EQ(Stored(), (std::vector<std::string>{a, b}));
  EXPECT_EQ(QueueCount(), 0u);
  EXPECT_EQ(counters_.forwarded.load(), 2u);  // uploads only, not the enrolment push
  EXPECT_EQ(Metric("medmesh_cloudlet_forwarded_total", {{"status", "stored"}}), 2.0);
  EXPECT_EQ(Metric("medmesh_cloudlet_forward_latency_seconds_count"), 2.0);
  EXPECT_GE(Metric("medmesh_cloudlet_forward_latency_seconds_sum"), 4.0);  // 2 s each
  EXPECT_EQ(Metric("medmesh_cloudlet_forward_queue_depth"), 0.0);

  // The next round finds nothing to do and asks the cloud nothing.
  EXPECT_EQ(Round().sent, 0u);
  EXPECT_TRUE(cloud_->TakeRequests().empty());
}

TEST_F(ForwarderTest, AnyTwoHundredWithTheCloudsReceiptAcknowledgesAndADuplicateIsCounted) {
  auto device = Enrol("watch-1");
  Upload(*device);
  Upload(*device);
  // The fake cloud adds its receipt to both.
  cloud_->Script("/api/v1/forward", net::Response::Json(R"({"status":"duplicate"})"));
  cloud_->Script("/api/v1/forward", net::Response::Json("{}", 202));  // no status

  const ForwardRound round = Round();
  EXPECT_EQ(round.sent, 3u);
  EXPECT_EQ(QueueCount(), 0u);
  EXPECT_EQ(counters_.forwarded.load(), 2u);
  EXPECT_EQ(Metric("medmesh_cloudlet_forwarded_total", {{"status", "duplicate"}}), 1.0);
  EXPECT_EQ(Metric("medmesh_cloudlet_forwarded_total", {{"status", "stored"}}), 1.0);
}

// A 2xx is the cloud's acknowledgement only with the cloud's receipt of exactly that request:
// without one, with a forged one or with the receipt of another item, the item stays queued,
// the round ends; the cloud's certificate is fetched again at once and the receipt checked once
// more (the cloud may have rotated its key).
TEST_F(ForwarderTest, ATwoHundredWithoutAValidReceiptSettlesNothing) {
  auto device = Enrol("watch-1");
  const std::string first = Upload(*device);
  ASSERT_EQ(Round().sent, 2u);
  cloud_->TakeRequests();
  const std::string held = Upload(*device);
  const std::string other = Upload(*device);

  // A receipt for the right item, but signed by another key than the cloud's.
  auto impostor = deployment_.Identity(wire::CertificateRole::kCloudlet, "impostor");
  ASSERT_TRUE(impostor);
  const Bytes forged =
      wire::SignReceipt({wire::ReceiptKind::kForward, "cloud-1", kCloudletId, held,
                         wire::ReceiptDigest(Bytes{}), 1'700'000'000'000, std::nullopt},
                        *crypto::NewEd25519Signer(impostor->signing_key.Clone()))
          .value();
  // No body; the forged receipt; a receipt that is not even hex.
  cloud_->SignReceipts(false);
  cloud_->Script("/api/v1/forward", net::Response::Json("", 202));  // no body at all
  cloud_->Script("/api/v1/forward", net::Response::Json(R"({"status":"stored","receipt":")" +
                                                        HexEncode(forged) + R"("})"));
  cloud_->Script("/api/v1/forward", net::Response::Json(R"({"status":"stored","receipt":"zz"})"));
  for (int attempt = 1; attempt <= 3; ++attempt) {
    SCOPED_TRACE(attempt);
    const ForwardRound round = Round();
    EXPECT_EQ(round.sent, 0u);
    EXPECT_EQ(round.failed, 2u);  // the one answered and the one not tried
    EXPECT_TRUE(round.cloud_reachable);
    EXPECT_EQ(QueueCount(), 2u);
    EXPECT_EQ(LastError(ItemId(held)), "bad_receipt");
    EXPECT_EQ(Failures("bad_receipt"), static_cast<double>(attempt));
    // The certificate is fetched again at once.
    EXPECT_EQ(cloud_->TakeRequests(),
              (std::vector<std::string>{"POST /api/v1/forward", "GET /api/v1/root",
                                        "GET /api/v1/certificate"}));
    PassBackoff();
  }
  EXPECT_EQ(counters_.forwarded.load(), 1u);
  EXPECT_EQ(ledger_->Counts().value().dead_letters, 0u);

  // With the cloud's receipts again, both are delivered: nothing was lost.
  cloud_->SignReceipts(true);
  const ForwardRound round = Round();
  EXPECT_EQ(round.sent, 2u);
  EXPECT_EQ(QueueCount(), 0u);
  std::vector<std::string> stored = Stored();
  std::sort(stored.begin() + 1, stored.end());  // the two retried ones in either order
  std::vector<std::string> expected = {first, held, other};
  std::sort(expected.begin() + 1, expected.end());
  EXPECT_EQ(stored, expected);
}

// The registration needs the cloud's receipt too: without one nothing is sent.
TEST_F(ForwarderTest, ARegistrationWithoutAReceiptIsNotTakenForOne) {
  auto device = Enrol("watch-1");
  Upload(*device);
  cloud_->SignReceipts(false);
  const ForwardRound refused = Round();
  EXPECT_EQ(refused.sent, 0u);
  EXPECT_EQ(QueueCount(), 2u);
  EXPECT_EQ(cloud_->TakeRequests(),
            Concat(kFirstContact, {"GET /api/v1/root", "GET /api/v1/certificate"}));
  cloud_->SignReceipts(true);
  PassBackoff();
  EXPECT_EQ(Round().sent, 2u);
  EXPECT_EQ(cloud_->TakeRequests(),
            (std::vector<std::string>{"POST /api/v1/cloudlets", "POST /api/v1/enrolments",
                                      "POST /api/v1/forward"}));
}

// An enrolment record is the same bytes on every attempt: a receipt kept from an earlier
// attempt (the cloud's genuine signature, the right digest) must not settle a later one that
// never reached the cloud. Each attempt sends a fresh challenge the receipt must carry.
TEST_F(ForwarderTest, AReceiptReplayedFromAnEarlierAttemptSettlesNothing) {
  auto device = Enrol("watch-1");
  Upload(*device);
  cloud_->ReplayNext("/api/v1/enrolments");
  // The first attempt reaches the cloud, but its answer is kept by the middleman (503).
  EXPECT_EQ(Round().sent, 0u);
  EXPECT_EQ(LastError("e.watch-1"), "cloud_error");
  cloud_->TakeRequests();
  PassBackoff();
  // The second attempt gets the first attempt's answer: refused, the items stay queued.
  const ForwardRound replayed = Round();
  EXPECT_EQ(replayed.sent, 0u);
  EXPECT_EQ(QueueCount(), 2u);
  EXPECT_EQ(LastError("e.watch-1"), "bad_receipt");
  EXPECT_EQ(Failures("bad_receipt"), 1.0);
  EXPECT_EQ(cloud_->TakeRequests(),
            (std::vector<std::string>{"POST /api/v1/enrolments", "GET /api/v1/root",
                                      "GET /api/v1/certificate"}));
  // The third attempt reaches the cloud and its own receipt settles it.
  PassBackoff();
  EXPECT_EQ(Round().sent, 2u);
  EXPECT_EQ(QueueCount(), 0u);
}

// The cloud rotated its node key after this cloudlet fetched its certificate: the receipt
// under the new key is checked again after fetching the certificate once more, and settles the
// item in the same round (through a relay this keeps an honest peer from being blamed).
TEST_F(ForwarderTest, AReceiptUnderARotatedCloudKeySettlesAfterOneRefetch) {
  auto first = Enrol("watch-1");
  Upload(*first);
  ASSERT_EQ(Round().sent, 2u);
  cloud_->TakeRequests();
  cloud_->UseIdentity(deployment_.Identity(wire::CertificateRole::kCloud, "cloud-2").value());
  Enrol("watch-2");
  const ForwardRound round = Round();
  EXPECT_EQ(round.sent, 1u);
  EXPECT_EQ(round.failed, 0u);
  EXPECT_EQ(QueueCount(), 0u);
  EXPECT_EQ(Failures("bad_receipt"), 0.0);
  EXPECT_EQ(cloud_->TakeRequests(),
            (std::vector<std::string>{"POST /api/v1/enrolments", "GET /api/v1/root",
                                      "GET /api/v1/certificate"}));
}

// The cloud's own refusals of one item: counted, the item kept for another attempt, and the
// round goes on with the next item.
class RefusalTest : public ForwarderTest,
                    public ::testing::WithParamInterface<std::pair<int, const char*>> {};

TEST_P(RefusalTest, IsFinalForTheItemOnlyAndTheRoundGoesOn) {
  const auto [status, error] = GetParam();
  auto device = Enrol("watch-1");
  const std::string refused = Upload(*device);
  const std::string next = Upload(*device);
  cloud_->Script("/api/v1/forward", Refusal(status, error));

  const ForwardRound round = Round();
  EXPECT_EQ(round.sent, 2u);  // the enrolment and the next upload
  EXPECT_EQ(round.failed, 1u);
  EXPECT_EQ(round.dead, 0u);
  EXPECT_EQ(Stored(), std::vector<std::string>{next});
  const std::string reason = "refused_" + std::to_string(status);
  EXPECT_EQ(Failures(reason), 1.0);
  EXPECT_EQ(LastError(ItemId(refused)), reason);
  EXPECT_EQ(QueueCount(), 1u);
  EXPECT_EQ(counters_.forwarded.load(), 1u);

  // Retried after its backoff (the refusal was this once).
  PassBackoff();
  EXPECT_EQ(Round().sent, 1u);
  EXPECT_EQ(QueueCount(), 0u);
  EXPECT_EQ(Stored(), (std::vector<std::string>{next, refused}));
}

INSTANTIATE_TEST_SUITE_P(StatusClasses, RefusalTest,
                         ::testing::Values(std::pair{400, "invalid_argument"},
                                           std::pair{401, "unauthenticated"},
                                           std::pair{403, "permission_denied"},
                                           std::pair{409, "already_exists"},
                                           std::pair{413, "payload_too_large"}),
                         [](const auto& test) { return std::to_string(test.param.first); });

TEST_F(ForwarderTest, AnItemRefusedEveryTimeMovesToTheDeadLettersAfterTheLastAttempt) {
  auto device = Enrol("watch-1");
  const std::string poisoned = Upload(*device);
  cloud_->Always("/api/v1/forward", Refusal(400, "invalid_argument"));

  for (std::uint32_t attempt = 1; attempt < kMaxPermanentAttempts; ++attempt) {
    const ForwardRound round = Round();
    EXPECT_EQ(round.failed, 1u) << "attempt " << attempt;
    EXPECT_EQ(round.dead, 0u) << "attempt " << attempt;
    EXPECT_EQ(QueueCount(), 1u);
    PassBackoff();
  }
  const ForwardRound last = Round();
  EXPECT_EQ(last.dead, 1u);
  EXPECT_EQ(last.failed, 0u);
  EXPECT_EQ(QueueCount(), 0u);
  EXPECT_EQ(counters_.dead_letters.load(), 1u);
  EXPECT_EQ(ledger_->Counts().value().dead_letters, 1u);
  EXPECT_EQ(counters_.forwarded.load(), 0u);
  EXPECT_EQ(Failures("refused_400"), static_cast<double>(kMaxPermanentAttempts));
  EXPECT_TRUE(Stored().empty());
}

// Issue 7 item 1: after a 401 to a forward the forwarder dropped the cloud's key and the same
// round sealed the next forward with it (a null pointer). The key must be fetched again first.
TEST_F(ForwarderTest, AfterA401TheKeyIsFetchedAgainBeforeTheNextForward) {
  auto device = Enrol("watch-1");
  Upload(*device);
  ASSERT_EQ(Round().sent, 2u);  // the key is fetched in this round
  cloud_->TakeRequests();

  const std::string refused = Upload(*device);
  const std::string next = Upload(*device);
  cloud_->Script("/api/v1/forward", Refusal(401, "unauthenticated"));
  const ForwardRound round = Round();
  EXPECT_EQ(round.sent, 1u);
  EXPECT_EQ(round.failed, 1u);
  EXPECT_EQ(cloud_->TakeRequests(),
            (std::vector<std::string>{"POST /api/v1/forward", "GET /api/v1/root",
                                      "GET /api/v1/certificate", "POST /api/v1/forward"}));
  EXPECT_EQ(Stored().back(), next);
  EXPECT_EQ(LastError(ItemId(refused)), "refused_401");
}

TEST_F(ForwarderTest, A401WithAKeyFetchedInTheSameRoundDoesNotFetchItAgain) {
  auto device = Enrol("watch-1");
  Upload(*device);
  Upload(*device);
  cloud_->Script("/api/v1/forward", Refusal(401, "unauthenticated"));
  EXPECT_EQ(Round().sent, 2u);
  EXPECT_EQ(cloud_->TakeRequests(),
            Concat(kFirstContact,
                   {"POST /api/v1/enrolments", "POST /api/v1/forward", "POST /api/v1/forward"}));
}

TEST_F(ForwarderTest, WhenTheCloudRotatesItsKeyAForwardSealedToTheOldOneIsSentAgainToTheNew) {
  auto device = Enrol("watch-1");
  Upload(*device);
  ASSERT_EQ(Round().sent, 2u);
  cloud_->UseIdentity(deployment_.Identity(wire::CertificateRole::kCloud, "cloud-2").value());

  const std::string item = Upload(*device);
  EXPECT_EQ(Round().failed, 1u);  // sealed to the retired key: the cloud answers 401
  EXPECT_EQ(LastError(ItemId(item)), "refused_401");
  PassBackoff();
  EXPECT_EQ(Round().sent, 1u);
  EXPECT_EQ(cloud_->stored().back(), std::pair(item, 2));  // opened with the new key
}

TEST_F(ForwarderTest, TheCloudCertificateIsFetchedAgainAfterTheRefreshInterval) {
  auto device = Enrol("watch-1");
  Upload(*device);
  ASSERT_EQ(Round().sent, 2u);
  cloud_->TakeRequests();

  clock_.Advance(kCertificateRefresh - milliseconds(1));
  Upload(*device);
  EXPECT_EQ(Round().sent, 1u);
  EXPECT_EQ(cloud_->TakeRequests(), std::vector<std::string>{"POST /api/v1/forward"});

  // The cloud renewed its certificate with a new key; the refresh picks it up, no 401 needed.
  cloud_->UseIdentity(deployment_.Identity(wire::CertificateRole::kCloud, "cloud-2").value());
  clock_.Advance(milliseconds(1));
  const std::string item = Upload(*device);
  EXPECT_EQ(Round().sent, 1u);
  EXPECT_EQ(cloud_->TakeRequests(),
            (std::vector<std::string>{"GET /api/v1/root", "GET /api/v1/certificate",
                                      "POST /api/v1/forward"}));
  EXPECT_EQ(cloud_->stored().back(), std::pair(item, 2));
  EXPECT_EQ(QueueCount(), 0u);
}

TEST_F(ForwarderTest, ACertificateThatDoesNotVerifyIsNeverUsed) {
  auto device = Enrol("watch-1");
  Upload(*device);
  // A cloudlet's certificate in place of the cloud's: right root, wrong role.
  cloud_->Always("/api/v1/certificate", net::Response::Binary(cloudlet_->certificate.encoded()));
  const ForwardRound round = Round();
  EXPECT_EQ(round.sent, 0u);
  EXPECT_EQ(round.failed, 2u);
  EXPECT_EQ(Failures("cloud_identity"), 1.0);
  EXPECT_EQ(cloud_->TakeRequests(),
            (std::vector<std::string>{"GET /api/v1/root", "GET /api/v1/certificate"}));

  // Another root served by the cloud: nothing is sent either.
  cloud_->ClearAlways();
  cloud_->Always("/api/v1/root", net::Response::Binary(cloudlet_->certificate.encoded()));
  PassBackoff();
  EXPECT_EQ(Round().sent, 0u);
  EXPECT_EQ(cloud_->TakeRequests(), std::vector<std::string>{"GET /api/v1/root"});
  EXPECT_TRUE(Stored().empty());
}

// Busy or failing cloud: this item and the rest of the round back off, the round ends.
class RetryAndStopTest : public ForwarderTest,
                         public ::testing::WithParamInterface<std::pair<int, const char*>> {};

TEST_P(RetryAndStopTest, BacksOffTheWholeRound) {
  const auto [status, reason] = GetParam();
  auto device = Enrol("watch-1");
  const std::string first = Upload(*device);
  const std::string second = Upload(*device);
  cloud_->Script("/api/v1/forward", status == 429 ? Refusal(429, "resource_exhausted")
                                                  : Refusal(status, "unavailable"));
  const ForwardRound round = Round();
  EXPECT_EQ(round.sent, 1u);  // the enrolment
  EXPECT_EQ(round.failed, 2u);
  EXPECT_TRUE(round.cloud_reachable);
  EXPECT_EQ(Failures(reason), 1.0);
  EXPECT_EQ(LastError(ItemId(first)), reason);
  EXPECT_EQ(LastError(ItemId(second)), reason);
  EXPECT_EQ(cloud_->TakeRequests(),
            Concat(kFirstContact, {"POST /api/v1/enrolments", "POST /api/v1/forward"}));

  // Nothing is due before the backoff; then both go.
  EXPECT_EQ(Round().sent, 0u);
  EXPECT_TRUE(cloud_->TakeRequests().empty());
  PassBackoff();
  EXPECT_EQ(Round().sent, 2u);
  EXPECT_EQ(QueueCount(), 0u);
}

INSTANTIATE_TEST_SUITE_P(StatusClasses, RetryAndStopTest,
                         ::testing::Values(std::pair{429, "cloud_busy"},
                                           std::pair{500, "cloud_error"},
                                           std::pair{503, "cloud_error"}),
                         [](const auto& test) { return std::to_string(test.param.first); });

// Answers that are not the cloud's refusal of the item (a wrong URL, a proxy) never send an
// item to the dead letters, however often they come.
class UnexpectedAnswerTest : public ForwarderTest,
                             public ::testing::WithParamInterface<std::pair<int, bool>> {};

TEST_P(UnexpectedAnswerTest, IsRetriedAndNeverDeadLettered) {
  const auto [status, medmesh_body] = GetParam();
  auto device = Enrol("watch-1");
  const std::string item = Upload(*device);
  ASSERT_EQ(Round().sent, 2u);
  const std::string held = Upload(*device);
  net::Response answer =
      medmesh_body ? Refusal(status, "not_found")
                   : net::Response::Text("<html>" + std::to_string(status) + "</html>", status);
  if (status == 302) answer.headers.emplace_back("Location", "https://elsewhere.example/");
  cloud_->Always("/api/v1/forward", answer);

  const std::string reason = "unexpected_" + std::to_string(status);
  for (std::uint32_t attempt = 0; attempt < kMaxPermanentAttempts + 2; ++attempt) {
    const ForwardRound round = Round();
    EXPECT_EQ(round.failed, 1u);
    EXPECT_EQ(round.dead, 0u);
    PassBackoff();
  }
  EXPECT_EQ(QueueCount(), 1u);
  EXPECT_EQ(LastError(ItemId(held)), reason);
  EXPECT_EQ(ledger_->Counts().value().dead_letters, 0u);
  EXPECT_EQ(Failures(reason), static_cast<double>(kMaxPermanentAttempts + 2));

  cloud_->ClearAlways();
  EXPECT_EQ(Round().sent, 1u);
  EXPECT_EQ(Stored(), (std::vector<std::string>{item, held}));
}

INSTANTIATE_TEST_SUITE_P(StatusClasses, UnexpectedAnswerTest,
                         ::testing::Values(std::pair{404, false}, std::pair{404, true},
                                           std::pair{405, true}, std::pair{408, false},
                                           std::pair{302, false}, std::pair{400, false},
                                           std::pair{403, false}),
                         [](const auto& test) {
                           return std::to_string(test.param.first) +
                                  (test.param.second ? "_medmesh" : "_proxy");
                         });

TEST_F(ForwarderTest, ACloudThatForgotTheCloudletGetsItRegisteredAndTheEnrolmentPushedAgain) {
  auto device = Enrol("watch-1");
  Upload(*device);
  ASSERT_EQ(Round().sent, 2u);
  cloud_->TakeRequests();

  // The cloud lost its state: it knows neither the cloudlet nor the device.
  const std::string first = Upload(*device);
  const std::string second = Upload(*device);
  cloud_->Script("/api/v1/forward",
                 Refusal(409, "failed_precondition"));  // "unknown cloudlet: register ..."
  const ForwardRound round = Round();
  EXPECT_EQ(round.failed, 1u);
  EXPECT_EQ(round.sent, 1u);
  // Registered again before the next send; the device's enrolment queued again.
  EXPECT_EQ(cloud_->TakeRequests(),
            (std::vector<std::string>{"POST /api/v1/forward", "POST /api/v1/cloudlets",
                                      "POST /api/v1/forward"}));
  EXPECT_EQ(Failures("cloud_lacks_identity"), 1.0);
  EXPECT_EQ(LastError(ItemId(first)), "cloud_lacks_identity");
  EXPECT_TRUE(queue_->LastError(internal::EnrolmentItemId("watch-1")));  // queued again

  // The enrolment goes before the retried forward.
  PassBackoff();
  EXPECT_EQ(Round().sent, 2u);
  EXPECT_EQ(cloud_->TakeRequests(),
            (std::vector<std::string>{"POST /api/v1/enrolments", "POST /api/v1/forward"}));
  EXPECT_EQ(Stored().back(), first);
  EXPECT_EQ(QueueCount(), 0u);
}

TEST_F(ForwarderTest, DuringAnOutageOnlyTheProbeTalksToTheCloudThenEverythingGoesAtOnce) {
  const std::uint16_t port = cloud_->port();
  cloud_->Stop();
  auto device = Enrol("watch-1");
  const std::string a = Upload(*device);
  const std::string b = Upload(*device);

  ForwardRound round = Round();
  EXPECT_FALSE(round.cloud_reachable);
  EXPECT_EQ(round.failed, 3u);
  EXPECT_EQ(Failures("unreachable"), 1.0);  // one attempt; the rest of the round held back
  EXPECT_EQ(LastError(ItemId(a)), "unreachable");

  // Back, but not ready yet. Until the probe interval has passed nobody asks.
  ASSERT_TRUE(cloud_->Start(port));
  cloud_->Always("/readyz", Refusal(503, "unavailable"));
  clock_.Advance(kProbeInterval - milliseconds(1));
  round = Round();
  EXPECT_EQ(round.sent, 0u);
  EXPECT_FALSE(round.cloud_reachable);
  EXPECT_TRUE(cloud_->TakeRequests().empty());

  // One probe per interval, nothing else, and the items keep their attempts.
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(Round().sent, 0u);
  EXPECT_EQ(cloud_->TakeRequests(), std::vector<std::string>{"GET /readyz"});
  clock_.Advance(kProbeInterval - milliseconds(1));
  EXPECT_EQ(Round().sent, 0u);
  EXPECT_TRUE(cloud_->TakeRequests().empty());
  EXPECT_EQ(Failures("unreachable"), 1.0);

  // Ready: everything is sent in the round of the probe, long before the items' backoff ends.
  cloud_->ClearAlways();
  clock_.Advance(milliseconds(1));
  round = Round();
  EXPECT_TRUE(round.cloud_reachable);
  EXPECT_EQ(round.sent, 3u);
  EXPECT_EQ(cloud_->TakeRequests(),
            Concat(Concat({"GET /readyz"}, kFirstContact),
                   {"POST /api/v1/enrolments", "POST /api/v1/forward", "POST /api/v1/forward"}));
  EXPECT_EQ(QueueCount(), 0u);
  EXPECT_EQ(Stored(), (std::vector<std::string>{a, b}));

  // Not down any more: the next round does not probe.
  Upload(*device);
  EXPECT_EQ(Round().sent, 1u);
  EXPECT_EQ(cloud_->TakeRequests(), std::vector<std::string>{"POST /api/v1/forward"});
}

TEST_F(ForwarderTest, ACloudGoneInTheMiddleOfARoundEndsItAndStartsTheOutage) {
  auto device = Enrol("watch-1");
  Upload(*device);
  ASSERT_EQ(Round().sent, 2u);
  cloud_->TakeRequests();
  const std::uint16_t port = cloud_->port();
  cloud_->Stop();

  Upload(*device);
  Upload(*device);
  const ForwardRound round = Round();
  EXPECT_FALSE(round.cloud_reachable);
  EXPECT_EQ(round.failed, 2u);
  EXPECT_EQ(Failures("unreachable"), 1.0);  // one attempt, the rest of the round held back

  ASSERT_TRUE(cloud_->Start(port));
  EXPECT_EQ(Round().sent, 0u);  // no probe before the interval
  EXPECT_TRUE(cloud_->TakeRequests().empty());
  clock_.Advance(kProbeInterval);
  EXPECT_EQ(Round().sent, 2u);
  EXPECT_EQ(cloud_->TakeRequests(), (std::vector<std::string>{"GET /readyz", "POST /api/v1/forward",
                                                              "POST /api/v1/forward"}));
}

// The operator's "cloud link" (GET /api/v1/stats): unknown before any round, up once the cloud
// answered, down from the round that found it gone, up again from the probe that finds it back;
// each change dated, and the last acknowledged forward kept through the outage.
TEST_F(ForwarderTest, TheLinkStateFollowsWhatTheRoundsSaw) {
  EXPECT_EQ(forwarder().Link().state, CloudLink::State::kUnknown);
  EXPECT_EQ(forwarder().Link().since_ms, 0);
  EXPECT_EQ(forwarder().Link().last_forward_ms, 0);
  auto device = Enrol("watch-1");
  Upload(*device);
  const std::int64_t up_ms = wire::ToUnixMs(clock_.Now());
  ASSERT_EQ(Round().sent, 2u);
  CloudLink link = forwarder().Link();
  EXPECT_EQ(link.state, CloudLink::State::kUp);
  EXPECT_EQ(CloudLinkStateName(link.state), "up");
  EXPECT_EQ(link.since_ms, up_ms);
  EXPECT_EQ(link.last_forward_ms, up_ms);

  const std::uint16_t port = cloud_->port();
  cloud_->Stop();
  clock_.Advance(milliseconds(5));
  Upload(*device);
  EXPECT_FALSE(Round().cloud_reachable);
  link = forwarder().Link();
  EXPECT_EQ(link.state, CloudLink::State::kDown);
  EXPECT_EQ(CloudLinkStateName(link.state), "down");
  EXPECT_EQ(link.since_ms, up_ms + 5);
  EXPECT_EQ(link.last_forward_ms, up_ms);  // the last acknowledged forward, not the last try

  ASSERT_TRUE(cloud_->Start(port));
  clock_.Advance(kProbeInterval);
  EXPECT_EQ(Round().sent, 1u);
  link = forwarder().Link();
  EXPECT_EQ(link.state, CloudLink::State::kUp);
  EXPECT_EQ(link.since_ms, up_ms + 5 + kProbeInterval.count());
  EXPECT_EQ(link.last_forward_ms, link.since_ms);
}

// Issue 7 item 3: an exception inside a round ends that round only.
TEST_F(ForwarderTest, AnExceptionInARoundReleasesItsItemsAndIsCounted) {
  auto device = Enrol("watch-1");
  const std::string item = Upload(*device);
  throwing_signer_->armed = true;

  auto round = forwarder().RunOnce();
  ASSERT_FALSE(round);
  EXPECT_EQ(round.error().code(), ErrorCode::kInternal);
  EXPECT_EQ(Metric("medmesh_cloudlet_forward_round_exceptions_total"), 1.0);
  // The enrolment was sent before the throw; the upload is not left leased.
  EXPECT_EQ(QueueCount(), 1u);
  EXPECT_EQ(queue_->Stats().value().in_flight, 0u);
  EXPECT_EQ(LastError(ItemId(item)), "exception");
  EXPECT_EQ(Failures("exception"), 1.0);

  throwing_signer_->armed = false;
  PassBackoff();
  EXPECT_EQ(Round().sent, 1u);
  EXPECT_EQ(Stored(), std::vector<std::string>{item});
}

TEST_F(ForwarderTest, TheBackgroundThreadSurvivesAnExceptionAndGoesOn) {
  auto device = Enrol("watch-1");
  const std::string item = Upload(*device);
  throwing_signer_->armed = true;
  forwarder().Start();
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Metric("medmesh_cloudlet_forward_round_exceptions_total") >= 1.0; }));
  // The exception is counted before the round releases its items: wait for the release, or the
  // clock could move past the backoff before the item's next attempt is set from it.
  ASSERT_TRUE(testing::WaitUntil([&] { return LastError(ItemId(item)) == "exception"; }));

  throwing_signer_->armed = false;
  PassBackoff();
  forwarder().Wake();
  ASSERT_TRUE(testing::WaitUntil([&] { return QueueCount() == 0; }));
  EXPECT_EQ(Stored(), std::vector<std::string>{item});
  forwarder().Stop();
}

}  // namespace
}  // namespace medmesh::cloudlet
