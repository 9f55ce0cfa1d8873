#include "wearable/energy.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>

#include "core/check.h"
#include "crypto/hybrid_seal.h"
#include "crypto/ntru.h"
#include "crypto/session_seal.h"
#include "crypto/signing.h"
#include "wearable/simulator.h"
#include "wire/envelope.h"
#include "wire/readings_codec.h"

namespace medmesh::wearable {
namespace {

// Median host seconds of `iterations` runs of `op` (the median resists scheduler noise).
Result<double> TimeMedian(const Clock& clock, int iterations, const std::function<Status()>& op) {
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    const auto start = clock.Monotonic();
    MEDMESH_RETURN_IF_ERROR(op());
    samples.push_back(std::chrono::duration<double>(clock.Monotonic() - start).count());
  }
  std::nth_element(samples.begin(),
                   samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2),
                   samples.end());
  return samples[samples.size() / 2];
}

std::string Joules(double j) {
  char buf[32];
  if (j >= 1e-3) {
    std::snprintf(buf, sizeof buf, "%.3f mJ", j * 1e3);
  } else if (j >= 1e-6) {
    std::snprintf(buf, sizeof buf, "%.3f uJ", j * 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.3f nJ", j * 1e9);
  }
  return buf;
}

std::string Micros(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f us", s * 1e6);
  return buf;
}

}  // namespace

double TransmitEnergyJ(const RadioModel& radio, double bits, double distance_m) {
  return radio.e_elec_j_per_bit * bits +
         radio.eps_amp_j_per_bit_m_n * bits * std::pow(distance_m, radio.path_loss_exponent);
}

double ReceiveEnergyJ(const RadioModel& radio, double bits) {
  return radio.e_elec_j_per_bit * bits;
}

