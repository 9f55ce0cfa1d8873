#include "crypto/session_seal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "testing/fake_clock.h"
#include "testing/fake_random.h"

namespace medmesh::crypto {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// Must match session_seal_fuzzer.cc.
constexpr std::uint64_t kFuzzKeySeed = 0x5e55;
constexpr std::string_view kFuzzAd = "medmesh fuzz";

void ExpectOpaqueFailure(const Result<Bytes>& r) {
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(IsAuthenticationFailure(r.error())) << r.error().ToString();
}

SessionBatchHeader Header(const Bytes& batch) { return ParseSessionBatchHeader(batch).value(); }

class SessionSealTest : public ::testing::Test {
 protected:
  SessionSealer NewSealer(SessionSealerOptions options = {}) {
    return {key_.public_key(), random_, clock_, options};
  }
  SessionOpener NewOpener(SessionOpenerOptions options = {}) {
    return {key_.Clone(), clock_, options};
  }
  static Bytes Seal(SessionSealer& sealer, std::string_view text, std::string_view ad = "dev-1") {
    return sealer.SealBatch(AsBytes(text), AsBytes(ad)).value();
  }

  testing::DeterministicRandom random_{21};
  testing::FakeClock clock_;
  HybridPrivateKey key_ = HybridPrivateKey::Generate(random_);
};

TEST_F(SessionSealTest, StreamOfBatchesRoundTrips) {
  SessionSealer sealer = NewSealer();
  SessionOpener opener = NewOpener();
  for (int i = 0; i < 10; ++i) {
    const std::string text = "batch " + std::to_string(i);
    Bytes batch = Seal(sealer, text);
    SessionBatchHeader h = Header(batch);
    EXPECT_EQ(h.counter, static_cast<std::uint64_t>(i));
    EXPECT_EQ(h.opens_session, i == 0);
    if (i > 0) {
      EXPECT_EQ(batch.size(), text.size() + 46);  // header 30 + tag 16
    }
    auto opened = opener.OpenBatch(batch, AsBytes("dev-1"));
    ASSERT_TRUE(opened) << i;
    EXPECT_EQ(AsStringView(*opened), text);
  }
  EXPECT_EQ(opener.session_count(), 1U);
}

TEST_F(SessionSealTest, OpeningBatchNamesRecipient) {
  SessionSealer sealer = NewSealer();
  SessionBatchHeader h = Header(Seal(sealer, "x"));
  ASSERT_TRUE(h.set && h.recipient_key_id);
  EXPECT_EQ(*h.set, kDefaultNtruParamSet);
  EXPECT_EQ(*h.recipient_key_id, key_.public_key().key_id());
}

TEST_F(SessionSealTest, ReplaysAreRejected) {
  SessionSealer sealer = NewSealer();
  SessionOpener opener = NewOpener();
  Bytes b0 = Seal(sealer, "zero");
  Bytes b1 = Seal(sealer, "one");
  ASSERT_TRUE(opener.OpenBatch(b0, AsBytes("dev-1")));
  ASSERT_TRUE(opener.OpenBatch(b1, AsBytes("dev-1")));
  ExpectOpaqueFailure(opener.OpenBatch(b1, AsBytes("dev-1")));
  ExpectOpaqueFailure(opener.OpenBatch(b0, AsBytes("dev-1")));
  EXPECT_EQ(opener.session_count(), 1U);
}

TEST_F(SessionSealTest, OutOfOrderWithinWindowIsAcceptedOnce) {
  SessionSealer sealer = NewSealer();
  SessionOpener opener = NewOpener();
  std::vector<Bytes> batches;
  batches.reserve(80);
  for (int i = 0; i < 80; ++i) batches.push_back(Seal(sealer, std::to_string(i)));
  ASSERT_TRUE(opener.OpenBatch(batches[0], AsBytes("dev-1")));
  ASSERT_TRUE(opener.OpenBatch(batches[3], AsBytes("dev-1")));
  ASSERT_TRUE(opener.OpenBatch(batches[1], AsBytes("dev-1")));
  ASSERT_TRUE(opener.OpenBatch(batches[2], AsBytes("dev-1")));
  ExpectOpaqueFailure(opener.OpenBatch(batches[2], AsBytes("dev-1")));
  ASSERT_TRUE(opener.OpenBatch(batches[70], AsBytes("dev-1")));
  // 70 - 7 = 63 is inside the 64-batch window; 70 - 6 = 64 is not.
  EXPECT_TRUE(opener.OpenBatch(batches[7], AsBytes("dev-1")));
  ExpectOpaqueFailure(opener.OpenBatch(batches[6], AsBytes("dev-1")));
  ExpectOpaqueFailure(opener.OpenBatch(batches[7], AsBytes("dev-1")));
}

TEST_F(SessionSealTest, BatchBeforeItsSessionOpensIsRejectedUntilBatchZeroArrives) {
  SessionSealer sealer = NewSealer();
  SessionOpener opener = NewOpener();
  Bytes b0 = Seal(sealer, "zero");
  Bytes b1 = Seal(sealer, "one");
  ExpectOpaqueFailure(opener.OpenBatch(b1, AsBytes("dev-1")));
  ASSERT_TRUE(opener.OpenBatch(b0, AsBytes("dev-1")));
  EXPECT_TRUE(opener.OpenBatch(b1, AsBytes("dev-1")));
}

TEST_F(SessionSealTest, RekeysAfterBatchLimit) {
  SessionSealer sealer = NewSealer({.max_batches_per_session = 3});
  SessionOpener opener = NewOpener({.max_batches_per_session = 3});
  std::vector<SessionBatchHeader> headers;
  for (int i = 0; i < 7; ++i) {
    Bytes b = Seal(sealer, "x");
    headers.push_back(Header(b));
    ASSERT_TRUE(opener.OpenBatch(b, AsBytes("dev-1"))) << i;
  }
  EXPECT_EQ(headers[2].counter, 2U);
  EXPECT_EQ(headers[3].counter, 0U);
  EXPECT_TRUE(headers[3].opens_session);
  EXPECT_NE(headers[3].session_id, headers[2].session_id);
  EXPECT_EQ(headers[6].counter, 0U);
  EXPECT_EQ(opener.session_count(), 3U);
}

TEST_F(SessionSealTest, RekeysAfterTimeLimit) {
  SessionSealer sealer = NewSealer({.max_session_age = minutes(10)});
  SessionBatchHeader first = Header(Seal(sealer, "a"));
  clock_.Advance(minutes(9));
  SessionBatchHeader same = Header(Seal(sealer, "b"));
  EXPECT_EQ(same.session_id, first.session_id);
  EXPECT_EQ(same.counter, 1U);
  clock_.Advance(minutes(1));
  SessionBatchHeader next = Header(Seal(sealer, "c"));
  EXPECT_NE(next.session_id, first.session_id);
  EXPECT_TRUE(next.opens_session);
}

TEST_F(SessionSealTest, ForcedRekeyStartsNewSession) {
  SessionSealer sealer = NewSealer();
  SessionBatchHeader first = Header(Seal(sealer, "a"));
  sealer.Rekey();
  SessionBatchHeader next = Header(Seal(sealer, "b"));
  EXPECT_NE(next.session_id, first.session_id);
  EXPECT_EQ(next.counter, 0U);
}

TEST_F(SessionSealTest, OpenerRefusesCountersPastItsLimit) {
  SessionSealer sealer = NewSealer({.max_batches_per_session = 10});
  SessionOpener opener = NewOpener({.max_batches_per_session = 5});
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(opener.OpenBatch(Seal(sealer, "x"), AsBytes("dev-1")));
  ExpectOpaqueFailure(opener.OpenBatch(Seal(sealer, "x"), AsBytes("dev-1")));
}

TEST_F(SessionSealTest, EveryFlippedByteIsRejectedWithoutChangingState) {
  SessionSealer sealer = NewSealer();
  SessionOpener opener = NewOpener();
  Bytes b0 = Seal(sealer, "opening batch");
  Bytes b1 = Seal(sealer, "data batch");
  for (const Bytes* batch : {&b0, &b1}) {
    for (std::size_t i = 0; i < batch->size(); ++i) {
      for (int mask : {0x01, 0x80}) {
        Bytes tampered = *batch;
        tampered[i] ^= static_cast<std::uint8_t>(mask);
        auto r = opener.OpenBatch(tampered, AsBytes("dev-1"));
        ASSERT_FALSE(r.has_value()) << "byte " << i << " mask " << int(mask);
        ASSERT_TRUE(IsAuthenticationFailure(r.error()));
      }
    }
    // Nothing above was accepted, so the genuine batch still opens (once).
    ASSERT_TRUE(opener.OpenBatch(*batch, AsBytes("dev-1")));
  }
  EXPECT_EQ(opener.session_count(), 1U);
}

TEST_F(SessionSealTest, TruncatedOversizedAndWrongAdAreRejected) {
  SessionSealer sealer = NewSealer();
  SessionOpener opener = NewOpener();
  Bytes b0 = Seal(sealer, "zero");
  Bytes b1 = Seal(sealer, "one");
  for (const Bytes* batch : {&b0, &b1}) {
    for (std::size_t n = 0; n < batch->size(); ++n) {
      ExpectOpaqueFailure(opener.OpenBatch(ByteView(*batch).first(n), AsBytes("dev-1")));
    }
    Bytes longer = *batch;
    longer.push_back(0);
    ExpectOpaqueFailure(opener.OpenBatch(longer, AsBytes("dev-1")));
    ExpectOpaqueFailure(opener.OpenBatch(*batch, AsBytes("dev-2")));
    ASSERT_TRUE(opener.OpenBatch(*batch, AsBytes("dev-1")));
  }
}

TEST_F(SessionSealTest, WrongRecipientIsRejected) {
  SessionSealer sealer = NewSealer();
  SessionOpener other(HybridPrivateKey::Generate(random_), clock_);
  ExpectOpaqueFailure(other.OpenBatch(Seal(sealer, "x"), AsBytes("dev-1")));
  EXPECT_EQ(other.session_count(), 0U);
}

TEST_F(SessionSealTest, ForgetsLeastRecentlyUsedSessionWhenFull) {
  SessionOpener opener = NewOpener({.max_sessions = 2});
  SessionSealer a = NewSealer();
  SessionSealer b = NewSealer();
  SessionSealer c = NewSealer();
  ASSERT_TRUE(opener.OpenBatch(Seal(a, "a0"), AsBytes("dev-1")));
  clock_.Advance(seconds(1));
  ASSERT_TRUE(opener.OpenBatch(Seal(b, "b0"), AsBytes("dev-1")));
  clock_.Advance(seconds(1));
  ASSERT_TRUE(opener.OpenBatch(Seal(c, "c0"), AsBytes("dev-1")));
  EXPECT_EQ(opener.session_count(), 2U);
  ExpectOpaqueFailure(opener.OpenBatch(Seal(a, "a1"), AsBytes("dev-1")));
  EXPECT_TRUE(opener.OpenBatch(Seal(b, "b1"), AsBytes("dev-1")));
  EXPECT_TRUE(opener.OpenBatch(Seal(c, "c1"), AsBytes("dev-1")));
}

TEST_F(SessionSealTest, ForgetsIdleSessions) {
  SessionOpener opener = NewOpener({.idle_timeout = hours(1)});
  SessionSealer sealer = NewSealer({.max_session_age = hours(48)});
  ASSERT_TRUE(opener.OpenBatch(Seal(sealer, "0"), AsBytes("dev-1")));
  clock_.Advance(minutes(59));
  ASSERT_TRUE(opener.OpenBatch(Seal(sealer, "1"), AsBytes("dev-1")));
  clock_.Advance(hours(1));
  ExpectOpaqueFailure(opener.OpenBatch(Seal(sealer, "2"), AsBytes("dev-1")));
  EXPECT_EQ(opener.session_count(), 0U);
}

TEST_F(SessionSealTest, ConcurrentSealersNeverReuseACounter) {
  SessionSealer sealer = NewSealer({.max_batches_per_session = 16});
  std::vector<std::vector<Bytes>> per_thread(4);
  std::vector<std::thread> threads;
  threads.reserve(per_thread.size());
  for (auto& out : per_thread) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) out.push_back(sealer.SealBatch(AsBytes("x"), {}).value());
    });
  }
  for (auto& t : threads) t.join();
  std::set<std::pair<SessionId, std::uint64_t>> seen;
  for (const auto& out : per_thread) {
    for (const Bytes& b : out) {
      SessionBatchHeader h = Header(b);
      EXPECT_TRUE(seen.emplace(h.session_id, h.counter).second);
    }
  }
  EXPECT_EQ(seen.size(), 200U);
}

