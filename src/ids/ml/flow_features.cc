#include "ids/ml/flow_features.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>

#include "ids/ml/flow_profile.h"

namespace medmesh::ids::ml {
namespace {

constexpr std::array<std::string_view, kKddFeatureCount> kNames = {"duration",
                                                                   "protocol_type",
                                                                   "service",
                                                                   "flag",
                                                                   "src_bytes",
                                                                   "dst_bytes",
                                                                   "land",
                                                                   "wrong_fragment",
                                                                   "urgent",
                                                                   "hot",
                                                                   "num_failed_logins",
                                                                   "logged_in",
                                                                   "num_compromised",
                                                                   "root_shell",
                                                                   "su_attempted",
                                                                   "num_root",
                                                                   "num_file_creations",
                                                                   "num_shells",
                                                                   "num_access_files",
                                                                   "num_outbound_cmds",
                                                                   "is_host_login",
                                                                   "is_guest_login",
                                                                   "count",
                                                                   "srv_count",
                                                                   "serror_rate",
                                                                   "srv_serror_rate",
                                                                   "rerror_rate",
                                                                   "srv_rerror_rate",
                                                                   "same_srv_rate",
                                                                   "diff_srv_rate",
                                                                   "srv_diff_host_rate",
                                                                   "dst_host_count",
                                                                   "dst_host_srv_count",
                                                                   "dst_host_same_srv_rate",
                                                                   "dst_host_diff_srv_rate",
                                                                   "dst_host_same_src_port_rate",
                                                                   "dst_host_srv_diff_host_rate",
                                                                   "dst_host_serror_rate",
                                                                   "dst_host_srv_serror_rate",
                                                                   "dst_host_rerror_rate",
                                                                   "dst_host_srv_rerror_rate"};

// The vocabularies of NSL-KDD's training data; anything else is "?unknown" in its group.
constexpr std::array<std::string_view, 3> kProtocols = {"tcp", "udp", "icmp"};
constexpr std::array<std::string_view, 11> kFlags = {"SF", "S0", "REJ",    "RSTR", "RSTO", "SH",
                                                     "S1", "S2", "RSTOS0", "S3",   "OTH"};
constexpr std::array<std::string_view, 70> kServices = {
    "aol",         "auth",       "bgp",         "courier",   "csnet_ns", "ctf",     "daytime",
    "discard",     "domain",     "domain_u",    "echo",      "eco_i",    "ecr_i",   "efs",
    "exec",        "finger",     "ftp",         "ftp_data",  "gopher",   "harvest", "hostnames",
    "http",        "http_2784",  "http_443",    "http_8001", "imap4",    "IRC",     "iso_tsap",
    "klogin",      "kshell",     "ldap",        "link",      "login",    "mtp",     "name",
    "netbios_dgm", "netbios_ns", "netbios_ssn", "netstat",   "nnsp",     "nntp",    "ntp_u",
    "other",       "pm_dump",    "pop_2",       "pop_3",     "printer",  "private", "red_i",
    "remote_job",  "rje",        "shell",       "smtp",      "sql_net",  "ssh",     "sunrpc",
    "supdup",      "systat",     "telnet",      "tftp_u",    "tim_i",    "time",    "urh_i",
    "urp_i",       "uucp",       "uucp_path",   "vmnet",     "whois",    "X11",     "Z39_50"};

// Numeric fields (index into FlowRecord::numeric) that are byte counts or event counts and get
// log1p: their raw magnitudes vary over orders of magnitude between attacks of one kind.
bool IsLogScaled(std::size_t numeric_index) {
  // numeric: 0 duration, 1 src_bytes, 2 dst_bytes, 3 land, 4 wrong_fragment, 5 urgent, 6 hot,
  // 7 num_failed_logins, 8 logged_in, 9 num_compromised, 10 root_shell, 11 su_attempted,
  // 12 num_root, 13 num_file_creations, 14 num_shells, 15 num_access_files,
  // 16 num_outbound_cmds, 17 is_host_login, 18 is_guest_login, 19 count, 20 srv_count,
  // 21..27 rates, 28 dst_host_count, 29 dst_host_srv_count, 30..37 rates.
  switch (numeric_index) {
    case 0:
    case 1:
    case 2:
    case 4:
    case 5:
    case 6:
    case 7:
    case 9:
    case 12:
    case 13:
    case 14:
    case 15:
    case 16:
    case 19:
    case 20:
    case 28:
    case 29: return true;
    default: return false;
  }
}

// Flow model v2 appends, after the 125 features of v1: service and flag groups (so a service or
// flag rare in training borrows what its group says) and derived rates and volumes.
constexpr std::array<std::string_view, 8> kServiceGroups = {"web",    "mail",   "file", "remote",
                                                            "naming", "system", "icmp", "other"};
std::string_view ServiceGroup(std::string_view service) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 62> kGroups = {{
      {"http", "web"},          {"http_443", "web"},       {"http_8001", "web"},
      {"http_2784", "web"},     {"gopher", "web"},         {"harvest", "web"},
      {"smtp", "mail"},         {"pop_2", "mail"},         {"pop_3", "mail"},
      {"imap4", "mail"},        {"courier", "mail"},       {"nntp", "mail"},
      {"nnsp", "mail"},         {"mtp", "mail"},           {"ftp", "file"},
      {"ftp_data", "file"},     {"tftp_u", "file"},        {"uucp", "file"},
      {"uucp_path", "file"},    {"printer", "file"},       {"pm_dump", "file"},
      {"efs", "file"},          {"telnet", "remote"},      {"login", "remote"},
      {"shell", "remote"},      {"exec", "remote"},        {"ssh", "remote"},
      {"klogin", "remote"},     {"kshell", "remote"},      {"remote_job", "remote"},
      {"rje", "remote"},        {"supdup", "remote"},      {"X11", "remote"},
      {"IRC", "remote"},        {"domain", "naming"},      {"domain_u", "naming"},
      {"netbios_ns", "naming"}, {"netbios_dgm", "naming"}, {"netbios_ssn", "naming"},
      {"hostnames", "naming"},  {"whois", "naming"},       {"ldap", "naming"},
      {"name", "naming"},       {"finger", "naming"},      {"csnet_ns", "naming"},
      {"sunrpc", "system"},     {"systat", "system"},      {"netstat", "system"},
      {"daytime", "system"},    {"time", "system"},        {"ntp_u", "system"},
      {"echo", "system"},       {"discard", "system"},     {"auth", "system"},
      {"link", "system"},       {"eco_i", "icmp"},         {"ecr_i", "icmp"},
      {"tim_i", "icmp"},        {"urp_i", "icmp"},         {"red_i", "icmp"},
      {"urh_i", "icmp"},        {"sql_net", "system"},
  }};
  for (const auto& [name, group] : kGroups) {
    if (name == service) return group;
  }
  return "other";
}

constexpr std::array<std::string_view, 4> kFlagGroups = {"closed", "unanswered", "rejected",
                                                         "partial"};
std::string_view FlagGroup(std::string_view flag) {
  if (flag == "SF") return "closed";
  if (flag == "S0" || flag == "SH" || flag == "OTH") return "unanswered";
  if (flag == "REJ" || flag == "RSTO" || flag == "RSTR" || flag == "RSTOS0") return "rejected";
  return "partial";  // S1, S2, S3 and anything unknown
}

constexpr std::array<std::string_view, 15> kDerivedNames = {
    "log_bytes_ratio",    "log_total_bytes",     "zero_payload",        "log_src_rate",
    "log_dst_rate",       "log_syn_errors",      "log_rejections",      "log_srv_syn_errors",
    "log_srv_rejections", "log_host_syn_errors", "log_host_rejections", "log_host_srv_syn_errors",
    "log_content_events", "srv_share",           "host_srv_share"};

template <std::size_t N>
void OneHot(const std::array<std::string_view, N>& vocabulary, std::string_view value,
            std::vector<float>& out) {
  bool found = false;
  for (std::string_view v : vocabulary) {
    const bool hit = v == value;
    found = found || hit;
    out.push_back(hit ? 1.0f : 0.0f);
  }
  out.push_back(found ? 0.0f : 1.0f);  // ?unknown (NSL-KDD's own "other" service is a value)
}

}  // namespace