std::vector<wire::Reading> SampleBatch(std::size_t n) {
  SimulatorOptions options;
  options.profile = Profile::kHealthy;
  options.seed = 20'270'115;
  options.start_ms = 1'800'000'000'000 + std::int64_t{10} * 3'600'000;  // mid-morning UTC
  auto sim = Simulator::Create(options);
  MEDMESH_CHECK(sim.has_value(), "default simulator options are valid");
  std::vector<wire::Reading> out;
  while (out.size() < n) sim->Advance(sim->now_ms() + 60'000, out);
  out.resize(n);
  return out;
}

Result<HostMeasurement> MeasureOnThisHost(std::span<const wire::Reading> batch, Random& random,
                                          const Clock& clock, int iterations) {
  if (iterations < 1 || iterations > 1000) return InvalidArgument("iterations must be 1..1000");
  if (batch.empty() || batch.size() > wire::kMaxReadingsPerBatch) {
    return InvalidArgument("the sample batch must hold 1.." +
                           std::to_string(wire::kMaxReadingsPerBatch) + " readings");
  }
  HostMeasurement m;
  m.costs.iterations = iterations;
  m.sizes.readings_per_batch = batch.size();

  const crypto::HybridPrivateKey cloudlet = crypto::HybridPrivateKey::Generate(random);
  const auto device = crypto::NewEd25519Signer(crypto::SigningSecretKey::Generate(random));
  const auto kem = crypto::NewNtruKem(cloudlet.set());

  wire::UploadHeader header;
  header.content_type = wire::ContentType::kReadingsBatch;
  header.device_id = "energy-model-device";
  header.patient_id = "energy-model-patient";
  header.sequence = 1;
  header.batch_id = wire::NewBatchId(random);
  header.created_ms = batch.front().time_ms;

  // --- (a) the batched upload, session mode ---
  MEDMESH_ASSIGN_OR_RETURN(const Bytes payload, wire::EncodeReadings(batch));
  m.sizes.batch_payload_bytes = payload.size();
  crypto::SessionSealerOptions session_options;
  session_options.max_batches_per_session = 1'000'000;
  crypto::SessionSealer sealer(cloudlet.public_key(), random, clock, session_options);
  MEDMESH_ASSIGN_OR_RETURN(const Bytes first,
                           wire::SealUpload(header, payload, sealer, *device, random));
  MEDMESH_ASSIGN_OR_RETURN(const Bytes second,
                           wire::SealUpload(header, payload, sealer, *device, random));
  m.sizes.batch_upload_bytes = second.size();
  m.sizes.session_open_extra_bytes = first.size() - second.size();
  MEDMESH_ASSIGN_OR_RETURN(const wire::ParsedUpload parsed, wire::ParseUpload(second));
  const Bytes header_bytes(parsed.header_bytes.begin(), parsed.header_bytes.end());
  Bytes signed_part = header_bytes;
  signed_part.resize(header_bytes.size() + wire::kEnvelopeDigestBytes, 0x5a);

  MEDMESH_ASSIGN_OR_RETURN(
      m.costs.encode_batch_s, TimeMedian(clock, iterations, [&]() -> Status {
        return wire::EncodeReadings(batch).has_value() ? OkStatus() : Internal("encode failed");
      }));
  MEDMESH_ASSIGN_OR_RETURN(
      m.costs.session_seal_batch_s, TimeMedian(clock, iterations, [&]() -> Status {
        MEDMESH_ASSIGN_OR_RETURN(Bytes sealed, sealer.SealBatch(payload, header_bytes));
        return OkStatus();
      }));
  MEDMESH_ASSIGN_OR_RETURN(
      const double first_batch_s, TimeMedian(clock, iterations, [&]() -> Status {
        crypto::SessionSealer fresh(cloudlet.public_key(), random, clock, session_options);
        MEDMESH_ASSIGN_OR_RETURN(Bytes sealed, fresh.SealBatch(payload, header_bytes));
        return OkStatus();
      }));
  m.costs.session_start_s = std::max(0.0, first_batch_s - m.costs.session_seal_batch_s);
  MEDMESH_ASSIGN_OR_RETURN(m.costs.sign_s, TimeMedian(clock, iterations, [&]() -> Status {
                             return device->Sign(signed_part).size() ==
                                            crypto::Signer::kSignatureBytes
                                        ? OkStatus()
                                        : Internal("sign failed");
                           }));
  MEDMESH_ASSIGN_OR_RETURN(
      m.costs.ntru_encapsulate_s, TimeMedian(clock, iterations, [&]() -> Status {
        MEDMESH_ASSIGN_OR_RETURN(auto enc, kem->Encapsulate(cloudlet.public_key().ntru(), random));
        return OkStatus();
      }));
  MEDMESH_ASSIGN_OR_RETURN(m.costs.upload_batch_s, TimeMedian(clock, iterations, [&]() -> Status {
                             MEDMESH_ASSIGN_OR_RETURN(Bytes encoded, wire::EncodeReadings(batch));
                             MEDMESH_ASSIGN_OR_RETURN(
                                 Bytes upload,
                                 wire::SealUpload(header, encoded, sealer, *device, random));
                             return OkStatus();
                           }));

  // --- (b) one reading alone: full hybrid sealed box and a signature ---
  const auto hybrid = crypto::NewHybridSealer(cloudlet.public_key(), random);
  const std::span<const wire::Reading> one = batch.first(1);
  MEDMESH_ASSIGN_OR_RETURN(const Bytes single, wire::EncodeReadings(one));
  m.sizes.single_payload_bytes = single.size();
  // As in the upload envelope, a 16-byte commitment salt travels inside the seal.
  Bytes salted(wire::kCommitmentSaltBytes + single.size(), 0);
  std::copy(single.begin(), single.end(), salted.begin() + wire::kCommitmentSaltBytes);
  MEDMESH_ASSIGN_OR_RETURN(const Bytes box, hybrid->Seal(salted, header_bytes));
  m.sizes.single_upload_bytes = header_bytes.size() + box.size() + crypto::Signer::kSignatureBytes;
  MEDMESH_ASSIGN_OR_RETURN(m.costs.hybrid_seal_s, TimeMedian(clock, iterations, [&]() -> Status {
                             MEDMESH_ASSIGN_OR_RETURN(Bytes sealed,
                                                      hybrid->Seal(salted, header_bytes));
                             return OkStatus();
                           }));
  MEDMESH_ASSIGN_OR_RETURN(
      m.costs.upload_single_s, TimeMedian(clock, iterations, [&]() -> Status {
        MEDMESH_ASSIGN_OR_RETURN(Bytes encoded, wire::EncodeReadings(one));
        Bytes msg(wire::kCommitmentSaltBytes + encoded.size(), 0);
        std::copy(encoded.begin(), encoded.end(), msg.begin() + wire::kCommitmentSaltBytes);
        MEDMESH_ASSIGN_OR_RETURN(Bytes sealed, hybrid->Seal(msg, header_bytes));
        Bytes sig = device->Sign(signed_part);
        return OkStatus();
      }));
  return m;
}

EnergyReport EstimateEnergy(const RadioModel& radio, const CpuModel& cpu,
                            const EnergyScenario& scenario, const HostMeasurement& measured) {
  MEDMESH_CHECK(scenario.cloudlet_distance_m >= 0 && scenario.cloud_distance_m >= 0,
                "distances must be non-negative");
  MEDMESH_CHECK(scenario.batches_per_session > 0 && measured.sizes.readings_per_batch > 0,
                "counts must be positive");
  EnergyReport r;
  r.radio = radio;
  r.cpu = cpu;
  r.scenario = scenario;
  r.measured = measured;
  const MessageSizes& sz = measured.sizes;
  const MeasuredCosts& c = measured.costs;
  const double cpu_j_per_host_s = cpu.active_power_w * cpu.slowdown;
  const double ack_bits = 8.0 * static_cast<double>(scenario.ack_bytes);
  const auto per_session = static_cast<double>(scenario.batches_per_session);
  const auto n = static_cast<double>(sz.readings_per_batch);

  // (a) A steady-state batch, with the session's first-batch KEM (bytes and time) amortised.
  const double batch_bits = 8.0 * (static_cast<double>(sz.batch_upload_bytes) +
                                   static_cast<double>(sz.session_open_extra_bytes) / per_session);
  const double batch_cpu_s = c.upload_batch_s + c.session_start_s / per_session;
  r.batched.label = "batched -> cloudlet";
  r.batched.distance_m = scenario.cloudlet_distance_m;
  r.batched.readings_per_message = sz.readings_per_batch;
  r.batched.bytes_per_reading = batch_bits / 8.0 / n;
  r.batched.tx_j = TransmitEnergyJ(radio, batch_bits, scenario.cloudlet_distance_m) / n;
  r.batched.rx_j = ReceiveEnergyJ(radio, ack_bits) / n;
  r.batched.cpu_j = batch_cpu_s * cpu_j_per_host_s / n;
  r.batched.total_j = r.batched.tx_j + r.batched.rx_j + r.batched.cpu_j;

  // (b) Each reading alone, full hybrid seal and signature, straight to the cloud.
  const double single_bits = 8.0 * static_cast<double>(sz.single_upload_bytes);
  r.direct.label = "single -> cloud";
  r.direct.distance_m = scenario.cloud_distance_m;
  r.direct.readings_per_message = 1;
  r.direct.bytes_per_reading = static_cast<double>(sz.single_upload_bytes);
  r.direct.tx_j = TransmitEnergyJ(radio, single_bits, scenario.cloud_distance_m);
  r.direct.rx_j = ReceiveEnergyJ(radio, ack_bits);
  r.direct.cpu_j = c.upload_single_s * cpu_j_per_host_s;
  r.direct.total_j = r.direct.tx_j + r.direct.rx_j + r.direct.cpu_j;

  r.direct_over_batched = r.batched.total_j > 0 ? r.direct.total_j / r.batched.total_j
                                                : std::numeric_limits<double>::infinity();
  return r;
}

std::string FormatEnergyReport(const EnergyReport& r) {
  std::string out;
  char line[256];
  auto add = [&](const char* fmt, auto... args) {
    std::snprintf(line, sizeof line, fmt, args...);
    out += line;
  };
  out +=
      "MODEL ESTIMATE - energy per reading from the first-order radio model and CPU time\n"
      "measured on this host; not a measurement of a device's energy (docs/energy_model.md).\n\n";
  add("radio model: E_elec %g nJ/bit, eps_amp %g pJ/bit/m^%g, ack %zu bytes per message\n",
      r.radio.e_elec_j_per_bit * 1e9, r.radio.eps_amp_j_per_bit_m_n * 1e12,
      r.radio.path_loss_exponent, r.scenario.ack_bytes);
  add("cpu model:   %.0f mW active, host-to-MCU slowdown x%.0f\n", r.cpu.active_power_w * 1e3,
      r.cpu.slowdown);
  const MeasuredCosts& c = r.measured.costs;
  add("measured on this host (median of %d): NTRU encaps %s, session seal %s, session start %s,\n",
      c.iterations, Micros(c.ntru_encapsulate_s).c_str(), Micros(c.session_seal_batch_s).c_str(),
      Micros(c.session_start_s).c_str());
  add("  Ed25519 sign %s, encode batch %s, hybrid seal %s, batched upload %s, single upload %s\n\n",
      Micros(c.sign_s).c_str(), Micros(c.encode_batch_s).c_str(), Micros(c.hybrid_seal_s).c_str(),
      Micros(c.upload_batch_s).c_str(), Micros(c.upload_single_s).c_str());
  add("%-28s %20s %20s\n", "per reading", "(a) batched->cloudlet", "(b) single->cloud");
  add("%-28s %20.0f %20.0f\n", "distance (m)", r.batched.distance_m, r.direct.distance_m);
  add("%-28s %20zu %20zu\n", "readings per message", r.batched.readings_per_message,
      r.direct.readings_per_message);
  add("%-28s %20.2f %20.2f\n", "bytes on air per reading", r.batched.bytes_per_reading,
      r.direct.bytes_per_reading);
  add("%-28s %20s %20s\n", "radio transmit", Joules(r.batched.tx_j).c_str(),
      Joules(r.direct.tx_j).c_str());
  add("%-28s %20s %20s\n", "radio receive (ack)", Joules(r.batched.rx_j).c_str(),
      Joules(r.direct.rx_j).c_str());
  add("%-28s %20s %20s\n", "cpu (encode, seal, sign)", Joules(r.batched.cpu_j).c_str(),
      Joules(r.direct.cpu_j).c_str());
  add("%-28s %20s %20s\n", "total", Joules(r.batched.total_j).c_str(),
      Joules(r.direct.total_j).c_str());
  add("\n(b) needs %.0fx the energy of (a) per reading (MODEL ESTIMATE).\n", r.direct_over_batched);
  return out;
}

Result<CloudletChoice> ChooseCloudlet(std::span<const CloudletCandidate> candidates,
                                      const RadioModel& radio, double bits_per_message,
                                      double min_trust) {
  std::optional<CloudletChoice> best;
  std::string excluded;
  auto exclude = [&](const CloudletCandidate& c, const std::string& why) {
    excluded += (excluded.empty() ? "" : "; ") + c.id + ": " + why;
  };
  for (const CloudletCandidate& c : candidates) {
    if (!c.certificate_valid) {
      exclude(c, "certificate not valid");
      continue;
    }
    if (!(c.trust >= min_trust) || c.trust > 1.0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "trust %.2f below %.2f", c.trust, min_trust);
      exclude(c, c.trust > 1.0 ? "trust out of range" : buf);
      continue;
    }
    if (!std::isfinite(c.distance_m) || c.distance_m < 0) {
      exclude(c, "invalid distance");
      continue;
    }
    const CloudletChoice choice{c.id, c.distance_m, c.trust,
                                TransmitEnergyJ(radio, bits_per_message, c.distance_m)};
    const bool better =
        !best || choice.energy_per_batch_j < best->energy_per_batch_j ||
        (choice.energy_per_batch_j == best->energy_per_batch_j &&
         (choice.trust > best->trust || (choice.trust == best->trust && choice.id < best->id)));
    if (better) best = choice;
  }
  if (!best) {
    return Unavailable("no eligible cloudlet among " + std::to_string(candidates.size()) +
                       (excluded.empty() ? std::string() : " (" + excluded + ")"));
  }
  return *best;
}

}  // namespace medmesh::wearable
