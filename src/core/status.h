// Status and Result<T>: error handling for untrusted input and environment failures.
//
// Shaped like C++23 std::expected so that a later move is mechanical:
//   Result<int> r = Parse(x);  if (!r) return r.error();  int v = *r;
// A Status is a Result<void>. Every error carries a code from a fixed list and a
// message meant for logs and API callers; messages must never contain secrets.
// Thread safety: plain value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "core/check.h"

namespace medmesh {

enum class ErrorCode : std::uint8_t {
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kFailedPrecondition,
  kDataLoss,
  kUnavailable,
  kResourceExhausted,
  kPayloadTooLarge,  // one request is over a size limit: send it in smaller parts (HTTP 413)
  kInternal,
};

// Stable lower-case name of a code ("invalid_argument", ...), used in logs and JSON bodies.
std::string_view ErrorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  ErrorCode code_;
  std::string message_;
};

// Mirrors std::unexpected: `return Unexpected(...)` or simply `return Error(...)`.
inline Error InvalidArgument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Error NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Error AlreadyExists(std::string m) { return {ErrorCode::kAlreadyExists, std::move(m)}; }
inline Error PermissionDenied(std::string m) {
  return {ErrorCode::kPermissionDenied, std::move(m)};
}
inline Error Unauthenticated(std::string m) { return {ErrorCode::kUnauthenticated, std::move(m)}; }
inline Error FailedPrecondition(std::string m) {
  return {ErrorCode::kFailedPrecondition, std::move(m)};
}
inline Error DataLoss(std::string m) { return {ErrorCode::kDataLoss, std::move(m)}; }
inline Error Unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
inline Error ResourceExhausted(std::string m) {
  return {ErrorCode::kResourceExhausted, std::move(m)};
}
inline Error PayloadTooLarge(std::string m) { return {ErrorCode::kPayloadTooLarge, std::move(m)}; }
inline Error Internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

template <typename T>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  Result(const T& v) : v_(std::in_place_index<0>, v) {}  // NOLINT(google-explicit-constructor)
  Result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}    // NOLINT
  Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT
  template <typename U>
    requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, Result> &&
             !std::is_same_v<std::decay_t<U>, Error> && !std::is_same_v<std::decay_t<U>, T>)
  Result(U&& u) : v_(std::in_place_index<0>, T(std::forward<U>(u))) {}  // NOLINT

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    MEDMESH_CHECK(has_value(), "Result::value() on error");
    return std::get<0>(v_);
  }
  const T& value() const& {
    MEDMESH_CHECK(has_value(), "Result::value() on error");
    return std::get<0>(v_);
  }
  T&& value() && {
    MEDMESH_CHECK(has_value(), "Result::value() on error");
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const {
    MEDMESH_CHECK(!has_value(), "Result::error() on value");
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : e_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  bool has_value() const { return !e_.has_value(); }
  explicit operator bool() const { return has_value(); }
  void value() const { MEDMESH_CHECK(has_value(), "Status::value() on error"); }
  const Error& error() const {
    MEDMESH_CHECK(!has_value(), "Status::error() on ok");
    return *e_;
  }

 private:
  std::optional<Error> e_;
};

using Status = Result<void>;
inline Status OkStatus() { return {}; }

}  // namespace medmesh

// Propagates an error from an expression yielding Status/Result.
#define MEDMESH_RETURN_IF_ERROR(expr)                \
  do {                                               \
    if (auto _st = (expr); !_st) return _st.error(); \
  } while (0)

#define MEDMESH_CONCAT_INNER(a, b) a##b
#define MEDMESH_CONCAT(a, b) MEDMESH_CONCAT_INNER(a, b)
// MEDMESH_ASSIGN_OR_RETURN(auto x, Foo());  `lhs` is a declaration, so it cannot be parenthesised.
#define MEDMESH_ASSIGN_OR_RETURN(lhs, expr)                                             \
  auto MEDMESH_CONCAT(_res_, __LINE__) = (expr);                                        \
  if (!MEDMESH_CONCAT(_res_, __LINE__)) return MEDMESH_CONCAT(_res_, __LINE__).error(); \
  lhs = std::move(MEDMESH_CONCAT(_res_, __LINE__)).value()  // NOLINT(bugprone-macro-parentheses)
