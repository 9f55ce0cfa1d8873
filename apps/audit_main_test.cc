// `medmesh audit verify` with the real binary: a node's log written through AuditLog with the
// node's key, then verified by config (and, for SQLite, by certificate files), tampered with,
// rolled back, and called wrongly. Checks the exit codes (0 verified, 1 broken or unreadable,
// 2 usage) and what the command says it checked. Run twice: the log in audit.db, and (as
// audit_cli_postgres_test) in the PostgreSQL test cluster (the config names it).
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "audit/audit_log.h"
#include "audit/postgres_audit_store.h"
#include "audit/sqlite_audit_store.h"
#include "core/bytes.h"
#include "node/test_support.h"
#include "testing/test_backend.h"
#include "wire/model.h"

namespace medmesh {
namespace {

namespace fs = std::filesystem;

// On the PostgreSQL test cluster when registered as the binary's PostgreSQL variant.
const bool kPostgres = medmesh::testing::OnPostgres();

struct CliRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CliRun Medmesh(const std::string& args) {
  CliRun run;
  const std::string command = std::string(MEDMESH_BINARY) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe) != nullptr) run.output += buffer.data();
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

class AuditCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_dir_ = dir_.path() / "cloud-1";
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-1");
    ASSERT_TRUE(identity) << identity.error().ToString();
    std::string store_json;
    if (kPostgres) {
      const char* pg = std::getenv("MEDMESH_TEST_PG");
      ASSERT_NE(pg, nullptr) << "MEDMESH_TEST_PG is not set: run through ctest";
      conninfo_ = pg;
      prefix_ = "c" + HexEncode(SystemRandom().Generate(6)) + "_";
      store_json = R"(, "store": {"backend": "postgres", "postgres_url": ")" + conninfo_ +
                   R"(", "schema_prefix": ")" + prefix_ + R"("})";
    }
    std::ofstream(node_dir_ / "config.json")
        << R"({"id": "cloud-1", "data_dir": "data", "key_file": "node.key",)"
        << R"( "certificate_file": "node.cert", "root_certificate_file": "root.cert")" << store_json
        << "}";
    fs::create_directories(data_dir());
    log_ = OpenLog(*identity);
    ASSERT_NE(log_, nullptr);
    for (int i = 1; i <= 4; ++i) {
      audit::AuditEntry e;
      e.time_ms = 1'800'000'000'000 + i;
      e.event = "record.read";
      e.actor_account_id = "acc_doc";
      e.actor_role = "doctor";
      e.patient_id = "pat_1";
      ASSERT_TRUE(log_->Append(e));
    }
  }

  void TearDown() override {
    log_.reset();
    if (kPostgres) (void)Exec("DROP SCHEMA IF EXISTS \"" + prefix_ + "audit_log\" CASCADE");
  }

  std::unique_ptr<audit::AuditLog> OpenLog(const node::NodeIdentity& identity) {
    std::unique_ptr<audit::AuditStore> store;
    if (kPostgres) {
      auto opened =
          audit::PostgresAuditStore::Open({.conninfo = conninfo_, .schema_prefix = prefix_});
      if (!opened) return nullptr;
      store = std::move(*opened);
    } else {
      auto opened = audit::SqliteAuditStore::Open(db());
      if (!opened) return nullptr;
      store = std::move(*opened);
    }
    auto log = audit::AuditLog::Open(std::move(store), "cloud-1",
                                     crypto::NewEd25519Signer(identity.signing_key.Clone()));
    return log ? std::move(*log) : nullptr;
  }

  fs::path data_dir() const { return node_dir_ / "data"; }
  std::string db() const { return (data_dir() / audit::kAuditDbFileName).string(); }
  std::string config() const { return (node_dir_ / "config.json").string(); }

  // SQL straight into the log's tables ({entry}, {head}), as the database's owner.
  bool Exec(const std::string& sql) {
    try {
      if (kPostgres) {
        const std::string schema = "\"" + prefix_ + "audit_log\"";
        pqxx::connection c(conninfo_);
        pqxx::work w(c);
        w.exec(Replace(Replace(sql, "{entry}", schema + ".entry"), "{head}", schema + ".head"));
        w.commit();
      } else {
        SQLite::Database d(db(), SQLite::OPEN_READWRITE);
        d.exec(Replace(Replace(sql, "{entry}", "audit_entry"), "{head}", "audit_head"));
      }
      return true;
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      return false;
    }
  }
  void Tamper(const std::string& sql) {
    ASSERT_TRUE(Exec(kPostgres ? "DROP TRIGGER entry_append_only ON {entry};"
                               : "DROP TRIGGER audit_entry_no_update;"
                                 "DROP TRIGGER audit_entry_no_delete;"));
    ASSERT_TRUE(Exec(sql));
  }
  std::string Blob(ByteView bytes) const {
    return kPostgres ? "decode('" + HexEncode(bytes) + "', 'hex')" : "X'" + HexEncode(bytes) + "'";
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path()};
  fs::path node_dir_;
  std::string conninfo_;
  std::string prefix_;
  std::unique_ptr<audit::AuditLog> log_;
};

