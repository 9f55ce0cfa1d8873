// medmesh cloud: the remote cloud service.
//
//   medmesh cloud --config FILE [--listen HOST:PORT] [--data-dir DIR] [--ids-models DIR]
//                 [--log-level debug|info|warn|error]
//
// Reads the node config (docs/node_config.md), loads and cross-checks the identity (node key,
// certificate, pinned root), the three parts' key-encryption keys (ei_kek_file, qi_kek_file,
// mi_kek_file, each with its F.next while a rotation is unfinished; node/kek_ring.h) and the
// three-part store's index and pseudonym keys (created on the first start of an empty SQLite
// data folder, never for PostgreSQL or a folder with data; a folder of an earlier version with
// one "kek_file" starts with that KEK for every part and a warning), the operator token, then
// serves until SIGTERM/SIGINT and stops gracefully (requests in progress finish, 10 s at most).
// Exit codes: 0 after a clean stop, 1 for a failure, 2 for bad usage or config.
#include "apps/cloud_main.h"

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "apps/service_flags.h"
#include "cloud/cloud_service.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/random.h"
#include "node/identity.h"
#include "node/kek_ring.h"
#include "node/node_config.h"
#include "node/shutdown.h"
#include "wire/model.h"

namespace {

namespace node = medmesh::node;
namespace cloud = medmesh::cloud;

int Fail(std::string_view what, const medmesh::Error& error, int code = 1) {
  std::cerr << "medmesh cloud: " << what << ": " << error.ToString() << "\n";
  return code;
}

int RunCloud(const ServiceFlags& flags) {
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
  auto identity = node::LoadNodeIdentity(
      config->key_file, config->certificate_file, config->root_certificate_file,
      medmesh::wire::CertificateRole::kCloud, config->id, medmesh::wire::ToUnixMs(clock.Now()));
  if (!identity) return Fail("identity", identity.error());

  // New keys only where nothing can have been encrypted under old ones: a replaced KEK or
  // pseudonym key would make every stored record unreadable or unlinkable.
  std::error_code ec;
  const bool fresh = config->store.backend == node::StoreBackend::kSqlite &&
                     !std::filesystem::exists(config->data_dir / "records.db", ec);
  bool created = false;
  // One KEK per part (ADR 0016). The single KEK file of earlier versions ("kek_file") stands in
  // for a part without its own file and, while it exists, stays loaded as an older KEK.
  bool legacy_in_use = false;
  const auto load_ring = [&](const std::filesystem::path& file,
                             std::string_view part) -> medmesh::Result<medmesh::node::KekRing> {
    MEDMESH_ASSIGN_OR_RETURN(node::KekRing ring,
                             node::LoadKekRing(file, config->kek_file, random, fresh));
    created = created || ring.created;
    legacy_in_use = legacy_in_use || ring.uses_legacy || ring.legacy_loaded;
    if (ring.uses_legacy) {
      medmesh::log::Warn("cloud_kek_shared",
                         {{"part", part},
                          {"file", config->kek_file.string()},
                          {"advice", "medmesh keys rotate-kek --part " + std::string(part) +
                                         " gives the part its own KEK file"}});
    }
    if (ring.rotation_unfinished) {
      medmesh::log::Warn("cloud_kek_rotation_unfinished",
                         {{"part", part},
                          {"advice", "run medmesh keys rotate-kek --part " + std::string(part) +
                                         " again to finish it"}});
    }
    return ring;
  };
  auto ei_kek = load_ring(config->ei_kek_file, "ei");
  if (!ei_kek) return Fail("EI key-encryption key", ei_kek.error());
  auto qi_kek = load_ring(config->qi_kek_file, "qi");
  if (!qi_kek) return Fail("QI key-encryption key", qi_kek.error());
  auto mi_kek = load_ring(config->mi_kek_file, "mi");
  if (!mi_kek) return Fail("MI key-encryption key", mi_kek.error());
  if (legacy_in_use) {
    medmesh::log::Warn("cloud_kek_legacy_loaded",
                       {{"file", config->kek_file.string()},
                        {"advice",
                         "rotate each part's KEK once, then remove this file "
                         "(docs/key_hierarchy.md)"}});
  }
  auto index_key = node::LoadKekFile(config->index_key_file, random, fresh, &created);
  if (!index_key) return Fail("index key", index_key.error());
  auto pseudonym_key = node::LoadKekFile(config->pseudonym_key_file, random, fresh, &created);
  if (!pseudonym_key) return Fail("pseudonym key", pseudonym_key.error());
  if (created) medmesh::log::Warn("cloud_keys_created", {{"folder", config->base_dir.string()}});

  auto operator_token = node::ReadTokenFile(config->operator_token_file);
  if (!operator_token && operator_token.error().code() != medmesh::ErrorCode::kNotFound) {
    return Fail("operator token", operator_token.error());
  }
  if (!operator_token) {
    medmesh::log::Warn("cloud_token_missing", {{"token", "operator"},
                                               {"file", config->operator_token_file.string()},
                                               {"effect", "endpoints disabled"}});
  }

  cloud::CloudOptions options;
  options.listen_address = config->listen.address;
  options.port = config->listen.port;
  options.data_dir = config->data_dir;
  options.store = config->store;
  options.retention = config->retention;
  options.statistics_k = config->statistics_k;
  options.cloudlet_urls = config->cloudlets;
  options.ids.mesh = MeshOptionsFrom(config->mesh);
  options.ids.models_dir = flags.ids_models;
  if (config->tls && !config->tls->cert_file.empty()) {
    options.tls =
        medmesh::net::TlsFiles{config->tls->cert_file.string(), config->tls->key_file.string()};
  }
  cloud::CloudSecrets secrets{
      std::move(*identity),
      cloud::CloudPartKeks(std::move(*ei_kek), std::move(*qi_kek), std::move(*mi_kek)),
      medmesh::SecretBytes(index_key->bytes().reveal()),
      medmesh::SecretBytes(pseudonym_key->bytes().reveal()),
      operator_token ? std::move(*operator_token) : medmesh::SecretBytes()};
  auto service = cloud::CloudService::Start(std::move(options), std::move(secrets), clock, random);
  if (!service) return Fail("start", service.error());
  std::cout << "cloud " << config->id << " listening on "
            << (config->tls && !config->tls->cert_file.empty() ? "https://" : "http://")
            << node::FormatListenAddress({config->listen.address, (*service)->port()}) << " ("
            << node::StoreBackendName(config->store.backend) << " store)\n"
            << std::flush;

  const std::optional<int> signal = node::WaitForTerminationSignal();
  medmesh::log::Info("cloud_stopping", {{"signal", signal.value_or(0)}});
  (*service)->Stop(std::chrono::seconds(10));
  return 0;
}

}  // namespace

void RegisterCloudCommand(CLI::App& app) {
  auto flags = std::make_shared<ServiceFlags>();
  CLI::App* cmd = app.add_subcommand(
      "cloud",
      "Run the remote cloud: verify forwards from cloudlets and store records in three parts");
  AddServiceOptions(*cmd, *flags, /*with_cloud_url=*/false);
  cmd->callback([flags] {
    const int code = RunCloud(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}
