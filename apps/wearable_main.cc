// medmesh wearable: one or more device agents (src/wearable/agent.h) in one process.
//
//   medmesh wearable --config F [--devices N] [--profile P] [--data-dir D] [--listen A]
//   medmesh wearable --config F --import-csv FILE | --import-fhir FILE
//   medmesh wearable --config F --drain
//   medmesh wearable --energy-report [--config F]
//
// Simulated devices run until SIGTERM/SIGINT; then every device seals what it has batched into
// its outbox (sent at the next start) and the process exits 0. An import uploads the file's
// readings through one device and exits when its outbox is empty (0), or 3 if the file had
// rows that were rejected. --drain delivers what the outboxes hold and exits 0. Exit code 1 for a
// failure, 2 for bad usage.
#include "apps/wearable_main.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "apps/service_flags.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/random.h"
#include "net/builtin_endpoints.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/metrics.h"
#include "net/router.h"
#include "node/data_dir.h"
#include "node/identity.h"
#include "node/shutdown.h"
#include "wearable/agent.h"
#include "wearable/agent_config.h"
#include "wearable/energy.h"
#include "wearable/import.h"
#include "wire/model.h"

namespace {

namespace fs = std::filesystem;
namespace wearable = medmesh::wearable;
namespace net = medmesh::net;
namespace node = medmesh::node;
using medmesh::Result;
using medmesh::Status;

struct WearableFlags {
  std::string config;
  std::size_t devices = 0;
  std::string profile;
  std::string import_csv;
  std::string import_fhir;
  std::string data_dir;
  std::string listen;
  bool energy_report = false;
  bool drain = false;
  bool release_held = false;
};

int Fail(std::string_view what, const medmesh::Error& error) {
  std::cerr << "medmesh wearable: " << what << ": " << error.ToString() << "\n";
  return 1;
}

int Usage(std::string_view message) {
  std::cerr << "medmesh wearable: " << message << "\n";
  return 2;
}

// --- Metrics and stats of the process ------------------------------------------------------------

class WearableMetrics {
 public:
  explicit WearableMetrics(net::MetricsRegistry& registry)
      : devices_(registry.AddGauge("medmesh_wearable_devices", "Devices run by this process.", {})
                     .WithLabels({})),
        connected_(registry
                       .AddGauge("medmesh_wearable_devices_connected",
                                 "Devices with a cloudlet to upload to.", {})
                       .WithLabels({})),
        outbox_items_(registry
                          .AddGauge("medmesh_wearable_outbox_items",
                                    "Sealed uploads waiting in the devices' outboxes.", {})
                          .WithLabels({})),
        outbox_failing_(registry
                            .AddGauge("medmesh_wearable_outbox_failing",
                                      "Outbox items backing off after a failed attempt.", {})
                            .WithLabels({})),
        held_items_(registry
                        .AddGauge("medmesh_wearable_held_uploads",
                                  "Uploads held for an operator (a refusal the agent cannot act "
                                  "on); released with --release-held.",
                                  {})
                        .WithLabels({})),
        exceptions_(registry.AddCounter("medmesh_wearable_exceptions_total",
                                        "Exceptions caught by a last-resort handler, by where: "
                                        "tick (inside a device's tick) or worker (a worker "
                                        "thread's loop).",
                                        {"where"})),
        readings_(registry.AddCounter("medmesh_wearable_readings_total",
                                      "Readings by stage: generated, queued (sealed into the "
                                      "outbox), acked (stored by a cloudlet), refused (by the "
                                      "cloudlet as implausible), implausible (left out on the "
                                      "device).",
                                      {"stage"})),
        uploads_(registry.AddCounter("medmesh_wearable_uploads_total",
                                     "Upload outcomes: acked, duplicate, rejected (refused for "
                                     "good by the cloudlet), resealed, split (after 413), held "
                                     "(for an operator), failed (no answer, 429, 5xx, or not "
                                     "the cloudlet's own answer).",
                                     {"outcome"})),
        bytes_(registry
                   .AddCounter("medmesh_wearable_upload_bytes_total",
                               "Upload envelope bytes sent (acknowledged or not).", {})
                   .WithLabels({})) {}

