#include "node/node_config.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <system_error>

#include "wire/model.h"

namespace medmesh::node {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kTopLevelMembers[] = {"id",
                                                 "listen",
                                                 "data_dir",
                                                 "key_file",
                                                 "certificate_file",
                                                 "root_certificate_file",
                                                 "cloud_url",
                                                 "cloudlet_urls",
                                                 "tls",
                                                 "enrol_token_file",
                                                 "operator_token_file",
                                                 "kek_file",
                                                 "index_key_file",
                                                 "pseudonym_key_file",
                                                 "ei_kek_file",
                                                 "qi_kek_file",
                                                 "mi_kek_file",
                                                 "store",
                                                 "log",
                                                 "retention",
                                                 "statistics_k",
                                                 "mesh"};

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool IsIpv4(std::string_view s) {
  int parts = 0;
  while (true) {
    const std::size_t dot = s.find('.');
    const std::string_view part = s.substr(0, dot);
    if (!IsDigits(part) || part.size() > 3) return false;
    int value = 0;
    std::from_chars(part.data(), part.data() + part.size(), value);
    if (value > 255) return false;
    ++parts;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
  }
  return parts == 4;
}

bool IsIpv6(std::string_view s) {
  // A syntactic check only (hex groups, colons, at most one "::", an optional dotted tail);
  // the server's bind() has the last word.
  if (s.size() < 2 || s.size() > 45) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) {
                       return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                              (c >= 'A' && c <= 'F') || c == ':' || c == '.';
                     }) &&
         s.find(':') != std::string_view::npos && s.find(":::") == std::string_view::npos;
}

Result<std::string> GetString(const Json& object, std::string_view member, std::string_view where) {
  const auto it = object.find(member);
  if (it == object.end()) return std::string();
  if (!it->is_string()) {
    return InvalidArgument("config: member '" + std::string(where) + std::string(member) +
                           "' must be a string");
  }
  return it->get<std::string>();
}

Result<std::filesystem::path> GetPath(const Json& object, std::string_view member,
                                      std::string_view default_value,
                                      const std::filesystem::path& base_dir,
                                      std::string_view where = {}) {
  MEDMESH_ASSIGN_OR_RETURN(std::string value, GetString(object, member, where));
  if (value.empty()) value = std::string(default_value);
  if (value.find('\0') != std::string::npos) {
    return InvalidArgument("config: member '" + std::string(where) + std::string(member) +
                           "' holds a NUL character");
  }
  return ResolvePath(base_dir, value);
}

Status CheckMembers(const Json& object, std::span<const std::string_view> known,
                    std::span<const std::string_view> extra, std::string_view where) {
  for (const auto& item : object.items()) {
    // Not a structured binding: clang 14 cannot capture one in a lambda.
    const std::string& key = item.key();
    const auto is = [&key](std::string_view k) { return k == key; };
    if (std::any_of(known.begin(), known.end(), is) ||
        std::any_of(extra.begin(), extra.end(), is)) {
      continue;
    }
    // The member name is the caller's own text, but keep it short in the message.
    return InvalidArgument("config: unknown member '" + std::string(where) + key.substr(0, 64) +
                           "'");
  }
  return OkStatus();
}

Result<StoreConfig> ParseStore(const Json& object) {
  constexpr std::string_view kMembers[] = {"backend", "postgres_url", "schema_prefix"};
  if (!object.is_object()) return InvalidArgument("config: member 'store' must be an object");
  MEDMESH_RETURN_IF_ERROR(CheckMembers(object, kMembers, {}, "store."));
  StoreConfig store;
  MEDMESH_ASSIGN_OR_RETURN(std::string backend, GetString(object, "backend", "store."));
  if (backend.empty() || backend == "sqlite") {
    store.backend = StoreBackend::kSqlite;
  } else if (backend == "postgres") {
    store.backend = StoreBackend::kPostgres;
  } else {
    return InvalidArgument(R"(config: member 'store.backend' must be "sqlite" or "postgres")");
  }
  MEDMESH_ASSIGN_OR_RETURN(store.postgres_url, GetString(object, "postgres_url", "store."));
  MEDMESH_ASSIGN_OR_RETURN(store.schema_prefix, GetString(object, "schema_prefix", "store."));
  if (store.backend == StoreBackend::kPostgres && store.postgres_url.empty()) {
    return InvalidArgument("config: store.backend \"postgres\" needs 'store.postgres_url'");
  }
  return store;
}

