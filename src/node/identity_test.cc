#include "node/identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/random.h"
#include "crypto/key_file.h"
#include "node/provisioning.h"
#include "testing/temp_dir.h"

namespace medmesh::node {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kNow = 1'800'000'000'000;
constexpr std::int64_t kDay = std::int64_t{24} * 3600 * 1000;

using ::medmesh::testing::TempDir;

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto root = EnsureRoot(dir_.path() / "root", "root", random_, kNow);
    ASSERT_TRUE(root) << root.error().ToString();
    root_ = *root;
  }
  NodeFiles Issue(wire::CertificateRole role, const std::string& id, const fs::path& out,
                  std::int64_t now = kNow) {
    auto files = IssueNodeCertificate(
        {.role = role, .node_id = id, .out_dir = out, .root = root_, .now_ms = now}, random_);
    EXPECT_TRUE(files) << files.error().ToString();
    return files ? *files : NodeFiles{};
  }

  TempDir dir_;
  SystemRandom random_;
  RootFiles root_;
};

TEST_F(IdentityTest, ProvisionedCloudletLoadsAndCrossChecks) {
  const NodeFiles files = Issue(wire::CertificateRole::kCloudlet, "cloudlet-1", dir_.path() / "c1");
  EXPECT_TRUE(files.issued);
  struct stat st {};
  ASSERT_EQ(::stat(files.key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto identity =
      LoadNodeIdentity(files.key_file, files.certificate_file, files.root_certificate_file,
                       wire::CertificateRole::kCloudlet, "cloudlet-1", kNow + 1000);
  ASSERT_TRUE(identity) << identity.error().ToString();
  EXPECT_EQ(identity->id(), "cloudlet-1");
  EXPECT_EQ(identity->root.id, "root");
  EXPECT_TRUE(identity->certificate.certificate().kem_key.has_value());
}

TEST_F(IdentityTest, ProvisioningIsIdempotentAndKeepsKeys) {
  const fs::path out = dir_.path() / "cloud";
  const NodeFiles first = Issue(wire::CertificateRole::kCloud, "cloud", out);
  const auto key_before = crypto::ReadKeyFile(first.key_file).value().signing->public_key();
  const NodeFiles again = Issue(wire::CertificateRole::kCloud, "cloud", out, kNow + kDay);
  EXPECT_FALSE(again.issued);
  EXPECT_EQ(crypto::ReadKeyFile(again.key_file).value().signing->public_key(), key_before);
  // Past half of the 30-day validity the certificate is renewed, for the same key.
  const NodeFiles renewed = Issue(wire::CertificateRole::kCloud, "cloud", out, kNow + 20 * kDay);
  EXPECT_TRUE(renewed.issued);
  EXPECT_TRUE(LoadNodeIdentity(renewed.key_file, renewed.certificate_file,
                               renewed.root_certificate_file, wire::CertificateRole::kCloud,
                               "cloud", kNow + 20 * kDay));
}

TEST_F(IdentityTest, LoadRefusesMismatches) {
  const NodeFiles files = Issue(wire::CertificateRole::kCloudlet, "cloudlet-1", dir_.path() / "c1");
  const NodeFiles other = Issue(wire::CertificateRole::kCloudlet, "cloudlet-2", dir_.path() / "c2");
  // Wrong role.
  auto r = LoadNodeIdentity(files.key_file, files.certificate_file, files.root_certificate_file,
                            wire::CertificateRole::kCloud, "cloudlet-1", kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
  // Wrong id.
  r = LoadNodeIdentity(files.key_file, files.certificate_file, files.root_certificate_file,
                       wire::CertificateRole::kCloudlet, "cloudlet-9", kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition);
  // Another node's certificate for this key file.
  r = LoadNodeIdentity(files.key_file, other.certificate_file, files.root_certificate_file,
                       wire::CertificateRole::kCloudlet, "cloudlet-2", kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition);
  // Expired.
  r = LoadNodeIdentity(files.key_file, files.certificate_file, files.root_certificate_file,
                       wire::CertificateRole::kCloudlet, "cloudlet-1", kNow + 31 * kDay);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kFailedPrecondition);
  // A certificate from another root.
  SystemRandom random;
  const RootFiles rogue = EnsureRoot(dir_.path() / "rogue", "root", random, kNow).value();
  const NodeFiles forged = IssueNodeCertificate({.role = wire::CertificateRole::kCloudlet,
                                                 .node_id = "cloudlet-1",
                                                 .out_dir = dir_.path() / "forged",
                                                 .root = rogue,
                                                 .now_ms = kNow},
                                                random)
                               .value();
  r = LoadNodeIdentity(forged.key_file, forged.certificate_file, files.root_certificate_file,
                       wire::CertificateRole::kCloudlet, "cloudlet-1", kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kUnauthenticated);
}

TEST_F(IdentityTest, RootCertificateMustBeARoot) {
  const NodeFiles files = Issue(wire::CertificateRole::kCloud, "cloud", dir_.path() / "cloud");
  auto r = LoadRootCertificate(files.certificate_file, kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(LoadRootCertificate(dir_.path() / "missing.cert", kNow).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(IdentityTest, ProvisioningRefusesForeignRootKeyAndBadRoles) {
  SystemRandom random;
  const RootFiles rogue = EnsureRoot(dir_.path() / "rogue", "root", random, kNow).value();
  auto r = IssueNodeCertificate({.role = wire::CertificateRole::kCloudlet,
                                 .node_id = "c",
                                 .out_dir = dir_.path() / "x",
                                 .root = {rogue.key_file, root_.certificate_file},
                                 .now_ms = kNow},
                                random);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  r = IssueNodeCertificate({.role = wire::CertificateRole::kDevice,
                            .node_id = "c",
                            .out_dir = dir_.path() / "x",
                            .root = root_,
                            .now_ms = kNow},
                           random);
  ASSERT_FALSE(r);
}

TEST_F(IdentityTest, TokensAreRandomPrivateAndComparedExactly) {
  const fs::path file = dir_.path() / "operator.token";
  ASSERT_TRUE(WriteTokenFile(file, random_));
  EXPECT_EQ(WriteTokenFile(file, random_).error().code(), ErrorCode::kAlreadyExists);
  auto token = ReadTokenFile(file);
  ASSERT_TRUE(token) << token.error().ToString();
  EXPECT_EQ(token->size(), 64u);
  const std::string text(AsStringView(token->reveal()));
  EXPECT_TRUE(BearerTokenMatches("Bearer " + text, *token));
  EXPECT_TRUE(BearerTokenMatches("bearer " + text, *token));
  EXPECT_FALSE(BearerTokenMatches("Bearer " + text.substr(1), *token));
  EXPECT_FALSE(BearerTokenMatches("Basic " + text, *token));
  EXPECT_FALSE(BearerTokenMatches(text, *token));
  EXPECT_FALSE(BearerTokenMatches(std::nullopt, *token));
  EXPECT_FALSE(BearerTokenMatches("Bearer ", SecretBytes()));

  ::chmod(file.c_str(), 0644);
  EXPECT_EQ(ReadTokenFile(file).error().code(), ErrorCode::kPermissionDenied);
}

TEST_F(IdentityTest, TokenFileContentIsChecked) {
  const fs::path file = dir_.path() / "short.token";
  { std::ofstream(file) << "short\n"; }
  ::chmod(file.c_str(), 0600);
  EXPECT_EQ(ReadTokenFile(file).error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(IdentityTest, KekFilesAreCreatedOnlyWhenAsked) {
  const fs::path file = dir_.path() / "kek.key";
  EXPECT_EQ(LoadKekFile(file, random_, false).error().code(), ErrorCode::kNotFound);
  bool created = false;
  auto kek = LoadKekFile(file, random_, true, &created);
  ASSERT_TRUE(kek) << kek.error().ToString();
  EXPECT_TRUE(created);
  auto again = LoadKekFile(file, random_, true, &created);
  ASSERT_TRUE(again);
  EXPECT_FALSE(created);
  EXPECT_EQ(again->key_id(), kek->key_id());
  EXPECT_EQ(LoadKekFile(root_.key_file, random_, false).error().code(),
            ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace medmesh::node
