#pragma once
// The demo upstream: an HTTP/1.1 keep-alive server on 127.0.0.1 (kernel-chosen port)
// answering per demo_routes.h. Delays are uv timers, never sleeps. Runs on the loop it is
// given; every method but served() must be called on that loop's thread (or before the
// loop runs).
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_set>

#include "proxy/demo/demo_rng.h"

namespace sidemeter::demo {

class BackendConnection;

class DemoBackend {
 public:
  DemoBackend(uv_loop_t* loop, uint64_t seed);
  ~DemoBackend();
  DemoBackend(const DemoBackend&) = delete;
  DemoBackend& operator=(const DemoBackend&) = delete;

  // Binds and listens on 127.0.0.1:0. Returns 0 or a libuv error (message in `error`).
  int listen(std::string& error);
  uint16_t port() const { return port_; }
  // Closes the listener and every connection; their handles finish closing on the loop.
  void close();

  // Responses written so far; also sent as X-Demo-Served so tests can see that traffic
  // reached the backend. Any thread.
  uint64_t served() const { return served_.load(std::memory_order_relaxed); }

 private:
  friend class BackendConnection;
  static void on_connection(uv_stream_t* server, int status);

  uv_loop_t* loop_;
  uv_tcp_t server_;
  bool server_open_ = false;
  uint16_t port_ = 0;
  DemoRng rng_;
  std::unordered_set<BackendConnection*> connections_;
  std::atomic<uint64_t> served_{0};
  // Reads are consumed synchronously in the read callback, so one buffer serves all.
  char read_buffer_[64 * 1024];
};

}  // namespace sidemeter::demo
