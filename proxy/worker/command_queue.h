#pragma once
// Typed commands into one libuv loop from any thread. Every pushed command is delivered,
// in order, on the loop's thread; none is overwritten by a later one (a single atomic
// "pending command" lost a drain to a trim, and a force-stop to a drain). Once the owner
// closes the queue, push() refuses instead of waking a loop that may be gone:
// uv_async_send on a closed handle writes to a closed descriptor, and libuv aborts.
#include <uv.h>

#include <functional>
#include <mutex>
#include <utility>
#include <vector>

namespace sidemeter {

template <typename Command>
class CommandQueue {
 public:
  using Handler = std::function<void(Command&)>;

  CommandQueue() = default;
  CommandQueue(const CommandQueue&) = delete;
  CommandQueue& operator=(const CommandQueue&) = delete;

  // Loop thread, before the loop runs. Returns a libuv error code (0 on success).
  int open(uv_loop_t* loop, Handler handler) {
    handler_ = std::move(handler);
    async_.data = this;
    int rc = uv_async_init(loop, &async_, [](uv_async_t* a) {
      static_cast<CommandQueue*>(a->data)->deliver();
    });
    if (rc == 0) {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    return rc;
  }

  // Any thread. False if the queue is closed (or never opened): the command is dropped
  // and the caller knows the loop will not see it.
  bool push(Command command) {
    std::lock_guard lock(mu_);
    if (!open_) return false;
    pending_.push_back(std::move(command));
    // Under the lock, so close() cannot slip in between and close the handle first.
    uv_async_send(&async_);
    return true;
  }

  // Loop thread. Refuses every later push; commands not yet delivered are dropped (the
  // loop is shutting down, nothing is left to act on them). `on_closed` runs from the
  // loop once the handle is closed: the queue may be freed only after it.
  void close(uv_close_cb on_closed = nullptr) {
    {
      std::lock_guard lock(mu_);
      if (!open_) return;
      open_ = false;
      pending_.clear();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), on_closed);
  }

  bool is_open() const {
    std::lock_guard lock(mu_);
    return open_;
  }

 private:
  void deliver() {
    std::vector<Command> batch;
    {
      std::lock_guard lock(mu_);
      batch.swap(pending_);
    }
    for (auto& c : batch) {
      handler_(c);
      // A handler may close the queue (the worker finished): stop delivering then.
      if (!is_open()) return;
    }
  }

  mutable std::mutex mu_;
  std::vector<Command> pending_;
  bool open_ = false;
  uv_async_t async_{};
  Handler handler_;
};

}  // namespace sidemeter
