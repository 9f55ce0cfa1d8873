#include "crypto/key_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "testing/fake_random.h"

namespace medmesh::crypto {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr KeyFileType kAllTypes[] = {KeyFileType::kNode, KeyFileType::kDevice, KeyFileType::kRoot,
                                     KeyFileType::kKek};

std::string Text(const SecretBytes& s) { return std::string(AsStringView(s.reveal())); }

unsigned Mode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 07777;
}

class KeyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // mkdtemp replaces the six trailing Xs.
    std::string tmpl =
        (fs::temp_directory_path() / "medmesh-keyfile-").string() + std::string(6, 'X');
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Parses `text`, expecting kInvalidArgument, and returns the message.
  static std::string ParseError(const std::string& text) {
    auto r = ParseKeyFile(AsBytes(text));
    EXPECT_FALSE(r.has_value()) << text.substr(0, 200);
    if (r) return "";
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    return r.error().message();
  }
  std::string NodeFileText() { return Text(SerializeKeyFile(node_)); }

  testing::DeterministicRandom random_{51};
  KeyFile node_ = GenerateKeyFile(KeyFileType::kNode, random_);
  fs::path dir_;
};

TEST_F(KeyFileTest, EveryTypeRoundTrips) {
  for (KeyFileType type : kAllTypes) {
    KeyFile file = GenerateKeyFile(type, random_);
    auto parsed = ParseKeyFile(SerializeKeyFile(file).reveal());
    ASSERT_TRUE(parsed) << parsed.error().ToString();
    EXPECT_EQ(parsed->type, type);
    EXPECT_EQ(parsed->signing.has_value(), file.signing.has_value());
    EXPECT_EQ(parsed->kem.has_value(), file.kem.has_value());
    EXPECT_EQ(parsed->kek.has_value(), file.kek.has_value());
    if (file.signing) {
      EXPECT_EQ(parsed->signing->public_key(), file.signing->public_key());
    }
    if (file.kem) {
      EXPECT_EQ(parsed->kem->public_key().key_id(), file.kem->public_key().key_id());
    }
    if (file.kek) {
      EXPECT_EQ(parsed->kek->key_id(), file.kek->key_id());
    }
    EXPECT_EQ(KeyFileTypeFromName(KeyFileTypeName(type)), type);
  }
}

TEST_F(KeyFileTest, FormatIsVersionedJson) {
  Json doc = Json::parse(NodeFileText());
  EXPECT_EQ(doc["format"], "medmesh-key-file");
  EXPECT_EQ(doc["version"], 1);
  EXPECT_EQ(doc["type"], "node");
  EXPECT_EQ(doc["signing"]["algorithm"], "ed25519");
  EXPECT_EQ(doc["kem"]["algorithm"], "ntru-x25519");
  EXPECT_EQ(doc["kem"]["ntru_param_set"], "ntruhps2048677");
}

TEST_F(KeyFileTest, CreatedWithMode0600EvenWithPermissiveUmask) {
  const mode_t old_umask = ::umask(0);
  const fs::path path = dir_ / "node.key";
  Status st = WriteKeyFile(path, node_, /*overwrite=*/false);
  ::umask(old_umask);
  ASSERT_TRUE(st) << st.error().ToString();
  EXPECT_EQ(Mode(path), 0600U);
  auto read = ReadKeyFile(path);
  ASSERT_TRUE(read) << read.error().ToString();
  EXPECT_EQ(read->signing->public_key(), node_.signing->public_key());
}

TEST_F(KeyFileTest, RefusesToOverwriteWithoutForce) {
  const fs::path path = dir_ / "node.key";
  ASSERT_TRUE(WriteKeyFile(path, node_, false));
  KeyFile other = GenerateKeyFile(KeyFileType::kNode, random_);
  Status st = WriteKeyFile(path, other, false);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ReadKeyFile(path)->signing->public_key(), node_.signing->public_key());
}

TEST_F(KeyFileTest, ForceReplacesAtomicallyWithMode0600) {
  const fs::path path = dir_ / "node.key";
  ASSERT_TRUE(WriteKeyFile(path, node_, false));
  const mode_t old_umask = ::umask(0);
  KeyFile other = GenerateKeyFile(KeyFileType::kNode, random_);
  Status st = WriteKeyFile(path, other, true);
  ::umask(old_umask);
  ASSERT_TRUE(st) << st.error().ToString();
  EXPECT_EQ(Mode(path), 0600U);
  EXPECT_EQ(ReadKeyFile(path)->signing->public_key(), other.signing->public_key());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(KeyFileTest, RefusesGroupOrWorldAccessibleFiles) {
  const fs::path path = dir_ / "node.key";
  ASSERT_TRUE(WriteKeyFile(path, node_, false));
  for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto r = ReadKeyFile(path);
    ASSERT_FALSE(r) << std::oct << mode;
    EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(r.error().message().find("chmod 600"), std::string::npos) << r.error().message();
  }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_NE(ReadKeyFile(path).error().message().find("mode 0644"), std::string::npos);
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(ReadKeyFile(path));
}

