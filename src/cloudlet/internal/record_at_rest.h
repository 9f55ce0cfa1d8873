// How the cloudlet keeps a record at rest (ingest ledger, records table): the opened upload's
// evidence and payload (wire::EncodeEvidenceAndPayload) encrypted under the patient's "records"
// data key, with the device and record ids as associated data. Shared by the ingest pipeline,
// which writes them, and the integrity side (integrity.h), which re-forwards and shreds them.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/bytes.h"

namespace medmesh::cloudlet::internal {

// The data key part of records at rest at the cloudlet.
inline constexpr std::string_view kRecordsKeyPart = "records";

inline Bytes RecordAd(std::string_view device_id, std::string_view record_id) {
  Bytes ad;
  AppendBytes(ad, AsBytes("cloudlet record v1"));
  AppendU8(ad, static_cast<std::uint8_t>(device_id.size()));
  AppendBytes(ad, AsBytes(device_id));
  AppendU8(ad, static_cast<std::uint8_t>(record_id.size()));
  AppendBytes(ad, AsBytes(record_id));
  return ad;
}

}  // namespace medmesh::cloudlet::internal
