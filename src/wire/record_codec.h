// Canonical binary encoding of a PatientRecord: the payload of a record upload (envelope.h) and
// the form the cloud re-encodes to re-check a stored record. Byte layout: docs/wire_format.md,
// "Patient record".
//
// Canonical: fields in a fixed order, each with an exact length prefix, no optional parts, so a
// record has exactly one encoding and Encode(Decode(bytes)) == bytes for every accepted input.
// That is what lets the cloud recompute a record's digest from its stored parts.
// Thread safety: free functions without shared state.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/bytes.h"
#include "core/status.h"
#include "wire/model.h"

namespace medmesh::wire {

inline constexpr std::uint8_t kRecordFormatVersion = 1;
inline constexpr std::size_t kMaxRecordPhotoBytes = std::size_t{2} << 20;     // 2 MiB
inline constexpr std::size_t kMaxRecordDocumentBytes = std::size_t{4} << 20;  // 4 MiB
inline constexpr std::size_t kMaxRecordStringBytes = 4096;                    // each string
inline constexpr std::size_t kMaxRecordListItems = 64;  // symptoms, conditions (each)
// The largest encoding the limits above allow, rounded up: photo + document + 1 MiB.
inline constexpr std::size_t kMaxRecordBytes = std::size_t{7} << 20;

// OK if the record may be encoded and would be accepted by DecodePatientRecord; otherwise
// kInvalidArgument naming the field (never quoting its content, which may be personal data):
//   - record_id, patient_id, device_id: IsValidId (model.h);
//   - created_ms in [0, kMaxTimeMs];
//   - every string valid UTF-8 without control characters other than tab, CR and LF, at most
//     kMaxRecordStringBytes; photo at most kMaxRecordPhotoBytes, document at most
//     kMaxRecordDocumentBytes; at most kMaxRecordListItems symptoms and conditions, none empty;
//   - birth_date empty or a real date "YYYY-MM-DD" (year 1800..9999);
//   - sex one of "", "female", "male", "other", "unknown";
//   - conditions ICD-10 shaped: letter, two digits or digit+letter, optional "." and 1..4
//     letters/digits ("I10", "E11.9", "J44.1");
//   - pulse_bpm 0 (unknown) or 20..300;
//   - photo_type empty iff the photo is empty, otherwise "image/<subtype>"; likewise
//     symptoms_document_type is empty iff the document is, otherwise "<type>/<subtype>".
Status ValidatePatientRecord(const PatientRecord& record);

// The canonical encoding. Errors: those of ValidatePatientRecord.
Result<Bytes> EncodePatientRecord(const PatientRecord& record);

// Decodes and validates. kResourceExhausted if the input is longer than `max_bytes` (checked
// first) or a length prefix passes its field's cap; kInvalidArgument for a bad magic or version,
// truncation, trailing bytes, or a field that fails ValidatePatientRecord.
Result<PatientRecord> DecodePatientRecord(ByteView encoded,
                                          std::size_t max_bytes = kMaxRecordBytes);

}  // namespace medmesh::wire
