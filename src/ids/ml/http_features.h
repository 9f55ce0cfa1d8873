// Features of HTTP requests and single parameter values for the request classifier
// (classifier.h). They describe the *shape* of a value after URL decoding (character classes,
// entropy, lengths, encoding depth) and counts of attack *structures* (a quote followed by an SQL
// operator, an SQL function call, an HTML tag opener, an event-handler attribute, "../", a shell
// metacharacter followed by a command), never parameter names or literal values, so a model built
// on them can score parameters and paths it has never seen. English words such as "select", "and"
// or "from" count only inside SQL-like structures, and an apostrophe inside a word ("O'Brien",
// "don't") or "<" not opening a tag ("<3", "< 5 mg") counts as nothing, so prose stays prose.
//
// A request is scored as one vector: the element-wise maximum of the value features over all its
// parameter values (query and form body), the same value features of the decoded path, and a few
// request-level counts. A single value is scored as a request with an empty path and one
// parameter (ExtractValueRequestFeatures), the layout the training data of HttpParamsDataset uses.
//
// Request model v2 appends, after the 87 features of v1 (unchanged, so a v1 model reads the
// first kHttpV1FeatureCount features of a v2 vector): 11 more value features for the values
// (element-wise maximum) and for the path (dot runs before a slash, absolute system paths, shell
// metacharacters, a pipe before a word, character-class transitions, digit and letter runs,
// quotes, all-alphanumeric, special first/last character), then the 10 features of the
// application's benign parameter profile (param_profile.h), NaN (missing) when no profile is
// given or the request lies outside it. A single value never has a profile.
//
// The layout is versioned by HttpFeatureSchema(): the names in order, hashed into the model
// manifest, so a model is never applied to vectors of another layout.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace medmesh::ids::ml {

class ParamProfile;

// The width of request model v1's layout: the first features of HttpFeatureSchema().
inline constexpr std::size_t kHttpV1FeatureCount = 87;

// A request as the HTTP layer sees it, all fields raw (still percent-encoded).
struct HttpRequestInput {
  std::string_view method;  // "GET", "POST", ... ("" when unknown)
  std::string_view path;    // the target's path, without "?query"
  std::string_view query;   // the query string without the leading '?'
  std::string_view body;    // an application/x-www-form-urlencoded body, or "" (JSON: score the
                            // string values one by one with ScoreValue instead)
};

// Percent-decodes `text` ('+' becomes a space when `plus_is_space`). Malformed escapes are kept
// literally. Bytes are kept as bytes (no charset conversion).
std::string PercentDecode(std::string_view text, bool plus_is_space);

// Decodes repeatedly (at most 4 times) while decoding changes the text; `*depth` receives how
// many rounds changed it (0 for plain text, 2 for "%2527").
std::string DecodeFully(std::string_view text, int* depth);

// Splits "a=1&b=2" into raw (still encoded) key/value pairs; a part without '=' is a key with an
// empty value. Empty parts are skipped.
std::vector<std::pair<std::string_view, std::string_view>> SplitParams(std::string_view query);

// The feature names in vector order; their hash is the model manifest's schema hash.
const std::vector<std::string>& HttpFeatureSchema();

// The feature vector of a request (HttpFeatureSchema().size() floats); the profile block is
// NaN unless `profile` is given and the request lies in its scope.
std::vector<float> ExtractRequestFeatures(const HttpRequestInput& request,
                                          const ParamProfile* profile = nullptr);

// The feature vector of one parameter value alone (raw, percent-encoded or not).
std::vector<float> ExtractValueRequestFeatures(std::string_view value);

// True if the decoded value holds at least one attack structure: a quote or number followed by
// an SQL operator word and then SQL ('=', '(', a comment, a number: '"take with food" or
// "fasting"' is prose), an "x=x" tautology, an SQL comment, an SQL function call, an HTML tag
// opener, an event-handler attribute, "../", a sensitive system path, a NUL byte, a shell
// metacharacter followed by a command (not an ampersand between spaces before a word prose
// uses: "dog & cat"), a server-side include, and since model v2: dot runs before a slash
// ("....//") or opening a segment ("........etc"), an absolute system path ("/usr/bin/id"),
// sqlmap's parenthesised, stacked and sub-select forms ("')) or 1=1", "';waitfor delay",
// "(select 1"), script calls ("alert("), command substitution ("`id`") and command lines
// ("cat /etc/hosts"). Free text without
// any of these is never an injection, whatever its shape; RequestClassifier::ScoreValue uses this
// as a gate.
// Since ADR 0051 also a template or expression-language expression (HasTemplateExpression),
// and "${...}" counts only as such, no longer as a command substitution ("costs ${5} co-pay").
bool HasAttackStructure(std::string_view value);

// True if the decoded value holds a server-side template or expression-language expression:
// "{{...}}", "${...}", "#{...}", "*{...}" or "<%...%>" (percent-decoded first, as the other
// structures are) whose content (at most 256 bytes) is an
// expression - an operator, call, index, quote or lookup colon (* + / ( ) [ ] ' " | = < > : ; `
// \ or "__") - rather than a placeholder: "{{name}}", "${5}", "#{count}", "{{ user.name }}"
// are not ("{{7*7}}", "${7*7}", "<%= 7*7 %>", "#{7*7}", "${jndi:ldap://x/a}" are). Not a model
// feature (the model's schema is unchanged): the scorer treats such a value as an attack by
// rule (payload_scoring.h).
bool HasTemplateExpression(std::string_view value);

}  // namespace medmesh::ids::ml
