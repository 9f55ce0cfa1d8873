// API benchmark (issue 8, "Performance"): the cloud's main read endpoints at demo scale over
// real HTTP on loopback, with 64 concurrent sessions, and login throughput.
//
//   make bench    or    build/release/bench/api_benchmark [--patients N] [--doctors N] ...
//
// What is real: a CloudService with its production options (real Argon2id limits, two I/O
// threads, SQLite with synchronous=FULL, the node's hash-chained audit log: every read appends
// its audit entries) and a CloudletService that forwards to it; devices enrol over HTTP and
// upload readings and their patient record sealed and signed by the production code
// (TestDevice); every measured request is an HTTP request with a bearer token from the real
// login route, on a keep-alive connection of its own session (one HttpClient per session).
//
// What is shortcut, to seed thousands of people in seconds: the accounts are written through
// the account store (AccountStore::CreateAccount, approved) with ONE precomputed Argon2id hash
// (production limits) reused for every account: Argon2id costs ~50 ms per hash by design. The
// portal activations and consents go through ClinicalService in process (the same service the
// HTTP routes call, with its audit entries), not over HTTP; the year of readings of
// `--year-patients` patients goes through cloud::SeedReadings (my_data_seed.h: the intake's own
// storage path without the HTTP hop, about 10 s per patient-year).
//
// Measured, for each endpoint, `--repeats` times (default 3; the median and the spread are
// printed):
//   paced      `--sessions` sessions (64), each sending its next request `--think-ms` after the
//              previous answer (default 500 ms, i.e. about 128 requests/s offered): the latency
//              a user sees at that load. The goal (p99 < 20 ms) is judged on this.
//   saturated  the same sessions with no think time: throughput, and the latency when the two
//              cores are the bottleneck (mostly queueing: about sessions / throughput).
//   1 session  one session, no think time: the service time of one request alone.
// Endpoints: a doctor's inbox (GET /api/v1/inbox: grants, their records decrypted, 24 h of
// readings per patient, one audit entry per patient shown), the chart statistics
// (GET /api/v1/statistics/charts over every patient's pseudonymised MI), a patient's own heart
// rate over a day and over a year (GET /api/v1/me/readings, 300 points, from the roll-ups) for
// patients holding a year of readings, and a doctor's FHIR
// GET /fhir/r4/Patient/{id}/$everything of a patient who granted them (its first page).
// Login throughput: `--login-clients` (8) and then `--sessions` (64) clients logging in with
// right passwords: logins/s accepted, and how many got 429 at once (the password pool's queue
// full; docs/accounts.md) with their latency; and the last read endpoint again, paced, while
// `--sessions` clients flood the login route (what a login flood does to everyone else).
// Client and server share the machine's two cores, as wrk did in the stack measurements.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "accounts/account_store.h"
#include "accounts/encoding.h"
#include "cloud/cloud_service.h"
#include "cloud/my_data_seed.h"
#include "cloudlet/cloudlet_service.h"
#include "core/log.h"
#include "crypto/password.h"
#include "fhir/ids.h"
#include "net/http_client.h"
#include "node/test_support.h"
#include "wire/record_codec.h"

