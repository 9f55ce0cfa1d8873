#include "ids/ml/http_features.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/check.h"
#include "ids/ml/param_profile.h"

namespace medmesh::ids::ml {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsAlpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsWordChar(unsigned char c) { return IsAlpha(c) || IsDigit(c) || c == '_' || c >= 0x80; }
bool IsSpace(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Occurrences of `needle` in `hay`.
int Count(std::string_view hay, std::string_view needle) {
  int n = 0;
  for (std::size_t at = hay.find(needle); at != std::string_view::npos;
       at = hay.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// Occurrences of `word` in `hay` not preceded or followed by a word character.
int CountWord(std::string_view hay, std::string_view word) {
  int n = 0;
  for (std::size_t at = hay.find(word); at != std::string_view::npos; at = hay.find(word, at + 1)) {
    const bool left = at == 0 || !IsWordChar(static_cast<unsigned char>(hay[at - 1]));
    const std::size_t end = at + word.size();
    const bool right = end >= hay.size() || !IsWordChar(static_cast<unsigned char>(hay[end]));
    if (left && right) ++n;
  }
  return n;
}

// Occurrences of `word` as a word followed (after optional spaces or SQL comments) by `next`.
int CountWordThen(std::string_view hay, std::string_view word, char next) {
  int n = 0;
  for (std::size_t at = hay.find(word); at != std::string_view::npos; at = hay.find(word, at + 1)) {
    if (at > 0 && IsWordChar(static_cast<unsigned char>(hay[at - 1]))) continue;
    std::size_t i = at + word.size();
    while (i < hay.size() && IsSpace(static_cast<unsigned char>(hay[i]))) ++i;
    if (i < hay.size() && hay[i] == next) ++n;
  }
  return n;
}

std::size_t SkipSpaces(std::string_view s, std::size_t i) {
  while (i < s.size() && (IsSpace(static_cast<unsigned char>(s[i])) || s[i] == '+')) ++i;
  // Inline comments stand in for spaces in SQL injection ("'/**/or/**/1=1").
  while (i + 1 < s.size() && s[i] == '/' && s[i + 1] == '*') {
    const std::size_t end = s.find("*/", i + 2);
    if (end == std::string_view::npos) return s.size();
    i = end + 2;
    while (i < s.size() && IsSpace(static_cast<unsigned char>(s[i]))) ++i;
  }
  return i;
}

bool StartsWithWord(std::string_view s, std::size_t i, std::string_view word) {
  if (s.substr(i, word.size()) != word) return false;
  const std::size_t end = i + word.size();
  return end >= s.size() || !IsWordChar(static_cast<unsigned char>(s[end]));
}

// A quote that is not an apostrophe inside a word ("O'Brien", "don't").
bool IsStructuralQuote(std::string_view s, std::size_t i) {
  if (s[i] != '\'' && s[i] != '"' && s[i] != '`') return false;
  if (s[i] == '\'' && i > 0 && i + 1 < s.size() && IsAlpha(static_cast<unsigned char>(s[i - 1])) &&
      IsAlpha(static_cast<unsigned char>(s[i + 1]))) {
    return false;
  }
  return true;
}

constexpr std::array<std::string_view, 8> kSqlOperatorWords = {"or",     "and",   "union", "select",
                                                               "having", "order", "group", "xor"};
constexpr std::array<std::string_view, 26> kSqlKeywords = {
    "select",     "union",       "insert",
    "update",     "delete",      "drop",
    "from",       "where",       "table",
    "exec",       "execute",     "sleep",
    "benchmark",  "waitfor",     "delay",
    "null",       "having",      "declare",
    "cast",       "convert",     "information_schema",
    "sysobjects", "xp_cmdshell", "procedure",
    "truncate",   "alter"};
constexpr std::array<std::string_view, 22> kSqlFunctions = {
    "sleep", "benchmark", "char", "chr",      "concat", "ascii",       "substring", "substr",
    "count", "version",   "user", "database", "cast",   "convert",     "md5",       "load_file",
    "ord",   "mid",       "hex",  "unhex",    "if",     "extractvalue"};
constexpr std::array<std::string_view, 20> kXssKeywords = {
    "script",      "javascript:",  "vbscript:", "alert(", "prompt(", "confirm(", "document.",
    "window.",     "eval(",        "src=",      "href=",  "iframe",  "<svg",     "<img",
    "expression(", "fromcharcode", "onerror",   "onload", "<body",   "<object"};
constexpr std::array<std::string_view, 14> kSensitivePaths = {
    "etc/passwd", "etc/shadow", "boot.ini", "win.ini", "web-inf", ".htaccess", "proc/self",
    "/bin/sh",    "cmd.exe",    "system32", "/etc/",   "c:\\",    "wwwroot",   ".ssh"};
constexpr std::array<std::string_view, 30> kShellCommands = {
    "ls",     "cat",      "id",     "whoami", "uname", "wget",      "curl",     "nc",
    "netcat", "ping",     "echo",   "rm",     "sleep", "bash",      "sh",       "cmd",
    "dir",    "type",     "net",    "chmod",  "perl",  "python",    "ifconfig", "ipconfig",
    "passwd", "nslookup", "telnet", "ps",     "kill",  "systeminfo"};
constexpr std::array<std::string_view, 10> kBackupExtensions = {
    ".bak", ".old", ".orig", ".inc", ".tmp", ".swp", ".zip", ".tar", ".gz", ".sav"};

struct ValueStats {
  // Order matches kValueNames.
  std::array<float, 38> f{};
};

constexpr std::array<std::string_view, 38> kValueNames = {
    "len",           "log_len",           "decode_depth",    "pct_left",         "alpha_ratio",
    "digit_ratio",   "space_ratio",       "upper_ratio",     "nonascii_ratio",   "control_ratio",
    "special_ratio", "entropy",           "max_special_run", "distinct_special", "words",
    "mean_word_len", "sql_quote_op",      "sql_keywords",    "sql_tautology",    "sql_comment",
    "sql_func_call", "structural_quotes", "html_tag_open",   "xss_keywords",     "event_handler",
    "traversal",     "sensitive_path",    "null_byte",       "shell_command",    "crlf",
    "ssi",           "escapes",           "brackets",        "equals",           "semicolon_tight",
    "max_token_len", "url_scheme",        "sql_specials"};

ValueStats ComputeValueStats(std::string_view raw) {
  ValueStats out;
  auto& f = out.f;
  int depth = 0;
  const std::string decoded = DecodeFully(raw, &depth);
  const std::string low = Lower(decoded);
  const std::string_view s = low;
  const float n = static_cast<float>(s.size());
  const float denom = std::max(1.0f, n);

  int alpha = 0, digit = 0, space = 0, upper = 0, nonascii = 0, control = 0, special = 0;
  int run = 0, max_run = 0, token = 0, max_token = 0, brackets = 0, equals = 0, semi_tight = 0;
  int structural_quotes = 0, tag_open = 0, null_byte = 0, crlf = 0;
  std::array<int, 256> counts{};
  std::array<bool, 128> special_seen{};
  for (std::size_t i = 0; i < decoded.size(); ++i) {
    const auto c = static_cast<unsigned char>(decoded[i]);
    ++counts[c];
    const bool is_alpha = IsAlpha(c);
    alpha += is_alpha;
    digit += IsDigit(c);
    space += c == ' ';
    upper += c >= 'A' && c <= 'Z';
    nonascii += c >= 0x80;
    control += c < 0x20 || c == 0x7f;
    null_byte += c == 0;
    crlf += c == '\r' || c == '\n';
    const bool is_special = c < 0x80 && !is_alpha && !IsDigit(c) && c != ' ';
    if (is_special) {
      ++special;
      special_seen[c] = true;
      max_run = std::max(max_run, ++run);
    } else {
      run = 0;
    }
    if (IsSpace(c)) {
      token = 0;
    } else {
      max_token = std::max(max_token, ++token);
    }
    brackets += c == '(' || c == ')' || c == '{' || c == '}' || c == '[' || c == ']';
    equals += c == '=';
    if (c == ';' && i + 1 < decoded.size() && !IsSpace(static_cast<unsigned char>(decoded[i + 1])))
      ++semi_tight;
    if (IsStructuralQuote(s, i)) ++structural_quotes;
    if (c == '<' && i + 1 < decoded.size()) {
      const auto next = static_cast<unsigned char>(decoded[i + 1]);
      if (IsAlpha(next) || next == '/' || next == '!' || next == '?') ++tag_open;
    }
  }
  double entropy = 0;
  for (int count : counts) {
    if (count == 0) continue;
    const double p = count / static_cast<double>(denom);
    entropy -= p * std::log2(p);
  }
  int distinct_special = 0;
  for (bool seen : special_seen) distinct_special += seen;

  // Words: runs of two or more letters.
  int words = 0, word_letters = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    while (j < s.size() && IsAlpha(static_cast<unsigned char>(s[j]))) ++j;
    if (j - i >= 2) {
      ++words;
      word_letters += static_cast<int>(j - i);
    }
    i = j == i ? i + 1 : j;
  }

  // SQL structures.
  int quote_op = 0, tautology = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool quote = IsStructuralQuote(s, i);
    // ")" only right after a quote ("') or ..."), a number only when it opens the value
    // ("1 and 1=1"): "(2 flights) and" or "type 1 and type 2" are prose.
    const bool closing_paren = s[i] == ')' && i > 0 && IsStructuralQuote(s, i - 1);
    const bool number_end =
        IsDigit(static_cast<unsigned char>(s[i])) &&
        (i + 1 == s.size() || !IsWordChar(static_cast<unsigned char>(s[i + 1]))) &&
        s.substr(0, i).find_first_not_of("0123456789-( ") == std::string_view::npos;
    if (!quote && !closing_paren && !number_end) continue;
    const std::size_t j = SkipSpaces(s, i + 1);
    if (j == i + 1 && !quote && !closing_paren) continue;  // "1or" is not "1 or"
    for (std::string_view op : kSqlOperatorWords) {
      if (StartsWithWord(s, j, op)) {
        ++quote_op;
        break;
      }
    }
    if (s.substr(j, 2) == "||" || s.substr(j, 2) == "&&") ++quote_op;
  }
  // Tautologies: "x=x" for the same short token on both sides of '=' ("1=1", "'a'='a").
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=' || i == 0) continue;
    std::size_t l = i;
    while (l > 0 && s[l - 1] != ' ' && s[l - 1] != '=' && i - l < 8) --l;
    std::size_t r = i + 1;
    while (r < s.size() && s[r] != ' ' && s[r] != '=' && r - i - 1 < 8) ++r;
    std::string_view left = s.substr(l, i - l), right = s.substr(i + 1, r - i - 1);
    auto trim = [](std::string_view t) {
      while (!t.empty() && (t.front() == '\'' || t.front() == '"' || t.front() == '('))
        t.remove_prefix(1);
      while (!t.empty() && (t.back() == '\'' || t.back() == '"' || t.back() == ')' ||
                            t.back() == '-' || t.back() == '#'))
        t.remove_suffix(1);
      return t;
    };
    left = trim(left);
    right = trim(right);
    if (!left.empty() && left == right) ++tautology;
  }
  int keywords = 0;
  for (std::string_view kw : kSqlKeywords) keywords += CountWord(s, kw);
  int comments = Count(s, "/*") + Count(s, "*/");
  for (std::size_t at = s.find("--"); at != std::string_view::npos; at = s.find("--", at + 2)) {
    // "--" ends an SQL statement: at the end of the value, or glued to what precedes it and
    // followed by a space ("1'-- x"). A dash between spaces (" -- ") is prose punctuation.
    const std::size_t rest = s.find_first_not_of(" +-", at + 2);
    const bool at_end = rest == std::string_view::npos;
    const bool glued = at > 0 && s[at - 1] != ' ' && s[at - 1] != '-' &&
                       (at + 2 >= s.size() || s[at + 2] == ' ' || s[at + 2] == '+');
    if (at_end || glued) ++comments;
  }
  if (!s.empty() && s.back() == '#') ++comments;
  int func_calls = 0;
  for (std::string_view fn : kSqlFunctions) func_calls += CountWordThen(s, fn, '(');

  int xss = 0;
  for (std::string_view kw : kXssKeywords) xss += Count(s, kw);
  int handlers = 0;
  for (std::size_t at = s.find("on"); at != std::string_view::npos; at = s.find("on", at + 1)) {
    if (at > 0 && IsAlpha(static_cast<unsigned char>(s[at - 1]))) continue;
    std::size_t j = at + 2;
    while (j < s.size() && IsAlpha(static_cast<unsigned char>(s[j]))) ++j;
    if (j - at < 5) continue;  // on + at least 3 letters: onload, onerror, onmouseover
    while (j < s.size() && IsSpace(static_cast<unsigned char>(s[j]))) ++j;
    if (j < s.size() && s[j] == '=') ++handlers;
  }
  const int traversal = Count(s, "../") + Count(s, "..\\") + Count(s, "..%2f") + Count(s, "..%5c");
  int sensitive = 0;
  for (std::string_view p : kSensitivePaths) sensitive += Count(s, p);
  null_byte += Count(s, "%00") + Count(s, "\\0");
  int shell = Count(s, "$(") + Count(s, "${");
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != ';' && c != '|' && c != '&' && c != '`' && c != '\n') continue;
    const std::size_t j = SkipSpaces(s, i + 1);
    for (std::string_view cmd : kShellCommands) {
      if (StartsWithWord(s, j, cmd)) {
        ++shell;
        break;
      }
    }
  }
  const int ssi = Count(s, "<!--#");
  const int escapes = Count(s, "&#") + Count(s, "\\x") + Count(s, "\\u") + Count(s, "0x");
  const int url_scheme = Count(s, "http://") + Count(s, "https://") + Count(s, "ftp://") +
                         Count(s, "file://") + Count(s, "data:");
  const int sql_specials = Count(s, "@@") + Count(s, "::") + Count(s, "char(") + Count(s, "*");
  const int pct_left = Count(s, "%");

  f = {n,
       std::log1p(n),
       static_cast<float>(depth),
       static_cast<float>(pct_left),
       static_cast<float>(alpha) / denom,
       static_cast<float>(digit) / denom,
       static_cast<float>(space) / denom,
       static_cast<float>(upper) / denom,
       static_cast<float>(nonascii) / denom,
       static_cast<float>(control) / denom,
       static_cast<float>(special) / denom,
       static_cast<float>(entropy),
       static_cast<float>(max_run),
       static_cast<float>(distinct_special),
       static_cast<float>(words),
       words == 0 ? 0.0f : static_cast<float>(word_letters) / static_cast<float>(words),
       static_cast<float>(quote_op),
       static_cast<float>(keywords),
       static_cast<float>(tautology),
       static_cast<float>(comments),
       static_cast<float>(func_calls),
       static_cast<float>(structural_quotes),
       static_cast<float>(tag_open),
       static_cast<float>(xss),
       static_cast<float>(handlers),
       static_cast<float>(traversal),
       static_cast<float>(sensitive),
       static_cast<float>(null_byte),
       static_cast<float>(shell),
       static_cast<float>(crlf),
       static_cast<float>(ssi),
       static_cast<float>(escapes),
       static_cast<float>(brackets),
       static_cast<float>(equals),
       static_cast<float>(semi_tight),
       static_cast<float>(max_token),
       static_cast<float>(url_scheme),
       static_cast<float>(sql_specials)};
  return out;
}

