// medmesh cloudlet: the edge service.
//
//   medmesh cloudlet --config FILE [--listen HOST:PORT] [--data-dir DIR] [--cloud-url URL]
//                    [--ids-models DIR]
//                    [--log-level debug|info|warn|error]
//
// Reads the node config (docs/node_config.md), loads and cross-checks the identity (node key,
// certificate, pinned root), the KEK (created on the first start of an empty data folder) and
// the bearer tokens, starts the service and runs until SIGTERM/SIGINT, then stops gracefully:
// requests in progress finish (10 s at most) and the forwarder ends its round. Exit codes: 0 after
// a clean stop, 1 for a failure, 2 for bad usage or config.
#include "apps/cloudlet_main.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "apps/service_flags.h"
#include "cloudlet/cloudlet_service.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/random.h"
#include "node/identity.h"
#include "node/node_config.h"
#include "node/shutdown.h"
#include "wire/model.h"

namespace {

namespace node = medmesh::node;
namespace cloudlet = medmesh::cloudlet;

int Fail(std::string_view what, const medmesh::Error& error, int code = 1) {
  std::cerr << "medmesh cloudlet: " << what << ": " << error.ToString() << "\n";
  return code;
}

// A token file that is missing disables its endpoints; any other problem is an error.
medmesh::Result<medmesh::SecretBytes> OptionalToken(const std::filesystem::path& file,
                                                    std::string_view what) {
  auto token = node::ReadTokenFile(file);
  if (!token && token.error().code() == medmesh::ErrorCode::kNotFound) {
    medmesh::log::Warn(
        "cloudlet_token_missing",
        {{"token", what}, {"file", file.string()}, {"effect", "endpoints disabled"}});
    return medmesh::SecretBytes();
  }
  return token;
}

int RunCloudlet(const ServiceFlags& flags, const std::string& demo_attacks) {
  // Before any thread starts: SIGTERM/SIGINT are taken synchronously below.
  node::BlockTerminationSignals();
  ApplyLogLevel(flags);

  auto config = node::LoadNodeConfig(flags.config);
  if (!config) return Fail("config", config.error(), 2);
  if (auto applied = node::ApplyOverrides(*config, flags.overrides); !applied) {
    return Fail("flags", applied.error(), 2);
  }
  if (auto logged = ApplyLogFile(config->log); !logged) return Fail("log file", logged.error(), 2);
  medmesh::SystemClock clock;
  medmesh::SystemRandom random;
  const std::int64_t now_ms = medmesh::wire::ToUnixMs(clock.Now());

  auto identity = node::LoadNodeIdentity(
      config->key_file, config->certificate_file, config->root_certificate_file,
      medmesh::wire::CertificateRole::kCloudlet, config->id, now_ms);
  if (!identity) return Fail("identity", identity.error());
  // A new KEK only for a data folder that holds no wrapped keys yet: a lost KEK must never be
  // silently replaced, which would make every stored reading unreadable.
  std::error_code ec;
  const bool fresh = !std::filesystem::exists(config->data_dir / "keys.db", ec);
  bool created = false;
  auto kek = node::LoadKekFile(config->kek_file, random, fresh, &created);
  if (!kek) return Fail("key-encryption key", kek.error());
  if (created) medmesh::log::Warn("cloudlet_kek_created", {{"file", config->kek_file.string()}});
  auto enrol_token = OptionalToken(config->enrol_token_file, "enrol");
  if (!enrol_token) return Fail("enrol token", enrol_token.error());
  auto operator_token = OptionalToken(config->operator_token_file, "operator");
  if (!operator_token) return Fail("operator token", operator_token.error());

  cloudlet::CloudletOptions options;
  options.listen_address = config->listen.address;
  options.port = config->listen.port;
  options.data_dir = config->data_dir;
  options.forwarder.cloud_url = config->cloud_url;
  options.retention = config->retention;
  options.demo_attacks_deployment = demo_attacks;  // demo only (docs/attack.md)
  options.ids.mesh = MeshOptionsFrom(config->mesh);
  options.ids.models_dir = flags.ids_models;
  if (config->tls) {
    if (!config->tls->cert_file.empty()) {
      options.tls =
          medmesh::net::TlsFiles{config->tls->cert_file.string(), config->tls->key_file.string()};
    }
    options.forwarder.ca_file = config->tls->ca_file.string();
  }
  cloudlet::CloudletSecrets secrets{std::move(*identity), std::move(*kek), std::move(*enrol_token),
                                    std::move(*operator_token)};
  auto service =
      cloudlet::CloudletService::Start(std::move(options), std::move(secrets), clock, random);
  if (!service) return Fail("start", service.error());
  std::cout << "cloudlet " << (*service)->node_id() << " listening on "
            << (config->tls && !config->tls->cert_file.empty() ? "https://" : "http://")
            << node::FormatListenAddress({config->listen.address, (*service)->port()})
            << (config->cloud_url.empty() ? " (not forwarding)"
                                          : ", forwarding to " + config->cloud_url)
            << "\n"
            << std::flush;

  const std::optional<int> signal = node::WaitForTerminationSignal();
  medmesh::log::Info("cloudlet_stopping", {{"signal", signal.value_or(0)}});
  (*service)->Stop(std::chrono::seconds(10));
  return 0;
}

}  // namespace

void RegisterCloudletCommand(CLI::App& app) {
  auto flags = std::make_shared<ServiceFlags>();
  CLI::App* cmd = app.add_subcommand(
      "cloudlet",
      "Run a cloudlet: enrol devices, verify and store their sealed uploads, forward them to the "
      "cloud");
  AddServiceOptions(*cmd, *flags, /*with_cloud_url=*/true);
  auto demo_attacks = std::make_shared<std::string>();
  cmd->add_option("--demo-attacks", *demo_attacks,
                  "DEMO ONLY: the demo folder; lets this cloudlet's operators launch red-team "
                  "runs (POST /api/v1/attack/runs, docs/attack.md)");
  cmd->callback([flags, demo_attacks] {
    const int code = RunCloudlet(*flags, *demo_attacks);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}
