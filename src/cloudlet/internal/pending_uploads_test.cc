#include "cloudlet/internal/pending_uploads.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace medmesh::cloudlet::internal {
namespace {

wire::OpenedUpload Upload(std::size_t payload_bytes, std::uint8_t fill) {
  wire::OpenedUpload opened;
  opened.header.device_id = "dev-1";
  opened.header.patient_id = "patient-1";
  opened.payload = Bytes(payload_bytes, fill);
  opened.evidence.device_signature = Bytes(64, 0x5a);
  return opened;
}

crypto::Digest256 Digest(std::uint8_t n) {
  crypto::Digest256 d{};
  d.fill(n);
  return d;
}

bool AllZero(const Bytes& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

TEST(PendingUploadsTest, KeepsAndReturnsTheUploadForTheSameBytesOnly) {
  PendingUploads pending(8, 1 << 20);
  wire::OpenedUpload opened = Upload(1000, 0xab);
  pending.Keep("dev-1/b1", Digest(1), opened);
  EXPECT_EQ(pending.size(), 1U);
  EXPECT_EQ(pending.bytes(), 1000U);
  // Other upload bytes under the same batch: not this one (and it stays).
  EXPECT_FALSE(pending.Take("dev-1/b1", Digest(2)));
  EXPECT_FALSE(pending.Take("dev-1/b2", Digest(1)));
  auto taken = pending.Take("dev-1/b1", Digest(1));
  ASSERT_TRUE(taken);
  EXPECT_EQ(taken->payload, Bytes(1000, 0xab));
  EXPECT_EQ(taken->header.patient_id, "patient-1");
  EXPECT_EQ(taken->evidence.device_signature, Bytes(64, 0x5a));
  EXPECT_EQ(pending.size(), 0U);
  EXPECT_EQ(pending.bytes(), 0U);
  EXPECT_FALSE(pending.Take("dev-1/b1", Digest(1)));  // taken once
}

TEST(PendingUploadsTest, TheCallersCopyOfThePayloadIsWiped) {
  PendingUploads pending(8, 1 << 20);
  wire::OpenedUpload opened = Upload(4096, 0xcd);
  pending.Keep("dev-1/b1", Digest(1), opened);
  ASSERT_EQ(opened.payload.size(), 4096U);
  EXPECT_TRUE(AllZero(opened.payload));
  // Also when it is not kept at all (over the budget).
  PendingUploads tiny(8, 100);
  wire::OpenedUpload big = Upload(4096, 0xcd);
  tiny.Keep("dev-1/b1", Digest(1), big);
  EXPECT_TRUE(AllZero(big.payload));
  EXPECT_EQ(tiny.size(), 0U);
}

TEST(PendingUploadsTest, BoundedByBytesOldestEvictedFirst) {
  PendingUploads pending(1024, 10'000);
  for (int i = 0; i < 5; ++i) {
    wire::OpenedUpload opened = Upload(3000, static_cast<std::uint8_t>(i + 1));
    pending.Keep("dev-1/b" + std::to_string(i), Digest(static_cast<std::uint8_t>(i)), opened);
    EXPECT_LE(pending.bytes(), 10'000U);
  }
  EXPECT_EQ(pending.size(), 3U);  // 3 x 3,000 bytes fit in 10,000
  EXPECT_EQ(pending.bytes(), 9000U);
  EXPECT_FALSE(pending.Take("dev-1/b0", Digest(0)));
  EXPECT_FALSE(pending.Take("dev-1/b1", Digest(1)));
  auto newest = pending.Take("dev-1/b4", Digest(4));
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->payload, Bytes(3000, 5));
}

TEST(PendingUploadsTest, BoundedByCountAndReplacedByKey) {
  PendingUploads pending(2, 1 << 20);
  for (int i = 0; i < 3; ++i) {
    wire::OpenedUpload opened = Upload(10, 1);
    pending.Keep("k" + std::to_string(i), Digest(1), opened);
  }
  EXPECT_EQ(pending.size(), 2U);
  EXPECT_FALSE(pending.Take("k0", Digest(1)));
  // The same key again replaces the entry (its bytes are counted once).
  wire::OpenedUpload again = Upload(500, 2);
  pending.Keep("k1", Digest(9), again);
  EXPECT_EQ(pending.size(), 2U);
  EXPECT_EQ(pending.bytes(), 510U);
  EXPECT_FALSE(pending.Take("k1", Digest(1)));
  EXPECT_EQ(pending.Take("k1", Digest(9))->payload, Bytes(500, 2));
}

TEST(PendingUploadsTest, ZeroBoundsKeepNothing) {
  PendingUploads none(0, 1 << 20);
  wire::OpenedUpload opened = Upload(10, 1);
  none.Keep("k", Digest(1), opened);
  EXPECT_EQ(none.size(), 0U);
  EXPECT_FALSE(none.Take("k", Digest(1)));
}

}  // namespace
}  // namespace medmesh::cloudlet::internal
