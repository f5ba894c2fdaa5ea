#pragma once
// Shared fixture: one scripted upstream + one sidemeter process per test.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/support/http_message.h"
#include "tests/support/raw_client.h"
#include "tests/support/sidemeter_process.h"
#include "tests/support/test_upstream.h"

namespace sidemeter::testing {

// Generous: these only bound a failing test, they never pace a passing one.
inline Deadline soon() { return deadline_in(std::chrono::seconds(10)); }

class ProxyTest : public ::testing::Test {
 protected:
  // Starts the upstream with `handler`, then the proxy pointing at it.
  // Returns once the proxy is ready: its readiness probe reached the upstream. That one
  // connection is not the test's: the upstream neither counts nor handles it.
  void start(UpstreamHandler handler, std::string extra_yaml = "", int workers = 1) {
    upstream_ = std::make_unique<TestUpstream>(std::move(handler), /*probe_connections=*/1);
    start_proxy(upstream_->address(), std::move(extra_yaml), workers);
    ASSERT_TRUE(upstream_->wait_probes(soon())) << proxy_->log_text();
    ASSERT_TRUE(proxy_->wait_for_log("\"upstream_reachable\"", soon())) << proxy_->log_text();
  }

  void start_proxy(const std::string& upstream_addr, std::string extra_yaml = "", int workers = 1,
                   std::vector<std::string> args = {}) {
    proxy_ = std::make_unique<SidemeterProcess>(std::move(args),
                                                make_config(upstream_addr, extra_yaml, workers));
    ASSERT_TRUE(proxy_->started()) << proxy_->error();
    ASSERT_TRUE(proxy_->wait_listening()) << "no listening line\n" << proxy_->log_text();
  }

  uint16_t port() const { return proxy_->listen_port(); }

  // One request on a fresh connection.
  HttpMessage fetch(const std::string& raw_request, bool head = false) {
    RawClient c(port());
    EXPECT_TRUE(c.connected());
    HttpMessage resp;
    ReadResult r = c.exchange(raw_request, resp, head);
    EXPECT_TRUE(r.ok()) << to_string(r.status) << " " << r.error;
    return resp;
  }

  void TearDown() override {
    if (HasFailure() && proxy_) std::cerr << proxy_->log_text();
    proxy_.reset();  // kill the proxy first so upstream handlers see EOF
    upstream_.reset();
  }

  std::unique_ptr<TestUpstream> upstream_;
  std::unique_ptr<SidemeterProcess> proxy_;
};

}  // namespace sidemeter::testing