TEST_F(KeyFileTest, RefusesMissingFilesSymlinksAndDirectories) {
  EXPECT_EQ(ReadKeyFile(dir_ / "missing").error().code(), ErrorCode::kNotFound);
  const fs::path path = dir_ / "node.key";
  ASSERT_TRUE(WriteKeyFile(path, node_, false));
  fs::create_symlink(path, dir_ / "link.key");
  EXPECT_EQ(ReadKeyFile(dir_ / "link.key").error().code(), ErrorCode::kPermissionDenied);
  fs::create_directory(dir_ / "subdir");
  ::chmod((dir_ / "subdir").c_str(), 0700);
  EXPECT_EQ(ReadKeyFile(dir_ / "subdir").error().code(), ErrorCode::kPermissionDenied);
  EXPECT_EQ(WriteKeyFile(dir_ / "nope" / "x.key", node_, false).error().code(),
            ErrorCode::kNotFound);
}

TEST_F(KeyFileTest, ParserNamesTheBadField) {
  const Json good = Json::parse(NodeFileText());
  auto with = [&](auto edit) {
    Json doc = good;
    edit(doc);
    return ParseError(doc.dump());
  };
  EXPECT_EQ(with([](Json& d) { d["format"] = "other"; }),
            "key file: not a MedMesh key file (field 'format')");
  EXPECT_EQ(with([](Json& d) { d["version"] = 2; }),
            "key file: field 'version' must be 1 (the only version this build reads)");
  EXPECT_EQ(with([](Json& d) { d["version"] = "1"; }),
            "key file: field 'version' must be 1 (the only version this build reads)");
  EXPECT_EQ(with([](Json& d) { d["type"] = "laptop"; }),
            "key file: field 'type' must be one of node, device, root, kek");
  EXPECT_EQ(with([](Json& d) { d.erase("kem"); }), "key file: field 'kem' is missing");
  EXPECT_EQ(with([](Json& d) { d["extra"] = 1; }), "key file: unexpected field in 'top level'");
  EXPECT_EQ(with([](Json& d) { d["signing"]["extra"] = 1; }),
            "key file: unexpected field in 'signing'");
  EXPECT_EQ(with([](Json& d) { d["signing"]["algorithm"] = "rsa"; }),
            "key file: field 'signing.algorithm' must be \"ed25519\"");
  EXPECT_EQ(with([](Json& d) { d["signing"]["secret_seed"] = "zz"; }),
            "key file: field 'signing.secret_seed' is not valid hex");
  EXPECT_EQ(with([](Json& d) { d["signing"]["secret_seed"] = "00"; }),
            "key file: field 'signing.secret_seed' has the wrong length");
  EXPECT_EQ(with([](Json& d) { d["signing"]["secret_seed"] = 5; }),
            "key file: field 'signing.secret_seed' must be a string");
  EXPECT_EQ(with([](Json& d) { d["signing"]["public"] = std::string(64, '0'); }),
            "key file: field 'signing.public' does not match signing.secret_seed");
  EXPECT_EQ(with([](Json& d) { d["signing"] = "x"; }),
            "key file: field 'signing' must be an object");
  EXPECT_EQ(with([](Json& d) { d["kem"]["ntru_param_set"] = "ntruhps2048509"; }),
            "key file: field 'kem.secret' is for another NTRU parameter set");
  EXPECT_EQ(with([](Json& d) { d["kem"]["ntru_param_set"] = "rsa"; }),
            "key file: field 'kem.ntru_param_set' is not a known NTRU parameter set");
  EXPECT_EQ(with([](Json& d) { d["kem"]["secret"] = "0102"; }),
            "key file: field 'kem.secret' is invalid: hybrid private key has the wrong length");
  EXPECT_EQ(with([](Json& d) {
              testing::DeterministicRandom other_random(9);
              KeyFile other = GenerateKeyFile(KeyFileType::kNode, other_random);
              d["kem"]["public"] = HexEncode(other.kem->public_key().ToBytes());
            }),
            "key file: field 'kem.public' does not match kem.secret");
}