// Value features added in request model v2 (appended to the v1 layout, which is unchanged, so a
// v1 model still reads the first kHttpV1FeatureCount features).
// The first ten after the shape statistics are attack structures (they widen the gate).
constexpr std::array<std::string_view, 23> kExtraValueNames = {
    "dot_slash_runs",      "system_paths",        "shell_meta",          "pipe_word",
    "class_transitions",   "max_digit_run",       "max_alpha_run",       "quotes",
    "only_alnum",          "first_special",       "last_special",        "sql_paren_op",
    "sql_after_semicolon", "sql_subselect",       "sql_func_call2",      "js_call",
    "shell_backtick",      "shell_call",          "shell_command_line",  "long_dot_runs",
    "slash_dot_start",     "sql_quote_op_strict", "shell_command_strict"};
// Indices of the structure features among kExtraValueNames: HasAttackStructure's gate uses them
// in place of v1's sql_quote_op and shell_command, which prose can hold ('"take with food" or
// ...', "dog & cat").
constexpr std::array<std::size_t, 14> kExtraStructures = {0,  1,  11, 12, 13, 14, 15,
                                                          16, 17, 18, 19, 20, 21, 22};

// SQL words that follow a closing quote/parenthesis run in injections ("')) or 1=1").
constexpr std::array<std::string_view, 16> kSqlContinuations = {
    "or",    "and",    "xor",   "union", "select",  "rlike",     "like",  "as",
    "where", "having", "order", "group", "waitfor", "procedure", "limit", "into"};
