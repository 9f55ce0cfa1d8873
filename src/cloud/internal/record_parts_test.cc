#include "cloud/internal/record_parts.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace medmesh::cloud::internal {
namespace {

wire::PatientRecord Sample() {
  wire::PatientRecord r;
  r.record_id = "r-1";
  r.patient_id = "p-1";
  r.device_id = "d-1";
  r.created_ms = 1'790'000'000'123;
  r.name = "Ada Lovelace";
  r.phone = "+44 20 7946 0958";
  r.email = "ada@example.org";
  r.address = "12 St James's Square, London";
  r.national_id = "QQ123456C";
  r.photo = {0xff, 0xd8, 0xff, 0x00, 0x01};
  r.photo_type = "image/jpeg";
  r.birth_date = "1815-12-10";
  r.sex = "female";
  r.postcode = "SW1Y 4JU";
  r.symptoms = {"fatigue", "cough"};
  r.conditions = {"J44.1", "I10"};
  r.pulse_bpm = 88;
  r.ecg_summary = "sinus rhythm, 88/min";
  r.symptoms_document = {'t', 'e', 'x', 't', 0};
  r.symptoms_document_type = "text/plain";
  return r;
}

TEST(RecordPartsTest, PartsRoundTripIntoOneRecord) {
  const wire::PatientRecord r = Sample();
  wire::PatientRecord back;
  back.record_id = r.record_id;
  back.patient_id = r.patient_id;
  back.device_id = r.device_id;
  ASSERT_TRUE(DecodeEiPart(EncodeEiPart(r), back));
  ASSERT_TRUE(DecodeQiPart(EncodeQiPart(r), back));
  ASSERT_TRUE(DecodeMiPart(EncodeMiPart(r), back));
  EXPECT_EQ(back, r);
}

TEST(RecordPartsTest, EachPartHoldsOnlyItsOwnFields) {
  const wire::PatientRecord r = Sample();
  const auto contains = [](const Bytes& b, std::string_view s) {
    return AsStringView(b).find(s) != std::string_view::npos;
  };
  EXPECT_TRUE(contains(EncodeEiPart(r), "Ada Lovelace"));
  EXPECT_FALSE(contains(EncodeEiPart(r), "1815-12-10"));
  EXPECT_FALSE(contains(EncodeEiPart(r), "J44.1"));
  EXPECT_FALSE(contains(EncodeQiPart(r), "Ada"));
  EXPECT_FALSE(contains(EncodeQiPart(r), "fatigue"));
  EXPECT_FALSE(contains(EncodeMiPart(r), "Ada"));
  EXPECT_FALSE(contains(EncodeMiPart(r), "SW1Y"));
  EXPECT_FALSE(contains(EncodeMiPart(r), "p-1"));
  EXPECT_FALSE(contains(EncodeMiPart(r), "r-1"));
  EXPECT_FALSE(contains(EncodeMiPart(r), "d-1"));
}

TEST(RecordPartsTest, EncodingIsDeterministic) {
  EXPECT_EQ(EncodeEiPart(Sample()), EncodeEiPart(Sample()));
  wire::PatientRecord other = Sample();
  other.photo.back() ^= 1;
  EXPECT_NE(EncodeEiPart(Sample()), EncodeEiPart(other));
}

TEST(RecordPartsTest, LinkRoundTrips) {
  const RecordLink link{"r-1", "d-1", "0011", "2233", {1, 2, 3}};
  EXPECT_EQ(DecodeRecordLink(EncodeRecordLink(link)).value(), link);
}

TEST(RecordPartsTest, DecodersAreStrict) {
  using nlohmann::json;
  wire::PatientRecord r;
  const auto expect_data_loss = [&](const Bytes& b) {
    Status st = DecodeQiPart(b, r);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code(), ErrorCode::kDataLoss);
  };
  expect_data_loss({});
  expect_data_loss({0xff, 0x00});
  expect_data_loss(json::to_cbor(json{{"v", 1}, {"birth_date", ""}, {"sex", ""}}));
  expect_data_loss(
      json::to_cbor(json{{"v", 2}, {"birth_date", ""}, {"sex", ""}, {"postcode", ""}}));
  expect_data_loss(json::to_cbor(json{{"v", 1}, {"birth_date", 5}, {"sex", ""}, {"postcode", ""}}));
  expect_data_loss(json::to_cbor(
      json{{"v", 1}, {"birth_date", ""}, {"sex", ""}, {"postcode", ""}, {"extra", 1}}));
  expect_data_loss(json::to_cbor(json::array({1, 2, 3})));
  EXPECT_EQ(DecodeRecordLink(EncodeEiPart(Sample())).error().code(), ErrorCode::kDataLoss);
  EXPECT_EQ(DecodeMiPart(EncodeEiPart(Sample()), r).error().code(), ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace medmesh::cloud::internal