// An integer member in [min, max], or `fallback` when absent.
Result<std::uint64_t> GetUint(const Json& object, std::string_view member, std::uint64_t fallback,
                              std::uint64_t min, std::uint64_t max, std::string_view where) {
  const auto it = object.find(member);
  if (it == object.end()) return fallback;
  // JSON parses non-negative integers as unsigned; negative ones, fractions and strings fail.
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() < min ||
      it->get<std::uint64_t>() > max) {
    return InvalidArgument("config: member '" + std::string(where) + std::string(member) +
                           "' must be an integer in " + std::to_string(min) + ".." +
                           std::to_string(max));
  }
  return it->get<std::uint64_t>();
}

Result<LogConfig> ParseLog(const Json& object, const std::filesystem::path& base_dir) {
  constexpr std::string_view kMembers[] = {"file", "max_file_mb", "max_files"};
  if (!object.is_object()) return InvalidArgument("config: member 'log' must be an object");
  MEDMESH_RETURN_IF_ERROR(CheckMembers(object, kMembers, {}, "log."));
  LogConfig log;
  MEDMESH_ASSIGN_OR_RETURN(log.file, GetPath(object, "file", "", base_dir, "log."));
  MEDMESH_ASSIGN_OR_RETURN(
      std::uint64_t mb, GetUint(object, "max_file_mb", log.max_file_bytes >> 20, 1, 4096, "log."));
  log.max_file_bytes = mb << 20;
  MEDMESH_ASSIGN_OR_RETURN(std::uint64_t files,
                           GetUint(object, "max_files", log.max_files, 1, 100, "log."));
  log.max_files = static_cast<std::uint32_t>(files);
  return log;
}

Result<RetentionConfig> ParseRetention(const Json& object) {
  constexpr std::string_view kMembers[] = {
      "ids_events_days", "ledger_days",   "readings_days",         "dead_letters_days",
      "journal_max_mb",  "journal_files", "maintenance_interval_s"};
  if (!object.is_object()) return InvalidArgument("config: member 'retention' must be an object");
  MEDMESH_RETURN_IF_ERROR(CheckMembers(object, kMembers, {}, "retention."));
  RetentionConfig r;
  const auto days = [&](std::string_view member, std::chrono::hours& value,
                        std::uint64_t min) -> Status {
    MEDMESH_ASSIGN_OR_RETURN(std::uint64_t n,
                             GetUint(object, member, static_cast<std::uint64_t>(value.count() / 24),
                                     min, 3650, "retention."));
    value = std::chrono::hours(24 * static_cast<std::int64_t>(n));
    return OkStatus();
  };
  MEDMESH_RETURN_IF_ERROR(days("ids_events_days", r.ids_events, 1));
  MEDMESH_RETURN_IF_ERROR(days("ledger_days", r.ledger, 2));
  MEDMESH_RETURN_IF_ERROR(days("readings_days", r.readings, 1));
  MEDMESH_RETURN_IF_ERROR(days("dead_letters_days", r.dead_letters, 1));
  MEDMESH_ASSIGN_OR_RETURN(
      std::uint64_t mb,
      GetUint(object, "journal_max_mb", r.journal_max_bytes >> 20, 1, 1024, "retention."));
  r.journal_max_bytes = mb << 20;
  MEDMESH_ASSIGN_OR_RETURN(std::uint64_t files,
                           GetUint(object, "journal_files", r.journal_files, 1, 100, "retention."));
  r.journal_files = static_cast<std::uint32_t>(files);
  MEDMESH_ASSIGN_OR_RETURN(
      std::uint64_t interval,
      GetUint(object, "maintenance_interval_s",
              static_cast<std::uint64_t>(r.maintenance_interval.count()), 1, 86400, "retention."));
  r.maintenance_interval = std::chrono::seconds(static_cast<std::int64_t>(interval));
  return r;
}