  // Brings the metrics up to the agents' counters and the workers' exception count (called
  // from one thread).
  void Update(const std::vector<std::unique_ptr<wearable::DeviceAgent>>& agents,
              std::uint64_t worker_exceptions) {
    wearable::AgentCounters sum;
    std::uint64_t items = 0, failing = 0, connected = 0, held = 0;
    for (const auto& agent : agents) {
      Add(sum, agent->counters());
      if (auto stats = agent->OutboxStats()) {
        items += stats->count;
        failing += stats->failing;
      }
      if (auto stats = agent->HeldStats()) held += stats->count;
      connected += agent->connected() ? 1 : 0;
    }
    held_items_.Set(static_cast<double>(held));
    Bump(readings_.WithLabels({"refused"}), sum.readings_refused, last_.readings_refused);
    Bump(readings_.WithLabels({"implausible"}), sum.readings_implausible,
         last_.readings_implausible);
    Bump(uploads_.WithLabels({"split"}), sum.splits, last_.splits);
    Bump(uploads_.WithLabels({"held"}), sum.uploads_held, last_.uploads_held);
    Bump(exceptions_.WithLabels({"tick"}), sum.tick_exceptions, last_.tick_exceptions);
    Bump(exceptions_.WithLabels({"worker"}), worker_exceptions, last_worker_exceptions_);
    devices_.Set(static_cast<double>(agents.size()));
    connected_.Set(static_cast<double>(connected));
    outbox_items_.Set(static_cast<double>(items));
    outbox_failing_.Set(static_cast<double>(failing));
    Bump(readings_.WithLabels({"generated"}), sum.readings_generated, last_.readings_generated);
    Bump(readings_.WithLabels({"queued"}), sum.readings_queued, last_.readings_queued);
    Bump(readings_.WithLabels({"acked"}), sum.readings_acked, last_.readings_acked);
    Bump(uploads_.WithLabels({"acked"}), sum.uploads_acked, last_.uploads_acked);
    Bump(uploads_.WithLabels({"duplicate"}), sum.duplicates, last_.duplicates);
    Bump(uploads_.WithLabels({"rejected"}), sum.rejected, last_.rejected);
    Bump(uploads_.WithLabels({"resealed"}), sum.reseals, last_.reseals);
    Bump(uploads_.WithLabels({"failed"}), sum.send_failures, last_.send_failures);
    Bump(bytes_, sum.bytes_sent, last_.bytes_sent);
  }

 private:
  static void Add(wearable::AgentCounters& sum, const wearable::AgentCounters& c) {
    sum.readings_generated += c.readings_generated;
    sum.readings_queued += c.readings_queued;
    sum.readings_acked += c.readings_acked;
    sum.readings_refused += c.readings_refused;
    sum.readings_implausible += c.readings_implausible;
    sum.uploads_acked += c.uploads_acked;
    sum.duplicates += c.duplicates;
    sum.rejected += c.rejected;
    sum.reseals += c.reseals;
    sum.splits += c.splits;
    sum.uploads_held += c.uploads_held;
    sum.send_failures += c.send_failures;
    sum.bytes_sent += c.bytes_sent;
    sum.tick_exceptions += c.tick_exceptions;
  }

  static void Bump(net::Counter& counter, std::uint64_t now, std::uint64_t& last) {
    if (now > last) counter.Increment(static_cast<double>(now - last));
    last = std::max(last, now);
  }

