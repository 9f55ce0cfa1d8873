#include "wearable/agent_config.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "wire/model.h"

namespace medmesh::wearable {
namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;

constexpr std::string_view kExtraMembers[] = {
    "cloudlets",  "devices",          "batching", "session", "outbox",
    "backfill_s", "cloud_distance_m", "tick_ms",  "threads", "min_trust"};

Status CheckMembers(const Json& object, std::initializer_list<std::string_view> allowed,
                    std::string_view where) {
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (std::string_view name : allowed) known = known || key == name;
    if (!known) {
      return InvalidArgument("config: unknown member '" + std::string(where) + key.substr(0, 64) +
                             "'");
    }
  }
  return OkStatus();
}

Result<std::string> GetString(const Json& object, const char* key, std::string_view where,
                              std::string fallback = {}) {
  const auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_string()) {
    return InvalidArgument("config: member '" + std::string(where) + key + "' must be a string");
  }
  return it->get<std::string>();
}

// A number in [min, max]; `fallback` when absent.
Result<double> GetNumber(const Json& object, const char* key, std::string_view where,
                         double fallback, double min, double max) {
  const auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_number()) {
    return InvalidArgument("config: member '" + std::string(where) + key + "' must be a number");
  }
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < min || v > max) {
    char range[96];
    std::snprintf(range, sizeof range, " must be in [%g, %g]", min, max);
    return InvalidArgument("config: member '" + std::string(where) + key + "'" + range);
  }
  return v;
}

