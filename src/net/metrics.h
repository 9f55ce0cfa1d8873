// A small Prometheus metrics registry: counters, gauges and histograms with labels, rendered
// in the Prometheus text exposition format 0.0.4 (served at /metrics, see
// builtin_endpoints.h).
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
//
// Thread safety: everything is thread-safe. Updates are lock-free atomics; WithLabels() takes a
// shared lock (exclusive only when it creates a series); Render() reads each value atomically
// but not all values at one instant (as Prometheus clients usually do).
// Ownership: families and series are owned by the registry; the references returned stay
// valid for the registry's lifetime, so hot paths may keep them.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace medmesh::net {

// A monotonically increasing count.
class Counter {
 public:
  void Increment(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into buckets with fixed upper bounds (seconds, bytes, ...).
class Histogram {
 public:
  // `upper_bounds`: strictly increasing and finite; the +Inf bucket is implicit.
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);

  const std::vector<double>& upper_bounds() const { return upper_bounds_; }
  // Cumulative counts per bound, then the +Inf bucket (== count()).
  std::vector<std::uint64_t> CumulativeCounts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bucket, not cumulative
  std::atomic<double> sum_{0.0};
  std::atomic<std::uint64_t> count_{0};
};

// Request latency buckets in seconds, 1 ms to 10 s.
std::vector<double> DefaultLatencyBuckets();

enum class MetricType { kCounter, kGauge, kHistogram };

// What every family has: a name, help text, a type and label names.
class MetricFamily {
 public:
  virtual ~MetricFamily() = default;
  MetricFamily(const MetricFamily&) = delete;
  MetricFamily& operator=(const MetricFamily&) = delete;

  const std::string& name() const { return name_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  const std::vector<double>& buckets() const { return buckets_; }

  // Appends the HELP, TYPE and sample lines of this family.
  virtual void Render(std::string& out) const = 0;

 protected:
  MetricFamily(std::string name, std::string help, MetricType type,
               std::vector<std::string> label_names, std::vector<double> buckets);
  const std::string& help() const { return help_; }

 private:
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;
};

// All series of one metric, one per combination of label values. T is Counter, Gauge or
// Histogram (explicitly instantiated in metrics.cc).
template <typename T>
class Family final : public MetricFamily {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> buckets);

  // The series for these label values, in label_names() order; created on first use.
  T& WithLabels(std::initializer_list<std::string_view> values);
  void Render(std::string& out) const override;

 private:
  // Orders label-value tuples, and lets WithLabels() look up without building strings.
  struct LabelLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::lexicographical_compare(
          a.begin(), a.end(), b.begin(), b.end(),
          [](std::string_view x, std::string_view y) { return x < y; });
    }
  };

  mutable std::shared_mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>, LabelLess> series_;
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
  // type and labels (and buckets). Metric names match [a-zA-Z_:][a-zA-Z0-9_:]*; label names
  // match [a-zA-Z_][a-zA-Z0-9_]*, do not start with "__", and histograms may not use "le".
  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names = {});
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names = {});
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::vector<double> buckets = DefaultLatencyBuckets());

  // Every family, sorted by name, in the text exposition format 0.0.4.
  std::string Render() const;

 private:
  template <typename T>
  Family<T>& Add(std::string name, std::string help, MetricType type,
                 std::vector<std::string> label_names, std::vector<double> buckets);

  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<MetricFamily>, std::less<>> families_;
};

}  // namespace medmesh::net
