// Prometheus metrics: counters, gauges and histograms with labels, kept by prometheus-cpp
// (the Debian package prometheus-cpp-dev, core library only) and rendered in the text
// exposition format 0.0.4 by its TextSerializer (served at /metrics, see builtin_endpoints.h).
// This header adds what the library leaves to its callers: label values given by position,
// names checked once at registration, and a deterministic rendering order.
//
//   MetricsRegistry registry;
//   CounterFamily& uploads = registry.AddCounter("medmesh_uploads_total", "Batches received.",
//                                                {"result"});
//   uploads.WithLabels({"accepted"}).Increment();
//
// Names are program constants: an invalid metric or label name, a label count that does not
// match the family, or re-registering a name with another type, labels or buckets aborts
// (MEDMESH_CHECK). Label values are arbitrary text and are escaped when rendered.
// WARNING: every distinct label value creates a series that lives as long as the registry;
// never use unbounded values (ids, raw paths, IP addresses) as labels.
// WARNING: values are doubles (as in Prometheus): counts above 2^53 lose precision, and a NaN
// observed into a histogram makes its sum NaN. Observe durations and sizes only.
//
// Thread safety: everything is thread-safe. Counter and gauge updates are lock-free atomics;
// a histogram observation and WithLabels() take a short per-series / per-family mutex (inside
// prometheus-cpp); Render() reads each series consistently but not all series at one instant
// (as Prometheus clients usually do).
// Ownership: families and series are owned by the registry; the references returned stay
// valid for the registry's lifetime, so hot paths may keep them.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace medmesh::net {

// A monotonically increasing count: Increment(), Increment(double n >= 0), Value().
using Counter = prometheus::Counter;
// A value that goes up and down: Set(), Increment(d), Decrement(d), Value().
using Gauge = prometheus::Gauge;
// Observations counted into buckets with fixed upper bounds ("le", inclusive), plus their sum
// and count: Observe(v).
using Histogram = prometheus::Histogram;

// Request latency buckets in seconds, 1 ms to 10 s.
std::vector<double> DefaultLatencyBuckets();

// All series of one metric, one per combination of label values. T is Counter, Gauge or
// Histogram (explicitly instantiated in metrics.cc).
template <typename T>
class Family {
 public:
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // The series for these label values, in label_names() order; created on first use. Builds
  // a label map and looks it up under the family's mutex (a counter and a histogram lookup
  // per HTTP request cost about 0.5 us together, against 0.13 us with the hand-written
  // registry): hot paths with fixed labels keep the reference instead.
  T& WithLabels(std::initializer_list<std::string_view> values);

  const std::string& name() const { return name_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& buckets() const { return buckets_; }  // histograms only

 private:
  friend class MetricsRegistry;
  Family(prometheus::Family<T>& family, std::string name, std::vector<std::string> label_names,
         std::vector<double> buckets);

  prometheus::Family<T>& family_;  // owned by the registry's prometheus::Registry
  std::string name_;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;
extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class MetricsRegistry {
 public:
  // Content-Type of Render()'s output.
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registers a family, or returns the existing one if `name` was registered with the same
  // type and labels (and buckets; the help text of the first registration stays). Metric names
  // match [a-zA-Z_:][a-zA-Z0-9_:]*; label names match [a-zA-Z_][a-zA-Z0-9_]*, do not start
  // with "__", and histograms may not use "le". Histogram bounds are finite and strictly
  // increasing; the +Inf bucket is implicit.
  CounterFamily& AddCounter(std::string name, std::string_view help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string_view help,
                        std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(std::string name, std::string_view help,
                                std::vector<std::string> label_names,
                                std::vector<double> buckets = DefaultLatencyBuckets());

  // Every family in the text exposition format 0.0.4 (prometheus::TextSerializer), families
  // sorted by name and series by label values, so that two renderings of the same values
  // are the same text.
  std::string Render() const;

 private:
  template <typename T>
  Family<T>& Add(std::string name, std::string_view help, std::vector<std::string> label_names,
                 std::vector<double> buckets);

  prometheus::Registry registry_;
  std::mutex mu_;  // guards families_
  std::map<std::string,
           std::variant<std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>,
                        std::unique_ptr<HistogramFamily>>,
           std::less<>>
      families_;
};

}  // namespace medmesh::net
