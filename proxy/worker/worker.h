#pragma once
// One event loop per thread, each with its own SO_REUSEPORT listener, read buffer,
// upstream pool and metrics shard: nothing on the request path is shared between
// workers. The control loop talks to a worker only through its typed command queue.
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <variant>

#include "conf/config.h"
#include "metrics/recorder.h"
#include "metrics/worker_gauges.h"
#include "proxy/config_snapshot.h"
#include "proxy/http1/head_buffers.h"
#include "metrics/tls_stats.h"
#include "proxy/net/tcp_transport.h"
#include "proxy/net/tls_transport.h"
#include "proxy/net/transport_factory.h"
#include "proxy/process_state.h"
#include "proxy/worker/command_queue.h"

namespace sidemeter {

namespace access_log {
class AccessLogRecorder;
}
class Http1ServerConnection;
class UpstreamPool;

namespace worker_command {
// Stop accepting, close idle connections, finish in-flight ones; the thread ends when
// the last connection is gone.
struct Drain {};
// Close everything now (drain timeout passed, or a second signal).
struct ForceStop {};
// Give the free top of this worker's heap back to the kernel (after a connection spike).
struct TrimHeap {};
// Adopt a new configuration: new exchanges use it, exchanges in flight keep theirs.
struct ApplyConfig {
  ConfigSnapshotPtr snapshot;
};
}  // namespace worker_command
using WorkerCommand = std::variant<worker_command::Drain, worker_command::ForceStop,
                                   worker_command::TrimHeap, worker_command::ApplyConfig>;

class Worker {
 public:
  // access_log: the access log's recorder for this worker (it passes every sample on to
  // `recorder` too), used while the configuration has access_log.path set; may be null.
  Worker(int index, ProcessState& process, int listen_fd, metrics::Recorder& recorder,
         metrics::WorkerGauges& gauges, ConfigSnapshotPtr snapshot,
         access_log::AccessLogRecorder* access_log = nullptr,
         metrics::TlsCounters* tls_counters = nullptr);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // on_exit runs on the worker thread after its loop closed (to tell the control loop).
  void set_on_exit(std::function<void(int index, bool loop_closed)> f) { on_exit_ = std::move(f); }
  // Returns false (and logs) if the listener cannot be started; the thread then does
  // not run.
  bool start();
  // Thread-safe. False if the worker has already finished (the command is not needed).
  bool send(WorkerCommand command) { return commands_.push(std::move(command)); }
  void join();

  // For connections on this worker's thread.
  uv_loop_t* loop() { return &loop_; }
  net::ReadBuffer* read_buffer() { return read_buffer_.get(); }
  // Request heads' buffers, held by a connection only from a request's first byte to
  // the end of its exchange (an idle keep-alive connection holds none).
  http::HeadBufferPool* head_buffers() { return &head_buffers_; }
  // Scratch for this loop's TLS transports (256 KiB), made on first use: a worker that
  // never sees TLS never pays for it.
  net::TlsBuffers* tls_buffers() {
    if (!tls_buffers_) tls_buffers_ = std::make_unique<net::TlsBuffers>();
    return tls_buffers_.get();
  }
  // Where this worker's TLS handshakes are counted (null in tests that do not care).
  metrics::TlsCounters* tls_counters() { return tls_counters_; }
  // What the transport factory needs from this worker to make a TLS transport.
  net::TlsEnvironment tls_environment() {
    return {[](void* w) { return static_cast<Worker*>(w)->tls_buffers(); }, this, tls_counters_};
  }
  UpstreamPool& pool() { return *pool_; }
  // The shard, or the access log's fan-out (shard + log line) while the log is on.
  metrics::Recorder& recorder() { return *active_recorder_; }
  // Connections fill the sample's access-log-only fields (query, trace headers) only then.
  bool access_log_on() const { return active_recorder_ != &recorder_; }
  metrics::WorkerGauges& gauges() { return gauges_; }
  // The newest configuration this worker has adopted.
  const ConfigSnapshotPtr& snapshot() const { return snapshot_; }
  ProcessState& process() { return process_; }
  bool measuring() const { return measuring_; }
  // One clock read per callback: everything that happens while handling one batch of
  // bytes happened at the same instant. Every connection callback starts with
  // refresh_now(); the connection reads it again only after its own work (request sent,
  // last byte written) so that proxy_overhead sees that work. ~4 reads per exchange.
  void refresh_now() {
    if (measuring_) now_ns_ = process_.clock->now_ns();
  }
  uint64_t now_ns() const { return now_ns_; }
  bool draining() const { return draining_; }
  int index() const { return index_; }

  void link(Http1ServerConnection* c);
  void unlink(Http1ServerConnection* c);

 private:
  void run();
  void on_command(WorkerCommand& command);
  void stop_connections(bool force);
  void apply(ConfigSnapshotPtr snapshot);
  void configure_access_log();
  void close_listener();
  void maybe_finish();
  static void on_connection(uv_stream_t* server, int status);

  int index_;
  ProcessState& process_;
  int listen_fd_;
  metrics::Recorder& recorder_;
  access_log::AccessLogRecorder* access_log_;
  metrics::Recorder* active_recorder_;
  metrics::WorkerGauges& gauges_;
  ConfigSnapshotPtr snapshot_;
  bool measuring_ = true;
  uv_loop_t loop_;
  uv_tcp_t listener_;
  CommandQueue<WorkerCommand> commands_;
  std::unique_ptr<net::ReadBuffer> read_buffer_;
  http::HeadBufferPool head_buffers_;
  std::unique_ptr<net::TlsBuffers> tls_buffers_;
  metrics::TlsCounters* tls_counters_;
  std::unique_ptr<UpstreamPool> pool_;
  std::thread thread_;
  std::function<void(int, bool)> on_exit_;
  uint64_t now_ns_ = 0;
  bool draining_ = false;
  bool listener_open_ = false;
  bool finished_ = false;
  bool loop_closed_ = false;
  Http1ServerConnection* connections_ = nullptr;  // intrusive list head
};

}  // namespace sidemeter
