// NodeConfig: the JSON configuration file shared by every MedMesh service (`medmesh cloud`,
// `medmesh cloudlet`, `medmesh wearable`). The format, every member and its default:
// docs/node_config.md.
//
//   {"id": "cloudlet-1", "listen": "127.0.0.1:8081", "data_dir": "data",
//    "key_file": "node.key", "certificate_file": "node.cert",
//    "root_certificate_file": "root.cert", "cloud_url": "http://127.0.0.1:8080",
//    "enrol_token_file": "enrol.token", "operator_token_file": "operator.token",
//    "ei_kek_file": "ei_kek.key", "qi_kek_file": "qi_kek.key", "mi_kek_file": "mi_kek.key",
//    "tls": {"cert_file": "tls.crt", "key_file": "tls.key", "ca_file": "ca.pem"},
//    "store": {"backend": "sqlite"},
//    "mesh": {"peers": [{"id": "cloudlet-2", "url": "http://127.0.0.1:8082"}]},
//    "log": {"file": "logs/cloudlet-1.log", "max_file_mb": 64, "max_files": 5},
//    "retention": {"ids_events_days": 30, "ledger_days": 30, "readings_days": 30,
//                  "dead_letters_days": 30, "journal_max_mb": 16, "journal_files": 4,
//                  "maintenance_interval_s": 600}}
//
// Relative paths are relative to the folder of the config file (or the `base_dir` given to
// ParseNodeConfig), so a deployment folder can be moved as a whole. Unknown members are refused
// (a typo must not silently fall back to a default) unless the caller lists them as its own
// extras; the raw text stays available for the caller to parse those.
// Thread safety: value types and free functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace medmesh::node {

// The largest config file read.
inline constexpr std::size_t kMaxConfigBytes = std::size_t{256} * 1024;

struct ListenAddress {
  std::string address = "127.0.0.1";  // numeric IPv4 or IPv6, no brackets
  std::uint16_t port = 0;             // 0: any free port
  bool operator==(const ListenAddress&) const = default;
};

// "127.0.0.1:8081", "0.0.0.0:80", "[::1]:8443", "[::]:0". kInvalidArgument otherwise (host
// names are refused: a listener binds an address).
Result<ListenAddress> ParseListenAddress(std::string_view text);
// The inverse ("[::1]:8443" for IPv6).
std::string FormatListenAddress(const ListenAddress& listen);

struct TlsConfig {
  std::filesystem::path cert_file;  // PEM chain, leaf first (server side); empty: plain HTTP
  std::filesystem::path key_file;   // PEM private key of cert_file
  std::filesystem::path ca_file;    // PEM trust anchors for outgoing https (empty: system store)
};

enum class StoreBackend { kSqlite, kPostgres };
std::string_view StoreBackendName(StoreBackend backend);  // "sqlite", "postgres"

struct StoreConfig {
  StoreBackend backend = StoreBackend::kSqlite;
  // libpq connection string or URI; may hold a password, so it is never logged.
  std::string postgres_url;
  // Prefix of the PostgreSQL schema names: empty or [a-z][a-z0-9_]{0,31}, checked by the cloud
  // when it starts (store::CheckSchemaPrefix, the stores' own rule).
  std::string schema_prefix;
};

// Where the process logs, and the rotation that bounds it (core/log.h).
struct LogConfig {
  std::filesystem::path file;                              // empty: stderr
  std::uint64_t max_file_bytes = std::uint64_t{64} << 20;  // "max_file_mb", 1..4096
  std::uint32_t max_files = 5;                             // the current one included, 1..100
};

// How long a node keeps what it accumulates, so that a small edge disk never fills by normal
// operation. Applied by each service's maintenance task (docs/node_config.md, "retention").
// Data that is still needed is never pruned, whatever these say: a reading or record not yet
// forwarded to the cloud, a ledger row of a batch not yet forwarded, or rows of a dead-lettered
// batch (kept for the operator).
struct RetentionConfig {
  // IDS rows (ids.db), by the time of their last event. "ids_events_days", 1..3650.
  std::chrono::hours ids_events{24 * 30};
  // Cloudlet: the ingest ledger's row of a forwarded batch, which makes a device's late retry
  // of an acknowledged upload a duplicate. Counted from when the batch was seen forwarded; a
  // row also lives as long as its readings. "ledger_days", 2..3650 (at least the sessions'
  // replay window of one day, plus margin for a device that lost an acknowledgement).
  std::chrono::hours ledger{24 * 30};
  // Cloudlet: readings and records, counted from when their batch was seen forwarded.
  // "readings_days", 1..3650.
  std::chrono::hours readings{24 * 30};
  // Cloudlet: forwards the cloud refused for good. "dead_letters_days", 1..3650.
  std::chrono::hours dead_letters{24 * 30};
  // Wearable: the devices' journal of deliveries (sent.jsonl), rotated by size.
  // "journal_max_mb" 1..1024, "journal_files" 1..100.
  std::uint64_t journal_max_bytes = std::uint64_t{16} << 20;
  std::uint32_t journal_files = 4;
  // How often the maintenance task runs. "maintenance_interval_s", 1..86400.
  std::chrono::seconds maintenance_interval{600};
};

