#include "net/error_mapping.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace medmesh::net {
namespace {

constexpr ErrorCode kAllCodes[] = {
    ErrorCode::kInvalidArgument,  ErrorCode::kNotFound,        ErrorCode::kAlreadyExists,
    ErrorCode::kPermissionDenied, ErrorCode::kUnauthenticated, ErrorCode::kFailedPrecondition,
    ErrorCode::kDataLoss,         ErrorCode::kUnavailable,     ErrorCode::kResourceExhausted,
    ErrorCode::kInternal,
};

TEST(ErrorMappingTest, EveryCodeHasItsDocumentedStatus) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kDataLoss), 500);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInternal), 500);
}

TEST(ErrorMappingTest, ClientErrorsCarryCodeAndMessage) {
  const Response r = ErrorResponse(NotFound("no patient p17"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body, (nlohmann::json{{"error", "not_found"}, {"message", "no patient p17"}}));
}

TEST(ErrorMappingTest, ServerErrorsNeverEchoTheMessage) {
  for (ErrorCode code : kAllCodes) {
    const Error error(code, "SELECT * FROM ei WHERE key='/var/lib/medmesh/kek'");
    const Response r = ErrorResponse(error);
    if (r.status < 500) continue;
    EXPECT_EQ(r.body.find("kek"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("SELECT"), std::string::npos) << r.body;
    const auto body = nlohmann::json::parse(r.body);
    EXPECT_EQ(body["error"], ErrorCodeName(code));
    EXPECT_EQ(body["message"], r.status == 503 ? "service unavailable" : "internal error");
  }
}

TEST(ErrorMappingTest, MessagesAreJsonEscapedEvenWhenNotUtf8) {
  const Response r = ErrorResponse(InvalidArgument("bad \"id\"\n\xff"));
  const auto body = nlohmann::json::parse(r.body);  // would throw on invalid JSON
  EXPECT_EQ(body["message"], "bad \"id\"\n\xEF\xBF\xBD");
}

TEST(ErrorMappingTest, ErrorsRoundTripThroughResponses) {
  for (ErrorCode code : kAllCodes) {
    const Error back = ErrorFromResponse(ErrorResponse(Error(code, "m")));
    EXPECT_EQ(back.code(), code) << ErrorCodeName(code);
    if (HttpStatusFor(code) < 500) {
      EXPECT_EQ(back.message(), "m");
    }
  }
}

TEST(ErrorMappingTest, StatusDecidesWhenTheBodyIsNotOurs) {
  Response r;
  r.status = 502;
  r.body = "<html>bad gateway</html>";
  EXPECT_EQ(ErrorFromResponse(r).code(), ErrorCode::kUnavailable);
  EXPECT_EQ(ErrorFromResponse(r).message(), "HTTP 502");
  r.status = 413;
  r.body = R"({"error":"payload_too_large","message":"too big"})";
  EXPECT_EQ(ErrorFromResponse(r).code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(ErrorFromResponse(r).message(), "too big");
  r.status = 418;
  r.body = R"({"error":42})";
  EXPECT_EQ(ErrorFromResponse(r).code(), ErrorCode::kInvalidArgument);
  r.status = 302;
  EXPECT_EQ(ErrorFromResponse(r).code(), ErrorCode::kInternal);
}

TEST(ErrorMappingTest, ProtocolErrorsUseTheirOwnNames) {
  const Response r = JsonErrorResponse(405, "method_not_allowed", "no");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(nlohmann::json::parse(r.body)["error"], "method_not_allowed");
  const Response hidden = JsonErrorResponse(502, "upstream", "cloud at 10.0.0.7 refused");
  EXPECT_EQ(nlohmann::json::parse(hidden.body)["message"], "internal error");
}

}  // namespace
}  // namespace medmesh::net
