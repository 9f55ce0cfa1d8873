#include "crypto/key_file.h"

#include <sys/stat.h>

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>

#include "core/check.h"

namespace medmesh::crypto {

namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr std::string_view kFormat = "medmesh-key-file";
constexpr std::uint64_t kVersion = 1;
constexpr std::string_view kEd25519 = "ed25519";
constexpr std::string_view kNtruX25519 = "ntru-x25519";
constexpr std::string_view kXChaCha = "xchacha20poly1305";

bool NeedsSigning(KeyFileType t) { return t != KeyFileType::kKek; }
bool NeedsKem(KeyFileType t) { return t == KeyFileType::kNode || t == KeyFileType::kDevice; }
bool NeedsKek(KeyFileType t) { return t == KeyFileType::kKek; }

// --- Parsing helpers: every message names a field and never quotes a value. ------------------

Error FieldError(std::string_view path, std::string_view problem) {
  std::string message = "key file: field '";
  message += path;
  message += "' ";
  message += problem;
  return InvalidArgument(std::move(message));
}

std::string Join(std::string_view object, std::string_view field) {
  return object.empty() ? std::string(field) : std::string(object) + "." + std::string(field);
}

// `obj` must have exactly `fields`.
Status ExpectFields(const Json& obj, std::string_view where,
                    std::initializer_list<std::string_view> fields) {
  for (std::string_view f : fields) {
    if (!obj.contains(f)) return FieldError(Join(where, f), "is missing");
  }
  for (const auto& item : obj.items()) {
    bool known = false;
    for (std::string_view f : fields) known = known || item.key() == f;
    if (!known)
      return InvalidArgument("key file: unexpected field in '" +
                             std::string(where.empty() ? "top level" : where) + "'");
  }
  return OkStatus();
}

Result<const Json*> GetObject(const Json& obj, std::string_view where, std::string_view field) {
  const Json& v = obj.at(field);
  if (!v.is_object()) return FieldError(Join(where, field), "must be an object");
  return &v;
}

Result<std::string_view> GetString(const Json& obj, std::string_view where,
                                   std::string_view field) {
  const Json& v = obj.at(field);
  if (!v.is_string()) return FieldError(Join(where, field), "must be a string");
  return std::string_view(v.get_ref<const std::string&>());
}

Status ExpectString(const Json& obj, std::string_view where, std::string_view field,
                    std::string_view expected) {
  MEDMESH_ASSIGN_OR_RETURN(std::string_view value, GetString(obj, where, field));
  if (value != expected) {
    return FieldError(Join(where, field), "must be \"" + std::string(expected) + "\"");
  }
  return OkStatus();
}

// Decodes a hex field into SecretBytes, wiping the temporary copy. The JSON string itself is
// wiped by WipeStrings() when parsing ends.
Result<SecretBytes> GetHex(const Json& obj, std::string_view where, std::string_view field,
                           std::size_t expected_bytes) {
  MEDMESH_ASSIGN_OR_RETURN(std::string_view hex, GetString(obj, where, field));
  auto decoded = HexDecode(hex);
  if (!decoded) return FieldError(Join(where, field), "is not valid hex");
  SecretBytes out(*decoded);
  SecureWipe(decoded->data(), decoded->size());
  if (expected_bytes != 0 && out.size() != expected_bytes) {
    return FieldError(Join(where, field), "has the wrong length");
  }
  return out;
}

// Wipes every string of a document at most two levels deep (the only shape key files have).
// Range-for over a JSON object visits its values. get_ptr never throws, and iterating a valid
// object cannot either; the library just does not mark its iterators noexcept.
template <typename JsonType>
void WipeStrings(JsonType& doc) noexcept {  // NOLINT(bugprone-exception-escape)
  auto wipe = [](JsonType& v) {
    if (auto* s = v.template get_ptr<std::string*>()) SecureWipe(s->data(), s->size());
  };
  if (!doc.is_object()) return;
  for (JsonType& value : doc) {
    wipe(value);
    if (value.is_object()) {
      for (JsonType& inner : value) wipe(inner);
    }
  }
}

struct StringWiper {
  Json& doc;
  ~StringWiper() { WipeStrings(doc); }  // NOLINT(bugprone-exception-escape): see WipeStrings
};

Result<SigningSecretKey> ParseSigning(const Json& top) {
  constexpr std::string_view kWhere = "signing";
  MEDMESH_ASSIGN_OR_RETURN(const Json* obj, GetObject(top, "", kWhere));
  MEDMESH_RETURN_IF_ERROR(ExpectFields(*obj, kWhere, {"algorithm", "public", "secret_seed"}));
  MEDMESH_RETURN_IF_ERROR(ExpectString(*obj, kWhere, "algorithm", kEd25519));
  MEDMESH_ASSIGN_OR_RETURN(SecretBytes seed,
                           GetHex(*obj, kWhere, "secret_seed", SigningSecretKey::kSeedBytes));
  MEDMESH_ASSIGN_OR_RETURN(SigningSecretKey key, SigningSecretKey::FromSeed(seed.reveal()));
  MEDMESH_ASSIGN_OR_RETURN(SecretBytes pub,
                           GetHex(*obj, kWhere, "public", SigningPublicKey::kBytes));
  if (!ConstantTimeEqual(pub.reveal(), key.public_key().bytes())) {
    return FieldError("signing.public", "does not match signing.secret_seed");
  }
  return key;
}

Result<HybridPrivateKey> ParseKem(const Json& top) {
  constexpr std::string_view kWhere = "kem";
  MEDMESH_ASSIGN_OR_RETURN(const Json* obj, GetObject(top, "", kWhere));
  MEDMESH_RETURN_IF_ERROR(
      ExpectFields(*obj, kWhere, {"algorithm", "ntru_param_set", "public", "secret"}));
  MEDMESH_RETURN_IF_ERROR(ExpectString(*obj, kWhere, "algorithm", kNtruX25519));
  MEDMESH_ASSIGN_OR_RETURN(std::string_view set_name, GetString(*obj, kWhere, "ntru_param_set"));
  auto set = NtruParamSetFromName(set_name);
  if (!set) return FieldError("kem.ntru_param_set", "is not a known NTRU parameter set");
  MEDMESH_ASSIGN_OR_RETURN(SecretBytes secret, GetHex(*obj, kWhere, "secret", 0));
  auto key = HybridPrivateKey::FromBytes(secret.reveal());
  if (!key) return FieldError("kem.secret", "is invalid: " + key.error().message());
  if (key->set() != *set) return FieldError("kem.secret", "is for another NTRU parameter set");
  MEDMESH_ASSIGN_OR_RETURN(SecretBytes pub, GetHex(*obj, kWhere, "public", 0));
  if (!ConstantTimeEqual(pub.reveal(), key->public_key().ToBytes())) {
    return FieldError("kem.public", "does not match kem.secret");
  }
  return std::move(key).value();
}

Result<KeyEncryptionKey> ParseKek(const Json& top) {
  constexpr std::string_view kWhere = "kek";
  MEDMESH_ASSIGN_OR_RETURN(const Json* obj, GetObject(top, "", kWhere));
  MEDMESH_RETURN_IF_ERROR(ExpectFields(*obj, kWhere, {"algorithm", "secret"}));
  MEDMESH_RETURN_IF_ERROR(ExpectString(*obj, kWhere, "algorithm", kXChaCha));
  MEDMESH_ASSIGN_OR_RETURN(SecretBytes secret,
                           GetHex(*obj, kWhere, "secret", KeyEncryptionKey::kBytes));
  return KeyEncryptionKey::FromBytes(secret.reveal());
}

Result<KeyFile> ParseDocument(const Json& doc) {
  if (!doc.is_object()) return InvalidArgument("key file: top level must be a JSON object");
  if (!doc.contains("format") || !doc["format"].is_string() ||
      doc["format"].get_ref<const std::string&>() != kFormat) {
    return InvalidArgument("key file: not a MedMesh key file (field 'format')");
  }
  if (!doc.contains("version") || !doc["version"].is_number_unsigned() ||
      doc["version"].get<std::uint64_t>() != kVersion) {
    return FieldError("version", "must be 1 (the only version this build reads)");
  }
  if (!doc.contains("type")) return FieldError("type", "is missing");
  MEDMESH_ASSIGN_OR_RETURN(std::string_view type_name, GetString(doc, "", "type"));
  auto type = KeyFileTypeFromName(type_name);
  if (!type) return FieldError("type", "must be one of node, device, root, kek");

  switch (*type) {
    case KeyFileType::kNode:
    case KeyFileType::kDevice:
      MEDMESH_RETURN_IF_ERROR(
          ExpectFields(doc, "", {"format", "version", "type", "signing", "kem"}));
      break;
    case KeyFileType::kRoot:
      MEDMESH_RETURN_IF_ERROR(ExpectFields(doc, "", {"format", "version", "type", "signing"}));
      break;
    case KeyFileType::kKek:
      MEDMESH_RETURN_IF_ERROR(ExpectFields(doc, "", {"format", "version", "type", "kek"}));
      break;
  }
  KeyFile file{*type, std::nullopt, std::nullopt, std::nullopt};
  if (NeedsSigning(*type)) {
    MEDMESH_ASSIGN_OR_RETURN(SigningSecretKey signing, ParseSigning(doc));
    file.signing.emplace(std::move(signing));
  }
  if (NeedsKem(*type)) {
    MEDMESH_ASSIGN_OR_RETURN(HybridPrivateKey kem, ParseKem(doc));
    file.kem.emplace(std::move(kem));
  }
  if (NeedsKek(*type)) {
    MEDMESH_ASSIGN_OR_RETURN(KeyEncryptionKey kek, ParseKek(doc));
    file.kek.emplace(std::move(kek));
  }
  return file;
}

}  // namespace

