#include "crypto/ntru/nist_drbg.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>

#include "core/bytes.h"
#include "crypto/ntru/nist_kat_file.h"

namespace medmesh::crypto::testing {
namespace {

constexpr std::size_t kReqRecords = 100;

// The entropy PQCgenKAT_kem uses to make the seeds of the request file: 00 01 02 .. 2F.
std::array<std::uint8_t, NistCtrDrbg::kSeedBytes> CountingEntropy() {
  std::array<std::uint8_t, NistCtrDrbg::kSeedBytes> entropy{};
  for (std::size_t i = 0; i < entropy.size(); ++i) entropy[i] = static_cast<std::uint8_t>(i);
  return entropy;
}

Bytes Generate(NistCtrDrbg& drbg, std::size_t n) {
  Bytes out(n);
  drbg.Generate(out.data(), out.size());
  return out;
}

TEST(NistCtrDrbgTest, FirstRequestSeed) {
  // count = 0 of every NIST PQC request file; independent of the shared vectors.
  NistCtrDrbg drbg;
  drbg.Init(CountingEntropy());
  EXPECT_EQ(HexEncode(Generate(drbg, 48)),
            "061550234d158c5ec95595fe04ef7a25767f2e24cc2bc479d09d86dc9abcfde7"
            "056a8c266f9ef97ed08541dbd2e1ffa1");
}

TEST(NistCtrDrbgTest, RegeneratesRequestFile) {
  const std::string path = std::string(MEDMESH_SHARED_DIR) + "/vectors/ntru/PQCkemKAT.req";
  Result<NistKatFile> req = ReadNistKatFile(path);
  ASSERT_TRUE(req) << req.error().ToString()
                   << "\n(the shared vectors are required; set MEDMESH_SHARED_DIR)";
  ASSERT_EQ(req->records.size(), kReqRecords) << path;

  NistCtrDrbg drbg;
  drbg.Init(CountingEntropy());
  for (std::size_t i = 0; i < kReqRecords; ++i) {
    const NistKatRecord& record = req->records[i];
    ASSERT_EQ(record.count, i) << path << ":" << record.line;
    Result<ByteView> seed = record.Field("seed");
    ASSERT_TRUE(seed) << seed.error().ToString();
    ASSERT_EQ(HexEncode(Generate(drbg, NistCtrDrbg::kSeedBytes)), HexEncode(*seed))
        << "seed of count = " << i;
  }
}

TEST(NistCtrDrbgTest, OutputDependsOnCallBoundaries) {
  NistCtrDrbg one_call;
  one_call.Init(CountingEntropy());
  const Bytes whole = Generate(one_call, 64);

  NistCtrDrbg two_calls;
  two_calls.Init(CountingEntropy());
  Bytes halves = Generate(two_calls, 32);
  const Bytes second = Generate(two_calls, 32);
  halves.insert(halves.end(), second.begin(), second.end());

  // The first call agrees; Update(NULL) after it rekeys, so the rest differs.
  EXPECT_EQ(HexEncode(ByteView(whole).first(32)), HexEncode(ByteView(halves).first(32)));
  EXPECT_NE(HexEncode(ByteView(whole).last(32)), HexEncode(ByteView(halves).last(32)));
}

TEST(NistCtrDrbgTest, PartialBlockIsTruncatedNotCarried) {
  // A 20-byte call uses two blocks and discards the rest of the second one.
  NistCtrDrbg a;
  a.Init(CountingEntropy());
  const Bytes first = Generate(a, 20);
  const Bytes next = Generate(a, 16);

  NistCtrDrbg b;
  b.Init(CountingEntropy());
  const Bytes longer = Generate(b, 32);
  EXPECT_EQ(HexEncode(first), HexEncode(ByteView(longer).first(20)));
  EXPECT_NE(HexEncode(next), HexEncode(ByteView(longer).subspan(20, 12)));
}

TEST(NistCtrDrbgTest, EmptyCallStillUpdates) {
  NistCtrDrbg a;
  a.Init(CountingEntropy());
  a.Generate(nullptr, 0);
  NistCtrDrbg b;
  b.Init(CountingEntropy());
  EXPECT_NE(HexEncode(Generate(a, 16)), HexEncode(Generate(b, 16)));
}

TEST(NistCtrDrbgTest, InitRestartsTheStream) {
  NistCtrDrbg drbg;
  drbg.Init(CountingEntropy());
  const Bytes first = Generate(drbg, 3211);
  (void)Generate(drbg, 32);
  drbg.Init(CountingEntropy());
  EXPECT_EQ(HexEncode(Generate(drbg, 3211)), HexEncode(first));
}

TEST(NistCtrDrbgTest, CallsOfAnyLengthArePrefixesOfOneStream) {
  // Within one call the output is the counter-mode stream of one key, whatever the length
  // (and however the implementation batches blocks), so shorter first calls are prefixes of
  // longer ones.
  NistCtrDrbg longest;
  longest.Init(CountingEntropy());
  const Bytes stream = Generate(longest, 5000);
  for (std::size_t n : {1U, 15U, 16U, 17U, 1023U, 1024U, 1025U, 2413U, 4999U}) {
    NistCtrDrbg drbg;
    drbg.Init(CountingEntropy());
    EXPECT_EQ(HexEncode(Generate(drbg, n)), HexEncode(ByteView(stream).first(n))) << "n = " << n;
  }
  // The counter never repeats within a call: no two neighbouring blocks are equal.
  for (std::size_t i = 16; i + 16 <= stream.size(); i += 16) {
    ASSERT_NE(HexEncode(ByteView(stream).subspan(i, 16)),
              HexEncode(ByteView(stream).subspan(i - 16, 16)))
        << "block " << i / 16;
  }
}

}  // namespace
}  // namespace medmesh::crypto::testing