TEST_F(KeyFileTest, ParserRejectsMalformedDocuments) {
  const std::string text = NodeFileText();
  EXPECT_EQ(ParseError(""), "key file is not valid JSON");
  EXPECT_EQ(ParseError("[1,2]"), "key file: top level must be a JSON object");
  EXPECT_EQ(ParseError(text.substr(0, text.size() / 2)), "key file is not valid JSON");
  EXPECT_EQ(ParseError(R"({"format":"medmesh-key-file","format":"x"})"),
            "key file has a duplicate field");
  EXPECT_EQ(ParseError(R"({"a":{"b":{"c":1}}})"), "key file nests deeper than its format allows");
  EXPECT_EQ(ParseError(std::string(kMaxKeyFileBytes + 1, ' ')), "key file is larger than 64 KiB");
}

TEST_F(KeyFileTest, ErrorMessagesNeverQuoteKeyMaterial) {
  const std::string text = NodeFileText();
  const Json doc = Json::parse(text);
  const std::string seed = doc["signing"]["secret_seed"];
  const std::string kem = doc["kem"]["secret"];
  // Cut the document at many places, inside secrets too, and break it in other ways.
  std::vector<std::string> broken;
  for (std::size_t n = 0; n < text.size(); n += 37) broken.push_back(text.substr(0, n));
  std::string bad_char = text;
  bad_char[text.find(seed) + 10] = '\x01';
  broken.push_back(bad_char);
  std::string unquoted = text;
  unquoted.erase(text.find(seed) - 1, 1);
  broken.push_back(unquoted);
  for (const std::string& b : broken) {
    auto r = ParseKeyFile(AsBytes(b));
    ASSERT_FALSE(r);
    const std::string& m = r.error().message();
    for (const std::string* secret : {&seed, &kem}) {
      for (std::size_t i = 0; i + 8 <= secret->size(); i += 8) {
        ASSERT_EQ(m.find(secret->substr(i, 8)), std::string::npos) << m;
      }
    }
  }
}

TEST_F(KeyFileTest, DescribesPublicKeysOnly) {
  auto described = DescribePublicKeys(node_);
  ASSERT_EQ(described.size(), 2U);
  EXPECT_EQ(described[0].name, "signing");
  EXPECT_EQ(described[0].public_hex, HexEncode(node_.signing->public_key().bytes()));
  EXPECT_EQ(described[0].fingerprint, KeyIdHex(node_.signing->public_key().Fingerprint()));
  EXPECT_EQ(described[1].algorithm, "ntru-x25519/ntruhps2048677");
  EXPECT_EQ(described[1].fingerprint, KeyIdHex(node_.kem->public_key().key_id()));
  const std::string seed_hex = HexEncode(node_.signing->seed().reveal());
  for (const auto& d : described) {
    EXPECT_EQ(d.public_hex.find(seed_hex), std::string::npos);
  }
  KeyFile kek = GenerateKeyFile(KeyFileType::kKek, random_);
  auto kek_described = DescribePublicKeys(kek);
  ASSERT_EQ(kek_described.size(), 1U);
  EXPECT_TRUE(kek_described[0].public_hex.empty());
}

// --- Seed corpus for key_file_fuzzer -----------------------------------------------------------

fs::path CorpusDir() { return fs::path(MEDMESH_CRYPTO_FUZZ_CORPUS_DIR) / "key_file"; }

void WriteFile(const fs::path& p, std::string_view data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

TEST(KeyFileCorpus, DISABLED_WriteSeedCorpus) {
  testing::DeterministicRandom random(6);
  fs::create_directories(CorpusDir());
  for (KeyFileType type : kAllTypes) {
    WriteFile(CorpusDir() / ("valid_" + std::string(KeyFileTypeName(type))),
              Text(SerializeKeyFile(GenerateKeyFile(type, random))));
  }
  std::string root = Text(SerializeKeyFile(GenerateKeyFile(KeyFileType::kRoot, random)));
  WriteFile(CorpusDir() / "invalid_truncated", root.substr(0, root.size() / 2));
  Json doc = Json::parse(root);
  doc["version"] = 2;
  WriteFile(CorpusDir() / "invalid_version", doc.dump());
  doc = Json::parse(root);
  doc["signing"]["public"] = std::string(64, 'f');
  WriteFile(CorpusDir() / "invalid_mismatch", doc.dump());
  WriteFile(CorpusDir() / "invalid_duplicate", R"({"type":"root","type":"node"})");
}

TEST(KeyFileCorpus, ValidSeedsStillParse) {
  int valid = 0;
  for (const auto& entry : fs::directory_iterator(CorpusDir())) {
    const std::string name = entry.path().filename().string();
    std::ifstream in(entry.path(), std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(ParseKeyFile(AsBytes(text)).has_value(), name.starts_with("valid_")) << name;
    if (name.starts_with("valid_")) ++valid;
  }
  EXPECT_GE(valid, 4);
}

}  // namespace
}  // namespace medmesh::crypto
