// UpstreamTarget: what a worker copies to connect, and the rule that nothing blocking
// runs under the lock it takes for that copy. A log write that blocks (stderr a full
// pipe nobody reads: a stalled log collector) stalls the resolving thread only.
#include "proxy/upstream/upstream_target.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace sidemeter {
namespace {

net::SocketAddress address_of(const char* ip, uint16_t port) {
  net::SocketAddress a;
  std::string error;
  EXPECT_EQ(net::resolve(ip, port, a, error), 0) << error;
  return a;
}

TEST(UpstreamTargetTest, AddressChangesBumpTheGeneration) {
  UpstreamTarget t("127.0.0.1", 8080);
  net::SocketAddress out;
  uint32_t generation = 99;
  EXPECT_FALSE(t.current(out, &generation));
  EXPECT_EQ(generation, 0u);
  EXPECT_TRUE(t.update(address_of("127.0.0.1", 8080)));
  EXPECT_FALSE(t.update(address_of("127.0.0.1", 8080)));  // unchanged: no new generation
  EXPECT_EQ(t.address_generation(), 1u);
  EXPECT_TRUE(t.update(address_of("127.0.0.2", 8080)));
  EXPECT_TRUE(t.current(out, &generation));
  EXPECT_EQ(generation, 2u);
  EXPECT_EQ(out.ip(), "127.0.0.2");
  EXPECT_TRUE(t.refresh());  // 127.0.0.1 again
  EXPECT_EQ(t.address_generation(), 3u);
}

// stderr swapped for a pipe that is full: the next log line blocks its writer.
class BlockedStderr {
 public:
  BlockedStderr() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return;
    read_ = p[0];
    write_ = p[1];
    fcntl(write_, F_SETFL, O_NONBLOCK);
    const char junk[4096] = {};
    while (::write(write_, junk, sizeof junk) > 0) {
    }
    fcntl(write_, F_SETFL, 0);  // writes block from now on
    fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    ok_ = saved_ >= 0 && dup2(write_, STDERR_FILENO) >= 0;
  }
  bool ok() const { return ok_; }
  // Reads the pipe empty (unblocking the writer) and puts stderr back.
  void release() {
    if (saved_ < 0) return;
    dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
    fcntl(read_, F_SETFL, O_NONBLOCK);
    char buf[4096];
    while (::read(read_, buf, sizeof buf) > 0) {
    }
  }
  // Keep draining until `done` (the blocked writer may need more than one read).
  template <typename Done>
  void drain_until(Done done) {
    fcntl(read_, F_SETFL, O_NONBLOCK);  // the writer may finish between a check and a read
    char buf[4096];
    while (!done()) {
      if (::read(read_, buf, sizeof buf) < 0 && errno != EAGAIN) break;
      std::this_thread::yield();
    }
  }
  ~BlockedStderr() {
    release();
    if (read_ >= 0) ::close(read_);
    if (write_ >= 0) ::close(write_);
  }

 private:
  int read_ = -1, write_ = -1, saved_ = -1;
  bool ok_ = false;
};

TEST(UpstreamTargetTest, ConnectCopiesTheAddressWhileTheResolvedLogLineIsBlocked) {
  UpstreamTarget target("127.0.0.1", 8080);
  const net::SocketAddress fresh = address_of("127.0.0.1", 8080);
  BlockedStderr blocked;
  ASSERT_TRUE(blocked.ok());

  std::atomic<bool> update_returned{false};
  std::thread resolver([&] {
    target.update(fresh);  // logs upstream_resolved: blocks on the full pipe
    update_returned = true;
  });
  // What a worker does on a fresh connect, on a thread of its own so that a lock held
  // across the blocked write fails the test instead of hanging it.
  std::mutex mu;
  std::condition_variable cv;
  bool copied = false;
  std::thread connecting([&] {
    net::SocketAddress out;
    while (!target.current(out)) std::this_thread::yield();  // until the resolver set it
    std::lock_guard lock(mu);
    copied = true;
    cv.notify_all();
  });
  bool in_time;
  {
    std::unique_lock lock(mu);
    in_time = cv.wait_for(lock, std::chrono::seconds(10), [&] { return copied; });
  }
  // The resolver cannot have finished: its log line is still stuck in the pipe.
  const bool resolver_was_blocked = !update_returned.load();
  blocked.drain_until([&] { return update_returned.load(); });
  resolver.join();
  blocked.release();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return copied; });
  }
  connecting.join();
  EXPECT_TRUE(in_time) << "a connect waited for the resolver's log write";
  EXPECT_TRUE(resolver_was_blocked) << "the log write did not block: the test proved nothing";
}

}  // namespace
}  // namespace sidemeter