const std::array<std::string_view, kKddFeatureCount>& KddFeatureNames() { return kNames; }

Result<LabeledFlow> ParseKddLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string_view> fields;
  while (true) {
    const std::size_t comma = line.find(',');
    fields.push_back(line.substr(0, comma));
    if (comma == std::string_view::npos) break;
    line.remove_prefix(comma + 1);
  }
  if (fields.size() < kKddFeatureCount || fields.size() > kKddFeatureCount + 2) {
    return InvalidArgument("flow record has " + std::to_string(fields.size()) +
                           " fields; expected 41 features (+ label, + difficulty)");
  }
  LabeledFlow out;
  std::size_t numeric = 0;
  for (std::size_t i = 0; i < kKddFeatureCount; ++i) {
    const std::string_view field = fields[i];
    if (i >= 1 && i <= 3) {
      if (field.empty()) return InvalidArgument("flow record: empty " + std::string(kNames[i]));
      (i == 1   ? out.record.protocol_type
       : i == 2 ? out.record.service
                : out.record.flag) = std::string(field);
      continue;
    }
    double value = 0;
    const auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
    if (ec != std::errc() || end != field.data() + field.size() || !std::isfinite(value) ||
        value < 0) {
      return InvalidArgument("flow record: " + std::string(kNames[i]) +
                             " is not a non-negative number");
    }
    out.record.numeric[numeric++] = value;
  }
  if (fields.size() > kKddFeatureCount) {
    if (fields[kKddFeatureCount].empty()) return InvalidArgument("flow record: empty label");
    out.label = std::string(fields[kKddFeatureCount]);
  }
  if (fields.size() == kKddFeatureCount + 2) {
    int difficulty = 0;
    const std::string_view d = fields[kKddFeatureCount + 1];
    const auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), difficulty);
    if (ec != std::errc() || end != d.data() + d.size()) {
      return InvalidArgument("flow record: difficulty level is not an integer");
    }
  }
  return out;
}

