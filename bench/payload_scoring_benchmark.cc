// Per-request cost of payload scoring (src/ids/payload_scoring.h, docs/ids.md, ADR 0041): for a
// request of each kind, collecting its head and body values (HeadValues, BodyValues) and scoring
// both parts with the committed request model (ClassifierPayloadScorer: structure gate, then the
// model for gated values). What a flagged part costs on top (one DetectionEngine observation) is
// the engine's. Each case runs `--iterations` requests `--repetitions` times; the median and the
// spread (min..max) of the time per request are printed.
//
//   build/release/bench/payload_scoring_benchmark [--iterations 2000] [--repetitions 5]
//                                                 [--max-model-calls N] [--only CASE]
//   valgrind --tool=callgrind build/release/bench/payload_scoring_benchmark --only ui_corpus
//     --iterations 10 --repetitions 1     (one line; instructions: docs/ids.md has the method)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "ids/ml/classifier.h"
#include "ids/ml/http_features.h"
#include "ids/payload_scoring.h"

#ifndef MEDMESH_IDS_MODELS_DIR
#define MEDMESH_IDS_MODELS_DIR "models/ids"
#endif
#ifndef MEDMESH_IDS_TEST_DATA_DIR
#define MEDMESH_IDS_TEST_DATA_DIR "tests/data/ids"
#endif

