// medmesh: the one binary. Only this folder reads flags and wires objects.
//
//   medmesh keys --type node|device|root|kek --out FILE [--force] [--ntru-param-set NAME]
//   medmesh keys --show FILE
//   medmesh keys rotate-kek --part ei|qi|mi --config FILE [--url URL]
//   medmesh selftest
//   medmesh admin create --data-dir DIR --email E   (apps/admin_main.cc)
//   medmesh audit verify ...   (apps/audit_main.cc)
//   medmesh attack list | run <scenario>|all ...   (apps/attack_main.cc, docs/attack.md)
#include <CLI/CLI.hpp>
#include <exception>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "apps/admin_main.h"
#include "apps/attack_main.h"
#include "apps/audit_main.h"
#include "apps/cloud_main.h"
#include "apps/cloudlet_main.h"
#include "apps/demo_main.h"
#include "apps/eval_crypto_main.h"
#include "apps/ids_main.h"
#include "apps/rotate_kek_main.h"
#include "apps/trust_eval_main.h"
#include "apps/wearable_main.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "crypto/envelope.h"
#include "crypto/hybrid_seal.h"
#include "crypto/key_file.h"
#include "crypto/ntru.h"
#include "crypto/password.h"
#include "crypto/session_seal.h"
#include "crypto/signing.h"

