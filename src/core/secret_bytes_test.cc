#include "core/secret_bytes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <type_traits>
#include <utility>

namespace medmesh {
namespace {

template <typename T>
concept Streamable = requires(std::ostream& os, const T& t) {
  os << t;
};

// The type's safety properties are part of its contract: no copies, no printing, no silent
// conversion to a view, and moves that cannot throw (so containers move instead of copying).
static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(std::is_nothrow_move_assignable_v<SecretBytes>);
static_assert(!Streamable<SecretBytes>);
static_assert(!std::is_convertible_v<SecretBytes, ByteView>);
static_assert(!std::is_convertible_v<Bytes, SecretBytes>);  // constructors are explicit

Bytes Pattern(std::size_t n, std::uint8_t start = 1) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(start + i);
  return b;
}

bool SameBytes(ByteView a, ByteView b) { return std::ranges::equal(a, b); }

TEST(SecretBytesTest, DefaultIsEmpty) {
  SecretBytes s;
  EXPECT_EQ(s.size(), 0U);
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s.reveal().empty());
}

TEST(SecretBytesTest, SizedConstructorZeroFills) {
  SecretBytes s(32);
  EXPECT_EQ(s.size(), 32U);
  EXPECT_FALSE(s.empty());
  EXPECT_TRUE(std::ranges::all_of(s.reveal(), [](std::uint8_t b) { return b == 0; }));
}

TEST(SecretBytesTest, CopiesFromViewAndOwnsItsStorage) {
  Bytes source = Pattern(16);
  SecretBytes s{ByteView(source)};
  ASSERT_EQ(s.size(), 16U);
  EXPECT_TRUE(SameBytes(s.reveal(), source));
  EXPECT_NE(s.reveal().data(), source.data());
  source[0] ^= 0xff;
  EXPECT_EQ(s.reveal()[0], 1);
}

TEST(SecretBytesTest, MutableBytesWritesThrough) {
  SecretBytes s(4);
  s.mutable_bytes()[2] = 0x5a;
  EXPECT_EQ(s.reveal()[2], 0x5a);
  EXPECT_EQ(s.mutable_bytes().size(), 4U);
}

TEST(SecretBytesTest, MoveConstructionEmptiesTheSource) {
  const Bytes p = Pattern(24);
  SecretBytes a{ByteView(p)};
  const std::uint8_t* storage = a.reveal().data();
  SecretBytes b(std::move(a));
  // The bytes change owner without a copy, so no second copy of the secret is left behind.
  EXPECT_EQ(b.reveal().data(), storage);
  EXPECT_TRUE(SameBytes(b.reveal(), p));
  // NOLINTBEGIN(bugprone-use-after-move,clang-analyzer-cplusplus.Move): the moved-from state is
  // what this test checks.
  EXPECT_EQ(a.size(), 0U);
  EXPECT_TRUE(a.empty());
  EXPECT_TRUE(a.reveal().empty());
  EXPECT_EQ(a.reveal().data(), nullptr);
  // NOLINTEND(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
}

TEST(SecretBytesTest, MoveAssignmentReplacesTargetAndEmptiesTheSource) {
  const Bytes p = Pattern(8);
  SecretBytes a{ByteView(p)};
  SecretBytes b{ByteView(Pattern(100, 0x80))};
  b = std::move(a);
  EXPECT_EQ(b.size(), 8U);
  EXPECT_TRUE(SameBytes(b.reveal(), p));
  // NOLINTBEGIN(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_EQ(a.size(), 0U);
  EXPECT_TRUE(a.reveal().empty());
  // NOLINTEND(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
}

TEST(SecretBytesTest, SelfMoveAssignmentKeepsContents) {
  const Bytes p = Pattern(8);
  SecretBytes a{ByteView(p)};
  SecretBytes& alias = a;
  a = std::move(alias);
  EXPECT_TRUE(SameBytes(a.reveal(), p));
}

TEST(SecretBytesTest, MovedFromObjectIsReusable) {
  SecretBytes a{ByteView(Pattern(8))};
  SecretBytes b(std::move(a));
  a = SecretBytes(ByteView(Pattern(3, 9)));  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.size(), 3U);
  EXPECT_EQ(a.reveal()[0], 9);
}

TEST(SecretBytesTest, ClearEmpties) {
  SecretBytes s{ByteView(Pattern(32))};
  s.Clear();
  EXPECT_EQ(s.size(), 0U);
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s.reveal().empty());
  s.Clear();  // idempotent
  EXPECT_TRUE(s.empty());
}

TEST(SecretBytesTest, CloneIsAnIndependentEqualCopy) {
  SecretBytes a{ByteView(Pattern(32))};
  SecretBytes b = a.Clone();
  EXPECT_TRUE(a == b);
  EXPECT_NE(a.reveal().data(), b.reveal().data());
  b.mutable_bytes()[0] ^= 1;
  EXPECT_FALSE(a == b);
  EXPECT_EQ(a.reveal()[0], 1);

  SecretBytes empty;
  SecretBytes empty_clone = empty.Clone();
  EXPECT_TRUE(empty_clone.empty());
}

TEST(SecretBytesTest, EqualityComparesContents) {
  const Bytes p = Pattern(32);
  SecretBytes a{ByteView(p)};
  SecretBytes b{ByteView(p)};
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a != b);
  for (std::size_t i = 0; i < p.size(); ++i) {
    SecretBytes c = a.Clone();
    c.mutable_bytes()[i] ^= 0x80;
    EXPECT_FALSE(a == c) << "difference at byte " << i;
  }
  EXPECT_TRUE(SecretBytes() == SecretBytes());
}

TEST(SecretBytesTest, DifferentLengthsAreNeverEqual) {
  const Bytes p = Pattern(32);
  SecretBytes full{ByteView(p)};
  SecretBytes prefix{ByteView(p).first(31)};
  EXPECT_FALSE(full == prefix);
  EXPECT_FALSE(prefix == full);
  EXPECT_FALSE(full == SecretBytes());
  // Zero-filled buffers of different sizes: equal contents as far as they go, still unequal.
  EXPECT_FALSE(SecretBytes(4) == SecretBytes(5));
}

TEST(ConstantTimeEqualTest, Semantics) {
  const Bytes a = Pattern(64);
  EXPECT_TRUE(ConstantTimeEqual(a, a));
  EXPECT_TRUE(ConstantTimeEqual(a, Bytes(a)));
  EXPECT_TRUE(ConstantTimeEqual({}, {}));
  EXPECT_FALSE(ConstantTimeEqual(a, ByteView(a).first(63)));
  EXPECT_FALSE(ConstantTimeEqual(ByteView(a).first(0), a));
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (std::uint8_t bit = 1; bit != 0; bit = static_cast<std::uint8_t>(bit << 1)) {
      Bytes b = a;
      b[i] ^= bit;
      ASSERT_FALSE(ConstantTimeEqual(a, b)) << "byte " << i << " bit " << int{bit};
    }
  }
}

TEST(SecureWipeTest, ZeroesTheBuffer) {
  Bytes b = Pattern(48);
  SecureWipe(b.data() + 8, 32);
  for (std::size_t i = 0; i < b.size(); ++i) {
    const bool wiped = i >= 8 && i < 40;
    EXPECT_EQ(b[i] == 0, wiped) << i;
  }
  SecureWipe(nullptr, 0);  // a no-op, not a crash
}

}  // namespace
}  // namespace medmesh