// Statements after ';' ("1; drop table ...", "';waitfor delay ..."), as prefixes that prose
// does not write ("; update me tomorrow" is prose; "; select" is judged by what follows).
constexpr std::array<std::string_view, 10> kSqlStatements = {
    "iif(",       "waitfor delay", "declare @",   "exec xp_", "exec(",
    "drop table", "insert into",   "delete from", "shutdown", "truncate table"};
// SQL functions v1's list lacks (sqlmap's boolean and time payloads).
constexpr std::array<std::string_view, 14> kSqlFunctions2 = {
    "iif",       "elt",        "make_set",        "pg_sleep",
    "updatexml", "randomblob", "generate_series", "regexp_substring",
    "dbms_pipe", "utl_inaddr", "sysdate",         "nvl",
    "coalesce",  "greatest"};
constexpr std::array<std::string_view, 9> kJsCalls = {
    "alert(",         "prompt(",         "confirm(",      "eval(",      "document.cookie",
    "document.write", "window.location", "fromcharcode(", "settimeout("};
// Commands that, first in a value and followed by an option or a path ("cat /etc/passwd",
// "ping -n 3 ..."), make it a command line. Also commands after a metacharacter.
constexpr std::array<std::string_view, 28> kCommands2 = {
    "cat",        "ls",     "ping",   "ping.exe", "wget",    "curl",   "nc",
    "netcat",     "rm",     "chmod",  "bash",     "sh",      "dir",    "ipconfig",
    "ifconfig",   "whoami", "uname",  "id",       "netstat", "cmd",    "cmd.exe",
    "powershell", "perl",   "python", "true",     "false",   "system", "exec"};

