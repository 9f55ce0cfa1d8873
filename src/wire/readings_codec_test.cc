#include "wire/readings_codec.h"

#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "testing/fake_random.h"
#include "wire/internal/sample_readings.h"

namespace medmesh::wire {
namespace {

constexpr std::int64_t kStart = 1'800'000'000'000;

std::vector<Reading> Sorted(std::vector<Reading> r) {
  std::sort(r.begin(), r.end(), [](const Reading& a, const Reading& b) {
    if (a.kind != b.kind) return a.kind < b.kind;
    if (a.time_ms != b.time_ms) return a.time_ms < b.time_ms;
    return a.value_milli < b.value_milli;
  });
  return r;
}

Bytes Encode(const std::vector<Reading>& r) { return EncodeReadings(r).value(); }

// A zstd frame of `body`, with or without the content size in its header.
Bytes ZstdFrame(ByteView body, bool with_content_size) {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 3);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, with_content_size ? 1 : 0);
  Bytes out(ZSTD_compressBound(body.size()));
  std::size_t n = 0;
  if (with_content_size) {
    n = ZSTD_compress2(cctx, out.data(), out.size(), body.data(), body.size());
  } else {
    // Streaming without a pledged size leaves the content size out of the header.
    ZSTD_inBuffer in{body.data(), body.size(), 0};
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    n = ZSTD_compressStream2(cctx, &ob, &in, ZSTD_e_end);
    EXPECT_EQ(n, 0u);
    n = ob.pos;
  }
  ZSTD_freeCCtx(cctx);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// A readings payload: version 1, compression 1 (zstd), then `frame`.
Bytes ZstdPayload(const Bytes& frame) {
  Bytes out(2 + frame.size());
  out[0] = kReadingsFormatVersion;
  out[1] = 1;
  std::copy(frame.begin(), frame.end(), out.begin() + 2);
  return out;
}

void ExpectCode(const Result<std::vector<Reading>>& r, ErrorCode code) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), code) << r.error().ToString();
}

TEST(ReadingsCodecTest, EveryKindRoundTripsSorted) {
  std::vector<Reading> readings = sample::AllKinds(60, kStart, 7);
  testing::DeterministicRandom random(3);
  // Shuffle (Fisher-Yates with the deterministic source): order on input must not matter.
  for (std::size_t i = readings.size() - 1; i > 0; --i) {
    std::swap(readings[i], readings[random.NextU64() % (i + 1)]);
  }
  const Bytes encoded = Encode(readings);
  auto decoded = DecodeReadings(encoded);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, Sorted(readings));
  EXPECT_EQ(Encode(Sorted(readings)), encoded);  // the encoding depends only on the multiset
}

