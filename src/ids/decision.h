// Decision: what a node's intrusion detection decided about a source, and the scopes it applies
// to (docs/ids.md).
//
//   {origin node, detector + version, scope (ip, IPv6 /64 range, account, device), value,
//    action (block, throttle, alert only), expiry, reason}
//
// Addresses are normalised before they become a scope: an IPv4-mapped IPv6 address
// (::ffff:a.b.c.d) is its IPv4 address, and an IPv6 source is decided on by its /64 (one
// host gets a whole /64 from its provider, so blocking one address of it is no block).
//
// A decision has a canonical serialisation (EncodeDecision: fixed field order, little-endian
// lengths, no optional encodings) so that the mesh slice can sign and ship it byte for byte;
// DecodeDecision is its strict inverse (any other byte string is refused).
// Thread safety: pure values and functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"

namespace medmesh::ids {

enum class ScopeKind : std::uint8_t {
  kIp = 1,       // one IPv4 address (or one IPv6 address, on an allowlist only)
  kRange = 2,    // an IPv6 /64, written "2001:db8:1:2::/64"
  kAccount = 3,  // an opaque account reference (keyed hash), never a login
  kDevice = 4,   // a device id
};
std::string_view ScopeKindName(ScopeKind kind);  // "ip", "range", "account", "device"
std::optional<ScopeKind> ScopeKindFromName(std::string_view name);

enum class Action : std::uint8_t {
  kAlertOnly = 1,  // recorded and shown, nothing enforced
  kThrottle = 2,   // answered 429 (a fraction of requests may pass; enforcer.h)
  kBlock = 3,      // answered 403
};
std::string_view ActionName(Action action);  // "alert", "throttle", "block"
std::optional<Action> ActionFromName(std::string_view name);

struct Scope {
  ScopeKind kind = ScopeKind::kIp;
  std::string value;
  friend bool operator==(const Scope&, const Scope&) = default;
  // "ip:203.0.113.9", "range:2001:db8::/64": the key of tables and maps.
  std::string Key() const;
};

// The scope a request's source address falls under: kIp for IPv4 (IPv4-mapped IPv6 included),
// kRange with the /64 for other IPv6 (but kIp for ::1). kInvalidArgument if `address` is not a
// numeric address.
Result<Scope> SourceScope(std::string_view address);

// Checks and normalises a scope given by an operator: an ip is normalised (IPv4-mapped to
// IPv4, IPv6 in RFC 5952 form), a range must be an IPv6 /64 ("addr/64"; the host bits are
// cleared), an account or device must be 1..128 printable ASCII characters.
// kInvalidArgument otherwise.
Result<Scope> NormalizeScope(ScopeKind kind, std::string_view value);

inline constexpr std::size_t kMaxReasonBytes = 256;

struct Decision {
  std::string id;      // 32 hex characters, unique per origin
  std::string origin;  // the node that decided ("cloudlet-1")
  std::string detector;
  std::uint32_t detector_version = 0;
  Scope scope;
  Action action = Action::kAlertOnly;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;  // Unix ms; no effect from then on
  std::uint32_t offence = 1;    // 1 for a first offence of this scope; drives the expiry
  std::string reason;           // for operators: counts and thresholds, never secrets
  // Set when revoked (by an operator or admin); not part of the canonical encoding.
  std::optional<std::int64_t> revoked_ms;

  bool ActiveAt(std::int64_t now_ms) const {
    return !revoked_ms && now_ms >= created_ms && now_ms < expires_ms;
  }
};

// Canonical bytes of every field but revoked_ms: magic "MMIDSD", version 1, then id, origin,
// detector (u32-length-prefixed), detector_version (u32), scope kind (u8), scope value
// (prefixed), action (u8), created_ms, expires_ms (u64, two's complement), offence (u32),
// reason (prefixed). All integers little-endian.
Bytes EncodeDecision(const Decision& decision);
// kInvalidArgument for anything EncodeDecision cannot have produced (bad magic, version,
// enum value, trailing bytes, a field over its limit).
Result<Decision> DecodeDecision(ByteView encoded);

}  // namespace medmesh::ids