namespace {

using medmesh::AsBytes;
using medmesh::AsStringView;
using medmesh::Bytes;
using medmesh::ByteView;
using medmesh::ErrorCode;
using medmesh::Internal;
using medmesh::OkStatus;
using medmesh::Status;
namespace crypto = medmesh::crypto;

int Fail(const medmesh::Error& error) {
  std::cerr << "medmesh: " << error.ToString() << "\n";
  return 1;
}

void PrintPublicKeys(const crypto::KeyFile& file) {
  for (const crypto::PublicKeyDescription& key : crypto::DescribePublicKeys(file)) {
    std::cout << key.name << ": " << key.algorithm << "\n";
    std::cout << "  fingerprint: " << key.fingerprint << "\n";
    if (!key.public_hex.empty()) std::cout << "  public: " << key.public_hex << "\n";
  }
}

// --- medmesh keys -----------------------------------------------------------------------------

struct KeysFlags {
  std::string type;
  std::string out;
  std::string show;
  std::string ntru_param_set = "ntruhps2048677";
  bool force = false;
};

int RunKeys(const KeysFlags& flags) {
  if (!flags.show.empty()) {
    auto file = crypto::ReadKeyFile(flags.show);
    if (!file) return Fail(file.error());
    std::cout << "type: " << crypto::KeyFileTypeName(file->type) << "\n";
    PrintPublicKeys(*file);
    return 0;
  }
  if (flags.type.empty() || flags.out.empty()) {
    std::cerr << "medmesh keys: --type and --out are required (or --show FILE)\n";
    return 2;
  }
  const auto type = crypto::KeyFileTypeFromName(flags.type);
  const auto set = crypto::NtruParamSetFromName(flags.ntru_param_set);
  if (!type || !set) {
    std::cerr << "medmesh keys: unknown --type or --ntru-param-set\n";
    return 2;
  }
  medmesh::SystemRandom random;
  const crypto::KeyFile file = crypto::GenerateKeyFile(*type, random, *set);
  Status written = crypto::WriteKeyFile(flags.out, file, flags.force);
  if (!written) {
    if (written.error().code() == ErrorCode::kAlreadyExists) {
      std::cerr << "medmesh: " << flags.out << " already exists; pass --force to replace it\n";
      return 1;
    }
    return Fail(written.error());
  }
  std::cout << "wrote " << flags.type << " key file " << flags.out << " (mode 0600)\n";
  PrintPublicKeys(file);
  return 0;
}

void AddKeysCommand(CLI::App& app, KeysFlags& flags, const std::function<void(int)>& done) {
  CLI::App* keys = app.add_subcommand(
      "keys", "Generate a key file (mode 0600) and print its public keys and fingerprints");
  auto* type = keys->add_option("--type", flags.type, "Kind of keys to generate")
                   ->check(CLI::IsMember({"node", "device", "root", "kek"}));
  auto* out = keys->add_option("--out", flags.out, "Key file to create");
  auto* force = keys->add_flag("--force", flags.force, "Replace an existing key file");
  auto* set = keys->add_option("--ntru-param-set", flags.ntru_param_set,
                               "NTRU parameter set of the KEM key (node and device)")
                  ->check(CLI::IsMember(
                      {"ntruhps2048509", "ntruhps2048677", "ntruhps4096821", "ntruhrss701"}));
  auto* show = keys->add_option("--show", flags.show,
                                "Print the public keys of an existing key file instead");
  show->excludes(type)->excludes(out)->excludes(force)->excludes(set);
  keys->callback([&flags, done, keys] {
    if (keys->got_subcommand("rotate-kek")) return;  // it reported its own exit code
    done(RunKeys(flags));
  });
  RegisterRotateKekCommand(*keys, done);
}

// --- medmesh selftest -------------------------------------------------------------------------

Status Expect(bool condition, const char* what) {
  return condition ? OkStatus() : Status(Internal(what));
}

Status CheckNtru(crypto::NtruParamSet set, medmesh::Random& random) {
  auto kem = crypto::NewNtruKem(set);
  crypto::NtruKeyPair kp = kem->GenerateKeyPair(random);
  MEDMESH_ASSIGN_OR_RETURN(crypto::KemEncapsulation enc, kem->Encapsulate(kp.public_key, random));
  MEDMESH_ASSIGN_OR_RETURN(medmesh::SecretBytes ss,
                           kem->Decapsulate(kp.secret_key, enc.ciphertext));
  MEDMESH_RETURN_IF_ERROR(Expect(ss == enc.shared_secret, "shared secrets differ"));
  enc.ciphertext[0] ^= 1;
  MEDMESH_ASSIGN_OR_RETURN(medmesh::SecretBytes rejected,
                           kem->Decapsulate(kp.secret_key, enc.ciphertext));
  return Expect(!(rejected == enc.shared_secret), "tampered ciphertext gave the same key");
}

Status CheckHybridSeal(medmesh::Random& random) {
  crypto::HybridPrivateKey key = crypto::HybridPrivateKey::Generate(random);
  auto sealer = crypto::NewHybridSealer(key.public_key(), random);
  auto opener = crypto::NewHybridOpener(key.Clone());
  MEDMESH_ASSIGN_OR_RETURN(Bytes box, sealer->Seal(AsBytes("selftest"), AsBytes("ad")));
  MEDMESH_ASSIGN_OR_RETURN(Bytes opened, opener->Open(box, AsBytes("ad")));
  MEDMESH_RETURN_IF_ERROR(Expect(AsStringView(opened) == "selftest", "wrong plaintext"));
  box[box.size() / 2] ^= 1;
  return Expect(!opener->Open(box, AsBytes("ad")), "tampered box opened");
}

Status CheckSession(medmesh::Random& random, const medmesh::Clock& clock) {
  crypto::HybridPrivateKey key = crypto::HybridPrivateKey::Generate(random);
  crypto::SessionSealer sealer(key.public_key(), random, clock);
  crypto::SessionOpener opener(key.Clone(), clock);
  for (std::string_view text : {"batch 0", "batch 1"}) {
    MEDMESH_ASSIGN_OR_RETURN(Bytes batch, sealer.SealBatch(AsBytes(text), AsBytes("device")));
    MEDMESH_ASSIGN_OR_RETURN(Bytes opened, opener.OpenBatch(batch, AsBytes("device")));
    MEDMESH_RETURN_IF_ERROR(Expect(AsStringView(opened) == text, "wrong plaintext"));
    MEDMESH_RETURN_IF_ERROR(
        Expect(!opener.OpenBatch(batch, AsBytes("device")), "replayed batch accepted"));
  }
  return OkStatus();
}

Status CheckSigning(medmesh::Random& random) {
  crypto::SigningSecretKey key = crypto::SigningSecretKey::Generate(random);
  auto verifier = crypto::NewEd25519Verifier(key.public_key());
  auto signer = crypto::NewEd25519Signer(std::move(key));
  Bytes signature = signer->Sign(AsBytes("selftest"));
  MEDMESH_RETURN_IF_ERROR(verifier->Verify(AsBytes("selftest"), signature));
  signature[0] ^= 1;
  return Expect(!verifier->Verify(AsBytes("selftest"), signature), "tampered signature verified");
}

Status CheckPassword() {
  crypto::PasswordHasher hasher;
  MEDMESH_ASSIGN_OR_RETURN(std::string hash, hasher.Hash("correct horse"));
  MEDMESH_RETURN_IF_ERROR(hasher.Verify(hash, "correct horse"));
  return Expect(!hasher.Verify(hash, "wrong horse"), "wrong password accepted");
}

Status CheckEnvelope(medmesh::Random& random) {
  crypto::InMemoryWrappedKeyStore store;
  crypto::EnvelopeAead envelope(crypto::KeyEncryptionKey::Generate(random), store, random);
  const crypto::DataKeyContext context{"selftest-patient", "mi"};
  MEDMESH_ASSIGN_OR_RETURN(Bytes ct, envelope.Encrypt(context, AsBytes("record"), {}));
  MEDMESH_ASSIGN_OR_RETURN(crypto::KekRotationReport report,
                           envelope.RotateKek(crypto::KeyEncryptionKey::Generate(random)));
  MEDMESH_RETURN_IF_ERROR(Expect(report.rewrapped == 1, "KEK rotation did not re-wrap the key"));
  MEDMESH_ASSIGN_OR_RETURN(Bytes opened, envelope.Decrypt(context, ct, {}));
  MEDMESH_RETURN_IF_ERROR(Expect(AsStringView(opened) == "record", "wrong plaintext"));
  MEDMESH_RETURN_IF_ERROR(envelope.DestroyDataKey(context));
  return Expect(!envelope.Decrypt(context, ct, {}), "data readable after its key was destroyed");
}

int RunSelftest() {
  medmesh::SystemRandom random;
  medmesh::SystemClock clock;
  struct Check {
    std::string name;
    std::function<Status()> run;
  };
  std::vector<Check> checks;
  for (crypto::NtruParamSet set :
       {crypto::NtruParamSet::kHps2048509, crypto::NtruParamSet::kHps2048677,
        crypto::NtruParamSet::kHps4096821, crypto::NtruParamSet::kHrss701}) {
    checks.push_back({"ntru KEM round trip (" + std::string(crypto::Info(set).name) + ")",
                      [set, &random] { return CheckNtru(set, random); }});
  }
  checks.push_back({"hybrid seal/open (ntruhps2048677 + X25519, XChaCha20-Poly1305)",
                    [&] { return CheckHybridSeal(random); }});
  checks.push_back({"session batches (seal, open, replay refused)",
                    [&] { return CheckSession(random, clock); }});
  checks.push_back({"ed25519 sign/verify", [&] { return CheckSigning(random); }});
  checks.push_back({"argon2id hash/verify (interactive limits)", [] { return CheckPassword(); }});
  checks.push_back({"envelope wrap/unwrap, KEK rotation, crypto-shredding",
                    [&] { return CheckEnvelope(random); }});

  int failed = 0;
  for (const Check& check : checks) {
    Status st = check.run();
    if (st) {
      std::cout << "PASS  " << check.name << "\n";
    } else {
      ++failed;
      std::cout << "FAIL  " << check.name << ": " << st.error().ToString() << "\n";
    }
  }
  std::cout << (failed == 0 ? "selftest: all checks passed\n" : "selftest: FAILED\n");
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    CLI::App app{"MedMesh: privacy-preserving medical data on a cloudlet mesh"};
    app.require_subcommand(1);
    int exit_code = 0;
    auto done = [&exit_code](int code) { exit_code = code; };

    KeysFlags keys_flags;
    AddKeysCommand(app, keys_flags, done);
    app.add_subcommand("selftest",
                       "Run every crypto primitive once (NTRU, hybrid seal, sessions, Ed25519, "
                       "Argon2id, envelope) and print PASS/FAIL per check")
        ->callback([done] { done(RunSelftest()); });
    RegisterCloudCommand(app);
    RegisterAdminCommand(app);
    RegisterCloudletCommand(app);
    RegisterWearableCommand(app);
    RegisterDemoCommand(app);
    RegisterAuditCommand(app);
    CLI::App* eval = app.add_subcommand("eval", "Reproducible evaluations");
    eval->require_subcommand(1);
    RegisterTrustEvalCommand(*eval);
    RegisterIdsCommand(app);
    RegisterEvalIdsCommand(*eval);
    RegisterEvalCryptoCommand(*eval);
    RegisterAttackCommand(app);

    CLI11_PARSE(app, argc, argv);
    return exit_code;
  } catch (const std::exception&) {
    // Library messages may quote input; keep them out of the terminal and logs.
    std::cerr << "medmesh: internal error\n";
    return 1;
  }
}
