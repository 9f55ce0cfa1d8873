#include "eval/crypto_eval.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <utility>

#include "core/bytes.h"
#include "crypto/hybrid_seal.h"
#include "crypto/ntru.h"
#include "crypto/session_seal.h"
#include "medmesh/ntru.h"
#include "wire/readings_codec.h"

namespace medmesh::eval {
namespace {

// --- OpenSSL handles -------------------------------------------------------------------------
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

Error OpenSslError(const std::string& step) { return Internal("OpenSSL: " + step + " failed"); }

// A fresh key of `id` (EVP_PKEY_X25519 or EVP_PKEY_RSA with `rsa_bits`).
Result<Pkey> GenerateKey(int id, int rsa_bits = 0) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(id, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) <= 0) return OpenSslError("keygen init");
  if (id == EVP_PKEY_RSA && EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), rsa_bits) <= 0) {
    return OpenSslError("RSA key size");
  }
  EVP_PKEY* key = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &key) <= 0) return OpenSslError("keygen");
  return Pkey(key);
}

// X25519: the shared secret of `own` and `peer`.
Result<Bytes> X25519Derive(EVP_PKEY* own, EVP_PKEY* peer) {
  PkeyCtx ctx(EVP_PKEY_CTX_new(own, nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer) <= 0) {
    return OpenSslError("X25519 derive init");
  }
  Bytes out(32);
  std::size_t len = out.size();
  if (EVP_PKEY_derive(ctx.get(), out.data(), &len) <= 0 || len != 32) {
    return OpenSslError("X25519 derive");
  }
  return out;
}

// X25519 "encapsulation": an ephemeral key pair and its shared secret with the recipient; the
// ephemeral public key (32 bytes) is the ciphertext.
struct X25519Encapsulation {
  Bytes ciphertext;
  Bytes shared_secret;
};
Result<X25519Encapsulation> X25519Encapsulate(EVP_PKEY* recipient) {
  MEDMESH_ASSIGN_OR_RETURN(Pkey ephemeral, GenerateKey(EVP_PKEY_X25519));
  X25519Encapsulation e;
  e.ciphertext.resize(32);
  std::size_t len = e.ciphertext.size();
  if (EVP_PKEY_get_raw_public_key(ephemeral.get(), e.ciphertext.data(), &len) <= 0 || len != 32) {
    return OpenSslError("X25519 public key");
  }
  MEDMESH_ASSIGN_OR_RETURN(e.shared_secret, X25519Derive(ephemeral.get(), recipient));
  return e;
}

// RSA-OAEP (SHA-256) of `in` to `key`, or its inverse.
Result<Bytes> RsaOaep(EVP_PKEY* key, ByteView in, bool encrypt) {
  PkeyCtx ctx(EVP_PKEY_CTX_new(key, nullptr));
  if (!ctx) return OpenSslError("RSA context");
  if ((encrypt ? EVP_PKEY_encrypt_init(ctx.get()) : EVP_PKEY_decrypt_init(ctx.get())) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_sha256()) <= 0) {
    return OpenSslError("RSA-OAEP init");
  }
  Bytes out(static_cast<std::size_t>(EVP_PKEY_get_size(key)));
  std::size_t len = out.size();
  const int rc = encrypt ? EVP_PKEY_encrypt(ctx.get(), out.data(), &len, in.data(), in.size())
                         : EVP_PKEY_decrypt(ctx.get(), out.data(), &len, in.data(), in.size());
  if (rc <= 0) return OpenSslError(encrypt ? "RSA-OAEP encrypt" : "RSA-OAEP decrypt");
  out.resize(len);
  return out;
}

// The DEM of the KEM-DEM rows: ChaCha20-Poly1305 of `plaintext` under SHA-256(shared secret)
// with a fresh 12-byte nonce; returns nonce | ciphertext | tag.
Result<Bytes> Dem(ByteView shared_secret, ByteView plaintext, Random& random) {
  std::uint8_t key[32];
  unsigned key_len = 0;
  if (EVP_Digest(shared_secret.data(), shared_secret.size(), key, &key_len, EVP_sha256(),
                 nullptr) <= 0) {
    return OpenSslError("SHA-256");
  }
  Bytes out(12 + plaintext.size() + 16);
  random.Fill(MutableByteView(out.data(), 12));
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  int final_len = 0;
  const bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_chacha20_poly1305(), nullptr, key, out.data()) > 0 &&
      EVP_EncryptUpdate(ctx.get(), out.data() + 12, &len, plaintext.data(),
                        static_cast<int>(plaintext.size())) > 0 &&
      EVP_EncryptFinal_ex(ctx.get(), out.data() + 12 + len, &final_len) > 0 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16,
                          out.data() + 12 + plaintext.size()) > 0;
  OPENSSL_cleanse(key, sizeof key);
  if (!ok) return OpenSslError("ChaCha20-Poly1305");
  return out;
}