std::string_view KeyFileTypeName(KeyFileType type) {
  switch (type) {
    case KeyFileType::kNode: return "node";
    case KeyFileType::kDevice: return "device";
    case KeyFileType::kRoot: return "root";
    case KeyFileType::kKek: return "kek";
  }
  return "node";
}

std::optional<KeyFileType> KeyFileTypeFromName(std::string_view name) {
  for (KeyFileType t :
       {KeyFileType::kNode, KeyFileType::kDevice, KeyFileType::kRoot, KeyFileType::kKek}) {
    if (KeyFileTypeName(t) == name) return t;
  }
  return std::nullopt;
}

KeyFile GenerateKeyFile(KeyFileType type, Random& random, NtruParamSet set) {
  KeyFile file{type, std::nullopt, std::nullopt, std::nullopt};
  if (NeedsSigning(type)) file.signing.emplace(SigningSecretKey::Generate(random));
  if (NeedsKem(type)) file.kem.emplace(HybridPrivateKey::Generate(random, set));
  if (NeedsKek(type)) file.kek.emplace(KeyEncryptionKey::Generate(random));
  return file;
}

SecretBytes SerializeKeyFile(const KeyFile& file) {
  MEDMESH_CHECK(file.signing.has_value() == NeedsSigning(file.type) &&
                    file.kem.has_value() == NeedsKem(file.type) &&
                    file.kek.has_value() == NeedsKek(file.type),
                "key file holds keys that do not fit its type");
  OrderedJson doc;
  doc["format"] = kFormat;
  doc["version"] = kVersion;
  doc["type"] = KeyFileTypeName(file.type);
  if (file.signing) {
    OrderedJson& s = doc["signing"];
    s["algorithm"] = kEd25519;
    s["public"] = HexEncode(file.signing->public_key().bytes());
    s["secret_seed"] = HexEncode(file.signing->seed().reveal());
  }
  if (file.kem) {
    OrderedJson& k = doc["kem"];
    k["algorithm"] = kNtruX25519;
    k["ntru_param_set"] = Info(file.kem->set()).name;
    k["public"] = HexEncode(file.kem->public_key().ToBytes());
    SecretBytes secret = file.kem->ToBytes();
    k["secret"] = HexEncode(secret.reveal());
  }
  if (file.kek) {
    OrderedJson& k = doc["kek"];
    k["algorithm"] = kXChaCha;
    k["secret"] = HexEncode(file.kek->bytes().reveal());
  }
  std::string text = doc.dump(2);
  text.push_back('\n');
  SecretBytes out(AsBytes(text));
  SecureWipe(text.data(), text.size());
  WipeStrings(doc);
  return out;
}

