#pragma once
// One event loop per thread, each with its own SO_REUSEPORT listener, read buffer,
// upstream pool and metrics shard: nothing on the request path is shared between
// workers.
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "conf/config.h"
#include "metrics/clock.h"
#include "metrics/recorder.h"
#include "metrics/worker_gauges.h"
#include "proxy/net/tcp_transport.h"
#include "proxy/upstream_target.h"

namespace sidemeter {

class DownstreamConnection;
class UpstreamPool;

// Read-only (or atomic) state shared by every worker.
struct SharedState {
  const conf::Config* config = nullptr;
  UpstreamTarget* upstream = nullptr;
  const metrics::Clock* clock = nullptr;
  std::atomic<int64_t> downstream_connections{0};  // process-wide, for max_connections
  // The highest downstream_connections since the control loop last took it: a spike
  // shorter than its tick would otherwise go unseen (and its memory never returned).
  std::atomic<int64_t> downstream_connections_peak{0};
  std::string upstream_authority;  // "host:port", the Host for HTTP/1.0 requests without one
  std::atomic<bool> draining{false};
  std::atomic<bool> upstream_reachable{true};  // last TCP probe succeeded
};

class Worker {
 public:
  Worker(int index, SharedState& shared, int listen_fd, metrics::Recorder& recorder,
         metrics::WorkerGauges& gauges);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // on_exit runs on the worker thread after its loop closed (to wake the control loop).
  void set_on_exit(std::function<void()> f) { on_exit_ = std::move(f); }
  void start();
  // Thread-safe: stop accepting, close idle connections, finish in-flight ones; the
  // thread ends when the last connection is gone.
  void begin_drain();
  // Thread-safe: close everything now (drain timeout passed).
  void force_stop();
  // Thread-safe: give the free top of this worker's heap back to the kernel (after a
  // connection spike). Only while the worker runs: the control loop stops asking once
  // draining begins.
  void request_memory_trim();
  void join();

  // For connections on this worker's thread.
  uv_loop_t* loop() { return &loop_; }
  net::ReadBuffer* read_buffer() { return read_buffer_.get(); }
  UpstreamPool& pool() { return *pool_; }
  metrics::Recorder& recorder() { return recorder_; }
  metrics::WorkerGauges& gauges() { return gauges_; }
  const conf::Config& config() const { return *shared_.config; }
  SharedState& shared() { return shared_; }
  bool measuring() const { return shared_.config->measure; }
  // One clock read per callback: everything that happens while handling one batch of
  // bytes happened at the same instant. Every connection callback starts with
  // refresh_now(); the connection reads it again only after its own work (request sent,
  // last byte written) so that proxy_overhead sees that work. ~4 reads per exchange.
  void refresh_now() {
    if (measuring()) now_ns_ = shared_.clock->now_ns();
  }
  uint64_t now_ns() const { return now_ns_; }
  bool draining() const { return draining_; }
  int index() const { return index_; }

  void link(DownstreamConnection* c);
  void unlink(DownstreamConnection* c);

 private:
  void run();
  void on_command();
  void close_listener();
  void maybe_finish();
  static void on_connection(uv_stream_t* server, int status);

  int index_;
  SharedState& shared_;
  int listen_fd_;
  metrics::Recorder& recorder_;
  metrics::WorkerGauges& gauges_;
  uv_loop_t loop_;
  uv_tcp_t listener_;
  uv_async_t command_;
  std::unique_ptr<net::ReadBuffer> read_buffer_;
  std::unique_ptr<UpstreamPool> pool_;
  std::thread thread_;
  std::function<void()> on_exit_;
  std::atomic<int> pending_command_{0};  // 1 = drain, 2 = force stop
  std::atomic<bool> trim_requested_{false};
  uint64_t now_ns_ = 0;
  bool draining_ = false;
  bool listener_open_ = false;
  bool finished_ = false;
  DownstreamConnection* connections_ = nullptr;  // intrusive list head
};

}  // namespace sidemeter
