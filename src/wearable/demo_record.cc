#include "wearable/demo_record.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <span>
#include <string_view>

#include "wearable/internal/civil_time.h"
#include "wearable/internal/png.h"
#include "wearable/internal/prng.h"

namespace medmesh::wearable {
namespace {

using internal::Prng;
using std::string_view;

constexpr std::array<string_view, 24> kFemaleNames = {
    "Amara",  "Beatriz", "Chloe", "Dalia",  "Elena",   "Farah", "Grace",  "Hana",
    "Ingrid", "Julia",   "Keiko", "Leila",  "Maya",    "Nadia", "Olga",   "Priya",
    "Rosa",   "Sofia",   "Tamar", "Ursula", "Valeria", "Wen",   "Yasmin", "Zofia"};
constexpr std::array<string_view, 24> kMaleNames = {
    "Adam",   "Bruno",  "Carlos", "Daniel", "Emeka",  "Felix",   "Gustav", "Hiro",
    "Ivan",   "Jonas",  "Kwame",  "Luca",   "Mateo",  "Nikhil",  "Omar",   "Pavel",
    "Rafael", "Samuel", "Tomas",  "Umar",   "Victor", "William", "Yusuf",  "Zoran"};
constexpr std::array<string_view, 24> kSurnames = {
    "Abbott",  "Bianchi", "Chen",     "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
    "Ibrahim", "Jensen",  "Kowalski", "Larsen", "Mensah",  "Novak",   "Okafor", "Petrov",
    "Quinn",   "Rossi",   "Silva",    "Tanaka", "Uddin",   "Varga",   "Weber",  "Yilmaz"};
constexpr std::array<string_view, 12> kStreets = {
    "Maple Street", "Harbour Road",     "Linden Avenue",  "Mill Lane",
    "Orchard Way",  "Station Road",     "Chestnut Close", "Riverside Walk",
    "Elm Grove",    "Kingfisher Drive", "Quarry Hill",    "Bell Court"};

struct Town {
  string_view name;
  string_view postcode_prefix;
};
constexpr std::array<Town, 4> kTowns = {
    {{"Northbridge", "101"}, {"Riverton", "102"}, {"Eastwick", "205"}, {"Lakeside", "206"}}};

struct ProfileText {
  std::array<string_view, 6> symptoms;  // the first is always present
  std::array<string_view, 2> conditions;
  string_view pattern;
  string_view medication;
  int age_lo, age_hi;
};

constexpr std::array<ProfileText, 6> kProfileText = {{
    {{"no current complaints", "", "", "", "", ""},
     {"", ""},
     "Feels well; routine monitoring.",
     "none",
     22,
     55},
    {{"headache", "dizziness", "blurred vision", "nosebleeds", "chest tightness", "fatigue"},
     {"I10", ""},
     "Headaches mostly in the morning; episodes of dizziness when standing up quickly.",
     "amlodipine 5 mg once daily",
     45,
     80},
    {{"increased thirst", "frequent urination", "fatigue", "blurred vision", "tingling in feet",
      "slow-healing cuts"},
     {"E11.9", ""},
     "Thirsty in the afternoon; shaky and sweaty once after a long walk.",
     "metformin 1000 mg twice daily",
     40,
     78},
    {{"shortness of breath", "chronic cough", "sputum production", "wheezing", "chest tightness",
      "fatigue"},
     {"J44.9", ""},
     "Breathless on stairs and on longer walks; cough worse in the morning.",
     "tiotropium inhaler once daily; salbutamol as needed",
     55,
     85},
    {{"palpitations", "irregular heartbeat", "shortness of breath", "fatigue", "dizziness",
      "chest discomfort"},
     {"I48.9", ""},
     "Episodes of a racing, irregular heartbeat lasting minutes to hours.",
     "apixaban 5 mg twice daily; bisoprolol 2.5 mg once daily",
     55,
     88},
    {{"fever", "chills", "sweating", "headache", "muscle aches", "sore throat"},
     {"R50.9", "J06.9"},
     "Temperature spikes several times a day with chills, easing after paracetamol.",
     "paracetamol 1 g up to four times daily",
     18,
     70},
}};

const ProfileText& Text(Profile p) { return kProfileText[static_cast<std::size_t>(p)]; }

std::string Lower(string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  });
  return out;
}

