#include "net/internal/connection_tracker.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "net/test_support.h"

namespace medmesh::net::internal {
namespace {

// A connection that records what the tracker asked of it.
class RecordingConnection final : public Connection {
 public:
  void Start() override {}
  void Drain() override { ++drained; }
  void Evict() override { ++evicted; }
  void Close() override { ++closed; }
  int drained = 0;
  int evicted = 0;
  int closed = 0;
};

class ConnectionTrackerTest : public ::testing::Test {
 protected:
  ConnectionTracker& Make(ConnectionLimits limits) {
    tracker_ = std::make_unique<ConnectionTracker>("test", limits, &metrics_);
    return *tracker_;
  }

  // A new connection, registered if the tracker takes it (kept alive by the test either way).
  std::shared_ptr<RecordingConnection> Open(const std::string& source, bool* added = nullptr,
                                            Connection::Phase phase = Connection::Phase::kBusy) {
    auto c = std::make_shared<RecordingConnection>();
    c->SetPhase(phase);
    const bool ok = tracker_->Add(c, source);
    if (added != nullptr) *added = ok;
    if (ok) live_.push_back(c);
    return c;
  }

  std::string Metric(const std::string& name) {
    const auto parsed = testing::ParseExposition(metrics_.Render());
    return testing::FindSample(parsed, name, {{"server", "test"}}).value_or("absent");
  }

  void TearDown() override {
    for (const auto& c : live_) tracker_->Remove(c.get());
  }

  MetricsRegistry metrics_;
  std::unique_ptr<ConnectionTracker> tracker_;
  std::vector<std::shared_ptr<RecordingConnection>> live_;
};

TEST_F(ConnectionTrackerTest, PerSourceCapRefusesWhenThatSourcesConnectionsAreAllBusy) {
  Make({.max_connections = 10, .max_per_source = 2, .max_per_authenticated_source = 4});
  bool added = false;
  Open("10.0.0.1", &added);
  ASSERT_TRUE(added);
  Open("10.0.0.1", &added);
  ASSERT_TRUE(added);
  Open("10.0.0.1", &added);
  EXPECT_FALSE(added);  // both busy: no room to make
  Open("10.0.0.2", &added);
  EXPECT_TRUE(added);  // another source is not affected
  EXPECT_EQ(Metric("medmesh_http_connections_rejected_total"), "1");
}

TEST_F(ConnectionTrackerTest, PerSourceCapEvictsThatSourcesIdleConnectionFirst) {
  Make({.max_connections = 10, .max_per_source = 2});
  auto other = Open("10.0.0.9", nullptr, Connection::Phase::kIdle);
  auto waiting = Open("10.0.0.1", nullptr, Connection::Phase::kAwaitingHead);
  auto idle = Open("10.0.0.1", nullptr, Connection::Phase::kIdle);
  bool added = false;
  Open("10.0.0.1", &added);
  EXPECT_TRUE(added);
  EXPECT_EQ(idle->evicted, 1);     // idle keep-alive goes before a head in progress
  EXPECT_EQ(waiting->evicted, 0);  // even though it is older
  EXPECT_EQ(other->evicted, 0);    // never another source's
  Open("10.0.0.1", &added);
  EXPECT_TRUE(added);
  EXPECT_EQ(waiting->evicted, 1);
  EXPECT_EQ(Metric("medmesh_http_connections_evicted_total"), "2");
}

TEST_F(ConnectionTrackerTest, ReservedSlotsAreForAuthenticatedSourcesOnly) {
  Make({.max_connections = 3,
        .reserved_connections = 1,
        .max_per_source = 3,
        .max_per_authenticated_source = 3});
  // 10.0.0.7 proves itself once; the connection then goes away.
  auto login = Open("10.0.0.7");
  tracker_->MarkAuthenticated(login.get());
  tracker_->Remove(login.get());
  live_.clear();
  EXPECT_TRUE(tracker_->IsAuthenticatedSource("10.0.0.7"));

  bool added = false;
  Open("10.0.0.1", &added);
  ASSERT_TRUE(added);
  Open("10.0.0.2", &added);
  ASSERT_TRUE(added);
  Open("10.0.0.3", &added);
  EXPECT_FALSE(added);  // the last slot is reserved, and everyone is busy
  Open("10.0.0.7", &added);
  EXPECT_TRUE(added);  // a source that authenticated before gets it
  Open("10.0.0.7", &added);
  EXPECT_FALSE(added);  // full now, and nothing to evict
}

TEST_F(ConnectionTrackerTest, WhenFullUnauthenticatedNewcomersEvictOnlyUnauthenticatedWaiters) {
  Make({.max_connections = 2, .reserved_connections = 0});
  auto trusted = Open("10.0.0.7", nullptr, Connection::Phase::kIdle);
  tracker_->MarkAuthenticated(trusted.get());
  auto slow = Open("10.0.0.1", nullptr, Connection::Phase::kAwaitingHead);
  bool added = false;
  Open("10.0.0.2", &added);  // evicts the slow head, not the authenticated idle connection
  EXPECT_TRUE(added);
  EXPECT_EQ(slow->evicted, 1);
  EXPECT_EQ(trusted->evicted, 0);
  Open("10.0.0.3", &added);  // only busy unauthenticated ones are left
  EXPECT_FALSE(added);
  Open("10.0.0.7", &added);  // an authenticated newcomer may evict an authenticated idler
  EXPECT_TRUE(added);
  EXPECT_EQ(trusted->evicted, 1);
}

TEST_F(ConnectionTrackerTest, AuthenticatedSourcesHaveTheirOwnPerSourceCap) {
  Make({.max_connections = 10, .max_per_source = 1, .max_per_authenticated_source = 3});
  auto first = Open("10.0.0.7");
  tracker_->MarkAuthenticated(first.get());
  bool added = false;
  Open("10.0.0.7", &added);
  EXPECT_TRUE(added);
  Open("10.0.0.7", &added);
  EXPECT_TRUE(added);
  Open("10.0.0.7", &added);
  EXPECT_FALSE(added);
}

TEST_F(ConnectionTrackerTest, TheAuthenticatedSetForgetsTheLeastRecentSource) {
  Make({.max_connections = 10, .authenticated_sources_remembered = 2});
  for (const char* source : {"10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"}) {
    auto c = Open(source);
    tracker_->MarkAuthenticated(c.get());
  }
  EXPECT_TRUE(tracker_->IsAuthenticatedSource("10.0.0.1"));  // marked again: recent
  EXPECT_FALSE(tracker_->IsAuthenticatedSource("10.0.0.2"));
  EXPECT_TRUE(tracker_->IsAuthenticatedSource("10.0.0.3"));
}

TEST_F(ConnectionTrackerTest, PressureFollowsTheCountedConnections) {
  Make({.max_connections = 4, .pressure_threshold = 2});
  Open("10.0.0.1");
  EXPECT_FALSE(tracker_->under_pressure());
  Open("10.0.0.2");
  EXPECT_TRUE(tracker_->under_pressure());
}

}  // namespace
}  // namespace medmesh::net::internal
