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
constexpr std::array<std::string_view, 4> kTraversals = {"../", "..\\", "..%2f", "..%5c"};
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

// The v1 attack structures that HasAttackStructure uses, one function each over the decoded,
// lower-cased value `s`: ComputeValueStats counts them for the model; HasAttackStructure asks
// only those whose bytes the value holds.

// "<" opening a tag: followed by a letter, '/', '!' or '?' ("<3", "< 5 mg" are prose).
bool OpensTag(std::string_view s, std::size_t i) {
  if (s[i] != '<' || i + 1 >= s.size()) return false;
  const auto next = static_cast<unsigned char>(s[i + 1]);
  return IsAlpha(next) || next == '/' || next == '!' || next == '?';
}

int HtmlTagOpens(std::string_view s) {
  int n = 0;
  for (std::size_t at = s.find('<'); at != std::string_view::npos; at = s.find('<', at + 1)) {
    n += OpensTag(s, at) ? 1 : 0;
  }
  return n;
}

// Tautologies: "x=x" for the same short token on both sides of '=' ("1=1", "'a'='a").
int SqlTautologies(std::string_view s) {
  int tautology = 0;
  for (std::size_t i = s.find('='); i != std::string_view::npos; i = s.find('=', i + 1)) {
    if (i == 0) continue;
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
  return tautology;
}

int SqlComments(std::string_view s) {
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
  return comments;
}

int SqlFunctionCalls(std::string_view s) {
  int n = 0;
  for (std::string_view fn : kSqlFunctions) n += CountWordThen(s, fn, '(');
  return n;
}

// "on" and at least three letters, then '=' ("onload=", "onerror =").
int EventHandlers(std::string_view s) {
  int handlers = 0;
  for (std::size_t at = s.find("on"); at != std::string_view::npos; at = s.find("on", at + 1)) {
    if (at > 0 && IsAlpha(static_cast<unsigned char>(s[at - 1]))) continue;
    std::size_t j = at + 2;
    while (j < s.size() && IsAlpha(static_cast<unsigned char>(s[j]))) ++j;
    if (j - at < 5) continue;  // on + at least 3 letters: onload, onerror, onmouseover
    while (j < s.size() && IsSpace(static_cast<unsigned char>(s[j]))) ++j;
    if (j < s.size() && s[j] == '=') ++handlers;
  }
  return handlers;
}

int Traversals(std::string_view s) {
  int n = 0;
  for (std::string_view t : kTraversals) n += Count(s, t);
  return n;
}

int SensitivePaths(std::string_view s) {
  int n = 0;
  for (std::string_view p : kSensitivePaths) n += Count(s, p);
  return n;
}

// NUL bytes, decoded or written ("%00", "\0").
int NullBytes(std::string_view s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\0')) + Count(s, "%00") + Count(s, "\\0");
}

int ServerSideIncludes(std::string_view s) { return Count(s, "<!--#"); }

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
  int structural_quotes = 0, tag_open = 0, crlf = 0;
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
    if (OpensTag(decoded, i)) ++tag_open;
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
  int quote_op = 0;
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
  int keywords = 0;
  for (std::string_view kw : kSqlKeywords) keywords += CountWord(s, kw);
  int xss = 0;
  for (std::string_view kw : kXssKeywords) xss += Count(s, kw);
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
       static_cast<float>(SqlTautologies(s)),
       static_cast<float>(SqlComments(s)),
       static_cast<float>(SqlFunctionCalls(s)),
       static_cast<float>(structural_quotes),
       static_cast<float>(tag_open),
       static_cast<float>(xss),
       static_cast<float>(EventHandlers(s)),
       static_cast<float>(Traversals(s)),
       static_cast<float>(SensitivePaths(s)),
       static_cast<float>(NullBytes(s)),
       static_cast<float>(shell),
       static_cast<float>(crlf),
       static_cast<float>(ServerSideIncludes(s)),
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
// sql_subselect's time-based form: letters and a space only.
constexpr std::string_view kWaitforDelay = "waitfor delay";

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

// The v2 attack structures, one function each over the decoded, lower-cased value `s`:
// ComputeExtraValueStats counts them for the model; HasAttackStructure asks only those whose
// bytes the value holds.

// Runs of two or more dots ending in a slash or backslash ("../", "....//", "..\"). An
// ellipsis ("wait... then") is prose and does not count.
int DotSlashRuns(std::string_view s) {
  int n = 0;
  for (std::size_t i = s.find('.'); i != std::string_view::npos;) {
    std::size_t j = i;
    while (j < s.size() && s[j] == '.') ++j;
    const std::size_t run = j - i;
    if (run >= 2 && j < s.size() && (s[j] == '/' || s[j] == '\\')) ++n;
    i = s.find('.', j);
  }
  return n;
}

int SystemPaths(std::string_view s) {
  int n = 0;
  for (std::string_view p : kSystemPaths) n += Count(s, p);
  return n;
}

// SQL: a run of closing quotes and parentheses holding a ')' ("')) or", "-7444))) or",
// "1\") as") followed by a continuation word, with '=' or '(' later in the value (sqlmap's
// boolean tests always compare); prose such as '(the "blue") and then' has neither.
int SqlParenOps(std::string_view s) {
  int n = 0;
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
          ++n;
          break;
        }
      }
    }
    i = j;
  }
  return n;
}

