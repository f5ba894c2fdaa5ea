#pragma once
// One lifetime idiom for every object that owns libuv handles (connections, probes, the
// alert POST client, demo clients). libuv writes into a handle until that handle's close
// callback has run, so such an object may be freed only after the last of them; and a
// call that can end in the object's closing says so in its return value, instead of
// every caller re-checking the object's state afterwards.
//
// The pattern, as in h2o's uv-binding and node's HandleWrap:
//   - the owner holds a HandleOwner and counts in each handle it initialises (and, when
//     it keeps its own write buffers, each write in flight);
//   - every close (or write) callback calls release(); the one that gets true deletes
//     the owner, as its last act;
//   - a method that may start the owner's closing returns Alive; on kGone the caller
//     touches nothing of the owner again (its memory is still there until the callbacks
//     run, but its state is over).
// Write buffers stay alive until their write callback (TcpTransport owns them).
#include <cassert>
#include <cstdint>

namespace sidemeter::net {

// What a call that can close its object returns. kGone: the object began closing (or
// handed itself over to something that did) — return without touching it.
enum class [[nodiscard]] Alive : uint8_t { kYes, kGone };

class HandleOwner {
 public:
  // One more callback will report back (a handle initialised, a write started).
  void hold(int n = 1) { pending_ += n; }
  // From a close (or write) callback: true when it was the last one, so the owner must
  // delete itself now, as the callback's last act.
  [[nodiscard]] bool release() {
    assert(pending_ > 0);
    return --pending_ == 0;
  }
  int pending() const { return pending_; }

 private:
  int pending_ = 0;
};

}  // namespace sidemeter::net
