#include "net/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "net/test_support.h"

namespace medmesh::net {
namespace {

using testing::FindSample;
using testing::ParseExposition;

TEST(MetricsTest, CounterAndGaugeKeepTheirValues) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("jobs_total", "Jobs.").WithLabels({});
  c.Increment();
  c.Increment(41);
  EXPECT_EQ(c.Value(), 42.0);
  Gauge& g = registry.AddGauge("queue_depth", "Depth.").WithLabels({});
  g.Set(3.5);
  g.Decrement(1.25);
  EXPECT_DOUBLE_EQ(g.Value(), 2.25);
  g.Increment(0.75);
  EXPECT_DOUBLE_EQ(g.Value(), 3.0);
}

TEST(MetricsTest, RendersTheExactTextFormat) {
  MetricsRegistry registry;
  registry.AddCounter("b_total", "Second family.", {"kind"}).WithLabels({"y"}).Increment(2);
  registry.AddCounter("b_total", "Second family.", {"kind"}).WithLabels({"x"}).Increment(7);
  registry.AddGauge("a_gauge", "First family.").WithLabels({}).Set(0.5);
  HistogramFamily& h = registry.AddHistogram("c_seconds", "Latency.", {}, {0.1, 1});
  h.WithLabels({}).Observe(0.05);
  h.WithLabels({}).Observe(0.1);  // "le" is inclusive
  h.WithLabels({}).Observe(3);
  // Families sorted by name, series by label values (whatever order they were created in).
  EXPECT_EQ(registry.Render(),
            "# HELP a_gauge First family.\n"
            "# TYPE a_gauge gauge\n"
            "a_gauge 0.5\n"
            "# HELP b_total Second family.\n"
            "# TYPE b_total counter\n"
            "b_total{kind=\"x\"} 7\n"
            "b_total{kind=\"y\"} 2\n"
            "# HELP c_seconds Latency.\n"
            "# TYPE c_seconds histogram\n"
            "c_seconds_count 3\n"
            "c_seconds_sum 3.15\n"
            "c_seconds_bucket{le=\"0.1\"} 2\n"
            "c_seconds_bucket{le=\"1\"} 2\n"
            "c_seconds_bucket{le=\"+Inf\"} 3\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelpAndParsesBack) {
  MetricsRegistry registry;
  const std::string nasty = "a\"b\\c\nd}e,f=g";
  registry.AddCounter("odd_total", "Help with \\ and\nnewline and \"quotes\".", {"v"})
      .WithLabels({nasty})
      .Increment(3);
  const std::string text = registry.Render();
  EXPECT_NE(text.find(R"(odd_total{v="a\"b\\c\nd}e,f=g"} 3)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(# HELP odd_total Help with \\ and\nnewline and "quotes".)"),
            std::string::npos)
      << text;

  const testing::Exposition parsed = ParseExposition(text);
  EXPECT_TRUE(parsed.errors.empty());
  EXPECT_EQ(FindSample(parsed, "odd_total", {{"v", nasty}}), "3");
  EXPECT_EQ(parsed.help.at("odd_total"), "Help with \\ and\nnewline and \"quotes\".");
  EXPECT_EQ(parsed.type.at("odd_total"), "counter");
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  MetricsRegistry registry;
  Histogram& h =
      registry.AddHistogram("size_bytes", "Sizes.", {"route"}, {10, 100, 1000}).WithLabels({"/x"});
  for (double v : {1.0, 10.0, 11.0, 500.0, 5000.0, 7000.0}) h.Observe(v);

  const testing::Exposition parsed = ParseExposition(registry.Render());
  ASSERT_TRUE(parsed.errors.empty());
  EXPECT_EQ(FindSample(parsed, "size_bytes_bucket", {{"route", "/x"}, {"le", "10"}}), "2");
  EXPECT_EQ(FindSample(parsed, "size_bytes_bucket", {{"route", "/x"}, {"le", "100"}}), "3");
  EXPECT_EQ(FindSample(parsed, "size_bytes_bucket", {{"route", "/x"}, {"le", "1000"}}), "4");
  EXPECT_EQ(FindSample(parsed, "size_bytes_bucket", {{"route", "/x"}, {"le", "+Inf"}}), "6");
  EXPECT_EQ(FindSample(parsed, "size_bytes_count", {{"route", "/x"}}), "6");
  EXPECT_EQ(FindSample(parsed, "size_bytes_sum", {{"route", "/x"}}), "12522");
}

TEST(MetricsTest, SpecialGaugeValuesUsePrometheusSpelling) {
  MetricsRegistry registry;
  GaugeFamily& g = registry.AddGauge("g", "", {"k"});
  g.WithLabels({"inf"}).Set(std::numeric_limits<double>::infinity());
  g.WithLabels({"ninf"}).Set(-std::numeric_limits<double>::infinity());
  g.WithLabels({"nan"}).Set(std::nan(""));
  const testing::Exposition parsed = ParseExposition(registry.Render());
  EXPECT_EQ(FindSample(parsed, "g", {{"k", "inf"}}), "+Inf");
  EXPECT_EQ(FindSample(parsed, "g", {{"k", "ninf"}}), "-Inf");
  // prometheus-cpp spells it "Nan"; Prometheus reads NaN in any letter case.
  const auto nan = FindSample(parsed, "g", {{"k", "nan"}});
  ASSERT_TRUE(nan);
  EXPECT_TRUE(std::isnan(std::strtod(nan->c_str(), nullptr))) << *nan;
}

TEST(MetricsTest, LargeCountsStayExactUpTo2To53) {
  MetricsRegistry registry;
  Counter& c = registry.AddCounter("bytes_total", "Bytes.").WithLabels({});
  c.Increment(static_cast<double>(std::uint64_t{1} << 40));
  c.Increment(1);
  const testing::Exposition parsed = ParseExposition(registry.Render());
  const auto value = FindSample(parsed, "bytes_total", {});
  ASSERT_TRUE(value);
  EXPECT_EQ(std::stod(*value), static_cast<double>((std::uint64_t{1} << 40) + 1)) << *value;
}

TEST(MetricsTest, ReRegisteringReturnsTheSameFamily) {
  MetricsRegistry registry;
  CounterFamily& a = registry.AddCounter("x_total", "X.", {"k"});
  CounterFamily& b = registry.AddCounter("x_total", "X again.", {"k"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.WithLabels({"v"}), &b.WithLabels({"v"}));
}

TEST(MetricsTest, ConcurrentUpdatesAreNotLost) {
  MetricsRegistry registry;
  CounterFamily& counters = registry.AddCounter("hits_total", "Hits.", {"thread_group"});
  HistogramFamily& histograms = registry.AddHistogram("lat_seconds", "L.", {}, {0.5});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        counters.WithLabels({t % 2 == 0 ? "even" : "odd"}).Increment();
        histograms.WithLabels({}).Observe(1.0);
        if (i % 1000 == 0) (void)registry.Render();  // rendering races with updates
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(counters.WithLabels({"even"}).Value() + counters.WithLabels({"odd"}).Value(),
            kThreads * kPerThread * 1.0);
  const testing::Exposition parsed = ParseExposition(registry.Render());
  EXPECT_EQ(FindSample(parsed, "lat_seconds_count", {}), std::to_string(kThreads * kPerThread));
  EXPECT_EQ(FindSample(parsed, "lat_seconds_bucket", {{"le", "+Inf"}}),
            std::to_string(kThreads * kPerThread));
  EXPECT_EQ(FindSample(parsed, "lat_seconds_sum", {}), std::to_string(kThreads * kPerThread));
}

TEST(MetricsDeathTest, ProgrammingErrorsAbort) {
  MetricsRegistry registry;
  EXPECT_DEATH(registry.AddCounter("bad-name", ""), "invalid metric name");
  EXPECT_DEATH(registry.AddCounter("ok_total", "", {"0bad"}), "invalid label name");
  EXPECT_DEATH(registry.AddCounter("ok_total", "", {"__reserved"}), "reserved");
  EXPECT_DEATH(registry.AddHistogram("h", "", {"le"}), "reserved in histograms");
  EXPECT_DEATH(registry.AddHistogram("h", "", {}, {1, 1}), "strictly increasing");
  EXPECT_DEATH(registry.AddHistogram("h", "", {}, {1, std::numeric_limits<double>::infinity()}),
               "finite");
  registry.AddCounter("dup_total", "", {"a"});
  EXPECT_DEATH(registry.AddGauge("dup_total", "", {"a"}), "registered again");
  EXPECT_DEATH(registry.AddCounter("dup_total", "", {"b"}), "registered again");
  EXPECT_DEATH(registry.AddCounter("dup_total", "", {"a"}).WithLabels({"x", "y"}),
               "wrong number of label values");
}

}  // namespace
}  // namespace medmesh::net
