// Node-to-node request authentication (issue 8: the deletion feed a cloudlet asks the cloud for,
// and the copy of a record the cloud asks a cloudlet for; docs/integrity.md "Between nodes").
//
// The calling node signs, with its node Ed25519 key, one request: its own root-signed
// certificate, the node it calls, the request target and the time. It travels in the header
//   Authorization: MedMesh-Node <lower-case hex of the bytes below>
//   "MMNQ" ‖ version 1 ‖ u16 len ‖ certificate ‖ id(callee) ‖ u16 len ‖ target ‖
//   u64 issued_ms ‖ 64-byte signature over everything before it
// The callee verifies the certificate against the root it pins (role as expected, valid now),
// the signature with the certificate's key, that it is the callee and that the target is the
// path of the request it received (the query is not signed: the routes that use this are
// read-only and give the caller nothing it may not have with other parameters), and that
// issued_ms is within kNodeRequestSkewMs of its clock. A captured header can be replayed only
// on that path, to that node, within the window; TLS hides it on the wire.
// Thread safety: free functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"
#include "crypto/signing.h"
#include "wire/certificate.h"

namespace medmesh::wire {

inline constexpr std::string_view kNodeRequestScheme = "MedMesh-Node";
inline constexpr std::int64_t kNodeRequestSkewMs = 5 * 60 * 1000;

// The Authorization header value. kInvalidArgument for a bad callee id, time, or a target or
// certificate over 65535 bytes.
Result<std::string> SignNodeRequest(const crypto::Signer& signer, ByteView certificate,
                                    std::string_view callee_id, std::string_view target,
                                    std::int64_t issued_ms);

// Verifies an Authorization header value (see above) and returns the caller's verified
// certificate. kUnauthenticated for a missing or malformed header, a certificate that does not
// verify against `root` with `caller_role` at `now_ms`, a bad signature, another callee or
// target, or a time outside the window.
Result<VerifiedCertificate> VerifyNodeRequest(std::string_view authorization,
                                              const crypto::SigningPublicKey& root,
                                              CertificateRole caller_role,
                                              std::string_view callee_id, std::string_view target,
                                              std::int64_t now_ms);

}  // namespace medmesh::wire
