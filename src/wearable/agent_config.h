// The configuration of `medmesh wearable`: the shared node config (node/node_config.h: "id",
// "listen", "data_dir", "root_certificate_file", "tls.ca_file") plus the wearable's own
// members. The format, with every member and its default, is in docs/wearable.md
// ("The agent's config file"):
//
//   {"id": "wearables", "listen": "127.0.0.1:8084", "data_dir": "data",
//    "root_certificate_file": "root.cert",
//    "cloudlets": [{"id": "cloudlet-1", "url": "http://127.0.0.1:8081",
//                   "enrol_token_file": "../cloudlet-1/enrol.token",
//                   "distance_m": 8, "trust": 0.9}],
//    "cloud_distance_m": 150,
//    "devices": [{"device_id": "wearable-01", "patient_id": "patient-01",
//                 "profile": "hypertension", "seed": 101}],
//    "batching": {"max_readings": 600, "max_age_ms": 60000},
//    "session": {"max_batches": 1000, "max_age_s": 3600},
//    "outbox": {"initial_backoff_ms": 1000, "max_backoff_ms": 300000},
//    "backfill_s": 0, "tick_ms": 250, "threads": 2, "min_trust": 0.5}
//
// Relative paths resolve against the config file's folder. Unknown members are refused.
// Thread safety: value types and free functions.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "node/node_config.h"
#include "wearable/agent.h"
#include "wearable/simulator.h"

namespace medmesh::wearable {

struct CloudletConfig {
  std::string id;                          // the cloudlet's certificate subject
  std::string url;                         // "http://127.0.0.1:8081"
  std::filesystem::path enrol_token_file;  // empty: enrolment without a token (refused)
  double distance_m = 10;
  double trust = 1.0;
};

struct WearableConfig {
  node::NodeConfig node;
  // True if the file sets "listen": the process then serves /healthz, /readyz, /metrics and
  // /api/v1/stats there.
  bool serve_http = false;
  std::vector<CloudletConfig> cloudlets;  // at least one
  std::vector<DeviceSpec> devices;        // may be empty if the command line makes them
  AgentOptions agent;
  double cloud_distance_m = 100;        // for the energy report
  std::chrono::milliseconds tick{250};  // how often each device is ticked
  std::size_t threads = 2;              // worker threads driving the devices
};

// Parses the config (see above). kInvalidArgument naming the member for anything malformed or
// out of range; errors of node::ParseNodeConfig for the shared members.
Result<WearableConfig> ParseWearableConfig(std::string_view json,
                                           const std::filesystem::path& base_dir);
// Reads and parses a config file (node::LoadNodeConfig rules).
Result<WearableConfig> LoadWearableConfig(const std::filesystem::path& file);

// `count` devices named "<prefix>-dev-NN" for patients "<prefix>-patient-NN" (NN from 01),
// with the `profiles` in turn (all profiles if empty); seeds derived from `seed_base`.
std::vector<DeviceSpec> GenerateDevices(std::string_view prefix, std::size_t count,
                                        std::span<const Profile> profiles,
                                        std::uint64_t seed_base = 1);

}  // namespace medmesh::wearable
