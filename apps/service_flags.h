// The flags `medmesh cloud` and `medmesh cloudlet` share: --config, --listen, --data-dir,
// --log-level, --ids-models (and --cloud-url for a cloudlet), read into one struct.
#pragma once

#include <string>

#include "ids/mesh_node.h"
#include "node/node_config.h"

#ifndef MEDMESH_IDS_MODELS_DIR
#define MEDMESH_IDS_MODELS_DIR "models/ids"
#endif

namespace CLI {
class App;
}

struct ServiceFlags {
  std::string config;
  medmesh::node::NodeConfigOverrides overrides;
  std::string log_level = "info";
  // The request classifier's folder (ids::IdsOptions::models_dir): by default the models that
  // `medmesh ids train` writes (models/ids of this build's source tree); "" turns scoring off.
  std::string ids_models = MEDMESH_IDS_MODELS_DIR;
};

// Adds the shared options to `cmd`, writing into `flags` (which must outlive `cmd`'s parsing).
void AddServiceOptions(CLI::App& cmd, ServiceFlags& flags, bool with_cloud_url);

// Sets the process log level from --log-level ("debug", "info", "warn", "error").
void ApplyLogLevel(const ServiceFlags& flags);

// Sends the log to the config's "log.file", rotated (core/log.h), if it names one; stderr
// otherwise. Errors as medmesh::log::LogToFile. All three services call it after the config.
medmesh::Status ApplyLogFile(const medmesh::node::LogConfig& log);

// The config's "mesh" member as the IDS mesh's options (docs/ids_mesh.md).
medmesh::ids::MeshOptions MeshOptionsFrom(const medmesh::node::MeshConfig& mesh);
