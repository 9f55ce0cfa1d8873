// `medmesh eval crypto`: what public-key encryption costs a wearable, measured on this host and
// carried through the data path's energy model (src/wearable/energy.h, docs/energy_model.md).
//
// Two groups of rows:
//  - "operation": keypair, encapsulation and decapsulation of our NTRU KEM (each of the four
//    sets, plus batch key generation per key), X25519 and RSA-2048 / RSA-3072 (OpenSSL EVP; the
//    RSA "encapsulation" is RSA-OAEP-SHA256 of a 32-byte key);
//  - "sealed batch": sealing one encoded batch of readings (wearable::SampleBatch, encoded by
//    wire::EncodeReadings) for the cloudlet: each KEM above followed by ChaCha20-Poly1305 of the
//    batch under SHA-256 of the shared secret (KEM-DEM), our hybrid sealed box
//    (crypto::HybridSealer: NTRU + X25519 + AEAD), and session mode (crypto::SessionSealer): a
//    steady-state batch, a session's first batch, and the average over a session of
//    `batches_per_session` batches.
//
// Host time is the median of `iterations` runs of the real code (after one warm-up run), timed
// with the injected Clock. Device energy is a MODEL ESTIMATE, as in energy.h: CPU energy =
// host time x slowdown x MCU active power; radio energy = E_tx of the bytes the device sends
// for the row (ciphertext or sealed batch; nothing for key generation and decapsulation, which
// happen at the receiver) over `distance_m`.
//
// Randomness: NTRU coins and the session / hybrid seals come from the injected Random; OpenSSL
// draws X25519 and RSA keys and OAEP padding from its own generator (the EVP API offers no seam).
// Thread safety: RunCryptoEval is reentrant; the formatting functions are pure.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "wearable/energy.h"

namespace medmesh::eval {

struct CryptoEvalOptions {
  int iterations = 31;               // timed runs per row (median kept), 1..10000
  int rsa_keygen_iterations = 5;     // RSA key generation is slow and variable: fewer runs, 1..1000
  std::size_t batch_readings = 600;  // readings per sealed batch (BatcherOptions' default), 1..
  std::size_t batch_keys = 64;       // keys per medmesh_<set>_keypair_batch call, 1..4096
  std::size_t batches_per_session = 1000;  // as SessionSealerOptions, >= 1
  double distance_m = 10;  // wearable to cloudlet (EnergyScenario::cloudlet_distance_m)
  wearable::CpuModel cpu;
  wearable::RadioModel radio;
};

struct CryptoEvalRow {
  std::string group;      // "operation" or "sealed batch"
  std::string scheme;     // "ntruhps2048677", "x25519", "rsa2048", "rsa3072", "hybrid", "session"
  std::string operation;  // "keypair", "keypair per key in a batch of 64", "encaps", "decaps", ...
  double host_us = 0;     // median host time, microseconds
  std::size_t bytes_sent = 0;  // bytes the device sends for this row (0: none)
  // MODEL ESTIMATES, microjoules on the device.
  double device_cpu_uj = 0;
  double device_radio_uj = 0;
  double device_total_uj = 0;
};

struct CryptoEvalReport {
  CryptoEvalOptions options;
  std::size_t batch_payload_bytes = 0;  // the encoded batch every "sealed batch" row seals
  std::vector<CryptoEvalRow> rows;
};

// The CSV header, in order.
inline constexpr std::array<std::string_view, 8> kCryptoEvalCsvColumns = {
    "group",      "scheme",        "operation",       "host_us",
    "bytes_sent", "device_cpu_uj", "device_radio_uj", "device_total_uj"};

// Runs every measurement. kInvalidArgument for options out of range; kInternal if OpenSSL or a
// seal fails (the message names the step, never key material).
Result<CryptoEvalReport> RunCryptoEval(const CryptoEvalOptions& options, Random& random,
                                       const Clock& clock);

// One line per row under the kCryptoEvalCsvColumns header; numbers with fixed decimals.
std::string CryptoEvalCsv(const CryptoEvalReport& report);

// A plain-text table for the terminal, headed by the model's constants and "MODEL ESTIMATE".
std::string CryptoEvalTable(const CryptoEvalReport& report);

// A self-contained SVG: horizontal bars of modelled device energy per row on a log scale, one
// panel per group, with the host time as a label. Written by this code (no plotting library).
std::string CryptoEvalSvg(const CryptoEvalReport& report);

}  // namespace medmesh::eval