Result<MeshConfig> ParseMesh(const Json& object, std::string_view self_id) {
  constexpr std::string_view kMembers[] = {"peers", "adopt_threshold", "max_report_age_s",
                                           "confirm_window_s", "trust_half_life_h"};
  constexpr std::string_view kPeerMembers[] = {"id", "url"};
  if (!object.is_object()) return InvalidArgument("config: member 'mesh' must be an object");
  MEDMESH_RETURN_IF_ERROR(CheckMembers(object, kMembers, {}, "mesh."));
  MeshConfig mesh;
  if (const auto it = object.find("peers"); it != object.end()) {
    if (!it->is_array()) return InvalidArgument("config: 'mesh.peers' must be an array");
    for (const Json& entry : *it) {
      if (!entry.is_object()) {
        return InvalidArgument("config: each of 'mesh.peers' must be an object {id, url}");
      }
      MEDMESH_RETURN_IF_ERROR(CheckMembers(entry, kPeerMembers, {}, "mesh.peers[]."));
      MeshPeer peer;
      MEDMESH_ASSIGN_OR_RETURN(peer.id, GetString(entry, "id", "mesh.peers[]."));
      MEDMESH_ASSIGN_OR_RETURN(peer.url, GetString(entry, "url", "mesh.peers[]."));
      if (!wire::IsValidId(peer.id) || peer.id == self_id) {
        return InvalidArgument("config: 'mesh.peers[].id' must be a node id other than this one");
      }
      if (peer.url.rfind("http://", 0) != 0 && peer.url.rfind("https://", 0) != 0) {
        return InvalidArgument("config: 'mesh.peers[].url' must start with http:// or https://");
      }
      while (peer.url.back() == '/') peer.url.pop_back();
      for (const MeshPeer& other : mesh.peers) {
        if (other.id == peer.id) return InvalidArgument("config: 'mesh.peers' lists an id twice");
      }
      mesh.peers.push_back(std::move(peer));
    }
  }
  if (const auto it = object.find("adopt_threshold"); it != object.end()) {
    if (!it->is_number() || it->get<double>() < 1.01 || it->get<double>() > 10.0) {
      return InvalidArgument("config: 'mesh.adopt_threshold' must be a number in 1.01..10");
    }
    mesh.adopt_threshold = it->get<double>();
  }
  MEDMESH_ASSIGN_OR_RETURN(
      std::uint64_t age,
      GetUint(object, "max_report_age_s", static_cast<std::uint64_t>(mesh.max_report_age.count()),
              10, 86400, "mesh."));
  mesh.max_report_age = std::chrono::seconds(static_cast<std::int64_t>(age));
  MEDMESH_ASSIGN_OR_RETURN(
      std::uint64_t window,
      GetUint(object, "confirm_window_s", static_cast<std::uint64_t>(mesh.confirm_window.count()),
              10, 86400, "mesh."));
  mesh.confirm_window = std::chrono::seconds(static_cast<std::int64_t>(window));
  MEDMESH_ASSIGN_OR_RETURN(
      std::uint64_t half_life,
      GetUint(object, "trust_half_life_h", static_cast<std::uint64_t>(mesh.trust_half_life.count()),
              1, 8760, "mesh."));
  mesh.trust_half_life = std::chrono::hours(static_cast<std::int64_t>(half_life));
  return mesh;
}

Result<TlsConfig> ParseTls(const Json& object, const std::filesystem::path& base_dir) {
  constexpr std::string_view kMembers[] = {"cert_file", "key_file", "ca_file"};
  if (!object.is_object()) return InvalidArgument("config: member 'tls' must be an object");
  MEDMESH_RETURN_IF_ERROR(CheckMembers(object, kMembers, {}, "tls."));
  TlsConfig tls;
  MEDMESH_ASSIGN_OR_RETURN(tls.cert_file, GetPath(object, "cert_file", "", base_dir, "tls."));
  MEDMESH_ASSIGN_OR_RETURN(tls.key_file, GetPath(object, "key_file", "", base_dir, "tls."));
  MEDMESH_ASSIGN_OR_RETURN(tls.ca_file, GetPath(object, "ca_file", "", base_dir, "tls."));
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return InvalidArgument("config: 'tls.cert_file' and 'tls.key_file' go together");
  }
  return tls;
}

}  // namespace

