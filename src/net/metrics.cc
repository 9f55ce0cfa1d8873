#include "net/metrics.h"

#include <prometheus/check_names.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace medmesh::net {
namespace {

// prometheus-cpp 1.0 writes HELP text verbatim: a newline in it would end the line and turn
// the rest into a sample line that does not parse. The format escapes backslash and newline.
std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

template <typename T>
constexpr bool kIsHistogram = std::is_same_v<T, Histogram>;

template <typename T>
prometheus::detail::Builder<T> NewBuilder() {
  if constexpr (std::is_same_v<T, Counter>) {
    return prometheus::BuildCounter();
  } else if constexpr (std::is_same_v<T, Gauge>) {
    return prometheus::BuildGauge();
  } else {
    return prometheus::BuildHistogram();
  }
}

void CheckNames(const std::string& name, const std::vector<std::string>& label_names,
                bool histogram) {
  MEDMESH_CHECK(prometheus::CheckMetricName(name), "invalid metric name");
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    MEDMESH_CHECK(label.rfind("__", 0) != 0, "label names starting with __ are reserved");
    MEDMESH_CHECK(prometheus::CheckLabelName(label), "invalid label name");
    MEDMESH_CHECK(!histogram || label != "le", "'le' is reserved in histograms");
    for (std::size_t j = 0; j < i; ++j) {
      MEDMESH_CHECK(label_names[j] != label, "label name used twice");
    }
  }
}

void CheckBuckets(const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    MEDMESH_CHECK(std::isfinite(bounds[i]), "histogram bucket bound must be finite");
    MEDMESH_CHECK(i == 0 || bounds[i - 1] < bounds[i],
                  "histogram bucket bounds must be strictly increasing");
  }
}

}  // namespace

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

template <typename T>
Family<T>::Family(prometheus::Family<T>& family, std::string name,
                  std::vector<std::string> label_names, std::vector<double> buckets)
    : family_(family),
      name_(std::move(name)),
      label_names_(std::move(label_names)),
      buckets_(std::move(buckets)) {}

template <typename T>
T& Family<T>::WithLabels(std::initializer_list<std::string_view> values) {
  MEDMESH_CHECK(values.size() == label_names_.size(), "wrong number of label values");
  prometheus::Labels labels;
  const std::string_view* value = values.begin();
  for (const std::string& label_name : label_names_) {
    labels.emplace_hint(labels.end(), label_name, std::string(*value++));
  }
  // Add() returns the existing series for these labels, or creates it.
  if constexpr (kIsHistogram<T>) {
    return family_.Add(labels, buckets_);
  } else {
    return family_.Add(labels);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

template <typename T>
Family<T>& MetricsRegistry::Add(std::string name, std::string_view help,
                                std::vector<std::string> label_names, std::vector<double> buckets) {
  CheckNames(name, label_names, kIsHistogram<T>);
  if constexpr (kIsHistogram<T>) CheckBuckets(buckets);
  std::lock_guard lock(mu_);
  if (auto it = families_.find(name); it != families_.end()) {
    auto* existing = std::get_if<std::unique_ptr<Family<T>>>(&it->second);
    MEDMESH_CHECK(existing != nullptr && (*existing)->label_names() == label_names &&
                      (*existing)->buckets() == buckets,
                  "metric registered again with another type, labels or buckets");
    return **existing;
  }
  // Names are checked above and unique in families_, so Register() does not throw.
  prometheus::Family<T>& family =
      NewBuilder<T>().Name(name).Help(EscapeHelp(help)).Register(registry_);
  std::unique_ptr<Family<T>> wrapper(
      new Family<T>(family, name, std::move(label_names), std::move(buckets)));
  Family<T>& ref = *wrapper;
  families_.emplace(std::move(name), std::move(wrapper));
  return ref;
}

CounterFamily& MetricsRegistry::AddCounter(std::string name, std::string_view help,
                                           std::vector<std::string> label_names) {
  return Add<Counter>(std::move(name), help, std::move(label_names), {});
}

GaugeFamily& MetricsRegistry::AddGauge(std::string name, std::string_view help,
                                       std::vector<std::string> label_names) {
  return Add<Gauge>(std::move(name), help, std::move(label_names), {});
}

HistogramFamily& MetricsRegistry::AddHistogram(std::string name, std::string_view help,
                                               std::vector<std::string> label_names,
                                               std::vector<double> buckets) {
  return Add<Histogram>(std::move(name), help, std::move(label_names), std::move(buckets));
}

std::string MetricsRegistry::Render() const {
  std::vector<prometheus::MetricFamily> families = registry_.Collect();
  // The library keeps families by type and series in hash maps: sort for stable output.
  std::sort(families.begin(), families.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (prometheus::MetricFamily& family : families) {
    std::sort(family.metric.begin(), family.metric.end(),
              [](const auto& a, const auto& b) { return a.label < b.label; });
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace medmesh::net