std::string_view KddAttackFamily(std::string_view label) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 40> kFamilies = {{
      {"normal", "normal"},    {"back", "dos"},
      {"land", "dos"},         {"neptune", "dos"},
      {"pod", "dos"},          {"smurf", "dos"},
      {"teardrop", "dos"},     {"apache2", "dos"},
      {"mailbomb", "dos"},     {"processtable", "dos"},
      {"udpstorm", "dos"},     {"ipsweep", "probe"},
      {"nmap", "probe"},       {"portsweep", "probe"},
      {"satan", "probe"},      {"mscan", "probe"},
      {"saint", "probe"},      {"ftp_write", "r2l"},
      {"guess_passwd", "r2l"}, {"imap", "r2l"},
      {"multihop", "r2l"},     {"phf", "r2l"},
      {"spy", "r2l"},          {"warezclient", "r2l"},
      {"warezmaster", "r2l"},  {"sendmail", "r2l"},
      {"named", "r2l"},        {"snmpgetattack", "r2l"},
      {"snmpguess", "r2l"},    {"xlock", "r2l"},
      {"xsnoop", "r2l"},       {"worm", "r2l"},
      {"httptunnel", "r2l"},   {"buffer_overflow", "u2r"},
      {"loadmodule", "u2r"},   {"perl", "u2r"},
      {"rootkit", "u2r"},      {"ps", "u2r"},
      {"sqlattack", "u2r"},    {"xterm", "u2r"},
  }};
  for (const auto& [name, family] : kFamilies) {
    if (name == label) return family;
  }
  return "unknown";
}

bool KddNumericIsLogScaled(std::size_t numeric_index) { return IsLogScaled(numeric_index); }

