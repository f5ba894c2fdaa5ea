#include "proxy/upstream/upstream_probe.h"

#include "proxy/net/handle_owner.h"

namespace sidemeter {

// One connect attempt: its socket and deadline timer are freed together once both
// handles have closed. It keeps the target it probes: a reload may replace the probe's.
struct UpstreamProbe::Attempt {
  UpstreamProbe* owner;
  std::shared_ptr<UpstreamTarget> target;
  uv_tcp_t tcp;
  uv_timer_t deadline;
  uv_connect_t req;
  net::HandleOwner handles;
  bool done = false;
};

void UpstreamProbe::start(std::shared_ptr<UpstreamTarget> target, uint64_t interval_ms,
                          uint64_t timeout_ms) {
  target_ = std::move(target);
  interval_ms_ = interval_ms;
  timeout_ms_ = timeout_ms;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  started_ = true;
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<UpstreamProbe*>(t->data)->probe(); }, 0,
                 interval_ms_);
}

void UpstreamProbe::reconfigure(std::shared_ptr<UpstreamTarget> target, uint64_t interval_ms,
                                uint64_t timeout_ms) {
  if (!started_ || closed_) return;
  bool changed = target != target_ || interval_ms != interval_ms_;
  target_ = std::move(target);
  interval_ms_ = interval_ms;
  timeout_ms_ = timeout_ms;
  if (changed)
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<UpstreamProbe*>(t->data)->probe(); },
                   0, interval_ms_);
}

void UpstreamProbe::close() {
  if (closed_ || !started_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  if (in_flight_ != nullptr) finish(in_flight_, in_flight_->target->reachable());
}

void UpstreamProbe::probe() {
  if (in_flight_ != nullptr || closed_ || target_->reachable()) return;
  net::SocketAddress addr;
  if (!target_->current(addr)) return;  // unresolved: not reachable, nothing to try
  auto* a = new Attempt{};
  a->owner = this;
  a->target = target_;
  uv_tcp_init(loop_, &a->tcp);
  uv_timer_init(loop_, &a->deadline);
  a->handles.hold(2);
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
  a->target->set_reachable(ok);
  auto on_closed = [](uv_handle_t* h) {
    auto* at = static_cast<Attempt*>(h->data);
    if (at->handles.release()) delete at;
  };
  uv_timer_stop(&a->deadline);
  uv_close(reinterpret_cast<uv_handle_t*>(&a->deadline), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&a->tcp), on_closed);
}

}  // namespace sidemeter
