// What a patient's own readings cost at the service (my_data_service.h), without HTTP, token
// checks or the durable audit log (a null sink): a day and a year of one patient's readings
// from the roll-ups (ADR 0021), against a year seeded with SeedReadings (one reading of three
// kinds per minute, hourly batches) on SQLite; and what one forwarded hourly batch costs to
// store with its roll-ups. Not run by tests; `build/<preset>/src/cloud/my_data_benchmark`
// (the seeding time is printed first).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cloud/my_data_seed.h"
#include "cloud/my_data_service.h"
#include "cloud/sqlite_clinical_store.h"
#include "cloud/sqlite_intake_store.h"
#include "cloud/test_cloudlet.h"
#include "core/check.h"
#include "crypto/keyed_hash.h"
#include "net/metrics.h"
#include "node/test_support.h"
#include "store/ids_event_log.h"
#include "store/sqlite/sqlite_record_store.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"

namespace medmesh::cloud {
namespace {

using accounts::Principal;
using accounts::Role;

constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kYearStart = 1'761'955'200'000;  // 2025-11-01T00:00:00Z

class NullAuditSink final : public audit::AuditSink {
 public:
  Status Append(const audit::AuditEntry&) override { return OkStatus(); }
};

class NoCopies final : public CloudletCopySource {
 public:
  Result<Bytes> FetchCopy(std::string_view, const ItemRef&) override {
    return NotFound("no copies");
  }
};

template <typename T>
T Must(Result<T> r, const char* what) {
  MEDMESH_CHECK(r.has_value(), what);
  return std::move(*r);
}

// One cloud's stores with one patient holding a year of readings.
struct World {
  World() {
    deployment.emplace(dir.path() / "pki");
    root = deployment->Root();
    cloud = std::make_unique<node::NodeIdentity>(
        Must(deployment->Identity(wire::CertificateRole::kCloud, "cloud"), "cloud identity"));
    cloudlet = std::make_unique<testing::TestCloudlet>(
        Must(deployment->Identity(wire::CertificateRole::kCloudlet, "cloudlet-1"), "cloudlet"),
        "watch-1", "patient-1", random, clock);
    record_store = Must(store::SqliteRecordStore::Open(dir.path() / "records.db"), "records");
    medmesh::testing::DeterministicRandom key_random(3);
    SecretBytes index(kThreePartSecretBytes);
    SecretBytes pseudonym(kThreePartSecretBytes);
    key_random.Fill(index.mutable_bytes());
    key_random.Fill(pseudonym.mutable_bytes());
    three = Must(ThreePartStore::Create(*record_store,
                                        {crypto::KeyEncryptionKey::Generate(key_random),
                                         crypto::KeyEncryptionKey::Generate(key_random),
                                         crypto::KeyEncryptionKey::Generate(key_random),
                                         std::move(index), std::move(pseudonym)},
                                        random, clock),
                 "three-part store");
    intake = Must(SqliteIntakeStore::Open(dir.File("intake.db")), "intake");
    clinical_store = Must(SqliteClinicalStore::Open(dir.File("clinical.db")), "clinical");
    ids = Must(store::IdsEventLog::Open(dir.File("ids.db")), "ids");
    opener = crypto::NewHybridOpener(cloud->kem_key.Clone());
    SecretBytes refs(32);
    random.Fill(refs.mutable_bytes());
    forward = std::make_unique<ForwardIntake>(
        ForwardIntakeContext{"cloud", *root, *opener, *three, *intake, *ids, clock, metrics},
        Must(crypto::HashKey::Derive(refs, "bench", "references"), "refs key"));
    integrity = std::make_unique<IntegrityService>(IntegrityServiceContext{
        *three, *intake, *forward, *root, *opener, copies, audit, clock, random});
    ClinicalHooks hooks;
    hooks.is_approved_doctor = [](std::string_view) -> Result<bool> { return false; };
    hooks.cloudlets_of_patient = [this](std::string_view p) {
      return intake->CloudletsOfPatient(p);
    };
    clinical = Must(
        ClinicalService::Create(*clinical_store, *three, three->envelope(store::RecordPart::kEi),
                                audit, clock, random, std::move(hooks)),
        "clinical");
    service = std::make_unique<MyDataService>(
        MyDataContext{*three, *intake, *clinical, *integrity, audit, clock});
    static_cast<void>(forward->RegisterCloudlet(cloudlet->certificate(), "10.0.0.1"));
    static_cast<void>(forward->AddEnrolment(cloudlet->EnrolmentRecord(), "10.0.0.1"));
    const Principal patient{"acc_p", Role::kPatient, "patient-1", "", "s", 0, false};
    const Principal op{"acc_o", Role::kOperator, "", "cloudlet-1", "s", 0, false};
    auto asked = Must(clinical->RequestActivation(patient, "cloudlet-1", "b"), "activation");
    Must(clinical->DecideActivation(op, asked.activation_id, true, "", "b"), "decision");

    const auto started = std::chrono::steady_clock::now();
    const SeedDevice device{"watch-1", "patient-1", "cloudlet-1", cloudlet->device_key()};
    const std::uint64_t batches =
        Must(SeedReadings(*forward, *three, *intake, device,
                          {.from_ms = kYearStart, .to_ms = kYearStart + 365 * kDay}, random, clock),
             "seed");
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::fprintf(stderr, "seeded %llu hourly batches (a year, 3 kinds per minute) in %.1f s\n",
                 static_cast<unsigned long long>(batches), seconds);
  }

