#include "ids/payload_scoring.h"

#include <algorithm>
#include <cctype>
#include <exception>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/log.h"
#include "ids/ml/http_features.h"

namespace medmesh::ids {
namespace {

using Json = nlohmann::json;

std::int64_t NowMs(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
      .count();
}

// A base64 blob (a photo or a document member of a JSON body): binary data that nothing
// interprets as text. Its alphabet cannot form a quote, a tag, a dot run, a comment or a shell
// metacharacter; skipping it saves scanning hundreds of windows of a photo.
bool IsDataBlob(std::string_view value) {
  constexpr std::size_t kMinBlobBytes = 256;
  if (value.size() < kMinBlobBytes) return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '/' || c == '=' ||
           c == '-' || c == '_';
  });
}

// Collects values under the bounds of PayloadScoringOptions.
class ValueSink {
 public:
  ValueSink(const PayloadScoringOptions& options, std::vector<std::string>& out)
      : options_(options), out_(out) {}

  // Adds `value` (split into overlapping windows when long); false once the budget is spent.
  bool Add(std::string_view value) {
    if (value.empty() || IsDataBlob(value)) return true;
    const std::size_t width = std::max<std::size_t>(options_.max_value_bytes, 16);
    // An injection structure is short: windows overlap by a quarter so none is cut in two.
    const std::size_t step = width - width / 4;
    for (std::size_t at = 0;; at += step) {
      if (out_.size() >= options_.max_values) {
        ++skipped_;
        return false;
      }
      out_.emplace_back(value.substr(at, width));
      if (at + width >= value.size()) return true;
    }
  }
  void Skip(std::size_t n) { skipped_ += n; }
  std::size_t skipped() const { return skipped_; }

 private:
  const PayloadScoringOptions& options_;
  std::vector<std::string>& out_;
  std::size_t skipped_ = 0;
};

// A password is any string its owner chose, by design: it is hashed, never interpreted, and a
// strong one looks like anything, so it is not scored (nor is it ever copied anywhere else).
bool IsSecretName(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("password") != std::string::npos;
}

// nlohmann's SAX interface (iterative: a deeply nested body cannot exhaust the stack): keeps
// keys and string leaves but the values of password keys, stops at the budget or the first
// syntax error (the handler answers that body with its own 400).
class JsonStrings {
 public:
  explicit JsonStrings(ValueSink& sink) : sink_(sink) {}
  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(Json::number_integer_t) { return true; }
  bool number_unsigned(Json::number_unsigned_t) { return true; }
  bool number_float(Json::number_float_t, const Json::string_t&) { return true; }
  bool string(Json::string_t& s) { return secret_ || sink_.Add(s); }
  bool binary(Json::binary_t&) { return true; }
  bool start_object(std::size_t) {
    secret_ = false;
    return true;
  }
  bool key(Json::string_t& s) {
    secret_ = IsSecretName(s);
    return sink_.Add(s);
  }
  bool end_object() {
    secret_ = false;
    return true;
  }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }

 private:
  ValueSink& sink_;
  bool secret_ = false;  // the current key names a password
};

enum class BodyKind { kOther, kJson, kForm };

BodyKind KindOf(std::optional<std::string_view> content_type) {
  if (!content_type) return BodyKind::kOther;
  std::string media(content_type->substr(0, content_type->find(';')));
  std::erase_if(media, [](char c) { return c == ' ' || c == '\t'; });
  std::transform(media.begin(), media.end(), media.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (media == "application/json" || (media.size() > 5 && media.ends_with("+json"))) {
    return BodyKind::kJson;
  }
  if (media == "application/x-www-form-urlencoded") return BodyKind::kForm;
  return BodyKind::kOther;
}

// Maps a probability onto the PayloadScorer scale (see ClassifierPayloadScorer).
double Calibrate(double p, double threshold) {
  if (threshold <= 0) return 1;
  if (p < threshold) return kPayloadAttackScore * p / threshold;
  if (threshold >= 1) return 1;
  return kPayloadAttackScore + (1 - kPayloadAttackScore) * (p - threshold) / (1 - threshold);
}

}  // namespace