Result<KeyFile> ParseKeyFile(ByteView contents) {
  if (contents.size() > kMaxKeyFileBytes) return InvalidArgument("key file is larger than 64 KiB");
  // Duplicate member names would let two readers see different keys; nesting deeper than our
  // format is refused too. The callback only records; the checks run after parsing.
  bool duplicate = false;
  bool too_deep = false;
  std::vector<std::set<std::string>> names;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth > 2) too_deep = true;
    if (event == Json::parse_event_t::object_start) {
      names.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!names.empty()) names.pop_back();
    } else if (event == Json::parse_event_t::key && !names.empty() && parsed.is_string()) {
      if (!names.back().insert(parsed.get<std::string>()).second) duplicate = true;
    }
    return true;
  };
  Json doc;
  try {
    doc = Json::parse(contents.begin(), contents.end(), callback, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    // The library's messages can quote the input, which may be secret: never pass them on.
    return InvalidArgument("key file is not valid JSON");
  }
  StringWiper wiper{doc};
  if (doc.is_discarded()) return InvalidArgument("key file is not valid JSON");
  if (too_deep) return InvalidArgument("key file nests deeper than its format allows");
  if (duplicate) return InvalidArgument("key file has a duplicate field");
  try {
    return ParseDocument(doc);
  } catch (const std::exception&) {
    return InvalidArgument("key file has an unexpected structure");
  }
}

