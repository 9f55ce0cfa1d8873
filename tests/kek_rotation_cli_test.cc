// `medmesh keys rotate-kek` with the real binary against a running `medmesh cloud` on a folder
// made by `medmesh demo --setup-only`: the demo's three part KEK files, a live rotation, the
// errors an operator can make, a restart after it, and a folder of the previous version (one
// kek.key for all three parts) that still starts and migrates part by part.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "child_process.h"
#include "core/random.h"
#include "crypto/key_file.h"
#include "net/http_client.h"
#include "node/identity.h"
#include "node/kek_ring.h"
#include "testing/temp_dir.h"

namespace medmesh {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing_process::Child;
using testing_process::ListeningPort;

std::string ReadText(const fs::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

unsigned Mode(const fs::path& file) {
  struct stat st {};
  return ::stat(file.c_str(), &st) == 0 ? (st.st_mode & 0777) : 0;
}

class KekRotationCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = dir_.path() / "demo";
    Child setup({MEDMESH_BINARY, "demo", "--setup-only", "--data-dir", data_.string()},
                dir_.path() / "setup.log");
    ASSERT_TRUE(setup.started());
    ASSERT_EQ(setup.Wait(), 0) << "medmesh demo --setup-only failed";
  }

  fs::path Cloud() const { return data_ / "cloud"; }
  fs::path Config() const { return Cloud() / "config.json"; }

  void StartCloud() {
    cloud_ = std::make_unique<Child>(
        std::vector<std::string>{MEDMESH_BINARY, "cloud", "--config", Config().string(), "--listen",
                                 "127.0.0.1:0"},
        dir_.path() / "cloud.err");
    ASSERT_TRUE(cloud_->started());
    const auto line = cloud_->WaitForLine("listening on", std::chrono::seconds(60));
    ASSERT_TRUE(line) << "the cloud did not start; see " << (data_ / "logs" / "cloud.log");
    port_ = ListeningPort(*line).value_or(0);
    ASSERT_NE(port_, 0) << *line;
  }
  void StopCloud() {
    cloud_->Signal(SIGTERM);
    const int status = cloud_->Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cloud_.reset();
  }

