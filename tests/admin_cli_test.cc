// `medmesh admin create` with the real binary: the password comes from stdin (never a flag),
// the account lands in the data folder's accounts.db as an approved admin whose password
// verifies, and bad usage creates nothing. With --config the creation is in the cloud's audit
// log, which `medmesh audit verify` then proves untouched. Run twice: SQLite, and (as
// admin_cli_postgres_test, testing/test_backend.h) the config's store in the PostgreSQL test
// cluster.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "accounts/sqlite_account_store.h"
#include "audit/audit_log.h"
#include "audit/postgres_audit_store.h"
#include "audit/sqlite_audit_store.h"
#include "cloud/account_api.h"
#include "core/bytes.h"
#include "core/random.h"
#include "crypto/password.h"
#include "node/test_support.h"
#include "testing/temp_dir.h"
#include "testing/test_backend.h"

namespace medmesh {
namespace {

constexpr char kPassword[] = "a long admin password";

// On the PostgreSQL test cluster when registered as the binary's PostgreSQL variant.
const bool kPostgres = medmesh::testing::OnPostgres();

class AdminCliTest : public ::testing::Test {
 protected:
  // Runs the binary with `args`, feeding `stdin_text`; returns its exit code. Output goes to
  // files in the temp folder, not to the test log.
  int Run(const std::string& args, const std::string& stdin_text) {
    const std::string command = std::string(MEDMESH_BINARY) + " " + args + " >" +
                                dir_.File("out.txt") + " 2>" + dir_.File("err.txt");
    FILE* child = ::popen(command.c_str(), "w");
    EXPECT_NE(child, nullptr);
    if (child == nullptr) return -1;
    std::fwrite(stdin_text.data(), 1, stdin_text.size(), child);
    const int status = ::pclose(child);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::optional<accounts::Account> Find(const std::string& login) {
    auto store = accounts::SqliteAccountStore::Open(dir_.File("accounts.db"));
    EXPECT_TRUE(store);
    auto found = (*store)->FindByLogin(login);
    EXPECT_TRUE(found);
    return found ? *found : std::nullopt;
  }

  testing::TempDir dir_;
  std::string data_dir_ = "--data-dir " + dir_.path().string();
};

TEST_F(AdminCliTest, CreatesAnApprovedAdminWithThePasswordFromStdin) {
  if (kPostgres) GTEST_SKIP() << "--data-dir is a SQLite folder";
  ASSERT_EQ(
      Run("admin create " + data_dir_ + " --email Root@Example.org", std::string(kPassword) + "\n"),
      0);
  const auto admin = Find("root@example.org");
  ASSERT_TRUE(admin.has_value());
  EXPECT_TRUE(admin->role == accounts::Role::kAdmin);
  EXPECT_TRUE(admin->status == accounts::AccountStatus::kApproved);
  const crypto::PasswordHasher hasher;
  EXPECT_TRUE(hasher.Verify(admin->password_hash, kPassword));
  EXPECT_FALSE(hasher.Verify(admin->password_hash, "a long admin passwore"));
  // The same e-mail again is refused.
  EXPECT_EQ(
      Run("admin create " + data_dir_ + " --email root@example.org", std::string(kPassword) + "\n"),
      1);
}

TEST_F(AdminCliTest, RefusesPasswordFlagsShortPasswordsAndMissingInput) {
  if (kPostgres) GTEST_SKIP() << "--data-dir is a SQLite folder";
  EXPECT_NE(Run("admin create " + data_dir_ + " --email a@example.org --password " +
                    std::string("a-long-password-here"),
                ""),
            0);
  EXPECT_EQ(Run("admin create " + data_dir_ + " --email b@example.org", ""), 2);
  EXPECT_EQ(Run("admin create " + data_dir_ + " --email c@example.org", "short\n"), 1);
  EXPECT_EQ(Run("admin create --email d@example.org", std::string(kPassword) + "\n"), 2);
  EXPECT_EQ(
      Run("admin create " + data_dir_ + " --email not-an-email", std::string(kPassword) + "\n"), 1);
  for (const char* login : {"a@example.org", "b@example.org", "c@example.org"}) {
    EXPECT_FALSE(Find(login).has_value());
  }
}

// A cloud's node folder: its key, certificate and root (as provisioning leaves them) and a config
// naming them, the data folder, and (PostgreSQL) the store.
class AdminCliConfigTest : public AdminCliTest {
 protected:
  void SetUp() override {
    auto identity = deployment_.Identity(wire::CertificateRole::kCloud, "cloud-1");
    ASSERT_TRUE(identity) << identity.error().ToString();
    nlohmann::json config = {{"id", "cloud-1"},
                             {"data_dir", "data"},
                             {"key_file", "node.key"},
                             {"certificate_file", "node.cert"},
                             {"root_certificate_file", "root.cert"}};
    if (kPostgres) {
      const char* pg = std::getenv("MEDMESH_TEST_PG");
      ASSERT_NE(pg, nullptr) << "MEDMESH_TEST_PG is not set: run through ctest";
      store_.backend = node::StoreBackend::kPostgres;
      store_.postgres_url = pg;
      store_.schema_prefix = "a" + HexEncode(SystemRandom().Generate(6)) + "_";
      config["store"] = {{"backend", "postgres"},
                         {"postgres_url", store_.postgres_url},
                         {"schema_prefix", store_.schema_prefix}};
    }
    std::filesystem::create_directories(data_dir());
    std::ofstream(config_file()) << config.dump(2);
  }

