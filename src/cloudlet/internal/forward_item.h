// The items of the cloudlet's forward queue (store/forward_queue.h). Two kinds, told apart by
// the item id:
//   "u.<32 hex>"   an accepted upload to forward; the hex is the forward id. The payload is
//                  EncodeUploadItem: clear routing fields and the upload evidence and payload
//                  encrypted at rest under the patient's "forward" data key (the queue must not
//                  hold plaintext readings). The forward itself is sealed to the cloud only when
//                  it is sent, so the queue fills even while the cloud (and its certificate) is
//                  unreachable.
//   "e.<device>"   a device's signed enrolment record, pushed to the cloud once, so the cloud
//                  can check that device's signatures.
// Private to src/cloudlet.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "core/bytes.h"
#include "core/status.h"
#include "wire/envelope.h"

namespace medmesh::cloudlet::internal {

inline constexpr std::string_view kUploadItemPrefix = "u.";
inline constexpr std::string_view kEnrolmentItemPrefix = "e.";
// The data key part the queued uploads are encrypted under.
inline constexpr std::string_view kForwardKeyPart = "forward";

struct UploadItem {
  wire::ContentType content_type = wire::ContentType::kReadingsBatch;
  std::string device_id;
  std::string patient_id;
  // EnvelopeAead of wire::EncodeEvidenceAndPayload(...), associated data = item id
  Bytes ciphertext;
};

Bytes EncodeUploadItem(const UploadItem& item);
// kInvalidArgument for anything malformed.
Result<UploadItem> DecodeUploadItem(ByteView encoded);

// The forward id of an upload: keyed BLAKE2b-128 of (cloudlet id, device id, batch id), so a
// retried upload maps to the same forward and the queue and the cloud de-duplicate it.
wire::ForwardId DeriveForwardId(std::string_view cloudlet_id, std::string_view device_id,
                                const wire::BatchId& batch_id);
std::string UploadItemId(const wire::ForwardId& forward_id);
// kInvalidArgument unless `item_id` is "u." + 32 lower-case hex digits.
Result<wire::ForwardId> ForwardIdFromItemId(std::string_view item_id);
std::string EnrolmentItemId(std::string_view device_id);

}  // namespace medmesh::cloudlet::internal