TEST(SessionBatchHeaderTest, ParserGivesSpecificErrors) {
  EXPECT_FALSE(ParseSessionBatchHeader({}));
  Bytes junk(64, 0);
  auto r = ParseSessionBatchHeader(junk);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "not a MedMesh session batch (bad magic)");
}

// --- Seed corpus for session_seal_fuzzer -------------------------------------------------------
// A fuzz input is a sequence of (u32 little-endian length, batch) records, all opened in order
// by one SessionOpener, so the fuzzer reaches the data-batch and replay paths.

std::filesystem::path CorpusDir() {
  return std::filesystem::path(MEDMESH_CRYPTO_FUZZ_CORPUS_DIR) / "session_seal";
}

HybridPrivateKey FuzzKey() {
  testing::DeterministicRandom random(kFuzzKeySeed);
  return HybridPrivateKey::Generate(random);
}

Bytes Records(std::initializer_list<ByteView> batches) {
  Bytes out;
  for (ByteView b : batches) {
    AppendU32Le(out, static_cast<std::uint32_t>(b.size()));
    AppendBytes(out, b);
  }
  return out;
}

std::vector<Bytes> SplitRecords(ByteView input) {
  std::vector<Bytes> out;
  ByteReader reader(input);
  while (reader.remaining() > 0) {
    auto len = reader.ReadU32Le();
    if (!len) break;
    auto bytes = reader.ReadBytes(*len);
    if (!bytes) break;
    out.emplace_back(bytes->begin(), bytes->end());
  }
  return out;
}