// --- NTRU through the C API (the derandomized calls, coins from the injected Random) ---------
struct NtruCalls {
  crypto::NtruParamSet set;
  int (*keypair_derand)(std::uint8_t*, std::uint8_t*, const std::uint8_t*, const std::uint8_t*);
  int (*enc_derand)(std::uint8_t*, std::uint8_t*, const std::uint8_t*, const std::uint8_t*);
  int (*dec)(std::uint8_t*, const std::uint8_t*, const std::uint8_t*);
  int (*keypair_batch)(std::size_t, std::uint8_t*, std::uint8_t*, const std::uint8_t*,
                       const std::uint8_t*);
};
#define MEDMESH_EVAL_NTRU(S, E)                                                        \
  NtruCalls {                                                                          \
    crypto::NtruParamSet::E, &medmesh_##S##_keypair_derand, &medmesh_##S##_enc_derand, \
        &medmesh_##S##_dec, &medmesh_##S##_keypair_batch                               \
  }
const std::array<NtruCalls, 4> kNtruSets = {
    MEDMESH_EVAL_NTRU(ntruhps2048509, kHps2048509),
    MEDMESH_EVAL_NTRU(ntruhps2048677, kHps2048677),
    MEDMESH_EVAL_NTRU(ntruhps4096821, kHps4096821),
    MEDMESH_EVAL_NTRU(ntruhrss701, kHrss701),
};
#undef MEDMESH_EVAL_NTRU

// --- Timing and rows ------------------------------------------------------------------------

// Median seconds of `iterations` runs of `op` after one untimed warm-up run.
Result<double> MedianSeconds(const Clock& clock, int iterations,
                             const std::function<Status()>& op) {
  MEDMESH_RETURN_IF_ERROR(op());
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    const auto start = clock.Monotonic();
    MEDMESH_RETURN_IF_ERROR(op());
    samples.push_back(std::chrono::duration<double>(clock.Monotonic() - start).count());
  }
  const auto mid = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
  std::nth_element(samples.begin(), mid, samples.end());
  return *mid;
}

class RowBuilder {
 public:
  explicit RowBuilder(const CryptoEvalOptions& options) : options_(options) {}

  void Add(std::vector<CryptoEvalRow>& rows, std::string group, std::string scheme,
           std::string operation, double host_s, std::size_t bytes_sent) const {
    CryptoEvalRow row;
    row.group = std::move(group);
    row.scheme = std::move(scheme);
    row.operation = std::move(operation);
    row.host_us = host_s * 1e6;
    row.bytes_sent = bytes_sent;
    const double cpu_j = host_s * options_.cpu.slowdown * options_.cpu.active_power_w;
    const double radio_j =
        bytes_sent == 0
            ? 0.0
            : wearable::TransmitEnergyJ(options_.radio, 8.0 * static_cast<double>(bytes_sent),
                                        options_.distance_m);
    row.device_cpu_uj = cpu_j * 1e6;
    row.device_radio_uj = radio_j * 1e6;
    row.device_total_uj = (cpu_j + radio_j) * 1e6;
    rows.push_back(std::move(row));
  }

 private:
  const CryptoEvalOptions& options_;
};

constexpr const char* kOperation = "operation";
constexpr const char* kSealedBatch = "sealed batch";

Status CheckOptions(const CryptoEvalOptions& o) {
  if (o.iterations < 1 || o.iterations > 10000) return InvalidArgument("iterations: 1..10000");
  if (o.rsa_keygen_iterations < 1 || o.rsa_keygen_iterations > 1000) {
    return InvalidArgument("RSA key generation iterations: 1..1000");
  }
  if (o.batch_readings < 1 || o.batch_readings > wire::kMaxReadingsPerBatch) {
    return InvalidArgument("readings per batch: 1.." + std::to_string(wire::kMaxReadingsPerBatch));
  }
  if (o.batch_keys < 1 || o.batch_keys > 4096) return InvalidArgument("batch keys: 1..4096");
  if (o.batches_per_session < 1) return InvalidArgument("batches per session must be >= 1");
  if (!(o.distance_m >= 0) || !std::isfinite(o.distance_m)) {
    return InvalidArgument("distance must be finite and >= 0");
  }
  if (!(o.cpu.slowdown > 0) || !(o.cpu.active_power_w >= 0)) {
    return InvalidArgument("CPU model: slowdown > 0 and power >= 0");
  }
  return OkStatus();
}

