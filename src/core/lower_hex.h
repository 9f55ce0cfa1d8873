// Whether text is lower-case hex, the alphabet HexEncode (core/bytes.h) writes: the check
// for ids, nonces and digests that must have exactly one spelling (HexDecode accepts either
// case, so a decoded round trip alone would let "AB" and "ab" name the same thing).
// Thread safety: pure function.
#pragma once

#include <algorithm>
#include <string_view>

namespace medmesh {

// True when every character of `s` is 0-9 or a-f (also for an empty `s`: check sizes apart).
inline bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace medmesh
