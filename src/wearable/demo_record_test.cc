#include "wearable/demo_record.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <set>

#include "wire/record_codec.h"

namespace medmesh::wearable {
namespace {

constexpr std::int64_t kNow = 1'800'000'000'000;

std::uint32_t U32Be(const Bytes& b, std::size_t at) {
  return std::uint32_t{b[at]} << 24 | std::uint32_t{b[at + 1]} << 16 |
         std::uint32_t{b[at + 2]} << 8 | b[at + 3];
}

std::uint32_t Crc32(ByteView data) {
  return static_cast<std::uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), data.data(), static_cast<uInt>(data.size())));
}

// Walks the PNG: signature, chunk CRCs, IHDR, and the zlib stream of IDAT; returns the
// decompressed scanlines.
Bytes CheckPng(const Bytes& png, std::uint32_t size) {
  const Bytes signature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  EXPECT_TRUE(std::equal(signature.begin(), signature.end(), png.begin()));
  std::size_t pos = 8;
  Bytes idat;
  std::vector<std::string> types;
  while (pos + 12 <= png.size()) {
    const std::uint32_t len = U32Be(png, pos);
    const std::string type(png.begin() + static_cast<std::ptrdiff_t>(pos + 4),
                           png.begin() + static_cast<std::ptrdiff_t>(pos + 8));
    types.push_back(type);
    const ByteView type_and_data(png.data() + pos + 4, len + 4);
    EXPECT_EQ(U32Be(png, pos + 8 + len), Crc32(type_and_data)) << type;
    if (type == "IHDR") {
      EXPECT_EQ(U32Be(png, pos + 8), size);
      EXPECT_EQ(U32Be(png, pos + 12), size);
      EXPECT_EQ(png[pos + 16], 8);  // bit depth
      EXPECT_EQ(png[pos + 17], 2);  // RGB
    }
    if (type == "IDAT")
      idat.insert(idat.end(), png.begin() + static_cast<std::ptrdiff_t>(pos + 8),
                  png.begin() + static_cast<std::ptrdiff_t>(pos + 8 + len));
    pos += 12 + len;
  }
  EXPECT_EQ(pos, png.size());
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  // One zlib stream (uncompress checks the header and the Adler-32), exactly the scanlines.
  const std::size_t expected = std::size_t{size} * (1 + size * 3);
  Bytes raw(expected + 1);
  auto raw_size = static_cast<uLongf>(raw.size());
  EXPECT_EQ(uncompress(raw.data(), &raw_size, idat.data(), static_cast<uLong>(idat.size())), Z_OK);
  raw.resize(raw_size);
  EXPECT_EQ(raw.size(), expected);
  return raw;
}

TEST(DemoRecordTest, IdentitiesAreDeterministicPlausibleAndObviouslyFictional) {
  std::set<std::string> names;
  std::set<int> birth_years;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    const DemoIdentity id = GenerateDemoIdentity(seed, Profile::kCopd, kNow);
    EXPECT_EQ(id.name, GenerateDemoIdentity(seed, Profile::kCopd, kNow).name);
    names.insert(id.name);
    EXPECT_EQ(id.phone.rfind("+1-202-555-01", 0), 0u) << id.phone;
    EXPECT_TRUE(id.email.ends_with("@example.org")) << id.email;
    EXPECT_EQ(id.national_id.rfind("DEMO-", 0), 0u);
    EXPECT_TRUE(id.sex == "female" || id.sex == "male");
    ASSERT_EQ(id.postcode.size(), 5u);
    EXPECT_NE(id.address.find(id.postcode), std::string::npos);
    ASSERT_EQ(id.birth_date.size(), 10u);
    // COPD patients are 55..85 years old; 2027 - birth year.
    const int year = std::stoi(id.birth_date.substr(0, 4));
    EXPECT_GE(2027 - year, 54);
    EXPECT_LE(2027 - year, 87);
    birth_years.insert(year);
  }
  EXPECT_GT(names.size(), 20u);
  std::set<std::string> first_24;  // the demo's seeds (1..12) and more never share a name
  for (std::uint64_t seed = 1; seed <= 24; ++seed) {
    first_24.insert(GenerateDemoIdentity(seed, Profile::kHypertension, kNow).name);
  }
  EXPECT_EQ(first_24.size(), 24u);
  // Ages spread over the profile's range: patients born before 1970 keep their real year (a
  // clamp at the epoch once made most of them 1970-01-01).
  EXPECT_GT(birth_years.size(), 10u);
  EXPECT_LT(*birth_years.begin(), 1965);
}