std::vector<std::string> HeadValues(const net::Request& request,
                                    const PayloadScoringOptions& options, std::size_t* skipped) {
  std::vector<std::string> out;
  ValueSink sink(options, out);
  bool room = true;
  std::string_view path = request.path;
  while (room && !path.empty()) {
    const std::size_t slash = path.find('/');
    const std::string_view segment = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash + 1);
    if (!segment.empty()) room = sink.Add(ml::PercentDecode(segment, false));
  }
  for (const auto& [name, value] : request.query) {
    if (!room) break;
    room = sink.Add(name) && sink.Add(value);
  }
  if (skipped != nullptr) *skipped = sink.skipped();
  return out;
}

std::vector<std::string> BodyValues(const net::Request& request,
                                    const PayloadScoringOptions& options, std::size_t* skipped) {
  std::vector<std::string> out;
  ValueSink sink(options, out);
  std::string_view body = request.body_text();
  if (body.size() > options.max_body_bytes) {
    sink.Skip(1);
    body = body.substr(0, options.max_body_bytes);
  }
  switch (body.empty() ? BodyKind::kOther : KindOf(request.Header("Content-Type"))) {
    case BodyKind::kJson: {
      JsonStrings strings(sink);
      try {
        (void)Json::sax_parse(body.begin(), body.end(), &strings);
      } catch (const std::exception&) {
        // What was collected before the error is scored; the handler refuses the body.
      }
      break;
    }
    case BodyKind::kForm:
      for (const auto& [raw_name, raw_value] : ml::SplitParams(body)) {
        const std::string name = ml::PercentDecode(raw_name, true);
        if (!sink.Add(name)) break;
        if (!IsSecretName(name) && !sink.Add(ml::PercentDecode(raw_value, true))) break;
      }
      break;
    case BodyKind::kOther: break;
  }
  if (skipped != nullptr) *skipped = sink.skipped();
  return out;
}

ClassifierPayloadScorer::ClassifierPayloadScorer(
    std::unique_ptr<const ml::RequestClassifier> classifier, std::size_t max_model_calls)
    : classifier_(std::move(classifier)),
      max_model_calls_(max_model_calls),
      name_(classifier_->manifest().name + "-v" + std::to_string(classifier_->manifest().version)) {
}

Result<double> ClassifierPayloadScorer::Score(std::span<const std::string> values) const {
  double best = 0;
  std::size_t calls = 0;
  for (const std::string& value : values) {
    if (ml::HasTemplateExpression(value)) {
      // By rule: the training sets hold no template injection, so the model cannot judge it.
      best = std::max(best, kPayloadAttackScore);
    } else {
      // The gate first: most values (ids, dates, prose) stop here, without a model call.
      if (!ml::HasAttackStructure(value)) continue;
      if (calls++ >= max_model_calls_) break;
      MEDMESH_ASSIGN_OR_RETURN(ml::Verdict verdict, classifier_->ScoreValue(value));
      best =
          std::max(best, Calibrate(verdict.probability, classifier_->manifest().value_threshold));
    }
    // Decided: the part counts once however many of its values are attacks (ADR 0051).
    if (best >= kPayloadAttackScore) break;
  }
  return best;
}

PayloadScoring::PayloadScoring(std::unique_ptr<PayloadScorer> scorer, DetectionEngine& engine,
                               const Clock& clock, net::MetricsRegistry* metrics,
                               PayloadScoringOptions options)
    : scorer_(std::move(scorer)), engine_(engine), clock_(clock), options_(options) {
  if (metrics == nullptr) return;
  metrics
      ->AddGauge("medmesh_ids_payload_scorer_enabled",
                 "1 when the request classifier scores live requests, 0 when no model loaded.",
                 {"scorer"})
      .WithLabels({scorer_ ? scorer_->name() : std::string_view("none")})
      .Set(scorer_ ? 1 : 0);
  auto& scored = metrics->AddCounter("medmesh_ids_payload_values_scored_total",
                                     "Request values judged by the payload scorer.", {"part"});
  auto& skipped =
      metrics->AddCounter("medmesh_ids_payload_values_skipped_total",
                          "Request values left unscored by the scoring bounds.", {"part"});
  auto& flagged =
      metrics->AddCounter("medmesh_ids_payload_flagged_total",
                          "Request parts scored at or above the payload attack score.", {"part"});
  head_ = {&scored.WithLabels({"head"}), &skipped.WithLabels({"head"}),
           &flagged.WithLabels({"head"})};
  body_ = {&scored.WithLabels({"body"}), &skipped.WithLabels({"body"}),
           &flagged.WithLabels({"body"})};
}

