// medmesh admin create: the first (or another) cloud admin account, made on the cloud's own
// machine, so no default password ever exists (docs/accounts.md "The first admin").
//
//   medmesh admin create --data-dir DIR --email E [--name NAME]
//   medmesh admin create --config FILE --email E [--name NAME]   (the cloud's store config:
//                                                                  SQLite folder or PostgreSQL)
//
// The password is never a flag (flags end up in shell history and in `ps`): it is read from the
// terminal twice without echo, or, when stdin is not a terminal, as the first line of stdin.
// With --config the creation is appended to the cloud's own audit log (audit.db in its data
// folder, or its PostgreSQL schema), signed with the node key the config names, as the running
// cloud would; the identity and the log are opened before the account is made, so a cloud whose
// log cannot be written gets no unaudited admin. With --data-dir alone there is no node key to
// sign the log with: the entry goes to the process log only (a folder the cloud has not used).
// Exit codes: 0 created, 1 failure (e.g. the e-mail has an account), 2 bad usage.
#include "apps/admin_main.h"

#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "accounts/account_service.h"
#include "audit/audit_log.h"
#include "audit/postgres_audit_store.h"
#include "audit/sqlite_audit_store.h"
#include "cloud/account_api.h"
#include "core/clock.h"
#include "core/random.h"
#include "crypto/password.h"
#include "crypto/signing.h"
#include "node/identity.h"
#include "node/node_config.h"
#include "wire/model.h"

namespace {

namespace accounts = medmesh::accounts;
namespace node = medmesh::node;

struct AdminFlags {
  std::string data_dir;
  std::string config;
  std::string email;
  std::string name = "Administrator";
};

// Overwrites a password held in a std::string before it is freed.
void Wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

// The cloud's audit log as the running cloud opens it: its store (SQLite audit.db in the data
// folder, or the PostgreSQL schema) under the node's id and key.
medmesh::Result<std::unique_ptr<medmesh::audit::AuditLog>> OpenCloudAuditLog(
    const node::NodeConfig& config, const medmesh::Clock& clock) {
  namespace audit = medmesh::audit;
  MEDMESH_ASSIGN_OR_RETURN(
      node::NodeIdentity identity,
      node::LoadNodeIdentity(config.key_file, config.certificate_file, config.root_certificate_file,
                             medmesh::wire::CertificateRole::kCloud, config.id,
                             medmesh::wire::NowMs(clock)));
  std::unique_ptr<audit::AuditStore> store;
  if (config.store.backend == node::StoreBackend::kPostgres) {
    MEDMESH_ASSIGN_OR_RETURN(
        store, audit::PostgresAuditStore::Open({.conninfo = config.store.postgres_url,
                                                .schema_prefix = config.store.schema_prefix}));
  } else {
    MEDMESH_ASSIGN_OR_RETURN(
        store, audit::SqliteAuditStore::Open((config.data_dir / audit::kAuditDbFileName).string()));
  }
  return audit::AuditLog::Open(std::move(store), identity.id(),
                               medmesh::crypto::NewEd25519Signer(identity.signing_key.Clone()));
}

// One line from stdin with echo off when it is a terminal; nullopt at end of input.
std::optional<std::string> ReadSecretLine(const char* prompt) {
  const bool tty = ::isatty(STDIN_FILENO) == 1;
  termios saved{};
  if (tty) {
    std::cerr << prompt << std::flush;
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  const bool got = static_cast<bool>(std::getline(std::cin, line));
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::cerr << "\n";
  }
  if (!got) return std::nullopt;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

int RunCreate(const AdminFlags& flags) {
  if (flags.data_dir.empty() == flags.config.empty()) {
    std::cerr << "medmesh admin create: give exactly one of --data-dir and --config\n";
    return 2;
  }
  node::StoreConfig store;
  std::filesystem::path data_dir = flags.data_dir;
  std::optional<node::NodeConfig> config;
  if (!flags.config.empty()) {
    auto loaded = node::LoadNodeConfig(flags.config);
    if (!loaded) {
      std::cerr << "medmesh admin create: config: " << loaded.error().ToString() << "\n";
      return 2;
    }
    config = std::move(*loaded);
    store = config->store;
    data_dir = config->data_dir;
  } else {
    std::error_code ec;
    if (!std::filesystem::is_directory(data_dir, ec)) {
      std::cerr << "medmesh admin create: --data-dir is not a folder\n";
      return 2;
    }
  }
  std::optional<std::string> password = ReadSecretLine("Password for the new admin: ");
  if (!password) {
    std::cerr << "medmesh admin create: no password given on stdin\n";
    return 2;
  }
  if (::isatty(STDIN_FILENO) == 1) {
    std::optional<std::string> again = ReadSecretLine("Again: ");
    const bool same = again && *again == *password;
    if (again) Wipe(*again);
    if (!same) {
      Wipe(*password);
      std::cerr << "medmesh admin create: the passwords differ\n";
      return 1;
    }
  }
  auto opened = medmesh::cloud::OpenAccountStore(data_dir, store);
  if (!opened) {
    Wipe(*password);
    std::cerr << "medmesh admin create: accounts store: " << opened.error().ToString() << "\n";
    return 1;
  }
  medmesh::SystemClock clock;
  medmesh::SystemRandom random;
  const medmesh::crypto::PasswordHasher hasher;
  std::unique_ptr<medmesh::audit::AuditSink> audit;
  if (config) {
    auto log = OpenCloudAuditLog(*config, clock);
    if (!log) {
      Wipe(*password);
      std::cerr << "medmesh admin create: the cloud's audit log: " << log.error().ToString()
                << "\n";
      return 1;
    }
    audit = std::move(*log);
  } else {
    // No node key without a config: the process log (no ids), as before the audit log existed.
    audit = medmesh::cloud::NewLogAuditSink();
  }
  accounts::Credentials credentials{flags.email, std::move(*password)};
  auto created = accounts::CreateAdminAccount(**opened, hasher, *audit, clock, random, credentials,
                                              flags.name, "local");
  Wipe(credentials.password);
  if (!created) {
    std::cerr << "medmesh admin create: " << created.error().ToString() << "\n";
    return 1;
  }
  std::cout << "created admin account " << created->account_id << "\n";
  return 0;
}

}  // namespace

void RegisterAdminCommand(CLI::App& app) {
  auto flags = std::make_shared<AdminFlags>();
  CLI::App* admin = app.add_subcommand("admin", "Administer a cloud's accounts on its machine");
  admin->require_subcommand(1);
  CLI::App* create = admin->add_subcommand(
      "create", "Create a cloud admin account; the password is read from stdin, never a flag");
  create->add_option("--data-dir", flags->data_dir, "The cloud's data folder (SQLite store)");
  create->add_option("--config", flags->config, "The cloud's node config (its store settings)");
  create->add_option("--email", flags->email, "The admin's login e-mail")->required();
  create->add_option("--name", flags->name, "The admin's display name");
  create->callback([flags] {
    const int code = RunCreate(*flags);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}