Result<std::int64_t> GetInteger(const Json& object, const char* key, std::string_view where,
                                std::int64_t fallback, std::int64_t min, std::int64_t max) {
  const auto it = object.find(key);
  if (it == object.end()) return fallback;
  if (!it->is_number_integer()) {
    return InvalidArgument("config: member '" + std::string(where) + key + "' must be an integer");
  }
  const auto v = it->get<std::int64_t>();
  if (v < min || v > max) {
    return InvalidArgument("config: member '" + std::string(where) + key + "' must be in [" +
                           std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

Result<std::vector<CloudletConfig>> ParseCloudlets(const Json& list, const fs::path& base_dir) {
  if (!list.is_array() || list.empty()) {
    return InvalidArgument("config: 'cloudlets' must be a non-empty array");
  }
  std::vector<CloudletConfig> out;
  std::set<std::string> ids;
  for (const Json& entry : list) {
    if (!entry.is_object()) return InvalidArgument("config: every cloudlet must be an object");
    MEDMESH_RETURN_IF_ERROR(CheckMembers(
        entry, {"id", "url", "enrol_token_file", "distance_m", "trust"}, "cloudlets[]."));
    CloudletConfig c;
    MEDMESH_ASSIGN_OR_RETURN(c.id, GetString(entry, "id", "cloudlets[]."));
    if (!wire::IsValidId(c.id)) return InvalidArgument("config: cloudlets[].id is not a valid id");
    if (!ids.insert(c.id).second) return InvalidArgument("config: cloudlet id listed twice");
    MEDMESH_ASSIGN_OR_RETURN(c.url, GetString(entry, "url", "cloudlets[]."));
    if (c.url.rfind("http://", 0) != 0 && c.url.rfind("https://", 0) != 0) {
      return InvalidArgument("config: cloudlets[].url must start with http:// or https://");
    }
    MEDMESH_ASSIGN_OR_RETURN(std::string token,
                             GetString(entry, "enrol_token_file", "cloudlets[]."));
    c.enrol_token_file = node::ResolvePath(base_dir, token);
    MEDMESH_ASSIGN_OR_RETURN(c.distance_m,
                             GetNumber(entry, "distance_m", "cloudlets[].", 10, 0, 1e6));
    MEDMESH_ASSIGN_OR_RETURN(c.trust, GetNumber(entry, "trust", "cloudlets[].", 1.0, 0, 1));
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<DeviceSpec>> ParseDevices(const Json& list) {
  if (!list.is_array()) return InvalidArgument("config: 'devices' must be an array");
  std::vector<DeviceSpec> out;
  std::set<std::string> ids;
  for (const Json& entry : list) {
    if (!entry.is_object()) return InvalidArgument("config: every device must be an object");
    MEDMESH_RETURN_IF_ERROR(CheckMembers(
        entry, {"device_id", "patient_id", "profile", "seed", "utc_offset_minutes"}, "devices[]."));
    DeviceSpec d;
    MEDMESH_ASSIGN_OR_RETURN(d.device_id, GetString(entry, "device_id", "devices[]."));
    MEDMESH_ASSIGN_OR_RETURN(d.patient_id, GetString(entry, "patient_id", "devices[]."));
    if (!wire::IsValidId(d.device_id) || !wire::IsValidId(d.patient_id)) {
      return InvalidArgument("config: devices[].device_id and patient_id must be valid ids");
    }
    if (!ids.insert(d.device_id).second) return InvalidArgument("config: device id listed twice");
    MEDMESH_ASSIGN_OR_RETURN(std::string profile,
                             GetString(entry, "profile", "devices[].", "healthy"));
    d.profile = ProfileFromName(profile);
    if (!d.profile) return InvalidArgument("config: devices[].profile is not a known profile");
    MEDMESH_ASSIGN_OR_RETURN(
        std::int64_t seed,
        GetInteger(entry, "seed", "devices[].", 1, 0, std::numeric_limits<std::int64_t>::max()));
    d.seed = static_cast<std::uint64_t>(seed);
    MEDMESH_ASSIGN_OR_RETURN(std::int64_t offset,
                             GetInteger(entry, "utc_offset_minutes", "devices[].", 0, -840, 840));
    d.utc_offset_minutes = static_cast<int>(offset);
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace

Result<WearableConfig> ParseWearableConfig(std::string_view json, const fs::path& base_dir) {
  WearableConfig config;
  MEDMESH_ASSIGN_OR_RETURN(config.node, node::ParseNodeConfig(json, base_dir, kExtraMembers));
  config.agent.journal = {.max_file_bytes = config.node.retention.journal_max_bytes,
                          .max_files = config.node.retention.journal_files};
  // ParseNodeConfig accepted the JSON, so this parse succeeds.
  const Json root = Json::parse(json.begin(), json.end(), nullptr, false);
  if (!root.is_object()) return InvalidArgument("config: the top level must be a JSON object");
  config.serve_http = root.contains("listen");

  const auto cloudlets = root.find("cloudlets");
  if (cloudlets == root.end()) return InvalidArgument("config: member 'cloudlets' is required");
  MEDMESH_ASSIGN_OR_RETURN(config.cloudlets, ParseCloudlets(*cloudlets, base_dir));
  if (const auto it = root.find("devices"); it != root.end()) {
    MEDMESH_ASSIGN_OR_RETURN(config.devices, ParseDevices(*it));
  }

  AgentOptions& agent = config.agent;
  if (const auto it = root.find("batching"); it != root.end()) {
    if (!it->is_object()) return InvalidArgument("config: 'batching' must be an object");
    MEDMESH_RETURN_IF_ERROR(CheckMembers(*it, {"max_readings", "max_age_ms"}, "batching."));
    MEDMESH_ASSIGN_OR_RETURN(std::int64_t n,
                             GetInteger(*it, "max_readings", "batching.",
                                        static_cast<std::int64_t>(agent.batching.max_readings), 1,
                                        static_cast<std::int64_t>(wire::kMaxReadingsPerBatch)));
    agent.batching.max_readings = static_cast<std::size_t>(n);
    MEDMESH_ASSIGN_OR_RETURN(
        std::int64_t age, GetInteger(*it, "max_age_ms", "batching.", agent.batching.max_age.count(),
                                     1, std::int64_t{24} * 3'600'000));
    agent.batching.max_age = std::chrono::milliseconds(age);
  }
  if (const auto it = root.find("session"); it != root.end()) {
    if (!it->is_object()) return InvalidArgument("config: 'session' must be an object");
    MEDMESH_RETURN_IF_ERROR(CheckMembers(*it, {"max_batches", "max_age_s"}, "session."));
    MEDMESH_ASSIGN_OR_RETURN(
        std::int64_t n, GetInteger(*it, "max_batches", "session.",
                                   static_cast<std::int64_t>(agent.session.max_batches_per_session),
                                   1, std::int64_t{1} << 32));
    agent.session.max_batches_per_session = static_cast<std::uint64_t>(n);
    MEDMESH_ASSIGN_OR_RETURN(std::int64_t age, GetInteger(*it, "max_age_s", "session.",
                                                          agent.session.max_session_age.count(), 1,
                                                          std::int64_t{30} * 86'400));
    agent.session.max_session_age = std::chrono::seconds(age);
  }
  if (const auto it = root.find("outbox"); it != root.end()) {
    if (!it->is_object()) return InvalidArgument("config: 'outbox' must be an object");
    MEDMESH_RETURN_IF_ERROR(CheckMembers(*it, {"initial_backoff_ms", "max_backoff_ms"}, "outbox."));
    MEDMESH_ASSIGN_OR_RETURN(std::int64_t initial,
                             GetInteger(*it, "initial_backoff_ms", "outbox.",
                                        agent.outbox.initial_backoff.count(), 1, 3'600'000));
    MEDMESH_ASSIGN_OR_RETURN(std::int64_t max, GetInteger(*it, "max_backoff_ms", "outbox.",
                                                          agent.outbox.max_backoff.count(), 1,
                                                          std::int64_t{24} * 3'600'000));
    if (max < initial) {
      return InvalidArgument("config: outbox.max_backoff_ms must be >= initial_backoff_ms");
    }
    agent.outbox.initial_backoff = std::chrono::milliseconds(initial);
    agent.outbox.max_backoff = std::chrono::milliseconds(max);
  }
  MEDMESH_ASSIGN_OR_RETURN(std::int64_t backfill,
                           GetInteger(root, "backfill_s", "", 0, 0, std::int64_t{7} * 86'400));
  agent.backfill = std::chrono::seconds(backfill);
  MEDMESH_ASSIGN_OR_RETURN(agent.min_trust,
                           GetNumber(root, "min_trust", "", agent.min_trust, 0, 1));
  MEDMESH_ASSIGN_OR_RETURN(config.cloud_distance_m, GetNumber(root, "cloud_distance_m", "",
                                                              config.cloud_distance_m, 0, 1e7));
  MEDMESH_ASSIGN_OR_RETURN(std::int64_t tick, GetInteger(root, "tick_ms", "", 250, 10, 60'000));
  config.tick = std::chrono::milliseconds(tick);
  MEDMESH_ASSIGN_OR_RETURN(std::int64_t threads, GetInteger(root, "threads", "", 2, 1, 64));
  config.threads = static_cast<std::size_t>(threads);
  return config;
}

Result<WearableConfig> LoadWearableConfig(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    return NotFound("config file " + file.string() + " does not exist or is not a file");
  }
  if (fs::file_size(file, ec) > node::kMaxConfigBytes) {
    return ResourceExhausted("config file " + file.string() + " is too large");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return NotFound("config file " + file.string() + " cannot be read");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto config = ParseWearableConfig(text, fs::absolute(file, ec).parent_path());
  if (!config) return Error(config.error().code(), file.string() + ": " + config.error().message());
  config->node.config_file = file;
  return config;
}

std::vector<DeviceSpec> GenerateDevices(std::string_view prefix, std::size_t count,
                                        std::span<const Profile> profiles,
                                        std::uint64_t seed_base) {
  if (profiles.empty()) profiles = AllProfiles();
  std::vector<DeviceSpec> out;
  for (std::size_t i = 0; i < count; ++i) {
    char number[24];
    std::snprintf(number, sizeof number, "%02zu", i + 1);
    DeviceSpec d;
    d.device_id = std::string(prefix) + "-dev-" + number;
    d.patient_id = std::string(prefix) + "-patient-" + number;
    d.profile = profiles[i % profiles.size()];
    d.seed = seed_base * 1000 + i + 1;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace medmesh::wearable