// Absolute system paths ("passwd" alone is a word of prose; "etc/passwd" is sensitive_path).
constexpr std::array<std::string_view, 12> kSystemPaths = {
    "/usr/",  "/bin/", "/sbin/", "/var/",      "/tmp/",    "/dev/",
    "/proc/", "/etc/", "file:/", "c:/windows", "c:/winnt", "%systemroot%"};

int CharClass(unsigned char c) {
  if (IsAlpha(c) || c >= 0x80) return 0;
  if (IsDigit(c)) return 1;
  if (IsSpace(c)) return 2;
  return 3;
}

// Commands that prose does not write after " & " ("dog & cat", "eat & sleep" are prose).
constexpr std::array<std::string_view, 14> kUnambiguousCommands = {
    "whoami", "uname", "ifconfig", "ipconfig", "netstat", "systeminfo", "nslookup",
    "wget",   "curl",  "netcat",   "chmod",    "cmd.exe", "powershell", "ping.exe"};

// Whether the metacharacter at `i` may start a command: not an ampersand between spaces
// unless `command` is unambiguous or takes an option or a path right after.
bool CommandAfter(std::string_view s, std::size_t i, std::size_t j, std::string_view command) {
  const bool prose_ampersand =
      s[i] == '&' && i > 0 && s[i - 1] == ' ' && i + 1 < s.size() && s[i + 1] == ' ';
  if (!prose_ampersand) return true;
  for (std::string_view c : kUnambiguousCommands) {
    if (c == command) return true;
  }
  const std::size_t after = j + command.size();
  return after + 1 < s.size() && s[after] == ' ' &&
         (s[after + 1] == '-' || s[after + 1] == '/' || s[after + 1] == '\\');
}