// Rows for one NTRU set: both groups.
Status MeasureNtru(const NtruCalls& calls, const CryptoEvalOptions& options, ByteView payload,
                   Random& random, const Clock& clock, const RowBuilder& add,
                   std::vector<CryptoEvalRow>& ops, std::vector<CryptoEvalRow>& batches) {
  const crypto::NtruParamInfo& info = crypto::Info(calls.set);
  const std::string name(info.name);
  Bytes fg(info.seed_bytes);
  Bytes prf(MEDMESH_NTRU_PRFKEYBYTES);
  Bytes rm(info.seed_bytes);
  Bytes pk(info.public_key_bytes);
  Bytes sk(info.secret_key_bytes);
  Bytes ct(info.ciphertext_bytes);
  Bytes ss(info.shared_secret_bytes);
  // Coins are drawn once, outside the timed runs (as the benchmark does): the code is constant
  // time, and drawing 200 KB of coins per batch would time the OS random source instead.
  random.Fill(fg);
  random.Fill(prf);
  MEDMESH_ASSIGN_OR_RETURN(const double keypair_s,
                           MedianSeconds(clock, options.iterations, [&]() -> Status {
                             calls.keypair_derand(pk.data(), sk.data(), fg.data(), prf.data());
                             return OkStatus();
                           }));
  add.Add(ops, kOperation, name, "keypair", keypair_s, 0);

  const std::size_t k = options.batch_keys;
  Bytes fg_batch(k * info.seed_bytes);
  Bytes prf_batch(k * MEDMESH_NTRU_PRFKEYBYTES);
  Bytes pks(k * info.public_key_bytes);
  Bytes sks(k * info.secret_key_bytes);
  random.Fill(fg_batch);
  random.Fill(prf_batch);
  MEDMESH_ASSIGN_OR_RETURN(
      const double batch_s, MedianSeconds(clock, options.iterations, [&]() -> Status {
        calls.keypair_batch(k, pks.data(), sks.data(), fg_batch.data(), prf_batch.data());
        return OkStatus();
      }));
  add.Add(ops, kOperation, name, "keypair per key in a batch of " + std::to_string(k),
          batch_s / static_cast<double>(k), 0);

  random.Fill(rm);
  MEDMESH_ASSIGN_OR_RETURN(const double enc_s,
                           MedianSeconds(clock, options.iterations, [&]() -> Status {
                             calls.enc_derand(ct.data(), ss.data(), pk.data(), rm.data());
                             return OkStatus();
                           }));
  add.Add(ops, kOperation, name, "encaps", enc_s, ct.size());
  Bytes ss_dec(info.shared_secret_bytes);
  MEDMESH_ASSIGN_OR_RETURN(const double dec_s,
                           MedianSeconds(clock, options.iterations, [&]() -> Status {
                             calls.dec(ss_dec.data(), ct.data(), sk.data());
                             return OkStatus();
                           }));
  if (ss_dec != ss) return Internal(name + ": decapsulation does not give the encapsulated key");
  add.Add(ops, kOperation, name, "decaps", dec_s, 0);

  std::size_t sealed_bytes = 0;
  MEDMESH_ASSIGN_OR_RETURN(const double seal_s,
                           MedianSeconds(clock, options.iterations, [&]() -> Status {
                             calls.enc_derand(ct.data(), ss.data(), pk.data(), rm.data());
                             MEDMESH_ASSIGN_OR_RETURN(Bytes box, Dem(ss, payload, random));
                             sealed_bytes = ct.size() + box.size();
                             return OkStatus();
                           }));
  add.Add(batches, kSealedBatch, name, "KEM-DEM seal", seal_s, sealed_bytes);
  return OkStatus();
}