TEST_F(AuditCliTest, AnUntouchedLogVerifiesByItsConfig) {
  const CliRun run = Medmesh("audit verify --config " + config());
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(Contains(run.output, "checked: 4 entries")) << run.output;
  EXPECT_TRUE(Contains(run.output, "signature by cloud-1")) << run.output;
  EXPECT_TRUE(Contains(run.output, kPostgres ? "PostgreSQL schema" : "audit.db")) << run.output;
  EXPECT_TRUE(Contains(run.output, "result: OK")) << run.output;
}

TEST_F(AuditCliTest, AnAuditorsCopyVerifiesWithTheCertificateFilesAlone) {
  if (kPostgres) GTEST_SKIP() << "a copy of a data folder is SQLite";
  const CliRun run = Medmesh("audit verify --data-dir " + data_dir().string() + " --certificate " +
                             (node_dir_ / "node.cert").string() + " --root-certificate " +
                             (node_dir_ / "root.cert").string());
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(Contains(run.output, "result: OK")) << run.output;
}

TEST_F(AuditCliTest, TamperingIsReportedWithTheEntryAndExitCodeOne) {
  Tamper("UPDATE {entry} SET outcome = 4 WHERE seq = 2");
  const CliRun run = Medmesh("audit verify --config " + config());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(Contains(run.output, "result: BROKEN at entry 2: content_altered")) << run.output;
}

TEST_F(AuditCliTest, ATruncatedTailIsReported) {
  Tamper("DELETE FROM {entry} WHERE seq = 4");
  const CliRun run = Medmesh("audit verify --config " + config());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(Contains(run.output, "BROKEN at entry 4: tail_truncated")) << run.output;
}

TEST_F(AuditCliTest, AHeadPrintedEarlierCatchesALaterRollback) {
  // The signed head after entry 4, as someone with the database could keep it.
  auto old_head = log_->Head();
  ASSERT_TRUE(old_head);
  audit::AuditEntry e;
  e.time_ms = 1'800'000'000'005;
  e.event = "patient.delete";
  e.action = audit::Action::kDelete;
  e.actor_account_id = "acc_pat";
  e.actor_role = "patient";
  e.patient_id = "pat_1";
  ASSERT_TRUE(log_->Append(e));

  const CliRun first = Medmesh("audit verify --config " + config());
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto at = first.output.find("head: ");
  ASSERT_NE(at, std::string::npos);
  const std::string head = first.output.substr(at + 6, first.output.find('\n', at) - at - 6);
  EXPECT_EQ(head.substr(0, 2), "5:");
  EXPECT_EQ(Medmesh("audit verify --config " + config() + " --known-head " + head).exit_code, 0);

  // Rolled back: entry 5 deleted and the old signed head put back. Consistent on its own...
  Tamper("DELETE FROM {entry} WHERE seq = 5; UPDATE {head} SET seq = 4, hash = " +
         Blob(old_head->hash) + ", signature = " + Blob(old_head->signature));
  const CliRun alone = Medmesh("audit verify --config " + config());
  EXPECT_EQ(alone.exit_code, 0) << alone.output;
  // ...but not against the head seen earlier.
  const CliRun run = Medmesh("audit verify --config " + config() + " --known-head " + head);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(Contains(run.output, "BROKEN at entry 5: known_head_missing")) << run.output;
}

TEST_F(AuditCliTest, AnotherNodesCertificateDoesNotVerifyTheHead) {
  if (kPostgres) GTEST_SKIP() << "certificate files with a data folder: SQLite";
  ASSERT_TRUE(deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1"));
  const CliRun run = Medmesh("audit verify --data-dir " + data_dir().string() + " --certificate " +
                             (dir_.path() / "cloudlet-1" / "node.cert").string() +
                             " --root-certificate " + (node_dir_ / "root.cert").string());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(Contains(run.output, "head_signature_invalid")) << run.output;
}

TEST_F(AuditCliTest, AMissingLogIsNotVerifiedAndNotCreated) {
  if (kPostgres) GTEST_SKIP() << "audit.db is SQLite's";
  log_.reset();
  fs::remove(db());
  const CliRun run = Medmesh("audit verify --config " + config());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(Contains(run.output, "NOT VERIFIED")) << run.output;
  EXPECT_FALSE(fs::exists(db()));
}

TEST_F(AuditCliTest, BadUsageExitsWithTwo) {
  EXPECT_EQ(Medmesh("audit verify").exit_code, 2);
  EXPECT_EQ(Medmesh("audit verify --data-dir " + data_dir().string()).exit_code, 2);
  EXPECT_EQ(Medmesh("audit verify --config " + config() + " --known-head 3:abc").exit_code, 2);
  EXPECT_EQ(Medmesh("audit verify --config " + (dir_.path() / "none.json").string()).exit_code, 2);
  EXPECT_EQ(Medmesh("audit").exit_code, 2);
}

}  // namespace
}  // namespace medmesh