TEST(DemoRecordTest, AvatarIsAValidPngAndDiffersBySeed) {
  const Bytes a = GenerateAvatarPng(1);
  const Bytes raw = CheckPng(a, 48);
  for (std::size_t row = 0; row < 48; ++row) EXPECT_EQ(raw[row * (1 + 48 * 3)], 0);
  EXPECT_NE(GenerateAvatarPng(2), a);
  EXPECT_EQ(GenerateAvatarPng(1), a);
  CheckPng(GenerateAvatarPng(3, 200), 200);  // over 64 KiB of scanlines
  // Compressed: the 48 x 48 avatar's 6,960 bytes of scanlines (flat colours) shrink well.
  EXPECT_LT(a.size(), 2000u);
}

TEST(DemoRecordTest, RecordMatchesTheProfileAndTheSimulatedState) {
  struct Expect {
    Profile profile;
    std::string condition;
    std::string symptom;
  };
  for (const Expect& e : {Expect{Profile::kHypertension, "I10", "headache"},
                          Expect{Profile::kType2Diabetes, "E11.9", "increased thirst"},
                          Expect{Profile::kCopd, "J44.9", "shortness of breath"},
                          Expect{Profile::kAtrialFibrillation, "I48.9", "palpitations"},
                          Expect{Profile::kFeverInfection, "R50.9", "fever"}}) {
    SimulatorOptions o;
    o.profile = e.profile;
    o.seed = 77;
    o.start_ms = kNow;
    auto sim = Simulator::Create(o);
    ASSERT_TRUE(sim.has_value());
    sim->Generate(std::chrono::minutes(30));
    const auto r = GeneratePatientRecord(*sim, {"rec-1", "p-1", "dev-1"}, sim->now_ms());
    EXPECT_EQ(r.record_id, "rec-1");
    EXPECT_EQ(r.patient_id, "p-1");
    EXPECT_EQ(r.device_id, "dev-1");
    EXPECT_EQ(r.created_ms, sim->now_ms());
    EXPECT_EQ(r.name, GenerateDemoIdentity(77, e.profile, kNow).name);
    EXPECT_NE(std::find(r.conditions.begin(), r.conditions.end(), e.condition), r.conditions.end());
    ASSERT_FALSE(r.symptoms.empty());
    EXPECT_EQ(r.symptoms.front(), e.symptom);
    EXPECT_GE(r.symptoms.size(), 2u);
    EXPECT_EQ(r.pulse_bpm, static_cast<int>(std::lround(sim->current_heart_rate())));
    EXPECT_NE(r.ecg_summary.find(std::to_string(r.pulse_bpm) + "/min"), std::string::npos);
    if (sim->current_rhythm() == wire::EcgRhythm::kAtrialFibrillation) {
      EXPECT_EQ(r.ecg_summary.rfind("atrial fibrillation", 0), 0u);
    }
    EXPECT_EQ(r.photo_type, "image/png");
    CheckPng(r.photo, 48);
    EXPECT_EQ(r.symptoms_document_type, "text/plain");
    // The diary is medical information: it must not carry identifiers.
    const std::string doc(r.symptoms_document.begin(), r.symptoms_document.end());
    EXPECT_NE(doc.find(e.symptom), std::string::npos);
    for (const std::string& identifier :
         {r.name, r.phone, r.email, r.address, r.national_id, r.postcode, r.birth_date}) {
      EXPECT_EQ(doc.find(identifier), std::string::npos) << identifier;
    }
    // The wire codec accepts it.
    EXPECT_TRUE(wire::ValidatePatientRecord(r))
        << wire::ValidatePatientRecord(r).error().ToString();
    auto encoded = wire::EncodePatientRecord(r);
    ASSERT_TRUE(encoded.has_value());
    EXPECT_EQ(*wire::DecodePatientRecord(*encoded), r);
  }
}

TEST(DemoRecordTest, HealthyRecordHasNoConditions) {
  SimulatorOptions o;
  o.start_ms = kNow;
  auto sim = Simulator::Create(o);
  const auto r = GeneratePatientRecord(*sim, {"rec-9", "p-9", "dev-9"}, kNow);
  EXPECT_TRUE(r.conditions.empty());
  EXPECT_EQ(r.symptoms, std::vector<std::string>{"no current complaints"});
}

}  // namespace
}  // namespace medmesh::wearable
