#include "wire/record_codec.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace medmesh::wire {
namespace {

constexpr std::string_view kMagic = "MMPR";

// --- Field checks -----------------------------------------------------------------------------

// Strict UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF) and no control
// characters other than tab, LF and CR.
bool IsCleanUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<std::uint8_t>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return false;
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<std::uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0)) {  // C1 controls too
      return false;
    }
    i += len;
  }
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsUpperOrDigit(char c) { return IsDigit(c) || IsUpper(c); }

int Number(std::string_view digits) {
  int v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

bool IsDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  static constexpr std::size_t kDigitPositions[] = {0, 1, 2, 3, 5, 6, 8, 9};
  for (std::size_t i : kDigitPositions) {
    if (!IsDigit(s[i])) return false;
  }
  const int year = Number(s.substr(0, 4));
  const int month = Number(s.substr(5, 2));
  const int day = Number(s.substr(8, 2));
  if (year < 1800 || month < 1 || month > 12 || day < 1) return false;
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

// ICD-10 shaped: "I10", "E11.9", "J44.1", "U07.1", "C4A.0".
bool IsIcd10(std::string_view s) {
  if (s.size() < 3 || !IsUpper(s[0]) || !IsDigit(s[1]) || !IsUpperOrDigit(s[2])) return false;
  if (s.size() == 3) return true;
  if (s[3] != '.' || s.size() < 5 || s.size() > 8) return false;
  return std::ranges::all_of(s.substr(4), IsUpperOrDigit);
}

bool IsMimeTokenChar(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'z') || IsUpper(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsMimeToken(std::string_view s) {
  return !s.empty() && std::ranges::all_of(s, IsMimeTokenChar);
}

// "<type>/<subtype>" without parameters; `type` fixes the top-level type if not empty.
bool IsMimeType(std::string_view s, std::string_view type) {
  const std::size_t slash = s.find('/');
  if (slash == std::string_view::npos) return false;
  const std::string_view top = s.substr(0, slash);
  if (!type.empty() && top != type) return false;
  return IsMimeToken(top) && IsMimeToken(s.substr(slash + 1));
}

Status CheckString(std::string_view field, std::string_view value) {
  if (value.size() > kMaxRecordStringBytes) {
    return InvalidArgument("record: field '" + std::string(field) + "' is longer than " +
                           std::to_string(kMaxRecordStringBytes) + " bytes");
  }
  if (!IsCleanUtf8(value)) {
    return InvalidArgument("record: field '" + std::string(field) +
                           "' is not UTF-8 text without control characters");
  }
  return OkStatus();
}

Status CheckList(std::string_view field, const std::vector<std::string>& items) {
  if (items.size() > kMaxRecordListItems) {
    return InvalidArgument("record: field '" + std::string(field) + "' has more than " +
                           std::to_string(kMaxRecordListItems) + " items");
  }
  for (const std::string& item : items) {
    MEDMESH_RETURN_IF_ERROR(CheckString(field, item));
    if (item.empty()) {
      return InvalidArgument("record: field '" + std::string(field) + "' has an empty item");
    }
  }
  return OkStatus();
}

Status CheckMedia(std::string_view field, const Bytes& data, std::size_t max_bytes,
                  std::string_view type_field, const std::string& type, std::string_view top) {
  if (data.size() > max_bytes) {
    return InvalidArgument("record: field '" + std::string(field) + "' is larger than " +
                           std::to_string(max_bytes) + " bytes");
  }
  MEDMESH_RETURN_IF_ERROR(CheckString(type_field, type));
  if (data.empty() != type.empty()) {
    return InvalidArgument("record: field '" + std::string(type_field) +
                           "' must be set exactly when '" + std::string(field) + "' is not empty");
  }
  if (!type.empty() && !IsMimeType(type, top)) {
    return InvalidArgument(
        "record: field '" + std::string(type_field) + "' is not a " +
        (top.empty() ? std::string("media type") : std::string(top) + "/* type"));
  }
  return OkStatus();
}

// --- Encoding helpers -------------------------------------------------------------------------

void PutString(Bytes& out, std::string_view s) {
  AppendU32Le(out, static_cast<std::uint32_t>(s.size()));
  AppendBytes(out, AsBytes(s));
}
void PutBytes(Bytes& out, const Bytes& b) {
  AppendU32Le(out, static_cast<std::uint32_t>(b.size()));
  AppendBytes(out, b);
}
void PutList(Bytes& out, const std::vector<std::string>& items) {
  AppendU16Le(out, static_cast<std::uint16_t>(items.size()));
  for (const std::string& s : items) PutString(out, s);
}

// Reads length-prefixed fields, refusing a length over the field's cap before reading it.
class FieldReader {
 public:
  explicit FieldReader(ByteView data) : in_(data) {}

  Result<Bytes> Blob(std::string_view field, std::size_t cap) {
    auto length = in_.ReadU32Le();
    if (!length) return Truncated(field);
    if (*length > cap) {
      return ResourceExhausted("record: field '" + std::string(field) + "' is longer than " +
                               std::to_string(cap) + " bytes");
    }
    auto bytes = in_.ReadBytes(*length);
    if (!bytes) return Truncated(field);
    return Bytes(bytes->begin(), bytes->end());
  }
  Result<std::string> String(std::string_view field) {
    MEDMESH_ASSIGN_OR_RETURN(Bytes b, Blob(field, kMaxRecordStringBytes));
    return std::string(AsStringView(b));
  }
  Result<std::vector<std::string>> List(std::string_view field) {
    auto count = in_.ReadU16Le();
    if (!count) return Truncated(field);
    if (*count > kMaxRecordListItems) {
      return ResourceExhausted("record: field '" + std::string(field) + "' has more than " +
                               std::to_string(kMaxRecordListItems) + " items");
    }
    std::vector<std::string> items;
    for (int i = 0; i < *count; ++i) {
      MEDMESH_ASSIGN_OR_RETURN(std::string s, String(field));
      items.push_back(std::move(s));
    }
    return items;
  }
  Result<std::uint64_t> U64(std::string_view field) {
    auto v = in_.ReadU64Le();
    if (!v) return Truncated(field);
    return *v;
  }
  Result<std::uint32_t> U32(std::string_view field) {
    auto v = in_.ReadU32Le();
    if (!v) return Truncated(field);
    return *v;
  }
  std::size_t remaining() const { return in_.remaining(); }

 private:
  static Error Truncated(std::string_view field) {
    return InvalidArgument("record: truncated at field '" + std::string(field) + "'");
  }
  ByteReader in_;
};

}  // namespace

Status ValidatePatientRecord(const PatientRecord& r) {
  if (!IsValidId(r.record_id))
    return InvalidArgument("record: field 'record_id' is not a valid id");
  if (!IsValidId(r.patient_id)) {
    return InvalidArgument("record: field 'patient_id' is not a valid id");
  }
  if (!IsValidId(r.device_id))
    return InvalidArgument("record: field 'device_id' is not a valid id");
  if (r.created_ms < 0 || r.created_ms > kMaxTimeMs) {
    return InvalidArgument("record: field 'created_ms' is out of range");
  }
  const std::pair<std::string_view, const std::string*> strings[] = {
      {"name", &r.name},
      {"phone", &r.phone},
      {"email", &r.email},
      {"address", &r.address},
      {"national_id", &r.national_id},
      {"birth_date", &r.birth_date},
      {"sex", &r.sex},
      {"postcode", &r.postcode},
      {"ecg_summary", &r.ecg_summary},
  };
  for (const auto& [field, value] : strings) MEDMESH_RETURN_IF_ERROR(CheckString(field, *value));
  MEDMESH_RETURN_IF_ERROR(
      CheckMedia("photo", r.photo, kMaxRecordPhotoBytes, "photo_type", r.photo_type, "image"));
  MEDMESH_RETURN_IF_ERROR(CheckMedia("symptoms_document", r.symptoms_document,
                                     kMaxRecordDocumentBytes, "symptoms_document_type",
                                     r.symptoms_document_type, ""));
  if (!r.birth_date.empty() && !IsDate(r.birth_date)) {
    return InvalidArgument("record: field 'birth_date' is not a date YYYY-MM-DD");
  }
  if (!r.sex.empty() && r.sex != "female" && r.sex != "male" && r.sex != "other" &&
      r.sex != "unknown") {
    return InvalidArgument("record: field 'sex' is not one of female, male, other, unknown");
  }
  MEDMESH_RETURN_IF_ERROR(CheckList("symptoms", r.symptoms));
  MEDMESH_RETURN_IF_ERROR(CheckList("conditions", r.conditions));
  for (const std::string& code : r.conditions) {
    if (!IsIcd10(code)) return InvalidArgument("record: field 'conditions' has a non-ICD-10 code");
  }
  if (r.pulse_bpm != 0 && (r.pulse_bpm < 20 || r.pulse_bpm > 300)) {
    return InvalidArgument("record: field 'pulse_bpm' is outside 20..300 (0 = unknown)");
  }
  return OkStatus();
}

Result<Bytes> EncodePatientRecord(const PatientRecord& r) {
  MEDMESH_RETURN_IF_ERROR(ValidatePatientRecord(r));
  Bytes out;
  out.reserve(256 + r.photo.size() + r.symptoms_document.size());
  AppendBytes(out, AsBytes(kMagic));
  AppendU8(out, kRecordFormatVersion);
  PutString(out, r.record_id);
  PutString(out, r.patient_id);
  PutString(out, r.device_id);
  AppendU64Le(out, static_cast<std::uint64_t>(r.created_ms));
  PutString(out, r.name);
  PutString(out, r.phone);
  PutString(out, r.email);
  PutString(out, r.address);
  PutString(out, r.national_id);
  PutBytes(out, r.photo);
  PutString(out, r.photo_type);
  PutString(out, r.birth_date);
  PutString(out, r.sex);
  PutString(out, r.postcode);
  PutList(out, r.symptoms);
  PutList(out, r.conditions);
  AppendU32Le(out, static_cast<std::uint32_t>(r.pulse_bpm));
  PutString(out, r.ecg_summary);
  PutBytes(out, r.symptoms_document);
  PutString(out, r.symptoms_document_type);
  return out;
}

Result<PatientRecord> DecodePatientRecord(ByteView encoded, std::size_t max_bytes) {
  if (encoded.size() > max_bytes) {
    return ResourceExhausted("record: " + std::to_string(encoded.size()) +
                             " bytes exceed the limit of " + std::to_string(max_bytes));
  }
  if (encoded.size() < kMagic.size() + 1 || AsStringView(encoded.first(kMagic.size())) != kMagic) {
    return InvalidArgument("record: bad magic");
  }
  if (encoded[kMagic.size()] != kRecordFormatVersion) {
    return InvalidArgument("record: unsupported version " + std::to_string(encoded[kMagic.size()]));
  }
  FieldReader in(encoded.subspan(kMagic.size() + 1));
  PatientRecord r;
  MEDMESH_ASSIGN_OR_RETURN(r.record_id, in.String("record_id"));
  MEDMESH_ASSIGN_OR_RETURN(r.patient_id, in.String("patient_id"));
  MEDMESH_ASSIGN_OR_RETURN(r.device_id, in.String("device_id"));
  MEDMESH_ASSIGN_OR_RETURN(const std::uint64_t created, in.U64("created_ms"));
  if (created > static_cast<std::uint64_t>(kMaxTimeMs)) {
    return InvalidArgument("record: field 'created_ms' is out of range");
  }
  r.created_ms = static_cast<std::int64_t>(created);
  MEDMESH_ASSIGN_OR_RETURN(r.name, in.String("name"));
  MEDMESH_ASSIGN_OR_RETURN(r.phone, in.String("phone"));
  MEDMESH_ASSIGN_OR_RETURN(r.email, in.String("email"));
  MEDMESH_ASSIGN_OR_RETURN(r.address, in.String("address"));
  MEDMESH_ASSIGN_OR_RETURN(r.national_id, in.String("national_id"));
  MEDMESH_ASSIGN_OR_RETURN(r.photo, in.Blob("photo", kMaxRecordPhotoBytes));
  MEDMESH_ASSIGN_OR_RETURN(r.photo_type, in.String("photo_type"));
  MEDMESH_ASSIGN_OR_RETURN(r.birth_date, in.String("birth_date"));
  MEDMESH_ASSIGN_OR_RETURN(r.sex, in.String("sex"));
  MEDMESH_ASSIGN_OR_RETURN(r.postcode, in.String("postcode"));
  MEDMESH_ASSIGN_OR_RETURN(r.symptoms, in.List("symptoms"));
  MEDMESH_ASSIGN_OR_RETURN(r.conditions, in.List("conditions"));
  MEDMESH_ASSIGN_OR_RETURN(const std::uint32_t pulse, in.U32("pulse_bpm"));
  r.pulse_bpm = static_cast<std::int32_t>(pulse);
  MEDMESH_ASSIGN_OR_RETURN(r.ecg_summary, in.String("ecg_summary"));
  MEDMESH_ASSIGN_OR_RETURN(r.symptoms_document,
                           in.Blob("symptoms_document", kMaxRecordDocumentBytes));
  MEDMESH_ASSIGN_OR_RETURN(r.symptoms_document_type, in.String("symptoms_document_type"));
  if (in.remaining() != 0) return InvalidArgument("record: trailing bytes");
  MEDMESH_RETURN_IF_ERROR(ValidatePatientRecord(r));
  return r;
}

}  // namespace medmesh::wire
