#include "net/error_mapping.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace medmesh::net {
namespace {

constexpr ErrorCode kAllCodes[] = {
    ErrorCode::kInvalidArgument,  ErrorCode::kNotFound,        ErrorCode::kAlreadyExists,
    ErrorCode::kPermissionDenied, ErrorCode::kUnauthenticated, ErrorCode::kFailedPrecondition,
    ErrorCode::kDataLoss,         ErrorCode::kUnavailable,     ErrorCode::kResourceExhausted,
    ErrorCode::kPayloadTooLarge,  ErrorCode::kInternal,
};

TEST(ErrorMappingTest, EveryCodeHasItsDocumentedStatus) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kAlreadyExists), 409);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kFailedPrecondition), 409);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kPayloadTooLarge), 413);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kDataLoss), 500);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInternal), 500);
}

TEST(ErrorMappingTest, ClientErrorsCarryCodeAndMessage) {
  const Response r = ErrorResponse(NotFound("no patient p17"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  const auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body,
            (nlohmann::json{
                {"error", "not_found"}, {"message", "no patient p17"}, {"permanent", false}}));
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

TEST(ErrorMappingTest, AReasonIsAddedToClientErrorsOnly) {
  Response denied = ErrorResponse(PermissionDenied("no"));
  AddReason(denied, "csrf_required");
  EXPECT_EQ(nlohmann::json::parse(denied.body)["reason"], "csrf_required");
  EXPECT_EQ(nlohmann::json::parse(denied.body)["error"], "permission_denied");

  Response unchanged = ErrorResponse(NotFound("no"));
  const std::string before = unchanged.body;
  AddReason(unchanged, "");
  EXPECT_EQ(unchanged.body, before);
  Response server = ErrorResponse(Unavailable("down"));
  const std::string server_before = server.body;
  AddReason(server, "busy");
  EXPECT_EQ(server.body, server_before);
  Response foreign = Response::Json("[1]", 400);
  AddReason(foreign, "busy");
  EXPECT_EQ(foreign.body, "[1]");
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
  EXPECT_EQ(ErrorFromResponse(r).code(), ErrorCode::kPayloadTooLarge);
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

// Too large and too many are different things to a client: split the request, or send later.
TEST(ErrorMappingTest, PayloadTooLargeIsNotResourceExhausted) {
  EXPECT_EQ(ErrorCodeForHttpStatus(413), ErrorCode::kPayloadTooLarge);
  EXPECT_EQ(ErrorCodeForHttpStatus(429), ErrorCode::kResourceExhausted);
  const Refusal big = DecodeRefusal(ErrorResponse(PayloadTooLarge("upload over 8 MiB")));
  EXPECT_EQ(big.http_status, 413);
  EXPECT_EQ(big.error.code(), ErrorCode::kPayloadTooLarge);
  EXPECT_FALSE(big.transient());
  const Refusal busy = DecodeRefusal(ErrorResponse(ResourceExhausted("slow down")));
  EXPECT_EQ(busy.http_status, 429);
  EXPECT_EQ(busy.error.code(), ErrorCode::kResourceExhausted);
  EXPECT_TRUE(busy.transient());
}

// The two 409s are told apart by the body, and the decoder takes the body's word.
TEST(ErrorMappingTest, TheBodyTellsTheTwo409sApart) {
  const Refusal replay = DecodeRefusal(ErrorResponse(AlreadyExists("batch id used")));
  const Refusal unknown = DecodeRefusal(ErrorResponse(FailedPrecondition("register first")));
  EXPECT_EQ(replay.http_status, 409);
  EXPECT_EQ(unknown.http_status, 409);
  EXPECT_EQ(replay.error.code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(unknown.error.code(), ErrorCode::kFailedPrecondition);
}

TEST(ErrorMappingTest, RejectionsCarryPermanenceAndRetryAfter) {
  Rejection rejection(InvalidArgument("malformed upload"), true, std::nullopt, "malformed");
  Response r = RejectionResponse(rejection);
  EXPECT_EQ(r.status, 400);
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["error"], "invalid_argument");
  EXPECT_EQ(body["permanent"], true);
  EXPECT_FALSE(body.contains("retry_after_s"));
  EXPECT_FALSE(body.contains("reason"));  // the reason is not sent
  Refusal back = DecodeRefusal(r);
  EXPECT_TRUE(back.medmesh);
  EXPECT_TRUE(back.permanent);
  EXPECT_FALSE(back.transient());

  rejection = Rejection(ResourceExhausted("busy"), false, std::chrono::seconds(10), "backpressure");
  r = RejectionResponse(rejection);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("Retry-After"), "10");
  body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["permanent"], false);
  EXPECT_EQ(body["retry_after_s"], 10);
  back = DecodeRefusal(r);
  EXPECT_FALSE(back.permanent);
  EXPECT_EQ(back.retry_after, std::chrono::seconds(10));
  EXPECT_TRUE(back.transient());

  // A 5xx is never permanent, whatever the route said, and keeps its Retry-After.
  rejection = Rejection(Unavailable("disk full at /var/lib"), true, std::chrono::seconds(5));
  r = RejectionResponse(rejection);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.Header("Retry-After"), "5");
  back = DecodeRefusal(r);
  EXPECT_FALSE(back.permanent);
  EXPECT_TRUE(back.transient());
  EXPECT_EQ(r.body.find("/var/lib"), std::string::npos);
}

