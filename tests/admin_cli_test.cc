// `medmesh admin create` with the real binary: the password comes from stdin (never a flag),
// the account lands in the data folder's accounts.db as an approved admin whose password
// verifies, and bad usage creates nothing.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "accounts/sqlite_account_store.h"
#include "crypto/password.h"
#include "testing/temp_dir.h"

namespace medmesh {
namespace {

constexpr char kPassword[] = "a long admin password";

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

}  // namespace
}  // namespace medmesh
