#include "attack/scenarios.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "attack/injection_payloads.h"
#include "attack/source_client.h"
#include "core/bytes.h"
#include "core/env.h"
#include "crypto/session_seal.h"
#include "crypto/signing.h"
#include "ids/decision.h"
#include "ids/mesh_report.h"
#include "node/identity.h"
#include "wire/certificate.h"
#include "wire/enrolment.h"
#include "wire/envelope.h"
#include "wire/model.h"
#include "wire/readings_codec.h"

namespace medmesh::attack {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kLyingPeer = "lying-peer";

// --- What the system answered ------------------------------------------------------------------

// Status codes seen by one scenario; "refused by the IDS" are the enforcer's own answers.
struct Tally {
  std::map<int, int> statuses;
  int ids_refusals = 0;  // 403 "blocked" or 429 "throttled" from the enforcer
  int no_answer = 0;     // the connection failed or closed without an answer

  void Add(const Result<HttpAnswer>& answer) {
    if (!answer) {
      ++no_answer;
      return;
    }
    ++statuses[answer->status];
    if (IsIdsRefusal(*answer)) ++ids_refusals;
  }
  static bool IsIdsRefusal(const HttpAnswer& a) {
    return (a.status == 403 && a.body.find("\"blocked\"") != std::string::npos) ||
           (a.status == 429 && a.body.find("\"throttled\"") != std::string::npos);
  }
  std::string Summary() const {
    std::ostringstream out;
    bool first = true;
    for (const auto& [status, count] : statuses) {
      out << (first ? "" : ", ") << count << " x " << status;
      first = false;
    }
    if (no_answer > 0) out << (first ? "" : ", ") << no_answer << " without an answer";
    if (first && no_answer == 0) out << "nothing sent";
    out << "; refused by the IDS enforcer: " << ids_refusals;
    return out.str();
  }
};

// What a scenario works with.
struct Context {
  const AttackTarget& target;
  Random& random;
  const Clock& clock;
  const PrintLine& print;
  std::string source;  // this scenario's attack address

  void Say(const std::string& line) const { print("  " + line); }
};

std::string Hex(Random& random, std::size_t bytes) { return HexEncode(random.Generate(bytes)); }

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

Headers Bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// --- The IDS read-back -------------------------------------------------------------------------

struct IdsView {
  bool reachable = false;
  bool blocked = false;   // an active block or throttle decision on a watched scope
  bool detected = false;  // an alert (or any decision) on a watched scope
  std::vector<std::string> lines;
};

// Reads the node's alerts and decisions (operator token, default source) and keeps those whose
// scope value is one of `scopes`.
// An alert or decision counts when its scope value is one of `scopes`, or when it comes from
// `detector` (non-empty) at or after `since_ms` (tampering: the altered record's scope is not
// known to the attacker).
struct Watch {
  std::set<std::string> scopes;
  std::string detector;
  std::int64_t since_ms = 0;
};

Watch OnScopes(std::set<std::string> scopes) { return {std::move(scopes), "", 0}; }

IdsView ReadIds(const Context& c, const std::string& node_url, const std::string& token,
                const Watch& watch) {
  IdsView view;
  auto target = ParseHttpUrl(node_url);
  if (!target) return view;
  SourceClient client(*target, "", c.target.timeout);
  auto decisions =
      client.Send("GET", "/api/v1/ids/decisions?active=true&limit=1000", {}, {}, Bearer(token));
  auto alerts = client.Send("GET", "/api/v1/ids/alerts?limit=1000", {}, {}, Bearer(token));
  if (!decisions || !alerts || decisions->status != 200 || alerts->status != 200) return view;
  view.reachable = true;
  const Json d = Json::parse(decisions->body, nullptr, false);
  const Json a = Json::parse(alerts->body, nullptr, false);
  const auto watched = [&](const Json& item) {
    if (!item.contains("scope") || !item["scope"].is_object()) return false;
    if (watch.scopes.contains(item["scope"].value("value", ""))) return true;
    const std::int64_t at = item.contains("time_ms") ? item.value("time_ms", std::int64_t{0})
                                                     : item.value("created_ms", std::int64_t{0});
    return !watch.detector.empty() && item.value("detector", "") == watch.detector &&
           at >= watch.since_ms;
  };
  if (a.is_object() && a["alerts"].is_array()) {
    for (const Json& alert : a["alerts"]) {
      if (!watched(alert)) continue;
      view.detected = true;
      view.lines.push_back("alert: " + alert.value("detector", "?") + " v" +
                           std::to_string(alert.value("detector_version", 0)) + " on " +
                           alert["scope"].value("kind", "?") + " " +
                           alert["scope"].value("value", "?") + ", proposes " +
                           alert.value("action", "?") + ": " + alert.value("reason", ""));
    }
  }
  if (d.is_object() && d["decisions"].is_array()) {
    for (const Json& decision : d["decisions"]) {
      if (!watched(decision) || !decision.value("active", false)) continue;
      const std::string action = decision.value("action", "");
      view.detected = true;
      if (action == "block" || action == "throttle") view.blocked = true;
      const std::int64_t left_s =
          (decision.value("expires_ms", std::int64_t{0}) - wire::NowMs(c.clock)) / 1000;
      view.lines.push_back("decision: " + action + " " + decision["scope"].value("kind", "?") +
                           " " + decision["scope"].value("value", "?") + " by " +
                           decision.value("detector", "?") + " (offence " +
                           std::to_string(decision.value("offence", 0)) + ", " +
                           std::to_string(left_s) + " s left): " + decision.value("reason", ""));
    }
  }
  return view;
}

// Reads the IDS of the node until something on `scopes` shows (up to about 3 s: detectors run
// as events are recorded, but a response's observation may land just after the answer), prints
// it and gives the verdict.
Verdict Judge(const Context& c, const std::string& node_url, const std::string& token,
              const Watch& watch) {
  if (token.empty()) {
    c.Say("ids: cannot read the node's IDS (no operator token): verdict from answers only");
    return Verdict::kMissed;
  }
  IdsView view;
  for (int i = 0; i < 30; ++i) {
    view = ReadIds(c, node_url, token, watch);
    if (view.blocked) break;
    if (view.detected && i >= 5) break;  // give a decision a moment to follow its alert
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!view.reachable) c.Say("ids: the node's IDS routes did not answer");
  if (view.lines.empty()) c.Say("ids: nothing on this attack's scope");
  for (const std::string& line : view.lines) c.Say("ids: " + line);
  if (view.blocked) return Verdict::kBlocked;
  return view.detected ? Verdict::kDetected : Verdict::kMissed;
}

std::optional<SourceClient> ClientFor(const Context& c, const std::string& url,
                                      const std::string& source) {
  auto target = ParseHttpUrl(url);
  if (!target) {
    c.Say("bad URL: " + target.error().message());
    return std::nullopt;
  }
  return SourceClient(*target, source, c.target.timeout);
}

// --- A device of the attacker's own ------------------------------------------------------------

// A device the attacker enrolled with the cloudlet's (stolen) enrolment token: its own key, a
// session to the cloudlet's certified KEM key. Uploads are sealed with the production code.
struct OwnDevice {
  std::string device_id;
  std::string patient_id;
  std::unique_ptr<crypto::Signer> signer;
  std::unique_ptr<crypto::SessionSealer> sealer;
  std::uint64_t sequence = 0;