  net::Gauge& devices_;
  net::Gauge& connected_;
  net::Gauge& outbox_items_;
  net::Gauge& outbox_failing_;
  net::Gauge& held_items_;
  net::CounterFamily& exceptions_;
  net::CounterFamily& readings_;
  net::CounterFamily& uploads_;
  net::Counter& bytes_;
  wearable::AgentCounters last_;
  std::uint64_t last_worker_exceptions_ = 0;
};

// GET /api/v1/stats: public counts only (no device or patient ids, no readings; a device is
// named by its opaque log reference, the one its log lines carry).
std::string StatsJson(const std::string& node_id,
                      const std::vector<std::unique_ptr<wearable::DeviceAgent>>& agents) {
  nlohmann::json devices = nlohmann::json::array();
  wearable::AgentCounters sum;
  std::uint64_t depth = 0, failing = 0, connected = 0, held = 0;
  for (const auto& agent : agents) {
    const wearable::AgentCounters c = agent->counters();
    std::uint64_t items = 0, device_held = 0;
    if (auto stats = agent->OutboxStats()) {
      items = stats->count;
      depth += stats->count;
      failing += stats->failing;
    }
    if (auto stats = agent->HeldStats()) {
      device_held = stats->count;
      held += stats->count;
    }
    sum.readings_refused += c.readings_refused;
    sum.readings_implausible += c.readings_implausible;
    sum.splits += c.splits;
    sum.uploads_held += c.uploads_held;
    sum.tick_exceptions += c.tick_exceptions;
    connected += agent->connected() ? 1 : 0;
    sum.readings_generated += c.readings_generated;
    sum.readings_queued += c.readings_queued;
    sum.readings_acked += c.readings_acked;
    sum.uploads_acked += c.uploads_acked;
    sum.duplicates += c.duplicates;
    sum.rejected += c.rejected;
    sum.reseals += c.reseals;
    sum.send_failures += c.send_failures;
    sum.bytes_sent += c.bytes_sent;
    // No identities: this endpoint needs no token. The log reference lets an operator match a
    // row with the device's log lines without learning its id.
    devices.push_back({{"device", agent->log_ref()},
                       {"connected", agent->connected()},
                       {"readings_acked", c.readings_acked},
                       {"outbox_depth", items},
                       {"held", device_held}});
  }
  const nlohmann::json body = {{"node", node_id},
                               {"devices", agents.size()},
                               {"connected", connected},
                               {"readings_generated", sum.readings_generated},
                               {"readings_queued", sum.readings_queued},
                               {"readings_acked", sum.readings_acked},
                               {"uploads_acked", sum.uploads_acked},
                               {"duplicates", sum.duplicates},
                               {"rejected", sum.rejected},
                               {"reseals", sum.reseals},
                               {"send_failures", sum.send_failures},
                               {"bytes_sent", sum.bytes_sent},
                               {"outbox_depth", depth},
                               {"outbox_failing", failing},
                               {"held", held},
                               {"uploads_held", sum.uploads_held},
                               {"splits", sum.splits},
                               {"readings_refused", sum.readings_refused},
                               {"readings_implausible", sum.readings_implausible},
                               {"tick_exceptions", sum.tick_exceptions},
                               {"per_device", devices}};
  return body.dump();
}

// --- Energy report -------------------------------------------------------------------------------

int RunEnergyReport(const WearableFlags& flags) {
  wearable::EnergyScenario scenario;
  wearable::RadioModel radio;
  std::size_t batch = wearable::BatcherOptions{}.max_readings;
  std::string chosen = "a cloudlet at the default distance";
  if (!flags.config.empty()) {
    auto config = wearable::LoadWearableConfig(flags.config);
    if (!config) return Fail("config", config.error());
    batch = config->agent.batching.max_readings;
    scenario.cloud_distance_m = config->cloud_distance_m;
    scenario.batches_per_session = config->agent.session.max_batches_per_session;
    std::vector<wearable::CloudletCandidate> candidates;
    for (const auto& c : config->cloudlets) {
      candidates.push_back({c.id, c.distance_m, c.trust, true});
    }
    auto choice = wearable::ChooseCloudlet(
        candidates, radio, 8.0 * (static_cast<double>(batch) + 256), config->agent.min_trust);
    if (!choice) return Fail("cloudlet choice", choice.error());
    scenario.cloudlet_distance_m = choice->distance_m;
    chosen = choice->id +
             " (the configured cloudlet the energy model picks; the agent also "
             "requires its certificate to verify)";
  }
  medmesh::SystemRandom random;
  medmesh::SystemClock clock;
  std::cerr << "measuring the real crypto and encoding on this host...\n";
  auto measured = wearable::MeasureOnThisHost(wearable::SampleBatch(batch), random, clock);
  if (!measured) return Fail("measurement", measured.error());
  const wearable::EnergyReport report =
      wearable::EstimateEnergy(radio, wearable::CpuModel{}, scenario, *measured);
  std::cout << wearable::FormatEnergyReport(report);
  std::cout << "chosen setting: batches of " << batch << " readings to " << chosen << " at "
            << scenario.cloudlet_distance_m << " m; compared with every reading sent alone "
            << "straight to the remote cloud at " << scenario.cloud_distance_m << " m.\n"
            << "MODEL ESTIMATE: joules come from the model in docs/energy_model.md, not from a "
               "power meter.\n";
  return 0;
}

// --- Delivering what is queued ---------------------------------------------------------------

// Ticks the (non-simulating) agents until each is connected with an empty outbox and nothing
// batched. 0 when done, 1 if interrupted by SIGTERM/SIGINT (the rest stays in the outboxes).
int DeliverEverything(const std::vector<wearable::DeviceAgent*>& agents,
                      std::chrono::milliseconds tick) {
  auto last_progress = std::chrono::steady_clock::now();
  while (true) {
    std::uint64_t queued = 0;
    bool done = true;
    for (wearable::DeviceAgent* agent : agents) {
      if (Status st = agent->Tick(); !st) return Fail("upload", st.error());
      if (Status st = agent->Flush(); !st) return Fail("upload", st.error());
      auto stats = agent->OutboxStats();
      if (!stats) return Fail("outbox", stats.error());
      queued += stats->count;
      done = done && agent->connected() && agent->unqueued_readings() == 0 && stats->count == 0;
    }
    if (done) return 0;
    if (std::chrono::steady_clock::now() - last_progress > std::chrono::seconds(5)) {
      last_progress = std::chrono::steady_clock::now();
      std::cout << "delivering: " << queued << " uploads still in the outbox(es)\n";
    }
    if (node::WaitForTerminationSignal(tick)) {
      std::cout << "interrupted: what is in the outbox goes out at the next start\n";
      return 1;
    }
  }
}

// --- Import --------------------------------------------------------------------------------------

int RunImport(wearable::DeviceAgent& agent, const std::string& file, bool fhir,
              std::chrono::milliseconds tick) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  const wearable::ImportOptions limits;
  if (ec) return Usage("cannot read " + file);
  if (size > limits.max_input_bytes) return Usage(file + " is larger than the import limit");
  std::ifstream in(file, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto imported = fhir ? wearable::ImportFhir(text, limits) : wearable::ImportCsv(text, limits);
  if (!imported) return Fail("import", imported.error());
  std::cout << "imported " << imported->readings.size() << " readings from " << file << " ("
            << imported->rejected << " rejected, " << imported->skipped << " skipped)\n";
  for (const auto& rejection : imported->rejections) {
    std::cout << "  rejected " << rejection.location << ": " << rejection.reason << "\n";
  }
  if (Status st = agent.AddReadings(imported->readings); !st) return Fail("batching", st.error());

  std::vector<wearable::DeviceAgent*> one = {&agent};
  if (int code = DeliverEverything(one, tick); code != 0) return code;
  const wearable::AgentCounters c = agent.counters();
  std::cout << "uploaded " << c.readings_acked << " readings in " << c.uploads_acked
            << " batches to " << agent.cloudlet_id() << " (" << c.rejected
            << " batches refused for good, " << c.uploads_held << " held for an operator, "
            << c.readings_refused << " readings refused by the cloudlet as implausible)\n";
  return imported->rejected > 0 || c.rejected > 0 || c.uploads_held > 0 || c.readings_refused > 0
             ? 3
             : 0;
}

// --- The service ---------------------------------------------------------------------------------

int RunWearable(const WearableFlags& flags) {
  if (flags.energy_report) return RunEnergyReport(flags);
  if (flags.config.empty()) return Usage("--config is required");
  const bool importing = !flags.import_csv.empty() || !flags.import_fhir.empty();

  auto config = wearable::LoadWearableConfig(flags.config);
  if (!config) return Fail("config", config.error());
  if (auto logged = ApplyLogFile(config->node.log); !logged)
    return Fail("log file", logged.error());
  if (!flags.data_dir.empty()) config->node.data_dir = fs::absolute(flags.data_dir);
  // The devices' outboxes and credentials live here: one process at a time.
  auto data_dir_lock = node::DataDirLock::Acquire(config->node.data_dir);
  if (!data_dir_lock) return Fail("data folder", data_dir_lock.error());
  if (!flags.listen.empty()) {
    auto listen = node::ParseListenAddress(flags.listen);
    if (!listen) return Fail("--listen", listen.error());
    config->node.listen = *listen;
    config->serve_http = true;
  }

  std::optional<wearable::Profile> profile;
  if (!flags.profile.empty()) {
    profile = wearable::ProfileFromName(flags.profile);
    if (!profile) return Usage("unknown --profile " + flags.profile);
  }
  std::vector<wearable::DeviceSpec> devices = config->devices;
  if (flags.devices > 0) {
    std::vector<wearable::Profile> profiles;
    if (profile) profiles.push_back(*profile);
    devices = wearable::GenerateDevices(config->node.id, flags.devices, profiles);
  } else if (profile) {
    for (auto& d : devices) d.profile = profile;
  }
  if (devices.empty()) return Usage("no devices: list them in the config or pass --devices N");
  if (importing) {
    if (devices.size() != 1) return Usage("an import goes through one device: use --devices 1");
    devices[0].profile.reset();
  }
  if (flags.drain) {
    if (importing) return Usage("--drain and an import do not go together");
    for (auto& d : devices) d.profile.reset();  // deliver only, simulate nothing
  }

  medmesh::SystemClock clock;
  medmesh::SystemRandom random;
  auto root = node::LoadRootCertificate(config->node.root_certificate_file,
                                        medmesh::wire::ToUnixMs(clock.Now()));
  if (!root) return Fail("root certificate", root.error());

  net::ClientOptions client_options;
  client_options.connect_timeout = std::chrono::seconds(2);
  client_options.request_timeout = std::chrono::seconds(15);
  client_options.user_agent = "medmesh-wearable";
  if (config->node.tls) client_options.ca_file = config->node.tls->ca_file.string();
  auto client = net::HttpClient::Create(client_options);
  if (!client) return Fail("http client", client.error());

  std::vector<wearable::CloudletEndpoint> endpoints;
  for (const auto& c : config->cloudlets) {
    medmesh::SecretBytes token;
    if (!c.enrol_token_file.empty()) {
      auto read = node::ReadTokenFile(c.enrol_token_file);
      if (!read) return Fail("enrol token of " + c.id, read.error());
      token = std::move(*read);
    }
    endpoints.push_back({c.id, wearable::NewHttpCloudletLink(**client, c.url, std::move(token)),
                         c.distance_m, c.trust});
  }

  // Before any thread exists, so that every thread inherits the mask.
  node::BlockTerminationSignals();

  std::vector<std::unique_ptr<wearable::DeviceAgent>> agents;
  for (const auto& spec : devices) {
    auto agent =
        wearable::DeviceAgent::Open(spec, config->node.data_dir / "devices" / spec.device_id,
                                    root->key, endpoints, clock, random, config->agent);
    if (!agent) return Fail("device " + spec.device_id, agent.error());
    agents.push_back(std::move(*agent));
  }
  if (flags.release_held) {
    std::uint64_t released = 0;
    for (auto& agent : agents) {
      auto n = agent->ReleaseHeld();
      if (!n) return Fail("release held uploads of " + agent->spec().device_id, n.error());
      released += *n;
    }
    std::cout << "released " << released << " held upload(s) into the outboxes\n";
  }
  medmesh::log::Info("wearable_started", {{"node", config->node.id},
                                          {"devices", static_cast<std::uint64_t>(agents.size())},
                                          {"import", importing}});

  if (flags.drain) {
    std::vector<wearable::DeviceAgent*> all;
    for (auto& agent : agents) all.push_back(agent.get());
    const int code = DeliverEverything(all, config->tick);
    std::uint64_t acked = 0;
    for (const auto& agent : agents) acked += agent->counters().readings_acked;
    if (code == 0) std::cout << "drained: " << acked << " readings delivered\n";
    return code;
  }
  if (importing) {
    const bool fhir = !flags.import_fhir.empty();
    return RunImport(*agents[0], fhir ? flags.import_fhir : flags.import_csv, fhir, config->tick);
  }

  net::MetricsRegistry registry;
  WearableMetrics metrics(registry);
  std::atomic<std::uint64_t> worker_exceptions{0};
  metrics.Update(agents, worker_exceptions.load());
  std::unique_ptr<net::HttpServer> server;
  if (config->serve_http) {
    net::Router router;
    const std::string node_id = config->node.id;
    router.Get("/api/v1/stats", [&agents, node_id](const net::Request&) -> Result<net::Response> {
      return net::Response::Json(StatsJson(node_id, agents));
    });
    net::AddHealthEndpoints(router, [&agents] {
      return std::all_of(agents.begin(), agents.end(),
                         [](const auto& a) { return a->connected(); });
    });
    net::AddMetricsEndpoint(router, registry);
    net::ServerOptions options;
    options.name = "wearable";
    options.address = config->node.listen.address;
    options.port = config->node.listen.port;
    options.io_threads = 1;
    options.access_log = false;
    options.metrics = &registry;
    if (config->node.tls && !config->node.tls->cert_file.empty()) {
      options.tls =
          net::TlsFiles{config->node.tls->cert_file.string(), config->node.tls->key_file.string()};
    }
    auto started = net::HttpServer::Start(options, std::move(router));
    if (!started) return Fail("listen", started.error());
    server = std::move(*started);
    medmesh::log::Info("wearable_listening", {{"address", config->node.listen.address},
                                              {"port", static_cast<unsigned>(server->port())}});
  }

  // Worker threads, each driving every threads-th device.
  std::mutex mu;
  std::condition_variable wake;
  bool stopping = false;
  std::vector<std::thread> workers;
  const std::size_t thread_count = std::min(config->threads, agents.size());
  for (std::size_t w = 0; w < thread_count; ++w) {
    workers.emplace_back([&, w] {
      std::vector<std::string> last_error(agents.size());
      while (true) {
        const auto round = std::chrono::steady_clock::now();
        for (std::size_t i = w; i < agents.size(); i += thread_count) {
          // The last resort of this thread (Tick catches what is thrown below it): an exception
          // here would end the process. Logged without ids (it may come from the log itself),
          // counted, and the loop carries on with the next device.
          try {
            Status st = agents[i]->Tick();
            std::string error = st ? std::string() : st.error().ToString();
            if (error != last_error[i] && !error.empty()) {
              medmesh::log::Error("wearable_tick_failed",
                                  {{"device", agents[i]->log_ref()}, {"reason", error}});
            }
            last_error[i] = std::move(error);
          } catch (...) {
            worker_exceptions.fetch_add(1, std::memory_order_relaxed);
            try {
              medmesh::log::Error("wearable_worker_exception", {{"worker", w}});
            } catch (...) {  // nothing more to do: it is counted
            }
          }
        }
        std::unique_lock lock(mu);
        if (wake.wait_until(lock, round + config->tick, [&] { return stopping; })) return;
      }
    });
  }

  int signal = 0;
  while (true) {
    if (auto received = node::WaitForTerminationSignal(std::chrono::seconds(1))) {
      signal = *received;
      break;
    }
    metrics.Update(agents, worker_exceptions.load());
  }
  medmesh::log::Info("wearable_stopping", {{"signal", signal}});
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  wake.notify_all();
  for (auto& t : workers) t.join();
  // What was batched but not sealed yet goes into the outboxes, for the next start.
  for (auto& agent : agents) {
    if (Status st = agent->Flush(); !st) {
      medmesh::log::Warn("wearable_flush_failed",
                         {{"device", agent->log_ref()}, {"reason", st.error().ToString()}});
    }
  }
  if (server) server->Stop(std::chrono::seconds(2));
  metrics.Update(agents, worker_exceptions.load());
  std::uint64_t acked = 0, outbox = 0;
  for (const auto& agent : agents) {
    acked += agent->counters().readings_acked;
    if (auto stats = agent->OutboxStats()) outbox += stats->count;
  }
  medmesh::log::Info("wearable_stopped", {{"readings_acked", acked}, {"outbox_items", outbox}});
  return 0;
}

}  // namespace

