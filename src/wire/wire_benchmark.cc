// Bytes per reading on the wire, and the speed of the readings codec and the upload envelope.
//
// First prints a size report (deterministic: the sample streams of internal/sample_readings.h,
// 1 reading per second for 60 s): the encoded payload per kind, then whole uploads with every
// byte of crypto overhead (header, session seal, salt, signature, and batch 0's KEM amortised
// over a session of 1000 batches). Then runs the Google Benchmark timings.
//   build/release/src/wire/wire_benchmark [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>

#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "wire/envelope.h"
#include "wire/internal/sample_readings.h"

namespace medmesh::wire {
namespace {

constexpr std::int64_t kStart = 1'800'000'000'000;
constexpr int kSeconds = 60;

struct Device {
  testing::DeterministicRandom random{1};
  testing::FakeClock clock;
  crypto::HybridPrivateKey cloudlet = crypto::HybridPrivateKey::Generate(random);
  crypto::SessionSealer sealer{cloudlet.public_key(), random, clock};
  crypto::SessionOpener opener{cloudlet.Clone(), clock};
  crypto::SigningSecretKey key = crypto::SigningSecretKey::Generate(random);
  std::unique_ptr<crypto::Signer> signer = crypto::NewEd25519Signer(key.Clone());
  Enrolment enrolment{.device_id = "wearable-0001",
                      .patient_id = "patient-0001",
                      .device_key = key.public_key(),
                      .cloudlet_id = "cloudlet-1",
                      .enrolled_at_ms = kStart};
  std::uint64_t sequence = 0;

  Bytes Upload(ByteView payload) {
    UploadHeader header{.content_type = ContentType::kReadingsBatch,
                        .device_id = enrolment.device_id,
                        .patient_id = enrolment.patient_id,
                        .sequence = sequence++,
                        .batch_id = NewBatchId(random),
                        .created_ms = kStart};
    return SealUpload(header, payload, sealer, *signer, random).value();
  }
};

// Upload size of a later batch of a session, plus batch 0's extra KEM bytes over 1000 batches.
double WireBytes(Device& device, ByteView payload) {
  const Bytes first = device.Upload(payload);
  const Bytes later = device.Upload(payload);
  return static_cast<double>(later.size()) +
         static_cast<double>(first.size() - later.size()) / 1000.0;
}

void PrintSizeReport() {
  Device device;
  std::printf("Bytes per reading, 1 reading/s for %d s (model: sample random walks)\n", kSeconds);
  std::printf("%-18s %9s %13s %15s %14s\n", "batch", "readings", "payload B", "payload B/rdg",
              "wire B/rdg");
  auto row = [&](const char* name, const std::vector<Reading>& readings) {
    const Bytes payload = EncodeReadings(readings).value();
    const auto n = static_cast<double>(readings.size());
    std::printf("%-18s %9zu %13zu %15.2f %14.2f\n", name, readings.size(), payload.size(),
                static_cast<double>(payload.size()) / n, WireBytes(device, payload) / n);
  };
  for (const VitalInfo& info : AllVitals()) {
    row(std::string(info.name).c_str(), sample::Stream(info.kind, kSeconds, kStart, 1));
  }
  row("all nine kinds", sample::AllKinds(kSeconds, kStart, 1));
  row("all kinds, 5 min", sample::AllKinds(5 * kSeconds, kStart, 1));
  std::printf(
      "wire = header + session seal (46 B) + salt (16 B) + signature (64 B) + payload,\n"
      "plus the session's KEM (batch 0) spread over 1000 batches.\n\n");
}

void EncodeReadingsSpeed(benchmark::State& state) {
  const std::vector<Reading> readings =
      sample::AllKinds(static_cast<int>(state.range(0)), kStart, 1);
  std::size_t bytes = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    Bytes encoded = EncodeReadings(readings).value();
    bytes = encoded.size();
    benchmark::DoNotOptimize(encoded);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(readings.size()));
  state.counters["payload_B_per_reading"] =
      static_cast<double>(bytes) / static_cast<double>(readings.size());
}
BENCHMARK(EncodeReadingsSpeed)->Arg(60)->Arg(300);

void DecodeReadingsSpeed(benchmark::State& state) {
  const std::vector<Reading> readings =
      sample::AllKinds(static_cast<int>(state.range(0)), kStart, 1);
  const Bytes encoded = EncodeReadings(readings).value();
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    auto decoded = DecodeReadings(encoded);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(readings.size()));
}
BENCHMARK(DecodeReadingsSpeed)->Arg(60)->Arg(300);

// Device side of one 60 s all-kinds batch: encode, seal, sign.
void SealReadingsUploadSpeed(benchmark::State& state) {
  Device device;
  const std::vector<Reading> readings = sample::AllKinds(kSeconds, kStart, 1);
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    Bytes upload = device.Upload(EncodeReadings(readings).value());
    benchmark::DoNotOptimize(upload);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(readings.size()));
}
BENCHMARK(SealReadingsUploadSpeed);

// Cloudlet side: parse, verify, open, decode (uploads sealed in advance, opened in order).
void OpenReadingsUploadSpeed(benchmark::State& state) {
  Device device;
  const std::vector<Reading> readings = sample::AllKinds(kSeconds, kStart, 1);
  const Bytes payload = EncodeReadings(readings).value();
  std::vector<Bytes> uploads;
  uploads.reserve(1000);
  for (int i = 0; i < 1000; ++i) uploads.push_back(device.Upload(payload));
  std::size_t next = 0;
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): benchmark idiom
    if (next == uploads.size()) {
      state.PauseTiming();
      device.sealer.Rekey();
      uploads.clear();
      for (int i = 0; i < 1000; ++i) uploads.push_back(device.Upload(payload));
      next = 0;
      state.ResumeTiming();
    }
    const ParsedUpload parsed = ParseUpload(uploads[next++]).value();
    OpenedUpload opened = OpenUpload(parsed, device.enrolment, device.opener).value();
    auto batch = ReadingBatchFromUpload(opened.header, opened.payload);
    benchmark::DoNotOptimize(batch);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(readings.size()));
}
BENCHMARK(OpenReadingsUploadSpeed);

}  // namespace
}  // namespace medmesh::wire

int main(int argc, char** argv) {
  medmesh::wire::PrintSizeReport();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