namespace medmesh::bench {
namespace {

// A request that owns what its views point at.
struct OwnedRequest {
  std::string target, body;
  std::string content_type = "application/json";
  net::Request request;
};

std::unique_ptr<OwnedRequest> Build(net::Method method, std::string target, std::string body) {
  auto r = std::make_unique<OwnedRequest>();
  r->target = std::move(target);
  r->body = std::move(body);
  net::Request& q = r->request;
  q.method = method;
  const std::string_view t = r->target;
  const std::size_t mark = t.find('?');
  q.path = t.substr(0, mark);
  if (mark != std::string_view::npos) {
    for (const auto& [k, v] : ids::ml::SplitParams(t.substr(mark + 1))) {
      q.query.emplace_back(ids::ml::PercentDecode(k, true), ids::ml::PercentDecode(v, true));
    }
  }
  if (!r->body.empty()) {
    q.headers.emplace_back("Content-Type", r->content_type);
    q.body = AsBytes(r->body);
  }
  q.peer_address = "127.0.0.1";
  return r;
}

struct Case {
  std::string name;
  std::vector<std::unique_ptr<OwnedRequest>> requests;  // scored in turn
};

std::vector<std::unique_ptr<OwnedRequest>> One(net::Method m, std::string target,
                                               std::string body = {}) {
  std::vector<std::unique_ptr<OwnedRequest>> out;
  out.push_back(Build(m, std::move(target), std::move(body)));
  return out;
}

std::vector<std::unique_ptr<OwnedRequest>> Corpus(const std::string& file) {
  std::vector<std::unique_ptr<OwnedRequest>> out;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    auto method = net::ParseMethod(line.substr(0, sp1));
    if (!method) continue;
    out.push_back(Build(*method, line.substr(sp1 + 1, sp2 - sp1 - 1),
                        sp2 == std::string::npos ? "" : line.substr(sp2 + 1)));
  }
  return out;
}

// A JSON body of 64 string members, each `value`.
std::string Members64(const std::string& value) {
  std::string body = "{";
  for (int i = 0; i < 64; ++i) {
    body += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":\"" + value + "\"";
  }
  return body + "}";
}

// `unit` repeated up to 1,011 bytes (with "kNN" and quotes, a member of about 1 KiB).
std::string Fill(const std::string& head, const std::string& unit) {
  std::string v = head;
  while (v.size() + unit.size() <= 1011) v += unit;
  return v;
}

std::vector<Case> Cases(const std::string& corpus) {
  std::vector<Case> cases;
  cases.push_back({"get_readings",
                   One(net::Method::kGet,
                       "/api/v1/me/readings?kind=heart_rate&from=1733443200000&to=1733529600000")});
  cases.push_back(
      {"get_fhir_search",
       One(net::Method::kGet,
           "/fhir/r4/Observation?patient=psd-4f5e6d&code=8867-4&date=ge2026-12-01&_count=50")});
  cases.push_back(
      {"post_message",
       One(net::Method::kPost, "/api/v1/trust/messages",
           R"j({"to":"peer-3c9d","text":"Hi! Did your palpitations get better with the beta-blocker? Mine are worse at night; the doctor said \"wait and see\". I'll select a quieter room & rest, and try less coffee (3 cups = too many!)."})j")});
  cases.push_back(
      {"post_answer",
       One(net::Method::kPost, "/api/v1/consents/con-9a8b7c/answers",
           R"j({"diagnosis":"Paroxysmal AF (likely); rule out thyroid issues -- TSH next week.","medication":"Bisoprolol 2.5 mg once daily; stop if HR < 50 or dizzy.","prescription":{"drug":"Bisoprolol","dose":"2.5 mg","frequency":"1x/day (morning)","duration":"30 days"}})j")});
  cases.push_back({"ui_corpus", Corpus(corpus)});
  cases.push_back({"attack_query",
                   One(net::Method::kGet,
                       "/api/v1/stats?q=1%27%20UNION%20SELECT%20token%20FROM%20sessions%20--")});
  cases.push_back(
      {"attack_json",
       One(net::Method::kPost, "/api/v1/session",
           R"j({"email":"' OR '1'='1' --","name":"<script>alert(1)</script>","file":"../../../../etc/passwd","cmd":"; cat /etc/passwd"})j")});
  // The bounds (64 values per part, 64 KiB of body, 16 model calls per part), three ways:
  // - worst_body: 64 strings of 1 KiB, each gated (an SQL injection after 1,000 letters);
  // - worst_body_ungated: 64 strings of 1 KiB of prose, none gated (the gate's scan only);
  // - worst_body_unflagged: 64 short gated values the committed model scores below its
  //   threshold (p 0.018 for " dog; ls -la"), so nothing stops before the model-call bound.
  //   (Every gated value of about 1 KiB we tried scored above the threshold.)
  cases.push_back({"worst_body", One(net::Method::kPost, "/api/v1/x",
                                     Members64(std::string(1000, 'a') + "' or 1=1 --"))});
  cases.push_back(
      {"worst_body_ungated",
       One(net::Method::kPost, "/api/v1/x",
           Members64(
               Fill("", "Take the tablets with water after breakfast, and rest if dizzy. ")))});
  cases.push_back(
      {"worst_body_unflagged", One(net::Method::kPost, "/api/v1/x", Members64(" dog; ls -la"))});
  return cases;
}

}  // namespace
}  // namespace medmesh::bench

int main(int argc, char** argv) {
  using namespace medmesh;
  CLI::App app("Per-request cost of payload scoring");
  std::string models = MEDMESH_IDS_MODELS_DIR;
  std::string corpus = std::string(MEDMESH_IDS_TEST_DATA_DIR) + "/ui_requests.txt";
  std::string only;
  int iterations = 2000;
  int repetitions = 5;
  std::size_t max_model_calls = ids::PayloadScoringOptions{}.max_model_calls;
  app.add_option("--models", models, "Models folder")->capture_default_str();
  app.add_option("--corpus", corpus, "UI request shapes")->capture_default_str();
  app.add_option("--only", only, "Run one case");
  app.add_option("--iterations", iterations, "Requests per repetition")->capture_default_str();
  app.add_option("--repetitions", repetitions, "Repetitions")->capture_default_str();
  app.add_option("--max-model-calls", max_model_calls, "Gated values per part the model scores")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto classifier = ids::ml::RequestClassifier::Load(models);
  if (!classifier) {
    std::fprintf(stderr, "payload_scoring_benchmark: %s\n", classifier.error().ToString().c_str());
    return 1;
  }
  ids::PayloadScoringOptions options;
  options.max_model_calls = max_model_calls;
  const ids::ClassifierPayloadScorer scorer(std::move(*classifier), options.max_model_calls);
  std::printf("payload scoring per request (%s; %d requests x %d repetitions; median, min..max)\n",
              std::string(scorer.name()).c_str(), iterations, repetitions);
  double sink = 0;
  for (const bench::Case& c : bench::Cases(corpus)) {
    if (!only.empty() && c.name != only) continue;
    if (c.requests.empty()) {
      std::fprintf(stderr, "payload_scoring_benchmark: no requests for %s\n", c.name.c_str());
      return 1;
    }
    std::vector<double> us;
    std::size_t values = 0, flagged = 0;
    for (int rep = 0; rep < repetitions; ++rep) {
      values = 0;
      flagged = 0;
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < iterations; ++i) {
        const net::Request& r =
            c.requests[static_cast<std::size_t>(i) % c.requests.size()]->request;
        const auto head = ids::HeadValues(r, options);
        const auto body = ids::BodyValues(r, options);
        values += head.size() + body.size();
        const auto head_score = scorer.Score(head);
        const auto body_score = scorer.Score(body);
        if (!head_score || !body_score) return 1;
        sink += *head_score + *body_score;
        flagged += (*head_score >= ids::kPayloadAttackScore ? 1 : 0) +
                   (*body_score >= ids::kPayloadAttackScore ? 1 : 0);
      }
      const std::chrono::duration<double, std::micro> took =
          std::chrono::steady_clock::now() - start;
      us.push_back(took.count() / iterations);
    }
    std::sort(us.begin(), us.end());
    std::printf("  %-20s %8.2f us  (%.2f..%.2f)  %5.1f values/request, %.1f parts flagged\n",
                c.name.c_str(), us[us.size() / 2], us.front(), us.back(),
                static_cast<double>(values) / iterations,
                static_cast<double>(flagged) / iterations);
  }
  return sink < 0 ? 2 : 0;  // keeps the scores observable
}
