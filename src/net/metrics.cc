#include "net/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <mutex>

#include "core/check.h"

namespace medmesh::net {
namespace {

bool IsNameChar(char c, bool first, bool allow_colon) {
  const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  const bool digit = c >= '0' && c <= '9';
  return alpha || (!first && digit) || (allow_colon && c == ':');
}

bool IsValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, allow_colon)) return false;
  }
  return true;
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void AppendEscaped(std::string& out, std::string_view text, bool escape_quote) {
  for (char c : text) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '"':
        if (escape_quote) {
          out += "\\\"";
        } else {
          out.push_back(c);
        }
        break;
      default: out.push_back(c);
    }
  }
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

// One sample line: name{labels[,extra]} value
void AppendSample(std::string& out, std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, std::string_view extra_label,
                  std::string_view extra_value, std::string_view value) {
  out.append(name);
  out.append(suffix);
  if (!label_names.empty() || !extra_label.empty()) {
    out.push_back('{');
    bool first = true;
    const auto label = [&](std::string_view k, std::string_view v) {
      if (!first) out.push_back(',');
      first = false;
      out.append(k);
      out += "=\"";
      AppendEscaped(out, v, /*escape_quote=*/true);
      out.push_back('"');
    };
    for (std::size_t i = 0; i < label_names.size(); ++i) label(label_names[i], label_values[i]);
    if (!extra_label.empty()) label(extra_label, extra_value);
    out.push_back('}');
  }
  out.push_back(' ');
  out.append(value);
  out.push_back('\n');
}

void RenderSeries(std::string& out, const MetricFamily& f, const std::vector<std::string>& labels,
                  const Counter& c) {
  AppendSample(out, f.name(), "", f.label_names(), labels, "", "", std::to_string(c.value()));
}

void RenderSeries(std::string& out, const MetricFamily& f, const std::vector<std::string>& labels,
                  const Gauge& g) {
  AppendSample(out, f.name(), "", f.label_names(), labels, "", "", FormatValue(g.value()));
}

void RenderSeries(std::string& out, const MetricFamily& f, const std::vector<std::string>& labels,
                  const Histogram& h) {
  const std::vector<std::uint64_t> cumulative = h.CumulativeCounts();
  const auto& bounds = h.upper_bounds();
  for (std::size_t i = 0; i < cumulative.size(); ++i) {
    const std::string le = i < bounds.size() ? FormatValue(bounds[i]) : "+Inf";
    AppendSample(out, f.name(), "_bucket", f.label_names(), labels, "le", le,
                 std::to_string(cumulative[i]));
  }
  AppendSample(out, f.name(), "_sum", f.label_names(), labels, "", "", FormatValue(h.sum()));
  // The +Inf bucket rather than count(): an Observe() racing with this render may have
  // bumped one but not the other, and Prometheus expects _count == the +Inf bucket.
  AppendSample(out, f.name(), "_count", f.label_names(), labels, "", "",
               std::to_string(cumulative.back()));
}

template <typename T>
std::unique_ptr<T> NewSeries(const std::vector<double>& buckets) {
  if constexpr (std::is_same_v<T, Histogram>) {
    return std::make_unique<Histogram>(buckets);
  } else {
    return std::make_unique<T>();
  }
}

}  // namespace

