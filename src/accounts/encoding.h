// Small encodings of the accounts module: base64url (RFC 4648 section 5, no padding) for session
// tokens, random ids ("acc_" + 26 lower-case base32 characters of 16 random bytes, DESIGN8
// "Ids") and the normal form of a login e-mail.
// Thread safety: free functions without shared state.
#pragma once

#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/random.h"
#include "core/status.h"

namespace medmesh::accounts {

// Base64url without padding.
std::string Base64UrlEncode(ByteView data);
// Strict inverse of Base64UrlEncode: only the url-safe alphabet, no padding, no whitespace, and
// only the canonical encoding (unused low bits of the last character must be zero), so every
// byte string has exactly one accepted text. kInvalidArgument otherwise (never quoting input).
Result<Bytes> Base64UrlDecode(std::string_view text);

// Standard base64 (RFC 4648 section 4, '+' and '/', with '=' padding), as browsers' btoa()
// writes it: the same strictness as Base64UrlDecode (padding required, canonical only).
Result<Bytes> Base64Decode(std::string_view text);

// prefix + 26 lower-case RFC 4648 base32 characters (no padding) of 16 fresh random bytes:
// NewId("acc_", random) -> "acc_3m5q...".
std::string NewId(std::string_view prefix, Random& random);
// True if `id` is `prefix` followed by exactly 26 characters of [a-z2-7].
bool IsIdWithPrefix(std::string_view id, std::string_view prefix);

inline constexpr std::size_t kMaxLoginBytes = 254;
// An e-mail address in its one stored and indexed form, wherever MedMesh keeps one (account
// logins; the blind index of a record's e-mail, cloud/three_part.h): surrounding ASCII white
// space (space, tab, CR, LF) trimmed, ASCII letters lower-cased. kInvalidArgument unless it has
// exactly one '@' with text on both sides, no spaces or control characters inside, and at most
// kMaxLoginBytes bytes.
Result<std::string> NormaliseEmail(std::string_view email);
// A login e-mail: NormaliseEmail, and its domain must also hold a '.' (not first or last).
Result<std::string> NormaliseLogin(std::string_view email);

}  // namespace medmesh::accounts
