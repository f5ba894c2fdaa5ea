#include "proxy/upstream_probe.h"

#include "proxy/log.h"
#include "proxy/worker.h"

namespace sidemeter {

// One connect attempt: its socket and deadline timer are freed together once both
// handles have closed.
struct UpstreamProbe::Attempt {
  UpstreamProbe* owner;
  uv_tcp_t tcp;
  uv_timer_t deadline;
  uv_connect_t req;
  int open_handles = 2;
  bool done = false;
};

UpstreamProbe::UpstreamProbe(uv_loop_t* loop, SharedState& shared, uint64_t interval_ms,
                             uint64_t timeout_ms)
    : loop_(loop), shared_(shared), interval_ms_(interval_ms), timeout_ms_(timeout_ms) {}

void UpstreamProbe::start() {
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<UpstreamProbe*>(t->data)->probe(); }, 0,
                 interval_ms_);
}

void UpstreamProbe::close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  if (in_flight_ != nullptr) finish(in_flight_, shared_.upstream_reachable.load());
}

void UpstreamProbe::probe() {
  if (in_flight_ != nullptr || closed_ || shared_.upstream_reachable.load()) return;
  net::SocketAddress addr;
  if (!shared_.upstream->current(addr)) {
    shared_.upstream_reachable.store(false);
    return;
  }
  auto* a = new Attempt{};
  a->owner = this;
  uv_tcp_init(loop_, &a->tcp);
  uv_timer_init(loop_, &a->deadline);
  a->tcp.data = a->deadline.data = a->req.data = a;
  in_flight_ = a;
  if (uv_tcp_connect(&a->req, &a->tcp, addr.get(), [](uv_connect_t* req, int status) {
        auto* at = static_cast<Attempt*>(req->data);
        if (!at->done) at->owner->finish(at, status == 0);
      }) != 0) {
    finish(a, false);
    return;
  }
  uv_timer_start(&a->deadline, [](uv_timer_t* t) {
    auto* at = static_cast<Attempt*>(t->data);
    if (!at->done) at->owner->finish(at, false);
  }, timeout_ms_, 0);
}

void UpstreamProbe::finish(Attempt* a, bool ok) {
  a->done = true;
  in_flight_ = nullptr;
  bool was = shared_.upstream_reachable.exchange(ok);
  if (was != ok) {
    if (ok) {
      log::info("upstream_reachable", {{"upstream", shared_.upstream->host()}});
    } else {
      log::warn("upstream_unreachable", {{"upstream", shared_.upstream->host()}});
    }
  }
  auto on_closed = [](uv_handle_t* h) {
    auto* at = static_cast<Attempt*>(h->data);
    if (--at->open_handles == 0) delete at;
  };
  uv_timer_stop(&a->deadline);
  uv_close(reinterpret_cast<uv_handle_t*>(&a->deadline), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&a->tcp), on_closed);
}

}  // namespace sidemeter
