#include "net/error_mapping.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <string>

#include "core/log.h"

namespace medmesh::net {
namespace {

constexpr ErrorCode kAllCodes[] = {
    ErrorCode::kInvalidArgument,  ErrorCode::kNotFound,        ErrorCode::kAlreadyExists,
    ErrorCode::kPermissionDenied, ErrorCode::kUnauthenticated, ErrorCode::kFailedPrecondition,
    ErrorCode::kDataLoss,         ErrorCode::kUnavailable,     ErrorCode::kResourceExhausted,
    ErrorCode::kPayloadTooLarge,  ErrorCode::kInternal,
};

// The longest Retry-After a client honours (a day): a hostile value must not park it forever.
constexpr std::int64_t kMaxRetryAfterSeconds = 86'400;

std::optional<ErrorCode> ErrorCodeFromName(std::string_view name) {
  for (ErrorCode code : kAllCodes) {
    if (ErrorCodeName(code) == name) return code;
  }
  return std::nullopt;
}

std::string_view GenericServerMessage(int status) {
  return status == 503 ? "service unavailable" : "internal error";
}

Response ErrorBodyResponse(int status, std::string_view code_name, std::string_view message,
                           bool permanent, std::optional<std::chrono::seconds> retry_after) {
  nlohmann::json body = {{"error", code_name}};
  if (status >= 500) {
    log::Error("http_server_error",
               {{"status", status}, {"error", code_name}, {"message", message}});
    body["message"] = GenericServerMessage(status);
  } else {
    body["message"] = message;
    body["permanent"] = permanent;
  }
  if (retry_after) body["retry_after_s"] = retry_after->count();
  // `replace`: messages can carry bytes from untrusted input that are not valid UTF-8.
  Response r =
      Response::Json(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), status);
  if (retry_after) r.headers.emplace_back("Retry-After", std::to_string(retry_after->count()));
  return r;
}

std::optional<std::chrono::seconds> ClampRetryAfter(std::int64_t seconds) {
  if (seconds < 0) return std::nullopt;
  return std::chrono::seconds(std::min(seconds, kMaxRetryAfterSeconds));
}

// Retry-After in delay seconds; an HTTP date is not used by MedMesh and is ignored.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view text) {
  std::int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return ClampRetryAfter(seconds);
}

}  // namespace

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition: return 409;
    case ErrorCode::kPayloadTooLarge: return 413;
    case ErrorCode::kResourceExhausted: return 429;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kDataLoss:
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

ErrorCode ErrorCodeForHttpStatus(int status) {
  switch (status) {
    case 400: return ErrorCode::kInvalidArgument;
    case 401: return ErrorCode::kUnauthenticated;
    case 403: return ErrorCode::kPermissionDenied;
    case 404: return ErrorCode::kNotFound;
    case 409: return ErrorCode::kAlreadyExists;
    case 412: return ErrorCode::kFailedPrecondition;
    case 413:
    case 431: return ErrorCode::kPayloadTooLarge;
    case 429: return ErrorCode::kResourceExhausted;
    case 408:
    case 502:
    case 503:
    case 504: return ErrorCode::kUnavailable;
    default: break;
  }
  return status >= 400 && status < 500 ? ErrorCode::kInvalidArgument : ErrorCode::kInternal;
}

Response RejectionResponse(const Rejection& rejection) {
  const int status = HttpStatusFor(rejection.error.code());
  return ErrorBodyResponse(status, ErrorCodeName(rejection.error.code()), rejection.error.message(),
                           rejection.permanent && status < 500, rejection.retry_after);
}

Response ErrorResponse(const Error& error) { return RejectionResponse(Rejection(error)); }

void AddReason(Response& response, std::string_view reason) {
  if (reason.empty() || response.status < 400 || response.status >= 500) return;
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return;
  body["reason"] = reason;
  response.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Response JsonErrorResponse(int status, std::string_view code_name, std::string_view message) {
  return ErrorBodyResponse(status, code_name, message, false, std::nullopt);
}

bool Refusal::transient() const {
  if (http_status == 408 || http_status == 429 || http_status >= 500) return true;
  return medmesh && !permanent && retry_after.has_value();
}

Refusal DecodeRefusal(const Response& response) {
  Refusal refusal;
  refusal.http_status = response.status;
  std::optional<ErrorCode> code;
  std::string message;
  // The body is untrusted (it comes from another node, or a proxy), so parse without
  // exceptions and take nothing that is not of the documented type.
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  std::optional<bool> permanent;
  std::optional<std::chrono::seconds> body_retry_after;
  if (body.is_object()) {
    if (auto it = body.find("error"); it != body.end() && it->is_string()) {
      code = ErrorCodeFromName(it->get<std::string>());
    }
    if (auto it = body.find("message"); it != body.end() && it->is_string()) {
      message = it->get<std::string>();
    }
    if (auto it = body.find("permanent"); it != body.end() && it->is_boolean()) {
      permanent = it->get<bool>();
    }
    if (auto it = body.find("retry_after_s"); it != body.end() && it->is_number_integer()) {
      body_retry_after = ClampRetryAfter(it->get<std::int64_t>());
    }
  }
  const bool client_error = response.status >= 400 && response.status < 500;
  auto has_message = body.is_object() && body.contains("message") && body["message"].is_string();
  refusal.medmesh = code.has_value() && has_message && (!client_error || permanent.has_value());
  refusal.permanent = refusal.medmesh && client_error && permanent.value_or(false);
  if (auto header = response.Header("Retry-After")) refusal.retry_after = ParseRetryAfter(*header);
  if (!refusal.retry_after && refusal.medmesh) refusal.retry_after = body_retry_after;
  if (message.empty()) message = "HTTP " + std::to_string(response.status);
  refusal.error = Error(code.value_or(ErrorCodeForHttpStatus(response.status)), std::move(message));
  return refusal;
}

Error ErrorFromResponse(const Response& response) { return DecodeRefusal(response).error; }

}  // namespace medmesh::net