  medmesh::testing::TempDir dir;
  SystemClock clock;
  SystemRandom random;
  std::optional<node::testing::TestDeployment> deployment;
  std::optional<node::RootOfTrust> root;
  std::unique_ptr<node::NodeIdentity> cloud;
  std::unique_ptr<testing::TestCloudlet> cloudlet;
  std::unique_ptr<store::RecordStore> record_store;
  std::unique_ptr<ThreePartStore> three;
  std::unique_ptr<IntakeStore> intake;
  std::unique_ptr<ClinicalStore> clinical_store;
  std::unique_ptr<store::IdsEventLog> ids;
  std::unique_ptr<crypto::HybridOpener> opener;
  net::MetricsRegistry metrics;
  std::unique_ptr<ForwardIntake> forward;
  NullAuditSink audit;
  NoCopies copies;
  std::unique_ptr<IntegrityService> integrity;
  std::unique_ptr<ClinicalService> clinical;
  std::unique_ptr<MyDataService> service;
};

World& TheWorld() {
  static World* world = new World();  // lives until exit: the benchmarks share it
  return *world;
}

void ReadRange(benchmark::State& state, std::int64_t from, std::int64_t to) {
  World& w = TheWorld();
  const Principal patient{"acc_p", Role::kPatient, "patient-1", "", "s", 0, false};
  std::uint64_t count = 0;
  for (auto _ : state) {
    auto s = w.service->Readings(patient, {wire::VitalKind::kHeartRate, from, to, 300}, "b");
    MEDMESH_CHECK(s.has_value(), "readings");
    count = s->count;
    benchmark::DoNotOptimize(s->buckets.data());
  }
  state.counters["readings"] = static_cast<double>(count);
}

void BM_ReadingsDay(benchmark::State& state) {
  ReadRange(state, kYearStart + 200 * kDay, kYearStart + 201 * kDay);
}
void BM_ReadingsWeek(benchmark::State& state) {
  ReadRange(state, kYearStart + 200 * kDay, kYearStart + 207 * kDay);
}
void BM_ReadingsMonth(benchmark::State& state) {
  ReadRange(state, kYearStart + 200 * kDay, kYearStart + 230 * kDay);
}
void BM_ReadingsYear(benchmark::State& state) {
  ReadRange(state, kYearStart, kYearStart + 365 * kDay);
}
BENCHMARK(BM_ReadingsDay)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ReadingsWeek)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ReadingsMonth)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ReadingsYear)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ReadingsDay)->Unit(benchmark::kMicrosecond)->Threads(8)->UseRealTime();
BENCHMARK(BM_ReadingsYear)->Unit(benchmark::kMicrosecond)->Threads(8)->UseRealTime();

// 64 sessions in a closed loop (each asks again as soon as it is answered) served by 2 worker
// threads, as the cloud's 2 I/O threads serve requests on this 2-core machine: p50 and p99 of
// the time from a request's issue to its answer, queueing included (HTTP, token checks and the
// durable audit log are not in it).
void Concurrent(benchmark::State& state, std::int64_t from, std::int64_t to) {
  World& w = TheWorld();
  constexpr int kSessions = 64;
  constexpr int kWorkers = 2;
  constexpr std::size_t kCalls = 4000;
  using Clock = std::chrono::steady_clock;
  for (auto _ : state) {
    std::mutex mu;
    std::condition_variable cv;
    std::deque<Clock::time_point> queue(kSessions, Clock::now());
    std::vector<double> latencies;
    latencies.reserve(kCalls);
    std::vector<std::thread> workers;
    for (int t = 0; t < kWorkers; ++t) {
      workers.emplace_back([&] {
        const Principal patient{"acc_p", Role::kPatient, "patient-1", "", "s", 0, false};
        for (;;) {
          Clock::time_point issued;
          {
            std::unique_lock lock(mu);
            cv.wait(lock, [&] { return !queue.empty() || latencies.size() >= kCalls; });
            if (latencies.size() >= kCalls) return;
            issued = queue.front();
            queue.pop_front();
          }
          auto s = w.service->Readings(patient, {wire::VitalKind::kHeartRate, from, to, 300}, "b");
          MEDMESH_CHECK(s.has_value(), "readings");
          const Clock::time_point done = Clock::now();
          std::lock_guard lock(mu);
          latencies.push_back(std::chrono::duration<double, std::milli>(done - issued).count());
          queue.push_back(done);  // the session asks again
          cv.notify_all();
        }
      });
    }
    for (auto& t : workers) t.join();
    std::sort(latencies.begin(), latencies.end());
    state.counters["p50_ms"] = latencies[latencies.size() / 2];
    state.counters["p99_ms"] = latencies[latencies.size() * 99 / 100];
  }
}
void BM_ReadingsDay64(benchmark::State& state) {
  Concurrent(state, kYearStart + 200 * kDay, kYearStart + 201 * kDay);
}
void BM_ReadingsYear64(benchmark::State& state) {
  Concurrent(state, kYearStart, kYearStart + 365 * kDay);
}
BENCHMARK(BM_ReadingsDay64)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ReadingsYear64)->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

// One hourly batch (3 kinds per minute) stored with its roll-ups, through SeedReadings (sealing
// and opening the upload included, as the forward's own checks would be).
void BM_StoreHourlyBatch(benchmark::State& state) {
  World& w = TheWorld();
  const SeedDevice device{"watch-1", "patient-1", "cloudlet-1", w.cloudlet->device_key()};
  std::int64_t start = kYearStart + 400 * kDay;
  for (auto _ : state) {
    auto n = SeedReadings(*w.forward, *w.three, *w.intake, device,
                          {.from_ms = start, .to_ms = start + 3'600'000}, w.random, w.clock);
    MEDMESH_CHECK(n.has_value(), "store");
    start += 3'600'000;
  }
}
BENCHMARK(BM_StoreHourlyBatch)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace medmesh::cloud

BENCHMARK_MAIN();
