// Payload scoring: the learned request classifier (src/ids/ml) on a node's live requests, as
// evidence for the `payloads` detector (detector.h, docs/ids.md, ADR 0041).
//
// What is scored: every attacker-chosen string of a request, one by one, never the request as a
// whole (the whole-request model learned CSIC's shop and flags 15 of 16 plain MedMesh requests,
// docs/ids_models.md):
//   - head (HeadValues): each decoded path segment, each query parameter's decoded name and
//     value; scored by HeadFilter(), a net::Filter that runs after the Enforcer's, before
//     routing and before the body is read;
//   - body (BodyValues): the string leaves and object keys of a JSON body (application/json or
//     any "+json" type), the decoded names and values of an x-www-form-urlencoded body, but never
//     the value of a field whose name contains "password" (chosen to look like anything, hashed,
//     never interpreted); any other body (sealed device batches, binary, text) is not scored.
// Base64 blobs of 256 bytes or more (photo and document members) are data, not text: skipped.
// Scored by ScoreBodies(), which
//     wraps every route's handler so the body is scored after it is read and before the handler
//     does any application work.
// Each value is judged by ClassifierPayloadScorer: first the structure gate
// (ml::HasAttackStructure: a value without an SQL, markup, traversal or shell structure is never
// an attack, so prose in symptoms, notes, messages and answers costs one scan and scores 0), then
// ml::RequestClassifier::ScoreValue. A template or expression-language expression
// (ml::HasTemplateExpression: "{{7*7}}", "${7*7}", "<%= 7*7 %>", "#{7*7}") scores
// kPayloadAttackScore by rule, without the model (its training sets hold none; ADR 0051). The
// request part's score is the maximum over its values up to the first value at or above
// kPayloadAttackScore: the part has decided there (it counts once), and the rest is not scored.
// (So a DetectorOptions::payload_score_threshold above kPayloadAttackScore sees that value's
// score, not a higher one further on.)
//
// What a high score does: a part scoring above 0 becomes one kPayload observation for the
// DetectionEngine (benign traffic feeds the engine nothing). The `payloads` detector counts the
// observations at or above DetectorOptions::payload_score_threshold per source and blocks the
// source at payloads_per_source (5 in 10 min by default): a single request is never refused for
// its score, so a false positive costs nothing but a count, and a scanner trying payloads is
// blocked after a handful. The request itself goes on to its handler (which validates its input
// anyway). A request whose head and body both score high counts twice.
//
// Cost bounds (PayloadScoringOptions): at most max_values values per part (a value longer than
// max_value_bytes is scored in overlapping windows of that size, each counted as a value), at
// most max_body_bytes of a body parsed, at most max_model_calls values per part reach the model
// (the rest of a part with more gated values scores what it has). Values past a bound are not
// scored and are counted (medmesh_ids_payload_values_skipped_total).
// WARNING: an attacker can hide a payload past these bounds (value max_values + 1, or byte
// max_body_bytes + 1 of a body); the handler's own validation is the defence there. Headers are
// not scored (User-Agent and Referer reach no query or markup in MedMesh).
//
// Metrics (if a registry is given):
//   medmesh_ids_payload_scorer_enabled{scorer}              gauge, 1 when a model is loaded
//   medmesh_ids_payload_values_scored_total{part}           counter (part = head | body)
//   medmesh_ids_payload_values_skipped_total{part}          counter (past a bound)
//   medmesh_ids_payload_flagged_total{part}                 counter (at the detector's threshold)
//
// Thread safety: thread-safe; the filter and the wrapped handlers run on I/O threads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "ids/detection_engine.h"
#include "ids/detector.h"
#include "ids/ml/classifier.h"
#include "net/http_message.h"
#include "net/http_server.h"
#include "net/metrics.h"
#include "net/router.h"