  Result<Bytes> Seal(Random& random, const Clock& clock, const wire::BatchId& batch_id,
                     int readings, const crypto::Signer* sign_with = nullptr) {
    std::vector<wire::Reading> list;
    const std::int64_t end_ms = wire::NowMs(clock) - 2000;
    for (int i = 0; i < readings; ++i) {
      list.push_back({end_ms - std::int64_t{readings - 1 - i} * 1000, wire::VitalKind::kHeartRate,
                      70'000 + std::int64_t{i % 5} * 1000});
    }
    MEDMESH_ASSIGN_OR_RETURN(Bytes payload, wire::EncodeReadings(list));
    const wire::UploadHeader header{.content_type = wire::ContentType::kReadingsBatch,
                                    .device_id = device_id,
                                    .patient_id = patient_id,
                                    .sequence = ++sequence,
                                    .batch_id = batch_id,
                                    .created_ms = wire::NowMs(clock)};
    return wire::SealUpload(header, payload, *sealer, sign_with ? *sign_with : *signer, random);
  }
};

// Enrols a fresh device (from the default source); nullopt and a printed reason otherwise.
std::optional<OwnDevice> EnrolOwnDevice(const Context& c) {
  const AttackTarget& t = c.target;
  auto root = node::LoadRootCertificate(t.root_certificate_file, wire::NowMs(c.clock));
  if (!root) {
    c.Say("setup: cannot load the root certificate: " + root.error().message());
    return std::nullopt;
  }
  auto client = ClientFor(c, t.cloudlet_url, "");
  if (!client) return std::nullopt;
  auto cert = client->Send("GET", "/api/v1/certificate");
  if (!cert || cert->status != 200) {
    c.Say("setup: the cloudlet's certificate could not be fetched");
    return std::nullopt;
  }
  auto verified = wire::VerifyCertificate(AsBytes(cert->body), root->key,
                                          wire::CertificateRole::kCloudlet, wire::NowMs(c.clock));
  if (!verified) {
    c.Say("setup: the cloudlet's certificate does not verify: " + verified.error().message());
    return std::nullopt;
  }
  OwnDevice device;
  device.device_id = "attacker-" + Hex(c.random, 4);
  device.patient_id = "attack-patient-" + Hex(c.random, 4);
  device.signer = crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(c.random));
  device.sealer =
      std::make_unique<crypto::SessionSealer>(*verified->certificate().kem_key, c.random, c.clock);
  auto request =
      wire::SignEnrolmentRequest({device.device_id, device.patient_id, device.signer->public_key(),
                                  verified->certificate().subject_id, wire::NowMs(c.clock)},
                                 *device.signer);
  if (!request) {
    c.Say("setup: cannot sign the enrolment request");
    return std::nullopt;
  }
  auto enrolled =
      client->Send("POST", "/api/v1/enrol", Json{{"request", HexEncode(*request)}}.dump(),
                   "application/json", Bearer(t.enrol_token));
  if (!enrolled || enrolled->status != 200) {
    c.Say("setup: enrolment refused (" +
          (enrolled ? std::to_string(enrolled->status) : std::string("no answer")) + ")");
    return std::nullopt;
  }
  c.Say("setup: enrolled device " + device.device_id + " with the cloudlet's enrolment token");
  return device;
}

bool NeedsDeviceSecrets(const Context& c) {
  if (c.target.enrol_token.empty() || c.target.root_certificate_file.empty()) {
    c.Say("needs the cloudlet's enrolment token and the root certificate (--deployment)");
    return false;
  }
  return true;
}

// --- The scenarios -----------------------------------------------------------------------------

Verdict BruteForce(const Context& c) {
  auto client = ClientFor(c, c.target.cloudlet_url, c.source);
  if (!client) return Verdict::kMissed;
  // A login that is no one's: guessing a real demo account's password would lock its owner out
  // at the cloud (5 failures, 15 minutes). To the detectors a guess is a guess.
  const std::string victim = "ward.admin@demo.example.org";
  static constexpr std::string_view kGuesses[] = {"123456",   "password",  "12345678",  "qwerty",
                                                  "letmein",  "welcome1",  "admin123",  "iloveyou",
                                                  "monkey",   "dragon",    "sunshine1", "princess",
                                                  "football", "hospital1", "nurse2026"};
  c.Say("tries: " + std::to_string(std::size(kGuesses)) +
        " passwords for one login, POST /api/v1/session at the cloudlet (relayed to the cloud)");
  Tally tally;
  for (std::string_view guess : kGuesses) {
    auto answer =
        client->Send("POST", "/api/v1/session", Json{{"email", victim}, {"password", guess}}.dump(),
                     "application/json");
    tally.Add(answer);
    if (answer && Tally::IsIdsRefusal(*answer) && tally.ids_refusals >= 3) break;
  }
  c.Say("answers: " + tally.Summary());
  return Judge(c, c.target.cloudlet_url, c.target.cloudlet_operator_token, OnScopes({c.source}));
}

Verdict Stuffing(const Context& c) {
  auto client = ClientFor(c, c.target.cloudlet_url, c.source);
  if (!client) return Verdict::kMissed;
  // A leaked list: the deployment's real logins (one try each: the cloud's lockout needs 5) and
  // made-up ones, each with a "leaked" password.
  std::vector<std::string> logins;
  for (const AttackTarget::Login& l : c.target.logins) logins.push_back(l.login);
  for (int i = 0; logins.size() < 20; ++i) {
    logins.push_back("user" + std::to_string(100 + i) + "@mail.example.com");
  }
  logins.resize(20);
  c.Say(
      "tries: 20 different logins with one leaked password each, POST /api/v1/session at the "
      "cloudlet");
  Tally tally;
  for (std::size_t i = 0; i < logins.size(); ++i) {
    auto answer = client->Send(
        "POST", "/api/v1/session",
        Json{{"email", logins[i]}, {"password", "Summer2026!" + std::to_string(i)}}.dump(),
        "application/json");
    tally.Add(answer);
    if (answer && Tally::IsIdsRefusal(*answer) && tally.ids_refusals >= 3) break;
  }
  c.Say("answers: " + tally.Summary());
  return Judge(c, c.target.cloudlet_url, c.target.cloudlet_operator_token, OnScopes({c.source}));
}

Verdict ForgedBatch(const Context& c) {
  if (!NeedsDeviceSecrets(c)) return Verdict::kSkipped;
  auto device = EnrolOwnDevice(c);
  if (!device) return Verdict::kMissed;
  auto client = ClientFor(c, c.target.cloudlet_url, c.source);
  if (!client) return Verdict::kMissed;
  // A valid envelope for the enrolled device, sealed to the cloudlet's key, but signed with a
  // key that is not the device's.
  auto forger = crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(c.random));
  c.Say("tries: 12 readings batches for " + device->device_id +
        " with a valid envelope and a signature by another key, POST /api/v1/ingest");
  Tally tally;
  for (int i = 0; i < 12; ++i) {
    auto upload = device->Seal(c.random, c.clock, wire::NewBatchId(c.random), 30, forger.get());
    if (!upload) return Verdict::kMissed;
    auto answer =
        client->Send("POST", "/api/v1/ingest", AsStringView(*upload), "application/octet-stream");
    tally.Add(answer);
  }
  c.Say("answers: " + tally.Summary());
  return Judge(c, c.target.cloudlet_url, c.target.cloudlet_operator_token,
               OnScopes({c.source, device->device_id}));
}

Verdict ReplayedBatch(const Context& c) {
  if (!NeedsDeviceSecrets(c)) return Verdict::kSkipped;
  auto device = EnrolOwnDevice(c);
  if (!device) return Verdict::kMissed;
  auto setup = ClientFor(c, c.target.cloudlet_url, "");
  auto client = ClientFor(c, c.target.cloudlet_url, c.source);
  if (!setup || !client) return Verdict::kMissed;
  // The captured batch: a real upload of the device, accepted once.
  const wire::BatchId batch_id = wire::NewBatchId(c.random);
  auto captured = device->Seal(c.random, c.clock, batch_id, 30);
  if (!captured) return Verdict::kMissed;
  auto first =
      setup->Send("POST", "/api/v1/ingest", AsStringView(*captured), "application/octet-stream");
  c.Say("setup: captured batch accepted once (" +
        (first ? std::to_string(first->status) : std::string("no answer")) + ")");
  c.Say("tries: the captured batch sent again byte for byte, 3 times");
  Tally same;
  bool all_duplicate = true;
  for (int i = 0; i < 3; ++i) {
    auto answer =
        client->Send("POST", "/api/v1/ingest", AsStringView(*captured), "application/octet-stream");
    same.Add(answer);
    all_duplicate = all_duplicate && answer && answer->status == 200 &&
                    answer->body.find("\"duplicate\"") != std::string::npos;
  }
  c.Say("answers: " + same.Summary() +
        (all_duplicate ? " (\"duplicate\": stored once, nothing new)" : ""));
  c.Say("tries: the captured batch id replayed with other readings, 30 times");
  Tally other;
  for (int i = 0; i < 30; ++i) {
    auto upload = device->Seal(c.random, c.clock, batch_id, 30 + i);
    if (!upload) return Verdict::kMissed;
    auto answer =
        client->Send("POST", "/api/v1/ingest", AsStringView(*upload), "application/octet-stream");
    other.Add(answer);
  }
  c.Say("answers: " + other.Summary());
  return Judge(c, c.target.cloudlet_url, c.target.cloudlet_operator_token,
               OnScopes({c.source, device->device_id}));
}

Verdict WithdrawnDevice(const Context& c) {
  if (!NeedsDeviceSecrets(c)) return Verdict::kSkipped;
  if (c.target.cloudlet_operator_token.empty()) {
    c.Say("needs the cloudlet's operator token to withdraw the device");
    return Verdict::kSkipped;
  }
  auto device = EnrolOwnDevice(c);
  if (!device) return Verdict::kMissed;
  auto setup = ClientFor(c, c.target.cloudlet_url, "");
  auto client = ClientFor(c, c.target.cloudlet_url, c.source);
  if (!setup || !client) return Verdict::kMissed;
  auto withdrawn = setup->Send("POST", "/api/v1/devices/" + device->device_id + "/withdrawal", {},
                               {}, Bearer(c.target.cloudlet_operator_token));
  c.Say("setup: the operator withdrew " + device->device_id + " (" +
        (withdrawn ? std::to_string(withdrawn->status) : std::string("no answer")) + ")");
  c.Say("tries: the withdrawn device keeps uploading, 12 correctly signed batches");
  Tally tally;
  for (int i = 0; i < 12; ++i) {
    auto upload = device->Seal(c.random, c.clock, wire::NewBatchId(c.random), 30);
    if (!upload) return Verdict::kMissed;
    tally.Add(
        client->Send("POST", "/api/v1/ingest", AsStringView(*upload), "application/octet-stream"));
  }
  c.Say("answers: " + tally.Summary());
  return Judge(c, c.target.cloudlet_url, c.target.cloudlet_operator_token,
               OnScopes({c.source, device->device_id}));
}

Verdict AuthzProbing(const Context& c) {
  auto client = ClientFor(c, c.target.cloudlet_url, c.source);
  if (!client) return Verdict::kMissed;
  // A patient of the deployment logged in from the attack address (at most two tries, so the
  // logins alone stay far below the credentials detector), else a stolen operator token.
  std::string token;
  std::string who;
  int tries = 0;
  for (const AttackTarget::Login& l : c.target.logins) {
    if (l.role != "patient" || l.password.empty()) continue;
    if (tries++ == 2) break;
    auto session =
        client->Send("POST", "/api/v1/session",
                     Json{{"email", l.login}, {"password", l.password}}.dump(), "application/json");
    if (!session || session->status != 200) continue;
    const Json body = Json::parse(session->body, nullptr, false);
    if (body.is_object() && body["token"].is_string()) {
      token = body["token"].get<std::string>();
      who = "a patient's session";
      break;
    }
  }
  if (token.empty() && !c.target.cloudlet_operator_token.empty()) {
    token = c.target.cloudlet_operator_token;
    who = "a stolen operator token";
  }
  if (token.empty()) {
    c.Say("needs a patient login (demo-logins.json) or the cloudlet's operator token");
    return Verdict::kSkipped;
  }
  c.Say("tries: 30 foreign or unknown device ids on id routes with " + who +
        " (GET /api/v1/console/devices/{id}/uploads and /stream)");
  Tally tally;
  for (int i = 0; i < 30; ++i) {
    const std::string id =
        i % 3 == 0 ? "wearable-" + std::to_string(10 + i % 90) : "dev-" + Hex(c.random, 3);
    const std::string route = i % 2 == 0 ? "/uploads" : "/stream";
    auto answer =
        client->Send("GET", "/api/v1/console/devices/" + id + route, {}, {}, Bearer(token));
    tally.Add(answer);
    if (answer && Tally::IsIdsRefusal(*answer) && tally.ids_refusals >= 3) break;
  }
  c.Say("answers: " + tally.Summary());
  return Judge(c, c.target.cloudlet_url, c.target.cloudlet_operator_token, OnScopes({c.source}));
}

Verdict Injection(const Context& c) {
  auto client = ClientFor(c, c.target.cloudlet_url, c.source);
  if (!client) return Verdict::kMissed;
  c.Say("tries: " + std::to_string(kInjectionPayloads.size()) +
        " SQLi/XSS/traversal/command/template payloads, each in a query string (GET "
        "/api/v1/stats?q=) and "
        "in a login body (POST /api/v1/session)");
  Tally tally;
  for (std::string_view payload : kInjectionPayloads) {
    tally.Add(client->Send(
        "GET", "/api/v1/stats?q=" + UrlEncode(payload) + "&sort=" + UrlEncode(payload)));
    tally.Add(client->Send("POST", "/api/v1/session",
                           Json{{"email", payload}, {"password", payload}}.dump(),
                           "application/json"));
    if (tally.ids_refusals >= 3) break;
  }
  c.Say("answers: " + tally.Summary());
  return Judge(c, c.target.cloudlet_url, c.target.cloudlet_operator_token, OnScopes({c.source}));
}

Verdict RequestFlood(const Context& c) {
  auto target = ParseHttpUrl(c.target.cloudlet_url);
  if (!target) return Verdict::kMissed;
  constexpr int kThreads = 4;
  constexpr auto kFor = std::chrono::seconds(3);
  c.Say("tries: GET /api/v1/stats as fast as 4 kept-alive connections go, for up to 3 s");
  std::atomic<bool> stop{false};
  std::vector<Tally> tallies(kThreads);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SourceClient client(*target, c.source, c.target.timeout);
      while (!stop.load() && std::chrono::steady_clock::now() - start < kFor) {
        auto answer = client.Send("GET", "/api/v1/stats");
        tallies[static_cast<std::size_t>(t)].Add(answer);
        // Once refused for a while, the point is made.
        if (tallies[static_cast<std::size_t>(t)].ids_refusals >= 50) stop = true;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Tally all;
  int sent = 0;
  for (const Tally& t : tallies) {
    for (const auto& [status, count] : t.statuses) {
      all.statuses[status] += count;
      sent += count;
    }
    all.ids_refusals += t.ids_refusals;
    all.no_answer += t.no_answer;
  }
  c.Say("sent " + std::to_string(sent) + " requests in " +
        std::to_string(static_cast<int>(seconds * 1000)) + " ms");
  c.Say("answers: " + all.Summary());
  return Judge(c, c.target.cloudlet_url, c.target.cloudlet_operator_token, OnScopes({c.source}));
}

Verdict SlowConnections(const Context& c) {
  auto target = ParseHttpUrl(c.target.cloudlet_url);
  if (!target) return Verdict::kMissed;
  constexpr int kConnections = 14;
  c.Say("tries: " + std::to_string(kConnections) +
        " connections that send half a request head and then nothing (slowloris)");
  std::vector<RawConnection> open;
  int refused = 0;
  for (int i = 0; i < kConnections; ++i) {
    auto connection = RawConnection::Open(*target, c.source, c.target.timeout);
    if (!connection) {
      ++refused;
      continue;
    }
    if (!connection->Write("GET /api/v1/stats HTTP/1.1\r\nHost: " + target->host + "\r\nX-Slow-" +
                           std::to_string(i) + ": ")) {
      ++refused;
      continue;
    }
    open.push_back(std::move(*connection));
  }
  // The server's head timeout (5 s by default) ends each one without an answer.
  int closed = 0;
  for (RawConnection& connection : open) {
    if (connection.WaitClosed(std::chrono::seconds(30))) ++closed;
  }
  c.Say("answers: the node closed " + std::to_string(closed) + " of " +
        std::to_string(open.size()) + " held connections" +
        (refused > 0 ? ", " + std::to_string(refused) + " could not be opened" : ""));
  const Verdict verdict =
      Judge(c, c.target.cloudlet_url, c.target.cloudlet_operator_token, OnScopes({c.source}));
  SourceClient after(*target, c.source, c.target.timeout);
  Tally tally;
  tally.Add(after.Send("GET", "/api/v1/stats"));
  c.Say("then one ordinary request from the same source: " + tally.Summary());
  return verdict;
}

Verdict DatabaseTampering(const Context& c) {
  const AttackTarget& t = c.target;
  const fs::path file = t.cloud_data_dir / "records.db";
  std::error_code ec;
  if (t.cloud_data_dir.empty() || !fs::exists(file, ec) || t.cloud_operator_token.empty()) {
    c.Say(
        "needs the cloud's data folder (SQLite records.db) and its operator token "
        "(--deployment)");
    return Verdict::kSkipped;
  }
  auto client = ClientFor(c, t.cloud_url, "");
  if (!client) return Verdict::kMissed;
  const auto verify = [&]() -> std::optional<Json> {
    auto answer = client->Send("GET", "/api/v1/integrity", {}, {}, Bearer(t.cloud_operator_token));
    if (!answer || answer->status != 200) return std::nullopt;
    Json body = Json::parse(answer->body, nullptr, false);
    if (!body.is_object()) return std::nullopt;
    return body;
  };
  const auto before = verify();
  c.Say("setup: the cloud's integrity check before: " +
        (before ? before->dump() : std::string("no answer")));

  const std::int64_t tampered_ms = wire::NowMs(c.clock);
  // One byte of one stored medical part (mi), flipped in the file while the cloud runs; the
  // original is put back afterwards.
  std::string mi_ref;
  std::vector<unsigned char> original;
  try {
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);
    SQLite::Statement pick(db, "SELECT mi_ref, ciphertext FROM mi ORDER BY mi_ref LIMIT 1");
    if (!pick.executeStep()) {
      c.Say("the cloud stores no record yet: nothing to tamper with");
      return Verdict::kSkipped;
    }
    mi_ref = pick.getColumn(0).getString();
    const auto* blob = static_cast<const unsigned char*>(pick.getColumn(1).getBlob());
    original.assign(blob, blob + pick.getColumn(1).getBytes());
    pick.reset();
    std::vector<unsigned char> altered = original;
    altered[altered.size() / 2] ^= 0x01;
    SQLite::Statement write(db, "UPDATE mi SET ciphertext = ? WHERE mi_ref = ?");
    write.bind(1, altered.data(), static_cast<int>(altered.size()));
    write.bind(2, mi_ref);
    write.exec();
  } catch (const std::exception&) {
    c.Say("cannot write the cloud's records.db");
    return Verdict::kMissed;
  }
  c.Say("tries: flipped one bit of a stored medical-information part in records.db (" +
        std::to_string(original.size()) +
        " bytes), then asked the cloud to verify "
        "(GET /api/v1/integrity)");
  const auto after = verify();
  c.Say("answers: the cloud's integrity check after: " +
        (after ? after->dump() : std::string("no answer")));
  const bool found = after && !after->value("ok", true);

  const Verdict ids =
      Judge(c, t.cloud_url, t.cloud_operator_token, Watch{{}, "integrity", tampered_ms});
  try {
    SQLite::Database db(file.string(), SQLite::OPEN_READWRITE);
    db.setBusyTimeout(5000);
    SQLite::Statement write(db, "UPDATE mi SET ciphertext = ? WHERE mi_ref = ?");
    write.bind(1, original.data(), static_cast<int>(original.size()));
    write.bind(2, mi_ref);
    write.exec();
    c.Say("cleanup: the original bytes are back");
  } catch (const std::exception&) {
    c.Say("cleanup: could not put the original bytes back");
  }
  if (ids != Verdict::kMissed) return ids;
  if (found) {
    c.Say("the integrity check found the change; the IDS has no tampering alert for it");
    return Verdict::kDetected;
  }
  return Verdict::kMissed;
}

// A compromised cloudlet peer (its node key and certificate stolen) tells the target that an
// innocent address attacked it. The innocent address (this scenario's source) first behaves
// normally at the target. The mesh must not let one peer's word block anyone: its reports are
// at most alerts until a second origin corroborates them (ids/mesh_fusion.h), and the peer
// loses influence when the innocent keeps behaving (after the confirm window).
Verdict LyingPeer(const Context& c) {
  const AttackTarget& t = c.target;
  if (t.peer_id.empty() || t.cloudlet_operator_token.empty()) {
    c.Say(
        "needs a peer cloudlet's node key and certificate and the target's operator token "
        "(--deployment: a demo folder with the target's mesh peers)");
    return Verdict::kSkipped;
  }
  const std::int64_t now = wire::NowMs(c.clock);
  auto peer =
      node::LoadNodeIdentity(t.peer_key_file, t.peer_certificate_file, t.root_certificate_file,
                             wire::CertificateRole::kCloudlet, t.peer_id, now);
  if (!peer) {
    c.Say("cannot load the peer's identity: " + peer.error().message());
    return Verdict::kSkipped;
  }
  const std::unique_ptr<crypto::Signer> signer =
      crypto::NewEd25519Signer(peer->signing_key.Clone());
  auto innocent = ClientFor(c, t.cloudlet_url, c.source);
  auto operator_view = ClientFor(c, t.cloudlet_url, "");
  if (!innocent || !operator_view) return Verdict::kMissed;

  Tally honest;
  for (int i = 0; i < 5; ++i) honest.Add(innocent->Send("GET", "/api/v1/node"));
  c.Say("setup: the innocent address " + c.source + " behaves normally: " + honest.Summary());

  // The receiver refuses sequences it has seen from this origin: continue after the newest.
  std::uint64_t sequence = 1;
  const auto mesh_reports = [&]() -> Json {
    auto answer = operator_view->Send("GET", "/api/v1/ids/mesh?limit=1000", {}, {},
                                      Bearer(t.cloudlet_operator_token));
    if (!answer || answer->status != 200) return Json();
    Json body = Json::parse(answer->body, nullptr, false);
    return body.is_object() && body["reports"].is_array() ? body["reports"] : Json();
  };
  for (const Json& r : mesh_reports()) {
    if (r.value("origin", "") == t.peer_id) {
      sequence = std::max(sequence, r.value("sequence", std::uint64_t{0}) + 1);
    }
  }
  auto scope = ids::SourceScope(c.source);
  if (!scope) return Verdict::kMissed;
  constexpr int kLies = 3;
  Tally sent;
  std::set<std::string> lie_ids;
  for (int i = 0; i < kLies; ++i) {
    ids::MeshReport report;
    report.origin = t.peer_id;
    report.sequence = sequence++;
    report.sent_ms = wire::NowMs(c.clock);
    report.kind = ids::MeshReportKind::kDecision;
    ids::Decision& d = report.decision;
    d.id = Hex(c.random, 16);
    d.origin = t.peer_id;
    d.detector = "device_batches";
    d.detector_version = 1;
    d.scope = *scope;
    d.action = ids::Action::kBlock;
    d.created_ms = report.sent_ms;
    d.expires_ms = report.sent_ms + 24 * 3'600'000;
    d.offence = 1;
    d.reason = "forged batches (a lie)";
    lie_ids.insert(d.id);
    const auto certificate = peer->certificate.encoded();
    auto envelope = ids::SignMeshReport(report, *signer, ByteView(certificate));
    if (!envelope) return Verdict::kMissed;
    sent.Add(operator_view->Send("POST", "/api/v1/ids/mesh/reports", AsStringView(*envelope),
                                 "application/octet-stream"));
  }
  c.Say("tries: " + std::to_string(kLies) + " block decisions on " + c.source +
        " signed with the stolen key of peer " + t.peer_id +
        " (POST /api/v1/ids/mesh/reports): " + sent.Summary());

  int adopted = 0;
  int seen = 0;
  for (const Json& r : mesh_reports()) {
    if (!r.contains("decision") || !r["decision"].is_object()) continue;
    if (!lie_ids.contains(r["decision"].value("id", ""))) continue;
    ++seen;
    if (r.value("verdict", "") == "adopted") ++adopted;
    c.Say("answers: the mesh's verdict on a lie: " + r.value("verdict", "?") + " (" +
          r.value("why", "") + ")");
  }
  if (auto peers = operator_view->Send("GET", "/api/v1/ids/peers", {}, {},
                                       Bearer(t.cloudlet_operator_token));
      peers && peers->status == 200) {
    const Json body = Json::parse(peers->body, nullptr, false);
    if (body.is_object() && body["peers"].is_array()) {
      for (const Json& p : body["peers"]) {
        if (p.value("id", "") != t.peer_id) continue;
        c.Say("answers: the target's trust in " + t.peer_id + ": " +
              std::to_string(p.value("trust", 0.0)).substr(0, 4) + ", weight " +
              std::to_string(p.value("weight", 0.0)).substr(0, 4) + " (refuted " +
              std::to_string(p.value("refuted", 0)) + ")");
      }
    }
  }
  const IdsView view = ReadIds(c, t.cloudlet_url, t.cloudlet_operator_token, OnScopes({c.source}));
  for (const std::string& line : view.lines) c.Say("ids: " + line);
  const auto after = innocent->Send("GET", "/api/v1/node");
  const bool innocent_refused = !after || after->status == 403 || after->status == 429;
  c.Say("answers: the innocent address afterwards: " +
        (after ? std::to_string(after->status) : std::string("no answer")));
  if (view.blocked || adopted > 0 || innocent_refused) {
    c.Say("the lie was enforced: an innocent address is blocked");
    return Verdict::kMissed;
  }
  if (seen == 0) {
    c.Say("the target shows none of the lies (refused on arrival?)");
    return sent.statuses.contains(202) ? Verdict::kMissed : Verdict::kDetected;
  }
  c.Say("one peer's word blocked no one: the lies stay alerts until a second origin confirms");
  return Verdict::kDetected;
}

struct Entry {
  ScenarioInfo info;
  Verdict (*run)(const Context&);
};

const std::vector<Entry>& Entries() {
  static const std::vector<Entry> kEntries = {
      {{"brute-force", "15 passwords for one login at the cloudlet", "credentials", "cloudlet"},
       BruteForce},
      {{"credential-stuffing", "20 logins, one leaked password each", "credentials", "cloudlet"},
       Stuffing},
      {{"forged-batch", "device uploads signed by another key", "device_batches", "cloudlet"},
       ForgedBatch},
      {{"replayed-batch", "a captured batch again, and its batch id with other content",
        "device_batches", "cloudlet"},
       ReplayedBatch},
      {{"withdrawn-device", "a withdrawn device keeps uploading", "device_batches", "cloudlet"},
       WithdrawnDevice},
      {{"authz-probing", "foreign and unknown ids on id routes", "authz_probing", "cloudlet"},
       AuthzProbing},
      {{"injection", "SQLi/XSS/traversal/command payloads in queries and bodies", "payloads",
        "cloudlet"},
       Injection},
      {{"request-flood", "GET as fast as possible for 3 s", "request_flood", "cloudlet"},
       RequestFlood},
      {{"slow-connections", "14 half-sent request heads", "slow_connections", "cloudlet"},
       SlowConnections},
      {{"db-tampering", "a bit flipped in a stored record in the cloud's database", "integrity",
        "cloud"},
       DatabaseTampering},
      {{kLyingPeer, "a peer cloudlet's stolen key reports an innocent address", "mesh fusion",
        "cloudlet"},
       LyingPeer},
  };
  return kEntries;
}

}  // namespace

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kBlocked: return "BLOCKED";
    case Verdict::kDetected: return "DETECTED";
    case Verdict::kMissed: return "MISSED";
    case Verdict::kSkipped: return "SKIPPED";
  }
  return "MISSED";
}

