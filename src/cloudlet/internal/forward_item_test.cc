#include "cloudlet/internal/forward_item.h"

#include <gtest/gtest.h>

namespace medmesh::cloudlet::internal {
namespace {

TEST(ForwardItemTest, UploadItemRoundTripsAndRefusesDamage) {
  const UploadItem item{wire::ContentType::kPatientRecord, "watch-1", "patient-1", {1, 2, 3}};
  const Bytes encoded = EncodeUploadItem(item);
  auto decoded = DecodeUploadItem(encoded);
  ASSERT_TRUE(decoded) << decoded.error().ToString();
  EXPECT_EQ(decoded->content_type, item.content_type);
  EXPECT_EQ(decoded->device_id, item.device_id);
  EXPECT_EQ(decoded->patient_id, item.patient_id);
  EXPECT_EQ(decoded->ciphertext, item.ciphertext);
  // Cut inside the clear fields (a cut ciphertext is caught by its AEAD tag, later).
  for (std::size_t cut = 0; cut <= encoded.size() - item.ciphertext.size(); ++cut) {
    EXPECT_FALSE(DecodeUploadItem(ByteView(encoded).first(cut))) << cut;
  }
  Bytes bad = encoded;
  bad[5] = 9;  // content type
  EXPECT_FALSE(DecodeUploadItem(bad));
}

TEST(ForwardItemTest, ForwardIdsAreStablePerBatchAndDistinctAcrossBatches) {
  const wire::BatchId a{1};
  const wire::BatchId b{2};
  EXPECT_EQ(DeriveForwardId("c1", "d1", a), DeriveForwardId("c1", "d1", a));
  EXPECT_NE(DeriveForwardId("c1", "d1", a), DeriveForwardId("c1", "d1", b));
  EXPECT_NE(DeriveForwardId("c1", "d1", a), DeriveForwardId("c2", "d1", a));
  EXPECT_NE(DeriveForwardId("c1", "d1", a), DeriveForwardId("c1", "d2", a));
  const wire::ForwardId id = DeriveForwardId("c1", "d1", a);
  const std::string item_id = UploadItemId(id);
  EXPECT_EQ(item_id.size(), 34u);
  EXPECT_EQ(ForwardIdFromItemId(item_id).value(), id);
  EXPECT_FALSE(ForwardIdFromItemId(EnrolmentItemId("d1")));
  EXPECT_FALSE(ForwardIdFromItemId("u.zz"));
}

}  // namespace
}  // namespace medmesh::cloudlet::internal
