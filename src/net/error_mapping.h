// The one way a MedMesh node refuses a request over HTTP, and the one way a client reads a
// refusal back.
//
// Servers: every route hands its refusal to HTTP as a Rejection (an Error, whether the refusal
// is permanent, an optional retry-after, and what happened for metrics and the IDS log), turned
// into a response by RejectionResponse (or ErrorResponse for a plain Error). The JSON body:
//
//   {"error": "<code name>", "message": "<text>", "permanent": true|false
//    [, "retry_after_s": <seconds>]}
//
// "error" is what clients decide on (two codes share 409); "permanent": true means the same
// request will never be accepted (do not retry it), false that it may be after a wait or a
// change the code names (re-seal, split, enrol, register). A retry-after is also sent as the
// Retry-After header. 5xx bodies are generic (below) and never permanent.
//
// | ErrorCode            | HTTP | note                                                    |
// |----------------------|------|---------------------------------------------------------|
// | kInvalidArgument     | 400  |                                                         |
// | kUnauthenticated     | 401  |                                                         |
// | kPermissionDenied    | 403  |                                                         |
// | kNotFound            | 404  |                                                         |
// | kAlreadyExists       | 409  |                                                         |
// | kFailedPrecondition  | 409  | the state of the resource forbids the request; 412 is   |
// |                      |      | kept for HTTP conditional requests (If-Match), which    |
// |                      |      | this code does not mean. "error" tells 409s apart.      |
// | kPayloadTooLarge     | 413  | this one request is too large: send it in smaller parts |
// | kResourceExhausted   | 429  | quotas, rate limits, backpressure: send less, later     |
// | kUnavailable         | 503  | retry later                                             |
// | kDataLoss, kInternal | 500  |                                                         |
//
// Clients: DecodeRefusal turns any non-2xx response into a Refusal. Only a body of the shape
// above (a JSON object whose "error" names a code, with a string "message" and, for a 4xx, a
// boolean "permanent") counts as MedMesh's own answer; a proxy's or load balancer's page never
// does, so it can never be read as a permanent refusal.
//
// WARNING: 5xx bodies never carry the error's message (it may name files, queries or keys):
// they say "internal error" or "service unavailable", and the message goes to the log
// (event "http_server_error"). 4xx messages are sent as they are, so they must be written
// for the caller.
// Thread safety: all functions are thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/status.h"
#include "net/http_message.h"

namespace medmesh::net {

// The HTTP status for an error code (table above).
int HttpStatusFor(ErrorCode code);

// The error code an HTTP error status stands for, when the body does not say: 400→
// kInvalidArgument, 401→kUnauthenticated, 403→kPermissionDenied, 404→kNotFound,
// 409→kAlreadyExists, 412→kFailedPrecondition, 413/431→kPayloadTooLarge, 429→
// kResourceExhausted, 408/502/503/504→kUnavailable, any other 4xx→kInvalidArgument, any other
// status→kInternal.
ErrorCode ErrorCodeForHttpStatus(int status);

// A refusal, as every route hands it to HTTP.
struct Rejection {
  explicit Rejection(Error e, bool is_permanent = false,
                     std::optional<std::chrono::seconds> retry = std::nullopt, std::string why = {})
      : error(std::move(e)), permanent(is_permanent), retry_after(retry), reason(std::move(why)) {}

  Error error;             // status HttpStatusFor(error.code()); body "error" and "message"
  bool permanent = false;  // the same request can never succeed (meaningless for 5xx)
  std::optional<std::chrono::seconds> retry_after;  // Retry-After header and "retry_after_s"
  // What happened, for metrics labels and the IDS log: an IDS event kind name
  // (store::IdsEventKindName) or a label such as "backpressure". Never sent.
  std::string reason;
};

// The one mapping of a refusal to a response (body above). For a 5xx status the message is
// replaced by a generic one and the original is logged.
Response RejectionResponse(const Rejection& rejection);

// RejectionResponse of a plain error: not permanent, no retry-after.
Response ErrorResponse(const Error& error);

// Adds the member "reason": `reason` to a 4xx MedMesh error body: a finer, machine-readable
// cause than "error" for clients that act on it ("csrf_required", "invalid_credentials", ...;
// the list is in docs/openapi.yaml, schema Error). 5xx responses, other bodies and an empty
// `reason` are left as they are.
void AddReason(Response& response, std::string_view reason);

// A JSON error response for a protocol-level failure that has no ErrorCode
// ("method_not_allowed", "headers_too_large", ...); never permanent. The 5xx rule applies.
Response JsonErrorResponse(int status, std::string_view code_name, std::string_view message);

// A non-2xx response as a client reads it.
struct Refusal {
  int http_status = 0;
  // The code from the body's "error" when it names one, else ErrorCodeForHttpStatus; the
  // message from "message", else "HTTP <status>".
  Error error{ErrorCode::kInternal, ""};
  // The body is a MedMesh error body (shape above), not a proxy's or a stranger's.
  bool medmesh = false;
  // Only when `medmesh`, the status is 4xx and the body says "permanent": true.
  bool permanent = false;
  // From the Retry-After header (delay seconds), else from "retry_after_s" of a MedMesh body.
  std::optional<std::chrono::seconds> retry_after;

  // Worth sending again unchanged after a wait: no status (see below), 408, 429, 5xx, or a
  // MedMesh refusal that names a retry-after and is not permanent.
  bool transient() const;
};

// Decodes a response with status >= 300 (from HttpClient). Never fails: the body is untrusted
// and parsed without exceptions.
Refusal DecodeRefusal(const Response& response);

// DecodeRefusal(response).error: for callers that only need an Error.
Error ErrorFromResponse(const Response& response);

}  // namespace medmesh::net
