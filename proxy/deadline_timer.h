#pragma once
// A timeout that moves on every request without touching libuv's timer heap each time.
// Connections push their deadline forward many times per second (each read, each
// exchange); here that is a field write. The uv timer is only restarted when a deadline
// moves earlier than the armed one, and when it fires before the current deadline it
// re-arms for the rest. Resolution is the loop's millisecond clock (uv_now).
#include <uv.h>

#include <cstdint>

namespace sidemeter {

class DeadlineTimer {
 public:
  using FireFn = void (*)(void* owner);

  void init(uv_loop_t* loop, void* owner, FireFn fire) {
    uv_timer_init(loop, &timer_);
    timer_.data = this;
    owner_ = owner;
    fire_ = fire;
  }

  // Fire `ms` from now (0 cancels).
  void set(uint64_t ms) {
    if (ms == 0) {
      deadline_ = 0;
      return;
    }
    deadline_ = uv_now(timer_.loop) + ms;
    if (armed_for_ == 0 || deadline_ < armed_for_) {
      uv_timer_start(&timer_, on_timer, ms, 0);
      armed_for_ = deadline_;
    }
  }

  // A cancelled timer may still wake the loop once, harmlessly.
  void cancel() { deadline_ = 0; }

  // The owner is told through `cb` with the timer handle; data points at this object.
  void close(uv_close_cb cb) {
    deadline_ = 0;
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), cb);
  }
  // For close callbacks, which get the handle: the owner given to init().
  static void* owner_of(uv_handle_t* h) { return static_cast<DeadlineTimer*>(h->data)->owner_; }

 private:
  static void on_timer(uv_timer_t* t) {
    auto* self = static_cast<DeadlineTimer*>(t->data);
    self->armed_for_ = 0;
    if (self->deadline_ == 0) return;
    uint64_t now = uv_now(t->loop);
    if (now < self->deadline_) {
      uv_timer_start(&self->timer_, on_timer, self->deadline_ - now, 0);
      self->armed_for_ = self->deadline_;
      return;
    }
    self->deadline_ = 0;
    self->fire_(self->owner_);
  }

  uv_timer_t timer_;
  void* owner_ = nullptr;
  FireFn fire_ = nullptr;
  uint64_t deadline_ = 0;   // 0 = no timeout wanted
  uint64_t armed_for_ = 0;  // when the uv timer will fire; 0 = not armed
};

}  // namespace sidemeter
