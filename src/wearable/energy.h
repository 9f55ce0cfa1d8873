// Energy model of the wearable's uploads, and the choice of cloudlet.
//
// THIS IS A MODEL, NOT A MEASUREMENT OF ENERGY. Radio energy follows the first-order radio
// model (Heinzelman et al., 2000):
//   E_tx(k, d) = E_elec·k + ε_amp·k·d^n        E_rx(k) = E_elec·k
// for k bits over d metres (typical constants: E_elec = 50 nJ/bit, ε_amp = 100 pJ/bit/m²,
// path-loss exponent n = 2). CPU energy is the time of the real code (NTRU encapsulation,
// session seal, Ed25519 signature, encoding) measured on this host, scaled to a wearable-class
// microcontroller by a slowdown factor and multiplied by its active power (default 30 mW, 100×
// slower than the host). docs/energy_model.md gives the derivation and what is assumed.
//
// It compares, per reading:
//  (a) our setting: readings batched (default 600), encoded and compressed, one session-mode
//      seal and one signature per batch (the session's hybrid KEM amortised over its batches),
//      sent to the nearest trusted cloudlet at distance d1;
//  (b) the naive setting: every reading alone, sealed in a full hybrid sealed box (NTRU +
//      X25519 + AEAD) and signed, sent straight to the remote cloud at distance d2.
// Both settings receive a small acknowledgement per message.
// Thread safety: pure functions (MeasureOnThisHost uses the Random and Clock it is given).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/random.h"
#include "core/status.h"
#include "wire/model.h"

namespace medmesh::wearable {

struct RadioModel {
  double e_elec_j_per_bit = 50e-9;         // electronics, per bit sent or received
  double eps_amp_j_per_bit_m_n = 100e-12;  // amplifier, per bit per m^n
  double path_loss_exponent = 2.0;         // n: 2 in free space, up to 4 with multipath
};
// Energy to send `bits` over `distance_m`, and to receive them.
double TransmitEnergyJ(const RadioModel& radio, double bits, double distance_m);
double ReceiveEnergyJ(const RadioModel& radio, double bits);

struct CpuModel {
  double active_power_w = 0.030;  // a wearable-class MCU while computing
  double slowdown = 100.0;        // MCU time = host time × slowdown (docs/energy_model.md)
};

// Host CPU seconds of each operation, measured with the real code (medians).
struct MeasuredCosts {
  double ntru_encapsulate_s = 0;    // one NTRU encapsulation (default parameter set)
  double session_seal_batch_s = 0;  // SessionSealer::SealBatch of one encoded batch (steady state)
  double session_start_s = 0;       // extra cost of a session's first batch (hybrid KEM + HKDF)
  double sign_s = 0;                // one Ed25519 signature of an upload header + digest
  double encode_batch_s = 0;        // wire::EncodeReadings of the batch (delta + varint + zstd)
  double upload_batch_s = 0;        // the whole batched upload: encode, seal, commit, sign
  double hybrid_seal_s = 0;         // a full hybrid sealed box of one encoded reading
  double upload_single_s = 0;       // the whole single-reading upload: encode, hybrid seal, sign
  int iterations = 0;
};

// Bytes on the air per message, from real envelopes.
struct MessageSizes {
  std::size_t readings_per_batch = 0;
  std::size_t batch_payload_bytes = 0;       // encoded (compressed) readings of one batch
  std::size_t batch_upload_bytes = 0;        // a steady-state batched upload, all overhead in
  std::size_t session_open_extra_bytes = 0;  // extra bytes of a session's first batch (KEM)
  std::size_t single_payload_bytes = 0;      // one reading encoded alone
  std::size_t single_upload_bytes = 0;       // header + hybrid sealed box + signature
};

struct HostMeasurement {
  MeasuredCosts costs;
  MessageSizes sizes;
};

// A realistic sample batch: `n` readings from the simulator (healthy profile, daytime).
std::vector<wire::Reading> SampleBatch(std::size_t n);

// Times the real operations on this host (`iterations` runs each, 1..1000, median kept) with
// fresh keys from `random`, and measures the envelope sizes for `batch` (1..100000 readings).
// kInvalidArgument for bad arguments; errors of the crypto and wire layers as is.
Result<HostMeasurement> MeasureOnThisHost(std::span<const wire::Reading> batch, Random& random,
                                          const Clock& clock, int iterations = 15);

struct EnergyScenario {
  double cloudlet_distance_m = 10;         // d1: the chosen cloudlet (a room or a ward away)
  double cloud_distance_m = 100;           // d2: the remote cloud's nearest access point
  std::size_t batches_per_session = 1000;  // as SessionSealerOptions
  std::size_t ack_bytes = 32;              // acknowledgement received per message
};

struct SettingEstimate {
  std::string label;
  double distance_m = 0;
  std::size_t readings_per_message = 0;
  double bytes_per_reading = 0;  // on the air, all overhead included
  // Joules per reading.
  double tx_j = 0;
  double rx_j = 0;
  double cpu_j = 0;
  double total_j = 0;
};

struct EnergyReport {
  RadioModel radio;
  CpuModel cpu;
  EnergyScenario scenario;
  HostMeasurement measured;
  SettingEstimate batched;         // (a)
  SettingEstimate direct;          // (b)
  double direct_over_batched = 0;  // how many times more energy (b) needs per reading
};

// Evaluates the model. Distances must be >= 0 and counts > 0 (a programming error otherwise).
EnergyReport EstimateEnergy(const RadioModel& radio, const CpuModel& cpu,
                            const EnergyScenario& scenario, const HostMeasurement& measured);

// A text table headed "MODEL ESTIMATE", with the constants, the measured CPU times and the
// per-reading energies of both settings.
std::string FormatEnergyReport(const EnergyReport& report);

// --- Cloudlet choice --------------------------------------------------------------------------

struct CloudletCandidate {
  std::string id;
  double distance_m = 0;
  double trust = 0;  // in [0, 1]
  bool certificate_valid = false;
};

struct CloudletChoice {
  std::string id;
  double distance_m = 0;
  double trust = 0;
  double energy_per_batch_j = 0;  // radio energy to send one batch there
};

// The eligible cloudlet (certificate valid, trust >= min_trust, finite non-negative distance)
// needing the least transmit energy for a message of `bits_per_message`; ties go to the higher
// trust, then the smaller id. kUnavailable if none is eligible, saying why each was excluded.
Result<CloudletChoice> ChooseCloudlet(std::span<const CloudletCandidate> candidates,
                                      const RadioModel& radio, double bits_per_message,
                                      double min_trust = 0.5);

}  // namespace medmesh::wearable