namespace medmesh::bench {
namespace {

using Json = nlohmann::json;
using Steady = std::chrono::steady_clock;
using node::testing::TestDevice;

constexpr double kGoalP99Ms = 20.0;
constexpr std::int64_t kDayMs = 86'400'000;
constexpr char kPassword[] = "bench password, the same for all";

struct Flags {
  int patients = 2000;
  int doctors = 40;
  double grant_share = 0.25;  // patients who send their record to a doctor
  int readings_per_patient = 120;
  int sessions = 64;
  int think_ms = 500;
  double seconds = 5;  // measured part of each phase
  double warmup_seconds = 1;
  int repeats = 3;
  int login_clients = 8;
  int seed_threads = 4;
  int year_patients = 4;  // the last ones: a year of readings each
};

std::int64_t NowMs() { return wire::ToUnixMs(std::chrono::system_clock::now()); }

void Check(bool ok, const std::string &what) {
  if (!ok) {
    std::fprintf(stderr, "api_benchmark: %s\n", what.c_str());
    std::exit(1);
  }
}
template <typename T>
T Must(Result<T> r, const std::string &what) {
  Check(static_cast<bool>(r), what + (r ? "" : ": " + r.error().ToString()));
  return std::move(*r);
}
void Must(const Status &s, const std::string &what) {
  Check(static_cast<bool>(s), what + (s ? "" : ": " + s.error().ToString()));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Person {
  std::string login;
  std::string account_id;
  std::string patient_id;
};

// One measurement: latencies of the successful (200) requests, and of the
// others ("errors", e.g. 429 from the full password pool), over the measured wall time.
struct Sample {
  std::vector<double> latencies_ms;
  std::uint64_t errors = 0;
  std::vector<double> error_latencies_ms;
  double seconds = 0;
  double p50() const { return Percentile(latencies_ms, 0.50); }
  double p99() const { return Percentile(latencies_ms, 0.99); }
  double rate() const {
    return seconds > 0 ? static_cast<double>(latencies_ms.size()) / seconds : 0;
  }
};

// One keep-alive client per session, made once: a client's TLS context loads
// the system trust store when it is made, which costs far more than a request.
std::vector<std::unique_ptr<net::HttpClient>> SessionClients(int sessions) {
  std::vector<std::unique_ptr<net::HttpClient>> clients;
  for (int s = 0; s < sessions; ++s) {
    net::ClientOptions options;
    options.max_idle_connections_per_origin = 1;
    options.request_timeout = std::chrono::seconds(60);
    options.max_response_body_bytes = std::size_t{64} << 20;
    clients.push_back(Must(net::HttpClient::Create(options), "client"));
  }
  return clients;
}

// One thread per session (its own client from SessionClients) sends
// `request(session)` in a loop for warmup + measured seconds, pausing about
// `think` after each answer; only requests sent and answered within the
// measured part count (a non-200 answer is an error).
Sample Run(std::vector<std::unique_ptr<net::HttpClient>> &clients, int sessions,
           std::chrono::milliseconds think, double warmup_s, double measured_s,
           const std::function<net::ClientRequest(int session)> &request) {
  constexpr int ok_status = 200;
  std::mutex mu;
  Sample total;
  const auto start = Steady::now();
  const auto measure_from =
      start + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(warmup_s));
  const auto measure_to = measure_from + std::chrono::duration_cast<Steady::duration>(
                                             std::chrono::duration<double>(measured_s));
  std::vector<std::thread> threads;
  for (int s = 0; s < sessions; ++s) {
    threads.emplace_back([&, s] {
      net::HttpClient *client = clients[static_cast<std::size_t>(s)].get();
      std::mt19937 jitter(static_cast<unsigned>(s));
      // Spread the sessions' first requests over one think time.
      if (think.count() > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(jitter() % think.count()));
      }
      Sample mine;
      const net::ClientRequest r = request(s);
      while (true) {
        const auto t0 = Steady::now();
        if (t0 >= measure_to) break;
        auto response = client->Send(r);
        const auto t1 = Steady::now();
        if (t0 >= measure_from && t1 <= measure_to) {
          if (response && response->status == ok_status) {
            mine.latencies_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
          } else {
            ++mine.errors;
            mine.error_latencies_ms.push_back(
                std::chrono::duration<double, std::milli>(t1 - t0).count());
          }
        }
        if (think.count() > 0) {
          // +-20 % so that the sessions do not fall into lockstep.
          const auto pause =
              think.count() * 8 / 10 + static_cast<long>(jitter() % (think.count() * 4 / 10 + 1));
          std::this_thread::sleep_for(std::chrono::milliseconds(pause));
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      total.latencies_ms.insert(total.latencies_ms.end(), mine.latencies_ms.begin(),
                                mine.latencies_ms.end());
      total.errors += mine.errors;
      total.error_latencies_ms.insert(total.error_latencies_ms.end(),
                                      mine.error_latencies_ms.begin(),
                                      mine.error_latencies_ms.end());
    });
  }
  for (std::thread &t : threads) t.join();
  total.seconds = measured_s;
  return total;
}

// "median [min-max]" of `values`.
std::string Spread(std::vector<double> values, const char *format = "%.1f") {
  std::sort(values.begin(), values.end());
  char buf[96];
  char a[24], b[24], c[24];
  std::snprintf(a, sizeof a, format, values[values.size() / 2]);
  std::snprintf(b, sizeof b, format, values.front());
  std::snprintf(c, sizeof c, format, values.back());
  std::snprintf(buf, sizeof buf, "%s [%s-%s]", a, b, c);
  return buf;
}

struct Endpoint {
  std::string name;
  std::function<net::ClientRequest(int session)> request;
};

int Main(const Flags &flags) {
  log::SetLevel(log::Level::kWarn);
  node::testing::TempDir dir;
  node::testing::TestDeployment deployment(dir.path() / "pki");
  SystemClock clock;
  SystemRandom random;

  // --- The cloud and one cloudlet, production options (port 0 aside) ---
  cloud::CloudOptions options;
  options.data_dir = dir.path() / "cloud";
  options.access_log = false;
  cloud::CloudSecrets secrets{
      Must(deployment.Identity(wire::CertificateRole::kCloud, "cloud"), "cloud identity"),
      crypto::KeyEncryptionKey::Generate(random), SecretBytes(random.Generate(32)),
      SecretBytes(random.Generate(32)), SecretBytes()};
  auto cloud =
      Must(cloud::CloudService::Start(std::move(options), std::move(secrets), clock, random),
           "starting the cloud");
  const std::string url = "http://127.0.0.1:" + std::to_string(cloud->port());

  const SecretBytes enrol_token = node::testing::RandomToken(random);
  cloudlet::CloudletOptions edge;
  edge.data_dir = dir.path() / "cloudlet";
  edge.access_log = false;
  edge.forwarder.cloud_url = url;
  edge.forwarder.poll_interval = std::chrono::milliseconds(50);
  cloudlet::CloudletSecrets edge_secrets{
      Must(deployment.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1"),
           "cloudlet identity"),
      crypto::KeyEncryptionKey::Generate(random), enrol_token.Clone(), SecretBytes()};
  auto cloudlet = Must(
      cloudlet::CloudletService::Start(std::move(edge), std::move(edge_secrets), clock, random),
      "starting the cloudlet");
  const std::string cloudlet_url = "http://127.0.0.1:" + std::to_string(cloudlet->port());

  // --- Accounts through the store, one precomputed Argon2id hash (production
  // limits) ---
  const auto seed_start = Steady::now();
  const crypto::PasswordHasher hasher;
  const std::string hash = Must(hasher.Hash(kPassword), "hashing");
  accounts::AccountStore &store = cloud->accounts().store();
  auto create = [&](accounts::Role role, const std::string &login) {
    accounts::Account a;
    a.account_id = accounts::NewId("acc_", random);
    a.role = role;
    a.status = accounts::AccountStatus::kApproved;
    a.login = login;
    a.password_hash = hash;
    a.display_name = login.substr(0, login.find('@'));
    a.created_ms = a.status_changed_ms = NowMs();
    if (role == accounts::Role::kPatient) a.patient_id = accounts::NewId("pat_", random);
    if (role == accounts::Role::kOperator) a.cloudlet_id = "cloudlet-1";
    if (role == accounts::Role::kDoctor) {
      a.licence_number = "BENCH-" + a.display_name;
      a.speciality = "cardiology";
      a.hospital = "Bench General";
    }
    Must(store.CreateAccount(a), "creating an account");
    return Person{a.login, a.account_id, a.patient_id};
  };
  std::vector<Person> patients;
  std::vector<Person> doctors;
  for (int i = 0; i < flags.patients; ++i) {
    patients.push_back(
        create(accounts::Role::kPatient, "patient" + std::to_string(i) + "@bench.example.org"));
  }
  for (int i = 0; i < flags.doctors; ++i) {
    doctors.push_back(
        create(accounts::Role::kDoctor, "doctor" + std::to_string(i) + "@bench.example.org"));
  }
  const Person op = create(accounts::Role::kOperator, "operator@bench.example.org");
  const double accounts_s = std::chrono::duration<double>(Steady::now() - seed_start).count();

  // --- Devices: enrol over HTTP, upload readings (the last hour) and the
  // patient record ---
  const auto data_start = Steady::now();
  const node::RootOfTrust root = deployment.Root();
  {
    std::atomic<int> next{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < flags.seed_threads; ++t) {
      threads.emplace_back([&] {
        auto client = Must(net::HttpClient::Create({}), "client");
        SystemRandom device_random;
        while (true) {
          const int i = next.fetch_add(1);
          if (i >= flags.patients) break;
          const Person &p = patients[static_cast<std::size_t>(i)];
          TestDevice device("dev-" + std::to_string(i), p.patient_id, device_random, clock);
          Must(device.Enrol(*client, cloudlet_url, enrol_token, root.key), "enrolling");
          const Bytes readings = Must(device.SealReadings(node::testing::HeartRate(
                                          NowMs() - 60'000, flags.readings_per_patient)),
                                      "sealing readings");
          const Bytes record =
              Must(wire::EncodePatientRecord(device.Record("rec-" + std::to_string(i))), "record");
          const Bytes sealed =
              Must(device.Seal(wire::ContentType::kPatientRecord, record), "sealing");
          for (const Bytes *upload : {&readings, &sealed}) {
            auto r = client->Post(cloudlet_url + "/api/v1/ingest",
                                  std::string(AsStringView(*upload)), "application/octet-stream");
            Check(r && r->status == 200, "an upload was refused");
          }
        }
      });
    }
    for (std::thread &t : threads) t.join();
  }
  while (true) {
    auto stats = cloud->Stats();
    if (stats && stats->records >= static_cast<std::uint64_t>(flags.patients) &&
        cloudlet->Stats().forward_queue_depth == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double data_s = std::chrono::duration<double>(Steady::now() - data_start).count();

  // --- A year of readings for the last `--year-patients` patients (who grant
  // nobody, so the inbox and FHIR rows do not depend on them): a second device
  // each, enrolled through the cloudlet, then cloud::SeedReadings (the mydata
  // slice's fast path: hourly batches of three kinds per minute, stored with
  // their roll-ups and chain entries as intake stores them).
  const auto year_start = Steady::now();
  std::vector<std::size_t> year_patients;
  {
    auto year_client = Must(net::HttpClient::Create({}), "client");
    std::vector<std::unique_ptr<TestDevice>> devices;
    for (int y = 0; y < std::min(flags.year_patients, flags.patients); ++y) {
      const auto i = static_cast<std::size_t>(flags.patients - 1 - y);
      year_patients.push_back(i);
      devices.push_back(std::make_unique<TestDevice>("year-dev-" + std::to_string(i),
                                                     patients[i].patient_id, random, clock));
      Must(devices.back()->Enrol(*year_client, cloudlet_url, enrol_token, root.key), "enrolling");
      // One upload, so that the enrolment has reached the cloud when it has
      // arrived.
      const Bytes readings = Must(
          devices.back()->SealReadings(node::testing::HeartRate(NowMs() - 60'000, 1)), "sealing");
      auto r = year_client->Post(cloudlet_url + "/api/v1/ingest",
                                 std::string(AsStringView(readings)), "application/octet-stream");
      Check(r && r->status == 200, "an upload was refused");
    }
    while (true) {
      auto stats = cloud->Stats();
      if (stats &&
          stats->reading_batches >=
              static_cast<std::uint64_t>(flags.patients) + year_patients.size() &&
          cloudlet->Stats().forward_queue_depth == 0) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const std::int64_t hour = 3'600'000;
    const std::int64_t to_ms = NowMs() / hour * hour;
    for (std::size_t y = 0; y < year_patients.size(); ++y) {
      const cloud::SeedDevice device{devices[y]->device_id(), devices[y]->patient_id(),
                                     "cloudlet-1", devices[y]->signer()};
      cloud::ReadingSeedOptions seed_options;
      seed_options.from_ms = to_ms - 365 * kDayMs;
      seed_options.to_ms = to_ms;
      seed_options.first_sequence = 1000;
      Must(cloud::SeedReadings(cloud->intake(), cloud->records(), cloud->intake_store(), device,
                               seed_options, random, clock),
           "seeding a year of readings");
    }
  }
  const double year_s = std::chrono::duration<double>(Steady::now() - year_start).count();

  // --- Portal activations and consents through the clinical service ---
  const auto workflow_start = Steady::now();
  cloud::ClinicalService &clinical = cloud->clinical();
  accounts::Principal operator_principal{
      op.account_id, accounts::Role::kOperator, "",   "cloudlet-1",
      "ses_bench",   NowMs() + 3'600'000,       false};
  int grants = 0;
  for (int i = 0; i < flags.patients; ++i) {
    const Person &p = patients[static_cast<std::size_t>(i)];
    accounts::Principal who{p.account_id, accounts::Role::kPatient, p.patient_id, "",
                            "ses_bench",  NowMs() + 3'600'000,      false};
    auto asked = Must(clinical.RequestActivation(who, "cloudlet-1", "bench"), "activation");
    Must(clinical.DecideActivation(operator_principal, asked.activation_id, true, "", "bench"),
         "approving");
    if (i < static_cast<int>(flags.grant_share * flags.patients)) {
      const Person &doctor = doctors[static_cast<std::size_t>(i % flags.doctors)];
      Must(clinical.GrantConsent(who, doctor.account_id,
                                 {{"dev-" + std::to_string(i), "rec-" + std::to_string(i)}},
                                 "bench"),
           "granting");
      ++grants;
    }
  }
  const double workflow_s = std::chrono::duration<double>(Steady::now() - workflow_start).count();

  // --- Sessions through the real login route ---
  auto client = Must(net::HttpClient::Create({}), "client");
  auto login = [&](const Person &p) -> std::string {
    for (int attempt = 0; attempt < 100; ++attempt) {
      auto r = client->Post(url + "/api/v1/session",
                            Json{{"email", p.login}, {"password", kPassword}}.dump(),
                            "application/json");
      Check(static_cast<bool>(r), "login: no answer");
      if (r->status == 429) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
      Check(r->status == 200, "login refused: HTTP " + std::to_string(r->status));
      return Json::parse(r->body)["token"].get<std::string>();
    }
    Check(false, "login: always busy");
    return "";
  };
  // One session (login) per measured session: doctor s % doctors, year patient
  // s % year.
  std::vector<std::string> doctor_tokens;
  std::vector<std::string> year_tokens;
  for (int s = 0; s < flags.sessions; ++s) {
    doctor_tokens.push_back(login(doctors[static_cast<std::size_t>(s % flags.doctors)]));
    if (!year_patients.empty()) {
      year_tokens.push_back(
          login(patients[year_patients[static_cast<std::size_t>(s) % year_patients.size()]]));
    }
  }

  std::printf("API benchmark: cloud + 1 cloudlet in this process, HTTP on loopback\n");
  std::printf(
      "seeded: %d patients (accounts %.1f s through the store), %d "
      "doctors, %d grants; devices, "
      "%d readings + 1 record each over HTTP via the cloudlet (%.1f "
      "s); activations and consents "
      "(%.1f s); a year of readings (3 kinds a minute) for %zu "
      "patients (%.1f s)\n",
      flags.patients, accounts_s, flags.doctors, grants, flags.readings_per_patient, data_s,
      workflow_s, year_patients.size(), year_s);
  std::printf(
      "%d sessions, each its own keep-alive connection; paced: %d ms think "
      "time; "
      "%.0f s measured after %.0f s warm-up, %d repeats: median [min-max]\n\n",
      flags.sessions, flags.think_ms, flags.seconds, flags.warmup_seconds, flags.repeats);

  auto get = [&](const std::string &path, const std::string &token) {
    net::ClientRequest r;
    r.method = net::Method::kGet;
    r.url = url + path;
    r.headers.emplace_back("Authorization", "Bearer " + token);
    return r;
  };
  auto clients = SessionClients(std::max(flags.sessions, flags.login_clients));
  std::vector<Endpoint> endpoints;
  endpoints.push_back({"GET /api/v1/inbox (doctor)", [&](int s) {
                         return get("/api/v1/inbox", doctor_tokens[static_cast<std::size_t>(s)]);
                       }});
  endpoints.push_back({"GET /api/v1/statistics/charts", [&](int s) {
                         return get("/api/v1/statistics/charts",
                                    doctor_tokens[static_cast<std::size_t>(s)]);
                       }});  // A patient's own readings (workflow 2) from the
                             // roll-ups, of a patient with a year of them:
  // the last day and the last year of heart rate, in the default 300 points.
  const std::int64_t now_ms = NowMs();
  for (const auto &[name, span_ms] :
       {std::pair<std::string, std::int64_t>{"GET /api/v1/me/readings (a day)", kDayMs},
        std::pair<std::string, std::int64_t>{"GET /api/v1/me/readings (a year)", 365 * kDayMs}}) {
    if (year_tokens.empty()) break;
    const std::int64_t from = now_ms - span_ms;
    endpoints.push_back({name, [&, from](int s) {
                           return get("/api/v1/me/readings?kind=heart_rate&from=" +
                                          std::to_string(from) + "&to=" + std::to_string(now_ms),
                                      year_tokens[static_cast<std::size_t>(s)]);
                         }});
  }
  // A doctor's FHIR $everything of one of the patients who granted them their
  // record (patient i granted doctor i % doctors): first page (Patient,
  // Consent, MedicationRequests, then up to 100 Observations).
  const int per_doctor = std::max(1, grants / flags.doctors);
  endpoints.push_back({"GET /fhir/r4/Patient/{id}/$everything", [&, per_doctor](int s) {
                         const int d = s % flags.doctors;
                         const int i = d + flags.doctors * ((s / flags.doctors) % per_doctor);
                         const std::string id =
                             Must(fhir::ToFhirId(patients[static_cast<std::size_t>(i)].patient_id),
                                  "fhir id");
                         return get("/fhir/r4/Patient/" + id + "/$everything",
                                    doctor_tokens[static_cast<std::size_t>(s)]);
                       }});

  // The charts are kept until the next record arrives (ThreePartStore::MedicalCounts): the
  // first request after seeding computes them over every patient (the cost after each new
  // record), the next ones read the cache.
  {
    const net::ClientRequest charts = get("/api/v1/statistics/charts", doctor_tokens.at(0));
    double ms[2] = {0, 0};
    for (double &m : ms) {
      const auto t0 = Steady::now();
      auto r = clients.at(0)->Send(charts);
      m = std::chrono::duration<double, std::milli>(Steady::now() - t0).count();
      Check(r && r->status == 200, "charts request failed");
    }
    std::printf(
        "GET /api/v1/statistics/charts once alone: %.1f ms computed (after a new record), "
        "%.1f ms cached\n\n",
        ms[0], ms[1]);
  }

  std::printf("%-40s %-9s %14s %20s %20s %12s %7s\n", "endpoint", "mode", "req/s", "p50 ms",
              "p99 ms", "p99/20ms", "errors");
  struct Mode {
    const char *name;
    int sessions;
    int think_ms;
  };
  const Mode modes[] = {{"paced", flags.sessions, flags.think_ms},
                        {"saturated", flags.sessions, 0},
                        {"1 session", 1, 0}};
  for (const Endpoint &e : endpoints) {
    for (const Mode &mode : modes) {
      std::vector<double> p50s, p99s, rates;
      std::uint64_t errors = 0;
      for (int rep = 0; rep < flags.repeats; ++rep) {
        const Sample s = Run(clients, mode.sessions, std::chrono::milliseconds(mode.think_ms),
                             flags.warmup_seconds, flags.seconds, e.request);
        p50s.push_back(s.p50());
        p99s.push_back(s.p99());
        rates.push_back(s.rate());
        errors += s.errors;
      }
      std::vector<double> ratios;
      for (double p : p99s) ratios.push_back(p / kGoalP99Ms);
      std::printf("%-40s %-9s %14s %20s %20s %12s %7llu\n", e.name.c_str(), mode.name,
                  Spread(rates, "%.0f").c_str(), Spread(p50s, "%.2f").c_str(),
                  Spread(p99s, "%.2f").c_str(), Spread(ratios, "%.2f").c_str(),
                  static_cast<unsigned long long>(errors));
      std::fflush(stdout);
    }
  }

  // --- Login throughput: right passwords, as fast as the clients can ---
  const auto login_request = [&](int c) {
    net::ClientRequest r;
    r.method = net::Method::kPost;
    r.url = url + "/api/v1/session";
    r.content_type = "application/json";
    r.body = Json{{"email", patients[static_cast<std::size_t>(c) % patients.size()].login},
                  {"password", kPassword}}
                 .dump();
    return r;
  };
  std::printf(
      "\nlogin (POST /api/v1/session, right passwords, Argon2id 64 MiB on the password pool: "
      "%zu threads, %zu queued at most, then 429 at once)\n",
      cloud->accounts().password_pool().threads(),
      cloud->accounts().password_pool().queue_capacity());
  for (const int login_clients : {flags.login_clients, flags.sessions}) {
    std::vector<double> rates, p50s, p99s, busy, busy_p99s;
    for (int rep = 0; rep < flags.repeats; ++rep) {
      const Sample s = Run(clients, login_clients, std::chrono::milliseconds(0),
                           flags.warmup_seconds, flags.seconds, login_request);
      rates.push_back(s.rate());
      p50s.push_back(s.p50());
      p99s.push_back(s.p99());
      busy.push_back(static_cast<double>(s.errors) / flags.seconds);
      busy_p99s.push_back(Percentile(s.error_latencies_ms, 0.99));
    }
    std::printf(
        "  %2d clients: %s logins/s accepted (p50 %s ms, p99 %s ms); "
        "refused %s/s (429 busy, "
        "p99 %s ms)\n",
        login_clients, Spread(rates).c_str(), Spread(p50s).c_str(), Spread(p99s).c_str(),
        Spread(busy).c_str(), Spread(busy_p99s).c_str());
    std::fflush(stdout);
  }

  // --- A read endpoint while `--sessions` clients flood the login route ---
  {
    auto flood_clients = SessionClients(flags.sessions);
    const Endpoint &e = endpoints.back();
    std::vector<double> p50s, p99s;
    for (int rep = 0; rep < flags.repeats; ++rep) {
      std::thread flood([&] {
        static_cast<void>(Run(flood_clients, flags.sessions, std::chrono::milliseconds(0), 0,
                              flags.warmup_seconds + flags.seconds, login_request));
      });
      const Sample s = Run(clients, flags.sessions, std::chrono::milliseconds(flags.think_ms),
                           flags.warmup_seconds, flags.seconds, e.request);
      flood.join();
      p50s.push_back(s.p50());
      p99s.push_back(s.p99());
    }
    std::printf(
        "  %s paced, during a flood of %d login clients: p50 %s ms, "
        "p99 %s ms\n",
        e.name.c_str(), flags.sessions, Spread(p50s, "%.2f").c_str(), Spread(p99s, "%.2f").c_str());
  }
  std::printf(
      "\ngoal: p99 < %.0f ms for the read endpoints at 64 sessions (paced "
      "rows; p99/20ms < 1 "
      "meets it). Saturated: no think time, latency is mostly queueing (about "
      "sessions / "
      "throughput). 1 session: the service time of one request alone.\n",
      kGoalP99Ms);
  return 0;
}

}  // namespace
}  // namespace medmesh::bench

int main(int argc, char **argv) {
  medmesh::bench::Flags flags;
  CLI::App app{
      "MedMesh API benchmark: read endpoints at demo scale, 64 "
      "sessions, logins"};
  app.add_option("--patients", flags.patients, "Patient accounts (each with a device)")
      ->capture_default_str();
  app.add_option("--doctors", flags.doctors, "Doctor accounts")->capture_default_str();
  app.add_option("--grant-share", flags.grant_share, "Share of patients who grant a doctor")
      ->capture_default_str();
  app.add_option("--readings", flags.readings_per_patient, "Readings per patient (last hour)")
      ->capture_default_str();
  app.add_option("--sessions", flags.sessions, "Concurrent sessions")->capture_default_str();
  app.add_option("--think-ms", flags.think_ms, "Paced mode: pause after each answer")
      ->capture_default_str();
  app.add_option("--seconds", flags.seconds, "Measured seconds per phase")->capture_default_str();
  app.add_option("--warmup-seconds", flags.warmup_seconds, "Warm-up per phase")
      ->capture_default_str();
  app.add_option("--repeats", flags.repeats, "Runs of each phase (median and spread)")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  app.add_option("--year-patients", flags.year_patients, "Patients with a year of readings")
      ->capture_default_str();
  app.add_option("--login-clients", flags.login_clients, "Concurrent login clients")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return medmesh::bench::Main(flags);
}