const std::vector<ScenarioInfo>& Scenarios() {
  static const std::vector<ScenarioInfo> kInfos = [] {
    std::vector<ScenarioInfo> infos;
    for (const Entry& e : Entries()) infos.push_back(e.info);
    return infos;
  }();
  return kInfos;
}

Status LoadDeployment(const fs::path& dir, AttackTarget& target) {
  Env& env = Env::Default();
  std::error_code ec;
  if (!fs::exists(dir / "root" / "root.cert", ec)) {
    return NotFound("not a demo folder (no root/root.cert): " + dir.string());
  }
  target.root_certificate_file = dir / "root" / "root.cert";
  MEDMESH_ASSIGN_OR_RETURN(HttpTarget cloudlet, ParseHttpUrl(target.cloudlet_url));
  // The cloudlet folder whose config listens on the URL's port.
  fs::path folder = dir / "cloudlet-1";
  for (int i = 1; i <= 32; ++i) {
    const fs::path candidate = dir / ("cloudlet-" + std::to_string(i));
    auto config = env.ReadSmallFile(candidate / "config.json", 64 * 1024);
    if (!config) continue;
    const Json json = Json::parse(AsStringView(*config), nullptr, false);
    const std::string listen = json.is_object() ? json.value("listen", "") : "";
    if (listen.size() > 6 &&
        listen.substr(listen.rfind(':') + 1) == std::to_string(cloudlet.port)) {
      folder = candidate;
      break;
    }
  }
  const auto token = [](const fs::path& file) -> std::string {
    auto read = node::ReadTokenFile(file);
    if (!read) return {};
    std::string text(AsStringView(read->reveal()));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text;
  };
  if (target.cloudlet_operator_token.empty()) {
    target.cloudlet_operator_token = token(folder / "operator.token");
  }
  target.enrol_token = token(folder / "enrol.token");
  // A mesh peer of the target whose identity files are in the folder (the lying peer's).
  if (auto config = env.ReadSmallFile(folder / "config.json", 64 * 1024)) {
    const Json json = Json::parse(AsStringView(*config), nullptr, false);
    if (json.is_object() && json.contains("mesh") && json["mesh"].is_object() &&
        json["mesh"]["peers"].is_array()) {
      for (const Json& p : json["mesh"]["peers"]) {
        const std::string id = p.is_object() ? p.value("id", "") : "";
        if (id.empty() || id.find('/') != std::string::npos || id.starts_with(".")) continue;
        if (fs::exists(dir / id / "node.key", ec) && fs::exists(dir / id / "node.cert", ec)) {
          target.peer_id = id;
          target.peer_key_file = dir / id / "node.key";
          target.peer_certificate_file = dir / id / "node.cert";
          break;
        }
      }
    }
  }
  target.cloud_operator_token = token(dir / "cloud" / "operator.token");
  if (fs::exists(dir / "cloud" / "data", ec)) target.cloud_data_dir = dir / "cloud" / "data";
  if (auto logins = env.ReadSmallFile(dir / "demo-logins.json", 1 << 20)) {
    const Json json = Json::parse(AsStringView(*logins), nullptr, false);
    if (json.is_object() && json["accounts"].is_array()) {
      for (const Json& a : json["accounts"]) {
        if (!a.is_object()) continue;
        target.logins.push_back(
            {a.value("login", ""), a.value("password", ""), a.value("role", "")});
      }
    }
  }
  return OkStatus();
}

Result<ScenarioResult> RunScenario(std::string_view name, const AttackTarget& target,
                                   Random& random, const Clock& clock, const PrintLine& print) {
  const std::vector<Entry>& entries = Entries();
  const auto found = std::find_if(entries.begin(), entries.end(),
                                  [&](const Entry& e) { return e.info.name == name; });
  if (found == entries.end()) return InvalidArgument("unknown scenario: " + std::string(name));
  MEDMESH_ASSIGN_OR_RETURN(
      std::string source,
      NextAddress(target.first_source, static_cast<int>(found - entries.begin())));
  const Context context{target, random, clock, print, source};
  print("== " + std::string(found->info.name) + " (from " + source + ", against the " +
        std::string(found->info.node) + "; should fire: " + std::string(found->info.detector) +
        ")");
  ScenarioResult result{std::string(found->info.name), found->run(context), source};
  print("verdict: " + result.name + " " + std::string(VerdictName(result.verdict)));
  return result;
}

}  // namespace medmesh::attack
