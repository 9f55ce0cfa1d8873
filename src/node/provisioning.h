// Provisioning a deployment's identities into folders: the root (key + self-signed
// certificate), and for the cloud and each cloudlet a node key, a certificate issued by the
// root and a copy of the root certificate. `medmesh demo` uses this for its local deployment;
// a real deployment runs the same steps with the root key offline (docs/enrolment.md,
// "Setting up a deployment").
//
// Every step is idempotent, so running it again on the same folders resumes: existing keys are
// kept, and a certificate is re-issued only if it is missing, for another key, another id or
// role, from another root, or past half of its validity.
//
// Files (names fixed so that configs can use the defaults of docs/node_config.md):
//   root folder:  root.key (0600), root.cert
//   node folder:  node.key (0600), node.cert, root.cert
// Thread safety: free functions; do not run two on the same folder at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/random.h"
#include "core/status.h"
#include "wire/certificate.h"

namespace medmesh::node {

inline constexpr std::string_view kRootKeyFileName = "root.key";
inline constexpr std::string_view kRootCertificateFileName = "root.cert";
inline constexpr std::string_view kNodeKeyFileName = "node.key";
inline constexpr std::string_view kNodeCertificateFileName = "node.cert";

struct RootFiles {
  std::filesystem::path key_file;
  std::filesystem::path certificate_file;
};

// Creates `dir` (mode 0700) if needed, a root key file (type "root") if there is none, and a
// self-signed root certificate for `root_id` valid from `now_ms` for `validity`, unless a valid
// one for this key and id is already there. kInvalidArgument for a bad id or an existing key
// file of another type; OS and key file errors otherwise.
Result<RootFiles> EnsureRoot(const std::filesystem::path& dir, std::string_view root_id,
                             Random& random, std::int64_t now_ms,
                             std::chrono::milliseconds validity = std::chrono::hours(24 * 365));

struct NodeCertificateRequest {
  wire::CertificateRole role = wire::CertificateRole::kCloudlet;  // kCloud or kCloudlet
  std::string node_id;                                            // wire::IsValidId
  std::filesystem::path out_dir;                                  // created (0700) if needed
  RootFiles root;                                                 // made by EnsureRoot
  std::int64_t now_ms = 0;
  std::chrono::milliseconds validity = std::chrono::hours(24 * 30);
};

struct NodeFiles {
  std::filesystem::path key_file;               // out_dir/node.key
  std::filesystem::path certificate_file;       // out_dir/node.cert
  std::filesystem::path root_certificate_file;  // out_dir/root.cert
  bool issued = false;                          // a new certificate was written
};

// Makes out_dir a node's identity folder: a node key (type "node", kept if present), a
// certificate for it issued by the root (re-issued as described above), and the root
// certificate copied beside them. kInvalidArgument for a role other than kCloud/kCloudlet, a
// bad id or an existing key file of another type; errors of the root's files as
// LoadRootCertificate and crypto::ReadKeyFile; OS errors as kUnavailable.
Result<NodeFiles> IssueNodeCertificate(const NodeCertificateRequest& request, Random& random);

}  // namespace medmesh::node
