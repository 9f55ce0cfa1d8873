#include "net/error_mapping.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/log.h"

namespace medmesh::net {
namespace {

constexpr ErrorCode kAllCodes[] = {
    ErrorCode::kInvalidArgument,  ErrorCode::kNotFound,        ErrorCode::kAlreadyExists,
    ErrorCode::kPermissionDenied, ErrorCode::kUnauthenticated, ErrorCode::kFailedPrecondition,
    ErrorCode::kDataLoss,         ErrorCode::kUnavailable,     ErrorCode::kResourceExhausted,
    ErrorCode::kInternal,
};

std::optional<ErrorCode> ErrorCodeFromName(std::string_view name) {
  for (ErrorCode code : kAllCodes) {
    if (ErrorCodeName(code) == name) return code;
  }
  return std::nullopt;
}

std::string_view GenericServerMessage(int status) {
  return status == 503 ? "service unavailable" : "internal error";
}

std::string ErrorBody(std::string_view code_name, std::string_view message) {
  nlohmann::json body = {{"error", code_name}, {"message", message}};
  // `replace`: messages can carry bytes from untrusted input that are not valid UTF-8.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kAlreadyExists: return 409;
    case ErrorCode::kFailedPrecondition: return 409;
    case ErrorCode::kResourceExhausted: return 429;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kDataLoss: return 500;
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
    case 429:
    case 431: return ErrorCode::kResourceExhausted;
    case 502:
    case 503:
    case 504: return ErrorCode::kUnavailable;
    default: break;
  }
  return status >= 400 && status < 500 ? ErrorCode::kInvalidArgument : ErrorCode::kInternal;
}

Response ErrorResponse(const Error& error) {
  return JsonErrorResponse(HttpStatusFor(error.code()), ErrorCodeName(error.code()),
                           error.message());
}

Response JsonErrorResponse(int status, std::string_view code_name, std::string_view message) {
  if (status >= 500) {
    log::Error("http_server_error",
               {{"status", status}, {"error", code_name}, {"message", message}});
    return Response::Json(ErrorBody(code_name, GenericServerMessage(status)), status);
  }
  return Response::Json(ErrorBody(code_name, message), status);
}

Error ErrorFromResponse(const Response& response) {
  std::optional<ErrorCode> code;
  std::string message;
  // The body is untrusted (it comes from another node), so parse without exceptions.
  const nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object()) {
    if (auto it = body.find("error"); it != body.end() && it->is_string()) {
      code = ErrorCodeFromName(it->get<std::string>());
    }
    if (auto it = body.find("message"); it != body.end() && it->is_string()) {
      message = it->get<std::string>();
    }
  }
  if (message.empty()) message = "HTTP " + std::to_string(response.status);
  return {code.value_or(ErrorCodeForHttpStatus(response.status)), std::move(message)};
}

}  // namespace medmesh::net