  std::filesystem::path node_dir() const { return dir_.path() / "cloud-1"; }
  std::filesystem::path data_dir() const { return node_dir() / "data"; }
  std::string config_file() const { return (node_dir() / "config.json").string(); }

  std::optional<accounts::Account> FindInCloud(const std::string& login) {
    auto store = cloud::OpenAccountStore(data_dir(), store_);
    EXPECT_TRUE(store) << store.error().ToString();
    if (!store) return std::nullopt;
    auto found = (*store)->FindByLogin(login);
    EXPECT_TRUE(found);
    return found ? *found : std::nullopt;
  }

  // The cloud's audit log, read as an auditor reads it.
  std::unique_ptr<audit::AuditLog> CloudAuditLog() {
    std::unique_ptr<audit::AuditStore> store;
    if (kPostgres) {
      auto opened = audit::PostgresAuditStore::Open(
          {.conninfo = store_.postgres_url, .schema_prefix = store_.schema_prefix});
      EXPECT_TRUE(opened) << opened.error().ToString();
      if (!opened) return nullptr;
      store = std::move(*opened);
    } else {
      auto opened = audit::SqliteAuditStore::Open((data_dir() / audit::kAuditDbFileName).string());
      EXPECT_TRUE(opened) << opened.error().ToString();
      if (!opened) return nullptr;
      store = std::move(*opened);
    }
    return audit::AuditLog::OpenReadOnly(std::move(store));
  }

  int Verify() {
    const std::string command = std::string(MEDMESH_BINARY) + " audit verify --config " +
                                config_file() + " >" + dir_.File("verify.txt") + " 2>&1";
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  node::testing::TestDeployment deployment_{dir_.path()};
  node::StoreConfig store_;
};

TEST_F(AdminCliConfigTest, TheCreationIsInTheCloudsSignedAuditLog) {
  ASSERT_EQ(Run("admin create --config " + config_file() + " --email root@example.org",
                std::string(kPassword) + "\n"),
            0);
  const auto admin = FindInCloud("root@example.org");
  ASSERT_TRUE(admin.has_value());
  EXPECT_TRUE(admin->role == accounts::Role::kAdmin);

  auto log = CloudAuditLog();
  ASSERT_NE(log, nullptr);
  auto page = log->Query({});
  ASSERT_TRUE(page) << page.error().ToString();
  ASSERT_EQ(page->events.size(), 1U);
  const nlohmann::json& event = page->events[0];
  EXPECT_EQ(event["subtype"][1]["code"], "account.create_admin");
  EXPECT_EQ(event["outcome"], "0");
  EXPECT_EQ(event["agent"][0]["role"][0]["coding"][0]["code"], "system");
  EXPECT_TRUE(event["entity"][0]["what"]["identifier"]["value"] == admin->account_id);
  // Signed with the node key the config names: the auditor's command proves it.
  EXPECT_EQ(Verify(), 0);

  // The same e-mail again is refused, and the refusal appends nothing that breaks the chain.
  EXPECT_EQ(Run("admin create --config " + config_file() + " --email root@example.org",
                std::string(kPassword) + "\n"),
            1);
  EXPECT_EQ(Verify(), 0);
}

TEST_F(AdminCliConfigTest, NoAdminIsCreatedWhenTheAuditLogCannotBeSigned) {
  // The node key the config names is gone: nothing can be audited, so nothing is created.
  std::filesystem::remove(node_dir() / "node.key");
  EXPECT_EQ(Run("admin create --config " + config_file() + " --email root@example.org",
                std::string(kPassword) + "\n"),
            1);
  EXPECT_FALSE(FindInCloud("root@example.org").has_value());
}

}  // namespace
}  // namespace medmesh