namespace medmesh::ids {

struct PayloadScoringOptions {
  std::size_t max_values = 64;         // per request part (head or body)
  std::size_t max_value_bytes = 1024;  // longer values: windows of this size
  std::size_t max_body_bytes = std::size_t{64} * 1024;
  std::size_t max_model_calls = 16;  // per request part
};

// The decoded strings of a request's head (path segments, query names and values) and of its
// body (see the top of this file), empty ones left out, in request order, split and capped as
// `options` says. `skipped` (may be null) receives how many values or windows were left out.
std::vector<std::string> HeadValues(const net::Request& request,
                                    const PayloadScoringOptions& options,
                                    std::size_t* skipped = nullptr);
std::vector<std::string> BodyValues(const net::Request& request,
                                    const PayloadScoringOptions& options,
                                    std::size_t* skipped = nullptr);

// The PayloadScorer backed by the trained request classifier: per value the structure gate, then
// ScoreValue; the score is the maximum over the values of the model's probability p rescaled so
// that the manifest's value_threshold t lands on kPayloadAttackScore (p < t: kPayloadAttackScore
// x p / t; p >= t: from kPayloadAttackScore up to 1), 0 for a value the gate stops. So a value
// ScoreValue calls an attack scores at least kPayloadAttackScore, the payloads detector's default
// threshold. A template expression scores kPayloadAttackScore by rule. Scoring stops at the
// first value at or above kPayloadAttackScore. At most `max_model_calls` gated values reach the
// model per call.
class ClassifierPayloadScorer final : public PayloadScorer {
 public:
  ClassifierPayloadScorer(std::unique_ptr<const ml::RequestClassifier> classifier,
                          std::size_t max_model_calls);

  // "http-v<version>" of the loaded model.
  std::string_view name() const override { return name_; }
  // kInternal only if XGBoost fails.
  Result<double> Score(std::span<const std::string> values) const override;

 private:
  std::unique_ptr<const ml::RequestClassifier> classifier_;
  std::size_t max_model_calls_;
  std::string name_;
};

// The node's payload scoring: a scorer (or none: off), the engine it feeds, its metrics.
class PayloadScoring {
 public:
  // `scorer` may be null (scoring off: the filter and the wrapped handlers pass everything
  // through). `engine`, `clock` and `metrics` (may be null) must outlive this object and every
  // filter and router it made.
  PayloadScoring(std::unique_ptr<PayloadScorer> scorer, DetectionEngine& engine, const Clock& clock,
                 net::MetricsRegistry* metrics, PayloadScoringOptions options = {});

  // Loads the request classifier from `models_dir` (ml::RequestClassifier::Load). Any failure,
  // or an empty path, turns scoring off and is logged once ("ids_payload_scorer_off", with the
  // reason); a node starts either way. Logs "ids_payload_scorer_loaded" on success.
  static std::unique_ptr<PayloadScoring> Load(const std::filesystem::path& models_dir,
                                              DetectionEngine& engine, const Clock& clock,
                                              net::MetricsRegistry* metrics,
                                              PayloadScoringOptions options = {});

  bool enabled() const { return scorer_ != nullptr; }
  // The scorer's name ("http-v2"), "" when off.
  std::string_view scorer_name() const;
  // Request parts that scored at or above the detector's default threshold so far.
  std::uint64_t flagged() const { return flagged_.load(std::memory_order_relaxed); }

  // Scores the head / the body of `request` and feeds a score above 0 to the engine (kPayload,
  // the request's peer). Returns the part's score; nullopt when off, when there was nothing to
  // score or when the scorer failed (logged).
  std::optional<double> ScoreHead(const net::Request& request);
  std::optional<double> ScoreBody(const net::Request& request);

  // ScoreHead as a filter (never answers): install it right after the Enforcer's.
  net::Filter HeadFilter();
  // `router` with every handler (plain and deferred) preceded by ScoreBody for requests that
  // carry a body (unchanged when off). Handlers, patterns and route options are otherwise
  // unchanged.
  net::Router ScoreBodies(net::Router router);

 private:
  struct PartCounters {
    net::Counter* scored = nullptr;
    net::Counter* skipped = nullptr;
    net::Counter* flagged = nullptr;
  };
  std::optional<double> ScorePart(const net::Request& request, std::vector<std::string> values,
                                  std::size_t skipped, const PartCounters& counters);

  std::unique_ptr<PayloadScorer> scorer_;
  DetectionEngine& engine_;
  const Clock& clock_;
  const PayloadScoringOptions options_;
  PartCounters head_, body_;
  std::atomic<std::uint64_t> flagged_{0};
};

}  // namespace medmesh::ids
