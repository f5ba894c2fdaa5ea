// The accounting policy of metrics/exchange_sample.h, case by case: what is an error and
// which OpenTelemetry error.type an exchange carries.
#include "metrics/exchange_sample.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "metrics/counters.h"

namespace sidemeter::metrics {
namespace {

ExchangeSample whole(uint16_t status) {
  ExchangeSample s;
  s.status = status;
  s.t.request_first_byte = 100;
  s.t.response_last_byte_written = s.t.exchange_ended = 200;
  return s;
}

ExchangeSample cut_short(uint16_t status) {
  ExchangeSample s = whole(status);
  s.t.response_last_byte_written = 0;
  return s;
}

std::string name(const ExchangeSample& s) {
  char buf[8];
  return std::string(error_type_name(error_type(s), s.status, buf));
}

TEST(ExchangePolicy, CompletedExchangesCarryNoErrorTypeUnless5xx) {
  for (uint16_t status : {101, 200, 204, 304, 400, 404, 408, 429}) {
    EXPECT_EQ(error_type(whole(status)), ErrorType::kNone) << status;
    EXPECT_FALSE(is_error(whole(status))) << status;
  }
  ExchangeSample unavailable = whole(503);
  EXPECT_TRUE(is_error(unavailable));
  EXPECT_EQ(error_type(unavailable), ErrorType::kStatusCode);
  EXPECT_EQ(name(unavailable), "503");  // as OpenTelemetry spells a bare 5xx
}

TEST(ExchangePolicy, UpstreamFailuresAreErrorsWhateverWentDownstream) {
  ExchangeSample bad_gateway = whole(502);  // ours, for a refused connect
  bad_gateway.upstream_error = UpstreamError::kConnectRefused;
  EXPECT_TRUE(is_error(bad_gateway));
  EXPECT_EQ(name(bad_gateway), "connect_refused");  // finer than "502"

  // The 200 status line went out, then the upstream closed mid-body: an error.
  ExchangeSample cut = cut_short(200);
  cut.upstream_error = UpstreamError::kClosedEarly;
  EXPECT_TRUE(is_error(cut));
  EXPECT_EQ(name(cut), "closed_early");
  cut.upstream_error = UpstreamError::kResetMidResponse;
  EXPECT_EQ(name(cut), "reset_mid_response");
  cut.upstream_error = UpstreamError::kResponseTimeout;
  EXPECT_EQ(name(cut), "response_timeout");

  ExchangeSample none_sent = cut_short(0);
  none_sent.upstream_error = UpstreamError::kResetBeforeResponse;
  EXPECT_TRUE(is_error(none_sent));
  EXPECT_EQ(name(none_sent), "reset_before_response");
}

TEST(ExchangePolicy, AClientThatLeavesIsNeverAnError) {
  ExchangeSample abort = cut_short(200);
  abort.downstream_error = DownstreamError::kClientAbortResponse;
  EXPECT_FALSE(is_error(abort));
  EXPECT_EQ(name(abort), "client_abort_response");
  ExchangeSample upload = cut_short(0);
  upload.downstream_error = DownstreamError::kClientAbortRequest;
  EXPECT_FALSE(is_error(upload));
  EXPECT_EQ(name(upload), "client_abort_request");
  // A 5xx the client then abandoned is still an error (the 5xx is), labelled by how it
  // ended.
  ExchangeSample abandoned = cut_short(503);
  abandoned.downstream_error = DownstreamError::kClientAbortResponse;
  EXPECT_TRUE(is_error(abandoned));
  EXPECT_EQ(name(abandoned), "client_abort_response");
}

TEST(ExchangePolicy, LocalAnswersToBadRequestsCompleteNormally) {
  ExchangeSample rejected = whole(400);
  rejected.downstream_error = DownstreamError::kRequestRejected;
  EXPECT_EQ(error_type(rejected), ErrorType::kNone);
  EXPECT_FALSE(is_error(rejected));
  // A rejected request never reached the upstream: no upstream failure, whatever the
  // sample says (as in every upstream figure).
  rejected.upstream_error = UpstreamError::kInvalidResponse;
  EXPECT_FALSE(is_error(rejected));
  EXPECT_EQ(error_type(rejected), ErrorType::kNone);
  ExchangeSample timeout = whole(408);
  timeout.downstream_error = DownstreamError::kHeaderTimeout;
  EXPECT_EQ(error_type(timeout), ErrorType::kNone);
  // Its 400 could not be written whole: cut short, labelled with its kind.
  ExchangeSample unsent = cut_short(400);
  unsent.downstream_error = DownstreamError::kRequestRejected;
  EXPECT_EQ(name(unsent), "request_rejected");
  // A 5xx of ours for a bad request (501: unknown transfer coding) is a 5xx.
  ExchangeSample not_implemented = whole(501);
  not_implemented.downstream_error = DownstreamError::kRequestRejected;
  EXPECT_EQ(name(not_implemented), "501");
}

TEST(ExchangePolicy, CutShortWithoutAKindIsOther) {
  EXPECT_EQ(name(cut_short(200)), "_OTHER");  // e.g. the proxy shut down mid-response
  EXPECT_EQ(name(cut_short(0)), "_OTHER");
  EXPECT_FALSE(is_error(cut_short(200)));
}

TEST(ExchangePolicy, EveryErrorTypeHasItsOwnBoundedName) {
  std::set<std::string> names;
  for (size_t i = 1; i < kErrorTypes; ++i) {
    char buf[8];
    const std::string n(error_type_name(ErrorType(i), 504, buf));
    EXPECT_FALSE(n.empty()) << i;
    EXPECT_TRUE(names.insert(n).second) << n;
  }
  EXPECT_EQ(names.size(), kErrorTypes - 1);
  char buf[8];
  EXPECT_EQ(error_type_name(ErrorType::kNone, 200, buf), "");
  EXPECT_EQ(error_type_of(UpstreamError::kTlsHandshakeFailed), ErrorType::kTlsHandshakeFailed);
  EXPECT_EQ(error_type_of(DownstreamError::kHeaderTimeout), ErrorType::kHeaderTimeout);
  EXPECT_EQ(error_type_of(DownstreamError::kNone), ErrorType::kNone);
}

TEST(ExchangePolicy, ErrorRatioIsNeverAboveOne) {
  EXPECT_EQ(error_ratio(0, 0), 0.0);
  EXPECT_EQ(error_ratio(3, 0), 0.0);
  EXPECT_DOUBLE_EQ(error_ratio(1, 4), 0.25);
  EXPECT_EQ(error_ratio(5, 4), 1.0);
}

}  // namespace
}  // namespace sidemeter::metrics