// v1's shell_command without the prose ampersand.
int ShellCommandStrict(std::string_view s) {
  int n = Count(s, "$(") + Count(s, "${");
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != ';' && c != '|' && c != '&' && c != '`' && c != '\n') continue;
    const std::size_t j = SkipSpaces(s, i + 1);
    for (std::string_view cmd : kShellCommands) {
      if (StartsWithWord(s, j, cmd)) {
        n += CommandAfter(s, i, j, cmd) ? 1 : 0;
        break;
      }
    }
  }
  return n;
}

// v1's sql_quote_op when what follows the operator word is SQL: a comparison or a call ('=',
// '<', '>', '('), a comment or statement end ('#', ';', "--", "/*"), a number, or the word is
// union/select. Prose such as '"take with food" or "on an empty stomach"' has none of these.
int SqlQuoteOpStrict(std::string_view s) {
  int n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool quote = IsStructuralQuote(s, i);
    const bool closing_paren = s[i] == ')' && i > 0 && IsStructuralQuote(s, i - 1);
    const bool number_end =
        IsDigit(static_cast<unsigned char>(s[i])) &&
        (i + 1 == s.size() || !IsWordChar(static_cast<unsigned char>(s[i + 1]))) &&
        s.substr(0, i).find_first_not_of("0123456789-( ") == std::string_view::npos;
    if (!quote && !closing_paren && !number_end) continue;
    const std::size_t j = SkipSpaces(s, i + 1);
    if (j == i + 1 && !quote && !closing_paren) continue;
    for (std::string_view op : kSqlOperatorWords) {
      if (!StartsWithWord(s, j, op)) continue;
      const std::string_view rest = s.substr(j + op.size());
      const std::size_t k = SkipSpaces(s, j + op.size());
      const bool sql = op == "union" || op == "select" ||
                       rest.find_first_of("=<>(#;") != std::string_view::npos ||
                       rest.find("--") != std::string_view::npos ||
                       rest.find("/*") != std::string_view::npos ||
                       (k < s.size() && IsDigit(static_cast<unsigned char>(s[k])));
      n += sql ? 1 : 0;
      break;
    }
  }
  return n;
}

