// The one mapping between medmesh::ErrorCode and HTTP statuses, and the JSON error body
// every MedMesh endpoint uses:
//
//   {"error": "<code name>", "message": "<text>"}
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
// | kResourceExhausted   | 429  | quotas, rate limits                                     |
// | kUnavailable         | 503  | retry later                                             |
// | kDataLoss, kInternal | 500  |                                                         |
//
// WARNING: 5xx bodies never carry the error's message (it may name files, queries or keys):
// they say "internal error" or "service unavailable", and the message goes to the log
// (event "http_server_error"). 4xx messages are sent as they are, so they must be written
// for the caller.
// Thread safety: all functions are thread-safe.
#pragma once

#include <string_view>

#include "core/status.h"
#include "net/http_message.h"

namespace medmesh::net {

// The HTTP status for an error code (table above).
int HttpStatusFor(ErrorCode code);

// The error code an HTTP error status stands for, for clients turning a response back into
// an Error: 400→kInvalidArgument, 401→kUnauthenticated, 403→kPermissionDenied,
// 404→kNotFound, 409→kAlreadyExists, 412→kFailedPrecondition, 413/429/431→kResourceExhausted,
// 502/503/504→kUnavailable, any other 4xx→kInvalidArgument, any other status→kInternal.
ErrorCode ErrorCodeForHttpStatus(int status);

// The JSON error response for `error` (status from HttpStatusFor). For a 5xx status the
// message is replaced by a generic one and the original is logged.
Response ErrorResponse(const Error& error);

// A JSON error response for a protocol-level failure that has no ErrorCode
// ("method_not_allowed", "payload_too_large", ...). The 5xx rule above applies here too.
Response JsonErrorResponse(int status, std::string_view code_name, std::string_view message);

// Turns a non-2xx response (from HttpClient) back into an Error: the code from the body's
// "error" field when it names an ErrorCode, otherwise from the status; the message from the
// body's "message" field, otherwise "HTTP <status>". For use on responses with status >= 300.
Error ErrorFromResponse(const Response& response);

}  // namespace medmesh::net