Status MeasureX25519(const CryptoEvalOptions& options, ByteView payload, Random& random,
                     const Clock& clock, const RowBuilder& add, std::vector<CryptoEvalRow>& ops,
                     std::vector<CryptoEvalRow>& batches) {
  Pkey recipient;
  MEDMESH_ASSIGN_OR_RETURN(const double keypair_s,
                           MedianSeconds(clock, options.iterations, [&]() -> Status {
                             MEDMESH_ASSIGN_OR_RETURN(recipient, GenerateKey(EVP_PKEY_X25519));
                             return OkStatus();
                           }));
  add.Add(ops, kOperation, "x25519", "keypair", keypair_s, 0);
  X25519Encapsulation enc;
  MEDMESH_ASSIGN_OR_RETURN(const double enc_s,
                           MedianSeconds(clock, options.iterations, [&]() -> Status {
                             MEDMESH_ASSIGN_OR_RETURN(enc, X25519Encapsulate(recipient.get()));
                             return OkStatus();
                           }));
  add.Add(ops, kOperation, "x25519", "encaps", enc_s, enc.ciphertext.size());
  // Decapsulation: the recipient's key with the ephemeral public key.
  Pkey ephemeral(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, enc.ciphertext.data(),
                                             enc.ciphertext.size()));
  if (!ephemeral) return OpenSslError("X25519 raw public key");
  Bytes ss;
  MEDMESH_ASSIGN_OR_RETURN(
      const double dec_s, MedianSeconds(clock, options.iterations, [&]() -> Status {
        MEDMESH_ASSIGN_OR_RETURN(ss, X25519Derive(recipient.get(), ephemeral.get()));
        return OkStatus();
      }));
  if (ss != enc.shared_secret) return Internal("x25519: both sides derive different secrets");
  add.Add(ops, kOperation, "x25519", "decaps", dec_s, 0);

  std::size_t sealed_bytes = 0;
  MEDMESH_ASSIGN_OR_RETURN(
      const double seal_s, MedianSeconds(clock, options.iterations, [&]() -> Status {
        MEDMESH_ASSIGN_OR_RETURN(X25519Encapsulation e, X25519Encapsulate(recipient.get()));
        MEDMESH_ASSIGN_OR_RETURN(Bytes box, Dem(e.shared_secret, payload, random));
        sealed_bytes = e.ciphertext.size() + box.size();
        return OkStatus();
      }));
  add.Add(batches, kSealedBatch, "x25519", "KEM-DEM seal", seal_s, sealed_bytes);
  return OkStatus();
}

Status MeasureRsa(int bits, const CryptoEvalOptions& options, ByteView payload, Random& random,
                  const Clock& clock, const RowBuilder& add, std::vector<CryptoEvalRow>& ops,
                  std::vector<CryptoEvalRow>& batches) {
  const std::string name = "rsa" + std::to_string(bits);
  Pkey key;
  MEDMESH_ASSIGN_OR_RETURN(const double keypair_s,
                           MedianSeconds(clock, options.rsa_keygen_iterations, [&]() -> Status {
                             MEDMESH_ASSIGN_OR_RETURN(key, GenerateKey(EVP_PKEY_RSA, bits));
                             return OkStatus();
                           }));
  add.Add(ops, kOperation, name, "keypair", keypair_s, 0);
  Bytes secret(32);
  random.Fill(secret);
  Bytes ct;
  MEDMESH_ASSIGN_OR_RETURN(const double enc_s,
                           MedianSeconds(clock, options.iterations, [&]() -> Status {
                             MEDMESH_ASSIGN_OR_RETURN(ct, RsaOaep(key.get(), secret, true));
                             return OkStatus();
                           }));
  add.Add(ops, kOperation, name, "encaps", enc_s, ct.size());
  Bytes decrypted;
  MEDMESH_ASSIGN_OR_RETURN(const double dec_s,
                           MedianSeconds(clock, options.iterations, [&]() -> Status {
                             MEDMESH_ASSIGN_OR_RETURN(decrypted, RsaOaep(key.get(), ct, false));
                             return OkStatus();
                           }));
  if (decrypted != secret) return Internal(name + ": RSA-OAEP does not round-trip");
  add.Add(ops, kOperation, name, "decaps", dec_s, 0);

  std::size_t sealed_bytes = 0;
  MEDMESH_ASSIGN_OR_RETURN(const double seal_s,
                           MedianSeconds(clock, options.iterations, [&]() -> Status {
                             random.Fill(secret);
                             MEDMESH_ASSIGN_OR_RETURN(Bytes c, RsaOaep(key.get(), secret, true));
                             MEDMESH_ASSIGN_OR_RETURN(Bytes box, Dem(secret, payload, random));
                             sealed_bytes = c.size() + box.size();
                             return OkStatus();
                           }));
  add.Add(batches, kSealedBatch, name, "KEM-DEM seal", seal_s, sealed_bytes);
  return OkStatus();
}

