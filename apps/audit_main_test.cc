// `medmesh audit verify` with the real binary: a node's log written through AuditLog with the
// node's key, then verified by config and by certificate files, tampered with, rolled back,
// and called wrongly. Checks the exit codes (0 verified, 1 broken or unreadable, 2 usage) and
// what the command says it checked.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "audit/audit_log.h"
#include "audit/sqlite_audit_store.h"
#include "node/test_support.h"
#include "wire/model.h"

namespace medmesh {
namespace {

namespace fs = std::filesystem;

struct Run {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

Run Medmesh(const std::string& args) {
  Run run;
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

class AuditCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_dir_ = dir_.path() / "cloud-1";
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-1");
    ASSERT_TRUE(identity) << identity.error().ToString();
    std::ofstream(node_dir_ / "config.json")
        << R"({"id": "cloud-1", "data_dir": "data", "key_file": "node.key",)"
        << R"( "certificate_file": "node.cert", "root_certificate_file": "root.cert"})";
    fs::create_directories(data_dir());
    auto store = audit::SqliteAuditStore::Open(db());
    ASSERT_TRUE(store);
    auto log = audit::AuditLog::Open(std::move(*store), "cloud-1",
                                     crypto::NewEd25519Signer(identity->signing_key.Clone()));
    ASSERT_TRUE(log);
    for (int i = 1; i <= 4; ++i) {
      audit::AuditEntry e;
      e.time_ms = 1'800'000'000'000 + i;
      e.event = "record.read";
      e.actor_account_id = "acc_doc";
      e.actor_role = "doctor";
      e.patient_id = "pat_1";
      ASSERT_TRUE((*log)->Append(e));
    }
  }

  fs::path data_dir() const { return node_dir_ / "data"; }
  std::string db() const { return (data_dir() / audit::kAuditDbFileName).string(); }
  std::string config() const { return (node_dir_ / "config.json").string(); }

  void Sql(const std::string& sql) {
    SQLite::Database d(db(), SQLite::OPEN_READWRITE);
    d.exec(sql);
  }

  node::testing::TempDir dir_;
  node::testing::TestDeployment deployment_{dir_.path()};
  fs::path node_dir_;
};

TEST_F(AuditCliTest, AnUntouchedLogVerifiesByConfigAndByCertificateFiles) {
  const Run by_config = Medmesh("audit verify --config " + config());
  EXPECT_EQ(by_config.exit_code, 0) << by_config.output;
  EXPECT_TRUE(Contains(by_config.output, "checked: 4 entries")) << by_config.output;
  EXPECT_TRUE(Contains(by_config.output, "signature by cloud-1")) << by_config.output;
  EXPECT_TRUE(Contains(by_config.output, "result: OK")) << by_config.output;

  const Run by_files = Medmesh("audit verify --data-dir " + data_dir().string() +
                               " --certificate " + (node_dir_ / "node.cert").string() +
                               " --root-certificate " + (node_dir_ / "root.cert").string());
  EXPECT_EQ(by_files.exit_code, 0) << by_files.output;
}

TEST_F(AuditCliTest, TamperingIsReportedWithTheEntryAndExitCodeOne) {
  Sql("DROP TRIGGER audit_entry_no_update; UPDATE audit_entry SET outcome = 4 WHERE seq = 2");
  const Run run = Medmesh("audit verify --config " + config());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(Contains(run.output, "result: BROKEN at entry 2: content_altered")) << run.output;
}

TEST_F(AuditCliTest, ATruncatedTailIsReported) {
  Sql("DROP TRIGGER audit_entry_no_delete; DELETE FROM audit_entry WHERE seq = 4");
  const Run run = Medmesh("audit verify --config " + config());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(Contains(run.output, "BROKEN at entry 4: tail_truncated")) << run.output;
}

TEST_F(AuditCliTest, AHeadPrintedEarlierCatchesALaterRollback) {
  // The signed head after entry 4, as someone with the database could keep it.
  std::string old_head_row;
  {
    SQLite::Database d(db(), SQLite::OPEN_READONLY);
    old_head_row = d.execAndGet(
                        "SELECT 'seq = ' || seq || ', hash = X''' || hex(hash) ||"
                        " ''', signature = X''' || hex(signature) || '''' FROM audit_head")
                       .getString();
  }
  {
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-1");
    ASSERT_TRUE(identity);
    auto store = audit::SqliteAuditStore::Open(db());
    ASSERT_TRUE(store);
    auto log = audit::AuditLog::Open(std::move(*store), "cloud-1",
                                     crypto::NewEd25519Signer(identity->signing_key.Clone()));
    ASSERT_TRUE(log);
    audit::AuditEntry e;
    e.time_ms = 1'800'000'000'005;
    e.event = "patient.delete";
    e.action = audit::Action::kDelete;
    e.actor_account_id = "acc_pat";
    e.actor_role = "patient";
    e.patient_id = "pat_1";
    ASSERT_TRUE((*log)->Append(e));
  }
  const Run first = Medmesh("audit verify --config " + config());
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto at = first.output.find("head: ");
  ASSERT_NE(at, std::string::npos);
  const std::string head = first.output.substr(at + 6, first.output.find('\n', at) - at - 6);
  EXPECT_EQ(head.substr(0, 2), "5:");
  EXPECT_EQ(Medmesh("audit verify --config " + config() + " --known-head " + head).exit_code, 0);

  // Rolled back: entry 5 deleted and the old signed head put back. Consistent on its own...
  Sql("DROP TRIGGER audit_entry_no_delete; DELETE FROM audit_entry WHERE seq = 5;"
      "UPDATE audit_head SET " +
      old_head_row);
  const Run alone = Medmesh("audit verify --config " + config());
  EXPECT_EQ(alone.exit_code, 0) << alone.output;
  // ...but not against the head seen earlier.
  const Run run = Medmesh("audit verify --config " + config() + " --known-head " + head);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(Contains(run.output, "BROKEN at entry 5: known_head_missing")) << run.output;
}

TEST_F(AuditCliTest, AnotherNodesCertificateDoesNotVerifyTheHead) {
  ASSERT_TRUE(deployment_.Identity(wire::CertificateRole::kCloudlet, "cloudlet-1"));
  const Run run = Medmesh("audit verify --data-dir " + data_dir().string() + " --certificate " +
                          (dir_.path() / "cloudlet-1" / "node.cert").string() +
                          " --root-certificate " + (node_dir_ / "root.cert").string());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(Contains(run.output, "head_signature_invalid")) << run.output;
}

TEST_F(AuditCliTest, AMissingLogIsNotVerified) {
  fs::remove(db());
  const Run run = Medmesh("audit verify --config " + config());
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(Contains(run.output, "NOT VERIFIED")) << run.output;
  EXPECT_FALSE(fs::exists(db()));  // verifying never creates a log
}

TEST_F(AuditCliTest, BadUsageExitsWithTwo) {
  EXPECT_EQ(Medmesh("audit verify").exit_code, 2);
  EXPECT_EQ(Medmesh("audit verify --data-dir " + data_dir().string()).exit_code, 2);
  EXPECT_EQ(Medmesh("audit verify --config " + config() + " --known-head 3:abc").exit_code, 2);
  EXPECT_EQ(Medmesh("audit verify --config /nonexistent/config.json").exit_code, 2);
  EXPECT_EQ(Medmesh("audit").exit_code, 2);
}

}  // namespace
}  // namespace medmesh
