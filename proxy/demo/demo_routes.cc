#include "proxy/demo/demo_routes.h"

#include <algorithm>

#include "proxy/text/json_writer.h"

namespace sidemeter::demo {
namespace {

using http::Method;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_get(Method m) { return m == Method::kGet || m == Method::kHead; }

DemoReply method_not_allowed(std::string_view allow) {
  DemoReply r;
  r.status = 405;
  r.extra_headers = "Allow: " + std::string(allow) + "\r\n";
  r.body = R"({"error":"method not allowed"})";
  return r;
}

DemoReply user(std::string_view id, DemoRng& rng) {
  DemoReply r;
  r.delay_ms = rng.between(5, 20);
  uint32_t target = rng.between(kUserMinBytes, kUserMaxBytes);
  std::string& b = r.body;
  b.reserve(target);
  b += R"({"id":)";
  b += id;
  b += R"(,"name":"Demo User )";
  b += id;
  b += R"(","email":"user)";
  b += id;
  b += R"(@example.com","roles":["reader","buyer"],"created_at":"2024-03-01T12:00:00Z",)";
  b += R"("bio":")";
  // Pads the profile to the drawn size so response-size histograms have a spread.
  static constexpr std::string_view kFiller = "Enjoys measuring latency percentiles. ";
  size_t tail = 2;  // closing `"}`
  while (b.size() + tail < target) {
    size_t n = std::min(kFiller.size(), target - tail - b.size());
    b.append(kFiller.substr(0, n));
  }
  b += "\"}";
  return r;
}

DemoReply search(DemoRng& rng) {
  DemoReply r;
  double ms = rng.lognormal(60.0, 0.5);
  r.delay_ms = uint32_t(std::clamp(ms, 30.0, 150.0));
  // Items are < 256 bytes, so stopping at the first size >= target keeps the body
  // within [kSearchMinBytes, kSearchMaxBytes].
  size_t target = rng.between(kSearchMinBytes, kSearchMaxBytes - 256);
  std::string& b = r.body;
  b.reserve(target + 256);
  b += R"({"results":[)";
  for (int i = 0; b.size() + 2 < target; ++i) {
    if (i) b += ',';
    uint64_t id = rng.next() % 100000;
    b += R"({"id":)" + std::to_string(id) + R"(,"title":"Result )" + std::to_string(id) +
         R"(","score":0.)" + std::to_string(rng.between(100, 999)) +
         R"(,"snippet":"A sidecar measures every exchange: phases, sizes and errors."})";
  }
  b += "]}";
  return r;
}

DemoReply order(uint64_t body_bytes, DemoRng& rng) {
  DemoReply r;
  r.status = 201;
  r.delay_ms = rng.between(40, 60);
  uint64_t id = 100000 + rng.next() % 900000;
  r.extra_headers = "Location: /api/orders/" + std::to_string(id) + "\r\n";
  r.body = R"({"order_id":)" + std::to_string(id) + R"(,"status":"accepted","received_bytes":)" +
           std::to_string(body_bytes) + "}";
  return r;
}

DemoReply flaky(DemoRng& rng) {
  DemoReply r;
  r.delay_ms = rng.between(2, 10);
  double u = rng.uniform();
  if (u < 0.05) {
    r.status = 500;
    r.body = R"({"error":"internal error, demo: 5 % of requests"})";
  } else if (u < 0.06) {
    r.status = 503;
    r.extra_headers = "Retry-After: 1\r\n";
    r.body = R"({"error":"unavailable, demo: 1 % of requests"})";
  } else {
    r.body = R"({"ok":true})";
  }
  return r;
}

DemoReply slow(DemoRng& rng) {
  DemoReply r;
  r.delay_ms = rng.between(400, 900);
  r.body = R"({"report":"ready","took_ms":)" + std::to_string(r.delay_ms) + "}";
  return r;
}

DemoReply not_found(std::string_view path) {
  DemoReply r;
  r.status = 404;
  r.body = R"({"error":"not found","path":)";
  text::append_json_string(r.body, path);
  r.body += "}";
  return r;
}

}  // namespace

const std::string& static_app_js() {
  static const std::string js = [] {
    std::string s;
    s.reserve(kStaticAppJsBytes);
    s += "// sidemeter demo bundle\n";
    for (int i = 0; s.size() < kStaticAppJsBytes; ++i)
      s += "function demo" + std::to_string(i) + "(x) { return x * " + std::to_string(i) +
           " + 1; }\n";
    s.resize(kStaticAppJsBytes - 1);
    s += '\n';
    return s;
  }();
  return js;
}

DemoReply plan_reply(const DemoRequest& req, DemoRng& rng) {
  std::string_view p = req.path;
  static constexpr std::string_view kUsers = "/api/users/";
  if (p.starts_with(kUsers) && all_digits(p.substr(kUsers.size()))) {
    if (!is_get(req.method)) return method_not_allowed("GET, HEAD");
    return user(p.substr(kUsers.size()), rng);
  }
  if (p == "/api/search") {
    if (!is_get(req.method)) return method_not_allowed("GET, HEAD");
    return search(rng);
  }
  if (p == "/api/orders") {
    if (req.method != Method::kPost) return method_not_allowed("POST");
    return order(req.body_bytes, rng);
  }
  if (p == "/static/app.js") {
    if (!is_get(req.method)) return method_not_allowed("GET, HEAD");
    DemoReply r;
    r.chunked = true;
    r.content_type = "application/javascript";
    r.shared_body = &static_app_js();
    return r;
  }
  if (p == "/api/flaky") {
    if (!is_get(req.method)) return method_not_allowed("GET, HEAD");
    return flaky(rng);
  }
  if (p == "/api/slow") {
    if (!is_get(req.method)) return method_not_allowed("GET, HEAD");
    return slow(rng);
  }
  return not_found(p);
}

}  // namespace sidemeter::demo