// Only MedMesh's own body can say "permanent": a proxy's page, a body without the field or
// with the wrong types never does, whatever its status.
TEST(ErrorMappingTest, OnlyAMedMeshBodyCanBePermanent) {
  Response r;
  r.status = 404;
  r.body = "<html><body>404 Not Found (nginx)</body></html>";
  Refusal refusal = DecodeRefusal(r);
  EXPECT_FALSE(refusal.medmesh);
  EXPECT_FALSE(refusal.permanent);
  EXPECT_EQ(refusal.error.code(), ErrorCode::kNotFound);

  r.status = 400;
  for (const char* body : {
           R"({"error":"invalid_argument","message":"m"})",                // no "permanent"
           R"({"error":"invalid_argument","message":"m","permanent":1})",  // not a boolean
           R"({"error":"teapot","message":"m","permanent":true})",         // not a code
           R"({"error":"invalid_argument","permanent":true})",             // no message
           R"(["invalid_argument","m",true])",
       }) {
    r.body = body;
    refusal = DecodeRefusal(r);
    EXPECT_FALSE(refusal.permanent) << body;
  }
  r.body = R"({"error":"invalid_argument","message":"m","permanent":true})";
  EXPECT_TRUE(DecodeRefusal(r).permanent);
  r.status = 502;  // a gateway never relays a permanent refusal
  EXPECT_FALSE(DecodeRefusal(r).permanent);

  r.status = 408;  // a proxy's timeout: try again
  r.body.clear();
  EXPECT_TRUE(DecodeRefusal(r).transient());
  EXPECT_EQ(DecodeRefusal(r).error.code(), ErrorCode::kUnavailable);
}

TEST(ErrorMappingTest, RetryAfterIsBoundedAndOnlyDelaySeconds) {
  Response r;
  r.status = 503;
  r.headers.emplace_back("Retry-After", "999999999999");
  EXPECT_EQ(DecodeRefusal(r).retry_after, std::chrono::seconds(86'400));
  r.headers.back().second = "Wed, 21 Oct 2015 07:28:00 GMT";
  EXPECT_FALSE(DecodeRefusal(r).retry_after.has_value());
  r.headers.back().second = "-5";
  EXPECT_FALSE(DecodeRefusal(r).retry_after.has_value());
}

}  // namespace
}  // namespace medmesh::net
