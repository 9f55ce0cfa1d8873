// medmesh audit verify: proves a node's audit log untouched (docs/audit.md).
//
//   medmesh audit verify --config FILE [--data-dir DIR] [--known-head SEQ:HASH]
//   medmesh audit verify --data-dir DIR --certificate FILE --root-certificate FILE
//                        [--known-head SEQ:HASH]
//
// With --config, the log is where the node keeps it (audit.db in its data folder, or the
// PostgreSQL schema <prefix>audit_log) and the node's public key comes from the certificate and
// root certificate the config names. Without a config (an auditor's copy of a SQLite data folder),
// the certificate files are given. Only public material is read: the node's certificate,
// checked against the pinned root, supplies the key that must have signed the head (a
// certificate that expired since is checked as it was issued, so old logs stay verifiable).
// --known-head is a head printed by an earlier run: the log must still hold it (a rollback to an
// older signed head is found only this way).
// Exit codes: 0 the log verified; 1 it is broken, or could not be read; 2 bad usage or config.
#include "apps/audit_main.h"

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "audit/audit_log.h"
#include "audit/postgres_audit_store.h"
#include "audit/sqlite_audit_store.h"
#include "core/bytes.h"
#include "core/env.h"
#include "node/identity.h"
#include "node/node_config.h"
#include "wire/certificate.h"