void WriteFile(const std::filesystem::path& p, ByteView data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

TEST(SessionSealCorpus, DISABLED_WriteSeedCorpus) {
  testing::DeterministicRandom random(2);
  testing::FakeClock clock;
  HybridPrivateKey key = FuzzKey();
  SessionSealer sealer(key.public_key(), random, clock);
  Bytes b0 = sealer.SealBatch(AsBytes("hr=71"), AsBytes(kFuzzAd)).value();
  Bytes b1 = sealer.SealBatch(AsBytes("hr=72"), AsBytes(kFuzzAd)).value();
  Bytes b2 = sealer.SealBatch(AsBytes("hr=73;spo2=97"), AsBytes(kFuzzAd)).value();
  std::filesystem::create_directories(CorpusDir());
  WriteFile(CorpusDir() / "valid_stream", Records({b0, b1, b2}));
  WriteFile(CorpusDir() / "valid_reordered", Records({b0, b2, b1}));
  WriteFile(CorpusDir() / "invalid_replay", Records({b0, b1, b1}));
  WriteFile(CorpusDir() / "invalid_no_opening", Records({b1, b2}));
  Bytes flipped = b1;
  flipped[flipped.size() - 1] ^= 0x80;
  WriteFile(CorpusDir() / "invalid_flipped", Records({b0, flipped}));
  WriteFile(CorpusDir() / "invalid_truncated", Records({ByteView(b0).first(40)}));
}

TEST(SessionSealCorpus, ValidSeedsStillOpen) {
  testing::FakeClock clock;
  int valid = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    const std::string name = entry.path().filename().string();
    std::ifstream in(entry.path(), std::ios::binary);
    Bytes input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SessionOpener opener(FuzzKey(), clock);
    bool all_opened = true;
    for (const Bytes& batch : SplitRecords(input)) {
      all_opened = all_opened && opener.OpenBatch(batch, AsBytes(kFuzzAd)).has_value();
    }
    EXPECT_EQ(all_opened, name.starts_with("valid_")) << name;
    if (name.starts_with("valid_")) ++valid;
  }
  EXPECT_GE(valid, 1);
}

}  // namespace
}  // namespace medmesh::crypto