// A statement after ';' (kSqlStatements, or "select" followed by what only SQL puts there).
int SqlAfterSemicolons(std::string_view s) {
  int n = 0;
  for (std::size_t i = s.find(';'); i != std::string_view::npos; i = s.find(';', i + 1)) {
    const std::size_t j = SkipSpaces(s, i + 1);
    const std::string_view rest = s.substr(j);
    for (std::string_view w : kSqlStatements) {
      if (rest.substr(0, w.size()) == w) {
        ++n;
        break;
      }
    }
    if (StartsWithWord(s, j, "select")) {
      const std::size_t k = SkipSpaces(s, j + 6);
      if (k < s.size() && (IsDigit(static_cast<unsigned char>(s[k])) ||
                           std::string_view("(*@'\"").find(s[k]) != std::string_view::npos)) {
        ++n;
      }
    }
  }
  return n;
}

// A call or a command after a shell metacharacter (";system('id')", "| cat ...").
int ShellCalls(std::string_view s) {
  int n = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != ';' && c != '|' && c != '&' && c != '`') continue;
    const std::size_t j = SkipSpaces(s, i + 1);
    std::size_t k = j;
    while (k < s.size() && (IsAlpha(static_cast<unsigned char>(s[k])) || s[k] == '_')) ++k;
    if (k > j && k < s.size() && s[k] == '(') ++n;  // ";system('id')"
    for (std::string_view cmd : kCommands2) {
      if (StartsWithWord(s, j, cmd)) {
        n += CommandAfter(s, i, j, cmd) ? 1 : 0;
        break;
      }
    }
  }
  return n;
}

// "(select" followed by what only SQL puts there: a number, '(', '*', '@' or a quote.
int SqlSubselects(std::string_view s) {
  int n = 0;
  for (std::size_t at = s.find('('); at != std::string_view::npos; at = s.find('(', at + 1)) {
    const std::size_t j = SkipSpaces(s, at + 1);
    if (!StartsWithWord(s, j, "select")) continue;
    const std::size_t k = SkipSpaces(s, j + 6);
    if (k < s.size() && (IsDigit(static_cast<unsigned char>(s[k])) ||
                         std::string_view("(*@'\"").find(s[k]) != std::string_view::npos)) {
      ++n;
    }
  }
  return n + Count(s, kWaitforDelay);
}

int SqlFunctionCalls2(std::string_view s) {
  int n = 0;
  for (std::string_view fn : kSqlFunctions2) n += CountWordThen(s, fn, '(');
  return n;
}

int JsCalls(std::string_view s) {
  int n = 0;
  for (std::string_view call : kJsCalls) n += Count(s, call);
  return n;
}