namespace {

namespace audit = medmesh::audit;
namespace node = medmesh::node;
namespace wire = medmesh::wire;
namespace fs = std::filesystem;

struct AuditVerifyFlags {
  std::string config;
  std::string data_dir;
  std::string certificate;
  std::string root_certificate;
  std::string known_head;
};

int Usage(const std::string& message) {
  std::cerr << "medmesh audit verify: " << message << "\n";
  return 2;
}

int Unreadable(const std::string& what, const medmesh::Error& error) {
  std::cerr << "medmesh audit verify: " << what << ": " << error.ToString() << "\n";
  std::cout << "result: NOT VERIFIED (the log could not be read)\n";
  return 1;
}

// The node's public key from its certificate, verified against the pinned root (as issued:
// validity periods are checked at the certificate's own not_before).
medmesh::Result<wire::VerifiedCertificate> LoadNodeCertificate(const fs::path& certificate_file,
                                                               const fs::path& root_file) {
  constexpr std::size_t kMaxBytes = 64 * 1024;
  MEDMESH_ASSIGN_OR_RETURN(medmesh::Bytes root_bytes,
                           medmesh::Env::Default().ReadSmallFile(root_file, kMaxBytes));
  MEDMESH_ASSIGN_OR_RETURN(wire::SignedCertificate root_parsed, wire::ParseCertificate(root_bytes));
  MEDMESH_ASSIGN_OR_RETURN(
      node::RootOfTrust root,
      node::ParseRootCertificate(root_bytes, root_parsed.certificate.not_before_ms));
  MEDMESH_ASSIGN_OR_RETURN(medmesh::Bytes bytes,
                           medmesh::Env::Default().ReadSmallFile(certificate_file, kMaxBytes));
  MEDMESH_ASSIGN_OR_RETURN(wire::SignedCertificate parsed, wire::ParseCertificate(bytes));
  const wire::CertificateRole role = parsed.certificate.role;
  if (role != wire::CertificateRole::kCloud && role != wire::CertificateRole::kCloudlet) {
    return medmesh::PermissionDenied("not a cloud or cloudlet certificate");
  }
  return wire::VerifyCertificate(bytes, root.key, role, parsed.certificate.not_before_ms);
}

// "SEQ:HEX" → (seq, 32-byte hash).
std::optional<std::pair<std::uint64_t, medmesh::Bytes>> ParseKnownHead(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  std::uint64_t seq = 0;
  for (char c : text.substr(0, colon)) {
    if (c < '0' || c > '9' || seq > (UINT64_MAX - 9) / 10) return std::nullopt;
    seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
  }
  auto hash = medmesh::HexDecode(text.substr(colon + 1));
  if (!hash || hash->size() != 32) return std::nullopt;
  return std::make_pair(seq, std::move(*hash));
}

int RunVerify(const AuditVerifyFlags& flags) {
  audit::AuditVerifyOptions options;
  if (!flags.known_head.empty()) {
    options.known_head = ParseKnownHead(flags.known_head);
    if (!options.known_head) return Usage("--known-head must be SEQ:HASH (64 hex digits)");
  }
  fs::path certificate_file = flags.certificate;
  fs::path root_file = flags.root_certificate;
  fs::path data_dir = flags.data_dir;
  std::optional<node::StoreConfig> store_config;
  if (!flags.config.empty()) {
    auto config = node::LoadNodeConfig(flags.config);
    if (!config) {
      std::cerr << "medmesh audit verify: config: " << config.error().ToString() << "\n";
      return 2;
    }
    if (certificate_file.empty()) certificate_file = config->certificate_file;
    if (root_file.empty()) root_file = config->root_certificate_file;
    if (data_dir.empty()) data_dir = config->data_dir;
    store_config = config->store;
  } else if (data_dir.empty() || certificate_file.empty() || root_file.empty()) {
    return Usage("give --config FILE, or --data-dir DIR with --certificate and --root-certificate");
  }

  auto certificate = LoadNodeCertificate(certificate_file, root_file);
  if (!certificate) {
    std::cerr << "medmesh audit verify: node certificate: " << certificate.error().ToString()
              << "\n";
    return 2;
  }
  const wire::Certificate& cert = certificate->certificate();
  options.observer = cert.subject_id;
  auto verifier = medmesh::crypto::NewEd25519Verifier(cert.signing_key);
  std::cout << "node: " << cert.subject_id << " (" << wire::CertificateRoleName(cert.role)
            << "), key " << medmesh::crypto::KeyIdHex(cert.signing_key.Fingerprint())
            << " from its root-signed certificate\n";

  std::unique_ptr<audit::AuditStore> store;
  if (store_config && store_config->backend == node::StoreBackend::kPostgres) {
    auto opened = audit::PostgresAuditStore::Open(
        {.conninfo = store_config->postgres_url, .schema_prefix = store_config->schema_prefix});
    if (!opened) return Unreadable("audit log", opened.error());
    std::cout << "log: PostgreSQL schema " << (*opened)->schema() << "\n";
    store = std::move(*opened);
  } else {
    const fs::path file = data_dir / audit::kAuditDbFileName;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec)) {
      std::cerr << "medmesh audit verify: no audit log at " << file.string() << "\n";
      std::cout << "result: NOT VERIFIED (no audit log)\n";
      return 1;
    }
    auto opened = audit::SqliteAuditStore::Open(file.string());
    if (!opened) return Unreadable("audit log", opened.error());
    std::cout << "log: " << file.string() << "\n";
    store = std::move(*opened);
  }
  auto log = audit::AuditLog::OpenReadOnly(std::move(store));
  auto report = log->Verify(*verifier, options);
  if (!report) return Unreadable("verify", report.error());

  std::cout << "checked: " << report->entries
            << " entries (seq without gaps, each entry's columns against its AuditEvent, each"
               " entry hash, each link to the entry before)";
  if (report->ok() || report->failure == audit::AuditFailure::kHeadSignatureInvalid ||
      report->failure == audit::AuditFailure::kTailTruncated ||
      report->failure == audit::AuditFailure::kHeadMismatch ||
      report->failure == audit::AuditFailure::kUnsignedEntries ||
      report->failure == audit::AuditFailure::kKnownHeadMissing) {
    std::cout << ", the head's signature by " << cert.subject_id;
  }
  if (options.known_head) std::cout << ", the head seen earlier";
  std::cout << "\n";
  std::cout << "head: " << report->head_seq << ":" << medmesh::HexEncode(report->head_hash) << "\n";
  if (report->ok()) {
    std::cout << "result: OK (keep the head line above to detect a later rollback with"
                 " --known-head)\n";
    return 0;
  }
  std::cout << "result: BROKEN at entry " << report->first_bad_seq << ": "
            << audit::AuditFailureName(report->failure) << ": " << report->message << "\n";
  return 1;
}

}  // namespace

void RegisterAuditCommand(CLI::App& app) {
  auto flags = std::make_shared<AuditVerifyFlags>();
  CLI::App* cmd = app.add_subcommand("audit", "Work with a node's audit log (docs/audit.md)");
  // Usage errors found here exit with 2 (CLI11's own parse errors keep its codes).
  cmd->callback([cmd] {
    if (cmd->get_subcommands().empty()) {
      std::cerr << cmd->help();
      throw CLI::RuntimeError(2);
    }
  });
  CLI::App* verify = cmd->add_subcommand(
      "verify",
      "Recompute the audit log's hash chain and check its signed head with the node's public key"
      " (exit 0 verified, 1 broken, 2 usage)");
  verify->add_option("--config", flags->config, "Node config file (docs/node_config.md)");
  verify->add_option("--data-dir", flags->data_dir,
                     "Data folder holding audit.db (overrides the config's)");
  verify->add_option("--certificate", flags->certificate,
                     "The node's certificate (default: the config's certificate_file)");
  verify->add_option("--root-certificate", flags->root_certificate,
                     "The pinned root certificate (default: the config's)");
  verify->add_option("--known-head", flags->known_head,
                     "SEQ:HASH of a head printed by an earlier verify; the log must still hold it");
  verify->callback([flags] {
    const int code = RunVerify(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}