// Our hybrid sealed box and session mode on the default NTRU set.
Status MeasureSeals(const CryptoEvalOptions& options, ByteView payload, Random& random,
                    const Clock& clock, const RowBuilder& add,
                    std::vector<CryptoEvalRow>& batches) {
  const crypto::HybridPrivateKey cloudlet = crypto::HybridPrivateKey::Generate(random);
  const Bytes associated_data = {'e', 'v', 'a', 'l'};
  const auto hybrid = crypto::NewHybridSealer(cloudlet.public_key(), random);
  std::size_t box_bytes = 0;
  MEDMESH_ASSIGN_OR_RETURN(
      const double hybrid_s, MedianSeconds(clock, options.iterations, [&]() -> Status {
        MEDMESH_ASSIGN_OR_RETURN(Bytes box, hybrid->Seal(payload, associated_data));
        box_bytes = box.size();
        return OkStatus();
      }));
  add.Add(batches, kSealedBatch, "hybrid", "seal (NTRU + X25519 + AEAD)", hybrid_s, box_bytes);

  crypto::SessionSealerOptions session_options;
  session_options.max_batches_per_session = 1'000'000;
  crypto::SessionSealer sealer(cloudlet.public_key(), random, clock, session_options);
  MEDMESH_ASSIGN_OR_RETURN(const Bytes first, sealer.SealBatch(payload, associated_data));
  std::size_t steady_bytes = 0;
  MEDMESH_ASSIGN_OR_RETURN(
      const double steady_s, MedianSeconds(clock, options.iterations, [&]() -> Status {
        MEDMESH_ASSIGN_OR_RETURN(Bytes sealed, sealer.SealBatch(payload, associated_data));
        steady_bytes = sealed.size();
        return OkStatus();
      }));
  std::size_t first_bytes = 0;
  MEDMESH_ASSIGN_OR_RETURN(
      const double first_s, MedianSeconds(clock, options.iterations, [&]() -> Status {
        crypto::SessionSealer fresh(cloudlet.public_key(), random, clock, session_options);
        MEDMESH_ASSIGN_OR_RETURN(Bytes sealed, fresh.SealBatch(payload, associated_data));
        first_bytes = sealed.size();
        return OkStatus();
      }));
  add.Add(batches, kSealedBatch, "session", "seal (steady state)", steady_s, steady_bytes);
  add.Add(batches, kSealedBatch, "session", "seal (first batch of a session)", first_s,
          first_bytes);
  // A session of S batches: one first batch and S-1 steady ones, per batch. Bytes are rounded
  // to the nearest byte.
  const auto s = static_cast<double>(options.batches_per_session);
  const double mean_s = (first_s + (s - 1) * steady_s) / s;
  const double mean_bytes =
      (static_cast<double>(first_bytes) + (s - 1) * static_cast<double>(steady_bytes)) / s;
  add.Add(batches, kSealedBatch, "session",
          "seal (mean over " + std::to_string(options.batches_per_session) + " batches)", mean_s,
          static_cast<std::size_t>(std::llround(mean_bytes)));
  return OkStatus();
}