std::array<float, kExtraValueNames.size()> ComputeExtraValueStats(std::string_view raw) {
  const std::string decoded = DecodeFully(raw, nullptr);
  const std::string low = Lower(decoded);
  const std::string_view s = low;
  std::array<float, kExtraValueNames.size()> f{};
  // Runs of two or more dots ending in a slash or backslash ("../", "....//", "..\"). An
  // ellipsis ("wait... then") is prose and does not count.
  int dot_runs = 0;
  for (std::size_t i = 0; i < s.size();) {
    if (s[i] != '.') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && s[j] == '.') ++j;
    const std::size_t run = j - i;
    if (run >= 2 && j < s.size() && (s[j] == '/' || s[j] == '\\')) ++dot_runs;
    i = j;
  }
  int system_paths = 0;
  for (std::string_view p : kSystemPaths) system_paths += Count(s, p);
  int meta = 0, pipe_word = 0, transitions = 0, quotes = 0, digit_run = 0, alpha_run = 0;
  int max_digit = 0, max_alpha = 0;
  bool alnum = !s.empty();
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    meta += c == ';' || c == '|' || c == '`' || c == '$' || c == '&' || c == '>' || c == '<';
    quotes += c == '\'' || c == '"' || c == '`';
    if (c == '|') {
      const std::size_t j = SkipSpaces(s, i + 1);
      if (j < s.size() && IsAlpha(static_cast<unsigned char>(s[j]))) ++pipe_word;
    }
    if (i > 0 && CharClass(c) != CharClass(static_cast<unsigned char>(s[i - 1]))) ++transitions;
    digit_run = IsDigit(c) ? digit_run + 1 : 0;
    alpha_run = IsAlpha(c) ? alpha_run + 1 : 0;
    max_digit = std::max(max_digit, digit_run);
    max_alpha = std::max(max_alpha, alpha_run);
    alnum = alnum && (IsAlpha(c) || IsDigit(c) || c >= 0x80);
  }
  const float denom = std::max<float>(1.0f, static_cast<float>(s.size()));
  // SQL: a run of closing quotes and parentheses holding a ')' ("')) or", "-7444))) or",
  // "1\") as") followed by a continuation word, with '=' or '(' later in the value (sqlmap's
  // boolean tests always compare); prose such as '(the "blue") and then' has neither.
  int paren_op = 0, after_semicolon = 0, shell_call = 0, long_dots = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    int parens = 0;
    while (j < s.size() && (s[j] == ')' || s[j] == '\'' || s[j] == '"')) {
      parens += s[j] == ')';
      ++j;
    }
    if (j == i) {
      ++i;
      continue;
    }
    if (parens > 0) {
      const std::size_t k = SkipSpaces(s, j);
      for (std::string_view w : kSqlContinuations) {
        if (StartsWithWord(s, k, w) && s.find_first_of("=(", k + w.size()) != std::string::npos) {
          ++paren_op;
          break;
        }
      }
    }
    i = j;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == ';') {
      const std::size_t j = SkipSpaces(s, i + 1);
      const std::string_view rest = s.substr(j);
      for (std::string_view w : kSqlStatements) {
        if (rest.substr(0, w.size()) == w) {
          ++after_semicolon;
          break;
        }
      }
      if (StartsWithWord(s, j, "select")) {
        const std::size_t k = SkipSpaces(s, j + 6);
        if (k < s.size() && (IsDigit(static_cast<unsigned char>(s[k])) ||
                             std::string_view("(*@'\"").find(s[k]) != std::string_view::npos)) {
          ++after_semicolon;
        }
      }
    }
    if (c == ';' || c == '|' || c == '&' || c == '`') {
      const std::size_t j = SkipSpaces(s, i + 1);
      std::size_t k = j;
      while (k < s.size() && (IsAlpha(static_cast<unsigned char>(s[k])) || s[k] == '_')) ++k;
      if (k > j && k < s.size() && s[k] == '(') ++shell_call;  // ";system('id')"
      for (std::string_view cmd : kCommands2) {
        if (StartsWithWord(s, j, cmd)) {
          shell_call += CommandAfter(s, i, j, cmd) ? 1 : 0;
          break;
        }
      }
    }
  }
  // "(select" followed by what only SQL puts there: a number, '(', '*', '@' or a quote.
  int subselect = 0;
  for (std::size_t at = s.find('('); at != std::string_view::npos; at = s.find('(', at + 1)) {
    const std::size_t j = SkipSpaces(s, at + 1);
    if (!StartsWithWord(s, j, "select")) continue;
    const std::size_t k = SkipSpaces(s, j + 6);
    if (k < s.size() && (IsDigit(static_cast<unsigned char>(s[k])) ||
                         std::string_view("(*@'\"").find(s[k]) != std::string_view::npos)) {
      ++subselect;
    }
  }
  subselect += Count(s, "waitfor delay");
  int func2 = 0;
  for (std::string_view fn : kSqlFunctions2) func2 += CountWordThen(s, fn, '(');
  int js = 0;
  for (std::string_view call : kJsCalls) js += Count(s, call);
  // `word` (command substitution).
  int backtick = Count(s, "$(");
  for (std::size_t at = s.find('`'); at != std::string_view::npos; at = s.find('`', at + 1)) {
    std::size_t k = at + 1;
    while (k < s.size() && IsAlpha(static_cast<unsigned char>(s[k]))) ++k;
    if (k > at + 1 && k < s.size() && (s[k] == '`' || s[k] == ' ')) ++backtick;
  }
  // A command first in the value, followed by an option or an absolute path.
  int command_line = 0;
  for (std::string_view cmd : kCommands2) {
    if (StartsWithWord(s, 0, cmd) && s.size() > cmd.size() + 1 && s[cmd.size()] == ' ' &&
        (s[cmd.size() + 1] == '-' || s[cmd.size() + 1] == '/' || s[cmd.size() + 1] == '\\')) {
      ++command_line;
    }
  }
  // Four or more dots opening the value or a path segment and glued to what follows
  // ("........etc/passwd", "/......{file}"); an ellipsis ends a word and is followed by a space.
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    while (j < s.size() && s[j] == '.') ++j;
    const bool opens = i == 0 || s[i - 1] == '/' || s[i - 1] == '\\';
    if (j - i >= 4 && opens && j < s.size() && !IsSpace(static_cast<unsigned char>(s[j]))) {
      ++long_dots;
    }
    i = j == i ? i + 1 : j;
  }
  const bool slash_dot_start = s.size() >= 2 && s[0] == '/' && (s[1] == '/' || s[1] == '.');
  f = {static_cast<float>(dot_runs),
       static_cast<float>(system_paths),
       static_cast<float>(meta),
       static_cast<float>(pipe_word),
       static_cast<float>(transitions) / denom,
       static_cast<float>(max_digit),
       static_cast<float>(max_alpha),
       static_cast<float>(quotes),
       alnum ? 1.0f : 0.0f,
       !s.empty() && CharClass(static_cast<unsigned char>(s.front())) == 3 ? 1.0f : 0.0f,
       !s.empty() && CharClass(static_cast<unsigned char>(s.back())) == 3 ? 1.0f : 0.0f,
       static_cast<float>(paren_op),
       static_cast<float>(after_semicolon),
       static_cast<float>(subselect),
       static_cast<float>(func2),
       static_cast<float>(js),
       static_cast<float>(backtick),
       static_cast<float>(shell_call),
       static_cast<float>(command_line),
       static_cast<float>(long_dots),
       slash_dot_start ? 1.0f : 0.0f,
       static_cast<float>(SqlQuoteOpStrict(s)),
       static_cast<float>(ShellCommandStrict(s))};
  return f;
}

