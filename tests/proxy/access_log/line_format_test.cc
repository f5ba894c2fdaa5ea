// One access-log line: valid JSON with the exchange's fields, phases not reached left
// out; and the sampler's rules (rate, errors, slow).
#include <gtest/gtest.h>

#include "proxy/text/rfc3339.h"

#include <cmath>
#include <string>

#include "metrics/derive.h"
#include "metrics/route_template.h"
#include "proxy/access_log/recorder.h"
#include "tests/support/json_value.h"

namespace sidemeter::access_log {
namespace {

using testing::JsonValue;
using testing::parse_json;

constexpr uint64_t kMs = 1'000'000;

metrics::ExchangeSample full_sample() {
  metrics::ExchangeSample s;
  s.t.request_first_byte = 1000 * kMs;
  s.t.request_headers_done = 1000 * kMs + 100'000;
  s.t.request_body_done = 1001 * kMs;
  s.t.upstream_connect_start = 1001 * kMs;
  s.t.upstream_connect_done = 1003 * kMs;
  s.t.upstream_request_sent = 1003 * kMs + 50'000;
  s.t.upstream_first_byte = 1010 * kMs;
  s.t.upstream_response_done = 1012 * kMs;
  s.t.response_last_byte_written = 1012 * kMs + 345'678;
  s.request_head_bytes = 120;
  s.request_body_bytes = 5;
  s.response_head_bytes = 80;
  s.response_body_bytes = 1234;
  s.method = metrics::Method::kPost;
  s.path = "/api/users/42";
  s.query = "q=\"x\"&b=1";
  s.status = 201;
  s.upstream_attempts = 1;
  s.client_ip = "127.0.0.1";
  s.client_port = 40000;
  s.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  s.x_request_id = "req-7";
  return s;
}

JsonValue format(const metrics::ExchangeSample& s, bool include_query = false,
                 std::string* text = nullptr) {
  LineContext ctx;
  ctx.worker = 3;
  ctx.unix_ms = 1714566896789;  // 2024-05-01T12:34:56.789Z
  ctx.route = "/api/users/{id}";
  ctx.include_query = include_query;
  std::string out;
  format_line(s, metrics::derive(s.t, s.upstream_reused), ctx, out);
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);
  if (text) *text = out;
  std::string error;
  auto doc = parse_json(out, &error);
  EXPECT_TRUE(doc.has_value()) << error << "\n" << out;
  return doc.value_or(JsonValue{});
}

std::string str(const JsonValue& doc, std::string_view key) {
  const JsonValue* v = doc.get(key);
  return v != nullptr && v->type == JsonValue::Type::kString ? v->string : "<absent>";
}
double num(const JsonValue& doc, std::string_view key) {
  const JsonValue* v = doc.get(key);
  return v != nullptr && v->is_number() ? v->number : -1;
}

TEST(FormatLine, EveryField) {
  const JsonValue doc = format(full_sample());
  EXPECT_EQ(str(doc, "time"), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(num(doc, "worker"), 3);
  EXPECT_EQ(str(doc, "client"), "127.0.0.1:40000");
  EXPECT_EQ(str(doc, "method"), "POST");
  EXPECT_EQ(str(doc, "route"), "/api/users/{id}");
  EXPECT_EQ(str(doc, "path"), "/api/users/42");  // query dropped by default
  EXPECT_EQ(num(doc, "status"), 201);
  ASSERT_NE(doc.get("error"), nullptr);
  EXPECT_FALSE(doc.get("error")->boolean);
  EXPECT_EQ(doc.get("upstream_error"), nullptr);
  EXPECT_EQ(doc.get("downstream_error"), nullptr);
  EXPECT_DOUBLE_EQ(num(doc, "request_ms"), 1.0);
  EXPECT_DOUBLE_EQ(num(doc, "upstream_connect_ms"), 2.0);
  EXPECT_EQ(doc.get("upstream_tls_handshake_ms"), nullptr);  // a plain connection
  EXPECT_DOUBLE_EQ(num(doc, "upstream_ttfb_ms"), 6.95);
  EXPECT_DOUBLE_EQ(num(doc, "upstream_total_ms"), 11.0);
  EXPECT_DOUBLE_EQ(num(doc, "latency_ms"), 12.345);
  EXPECT_GE(num(doc, "proxy_overhead_ms"), 0);
  EXPECT_EQ(num(doc, "request_head_bytes"), 120);
  EXPECT_EQ(num(doc, "request_body_bytes"), 5);
  EXPECT_EQ(num(doc, "response_head_bytes"), 80);
  EXPECT_EQ(num(doc, "response_body_bytes"), 1234);
  EXPECT_EQ(num(doc, "upstream_attempts"), 1);
  EXPECT_EQ(str(doc, "upstream_connection"), "new");
  EXPECT_FALSE(doc.get("retried")->boolean);
  EXPECT_EQ(str(doc, "traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(str(doc, "x_request_id"), "req-7");
}

TEST(FormatLine, QueryOnlyWhenAskedAndEscaped) {
  EXPECT_EQ(str(format(full_sample(), true), "path"), "/api/users/42?q=\"x\"&b=1");
}

TEST(FormatLine, PhasesNotReachedAreLeftOut) {
  // A request rejected while its head was read: no upstream, nothing forwarded.
  metrics::ExchangeSample s;
  s.t.request_first_byte = 5 * kMs;
  s.t.response_last_byte_written = 6 * kMs;
  s.status = 400;
  s.local_response = true;
  s.downstream_error = metrics::DownstreamError::kRequestRejected;
  s.reject_reason = "obs_fold";
  s.client_ip = "::1";
  s.client_port = 8;
  const JsonValue doc = format(s);
  EXPECT_EQ(str(doc, "client"), "[::1]:8");
  EXPECT_EQ(str(doc, "downstream_error"), "request_rejected");
  EXPECT_EQ(str(doc, "reject_reason"), "obs_fold");
  EXPECT_TRUE(doc.get("local_response")->boolean);
  EXPECT_EQ(doc.get("path"), nullptr);
  for (const char* k : {"request_ms", "upstream_connect_ms", "upstream_ttfb_ms",
                        "upstream_total_ms", "upstream_connection", "traceparent",
                        "x_request_id"})
    EXPECT_EQ(doc.get(k), nullptr) << k;
  EXPECT_DOUBLE_EQ(num(doc, "latency_ms"), 1.0);
  EXPECT_EQ(num(doc, "upstream_attempts"), 0);
}

TEST(FormatLine, UnlistedMethodIsOpenTelemetrysOther) {
  metrics::ExchangeSample s = full_sample();
  s.method = metrics::Method::kOther;  // QUERY, PROPFIND, lower-case "get", ...
  EXPECT_EQ(str(format(s), "method"), "_OTHER");
}

TEST(FormatLine, UpstreamTlsHandshake) {
  metrics::ExchangeSample s = full_sample();
  s.t.upstream_tls_done = s.t.upstream_connect_done + 30'000;  // before request_sent
  ASSERT_LT(s.t.upstream_tls_done, s.t.upstream_request_sent);
  const JsonValue doc = format(s);
  EXPECT_DOUBLE_EQ(num(doc, "upstream_tls_handshake_ms"), 0.03);
  EXPECT_DOUBLE_EQ(num(doc, "upstream_connect_ms"), 2.0);  // still the TCP connect
}

TEST(FormatLine, UpstreamFailureAndRetry) {
  metrics::ExchangeSample s = full_sample();
  s.status = 502;
  s.local_response = true;
  s.upstream_error = metrics::UpstreamError::kResetBeforeResponse;
  s.upstream_attempts = 2;
  s.upstream_reused = true;
  const JsonValue doc = format(s);
  EXPECT_TRUE(doc.get("error")->boolean);
  EXPECT_EQ(str(doc, "upstream_error"), "reset_before_response");
  EXPECT_EQ(str(doc, "upstream_connection"), "reused");
  EXPECT_TRUE(doc.get("retried")->boolean);
  EXPECT_EQ(doc.get("upstream_connect_ms"), nullptr);  // reused: no connect
}

TEST(FormatLine, HostileBytesStayValidJsonAndBounded) {
  metrics::ExchangeSample s = full_sample();
  std::string path = "/\x01\xff\"\\";
  path += std::string(5000, 'a');
  s.path = path;
  std::string trace(1000, 't');
  s.traceparent = trace;
  std::string text;
  const JsonValue doc = format(s, false, &text);
  EXPECT_EQ(str(doc, "path").size(), std::string("/\x01\xef\xbf\xbd\"\\").size() +
                                         kMaxLoggedPath - 5 + 3);
  EXPECT_EQ(str(doc, "traceparent").size(), metrics::kMaxCapturedValue);
  EXPECT_LT(text.size(), 4096u);
}

TEST(Rfc3339, Epoch) {
  std::string out;
  text::append_rfc3339_ms(out, 7);
  EXPECT_EQ(out, "1970-01-01T00:00:00.007Z");
}

TEST(Sampler, RateWithinBinomialBounds) {
  Sampler s(42);
  s.configure(0.2, false, 0);
  metrics::ExchangeSample ok = full_sample();
  const metrics::Derived d = metrics::derive(ok.t, false);
  const int n = 100'000;
  int picked = 0;
  for (int i = 0; i < n; ++i) picked += s.pick(ok, d) ? 1 : 0;
  const double sigma = std::sqrt(n * 0.2 * 0.8);
  EXPECT_NEAR(picked, n * 0.2, 5 * sigma);
}

TEST(Sampler, ErrorsAndSlowAlwaysPicked) {
  Sampler s(7);
  s.configure(0.0, true, 10);
  metrics::ExchangeSample ok = full_sample();  // 12.3 ms
  metrics::ExchangeSample fast = ok;
  fast.t.response_last_byte_written = fast.t.upstream_response_done = 1005 * kMs;
  fast.t.upstream_first_byte = 1004 * kMs;
  metrics::ExchangeSample failed = fast;
  failed.status = 503;
  metrics::ExchangeSample client4xx = fast;
  client4xx.status = 404;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(s.pick(ok, metrics::derive(ok.t, false)));
    EXPECT_TRUE(s.pick(failed, metrics::derive(failed.t, false)));
    EXPECT_FALSE(s.pick(fast, metrics::derive(fast.t, false)));
    EXPECT_FALSE(s.pick(client4xx, metrics::derive(client4xx.t, false)));
  }
  s.configure(0.0, false, 0);
  EXPECT_FALSE(s.pick(failed, metrics::derive(failed.t, false)));
  EXPECT_FALSE(s.pick(ok, metrics::derive(ok.t, false)));
  s.configure(1.0, false, 0);
  EXPECT_TRUE(s.pick(fast, metrics::derive(fast.t, false)));
}

// The fan-out: every sample reaches metrics, the picked ones become lines with the route
// template the table gives their path.
struct CountingRecorder : metrics::Recorder {
  int n = 0;
  void record(const metrics::ExchangeSample&) override { ++n; }
};

TEST(AccessLogRecorder, FansOutAndTemplatesRoutes) {
  metrics::RouteTable routes;
  CountingRecorder shard;
  LineBuffer buffer(1 << 20, nullptr);
  AccessLogRecorder r(1, shard, buffer, routes);
  conf::AccessLog cfg;
  cfg.path = "x";
  cfg.sample_rate = 0;
  cfg.always_log_errors = true;
  r.configure(cfg);
  metrics::ExchangeSample ok = full_sample();
  metrics::ExchangeSample failed = full_sample();
  failed.path = "/api/users/77";
  failed.status = 500;
  // The log names the route the metrics counted the exchange under; a Shard would have
  // admitted this template at an earlier 200 (a 500 alone proves nothing).
  ASSERT_NE(routes.intern("/api/users/{id}"), routes.other_id());
  r.record(ok);
  r.record(failed);
  EXPECT_EQ(shard.n, 2);
  std::string lines;
  ASSERT_TRUE(buffer.take(lines));
  ASSERT_EQ(std::count(lines.begin(), lines.end(), '\n'), 1);
  auto doc = parse_json(lines);
  ASSERT_TRUE(doc);
  EXPECT_EQ(str(*doc, "route"), "/api/users/{id}");
  EXPECT_EQ(str(*doc, "path"), "/api/users/77");
  EXPECT_EQ(num(*doc, "worker"), 1);
}

}  // namespace
}  // namespace sidemeter::access_log