TEST(ReadingsCodecTest, EmptyAndSingleReadingsRoundTrip) {
  const Bytes empty = Encode({});
  EXPECT_EQ(DecodeReadings(empty).value(), std::vector<Reading>{});
  const std::vector<Reading> one = {{kStart, VitalKind::kGlucose, 123'000}};
  EXPECT_EQ(DecodeReadings(Encode(one)).value(), one);
}

TEST(ReadingsCodecTest, IrregularTimesNegativeAndExtremeValuesRoundTrip) {
  const std::vector<Reading> readings = {
      {0, VitalKind::kSteps, -kMaxAbsValueMilli}, {1, VitalKind::kSteps, kMaxAbsValueMilli},
      {1, VitalKind::kSteps, kMaxAbsValueMilli},  // duplicates are kept
      {kMaxTimeMs, VitalKind::kSteps, 0},         {5, VitalKind::kHeartRate, 70'001},
      {1'003, VitalKind::kHeartRate, -3},         {1'004, VitalKind::kHeartRate, 70'000},
  };
  auto decoded = DecodeReadings(Encode(readings), {.require_plausible = false});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, Sorted(readings));
}

TEST(ReadingsCodecTest, OneHertzHeartRateCostsWellUnderAByteAReading) {
  const std::vector<Reading> minute = sample::Stream(VitalKind::kHeartRate, 60, kStart, 11);
  const Bytes encoded = Encode(minute);
  EXPECT_LT(static_cast<double>(encoded.size()) / 60.0, 1.0) << encoded.size() << " bytes";
  // A batch of every kind for a minute stays under a byte per reading as well.
  const std::vector<Reading> all = sample::AllKinds(60, kStart, 11);
  EXPECT_LT(static_cast<double>(Encode(all).size()) / static_cast<double>(all.size()), 1.0);
}

TEST(ReadingsCodecTest, SmallBatchesAreSentUncompressed) {
  const Bytes encoded = Encode({{kStart, VitalKind::kHeartRate, 70'000}});
  ASSERT_GE(encoded.size(), 2u);
  EXPECT_EQ(encoded[1], 0);  // compression: none
  const Bytes large = Encode(sample::AllKinds(60, kStart, 1));
  EXPECT_EQ(large[1], 1);  // compression: zstd
}

TEST(ReadingsCodecTest, EncoderRefusesUnencodableReadings) {
  EXPECT_FALSE(EncodeReadings(std::vector<Reading>{{0, static_cast<VitalKind>(0), 0}}));
  EXPECT_FALSE(EncodeReadings(std::vector<Reading>{{-1, VitalKind::kHeartRate, 70'000}}));
  EXPECT_FALSE(EncodeReadings(std::vector<Reading>{{kMaxTimeMs + 1, VitalKind::kHeartRate, 0}}));
  EXPECT_FALSE(
      EncodeReadings(std::vector<Reading>{{0, VitalKind::kHeartRate, kMaxAbsValueMilli + 1}}));
  const std::vector<Reading> too_many(kMaxReadingsPerBatch + 1, {kStart, VitalKind::kSteps, 0});
  auto r = EncodeReadings(too_many);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

TEST(ReadingsCodecTest, ImplausibleValuesEncodeButAreRefusedByDefault) {
  const std::vector<Reading> readings = {{kStart, VitalKind::kHeartRate, 999'000}};
  const Bytes encoded = Encode(readings);
  auto strict = DecodeReadings(encoded);
  ExpectCode(strict, ErrorCode::kInvalidArgument);
  EXPECT_NE(strict.error().message().find("heart_rate"), std::string::npos);
  EXPECT_EQ(DecodeReadings(encoded, {.require_plausible = false}).value(), readings);
}

TEST(ReadingsCodecTest, TheLargestBatchRoundTripsWithinTheDefaultLimits) {
  // Worst case for size: random values spread over the whole range, irregular times.
  testing::DeterministicRandom random(5);
  std::vector<Reading> readings;
  for (std::size_t i = 0; i < kMaxReadingsPerBatch; ++i) {
    const std::uint64_t r = random.NextU64();
    readings.push_back(
        {static_cast<std::int64_t>(r % static_cast<std::uint64_t>(kMaxTimeMs)),
         static_cast<VitalKind>(1 + i % kNumVitalKinds),
         static_cast<std::int64_t>(r % (2 * kMaxAbsValueMilli)) - kMaxAbsValueMilli});
  }
  const Bytes encoded = Encode(readings);
  EXPECT_LE(encoded.size(), kMaxEncodedReadingsBytes);
  auto decoded = DecodeReadings(encoded, {.require_plausible = false});
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(decoded->size(), readings.size());
}

TEST(ReadingsCodecTest, LimitsOnInputSizeAndReadingCount) {
  const Bytes encoded = Encode(sample::AllKinds(60, kStart, 2));
  ExpectCode(DecodeReadings(encoded, {.max_encoded_bytes = encoded.size() - 1}),
             ErrorCode::kResourceExhausted);
  ExpectCode(DecodeReadings(encoded, {.max_readings = std::size_t{60} * kNumVitalKinds - 1}),
             ErrorCode::kResourceExhausted);
  EXPECT_TRUE(DecodeReadings(encoded, {.max_readings = std::size_t{60} * kNumVitalKinds}));
  const Bytes raw = Encode({{kStart, VitalKind::kHeartRate, 70'000}});
  ExpectCode(DecodeReadings(raw, {.max_body_bytes = 3}), ErrorCode::kResourceExhausted);
}

TEST(ReadingsCodecTest, DecompressionBombWithDeclaredSizeIsRefusedBeforeDecompressing) {
  const Bytes zeros(16 << 20, 0);
  const Bytes frame = ZstdFrame(zeros, /*with_content_size=*/true);
  EXPECT_LT(frame.size(), 4096u);  // a few KB that would expand to 16 MiB
  ExpectCode(DecodeReadings(ZstdPayload(frame)), ErrorCode::kResourceExhausted);
}

TEST(ReadingsCodecTest, DecompressionBombWithoutDeclaredSizeStopsAtTheCap) {
  const Bytes zeros(16 << 20, 0);
  const Bytes frame = ZstdFrame(zeros, /*with_content_size=*/false);
  EXPECT_LT(frame.size(), 4096u);
  auto r = DecodeReadings(ZstdPayload(frame));
  ExpectCode(r, ErrorCode::kResourceExhausted);
  EXPECT_NE(r.error().message().find("exceeds"), std::string::npos);
}

TEST(ReadingsCodecTest, FrameThatUnderstatesItsSizeIsRefused) {
  // A real body of 600 bytes whose frame header claims 300: the output cap (and zstd's own
  // check) must stop it instead of writing past the declared size.
  Bytes body(600, 0);
  for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<std::uint8_t>(i * 7);
  Bytes frame = ZstdFrame(body, true);
  const std::uint8_t fhd = frame[4];
  ASSERT_EQ(fhd >> 6, 1) << "expected a 2-byte content size field";
  const std::size_t offset =
      5 + (((fhd >> 5) & 1) ? 0 : 1) + (fhd & 3 ? (1u << ((fhd & 3) - 1)) : 0);
  frame[offset] = static_cast<std::uint8_t>(300 - 256);
  frame[offset + 1] = 0;
  ASSERT_EQ(ZSTD_getFrameContentSize(frame.data(), frame.size()), 300u);
  auto r = DecodeReadings(ZstdPayload(frame));
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.error().code() == ErrorCode::kInvalidArgument ||
              r.error().code() == ErrorCode::kResourceExhausted)
      << r.error().ToString();
}

TEST(ReadingsCodecTest, FrameWithoutContentSizeWithinTheCapDecodes) {
  const Bytes encoded = Encode(sample::AllKinds(60, kStart, 4));
  ASSERT_EQ(encoded[1], 1);
  // Re-frame the same body without a content size.
  const Bytes body = [&] {
    const ByteView frame = ByteView(encoded).subspan(2);
    Bytes b(ZSTD_getFrameContentSize(frame.data(), frame.size()));
    EXPECT_EQ(ZSTD_decompress(b.data(), b.size(), frame.data(), frame.size()), b.size());
    return b;
  }();
  auto decoded = DecodeReadings(ZstdPayload(ZstdFrame(body, false)));
  ASSERT_TRUE(decoded.has_value()) << decoded.error().ToString();
  EXPECT_EQ(*decoded, DecodeReadings(encoded).value());
}

TEST(ReadingsCodecTest, EveryTruncationIsRefused) {
  for (const Bytes& encoded :
       {Encode(sample::AllKinds(60, kStart, 9)), Encode({{kStart, VitalKind::kSpO2, 97'000}})}) {
    for (std::size_t n = 0; n < encoded.size(); ++n) {
      auto r = DecodeReadings(ByteView(encoded).first(n));
      EXPECT_FALSE(r.has_value()) << "prefix " << n << " of " << encoded.size();
    }
  }
}

TEST(ReadingsCodecTest, HeaderAndTrailingGarbageAreRefused) {
  Bytes encoded = Encode(sample::AllKinds(10, kStart, 9));
  Bytes bad_version = encoded;
  bad_version[0] = 2;
  ExpectCode(DecodeReadings(bad_version), ErrorCode::kInvalidArgument);
  Bytes bad_compression = encoded;
  bad_compression[1] = 7;
  ExpectCode(DecodeReadings(bad_compression), ErrorCode::kInvalidArgument);
  Bytes trailing = encoded;
  trailing.push_back(0);
  ExpectCode(DecodeReadings(trailing), ErrorCode::kInvalidArgument);
  Bytes raw = Encode({{kStart, VitalKind::kSpO2, 97'000}});
  raw.push_back(0);
  ExpectCode(DecodeReadings(raw), ErrorCode::kInvalidArgument);
}

// Hand-made raw bodies: version 1, compression 0, then the body.
Bytes Raw(std::initializer_list<std::uint8_t> body) {
  Bytes out(2 + body.size());
  out[0] = kReadingsFormatVersion;
  out[1] = 0;
  std::copy(body.begin(), body.end(), out.begin() + 2);
  return out;
}

TEST(ReadingsCodecTest, MalformedBodiesAreRefusedWithSpecificErrors) {
  const ReadingsDecodeLimits lax{.require_plausible = false};
  // base 0; 1 group: kind 1, count 2, time step 1, value step 1, first time 0, first value
  // zig-zag 10 (= 5), first delta 1, value column k = 0; bits: Exp-Golomb(2) = 011, padded.
  const std::vector<Reading> two = {{0, VitalKind::kHeartRate, 5}, {1, VitalKind::kHeartRate, 6}};
  EXPECT_EQ(DecodeReadings(Raw({0, 1, 1, 2, 1, 1, 0, 10, 1, 0, 0x60}), lax).value(), two);
  auto message = [&](std::initializer_list<std::uint8_t> body) {
    auto r = DecodeReadings(Raw(body), lax);
    EXPECT_FALSE(r.has_value());
    return r ? std::string() : r.error().message();
  };
  auto has = [](const std::string& m, std::string_view what) {
    return m.find(what) != std::string::npos;
  };
  EXPECT_TRUE(has(message({0, 1, 10, 2, 1, 1, 0, 10, 1, 0, 0x60}), "unknown kind"));
  EXPECT_TRUE(has(message({0, 2, 2, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0}), "out of order"));
  EXPECT_TRUE(has(message({0, 1, 1, 0, 1, 1}), "empty group"));
  EXPECT_TRUE(has(message({0, 1, 1, 2, 0, 1, 0, 10, 1, 0, 0x60}), "time step"));
  EXPECT_TRUE(has(message({0, 1, 1, 2, 1, 0, 0, 10, 1, 0, 0x60}), "value step"));
  EXPECT_TRUE(has(message({0, 1, 1, 2, 1, 1, 0, 10, 1, 64, 0x60}), "column code"));
  // Padding bits must be zero, and nothing may follow them.
  EXPECT_TRUE(has(message({0, 1, 1, 2, 1, 1, 0, 10, 1, 0, 0x61}), "trailing"));
  EXPECT_TRUE(has(message({0, 1, 1, 2, 1, 1, 0, 10, 1, 0, 0x60, 0}), "trailing"));
  EXPECT_TRUE(has(message({0, 1, 1, 2, 1, 1, 0, 10, 1, 0}), "overrun"));
  // Three readings, first delta 1, then a delta of delta of -2 (zig-zag 3, bits 00100).
  EXPECT_TRUE(has(message({0, 1, 1, 3, 1, 1, 0, 10, 1, 0, 63, 0x20}), "backwards"));
  // 200 readings and a k = 0 column, with no bits at all.
  EXPECT_TRUE(has(message({0, 1, 1, 0xc8, 0x01, 1, 1, 0, 10, 1, 0, 0}), "overrun"));
  EXPECT_TRUE(has(message({0, 10}), "too many groups"));
  // An eleven-byte varint, then a base time of 2^62.
  EXPECT_TRUE(
      has(message({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}), "overlong"));
  EXPECT_TRUE(has(message({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0}), "base time"));
  // A bit code with more than 62 leading zeros.
  EXPECT_TRUE(has(message({0, 1, 1, 2, 1, 1, 0, 10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
                  "overlong bit code"));
  // Equal times with decreasing values (10, then a delta of -1, bits 010): not canonical order.
  EXPECT_TRUE(has(message({0, 1, 1, 2, 1, 1, 0, 20, 0, 0, 0x40}), "order"));
}

TEST(ReadingsCodecTest, RandomGarbageNeverCrashes) {
  testing::DeterministicRandom random(99);
  for (int i = 0; i < 2000; ++i) {
    Bytes garbage = random.Generate(1 + random.NextU64() % 200);
    garbage[0] = kReadingsFormatVersion;
    if (garbage.size() > 1) garbage[1] = static_cast<std::uint8_t>(garbage[1] % 2);
    (void)DecodeReadings(garbage, {.require_plausible = false});
  }
}

// --- Seed corpus ------------------------------------------------------------------------------

std::filesystem::path CorpusDir() {
  return std::filesystem::path(MEDMESH_WIRE_FUZZ_CORPUS_DIR) / "readings_decode";
}

void WriteFile(const std::filesystem::path& path, ByteView data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

// Regenerates fuzz_corpus/readings_decode. Run by hand after a format change:
//   wire_codec_test --gtest_also_run_disabled_tests --gtest_filter='*WriteSeedCorpus'
TEST(ReadingsCodecCorpus, DISABLED_WriteSeedCorpus) {
  std::filesystem::create_directories(CorpusDir());
  const Bytes all = Encode(sample::AllKinds(60, kStart, 1));
  WriteFile(CorpusDir() / "valid_all_kinds_minute", all);
  WriteFile(CorpusDir() / "valid_heart_rate_minute",
            Encode(sample::Stream(VitalKind::kHeartRate, 60, kStart, 2)));
  WriteFile(CorpusDir() / "valid_raw_small", Encode({{kStart, VitalKind::kSpO2, 97'000},
                                                     {kStart + 1000, VitalKind::kSpO2, 96'000}}));
  WriteFile(CorpusDir() / "valid_empty", Encode({}));
  WriteFile(CorpusDir() / "invalid_truncated", ByteView(all).first(all.size() / 2));
  Bytes version = all;
  version[0] = 9;
  WriteFile(CorpusDir() / "invalid_version", version);
  WriteFile(CorpusDir() / "invalid_bomb", ZstdPayload(ZstdFrame(Bytes(1 << 20, 0), false)));
}

TEST(ReadingsCodecCorpus, ValidSeedsStillDecode) {
  int valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    const std::string name = entry.path().filename().string();
    std::ifstream in(entry.path(), std::ios::binary);
    const Bytes input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(DecodeReadings(input, {.max_body_bytes = std::size_t{256} * 1024}).has_value(),
              name.starts_with("valid_"))
        << name;
    if (name.starts_with("valid_")) ++valid;
  }
  EXPECT_GE(valid, 1);
}

}  // namespace
}  // namespace medmesh::wire