// `word` (command substitution), and "$(".
int ShellBackticks(std::string_view s) {
  int n = Count(s, "$(");
  for (std::size_t at = s.find('`'); at != std::string_view::npos; at = s.find('`', at + 1)) {
    std::size_t k = at + 1;
    while (k < s.size() && IsAlpha(static_cast<unsigned char>(s[k]))) ++k;
    if (k > at + 1 && k < s.size() && (s[k] == '`' || s[k] == ' ')) ++n;
  }
  return n;
}

// A command first in the value, followed by an option or an absolute path.
int CommandLines(std::string_view s) {
  int n = 0;
  for (std::string_view cmd : kCommands2) {
    if (StartsWithWord(s, 0, cmd) && s.size() > cmd.size() + 1 && s[cmd.size()] == ' ' &&
        (s[cmd.size() + 1] == '-' || s[cmd.size() + 1] == '/' || s[cmd.size() + 1] == '\\')) {
      ++n;
    }
  }
  return n;
}

// Four or more dots opening the value or a path segment and glued to what follows
// ("........etc/passwd", "/......{file}"); an ellipsis ends a word and is followed by a space.
int LongDotRuns(std::string_view s) {
  int n = 0;
  for (std::size_t i = s.find('.'); i != std::string_view::npos;) {
    std::size_t j = i;
    while (j < s.size() && s[j] == '.') ++j;
    const bool opens = i == 0 || s[i - 1] == '/' || s[i - 1] == '\\';
    if (j - i >= 4 && opens && j < s.size() && !IsSpace(static_cast<unsigned char>(s[j]))) ++n;
    i = s.find('.', j);
  }
  return n;
}

bool SlashDotStart(std::string_view s) {
  return s.size() >= 2 && s[0] == '/' && (s[1] == '/' || s[1] == '.');
}