std::string_view StoreBackendName(StoreBackend backend) {
  return backend == StoreBackend::kPostgres ? "postgres" : "sqlite";
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidArgument("listen address must look like [::1]:8443");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!IsIpv6(host)) return InvalidArgument("listen address: not an IPv6 address");
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return InvalidArgument("listen address must be host:port, e.g. 127.0.0.1:8081");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (!IsIpv4(host)) {
      return InvalidArgument(
          "listen address: the host must be a numeric IPv4 address or a bracketed IPv6 address");
    }
  }
  unsigned value = 0;
  if (!IsDigits(port) || port.size() > 5 ||
      std::from_chars(port.data(), port.data() + port.size(), value).ec != std::errc() ||
      value > 65535) {
    return InvalidArgument("listen address: the port must be 0..65535");
  }
  return ListenAddress{std::string(host), static_cast<std::uint16_t>(value)};
}

std::string FormatListenAddress(const ListenAddress& listen) {
  const bool v6 = listen.address.find(':') != std::string::npos;
  return (v6 ? "[" + listen.address + "]" : listen.address) + ":" + std::to_string(listen.port);
}

std::filesystem::path ResolvePath(const std::filesystem::path& base_dir,
                                  const std::filesystem::path& path) {
  if (path.empty() || path.is_absolute()) return path.lexically_normal();
  return (base_dir / path).lexically_normal();
}

Result<NodeConfig> ParseNodeConfig(std::string_view json, const std::filesystem::path& base_dir,
                                   std::span<const std::string_view> extra_members) {
  if (json.size() > kMaxConfigBytes) return ResourceExhausted("config: file is too large");
  Json root;
  try {
    root = Json::parse(json.begin(), json.end());
  } catch (const std::exception&) {
    return InvalidArgument("config: not valid JSON");
  }
  if (!root.is_object()) return InvalidArgument("config: the top level must be a JSON object");
  MEDMESH_RETURN_IF_ERROR(CheckMembers(root, kTopLevelMembers, extra_members, ""));

  NodeConfig config;
  config.base_dir = base_dir;
  config.raw_json = std::string(json);
  MEDMESH_ASSIGN_OR_RETURN(config.id, GetString(root, "id", ""));
  if (config.id.empty()) return InvalidArgument("config: member 'id' is required");
  if (!wire::IsValidId(config.id)) {
    return InvalidArgument("config: 'id' must be 1..64 characters of [A-Za-z0-9._-]");
  }
  MEDMESH_ASSIGN_OR_RETURN(std::string listen, GetString(root, "listen", ""));
  if (!listen.empty()) {
    auto parsed = ParseListenAddress(listen);
    if (!parsed) return InvalidArgument("config: 'listen': " + parsed.error().message());
    config.listen = *parsed;
  }
  MEDMESH_ASSIGN_OR_RETURN(config.data_dir, GetPath(root, "data_dir", "", base_dir));
  if (config.data_dir.empty()) return InvalidArgument("config: member 'data_dir' is required");
  MEDMESH_ASSIGN_OR_RETURN(config.key_file, GetPath(root, "key_file", "node.key", base_dir));
  MEDMESH_ASSIGN_OR_RETURN(config.certificate_file,
                           GetPath(root, "certificate_file", "node.cert", base_dir));
  MEDMESH_ASSIGN_OR_RETURN(config.root_certificate_file,
                           GetPath(root, "root_certificate_file", "root.cert", base_dir));
  MEDMESH_ASSIGN_OR_RETURN(config.cloud_url, GetString(root, "cloud_url", ""));
  if (!config.cloud_url.empty() && config.cloud_url.rfind("http://", 0) != 0 &&
      config.cloud_url.rfind("https://", 0) != 0) {
    return InvalidArgument("config: 'cloud_url' must start with http:// or https://");
  }
  while (!config.cloud_url.empty() && config.cloud_url.back() == '/') config.cloud_url.pop_back();
  if (const auto it = root.find("cloudlet_urls"); it != root.end()) {
    if (!it->is_object()) return InvalidArgument("config: 'cloudlet_urls' must be an object");
    for (const auto& [cloudlet_id, url] : it->items()) {
      if (!wire::IsValidId(cloudlet_id) || !url.is_string() ||
          (url.get<std::string>().rfind("http://", 0) != 0 &&
           url.get<std::string>().rfind("https://", 0) != 0)) {
        return InvalidArgument("config: 'cloudlet_urls' maps cloudlet ids to http(s):// URLs");
      }
      std::string base = url.get<std::string>();
      while (base.back() == '/') base.pop_back();
      config.cloudlets.emplace(cloudlet_id, std::move(base));
    }
  }
  if (const auto it = root.find("tls"); it != root.end()) {
    MEDMESH_ASSIGN_OR_RETURN(config.tls, ParseTls(*it, base_dir));
  }
  MEDMESH_ASSIGN_OR_RETURN(config.enrol_token_file,
                           GetPath(root, "enrol_token_file", "enrol.token", base_dir));
  MEDMESH_ASSIGN_OR_RETURN(config.operator_token_file,
                           GetPath(root, "operator_token_file", "operator.token", base_dir));
  MEDMESH_ASSIGN_OR_RETURN(config.kek_file, GetPath(root, "kek_file", "kek.key", base_dir));
  MEDMESH_ASSIGN_OR_RETURN(config.index_key_file,
                           GetPath(root, "index_key_file", "index.key", base_dir));
  MEDMESH_ASSIGN_OR_RETURN(config.pseudonym_key_file,
                           GetPath(root, "pseudonym_key_file", "pseudonym.key", base_dir));
  MEDMESH_ASSIGN_OR_RETURN(config.ei_kek_file,
                           GetPath(root, "ei_kek_file", "ei_kek.key", base_dir));
  MEDMESH_ASSIGN_OR_RETURN(config.qi_kek_file,
                           GetPath(root, "qi_kek_file", "qi_kek.key", base_dir));
  MEDMESH_ASSIGN_OR_RETURN(config.mi_kek_file,
                           GetPath(root, "mi_kek_file", "mi_kek.key", base_dir));
  if (const auto it = root.find("store"); it != root.end()) {
    MEDMESH_ASSIGN_OR_RETURN(config.store, ParseStore(*it));
  }
  if (const auto it = root.find("log"); it != root.end()) {
    MEDMESH_ASSIGN_OR_RETURN(config.log, ParseLog(*it, base_dir));
  }
  if (const auto it = root.find("retention"); it != root.end()) {
    MEDMESH_ASSIGN_OR_RETURN(config.retention, ParseRetention(*it));
  }
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t k,
                           GetUint(root, "statistics_k", config.statistics_k, 2, 1000, ""));
  config.statistics_k = static_cast<std::size_t>(k);
  if (const auto it = root.find("mesh"); it != root.end()) {
    MEDMESH_ASSIGN_OR_RETURN(config.mesh, ParseMesh(*it, config.id));
  }
  return config;
}