std::string Fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Minimal escaping for SVG text and CSV fields (our labels hold no quotes or commas, but keep
// the output well-formed whatever they hold).
std::string XmlEscape(std::string_view s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}
std::string CsvField(std::string_view s) {
  if (s.find_first_of(",\"\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

Result<CryptoEvalReport> RunCryptoEval(const CryptoEvalOptions& options, Random& random,
                                       const Clock& clock) {
  MEDMESH_RETURN_IF_ERROR(CheckOptions(options));
  CryptoEvalReport report;
  report.options = options;
  const std::vector<wire::Reading> batch = wearable::SampleBatch(options.batch_readings);
  MEDMESH_ASSIGN_OR_RETURN(const Bytes payload, wire::EncodeReadings(batch));
  report.batch_payload_bytes = payload.size();

  const RowBuilder add(options);
  std::vector<CryptoEvalRow> ops;
  std::vector<CryptoEvalRow> batches;
  for (const NtruCalls& calls : kNtruSets) {
    MEDMESH_RETURN_IF_ERROR(MeasureNtru(calls, options, payload, random, clock, add, ops, batches));
  }
  MEDMESH_RETURN_IF_ERROR(MeasureX25519(options, payload, random, clock, add, ops, batches));
  for (const int bits : {2048, 3072}) {
    MEDMESH_RETURN_IF_ERROR(MeasureRsa(bits, options, payload, random, clock, add, ops, batches));
  }
  MEDMESH_RETURN_IF_ERROR(MeasureSeals(options, payload, random, clock, add, batches));
  report.rows = std::move(ops);
  report.rows.insert(report.rows.end(), batches.begin(), batches.end());
  return report;
}

std::string CryptoEvalCsv(const CryptoEvalReport& report) {
  std::string out;
  for (std::size_t i = 0; i < kCryptoEvalCsvColumns.size(); ++i) {
    if (i > 0) out += ',';
    out += kCryptoEvalCsvColumns[i];
  }
  out += '\n';
  for (const CryptoEvalRow& r : report.rows) {
    out += CsvField(r.group) + ',' + CsvField(r.scheme) + ',' + CsvField(r.operation) + ',' +
           Fixed(r.host_us, 3) + ',' + std::to_string(r.bytes_sent) + ',' +
           Fixed(r.device_cpu_uj, 3) + ',' + Fixed(r.device_radio_uj, 3) + ',' +
           Fixed(r.device_total_uj, 3) + '\n';
  }
  return out;
}

std::string CryptoEvalTable(const CryptoEvalReport& report) {
  const CryptoEvalOptions& o = report.options;
  std::string out;
  out += "MODEL ESTIMATE of device energy (docs/energy_model.md): host time x " +
         Fixed(o.cpu.slowdown, 0) + " (MCU slowdown) x " + Fixed(o.cpu.active_power_w * 1e3, 1) +
         " mW, plus E_tx of the bytes sent over " + Fixed(o.distance_m, 1) + " m (E_elec " +
         Fixed(o.radio.e_elec_j_per_bit * 1e9, 1) + " nJ/bit, eps_amp " +
         Fixed(o.radio.eps_amp_j_per_bit_m_n * 1e12, 1) +
         " pJ/bit/m^n, n = " + Fixed(o.radio.path_loss_exponent, 1) + ").\n";
  out += "Host times: medians of " + std::to_string(o.iterations) + " runs (RSA key generation " +
         std::to_string(o.rsa_keygen_iterations) +
         "); sealed batch = " + std::to_string(o.batch_readings) + " readings, " +
         std::to_string(report.batch_payload_bytes) + " bytes encoded.\n\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-13s %-15s %-34s %12s %8s %13s %12s %13s\n", "group", "scheme",
                "operation", "host us", "bytes", "device CPU uJ", "radio uJ", "total uJ");
  out += line;
  for (const CryptoEvalRow& r : report.rows) {
    std::snprintf(line, sizeof line, "%-13s %-15s %-34s %12.1f %8zu %13.1f %12.1f %13.1f\n",
                  r.group.c_str(), r.scheme.c_str(), r.operation.c_str(), r.host_us, r.bytes_sent,
                  r.device_cpu_uj, r.device_radio_uj, r.device_total_uj);
    out += line;
  }
  return out;
}

std::string CryptoEvalSvg(const CryptoEvalReport& report) {
  // Layout: a label column, then bars on a log10 axis of microjoules spanning whole decades.
  constexpr double kLabelWidth = 330;
  constexpr double kPlotWidth = 520;
  constexpr double kRight = 170;  // room for the value labels
  constexpr double kRowHeight = 18;
  constexpr double kPanelGap = 46;
  constexpr double kTop = 58;
  double lo = 1e300;
  double hi = 0;
  for (const CryptoEvalRow& r : report.rows) {
    const double v = std::max(r.device_total_uj, 1e-3);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (report.rows.empty()) {
    lo = 1;
    hi = 10;
  }
  const double d_lo = std::floor(std::log10(lo));
  const double d_hi = std::max(d_lo + 1, std::ceil(std::log10(hi)));
  const auto x_of = [&](double uj) {
    const double v = std::log10(std::max(uj, 1e-3));
    return kLabelWidth + kPlotWidth * (std::clamp(v, d_lo, d_hi) - d_lo) / (d_hi - d_lo);
  };

  std::vector<std::string> groups;
  for (const CryptoEvalRow& r : report.rows) {
    if (std::find(groups.begin(), groups.end(), r.group) == groups.end()) groups.push_back(r.group);
  }
  const double height = kTop + static_cast<double>(report.rows.size()) * kRowHeight +
                        static_cast<double>(groups.size()) * kPanelGap + 30;
  const double width = kLabelWidth + kPlotWidth + kRight;

  std::string svg;
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Fixed(width, 0) + "\" height=\"" +
         Fixed(height, 0) + "\" viewBox=\"0 0 " + Fixed(width, 0) + " " + Fixed(height, 0) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg +=
      "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">Modelled device energy "
      "per operation and per sealed batch (MODEL ESTIMATE, log scale)</text>\n";
  svg +=
      "<text x=\"10\" y=\"40\" fill=\"#555\">bar: device energy in microjoules (CPU: host time x " +
      Fixed(report.options.cpu.slowdown, 0) + " x " +
      Fixed(report.options.cpu.active_power_w * 1e3, 1) + " mW; radio: bytes sent over " +
      Fixed(report.options.distance_m, 1) +
      " m); label: total energy and median host time</text>\n";

  double y = kTop;
  for (const std::string& group : groups) {
    y += 22;
    svg += "<text x=\"10\" y=\"" + Fixed(y - 6, 1) + "\" font-weight=\"bold\">" + XmlEscape(group) +
           "</text>\n";
    const double panel_top = y;
    for (const CryptoEvalRow& r : report.rows) {
      if (r.group != group) continue;
      const double x1 = x_of(r.device_total_uj);
      const double cpu_x = x_of(std::min(r.device_cpu_uj, r.device_total_uj));
      svg += "<text x=\"" + Fixed(kLabelWidth - 6, 1) + "\" y=\"" + Fixed(y + 13, 1) +
             "\" text-anchor=\"end\">" + XmlEscape(r.scheme + " " + r.operation) + "</text>\n";
      // The light bar reaches the total, the dark one the CPU energy alone (same log scale).
      svg += "<rect x=\"" + Fixed(kLabelWidth, 1) + "\" y=\"" + Fixed(y + 3, 1) + "\" width=\"" +
             Fixed(std::max(x1 - kLabelWidth, 1.0), 1) + "\" height=\"" + Fixed(kRowHeight - 5, 1) +
             "\" fill=\"#9ecae1\"/>\n";
      svg += "<rect x=\"" + Fixed(kLabelWidth, 1) + "\" y=\"" + Fixed(y + 3, 1) + "\" width=\"" +
             Fixed(std::max(cpu_x - kLabelWidth, 1.0), 1) + "\" height=\"" +
             Fixed(kRowHeight - 5, 1) + "\" fill=\"#3182bd\"/>\n";
      svg += "<text x=\"" + Fixed(x1 + 5, 1) + "\" y=\"" + Fixed(y + 13, 1) + "\">" +
             Fixed(r.device_total_uj, 1) + " uJ, " + Fixed(r.host_us, 1) + " us</text>\n";
      y += kRowHeight;
    }
    // Decade grid lines and labels for the panel.
    for (double d = d_lo; d <= d_hi + 1e-9; d += 1) {
      const double x = kLabelWidth + kPlotWidth * (d - d_lo) / (d_hi - d_lo);
      svg += "<line x1=\"" + Fixed(x, 1) + "\" y1=\"" + Fixed(panel_top, 1) + "\" x2=\"" +
             Fixed(x, 1) + "\" y2=\"" + Fixed(y + 2, 1) + "\" stroke=\"#ccc\"/>\n";
      svg += "<text x=\"" + Fixed(x, 1) + "\" y=\"" + Fixed(y + 15, 1) +
             "\" text-anchor=\"middle\" fill=\"#555\">1e" + Fixed(d, 0) + "</text>\n";
    }
    y += kPanelGap - 22;
  }
  svg += "<text x=\"10\" y=\"" + Fixed(height - 8, 1) +
         "\" fill=\"#555\">dark bar: CPU energy alone; light bar: CPU + radio (the total)</text>\n";
  svg += "</svg>\n";
  return svg;
}

}  // namespace medmesh::eval