std::array<float, kExtraValueNames.size()> ComputeExtraValueStats(std::string_view raw) {
  const std::string decoded = DecodeFully(raw, nullptr);
  const std::string low = Lower(decoded);
  const std::string_view s = low;
  std::array<float, kExtraValueNames.size()> f{};
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
  f = {static_cast<float>(DotSlashRuns(s)),
       static_cast<float>(SystemPaths(s)),
       static_cast<float>(meta),
       static_cast<float>(pipe_word),
       static_cast<float>(transitions) / denom,
       static_cast<float>(max_digit),
       static_cast<float>(max_alpha),
       static_cast<float>(quotes),
       alnum ? 1.0f : 0.0f,
       !s.empty() && CharClass(static_cast<unsigned char>(s.front())) == 3 ? 1.0f : 0.0f,
       !s.empty() && CharClass(static_cast<unsigned char>(s.back())) == 3 ? 1.0f : 0.0f,
       static_cast<float>(SqlParenOps(s)),
       static_cast<float>(SqlAfterSemicolons(s)),
       static_cast<float>(SqlSubselects(s)),
       static_cast<float>(SqlFunctionCalls2(s)),
       static_cast<float>(JsCalls(s)),
       static_cast<float>(ShellBackticks(s)),
       static_cast<float>(ShellCalls(s)),
       static_cast<float>(CommandLines(s)),
       static_cast<float>(LongDotRuns(s)),
       SlashDotStart(s) ? 1.0f : 0.0f,
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

namespace {

// The bytes a value holds: HasAttackStructure asks a structure only when the value holds a byte
// every occurrence of it needs (a '=' for a tautology, a '(' for a call), so prose that holds
// none costs one pass over the value.
class ByteSet {
 public:
  void Add(unsigned char c) { bits_[c >> 6] |= std::uint64_t{1} << (c & 63); }
  bool Has(char c) const {
    const auto u = static_cast<unsigned char>(c);
    return ((bits_[u >> 6] >> (u & 63)) & 1) != 0;
  }
  // Some byte of `chars`.
  bool Any(std::string_view chars) const {
    return std::any_of(chars.begin(), chars.end(), [this](char c) { return Has(c); });
  }
  // Every byte of `literal`: the literal may occur in the value.
  bool All(std::string_view literal) const {
    return std::all_of(literal.begin(), literal.end(), [this](char c) { return Has(c); });
  }
  // Whether `s` (the value these bytes are of) holds one of `literals`, looked for only where
  // the value holds every byte of the literal.
  template <std::size_t N>
  bool AnyLiteralIn(std::string_view s, const std::array<std::string_view, N>& literals) const {
    return std::any_of(literals.begin(), literals.end(), [&](std::string_view l) {
      return All(l) && s.find(l) != std::string_view::npos;
    });
  }

 private:
  std::array<std::uint64_t, 4> bits_{};
};

constexpr std::array<char, 256> kLowerCase = [] {
  std::array<char, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[c] = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return table;
}();

}  // namespace

bool HasAttackStructure(std::string_view value) {
  // Decoded and lower-cased as the features see it, in one pass that notes the bytes it holds.
  std::string low = value.find_first_of("%+") == std::string_view::npos
                        ? std::string(value)
                        : DecodeFully(value, nullptr);
  ByteSet has;
  for (char& c : low) {
    c = kLowerCase[static_cast<unsigned char>(c)];
    has.Add(static_cast<unsigned char>(c));
  }
  const std::string_view s = low;
  // v1's structures; its sql_quote_op and shell_command are replaced by their strict forms below
  // (prose holds the loose ones: '"take with food" or ...', "dog & cat").
  if (has.Has('=') && (SqlTautologies(s) > 0 || EventHandlers(s) > 0)) return true;
  if (has.Any("*-#") && SqlComments(s) > 0) return true;
  if (has.Has('(') && (SqlFunctionCalls(s) > 0 || SqlFunctionCalls2(s) > 0)) return true;
  if (has.Has('<') && (HtmlTagOpens(s) > 0 || ServerSideIncludes(s) > 0)) return true;
  if (has.AnyLiteralIn(s, kTraversals)) return true;
  // Dot runs end in a slash; long ones open the value or follow a slash.
  const bool slash = has.Any("/\\");
  if (has.Has('.') && slash && DotSlashRuns(s) > 0) return true;
  if (has.Has('.') && (slash || s.front() == '.') && LongDotRuns(s) > 0) return true;
  if (has.AnyLiteralIn(s, kSensitivePaths)) return true;
  if (has.Any(std::string_view("\0%\\", 3)) && NullBytes(s) > 0) return true;
  // Model v2's structures.
  if (has.AnyLiteralIn(s, kSystemPaths)) return true;
  if (has.Has(')') && SqlParenOps(s) > 0) return true;
  if (has.Has(';') && SqlAfterSemicolons(s) > 0) return true;
  if ((has.Has('(') || has.All(kWaitforDelay)) && SqlSubselects(s) > 0) return true;
  if (has.AnyLiteralIn(s, kJsCalls)) return true;
  if (has.Any("$`") && ShellBackticks(s) > 0) return true;
  if (has.Any(";|&`") && ShellCalls(s) > 0) return true;
  if (has.Any("-/\\") && CommandLines(s) > 0) return true;
  if (SlashDotStart(s)) return true;
  // A quote, a quote's ')' or a number opening the value ("1 or 1=1").
  const bool number_first =
      !s.empty() && std::string_view("0123456789-( ").find(s.front()) != std::string_view::npos;
  if ((has.Any("'\"`)") || number_first) && SqlQuoteOpStrict(s) > 0) return true;
  // shell_command_strict counts every "${" as a substitution; the gate leaves "${...}" to the
  // template check, which tells an expression ("${7*7}", "${jndi:...}") from a placeholder or a
  // price ("costs ${5} co-pay"; ADR 0051). The model's feature is unchanged.
  if (has.Any("$;|&`\n") && ShellCommandStrict(s) - Count(s, "${") > 0) return true;
  // Template expressions hold no letters in their markers or operators: the lower case is as
  // good as the decoded value.
  return has.Any("{<") && TemplateExpressionIn(s);
}

}  // namespace medmesh::ids::ml
