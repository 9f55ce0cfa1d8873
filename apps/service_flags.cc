#include "apps/service_flags.h"

#include <CLI/CLI.hpp>

#include "core/log.h"

void AddServiceOptions(CLI::App& cmd, ServiceFlags& flags, bool with_cloud_url) {
  cmd.add_option("--config", flags.config, "Node config file (JSON, docs/node_config.md)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd.add_option_function<std::string>(
      "--listen", [&flags](const std::string& v) { flags.overrides.listen = v; },
      "Listen address HOST:PORT (overrides the config)");
  cmd.add_option_function<std::string>(
      "--data-dir", [&flags](const std::string& v) { flags.overrides.data_dir = v; },
      "Data folder (overrides the config)");
  if (with_cloud_url) {
    cmd.add_option_function<std::string>(
        "--cloud-url", [&flags](const std::string& v) { flags.overrides.cloud_url = v; },
        "Base URL of the remote cloud (overrides the config)");
  }
  cmd.add_option("--ids-models", flags.ids_models,
                 "Folder of the IDS request model that scores live requests (docs/ids.md); "
                 "\"\" or a folder without a usable model: scoring off")
      ->capture_default_str();
  cmd.add_option("--log-level", flags.log_level, "Log level")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
}

void ApplyLogLevel(const ServiceFlags& flags) {
  using medmesh::log::Level;
  if (flags.log_level == "debug") medmesh::log::SetLevel(Level::kDebug);
  if (flags.log_level == "info") medmesh::log::SetLevel(Level::kInfo);
  if (flags.log_level == "warn") medmesh::log::SetLevel(Level::kWarn);
  if (flags.log_level == "error") medmesh::log::SetLevel(Level::kError);
}

medmesh::Status ApplyLogFile(const medmesh::node::LogConfig& log) {
  if (log.file.empty()) return medmesh::OkStatus();
  return medmesh::log::LogToFile(
      log.file.string(), {.max_file_bytes = log.max_file_bytes, .max_files = log.max_files});
}

medmesh::ids::MeshOptions MeshOptionsFrom(const medmesh::node::MeshConfig& mesh) {
  medmesh::ids::MeshOptions options;
  for (const medmesh::node::MeshPeer& peer : mesh.peers)
    options.peers.push_back({peer.id, peer.url});
  options.fusion.adopt_threshold = mesh.adopt_threshold;
  options.fusion.confirm_window_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(mesh.confirm_window).count();
  options.fusion.forgetting.half_life = mesh.trust_half_life;
  options.fusion.forgetting.negative_half_life = 2 * mesh.trust_half_life;
  options.max_report_age = mesh.max_report_age;
  return options;
}
