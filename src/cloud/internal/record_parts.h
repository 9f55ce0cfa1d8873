// The private plaintext formats of the three-part store's rows (three_part.h): what gets
// encrypted into an EI snapshot, a QI snapshot, an MI row and a record link. CBOR (via
// nlohmann-json) with a version field; the formats never leave the store, so they may change
// with a version bump and a migration.
//
// Encoders are deterministic (equal input, equal bytes), which the content-derived snapshot
// references rely on. Decoders are strict: a missing, extra or mistyped field, or another
// version, gives kDataLoss (the input was authenticated, so this means a bug or corruption).
// Thread safety: free functions without shared state.
#pragma once

#include <string>

#include "core/bytes.h"
#include "core/status.h"
#include "wire/model.h"

namespace medmesh::cloud::internal {

// EI: name, phone, e-mail, address, national id, photo and its type.
Bytes EncodeEiPart(const wire::PatientRecord& record);
Status DecodeEiPart(ByteView encoded, wire::PatientRecord& into);

// QI: birth date, sex, postcode.
Bytes EncodeQiPart(const wire::PatientRecord& record);
Status DecodeQiPart(ByteView encoded, wire::PatientRecord& into);

// MI: creation time, symptoms, conditions, pulse, ECG summary, symptoms document and its type.
Bytes EncodeMiPart(const wire::PatientRecord& record);
Status DecodeMiPart(ByteView encoded, wire::PatientRecord& into);

// A record link: which record this is and where its parts are.
struct RecordLink {
  std::string record_id;
  std::string device_id;
  std::string ei_snapshot_ref;
  std::string qi_snapshot_ref;
  Bytes device_signature;
  bool operator==(const RecordLink&) const = default;
};
Bytes EncodeRecordLink(const RecordLink& link);
Result<RecordLink> DecodeRecordLink(ByteView encoded);

}  // namespace medmesh::cloud::internal