Status ApplyOverrides(NodeConfig& config, const NodeConfigOverrides& overrides) {
  NodeConfig updated = config;
  if (overrides.listen) {
    auto listen = ParseListenAddress(*overrides.listen);
    if (!listen) return InvalidArgument("--listen: " + listen.error().message());
    updated.listen = *listen;
  }
  if (overrides.data_dir) {
    if (overrides.data_dir->empty()) return InvalidArgument("--data-dir is empty");
    std::error_code ec;
    updated.data_dir = std::filesystem::absolute(*overrides.data_dir, ec).lexically_normal();
  }
  if (overrides.cloud_url) {
    std::string url = *overrides.cloud_url;
    if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
      return InvalidArgument("--cloud-url must start with http:// or https://");
    }
    while (url.back() == '/') url.pop_back();
    updated.cloud_url = std::move(url);
  }
  config = std::move(updated);
  return OkStatus();
}

Result<NodeConfig> LoadNodeConfig(const std::filesystem::path& file,
                                  std::span<const std::string_view> extra_members) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    return NotFound("config file " + file.string() + " does not exist or is not a file");
  }
  if (std::filesystem::file_size(file, ec) > kMaxConfigBytes) {
    return ResourceExhausted("config file " + file.string() + " is too large");
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return NotFound("config file " + file.string() + " cannot be read");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::filesystem::path base = std::filesystem::absolute(file, ec).parent_path();
  auto config = ParseNodeConfig(text, base, extra_members);
  if (!config) {
    return Error(config.error().code(), file.string() + ": " + config.error().message());
  }
  config->config_file = file;
  return config;
}

}  // namespace medmesh::node
