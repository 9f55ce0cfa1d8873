// The device console (device_console.h) over loopback HTTP: a real cloudlet on port 0, its
// operator token, a real device of the patient enrolled first, then console devices that enrol,
// report and stream through the cloudlet's own enrolment and ingest paths. Sessions (patient,
// foreign patient, other roles) are covered by tests/authz_matrix_test.cc.
#include "cloudlet/device_console.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cloudlet/cloudlet_service.h"
#include "node/test_support.h"
#include "testing/wait.h"

namespace medmesh::cloudlet {
namespace {

using nlohmann::json;
using node::testing::TestDevice;

constexpr std::size_t kPhotoLimit = 4096;

// Standard base64 (with padding), as a browser's btoa() gives it.
std::string Base64(ByteView data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < data.size(); i += 3) {
    const std::uint32_t n = (std::uint32_t{data[i]} << 16) |
                            (i + 1 < data.size() ? std::uint32_t{data[i + 1]} << 8 : 0) |
                            (i + 2 < data.size() ? std::uint32_t{data[i + 2]} : 0);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < data.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// A PNG's signature and a few bytes: what the console checks is the size and type.
std::string PngBase64(std::size_t bytes) {
  Bytes png = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  png.resize(bytes, 0x42);
  return Base64(png);
}

class DeviceConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    StartService();
    // The patient is known here: a device of theirs is enrolled.
    TestDevice watch("watch-1", "p-1", random_, clock_);
    const Status enrolled = watch.Enrol(*client_, url_, enrol_token_, deployment_.Root().key);
    ASSERT_TRUE(enrolled) << enrolled.error().ToString();
  }

  void StartService() {
    CloudletOptions options;
    options.data_dir = dir_.path() / "data";
    options.access_log = false;
    options.console.max_photo_bytes = kPhotoLimit;
    options.console.max_document_bytes = kPhotoLimit;
    options.console.stream_interval = std::chrono::milliseconds(50);
    auto identity = deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1");
    ASSERT_TRUE(identity) << identity.error().ToString();
    CloudletSecrets secrets{std::move(*identity), kek_.Clone(), enrol_token_.Clone(),
                            operator_token_.Clone()};
    auto service = CloudletService::Start(std::move(options), std::move(secrets), clock_, random_);
    ASSERT_TRUE(service) << service.error().ToString();
    service_ = std::move(*service);
    url_ = "http://127.0.0.1:" + std::to_string(service_->port());
  }

  net::Response Call(net::Method method, const std::string& path, const std::string& body = {},
                     bool as_operator = true) {
    net::ClientRequest request;
    request.method = method;
    request.url = url_ + path;
    if (as_operator) {
      request.headers.emplace_back("Authorization",
                                   "Bearer " + node::testing::TokenText(operator_token_));
    }
    request.body = body;
    if (!body.empty()) request.content_type = "application/json";
    auto r = client_->Send(request);
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : net::Response{};
  }

  // A console device of `patient`: its id.
  std::string Enrol(const std::string& patient = "p-1") {
    const net::Response r =
        Call(net::Method::kPost, "/api/v1/console/devices", json{{"patient_id", patient}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? json::parse(r.body)["device_id"].get<std::string>() : "";
  }

  json Uploads(const std::string& device) {
    const net::Response r =
        Call(net::Method::kGet, "/api/v1/console/devices/" + device + "/uploads");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body) : json::object();
  }

  json Stream(const std::string& device) {
    const net::Response r =
        Call(net::Method::kGet, "/api/v1/console/devices/" + device + "/stream");
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body) : json::object();
  }

  static json Report() {
    return {
        {"name", "<script>alert(1)</script> Ada"},
        {"phone", "+44 20 7946 0958"},
        {"address", "12 St James's Square"},
        {"symptoms", {"palpitations", "short of breath"}},
        {"pulse_bpm", 112},
        {"ecg_summary", "atrial fibrillation, 112/min"},
        {"symptoms_document", {{"content_type", "text/plain"}, {"data", Base64(AsBytes("worse"))}}},
        {"photo", {{"content_type", "image/png"}, {"data", PngBase64(64)}}}};
  }

