#pragma once
// Traffic that creates label combinations of http_server_request_duration_seconds on
// purpose: an upstream answering with the status each request asks for (X-Want-Status),
// and keep-alive clients walking (route, method, status) combinations. Shared by the
// series budget and the counter monotonicity suites.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_message.h"
#include "tests/support/raw_client.h"
#include "tests/support/test_upstream.h"

namespace sidemeter::testing {

inline constexpr const char* kWantStatus = "x-want-status";

// Answers every request with the status in its X-Want-Status header (200 without one)
// and a small body; keeps the connection.
inline UpstreamHandler status_upstream() {
  return [](UpstreamConn& c) {
    HttpMessage req;
    while (c.read_request(req)) {
      int status = 200;
      for (const Header& h : req.headers) {
        if (iequals(h.name, kWantStatus)) status = std::stoi(h.value);
      }
      if (!c.write(make_response(status, "Status", "ok\n", {{"Content-Type", "text/plain"}}))) {
        return;
      }
    }
  };
}

struct Combination {
  std::string path;    // e.g. /svc7/items/123
  std::string method;  // GET, POST, PUT, DELETE
  int status = 200;
};

// Sends every combination once, spread over `clients` keep-alive connections in parallel
// threads; returns how many got the status they asked for.
inline uint64_t send_combinations(uint16_t port, const std::vector<Combination>& all,
                                  int clients) {
  std::atomic<uint64_t> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      RawClient c(port);
      if (!c.connected()) return;
      for (size_t i = size_t(t); i < all.size(); i += size_t(clients)) {
        const Combination& k = all[i];
        std::string req = k.method + " " + k.path + " HTTP/1.1\r\nHost: test\r\n" +
                          std::string(kWantStatus) + ": " + std::to_string(k.status) + "\r\n";
        if (k.method == "POST" || k.method == "PUT") req += "Content-Length: 2\r\n\r\n{}";
        else req += "\r\n";
        HttpMessage resp;
        if (!c.exchange(req, resp, false).ok()) return;
        if (resp.status == k.status) ok.fetch_add(1);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  return ok.load();
}

// `routes` templates /svcN/items/{id} (N = 0..routes-1) x the four methods x `statuses`.
inline std::vector<Combination> combinations(int routes, const std::vector<int>& statuses) {
  std::vector<Combination> out;
  for (int r = 0; r < routes; ++r) {
    for (const char* m : {"GET", "POST", "PUT", "DELETE"}) {
      for (int s : statuses) {
        out.push_back({std::string("/svc") + std::to_string(r) + "/items/" + std::to_string(1000 + r),
                       m, s});
      }
    }
  }
  return out;
}

// routes.patterns for those templates (config patterns always get their own series).
inline std::string route_patterns_yaml(int routes, int max) {
  std::string y = std::string("routes:\n  max: ") + std::to_string(max) + "\n  patterns:\n";
  for (int r = 0; r < routes; ++r) {
    y += "    - \"/svc";
    y += std::to_string(r);
    y += "/items/{id}\"\n";
  }
  return y;
}

}  // namespace sidemeter::testing
