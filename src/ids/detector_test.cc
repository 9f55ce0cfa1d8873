// Each detector against a scripted attack and a scripted benign sequence (time comes from the
// observations, so these are deterministic).
#include "ids/detector.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace medmesh::ids {
namespace {

using store::IdsEventKind;

constexpr std::int64_t kT0 = 1'800'000'000'000;

class Detectors {
 public:
  explicit Detectors(DetectorOptions options = {}) : detectors_(DefaultDetectors(options)) {}
  std::vector<Alert> Feed(const Observation& o) {
    std::vector<Alert> out;
    for (auto& d : detectors_) d->Observe(o, out);
    all_.insert(all_.end(), out.begin(), out.end());
    return out;
  }
  const std::vector<Alert>& all() const { return all_; }
  std::size_t Count(std::string_view detector) const {
    return static_cast<std::size_t>(std::count_if(
        all_.begin(), all_.end(), [&](const Alert& a) { return a.detector == detector; }));
  }

 private:
  std::vector<std::unique_ptr<Detector>> detectors_;
  std::vector<Alert> all_;
};

TEST(LeakyCountTest, FiresOnceThenRearmsAfterDecay) {
  LeakyCount c;
  const std::chrono::milliseconds h(60'000);
  int fired = 0;
  for (int i = 0; i < 50; ++i) fired += c.Add(1, kT0 + i, 10, h) ? 1 : 0;
  EXPECT_EQ(fired, 1);
  // Ten half-lives later the count is near zero: re-armed.
  fired = 0;
  for (int i = 0; i < 10; ++i) fired += c.Add(1, kT0 + 600'000 + i, 10, h) ? 1 : 0;
  EXPECT_EQ(fired, 1);
}

TEST(LeakyCountTest, ASlowSteadyRateNeverFires) {
  LeakyCount c;
  // One event a minute with a 5-minute half-life settles near 7.7 (< 10).
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(c.Add(1, kT0 + i * 60'000, 10, std::chrono::minutes(5)));
  }
}

TEST(KeyedCountsTest, BoundsItsKeys) {
  KeyedCounts k(2, std::chrono::minutes(1), 3);
  for (int i = 0; i < 5; ++i) k.Add("k" + std::to_string(i), 1, kT0);
  EXPECT_EQ(k.untracked(), 2u);
  // Once the old keys decayed, new ones are tracked again.
  k.Add("new", 1, kT0 + 3'600'000);
  EXPECT_EQ(k.untracked(), 2u);
}

TEST(CredentialDetectorTest, BruteForceFromOneSourceIsBlocked) {
  Detectors d;
  for (int i = 0; i < 30; ++i) {
    d.Feed(Observation::Event(kT0 + i * 1000, "203.0.113.5", IdsEventKind::kAuthFailure, {},
                              "acct-a"));
  }
  ASSERT_GE(d.Count("credentials"), 1u);
  const Alert& first = d.all().front();
  EXPECT_EQ(first.scope.Key(), "ip:203.0.113.5");
  EXPECT_EQ(first.action, Action::kBlock);
  EXPECT_EQ(first.detector_version, 2u);
}

TEST(CredentialDetectorTest, StuffingAcrossAccountsIsBlockedBeforeThePerSourceThreshold) {
  Detectors d;
  for (int i = 0; i < 5; ++i) {
    d.Feed(Observation::Event(kT0 + i * 1000, "203.0.113.6", IdsEventKind::kAuthFailure, {},
                              "acct-" + std::to_string(i)));
  }
  ASSERT_EQ(d.Count("credentials"), 1u);
  EXPECT_NE(d.all()[0].reason.find("stuffing"), std::string::npos);
}

TEST(CredentialDetectorTest, OneAccountAttackedFromManySourcesIsThrottledNotBlocked) {
  Detectors d;
  for (int i = 0; i < 25; ++i) {
    d.Feed(Observation::Event(kT0 + i * 1000, "198.51.100." + std::to_string(i),
                              IdsEventKind::kAuthFailure, {}, "victim"));
  }
  ASSERT_EQ(d.Count("credentials"), 1u);
  EXPECT_EQ(d.all()[0].scope.kind, ScopeKind::kAccount);
  EXPECT_EQ(d.all()[0].scope.value, "victim");
  EXPECT_EQ(d.all()[0].action, Action::kThrottle);
}

TEST(CredentialDetectorTest, PeopleMistypingNowAndThenAreNotFlagged) {
  Detectors d;
  // 50 users, each failing twice a day, some behind the same NAT address.
  for (int day = 0; day < 3; ++day) {
    for (int u = 0; u < 50; ++u) {
      const std::int64_t t = kT0 + day * 86'400'000LL + u * 600'000LL;
      const std::string peer = "10.0.0." + std::to_string(u % 10);
      d.Feed(Observation::Event(t, peer, IdsEventKind::kAuthFailure, {}, "u" + std::to_string(u)));
      d.Feed(Observation::Event(t + 20'000, peer, IdsEventKind::kAuthFailure, {},
                                "u" + std::to_string(u)));
    }
  }
  EXPECT_EQ(d.all().size(), 0u);
}

TEST(BatchDetectorTest, ForgedBatchesBlockTheSource) {
  Detectors d;
  for (int i = 0; i < 6; ++i) {
    d.Feed(
        Observation::Event(kT0 + i * 500, "192.0.2.50", IdsEventKind::kForgedSignature, "watch-1"));
  }
  ASSERT_EQ(d.Count("device_batches"), 1u);
  EXPECT_EQ(d.all()[0].scope.Key(), "ip:192.0.2.50");
  EXPECT_EQ(d.all()[0].action, Action::kBlock);
}

TEST(BatchDetectorTest, WithdrawnDeviceAndReplaysAreDetected) {
  Detectors withdrawn;
  for (int i = 0; i < 6; ++i) {
    withdrawn.Feed(
        Observation::Event(kT0 + i * 500, "192.0.2.51", IdsEventKind::kUnknownDevice, "old"));
  }
  EXPECT_EQ(withdrawn.Count("device_batches"), 1u);
  Detectors replay;
  for (int i = 0; i < 3; ++i) {
    replay.Feed(Observation::Event(kT0 + i * 500, "192.0.2.52", IdsEventKind::kReplay, "watch-2"));
  }
  ASSERT_EQ(replay.Count("device_batches"), 1u);
  // Signed by the device itself: an alert on the device, the source is not blocked for it.
  EXPECT_EQ(replay.all()[0].scope.Key(), "device:watch-2");
  EXPECT_EQ(replay.all()[0].action, Action::kAlertOnly);
}

TEST(BatchDetectorTest, ARestartsUnknownSessionsProduceNoAlert) {
  Detectors d;
  // 200 devices behind one gateway address, each with its first batch after a restart refused
  // as of an unknown session (then resealed), on three restarts.
  for (int restart = 0; restart < 3; ++restart) {
    for (int dev = 0; dev < 200; ++dev) {
      d.Feed(Observation::Event(kT0 + restart * 3'600'000LL + dev * 10, "10.1.0.1",
                                IdsEventKind::kUnknownSession, "watch-" + std::to_string(dev)));
    }
  }
  EXPECT_EQ(d.all().size(), 0u);
}

TEST(ProbingDetectorTest, ForeignIdsFromOneSourceAreBlocked) {
  Detectors d;
  for (int i = 0; i < 25; ++i) {
    d.Feed(Observation::Response(kT0 + i * 100, "198.51.100.77", i % 2 ? 403 : 404,
                                 "/api/v1/patients/{id}/readings", true));
  }
  ASSERT_EQ(d.Count("authz_probing"), 1u);
  EXPECT_EQ(d.all()[0].scope.Key(), "ip:198.51.100.77");
}

TEST(ProbingDetectorTest, OrdinaryMissesAndRouteLess404sAreNot) {
  Detectors d;
  for (int i = 0; i < 200; ++i) {
    // A browser's missing favicon and the like: no id in the route.
    d.Feed(Observation::Response(kT0 + i * 100, "198.51.100.78", 404, "unmatched"));
    // A user who clicks a stale link once every few minutes.
    if (i % 50 == 0) d.Feed(Observation::Response(kT0 + i * 100, "198.51.100.79", 404, "/x/{id}"));
  }
  EXPECT_EQ(d.all().size(), 0u);
}

TEST(FloodDetectorTest, ABurstFarAboveTheBaselineIsThrottled) {
  Detectors d;
  // A steady 5 requests/s for two minutes, then 2,000 in one second.
  for (int s = 0; s < 120; ++s) {
    for (int i = 0; i < 5; ++i)
      d.Feed(Observation::Response(kT0 + s * 1000 + i * 150, "192.0.2.9", 200, "/r"));
  }
  EXPECT_EQ(d.Count("request_flood"), 0u);
  for (int i = 0; i < 2000; ++i)
    d.Feed(Observation::Response(kT0 + 120'000 + i / 4, "192.0.2.9", 200, "/r"));
  ASSERT_EQ(d.Count("request_flood"), 1u);
  EXPECT_EQ(d.all()[0].action, Action::kThrottle);
}

TEST(FloodDetectorTest, ABusyButSteadyAuthenticatedSourceIsNot) {
  Detectors d;
  // A gateway of many devices: 600 requests/s every second for a minute.
  for (int s = 0; s < 60; ++s) {
    for (int i = 0; i < 600; ++i) {
      d.Feed(Observation::Response(kT0 + s * 1000 + i, "10.2.0.1", 200, "/api/v1/ingest", true));
    }
  }
  EXPECT_EQ(d.Count("request_flood"), 0u);
}

TEST(SlowConnectionDetectorTest, RepeatedTimeoutsBlockTheSource) {
  Detectors d;
  for (int i = 0; i < 10; ++i) {
    Observation o;
    o.source = Observation::Source::kTimeout;
    o.time_ms = kT0 + i * 1000;
    o.peer = "192.0.2.77";
    d.Feed(o);
  }
  EXPECT_EQ(d.Count("slow_connections"), 1u);
  Detectors occasional;
  for (int i = 0; i < 20; ++i) {
    occasional.Feed(
        Observation::Event(kT0 + i * 600'000LL, "192.0.2.78", IdsEventKind::kSlowClient));
  }
  EXPECT_EQ(occasional.all().size(), 0u);
}

TEST(PayloadDetectorTest, RepeatedHighScoresBlockOneHighScoreDoesNot) {
  Detectors d;
  const auto scored = [](std::int64_t t, std::string peer, double score) {
    Observation o;
    o.source = Observation::Source::kPayload;
    o.time_ms = t;
    o.peer = std::move(peer);
    o.payload_score = score;
    return o;
  };
  d.Feed(scored(kT0, "192.0.2.90", 0.99));
  for (int i = 0; i < 100; ++i) d.Feed(scored(kT0 + i * 1000, "192.0.2.91", 0.5));
  EXPECT_EQ(d.all().size(), 0u);
  for (int i = 0; i < 5; ++i) d.Feed(scored(kT0 + i * 1000, "192.0.2.92", 0.95));
  ASSERT_EQ(d.Count("payloads"), 1u);
  EXPECT_EQ(d.all()[0].scope.Key(), "ip:192.0.2.92");
}

TEST(IntegrityDetectorTest, TamperingIsAlwaysAnAlert) {
  Detectors d;
  d.Feed(Observation::Event(kT0, "", IdsEventKind::kTampering, "watch-3"));
  ASSERT_EQ(d.Count("integrity"), 1u);
  EXPECT_EQ(d.all()[0].scope.Key(), "device:watch-3");
  EXPECT_EQ(d.all()[0].action, Action::kAlertOnly);
}

}  // namespace
}  // namespace medmesh::ids