constexpr std::array<std::string_view, 11> kRequestNames = {
    "params",   "log_total_len", "is_post",    "has_body",        "empty_values", "duplicate_keys",
    "odd_keys", "max_key_len",   "path_depth", "path_backup_ext", "path_has_ext"};

using ExtraStats = std::array<float, kExtraValueNames.size()>;

std::vector<float> Assemble(const ValueStats& values, const ValueStats& path,
                            const std::array<float, kRequestNames.size()>& request,
                            const ExtraStats& extra_values, const ExtraStats& extra_path,
                            const std::array<float, kProfileFeatureCount>& profile) {
  std::vector<float> out;
  out.reserve(HttpFeatureSchema().size());
  out.insert(out.end(), values.f.begin(), values.f.end());
  out.insert(out.end(), path.f.begin(), path.f.end());
  out.insert(out.end(), request.begin(), request.end());
  out.insert(out.end(), extra_values.begin(), extra_values.end());
  out.insert(out.end(), extra_path.begin(), extra_path.end());
  out.insert(out.end(), profile.begin(), profile.end());
  return out;
}

std::array<float, kProfileFeatureCount> NoProfile() {
  std::array<float, kProfileFeatureCount> f;
  f.fill(std::numeric_limits<float>::quiet_NaN());
  return f;
}

}  // namespace

std::string PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

std::string DecodeFully(std::string_view text, int* depth) {
  std::string current(text);
  int rounds = 0;
  for (int i = 0; i < 4; ++i) {
    std::string next = PercentDecode(current, /*plus_is_space=*/i == 0);
    if (next == current) break;
    current = std::move(next);
    ++rounds;
  }
  if (depth != nullptr) *depth = rounds;
  return current;
}

std::vector<std::pair<std::string_view, std::string_view>> SplitParams(std::string_view query) {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const std::size_t eq = part.find('=');
    if (eq == std::string_view::npos) {
      out.emplace_back(part, std::string_view());
    } else {
      out.emplace_back(part.substr(0, eq), part.substr(eq + 1));
    }
  }
  return out;
}

const std::vector<std::string>& HttpFeatureSchema() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (std::string_view n : kValueNames) out.push_back("value_max." + std::string(n));
    for (std::string_view n : kValueNames) out.push_back("path." + std::string(n));
    for (std::string_view n : kRequestNames) out.push_back("request." + std::string(n));
    for (std::string_view n : kExtraValueNames) out.push_back("value_max." + std::string(n));
    for (std::string_view n : kExtraValueNames) out.push_back("path." + std::string(n));
    for (std::string_view n : ProfileFeatureNames()) out.push_back("profile." + std::string(n));
    return out;
  }();
  return names;
}