void RegisterWearableCommand(CLI::App& app) {
  auto flags = std::make_shared<WearableFlags>();
  CLI::App* cmd = app.add_subcommand(
      "wearable",
      "Run simulated wearables (or upload an imported file) against the cloudlets of a config");
  cmd->add_option("--config", flags->config, "Wearable config file (JSON, docs/wearable.md)");
  cmd->add_option("--devices", flags->devices,
                  "Run N generated devices instead of the config's list")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--profile", flags->profile,
                  "Disease profile of the simulated patients (healthy, hypertension, "
                  "type2_diabetes, copd, atrial_fibrillation, fever)");
  auto* csv = cmd->add_option("--import-csv", flags->import_csv,
                              "Upload the readings of a CSV file through one device, then exit");
  auto* fhir = cmd->add_option("--import-fhir", flags->import_fhir,
                               "Upload the Observations of a FHIR R4 bundle through one device");
  csv->excludes(fhir);
  cmd->add_option("--data-dir", flags->data_dir, "Override the config's data_dir");
  cmd->add_option("--listen", flags->listen,
                  "Serve /healthz, /readyz, /metrics and /api/v1/stats at ADDRESS:PORT");
  cmd->add_flag("--release-held", flags->release_held,
                "Put the uploads held for an operator back into the devices' outboxes first "
                "(after fixing what the cloudlet refused them for)");
  cmd->add_flag("--drain", flags->drain,
                "Simulate nothing: deliver what is in the devices' outboxes, then exit");
  cmd->add_flag("--energy-report", flags->energy_report,
                "Print the energy model's joules per reading (batched to the chosen cloudlet vs "
                "each reading alone to the remote cloud) and exit");
  cmd->callback([flags] {
    const int code = RunWearable(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}
