#pragma once
// What the demo backend answers, as plain data: status, delay, framing and body per
// route. No sockets here, so the behaviour contract is testable without a loop.
//
// Routes (HEAD is accepted wherever GET is):
//   GET  /api/users/{id}   id all digits: 200 JSON of 1000..1100 bytes after 5..20 ms
//   GET  /api/search       200 JSON of 2..20 KiB after 30..150 ms (log-normal, median 60)
//   POST /api/orders       201 JSON {"order_id","status","received_bytes"} after 40..60 ms
//   GET  /static/app.js    200, 64 KiB JavaScript, chunked, no delay
//   GET  /api/flaky        2..10 ms; 5 % 500, 1 % 503 (Retry-After: 1), else 200
//   GET  /api/slow         200 JSON after 400..900 ms
//   known path, other method: 405 with Allow; anything else: 404 JSON
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/demo/demo_rng.h"
#include "proxy/http1/message.h"

namespace sidemeter::demo {

inline constexpr size_t kStaticAppJsBytes = 64 * 1024;
inline constexpr size_t kSearchMinBytes = 2 * 1024;
inline constexpr size_t kSearchMaxBytes = 20 * 1024;
inline constexpr uint32_t kUserMinBytes = 1000;
inline constexpr uint32_t kUserMaxBytes = 1100;

struct DemoRequest {
  http::Method method = http::Method::kGet;
  std::string_view path;  // without query
  uint64_t body_bytes = 0;
};

struct DemoReply {
  uint16_t status = 200;
  uint32_t delay_ms = 0;
  bool chunked = false;
  std::string_view content_type = "application/json";
  std::string extra_headers;  // complete "Name: value\r\n" lines
  std::string body;
  // Large constant assets are shared instead of copied per request.
  const std::string* shared_body = nullptr;

  std::string_view body_view() const {
    return shared_body ? std::string_view(*shared_body) : std::string_view(body);
  }
};

DemoReply plan_reply(const DemoRequest& req, DemoRng& rng);

// The 64 KiB script served at /static/app.js (built once, immutable afterwards).
const std::string& static_app_js();

}  // namespace sidemeter::demo