std::vector<float> ExtractRequestFeatures(const HttpRequestInput& request,
                                          const ParamProfile* profile) {
  ValueStats values;
  ExtraStats extra_values{};
  std::vector<std::pair<std::string_view, std::string_view>> params = SplitParams(request.query);
  for (const auto& p : SplitParams(request.body)) params.push_back(p);
  std::array<float, kRequestNames.size()> req{};
  float empty = 0, odd_keys = 0, max_key = 0, duplicates = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto& [key, value] = params[i];
    const ValueStats v = ComputeValueStats(value);
    for (std::size_t k = 0; k < v.f.size(); ++k) values.f[k] = std::max(values.f[k], v.f[k]);
    const ExtraStats e = ComputeExtraValueStats(value);
    for (std::size_t k = 0; k < e.size(); ++k) extra_values[k] = std::max(extra_values[k], e[k]);
    empty += value.empty();
    const std::string decoded_key = PercentDecode(key, true);
    max_key = std::max(max_key, static_cast<float>(decoded_key.size()));
    odd_keys += std::any_of(decoded_key.begin(), decoded_key.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return !(IsAlpha(u) || IsDigit(u) || c == '_' || c == '-' || c == '.' || c == '[' ||
               c == ']');
    });
    for (std::size_t j = 0; j < i; ++j) {
      if (params[j].first == key) {
        ++duplicates;
        break;
      }
    }
  }
  const ValueStats path = ComputeValueStats(request.path);
  const std::string decoded_path = Lower(PercentDecode(request.path, false));
  const std::size_t slash = decoded_path.rfind('/');
  const std::string_view last =
      std::string_view(decoded_path).substr(slash == std::string::npos ? 0 : slash + 1);
  float backup = 0;
  for (std::string_view ext : kBackupExtensions) backup += static_cast<float>(Count(last, ext));
  if (!last.empty() && last.back() == '~') ++backup;
  const float total_len =
      static_cast<float>(request.path.size() + request.query.size() + request.body.size());
  req = {static_cast<float>(params.size()),
         std::log1p(total_len),
         request.method == "POST" ? 1.0f : 0.0f,
         request.body.empty() ? 0.0f : 1.0f,
         empty,
         duplicates,
         odd_keys,
         max_key,
         static_cast<float>(std::count(decoded_path.begin(), decoded_path.end(), '/')),
         backup,
         last.find('.') != std::string_view::npos ? 1.0f : 0.0f};
  return Assemble(values, path, req, extra_values, ComputeExtraValueStats(request.path),
                  profile != nullptr ? profile->Features(request) : NoProfile());
}

std::vector<float> ExtractValueRequestFeatures(std::string_view value) {
  // The value as the only parameter of a request without path or method.
  const ValueStats v = ComputeValueStats(value);
  const ValueStats path = ComputeValueStats("");
  std::array<float, kRequestNames.size()> req{};
  req[0] = 1;
  req[1] = std::log1p(static_cast<float>(value.size()));
  req[4] = value.empty() ? 1.0f : 0.0f;
  return Assemble(v, path, req, ComputeExtraValueStats(value), ComputeExtraValueStats(""),
                  NoProfile());
}

namespace {

// HasTemplateExpression on an already decoded value.
bool TemplateExpressionIn(std::string_view value) {
  struct Form {
    std::string_view open, close;
  };
  static constexpr Form kForms[] = {
      {"{{", "}}"}, {"${", "}"}, {"#{", "}"}, {"*{", "}"}, {"<%", "%>"}};
  constexpr std::size_t kMaxExpression = 256;
  constexpr std::string_view kExpressionChars = "*+/()[]'\"|=<>:;`\\";
  for (const auto& [open, close] : kForms) {
    for (std::size_t from = value.find(open); from != std::string_view::npos;
         from = value.find(open, from + 1)) {
      const std::size_t start = from + open.size();
      const std::size_t end = value.find(close, start);
      if (end == std::string_view::npos) break;  // no later opening closes either
      const std::string_view inner = value.substr(start, end - start);
      if (inner.size() <= kMaxExpression &&
          (inner.find_first_of(kExpressionChars) != std::string_view::npos ||
           inner.find("__") != std::string_view::npos)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace

bool HasTemplateExpression(std::string_view value) {
  if (value.find('%') == std::string_view::npos) return TemplateExpressionIn(value);
  return TemplateExpressionIn(DecodeFully(value, nullptr));
}

bool HasAttackStructure(std::string_view value) {
  const ValueStats v = ComputeValueStats(value);
  auto at = [&v](std::string_view name) {
    for (std::size_t i = 0; i < kValueNames.size(); ++i) {
      if (kValueNames[i] == name) return v.f[i];
    }
    MEDMESH_CHECK(false, "unknown value feature");
    return 0.0f;
  };
  for (std::string_view name :
       {"sql_tautology", "sql_comment", "sql_func_call", "html_tag_open", "event_handler",
        "traversal", "sensitive_path", "null_byte", "ssi"}) {
    if (at(name) > 0) return true;
  }
  // Since model v2: the strict forms of sql_quote_op and shell_command, and the v2 structures
  // (dot runs, system paths, sqlmap's parenthesised and stacked forms, script calls, command
  // substitution and command lines).
  const ExtraStats e = ComputeExtraValueStats(value);
  // shell_command_strict counts every "${" as a substitution; the gate leaves "${...}" to the
  // template check, which tells an expression ("${7*7}", "${jndi:...}") from a placeholder or a
  // price ("costs ${5} co-pay"; ADR 0051). The model's feature is unchanged.
  constexpr std::size_t kShellCommandStrict = 22;
  static_assert(kExtraValueNames[kShellCommandStrict] == "shell_command_strict");
  const std::string decoded = DecodeFully(value, nullptr);
  const float dollar_braces = static_cast<float>(Count(decoded, "${"));
  return std::any_of(kExtraStructures.begin(), kExtraStructures.end(),
                     [&](std::size_t i) {
                       return (i == kShellCommandStrict ? e[i] - dollar_braces : e[i]) > 0;
                     }) ||
         TemplateExpressionIn(decoded);
}

}  // namespace medmesh::ids::ml