  std::size_t AuditCount(const std::string& event) {
    audit::AuditQuery query;
    query.event = event;
    query.limit = 1000;
    auto entries = service_->audit().QueryEntries(query);
    EXPECT_TRUE(entries);
    return entries ? entries->size() : 0;
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path() / "pki"};
  SystemClock clock_;
  SystemRandom random_;
  crypto::KeyEncryptionKey kek_ = crypto::KeyEncryptionKey::Generate(random_);
  SecretBytes enrol_token_ = node::testing::RandomToken(random_);
  SecretBytes operator_token_ = node::testing::RandomToken(random_);
  std::unique_ptr<net::HttpClient> client_ = net::HttpClient::Create({}).value();
  std::unique_ptr<CloudletService> service_;
  std::string url_;
};

TEST_F(DeviceConsoleTest, EnrolsThroughTheCloudletsEnrolmentPath) {
  const std::size_t enrolments = AuditCount("device.enrol");
  const std::string device = Enrol();
  ASSERT_FALSE(device.empty());
  // The registry the ingest path reads holds it, like any device.
  const net::Response devices = Call(net::Method::kGet, "/api/v1/devices?patient_id=p-1");
  ASSERT_EQ(devices.status, 200);
  bool registered = false;
  const json registry = json::parse(devices.body);
  for (const json& d : registry["devices"]) {
    registered = registered || (d["device_id"] == device && d["status"] == "enrolled");
  }
  EXPECT_TRUE(registered);
  EXPECT_EQ(AuditCount("device.enrol"), enrolments + 1);

  const json list = json::parse(Call(net::Method::kGet, "/api/v1/console/devices").body);
  ASSERT_EQ(list["devices"].size(), 1u);
  EXPECT_EQ(list["devices"][0]["device_id"], device);
  EXPECT_EQ(list["devices"][0]["status"], "enrolled");
  EXPECT_EQ(list["patients"], json::array({"p-1"}));
}

TEST_F(DeviceConsoleTest, RefusesUnknownPatientsBadInputAndStrangers) {
  // A patient with no device at this cloudlet.
  EXPECT_EQ(Call(net::Method::kPost, "/api/v1/console/devices", json{{"patient_id", "p-9"}}.dump())
                .status,
            404);
  EXPECT_EQ(Call(net::Method::kPost, "/api/v1/console/devices", json{{"patient_id", "a b"}}.dump())
                .status,
            400);
  EXPECT_EQ(Call(net::Method::kPost, "/api/v1/console/devices",
                 json{{"patient_id", "p-1"}, {"profile", "zombie"}}.dump())
                .status,
            400);
  EXPECT_EQ(Call(net::Method::kPost, "/api/v1/console/devices",
                 json{{"patient_id", "p-1"}, {"extra", 1}}.dump())
                .status,
            400);
  // No credentials, or a wrong token: 401 with the Bearer challenge.
  const net::Response anonymous = Call(net::Method::kPost, "/api/v1/console/devices",
                                       json{{"patient_id", "p-1"}}.dump(), false);
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_TRUE(anonymous.Header("WWW-Authenticate").has_value());
  EXPECT_EQ(Call(net::Method::kGet, "/api/v1/console/devices", {}, false).status, 401);
  // An unknown device, everywhere.
  for (const auto& [method, suffix] :
       {std::pair{net::Method::kGet, "/uploads"}, std::pair{net::Method::kGet, "/stream"},
        std::pair{net::Method::kPost, "/stream"}, std::pair{net::Method::kDelete, "/stream"}}) {
    EXPECT_EQ(Call(method, std::string("/api/v1/console/devices/console-nope") + suffix).status,
              404);
  }
  EXPECT_EQ(
      Call(net::Method::kPost, "/api/v1/console/devices/console-nope/reports", Report().dump())
          .status,
      404);
}

TEST_F(DeviceConsoleTest, AReportIsSealedIngestedAndListedWithAVerifyingSignature) {
  const std::string device = Enrol();
  const std::uint64_t records = service_->Stats().records_stored;
  const net::Response sent =
      Call(net::Method::kPost, "/api/v1/console/devices/" + device + "/reports", Report().dump());
  ASSERT_EQ(sent.status, 201) << sent.body;
  const json answer = json::parse(sent.body);
  EXPECT_EQ(answer["status"], "stored");
  // The cloudlet's ingest stored it, as a record of this device.
  EXPECT_EQ(service_->Stats().records_stored, records + 1);
  EXPECT_EQ(AuditCount("console.report"), 1u);

  const json uploads = Uploads(device);
  ASSERT_EQ(uploads["uploads"].size(), 1u);
  const json& upload = uploads["uploads"][0];
  EXPECT_EQ(upload["content_type"], "patient_record");
  EXPECT_EQ(upload["record_id"], answer["record_id"]);
  EXPECT_EQ(upload["ingest_status"], "stored");
  EXPECT_TRUE(upload["verifies"].get<bool>());
  EXPECT_TRUE(upload["stored"].get<bool>());
  EXPECT_FALSE(upload["forwarded"].get<bool>());  // no cloud configured: still queued
  EXPECT_EQ(upload["signature"].get<std::string>().size(), 128u);
  EXPECT_EQ(upload["ciphertext_excerpt"].get<std::string>().size(), 64u);
  EXPECT_GT(upload["upload_bytes"].get<std::size_t>(),
            upload["sealed_payload_bytes"].get<std::size_t>());
  EXPECT_GT(upload["stored_ciphertext_bytes"].get<std::size_t>(), 0u);
  // The name is nowhere in the listing, nor in the kept upload.
  EXPECT_EQ(uploads.dump().find("Ada"), std::string::npos);
  EXPECT_EQ(AuditCount("console.uploads.read"), 1u);
}

TEST_F(DeviceConsoleTest, RefusesOversizedFilesAndBadFieldsNamingTheField) {
  const std::string device = Enrol();
  const std::string path = "/api/v1/console/devices/" + device + "/reports";
  json big = Report();
  big["photo"]["data"] = PngBase64(kPhotoLimit + 1);
  const net::Response too_large = Call(net::Method::kPost, path, big.dump());
  EXPECT_EQ(too_large.status, 413) << too_large.body;
  EXPECT_EQ(json::parse(too_large.body)["error"], "payload_too_large");

  json gif = Report();
  gif["photo"]["content_type"] = "image/gif";
  const net::Response bad_type = Call(net::Method::kPost, path, gif.dump());
  EXPECT_EQ(bad_type.status, 400);
  EXPECT_TRUE(json::parse(bad_type.body)["message"].get<std::string>().starts_with("photo."));

  json pulse = Report();
  pulse["pulse_bpm"] = 7;
  const net::Response bad_pulse = Call(net::Method::kPost, path, pulse.dump());
  EXPECT_EQ(bad_pulse.status, 400);
  EXPECT_TRUE(json::parse(bad_pulse.body)["message"].get<std::string>().starts_with("pulse_bpm"));

  json nameless = Report();
  nameless.erase("name");
  EXPECT_EQ(Call(net::Method::kPost, path, nameless.dump()).status, 400);
  // A body over the route's limit never reaches the handler.
  json huge = Report();
  huge["symptoms_document"]["data"] = std::string(ConsoleReportBodyLimit({}) + 1, 'A');
  EXPECT_EQ(Call(net::Method::kPost, path, huge.dump()).status, 413);
  // Nothing was sent for any of them.
  EXPECT_TRUE(Uploads(device)["uploads"].empty());
}

TEST_F(DeviceConsoleTest, AForgedUploadIsShownAsNotVerifying) {
  const std::string device = Enrol();
  ASSERT_EQ(
      Call(net::Method::kPost, "/api/v1/console/devices/" + device + "/reports", Report().dump())
          .status,
      201);
  {
    // Someone with the disk changes a byte of the kept upload's signature.
    SQLite::Database db((dir_.path() / "data" / "console.db").string(), SQLite::OPEN_READWRITE);
    db.exec(
        "UPDATE console_uploads SET upload = substr(upload, 1, length(upload) - 1) ||"
        " CASE WHEN substr(upload, -1) = x'00' THEN x'01' ELSE x'00' END");
  }
  const json uploads = Uploads(device);
  ASSERT_EQ(uploads["uploads"].size(), 1u);
  EXPECT_FALSE(uploads["uploads"][0]["verifies"].get<bool>());
}

TEST_F(DeviceConsoleTest, AWithdrawnDeviceIsRefusedByTheIngestPath) {
  const std::string device = Enrol();
  ASSERT_EQ(Call(net::Method::kPost, "/api/v1/devices/" + device + "/withdrawal").status, 200);
  const net::Response refused =
      Call(net::Method::kPost, "/api/v1/console/devices/" + device + "/reports", Report().dump());
  EXPECT_EQ(refused.status, 403) << refused.body;
  const json uploads = Uploads(device);
  ASSERT_EQ(uploads["uploads"].size(), 1u);
  EXPECT_EQ(uploads["uploads"][0]["ingest_status"], "refused");
  EXPECT_FALSE(uploads["uploads"][0]["stored"].get<bool>());
}

TEST_F(DeviceConsoleTest, StreamsReadingsUntilStoppedAndNotPastTheCloudlet) {
  const std::string device = Enrol();
  const std::string stream = "/api/v1/console/devices/" + device + "/stream";
  EXPECT_FALSE(Stream(device)["running"].get<bool>());
  ASSERT_EQ(Call(net::Method::kPost, stream).status, 200);
  ASSERT_TRUE(
      ::medmesh::testing::WaitUntil([&] { return Stream(device)["readings"].size() >= 3; }));
  json live = Stream(device);
  EXPECT_TRUE(live["running"].get<bool>());
  EXPECT_GT(live["readings_stored"].get<int>(), 0);
  const json& reading = live["readings"][0];
  EXPECT_TRUE(reading.contains("kind") && reading.contains("value") && reading.contains("unit"));
  // The readings went through ingest: stored batches of this device, signatures verifying.
  const json uploads = Uploads(device);
  ASSERT_FALSE(uploads["uploads"].empty());
  EXPECT_EQ(uploads["uploads"][0]["content_type"], "readings_batch");
  EXPECT_TRUE(uploads["uploads"][0]["verifies"].get<bool>());
  EXPECT_GT(service_->Stats().readings_stored, 0u);

  ASSERT_EQ(Call(net::Method::kDelete, stream).status, 200);
  const json stopped = Stream(device);
  EXPECT_FALSE(stopped["running"].get<bool>());
  // Another device streams for a few ticks; the stopped one sends nothing meanwhile.
  const std::string other = Enrol();
  ASSERT_EQ(Call(net::Method::kPost, "/api/v1/console/devices/" + other + "/stream").status, 200);
  ASSERT_TRUE(
      ::medmesh::testing::WaitUntil([&] { return Stream(other)["batches"].get<int>() >= 2; }));
  EXPECT_EQ(Stream(device)["batches"], stopped["batches"]);

  // Stopping the cloudlet ends every stream (the thread is joined); none resumes after.
  service_->Stop(std::chrono::seconds(1));
  service_.reset();
  StartService();
  EXPECT_FALSE(Stream(other)["running"].get<bool>());
  // The kept key still works: a report after the restart verifies.
  ASSERT_EQ(
      Call(net::Method::kPost, "/api/v1/console/devices/" + device + "/reports", Report().dump())
          .status,
      201);
  EXPECT_TRUE(Uploads(device)["uploads"][0]["verifies"].get<bool>());
}

}  // namespace
}  // namespace medmesh::cloudlet
