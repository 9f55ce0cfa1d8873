#include "ids/decision.h"

#include <algorithm>
#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstring>

namespace medmesh::ids {
namespace {

constexpr std::string_view kMagic = "MMIDSD";
constexpr std::uint8_t kVersion = 1;
constexpr std::size_t kMaxFieldBytes = 256;
constexpr std::size_t kMaxIdBytes = 128;

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

Result<boost::asio::ip::address> ParseAddress(std::string_view text) {
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return InvalidArgument("not a numeric IP address");
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return boost::asio::ip::address(
        boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6()));
  }
  return address;
}

std::string Slash64(const boost::asio::ip::address_v6& address) {
  auto bytes = address.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  bool Take(std::size_t n, ByteView& out) {
    if (in_.size() - pos_ < n) return false;
    out = in_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool U8(std::uint8_t& v) {
    ByteView b;
    if (!Take(1, b)) return false;
    v = b[0];
    return true;
  }
  bool U32(std::uint32_t& v) {
    ByteView b;
    if (!Take(4, b)) return false;
    v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | b[static_cast<std::size_t>(i)];
    return true;
  }
  bool I64(std::int64_t& v) {
    ByteView b;
    if (!Take(8, b)) return false;
    std::uint64_t u = 0;
    for (int i = 7; i >= 0; --i) u = (u << 8) | b[static_cast<std::size_t>(i)];
    v = static_cast<std::int64_t>(u);
    return true;
  }
  bool Str(std::string& s, std::size_t max) {
    std::uint32_t n = 0;
    ByteView b;
    if (!U32(n) || n > max || !Take(n, b)) return false;
    s.assign(reinterpret_cast<const char*>(b.data()), b.size());
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  ByteView in_;
  std::size_t pos_ = 0;
};

void AppendString(Bytes& out, std::string_view s) {
  AppendU32Le(out, static_cast<std::uint32_t>(s.size()));
  AppendBytes(out, AsBytes(s));
}

}  // namespace

std::string_view ScopeKindName(ScopeKind kind) {
  switch (kind) {
    case ScopeKind::kIp: return "ip";
    case ScopeKind::kRange: return "range";
    case ScopeKind::kAccount: return "account";
    case ScopeKind::kDevice: return "device";
  }
  return "ip";
}

std::optional<ScopeKind> ScopeKindFromName(std::string_view name) {
  for (ScopeKind k : {ScopeKind::kIp, ScopeKind::kRange, ScopeKind::kAccount, ScopeKind::kDevice}) {
    if (ScopeKindName(k) == name) return k;
  }
  return std::nullopt;
}

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kAlertOnly: return "alert";
    case Action::kThrottle: return "throttle";
    case Action::kBlock: return "block";
  }
  return "alert";
}

std::optional<Action> ActionFromName(std::string_view name) {
  for (Action a : {Action::kAlertOnly, Action::kThrottle, Action::kBlock}) {
    if (ActionName(a) == name) return a;
  }
  return std::nullopt;
}

std::string Scope::Key() const {
  std::string key(ScopeKindName(kind));
  key += ':';
  key += value;
  return key;
}

Result<Scope> SourceScope(std::string_view address) {
  MEDMESH_ASSIGN_OR_RETURN(boost::asio::ip::address parsed, ParseAddress(address));
  if (parsed.is_v4() || parsed.is_loopback()) return Scope{ScopeKind::kIp, parsed.to_string()};
  return Scope{ScopeKind::kRange, Slash64(parsed.to_v6())};
}

Result<Scope> NormalizeScope(ScopeKind kind, std::string_view value) {
  switch (kind) {
    case ScopeKind::kIp: {
      MEDMESH_ASSIGN_OR_RETURN(boost::asio::ip::address parsed, ParseAddress(value));
      return Scope{kind, parsed.to_string()};
    }
    case ScopeKind::kRange: {
      const std::size_t slash = value.rfind('/');
      if (slash == std::string_view::npos || value.substr(slash) != "/64") {
        return InvalidArgument("a range must be an IPv6 /64 (\"2001:db8::/64\")");
      }
      MEDMESH_ASSIGN_OR_RETURN(boost::asio::ip::address parsed,
                               ParseAddress(value.substr(0, slash)));
      if (!parsed.is_v6()) return InvalidArgument("a range must be an IPv6 /64");
      return Scope{kind, Slash64(parsed.to_v6())};
    }
    case ScopeKind::kAccount:
    case ScopeKind::kDevice:
      if (value.empty() || value.size() > kMaxIdBytes || !Printable(value)) {
        return InvalidArgument("an account or device scope must be 1 to 128 printable characters");
      }
      return Scope{kind, std::string(value)};
  }
  return InvalidArgument("unknown scope kind");
}

Bytes EncodeDecision(const Decision& d) {
  Bytes out;
  AppendBytes(out, AsBytes(kMagic));
  AppendU8(out, kVersion);
  AppendString(out, d.id);
  AppendString(out, d.origin);
  AppendString(out, d.detector);
  AppendU32Le(out, d.detector_version);
  AppendU8(out, static_cast<std::uint8_t>(d.scope.kind));
  AppendString(out, d.scope.value);
  AppendU8(out, static_cast<std::uint8_t>(d.action));
  AppendU64Le(out, static_cast<std::uint64_t>(d.created_ms));
  AppendU64Le(out, static_cast<std::uint64_t>(d.expires_ms));
  AppendU32Le(out, d.offence);
  AppendString(out, d.reason);
  return out;
}

Result<Decision> DecodeDecision(ByteView encoded) {
  const Error bad = InvalidArgument("not a canonical IDS decision");
  Reader r(encoded);
  ByteView magic;
  std::uint8_t version = 0, kind = 0, action = 0;
  Decision d;
  if (!r.Take(kMagic.size(), magic) || AsStringView(magic) != kMagic || !r.U8(version) ||
      version != kVersion || !r.Str(d.id, kMaxIdBytes) || !r.Str(d.origin, kMaxIdBytes) ||
      !r.Str(d.detector, kMaxIdBytes) || !r.U32(d.detector_version) || !r.U8(kind) ||
      !r.Str(d.scope.value, kMaxFieldBytes) || !r.U8(action) || !r.I64(d.created_ms) ||
      !r.I64(d.expires_ms) || !r.U32(d.offence) || !r.Str(d.reason, kMaxReasonBytes) || !r.done()) {
    return bad;
  }
  if (kind < 1 || kind > 4 || action < 1 || action > 3) return bad;
  d.scope.kind = static_cast<ScopeKind>(kind);
  d.action = static_cast<Action>(action);
  return d;
}

}  // namespace medmesh::ids