std::size_t KddServiceGroupIndex(std::string_view service) {
  const std::string_view group = ServiceGroup(service);
  for (std::size_t i = 0; i < kServiceGroups.size(); ++i) {
    if (kServiceGroups[i] == group) return i;
  }
  return kServiceGroups.size() - 1;
}

const std::vector<std::string>& FlowFeatureSchema() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    std::size_t numeric = 0;
    for (std::size_t i = 0; i < kKddFeatureCount; ++i) {
      if (i >= 1 && i <= 3) continue;
      out.push_back((IsLogScaled(numeric) ? "log1p." : "") + std::string(kNames[i]));
      ++numeric;
    }
    for (std::string_view v : kProtocols) out.push_back("protocol_type=" + std::string(v));
    out.push_back("protocol_type=?unknown");
    for (std::string_view v : kServices) out.push_back("service=" + std::string(v));
    out.push_back("service=?unknown");
    for (std::string_view v : kFlags) out.push_back("flag=" + std::string(v));
    out.push_back("flag=?unknown");
    for (std::string_view g : kServiceGroups) out.push_back("service_group=" + std::string(g));
    for (std::string_view g : kFlagGroups) out.push_back("flag_group=" + std::string(g));
    for (std::string_view n : kDerivedNames) out.push_back("derived." + std::string(n));
    for (std::string_view n : FlowProfileFeatureNames()) out.push_back("rarity." + std::string(n));
    return out;
  }();
  return names;
}

std::vector<float> ExtractFlowFeatures(const FlowRecord& record, const FlowProfile* profile) {
  std::vector<float> out;
  out.reserve(FlowFeatureSchema().size());
  for (std::size_t i = 0; i < kKddNumericCount; ++i) {
    const double v = record.numeric[i];
    out.push_back(static_cast<float>(IsLogScaled(i) ? std::log1p(v) : v));
  }
  OneHot(kProtocols, record.protocol_type, out);
  OneHot(kServices, record.service, out);
  OneHot(kFlags, record.flag, out);
  const std::string_view service_group = ServiceGroup(record.service);
  for (std::string_view g : kServiceGroups) out.push_back(g == service_group ? 1.0f : 0.0f);
  const std::string_view flag_group = FlagGroup(record.flag);
  for (std::string_view g : kFlagGroups) out.push_back(g == flag_group ? 1.0f : 0.0f);
  const auto& n = record.numeric;
  auto f = [](double v) { return static_cast<float>(v); };
  const double duration = n[0], src = n[1], dst = n[2], count = n[19], srv_count = n[20];
  const double host_count = n[28], host_srv_count = n[29];
  const double content = n[6] + n[7] + n[9] + n[10] + n[11] + n[12] + n[13] + n[14] + n[15];
  const float derived[kDerivedNames.size()] = {f(std::log1p(src) - std::log1p(dst)),
                                               f(std::log1p(src + dst)),
                                               src == 0 && dst == 0 ? 1.0f : 0.0f,
                                               f(std::log1p(src / (duration + 1))),
                                               f(std::log1p(dst / (duration + 1))),
                                               f(std::log1p(count * n[21])),
                                               f(std::log1p(count * n[23])),
                                               f(std::log1p(srv_count * n[22])),
                                               f(std::log1p(srv_count * n[24])),
                                               f(std::log1p(host_count * n[34])),
                                               f(std::log1p(host_count * n[36])),
                                               f(std::log1p(host_srv_count * n[35])),
                                               f(std::log1p(content)),
                                               f(srv_count / (count + 1)),
                                               f(host_srv_count / (host_count + 1))};
  out.insert(out.end(), std::begin(derived), std::end(derived));
  std::array<float, kFlowProfileFeatureCount> rarity;
  rarity.fill(std::numeric_limits<float>::quiet_NaN());
  if (profile != nullptr) rarity = profile->Features(record);
  out.insert(out.end(), rarity.begin(), rarity.end());
  return out;
}

}  // namespace medmesh::ids::ml