  struct Run {
    int exit_code = -1;
    std::string out;
    std::string err;
  };
  // `medmesh keys rotate-kek` with `args`; --url points at the running cloud unless given.
  Run RotateKek(std::vector<std::string> args, bool with_url = true) {
    std::vector<std::string> argv{MEDMESH_BINARY, "keys", "rotate-kek"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (with_url) {
      argv.emplace_back("--url");
      argv.emplace_back("http://127.0.0.1:" + std::to_string(port_));
    }
    const fs::path err = dir_.path() / ("cli-" + std::to_string(++runs_) + ".err");
    Child cli(argv, err);
    Run run;
    if (!cli.started()) return run;
    while (auto line = cli.WaitForLine("", std::chrono::seconds(120))) run.out += *line + "\n";
    const int status = cli.Wait();
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.err = ReadText(err);
    return run;
  }
  crypto::KeyId KekId(const fs::path& file) {
    return node::LoadKekFile(file, random_, false).value().key_id();
  }

  testing::TempDir dir_;
  SystemRandom random_;
  fs::path data_;
  std::unique_ptr<Child> cloud_;
  std::uint16_t port_ = 0;
  int runs_ = 0;
};

TEST_F(KekRotationCliTest, TheDemoHasOneKekFilePerPartAndRotatesOneLive) {
  for (const char* name : {"ei_kek.key", "qi_kek.key", "mi_kek.key"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(Mode(Cloud() / name), 0600U);
  }
  EXPECT_FALSE(fs::exists(Cloud() / "kek.key"));
  const crypto::KeyId old_ei = KekId(Cloud() / "ei_kek.key");
  const crypto::KeyId old_mi = KekId(Cloud() / "mi_kek.key");
  EXPECT_FALSE(old_ei == old_mi);
  StartCloud();

  const Run rotated = RotateKek({"--part", "ei", "--config", Config().string()});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out << rotated.err;
  EXPECT_NE(rotated.out.find("rotated the ei KEK"), std::string::npos) << rotated.out;
  const crypto::KeyId new_ei = KekId(Cloud() / "ei_kek.key");
  EXPECT_FALSE(new_ei == old_ei);
  EXPECT_NE(rotated.out.find(HexEncode(new_ei)), std::string::npos);
  EXPECT_NE(rotated.out.find("retired KEK " + HexEncode(old_ei)), std::string::npos);
  EXPECT_EQ(Mode(Cloud() / "ei_kek.key"), 0600U);
  EXPECT_FALSE(fs::exists(node::NextKekFile(Cloud() / "ei_kek.key")));
  EXPECT_TRUE(KekId(Cloud() / "mi_kek.key") == old_mi);

  // The cloud restarts on the rotated files.
  StopCloud();
  StartCloud();
}

// An admin rotates with their own session instead of the node's operator token: `medmesh admin
// create --config`, a login, the token in a 0600 file. Another role's session is refused.
TEST_F(KekRotationCliTest, AnAdminsSessionRotatesWithoutTheOperatorToken) {
  StartCloud();
  const std::string password = "an admin's long password";
  const std::string create = std::string(MEDMESH_BINARY) + " admin create --config " +
                             Config().string() + " --email admin@example.org >" +
                             (dir_.path() / "admin.out").string() + " 2>&1";
  FILE* admin = ::popen(create.c_str(), "w");
  ASSERT_NE(admin, nullptr);
  std::fputs((password + "\n").c_str(), admin);
  const int created = ::pclose(admin);
  ASSERT_TRUE(WIFEXITED(created) && WEXITSTATUS(created) == 0)
      << ReadText(dir_.path() / "admin.out");

  auto client = net::HttpClient::Create({});
  ASSERT_TRUE(client);
  auto login = (*client)->Post("http://127.0.0.1:" + std::to_string(port_) + "/api/v1/session",
                               json{{"email", "admin@example.org"}, {"password", password}}.dump(),
                               "application/json");
  ASSERT_TRUE(login && login->status == 200);
  const fs::path session = dir_.path() / "admin.session";
  std::ofstream(session) << json::parse(login->body).at("token").get<std::string>() << "\n";
  fs::permissions(session, fs::perms::owner_read | fs::perms::owner_write);

  const crypto::KeyId old_qi = KekId(Cloud() / "qi_kek.key");
  const Run rotated = RotateKek(
      {"--part", "qi", "--config", Config().string(), "--session-file", session.string()});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out << rotated.err;
  EXPECT_FALSE(KekId(Cloud() / "qi_kek.key") == old_qi);

  // A forged session (its last character changed) is refused; nothing rotates.
  std::string forged = ReadText(session);
  while (!forged.empty() && forged.back() == '\n') forged.pop_back();
  forged.back() = forged.back() == 'A' ? 'B' : 'A';
  std::ofstream(session) << forged << "\n";
  const crypto::KeyId new_qi = KekId(Cloud() / "qi_kek.key");
  const Run refused = RotateKek(
      {"--part", "qi", "--config", Config().string(), "--session-file", session.string()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("unauthenticated"), std::string::npos) << refused.err;
  EXPECT_TRUE(KekId(Cloud() / "qi_kek.key") == new_qi);
}

TEST_F(KekRotationCliTest, OperatorMistakesGiveClearErrors) {
  StartCloud();
  const Run bad_part = RotateKek({"--part", "xx", "--config", Config().string()});
  EXPECT_EQ(bad_part.exit_code, 2);
  EXPECT_NE(bad_part.err.find("--part must be ei, qi or mi"), std::string::npos) << bad_part.err;

  const Run no_config = RotateKek({"--part", "qi", "--config", (data_ / "nope.json").string()});
  EXPECT_EQ(no_config.exit_code, 2);
  EXPECT_NE(no_config.err.find("does not exist"), std::string::npos) << no_config.err;

  // Without --url the address comes from the config; a config on port 0 cannot say it.
  json config = json::parse(std::ifstream(Config()));
  config["listen"] = "127.0.0.1:0";
  std::ofstream(Cloud() / "config0.json") << config.dump(2);
  const Run port_zero = RotateKek({"--part", "qi", "--config", (Cloud() / "config0.json").string()},
                                  /*with_url=*/false);
  EXPECT_EQ(port_zero.exit_code, 2);
  EXPECT_NE(port_zero.err.find("pass --url"), std::string::npos) << port_zero.err;

  fs::permissions(Cloud() / "operator.token", fs::perms::group_read, fs::perm_options::add);
  const Run readable_token = RotateKek({"--part", "qi", "--config", Config().string()});
  EXPECT_EQ(readable_token.exit_code, 1);
  EXPECT_NE(readable_token.err.find("chmod 600"), std::string::npos) << readable_token.err;
  fs::permissions(Cloud() / "operator.token", fs::perms::group_read, fs::perm_options::remove);

  // A stray F.next (an unfinished rotation's new KEK) that others can read is refused.
  const fs::path stray = node::NextKekFile(Cloud() / "mi_kek.key");
  ASSERT_TRUE(crypto::WriteKeyFile(
      stray, crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random_), false));
  fs::permissions(stray, fs::perms::others_read, fs::perm_options::add);
  const Run readable_kek = RotateKek({"--part", "mi", "--config", Config().string()});
  EXPECT_EQ(readable_kek.exit_code, 1);
  EXPECT_NE(readable_kek.err.find("permission_denied"), std::string::npos) << readable_kek.err;
  EXPECT_NE(readable_kek.err.find("chmod 600"), std::string::npos) << readable_kek.err;
  fs::remove(stray);
  const Run retried = RotateKek({"--part", "mi", "--config", Config().string()});
  EXPECT_EQ(retried.exit_code, 0) << retried.err;

  StopCloud();
  const Run down = RotateKek({"--part", "qi", "--config", Config().string()});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.err.find("cannot reach the cloud"), std::string::npos) << down.err;
}

// A cloud folder of the previous version: one kek.key, a config without part KEK files. It
// starts (every part uses kek.key, with a warning), and rotating a part gives it its own file.
TEST_F(KekRotationCliTest, AFolderWithOneKekStillStartsAndMigratesPartByPart) {
  for (const char* name : {"ei_kek.key", "qi_kek.key", "mi_kek.key"}) fs::remove(Cloud() / name);
  ASSERT_TRUE(crypto::WriteKeyFile(
      Cloud() / "kek.key", crypto::GenerateKeyFile(crypto::KeyFileType::kKek, random_), false));
  json config = json::parse(std::ifstream(Config()));
  config.erase("ei_kek_file");
  config.erase("qi_kek_file");
  config.erase("mi_kek_file");
  std::ofstream(Config()) << config.dump(2);
  const crypto::KeyId legacy = KekId(Cloud() / "kek.key");

  StartCloud();
  EXPECT_FALSE(fs::exists(Cloud() / "ei_kek.key"));  // no new key next to existing data
  const std::string log = ReadText(data_ / "logs" / "cloud.log");
  EXPECT_NE(log.find("cloud_kek_shared"), std::string::npos);
  EXPECT_NE(log.find("cloud_kek_legacy_loaded"), std::string::npos);

  const Run rotated = RotateKek({"--part", "qi", "--config", Config().string()});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.out << rotated.err;
  EXPECT_NE(rotated.out.find("retired KEK " + HexEncode(legacy)), std::string::npos) << rotated.out;
  EXPECT_EQ(Mode(Cloud() / "qi_kek.key"), 0600U);
  EXPECT_FALSE(KekId(Cloud() / "qi_kek.key") == legacy);
  EXPECT_FALSE(fs::exists(Cloud() / "ei_kek.key"));
  EXPECT_TRUE(fs::exists(Cloud() / "kek.key"));
  StopCloud();
  StartCloud();
}

}  // namespace
}  // namespace medmesh