// The IDS mesh (docs/ids_mesh.md): which peers this node pushes its signed IDS reports to and
// accepts reports from, and the fusion tunables. A cloudlet's cloud (`cloud_url`) is always a
// member and is not listed; the cloud lists every cloudlet.
struct MeshPeer {
  std::string id;   // wire::IsValidId; the peer's node id (its certificate's subject)
  std::string url;  // http(s):// base URL, no trailing '/'
  bool operator==(const MeshPeer&) const = default;
};
struct MeshConfig {
  std::vector<MeshPeer> peers;  // "peers": [{"id", "url"}], distinct ids, not this node's
  // Trust-weighted support of distinct origins a peer's block needs before it is adopted here
  // (each origin's weight is its trust, at most 1). "adopt_threshold", 1.01..10 (so one peer
  // alone, weight <= 1, never reaches it).
  double adopt_threshold = 1.5;
  // A report older than this (by its sent time) is refused as a replay. "max_report_age_s",
  // 10..86400.
  std::chrono::seconds max_report_age{300};
  // A peer's report is confirmed when this node's own detectors alert on the same scope within
  // this window of it (before or after); "confirm_window_s", 10..86400.
  std::chrono::seconds confirm_window{600};
  // Peer trust forgets evidence with this half-life. "trust_half_life_h", 1..8760.
  std::chrono::hours trust_half_life{24 * 7};
  bool operator==(const MeshConfig&) const = default;
};

struct NodeConfig {
  std::string id;  // wire::IsValidId
  ListenAddress listen;
  std::filesystem::path data_dir;
  std::filesystem::path key_file;               // crypto key file of type "node"
  std::filesystem::path certificate_file;       // this node's certificate, issued by the root
  std::filesystem::path root_certificate_file;  // the pinned, self-signed root certificate
  std::string cloud_url;                        // cloudlet: where the cloud listens
  // Cloud: "cloudlet_urls", {"<cloudlet id>": "<base URL>"}: where restores reach each cloudlet.
  std::map<std::string, std::string> cloudlets;
  std::optional<TlsConfig> tls;
  std::filesystem::path enrol_token_file;     // cloudlet: bearer token of POST /api/v1/enrol
  std::filesystem::path operator_token_file;  // bearer token of the operator endpoints
  // Key-encryption key of the node's stores (a key file of type "kek"). Default "kek.key".
  // Cloud: the single KEK of deployments before per-part KEKs (ADR 0016), optional: while the
  // file exists it is loaded as an older KEK of every part, and it stands in for a part whose
  // own file is missing (node/kek_ring.h).
  std::filesystem::path kek_file;
  // Cloud only: the KEK of each part of the three-part store, each wrapping only its part's data
  // keys, each rotated on its own (`medmesh keys rotate-kek`; F.next beside it while a rotation
  // is unfinished). Defaults "ei_kek.key", "qi_kek.key", "mi_kek.key".
  std::filesystem::path ei_kek_file;
  std::filesystem::path qi_kek_file;
  std::filesystem::path mi_kek_file;
  // Cloud only: the three-part store's blind-index and pseudonym secrets (key files of type
  // "kek", used as 32-byte secrets). Defaults "index.key" and "pseudonym.key".
  std::filesystem::path index_key_file;
  std::filesystem::path pseudonym_key_file;
  StoreConfig store;
  LogConfig log;
  RetentionConfig retention;
  // Cloud: the statistics charts leave out every group of fewer patients than this
  // (k-anonymity; ClinicalOptions::statistics_k). "statistics_k", 2..1000.
  std::size_t statistics_k = 5;
  // The IDS mesh ("mesh"); no member: no peers (a cloudlet still reports to its cloud).
  MeshConfig mesh;
  // Where the file was read from (for messages) and the folder relative paths resolve against.
  std::filesystem::path config_file;
  std::filesystem::path base_dir;
  // The JSON text, for callers that read extra members of their own.
  std::string raw_json;
};

// Parses config JSON. Paths resolve against `base_dir`. `extra_members` names top-level members
// the caller reads itself (they are skipped here instead of refused). kInvalidArgument naming
// the member for malformed JSON, a wrong type, an unknown member, a bad id, listen address,
// backend or prefix, or a missing required member ("id", "data_dir"). Messages never quote
// values (a URL may carry a password).
Result<NodeConfig> ParseNodeConfig(std::string_view json, const std::filesystem::path& base_dir,
                                   std::span<const std::string_view> extra_members = {});

// Reads and parses `file` (at most kMaxConfigBytes); relative paths resolve against its folder.
// kNotFound if it does not exist, kInvalidArgument / kResourceExhausted for its content.
Result<NodeConfig> LoadNodeConfig(const std::filesystem::path& file,
                                  std::span<const std::string_view> extra_members = {});

// Command-line flags that override the file (`--listen`, `--data-dir`, `--cloud-url`). A relative
// --data-dir is relative to the current folder, as usual for flags.
struct NodeConfigOverrides {
  std::optional<std::string> listen = std::nullopt;
  std::optional<std::string> data_dir = std::nullopt;
  std::optional<std::string> cloud_url = std::nullopt;
};
// kInvalidArgument for a bad listen address or URL (the config is unchanged then).
Status ApplyOverrides(NodeConfig& config, const NodeConfigOverrides& overrides);

// `path` if absolute, else base_dir / path (lexically normalised). Empty stays empty.
std::filesystem::path ResolvePath(const std::filesystem::path& base_dir,
                                  const std::filesystem::path& path);

}  // namespace medmesh::node
