#include "proxy/worker/worker.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "proxy/access_log/recorder.h"
#include "proxy/http1/server_connection.h"
#include "proxy/log.h"
#include "proxy/memory_release.h"
#include "proxy/upstream/upstream_pool.h"

namespace sidemeter {

Worker::Worker(int index, ProcessState& process, int listen_fd, metrics::Recorder& recorder,
               metrics::WorkerGauges& gauges, ConfigSnapshotPtr snapshot,
               access_log::AccessLogRecorder* access_log, metrics::TlsCounters* tls_counters)
    : index_(index),
      process_(process),
      listen_fd_(listen_fd),
      recorder_(recorder),
      access_log_(access_log),
      active_recorder_(&recorder),
      gauges_(gauges),
      snapshot_(std::move(snapshot)),
      measuring_(snapshot_->config->measure),
      read_buffer_(std::make_unique<net::ReadBuffer>()),
      tls_counters_(tls_counters) {
  uv_loop_init(&loop_);
  pool_ = std::make_unique<UpstreamPool>(*this);
  configure_access_log();  // before the thread starts: no race with it
}

void Worker::configure_access_log() {
  const conf::AccessLog& cfg = snapshot_->config->access_log;
  if (access_log_ == nullptr || cfg.path.empty()) {
    active_recorder_ = &recorder_;
    return;
  }
  access_log_->configure(cfg);
  active_recorder_ = access_log_;
}

Worker::~Worker() {
  if (thread_.joinable()) thread_.join();
  // Never started (start-up failed elsewhere): nothing was opened on the loop but itself.
  if (!loop_closed_) uv_loop_close(&loop_);
}

bool Worker::start() {
  uv_tcp_init(&loop_, &listener_);
  listener_.data = this;
  listener_open_ = true;
  commands_.open(&loop_, [this](WorkerCommand& c) { on_command(c); });
  int rc = uv_tcp_open(&listener_, listen_fd_);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 4096, on_connection);
  if (rc != 0) {
    log::error("worker_listen_failed", {{"worker", index_}, {"error", uv_strerror(rc)}});
    // Nothing ran on this loop yet: close what was opened so the loop can be closed.
    close_listener();
    commands_.close();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    loop_closed_ = true;
    return false;
  }
  thread_ = std::thread([this] { run(); });
  return true;
}

void Worker::run() {
  // Named so that `top -H` and per-thread CPU in /proc tell the workers apart (the
  // benchmark reads how evenly SO_REUSEPORT spreads the load from these).
  std::string name = "sm-worker-" + std::to_string(index_);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  uv_run(&loop_, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop_);
  loop_closed_ = rc == 0;
  if (rc != 0) {
    log::error("worker_loop_not_closed", {{"worker", index_}, {"rc", rc}});
    uv_walk(&loop_, [](uv_handle_t* h, void*) {
      log::error("worker_handle_open", {{"type", uv_handle_type_name(uv_handle_get_type(h))},
                                        {"closing", uv_is_closing(h) != 0}});
    }, nullptr);
  }
  snapshot_.reset();  // the last reference may be here; free it on this thread
  if (on_exit_) on_exit_(index_, rc == 0);
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::on_command(WorkerCommand& command) {
  if (finished_) return;
  std::visit([this](auto& c) {
    using T = std::decay_t<decltype(c)>;
    if constexpr (std::is_same_v<T, worker_command::TrimHeap>) {
      trim_thread_heap_top();
      log::info("heap_trimmed", {{"worker", index_}});
    } else if constexpr (std::is_same_v<T, worker_command::ApplyConfig>) {
      apply(std::move(c.snapshot));
    } else if constexpr (std::is_same_v<T, worker_command::Drain>) {
      stop_connections(false);
    } else {
      stop_connections(true);
    }
  }, command);
}

void Worker::apply(ConfigSnapshotPtr snapshot) {
  if (snapshot->upstream != snapshot_->upstream || snapshot->upstream_tls != snapshot_->upstream_tls) {
    // The upstream moved, or how we speak TLS to it changed: idle connections retire
    // now; busy ones finish their exchange and are not pooled again (UpstreamPool::put).
    pool_->close_all();
  }
  snapshot_ = std::move(snapshot);
  configure_access_log();  // path, sampling and queue size apply from the next record
  // measuring_ stays: `measure` is restart-only (a switch mid-exchange would record
  // half-timed samples).
}

void Worker::stop_connections(bool force) {
  refresh_now();
  draining_ = true;
  close_listener();
  pool_->close_all();
  // Close idle connections now; busy ones close after their exchange (they see
  // draining() and answer with Connection: close).
  for (Http1ServerConnection* c = connections_; c != nullptr;) {
    Http1ServerConnection* next = c->next;
    if (force) {
      c->force_close();
    } else {
      c->drain();
    }
    c = next;
  }
  maybe_finish();
}

void Worker::close_listener() {
  if (!listener_open_) return;
  listener_open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
}

void Worker::maybe_finish() {
  if (!draining_ || finished_ || connections_ != nullptr) return;
  finished_ = true;
  pool_->close_all();
  commands_.close();
}

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<Worker*>(server->data);
  if (status != 0) return;
  auto& count = self->process_.downstream_connections;
  const int64_t before = count.fetch_add(1, std::memory_order_relaxed);
  const int64_t limit =
      std::min(int64_t(self->snapshot_->config->limits.max_connections),
               self->process_.connection_cap_by_fds.load(std::memory_order_relaxed));
  bool over = before >= limit;
  if (over) {
    count.fetch_sub(1, std::memory_order_relaxed);
  } else {
    // Raise the peak; a plain load first, so the common case writes nothing shared.
    auto& peak = self->process_.downstream_connections_peak;
    int64_t seen = peak.load(std::memory_order_relaxed);
    while (before + 1 > seen &&
           !peak.compare_exchange_weak(seen, before + 1, std::memory_order_relaxed)) {
    }
  }
  auto* c = new Http1ServerConnection(*self);
  c->accept_and_start(server, over);
}

void Worker::link(Http1ServerConnection* c) {
  c->prev = nullptr;
  c->next = connections_;
  if (connections_ != nullptr) connections_->prev = c;
  connections_ = c;
}

void Worker::unlink(Http1ServerConnection* c) {
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (connections_ == c) connections_ = c->next;
  c->next = c->prev = nullptr;
  maybe_finish();
}

}  // namespace sidemeter
