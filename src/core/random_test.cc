#include "core/random.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>

#include "testing/fake_random.h"

namespace medmesh {
namespace {

TEST(SystemRandomTest, FillsWithFreshBytes) {
  SystemRandom random;
  const Bytes a = random.Generate(32);
  const Bytes b = random.Generate(32);
  ASSERT_EQ(a.size(), 32U);
  // 2^-256 chance of a false failure for each check.
  EXPECT_NE(a, Bytes(32, 0));
  EXPECT_NE(a, b);
}

TEST(SystemRandomTest, EmptyFillIsANoOp) {
  SystemRandom random;
  random.Fill(MutableByteView{});
  EXPECT_TRUE(random.Generate(0).empty());
}

TEST(SystemRandomTest, BytesLookUniform) {
  // A smoke test that every byte value shows up, not a statistical test of the OS CSPRNG:
  // with 64 KiB the chance that a given value never appears is about e^-256.
  SystemRandom random;
  const Bytes data = random.Generate(std::size_t{64} * 1024);
  std::set<std::uint8_t> seen(data.begin(), data.end());
  EXPECT_EQ(seen.size(), 256U);
}

TEST(DeterministicRandomTest, SameSeedSameStream) {
  testing::DeterministicRandom a(7);
  testing::DeterministicRandom b(7);
  EXPECT_EQ(a.Generate(100), b.Generate(100));
  testing::DeterministicRandom c(8);
  testing::DeterministicRandom d(7);
  EXPECT_NE(c.Generate(32), d.Generate(32));
}

TEST(DeterministicRandomTest, StreamDoesNotDependOnHowItIsSplit) {
  testing::DeterministicRandom whole(42);
  testing::DeterministicRandom parts(42);
  const Bytes all = whole.Generate(29);
  Bytes joined = parts.Generate(3);
  for (const std::size_t n : {std::size_t{5}, std::size_t{0}, std::size_t{8}, std::size_t{13}}) {
    const Bytes part = parts.Generate(n);
    joined.insert(joined.end(), part.begin(), part.end());
  }
  EXPECT_EQ(joined, all);
}

TEST(RandomTest, NextU64IsLittleEndianOverFill) {
  testing::DeterministicRandom bytes_source(3);
  testing::DeterministicRandom u64_source(3);
  const Bytes b = bytes_source.Generate(8);
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < 8; ++i) expected |= std::uint64_t{b[i]} << (8 * i);
  EXPECT_EQ(u64_source.NextU64(), expected);
}

}  // namespace
}  // namespace medmesh