Status WriteKeyFile(const std::filesystem::path& path, const KeyFile& file, bool overwrite,
                    Env& env) {
  const SecretBytes contents = SerializeKeyFile(file);
  constexpr unsigned kOwnerOnly = S_IRUSR | S_IWUSR;
  // Without overwrite: never follow or replace an existing file; the mode is set at creation.
  Status written = overwrite ? WriteFileAtomically(path, contents.reveal(), kOwnerOnly, env)
                             : WriteNewFile(path, contents.reveal(), kOwnerOnly, env);
  if (!written) {
    return Error(written.error().code(), "key file: " + written.error().message());
  }
  return OkStatus();
}

Result<SecretBytes> ReadSecretFile(const std::filesystem::path& path, std::size_t max_bytes,
                                   std::string_view what) {
  auto contents = Env::Default().ReadPrivateFile(path, max_bytes);
  if (!contents) {
    if (contents.error().code() == ErrorCode::kResourceExhausted) {
      return InvalidArgument(std::string(what) + " " + path.string() + " is larger than " +
                             std::to_string(max_bytes) + " bytes");
    }
    return Error(contents.error().code(), std::string(what) + ": " + contents.error().message());
  }
  return std::move(*contents);
}

Result<KeyFile> ReadKeyFile(const std::filesystem::path& path, Env& env) {
  auto contents = env.ReadPrivateFile(path, kMaxKeyFileBytes);
  if (!contents) {
    if (contents.error().code() == ErrorCode::kResourceExhausted) {
      return InvalidArgument("key file " + path.string() + " is larger than 64 KiB");
    }
    return Error(contents.error().code(), "key file: " + contents.error().message());
  }
  return ParseKeyFile(contents->reveal());
}

std::vector<PublicKeyDescription> DescribePublicKeys(const KeyFile& file) {
  std::vector<PublicKeyDescription> out;
  if (file.signing) {
    const SigningPublicKey& pk = file.signing->public_key();
    out.push_back(
        {"signing", std::string(kEd25519), HexEncode(pk.bytes()), KeyIdHex(pk.Fingerprint())});
  }
  if (file.kem) {
    const HybridPublicKey& pk = file.kem->public_key();
    out.push_back({"kem", std::string(kNtruX25519) + "/" + std::string(Info(pk.set()).name),
                   HexEncode(pk.ToBytes()), KeyIdHex(pk.key_id())});
  }
  if (file.kek) {
    out.push_back({"kek", std::string(kXChaCha), "", KeyIdHex(file.kek->key_id())});
  }
  return out;
}

}  // namespace medmesh::crypto
