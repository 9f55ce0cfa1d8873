// Mesh reports: what one node's intrusion detection tells its peers (docs/ids_mesh.md,
// docs/wire_format.md "IDS mesh report").
//
// A report says, from its origin node, with a sequence number and the time it was sent:
//   kDecision    a block or throttle decision of the origin (canonical decision bytes);
//   kAlert       an alert-only decision of the origin (same bytes, action alert);
//   kRevocation  the origin's operator ended decision `revoked_id` (mesh-wide revoke).
// It is signed with the origin's Ed25519 node key and travels with the origin's root-issued
// certificate, so a receiver needs nothing but its pinned root to check it:
//
//   report   = "MMIDSM" ‖ u8 version 1 ‖ str origin ‖ u64 sequence ‖ i64 sent_ms ‖ u8 kind ‖
//              str payload (EncodeDecision bytes, or the revoked decision id)
//   envelope = "MMIDSE" ‖ u8 version 1 ‖ str certificate ‖ str report ‖ 64-byte signature
//   (str = u32 little-endian length ‖ bytes; the signature is Ed25519 over the report bytes,
//    whose magic is the domain label)
//
// The sender signs each delivery attempt afresh (a new sequence and sent_ms), so a report that
// waited in an outbox while its peer was down is not refused as stale when it arrives; the
// receiver refuses sequences it has seen from the origin and reports older than its window
// (mesh_node.h).
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "ids/decision.h"
#include "wire/certificate.h"

namespace medmesh::ids {

enum class MeshReportKind : std::uint8_t {
  kDecision = 1,
  kRevocation = 2,
  kAlert = 3,
};
std::string_view MeshReportKindName(MeshReportKind kind);  // "decision", "revocation", "alert"

inline constexpr std::size_t kMaxMeshEnvelopeBytes = 16 * 1024;

struct MeshReport {
  std::string origin;  // node id of the sender (its certificate's subject)
  std::uint64_t sequence = 0;
  std::int64_t sent_ms = 0;
  MeshReportKind kind = MeshReportKind::kDecision;
  Decision decision;       // kDecision, kAlert: decision.origin == origin
  std::string revoked_id;  // kRevocation
};

// The canonical report bytes (the signed message). kInvalidArgument if the report breaks a rule
// above (a decision of another origin, a kDecision whose action is alert or a kAlert whose is
// not, an empty or over-long revoked id, a bad origin id).
Result<Bytes> EncodeMeshReport(const MeshReport& report);
// Its strict inverse; kInvalidArgument for any other bytes.
Result<MeshReport> DecodeMeshReport(ByteView encoded);

// Encodes `report`, signs it with `signer` (the origin's node key) and wraps it with the
// origin's `certificate`. This is all a tool holding a node identity needs to speak to the mesh
// (the red-team lying-peer scenario uses it). Errors as EncodeMeshReport.
Result<Bytes> SignMeshReport(const MeshReport& report, const crypto::Signer& signer,
                             ByteView certificate);

struct OpenedMeshReport {
  MeshReport report;
  wire::VerifiedCertificate certificate;  // the origin's, verified against the root
};

// Checks an envelope: it parses (kInvalidArgument otherwise), its certificate verifies against
// `root` as a cloudlet or cloud certificate valid at `now_ms`, the signature verifies with the
// certificate's key, and the report's origin is the certificate's subject. Every failure of
// these checks is AuthenticationFailed() (kUnauthenticated), whatever was wrong.
Result<OpenedMeshReport> OpenMeshReport(ByteView envelope, const crypto::SigningPublicKey& root,
                                        std::int64_t now_ms);

}  // namespace medmesh::ids
