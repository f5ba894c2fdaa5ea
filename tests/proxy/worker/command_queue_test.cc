// The worker command queue: every command arrives, in order, none overwritten; a closed
// queue refuses instead of waking a loop that is gone; the loop closes cleanly.
#include "proxy/worker/command_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <variant>
#include <vector>

namespace sidemeter {
namespace {

struct Stop {};
struct Value {
  int producer;
  int seq;
};
using Command = std::variant<Stop, Value>;

TEST(CommandQueueTest, EveryCommandFromEveryThreadArrivesInOrderAndNoneIsLost) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 5000;
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  CommandQueue<Command> queue;
  std::vector<int> next(kProducers, 0);
  int received = 0;
  int stops = 0;
  bool in_order = true;
  ASSERT_EQ(queue.open(&loop, [&](Command& c) {
    if (std::holds_alternative<Stop>(c)) {
      if (++stops == kProducers) queue.close();
      return;
    }
    const Value& v = std::get<Value>(c);
    if (v.seq != next[v.producer]) in_order = false;
    next[v.producer] = v.seq + 1;
    ++received;
  }), 0);

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&queue, p] {
      for (int i = 0; i < kPerProducer; ++i) EXPECT_TRUE(queue.push(Value{p, i}));
      EXPECT_TRUE(queue.push(Stop{}));
    });
  }
  // The loop runs until the handler closes the queue after the last Stop: if a command
  // were overwritten or lost, a Stop would be missing and the loop would never end.
  EXPECT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  for (auto& t : producers) t.join();
  EXPECT_EQ(received, kProducers * kPerProducer);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(stops, kProducers);
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

TEST(CommandQueueTest, ClosedQueueRefusesPushesAndTheLoopCanClose) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  CommandQueue<Command> queue;
  int handled = 0;
  ASSERT_EQ(queue.open(&loop, [&](Command&) { ++handled; }), 0);
  EXPECT_TRUE(queue.push(Stop{}));
  queue.close();
  // After close nothing may touch the handle: libuv aborts on a send to a closed loop.
  EXPECT_FALSE(queue.push(Stop{}));
  EXPECT_FALSE(queue.is_open());
  EXPECT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  EXPECT_EQ(handled, 0);  // dropped: the loop was shutting down
  EXPECT_EQ(uv_loop_close(&loop), 0);
  // Even with the loop closed and gone, a late producer only gets "no".
  EXPECT_FALSE(queue.push(Stop{}));
}

TEST(CommandQueueTest, NeverOpenedQueueRefuses) {
  CommandQueue<Command> queue;
  EXPECT_FALSE(queue.push(Stop{}));
}

TEST(CommandQueueTest, HandlerThatClosesStopsTheBatch) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  CommandQueue<Command> queue;
  std::vector<int> seen;
  ASSERT_EQ(queue.open(&loop, [&](Command& c) {
    seen.push_back(std::get<Value>(c).seq);
    if (std::get<Value>(c).seq == 1) queue.close();
  }), 0);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(queue.push(Value{0, i}));  // one batch
  EXPECT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
  EXPECT_EQ(seen, (std::vector<int>{0, 1}));
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

// Producers racing the close: each push either lands before the close or is refused;
// none crashes and the loop still closes.
TEST(CommandQueueTest, PushesRacingCloseAreDeliveredOrRefused) {
  for (int round = 0; round < 20; ++round) {
    uv_loop_t loop;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    CommandQueue<Command> queue;
    std::atomic<int> accepted{0};
    int handled = 0;
    ASSERT_EQ(queue.open(&loop, [&](Command&) {
      if (++handled == 50) queue.close();
    }), 0);
    std::atomic<bool> go{false};
    std::thread producer([&] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < 2000; ++i) {
        if (queue.push(Stop{})) accepted.fetch_add(1);
      }
    });
    go.store(true);
    // Runs until the close; then the loop ends with the queue's handle closed. A push
    // that the producer makes afterwards is refused.
    EXPECT_EQ(uv_run(&loop, UV_RUN_DEFAULT), 0);
    producer.join();
    EXPECT_EQ(handled, 50);
    EXPECT_GE(accepted.load(), 50);
    EXPECT_EQ(uv_loop_close(&loop), 0);
  }
}

}  // namespace
}  // namespace sidemeter