std::unique_ptr<PayloadScoring> PayloadScoring::Load(const std::filesystem::path& models_dir,
                                                     DetectionEngine& engine, const Clock& clock,
                                                     net::MetricsRegistry* metrics,
                                                     PayloadScoringOptions options) {
  std::unique_ptr<PayloadScorer> scorer;
  if (models_dir.empty()) {
    log::Warn("ids_payload_scorer_off", {{"reason", "no models folder configured"}});
  } else if (auto classifier = ml::RequestClassifier::Load(models_dir); !classifier) {
    log::Warn("ids_payload_scorer_off",
              {{"models", models_dir.string()}, {"reason", classifier.error().ToString()}});
  } else {
    scorer =
        std::make_unique<ClassifierPayloadScorer>(std::move(*classifier), options.max_model_calls);
    log::Info("ids_payload_scorer_loaded",
              {{"models", models_dir.string()}, {"scorer", std::string(scorer->name())}});
  }
  return std::make_unique<PayloadScoring>(std::move(scorer), engine, clock, metrics, options);
}

std::string_view PayloadScoring::scorer_name() const {
  return scorer_ ? scorer_->name() : std::string_view();
}

std::optional<double> PayloadScoring::ScorePart(const net::Request& request,
                                                std::vector<std::string> values,
                                                std::size_t skipped, const PartCounters& counters) {
  if (counters.skipped != nullptr && skipped > 0) {
    counters.skipped->Increment(static_cast<double>(skipped));
  }
  if (values.empty()) return std::nullopt;
  if (counters.scored != nullptr) counters.scored->Increment(static_cast<double>(values.size()));
  auto score = scorer_->Score(values);
  if (!score) {
    log::Error("ids_payload_score_failed", {{"error", score.error().ToString()}});
    return std::nullopt;
  }
  if (*score <= 0) return *score;
  if (*score >= kPayloadAttackScore) {
    flagged_.fetch_add(1, std::memory_order_relaxed);
    if (counters.flagged != nullptr) counters.flagged->Increment();
  }
  Observation o;
  o.source = Observation::Source::kPayload;
  o.time_ms = NowMs(clock_);
  o.peer = request.peer_address;
  o.route = std::string(request.route);
  o.payload_score = *score;
  engine_.Observe(o);
  return *score;
}

std::optional<double> PayloadScoring::ScoreHead(const net::Request& request) {
  if (!scorer_) return std::nullopt;
  std::size_t skipped = 0;
  std::vector<std::string> values = HeadValues(request, options_, &skipped);
  return ScorePart(request, std::move(values), skipped, head_);
}

std::optional<double> PayloadScoring::ScoreBody(const net::Request& request) {
  if (!scorer_ || request.body.empty()) return std::nullopt;
  std::size_t skipped = 0;
  std::vector<std::string> values = BodyValues(request, options_, &skipped);
  return ScorePart(request, std::move(values), skipped, body_);
}

net::Filter PayloadScoring::HeadFilter() {
  return [this](const net::Request& request) -> std::optional<net::Response> {
    (void)ScoreHead(request);
    return std::nullopt;
  };
}

net::Router PayloadScoring::ScoreBodies(net::Router router) {
  if (!scorer_) return router;
  net::Router out;
  for (const net::Route* route : router.routes()) {
    if (route->handler) {
      out.Add(
          route->method, route->pattern,
          [this, handler = route->handler](const net::Request& r) -> Result<net::Response> {
            (void)ScoreBody(r);
            return handler(r);
          },
          route->options);
    } else {
      out.AddAsync(
          route->method, route->pattern,
          [this, handler = route->async_handler](const net::Request& r, net::Responder respond) {
            (void)ScoreBody(r);
            handler(r, std::move(respond));
          },
          route->options);
    }
  }
  return out;
}

}  // namespace medmesh::ids