std::string EcgSummary(wire::EcgRhythm rhythm, int pulse) {
  const std::string rate = std::to_string(pulse) + "/min";
  switch (rhythm) {
    case wire::EcgRhythm::kAtrialFibrillation:
      return "atrial fibrillation, irregularly irregular, " + rate;
    case wire::EcgRhythm::kSinusTachycardia: return "sinus tachycardia, " + rate;
    case wire::EcgRhythm::kSinusBradycardia: return "sinus bradycardia, " + rate;
    case wire::EcgRhythm::kSinus: return "sinus rhythm, " + rate;
    case wire::EcgRhythm::kOther: break;
  }
  return "other rhythm, " + rate;
}

}  // namespace

DemoIdentity GenerateDemoIdentity(std::uint64_t seed, Profile profile, std::int64_t now_ms) {
  Prng prng(seed ^ 0xD3E0'1DE7'0000'0000ULL);
  DemoIdentity id;
  const bool female = prng.Bernoulli(0.5);
  id.sex = female ? "female" : "male";
  const string_view first =
      female ? prng.Pick<string_view>(kFemaleNames) : prng.Pick<string_view>(kMaleNames);
  // The draw stays so every field after it is what it was before names were made distinct.
  static_cast<void>(prng.Pick<string_view>(kSurnames));
  const string_view last = kSurnames[(seed * 7) % kSurnames.size()];
  id.name = std::string(first) + " " + std::string(last);
  char buf[64];
  std::snprintf(buf, sizeof buf, "+1-202-555-01%02d", static_cast<int>(prng.Below(100)));
  id.phone = buf;
  id.email =
      Lower(first) + "." + Lower(last) + "." + std::to_string(prng.Below(90) + 10) + "@example.org";
  const Town& town = prng.Pick<Town>(kTowns);
  std::snprintf(buf, sizeof buf, "%s%02d", std::string(town.postcode_prefix).c_str(),
                static_cast<int>(prng.Below(100)));
  id.postcode = buf;
  id.address = std::to_string(prng.Below(180) + 1) + " " +
               std::string(prng.Pick<string_view>(kStreets)) + ", " + id.postcode + " " +
               std::string(town.name);
  std::snprintf(buf, sizeof buf, "DEMO-%03d-%02d-%04d", static_cast<int>(prng.Below(1000)),
                static_cast<int>(prng.Below(100)), static_cast<int>(prng.Below(10000)));
  id.national_id = buf;
  const ProfileText& text = Text(profile);
  const double age_years = prng.Uniform(text.age_lo, text.age_hi + 1);
  const auto age_ms = static_cast<std::int64_t>(age_years * 365.2425 * 86'400'000.0);
  id.birth_date = internal::FormatDate(now_ms - age_ms);
  return id;
}

Bytes GenerateAvatarPng(std::uint64_t seed, std::uint32_t size) {
  size = std::clamp<std::uint32_t>(size, 16, 256);
  Prng prng(seed ^ 0xA7A7'0000'0000'0000ULL);
  auto colour = [&](int lo, int hi) {
    return std::array<std::uint8_t, 3>{static_cast<std::uint8_t>(lo + prng.Below(hi - lo)),
                                       static_cast<std::uint8_t>(lo + prng.Below(hi - lo)),
                                       static_cast<std::uint8_t>(lo + prng.Below(hi - lo))};
  };
  constexpr std::array<std::array<std::uint8_t, 3>, 5> kSkin = {
      {{255, 219, 172}, {241, 194, 125}, {224, 172, 105}, {141, 85, 36}, {94, 58, 26}}};
  const auto background = colour(150, 240);
  const auto shirt = colour(30, 160);
  const auto skin = kSkin[prng.Below(kSkin.size())];
  const double s = size;
  Bytes rgb(std::size_t{size} * size * 3);
  for (std::uint32_t y = 0; y < size; ++y) {
    for (std::uint32_t x = 0; x < size; ++x) {
      const double fx = x + 0.5;
      const double fy = y + 0.5;
      const double hx = (fx - s / 2) / (s * 0.19);
      const double hy = (fy - s * 0.40) / (s * 0.22);
      const double bx = (fx - s / 2) / (s * 0.40);
      const double by = (fy - s * 1.05) / (s * 0.38);
      const auto& c = hx * hx + hy * hy <= 1.0   ? skin
                      : bx * bx + by * by <= 1.0 ? shirt
                                                 : background;
      std::copy(c.begin(), c.end(), rgb.begin() + static_cast<std::ptrdiff_t>(y * size + x) * 3);
    }
  }
  return internal::EncodePngRgb(size, size, rgb);
}

wire::PatientRecord GeneratePatientRecord(const Simulator& simulator, const RecordIds& ids,
                                          std::int64_t created_ms) {
  const Profile profile = simulator.profile();
  const std::uint64_t seed = simulator.options().seed;
  const DemoIdentity identity = GenerateDemoIdentity(seed, profile, created_ms);
  const ProfileText& text = Text(profile);
  Prng prng(seed ^ 0x5E7E'0000'0000'0000ULL ^ static_cast<std::uint64_t>(created_ms));

  wire::PatientRecord r;
  r.record_id = ids.record_id;
  r.patient_id = ids.patient_id;
  r.device_id = ids.device_id;
  r.created_ms = created_ms;
  r.name = identity.name;
  r.phone = identity.phone;
  r.email = identity.email;
  r.address = identity.address;
  r.national_id = identity.national_id;
  r.photo = GenerateAvatarPng(seed);
  r.photo_type = "image/png";
  r.birth_date = identity.birth_date;
  r.sex = identity.sex;
  r.postcode = identity.postcode;

  r.symptoms.emplace_back(text.symptoms[0]);
  for (std::size_t i = 1; i < text.symptoms.size(); ++i) {
    if (!text.symptoms[i].empty() && prng.Bernoulli(0.5)) r.symptoms.emplace_back(text.symptoms[i]);
  }
  if (r.symptoms.size() == 1 && !text.symptoms[1].empty())
    r.symptoms.emplace_back(text.symptoms[1]);
  for (string_view c : text.conditions) {
    if (!c.empty()) r.conditions.emplace_back(c);
  }
  r.pulse_bpm = static_cast<std::int32_t>(std::lround(simulator.current_heart_rate()));
  r.ecg_summary = EcgSummary(simulator.current_rhythm(), r.pulse_bpm);

  std::string complaints;
  for (const auto& s : r.symptoms) complaints += (complaints.empty() ? "" : ", ") + s;
  const std::string doc =
      "Symptom diary (self-reported; synthetic demo data)\n"
      "Recorded: " +
      internal::FormatDate(created_ms) + "\n" + "Main complaints: " + complaints + "\n" +
      "For about: " + std::to_string(prng.Below(8) + 1) + " weeks\n" +
      "Pattern: " + std::string(text.pattern) + "\n" +
      "Current medication: " + std::string(text.medication) + "\n" +
      "Wearable at recording: pulse " + std::to_string(r.pulse_bpm) + "/min, " +
      r.ecg_summary.substr(0, r.ecg_summary.find(',')) + "\n";
  r.symptoms_document.assign(doc.begin(), doc.end());
  r.symptoms_document_type = "text/plain";
  return r;
}

}  // namespace medmesh::wearable