Histogram::Histogram(std::vector<double> upper_bounds) : upper_bounds_(std::move(upper_bounds)) {
  for (std::size_t i = 0; i < upper_bounds_.size(); ++i) {
    MEDMESH_CHECK(std::isfinite(upper_bounds_[i]), "histogram bucket bound must be finite");
    MEDMESH_CHECK(i == 0 || upper_bounds_[i - 1] < upper_bounds_[i],
                  "histogram bucket bounds must be strictly increasing");
  }
  buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(upper_bounds_.size() + 1);
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;  // would land in no bucket and poison the sum
  // Buckets are "less than or equal": the first bound >= value.
  const auto it = std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value);
  const auto index = static_cast<std::size_t>(it - upper_bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::CumulativeCounts() const {
  std::vector<std::uint64_t> out(upper_bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

MetricFamily::MetricFamily(std::string name, std::string help, MetricType type,
                           std::vector<std::string> label_names, std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      buckets_(std::move(buckets)) {
  MEDMESH_CHECK(IsValidName(name_, /*allow_colon=*/true), "invalid metric name");
  for (std::size_t i = 0; i < label_names_.size(); ++i) {
    const std::string& label = label_names_[i];
    MEDMESH_CHECK(IsValidName(label, /*allow_colon=*/false), "invalid label name");
    MEDMESH_CHECK(label.rfind("__", 0) != 0, "label names starting with __ are reserved");
    MEDMESH_CHECK(type_ != MetricType::kHistogram || label != "le",
                  "'le' is reserved in histograms");
    for (std::size_t j = 0; j < i; ++j) {
      MEDMESH_CHECK(label_names_[j] != label, "label name used twice");
    }
  }
}

template <typename T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> buckets)
    : MetricFamily(std::move(name), std::move(help),
                   std::is_same_v<T, Counter> ? MetricType::kCounter
                   : std::is_same_v<T, Gauge> ? MetricType::kGauge
                                              : MetricType::kHistogram,
                   std::move(label_names), std::move(buckets)) {}

template <typename T>
T& Family<T>::WithLabels(std::initializer_list<std::string_view> values) {
  MEDMESH_CHECK(values.size() == label_names().size(), "wrong number of label values");
  {
    std::shared_lock lock(mu_);
    if (auto it = series_.find(values); it != series_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  auto it = series_.find(values);
  if (it == series_.end()) {
    it = series_
             .emplace(std::vector<std::string>(values.begin(), values.end()),
                      NewSeries<T>(buckets()))
             .first;
  }
  return *it->second;
}

template <typename T>
void Family<T>::Render(std::string& out) const {
  out += "# HELP ";
  out += name();
  out.push_back(' ');
  AppendEscaped(out, help(), /*escape_quote=*/false);
  out += "\n# TYPE ";
  out += name();
  out.push_back(' ');
  out += TypeName(type());
  out.push_back('\n');
  std::shared_lock lock(mu_);
  for (const auto& [labels, series] : series_) RenderSeries(out, *this, labels, *series);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

template <typename T>
Family<T>& MetricsRegistry::Add(std::string name, std::string help, MetricType type,
                                std::vector<std::string> label_names, std::vector<double> buckets) {
  std::unique_lock lock(mu_);
  if (auto it = families_.find(name); it != families_.end()) {
    MetricFamily& existing = *it->second;
    MEDMESH_CHECK(existing.type() == type && existing.label_names() == label_names &&
                      existing.buckets() == buckets,
                  "metric registered again with another type, labels or buckets");
    return static_cast<Family<T>&>(existing);
  }
  auto family = std::make_unique<Family<T>>(name, std::move(help), std::move(label_names),
                                            std::move(buckets));
  Family<T>& ref = *family;
  families_.emplace(std::move(name), std::move(family));
  return ref;
}

CounterFamily& MetricsRegistry::AddCounter(std::string name, std::string help,
                                           std::vector<std::string> label_names) {
  return Add<Counter>(std::move(name), std::move(help), MetricType::kCounter,
                      std::move(label_names), {});
}

GaugeFamily& MetricsRegistry::AddGauge(std::string name, std::string help,
                                       std::vector<std::string> label_names) {
  return Add<Gauge>(std::move(name), std::move(help), MetricType::kGauge, std::move(label_names),
                    {});
}

HistogramFamily& MetricsRegistry::AddHistogram(std::string name, std::string help,
                                               std::vector<std::string> label_names,
                                               std::vector<double> buckets) {
  // Validate the bounds now rather than at the first WithLabels().
  (void)Histogram(buckets);
  return Add<Histogram>(std::move(name), std::move(help), MetricType::kHistogram,
                        std::move(label_names), std::move(buckets));
}

std::string MetricsRegistry::Render() const {
  std::string out;
  std::shared_lock lock(mu_);
  for (const auto& [name, family] : families_) family->Render(out);
  return out;
}

}  // namespace medmesh::net
