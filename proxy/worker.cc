#include "proxy/worker.h"

#include <pthread.h>
#include <unistd.h>

#include <string>

#include "proxy/downstream_connection.h"
#include "proxy/log.h"
#include "proxy/memory_release.h"
#include "proxy/upstream_pool.h"

namespace sidemeter {
namespace {
constexpr int kCommandDrain = 1;
constexpr int kCommandStop = 2;
}  // namespace

Worker::Worker(int index, SharedState& shared, int listen_fd, metrics::Recorder& recorder,
               metrics::WorkerGauges& gauges)
    : index_(index),
      shared_(shared),
      listen_fd_(listen_fd),
      recorder_(recorder),
      gauges_(gauges),
      read_buffer_(std::make_unique<net::ReadBuffer>()) {
  uv_loop_init(&loop_);
  pool_ = std::make_unique<UpstreamPool>(*this);
}

Worker::~Worker() {
  if (thread_.joinable()) thread_.join();
}

void Worker::start() {
  uv_tcp_init(&loop_, &listener_);
  listener_.data = this;
  uv_async_init(&loop_, &command_, [](uv_async_t* a) { static_cast<Worker*>(a->data)->on_command(); });
  command_.data = this;
  if (uv_tcp_open(&listener_, listen_fd_) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 4096, on_connection) != 0) {
    log::error("worker_listen_failed", {{"worker", index_}});
  }
  listener_open_ = true;
  thread_ = std::thread([this] { run(); });
}

void Worker::run() {
  // Named so that `top -H` and per-thread CPU in /proc tell the workers apart (the
  // benchmark reads how evenly SO_REUSEPORT spreads the load from these).
  std::string name = "sm-worker-" + std::to_string(index_);
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
  uv_run(&loop_, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop_);
  if (rc != 0) log::error("worker_loop_not_closed", {{"worker", index_}, {"rc", rc}});
  if (on_exit_) on_exit_();
}

void Worker::begin_drain() {
  pending_command_.store(kCommandDrain);
  uv_async_send(&command_);
}

void Worker::force_stop() {
  pending_command_.store(kCommandStop);
  uv_async_send(&command_);
}

void Worker::request_memory_trim() {
  trim_requested_.store(true);
  uv_async_send(&command_);
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::on_command() {
  if (trim_requested_.exchange(false)) {
    trim_thread_heap_top();
    log::info("heap_trimmed", {{"worker", index_}});
  }
  int cmd = pending_command_.load();
  if (cmd == 0 || finished_) return;
  refresh_now();
  draining_ = true;
  close_listener();
  pool_->close_all();
  // Close idle connections now; busy ones close after their exchange (they see
  // draining() and answer with Connection: close).
  for (DownstreamConnection* c = connections_; c != nullptr;) {
    DownstreamConnection* next = c->next;
    if (cmd == kCommandStop) {
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
  uv_close(reinterpret_cast<uv_handle_t*>(&command_), nullptr);
}

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<Worker*>(server->data);
  if (status != 0) return;
  auto& count = self->shared_.downstream_connections;
  const int64_t before = count.fetch_add(1, std::memory_order_relaxed);
  bool over = before >= int64_t(self->shared_.config->limits.max_connections);
  if (over) {
    count.fetch_sub(1, std::memory_order_relaxed);
  } else {
    // Raise the peak; a plain load first, so the common case writes nothing shared.
    auto& peak = self->shared_.downstream_connections_peak;
    int64_t seen = peak.load(std::memory_order_relaxed);
    while (before + 1 > seen &&
           !peak.compare_exchange_weak(seen, before + 1, std::memory_order_relaxed)) {
    }
  }
  auto* c = new DownstreamConnection(*self);
  c->accept_and_start(server, over);
}

void Worker::link(DownstreamConnection* c) {
  c->prev = nullptr;
  c->next = connections_;
  if (connections_ != nullptr) connections_->prev = c;
  connections_ = c;
}

void Worker::unlink(DownstreamConnection* c) {
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (connections_ == c) connections_ = c->next;
  c->next = c->prev = nullptr;
  maybe_finish();
}

}  // namespace sidemeter
