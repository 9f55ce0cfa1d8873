#include "core/bytes.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/lower_hex.h"

namespace medmesh {
namespace {

TEST(HexTest, EncodesLowerCase) {
  const Bytes data = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  EXPECT_EQ(HexEncode(data), "00017f80abff");
  EXPECT_EQ(HexEncode({}), "");
}

TEST(HexTest, RoundTripsEveryByteValue) {
  Bytes all(256);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint8_t>(i);
  const std::string hex = HexEncode(all);
  ASSERT_EQ(hex.size(), 512U);
  Result<Bytes> back = HexDecode(hex);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, all);
}

TEST(HexTest, DecodesUpperAndMixedCase) {
  Result<Bytes> upper = HexDecode("ABCDEF");
  ASSERT_TRUE(upper.has_value());
  EXPECT_EQ(*upper, (Bytes{0xab, 0xcd, 0xef}));
  Result<Bytes> mixed = HexDecode("aBcD");
  ASSERT_TRUE(mixed.has_value());
  EXPECT_EQ(*mixed, (Bytes{0xab, 0xcd}));
}

TEST(HexTest, DecodesEmptyString) {
  Result<Bytes> empty = HexDecode("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(HexTest, LowerHexIsWhatHexEncodeWrites) {
  std::string every;
  for (int b = 0; b < 256; ++b) every += HexEncode(Bytes{static_cast<std::uint8_t>(b)});
  EXPECT_TRUE(IsLowerHex(every));
  EXPECT_TRUE(IsLowerHex(""));
  // Upper case (which HexDecode accepts) and the neighbours of the ranges are not.
  for (char bad : std::string("ABCDEF/:@G`g x-\xff") + std::string(1, '\0')) {
    EXPECT_FALSE(IsLowerHex(std::string("0a") + bad + "9")) << static_cast<int>(bad);
  }
}

TEST(HexTest, RejectsOddLength) {
  for (std::string_view odd : {"0", "abc", "00112"}) {
    Result<Bytes> r = HexDecode(odd);
    ASSERT_FALSE(r.has_value()) << odd;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
}

TEST(HexTest, RejectsNonHexCharacters) {
  // Each bad character in both nibble positions, including the neighbours of the valid ranges
  // ('/', ':', '@', 'G', '`', 'g'), whitespace, a sign, a 0x prefix and bytes above 0x7f.
  const std::string bad_chars = std::string("/:@G`g xX+-\xff\x80") + std::string(1, '\0');
  for (char bad : bad_chars) {
    for (std::size_t pos = 0; pos < 4; ++pos) {
      std::string hex = "0a1b";
      hex[pos] = bad;
      Result<Bytes> r = HexDecode(hex);
      ASSERT_FALSE(r.has_value()) << "char " << static_cast<int>(bad) << " at " << pos;
      EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    }
  }
  EXPECT_FALSE(HexDecode("0x00").has_value());
}

TEST(LittleEndianTest, WritersProduceExactBytes) {
  Bytes out;
  AppendU8(out, 0x01);
  AppendU16Le(out, 0x0302);
  AppendU32Le(out, 0x07060504);
  AppendU64Le(out, 0x0f0e0d0c0b0a0908ULL);
  AppendBytes(out, Bytes{0x10, 0x11});
  Bytes expected;
  for (std::uint8_t i = 1; i <= 0x11; ++i) expected.push_back(i);
  EXPECT_EQ(out, expected);
}

TEST(ByteReaderTest, ReadsBackWhatWritersWrote) {
  Bytes buf;
  AppendU8(buf, 0xfe);
  AppendU16Le(buf, 0xbeef);
  AppendU32Le(buf, 0xdeadbeef);
  AppendU64Le(buf, std::numeric_limits<std::uint64_t>::max() - 1);
  AppendBytes(buf, AsBytes("tail"));

  ByteReader r(buf);
  EXPECT_EQ(r.remaining(), buf.size());
  EXPECT_EQ(*r.ReadU8(), 0xfe);
  EXPECT_EQ(*r.ReadU16Le(), 0xbeef);
  EXPECT_EQ(*r.ReadU32Le(), 0xdeadbeefU);
  EXPECT_EQ(*r.ReadU64Le(), std::numeric_limits<std::uint64_t>::max() - 1);
  EXPECT_EQ(r.position(), 15U);
  EXPECT_EQ(AsStringView(r.Rest()), "tail");
  Result<ByteView> tail = r.ReadBytes(4);
  ASSERT_TRUE(tail.has_value());
  EXPECT_EQ(AsStringView(*tail), "tail");
  EXPECT_EQ(r.remaining(), 0U);
  EXPECT_TRUE(r.Rest().empty());
}

TEST(ByteReaderTest, ReadBytesReturnsAViewIntoTheInput) {
  const Bytes buf = {1, 2, 3, 4};
  ByteReader r(buf);
  ASSERT_TRUE(r.ReadU8().has_value());
  Result<ByteView> v = r.ReadBytes(2);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->data(), buf.data() + 1);
  EXPECT_EQ(v->size(), 2U);
}

TEST(ByteReaderTest, ZeroLengthReadSucceedsOnEmptyInput) {
  ByteReader r(ByteView{});
  Result<ByteView> v = r.ReadBytes(0);
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->empty());
  EXPECT_EQ(r.position(), 0U);
}

// Every fixed-width read on every too-short input fails with kInvalidArgument, leaves the
// position where it was, and a read that fits still works afterwards.
TEST(ByteReaderTest, TruncatedInputIsRejectedWithoutMoving) {
  struct Case {
    const char* name;
    std::size_t width;
    bool (*read)(ByteReader&);  // true if the read succeeded
  };
  const Case cases[] = {
      {"u8", 1, [](ByteReader& r) { return r.ReadU8().has_value(); }},
      {"u16", 2, [](ByteReader& r) { return r.ReadU16Le().has_value(); }},
      {"u32", 4, [](ByteReader& r) { return r.ReadU32Le().has_value(); }},
      {"u64", 8, [](ByteReader& r) { return r.ReadU64Le().has_value(); }},
  };
  const Bytes buf = {9, 8, 7, 6, 5, 4, 3, 2};
  for (const Case& c : cases) {
    for (std::size_t len = 0; len < c.width; ++len) {
      ByteReader r(ByteView(buf).first(len));
      EXPECT_FALSE(c.read(r)) << c.name << " on " << len << " bytes";
      EXPECT_EQ(r.position(), 0U) << c.name;
      EXPECT_EQ(r.remaining(), len) << c.name;
    }
    ByteReader exact(ByteView(buf).first(c.width));
    EXPECT_TRUE(c.read(exact)) << c.name;
    EXPECT_EQ(exact.remaining(), 0U);
  }

  ByteReader r(ByteView(buf).first(3));
  Result<std::uint32_t> too_long = r.ReadU32Le();
  ASSERT_FALSE(too_long.has_value());
  EXPECT_EQ(too_long.error().code(), ErrorCode::kInvalidArgument);
  Result<std::uint16_t> fits = r.ReadU16Le();
  ASSERT_TRUE(fits.has_value());
  EXPECT_EQ(*fits, 0x0809);
}

TEST(ByteReaderTest, ReadBytesRejectsLengthsPastTheEnd) {
  const Bytes buf = {1, 2, 3};
  ByteReader r(buf);
  ASSERT_TRUE(r.ReadU8().has_value());
  for (std::size_t n : {std::size_t{3}, std::size_t{4}, std::numeric_limits<std::size_t>::max(),
                        std::numeric_limits<std::size_t>::max() - 1}) {
    Result<ByteView> v = r.ReadBytes(n);
    ASSERT_FALSE(v.has_value()) << n;
    EXPECT_EQ(v.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.position(), 1U);
  }
  EXPECT_TRUE(r.ReadBytes(2).has_value());
}

TEST(BytesTest, StringViewConversionsRoundTrip) {
  const std::string s("a\0b\xff", 4);
  ByteView b = AsBytes(s);
  ASSERT_EQ(b.size(), 4U);
  EXPECT_EQ(b[1], 0);
  EXPECT_EQ(b[3], 0xff);
  EXPECT_EQ(AsStringView(b), s);
}

}  // namespace
}  // namespace medmesh
