// The upstream connection and its pool on a real libuv loop that the test turns by hand:
// the Worker is built but never started, and nothing runs on its loop unless the test
// calls run_until(). So the test decides exactly what the upstream (a plain blocking
// socket) has done before the proxy's code runs next, and the races of issue 12 become
// deterministic:
//   - an early response the upstream sent before resetting the connection, with the
//     proxy's next body write failing before it reads (synchronously, or from a queued
//     write while reading is paused);
//   - an early error response with Connection: close that stops the body;
//   - a pooled connection the upstream closed (or wrote to) since the loop last looked;
//   - the Keep-Alive timeout hint, and a resolved address that moved.
// Each test ends with every handle closed (TearDown runs the loop dry and checks that
// no upstream connection is left open).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "metrics/recorder.h"
#include "proxy/config_snapshot.h"
#include "proxy/process_state.h"
#include "proxy/upstream/upstream_connection.h"
#include "proxy/upstream/upstream_pool.h"
#include "proxy/worker/worker.h"
#include "tests/support/socket.h"

namespace sidemeter {
namespace {

using sidemeter::testing::Clock;
using sidemeter::testing::IoStatus;
using sidemeter::testing::Socket;
using std::chrono::milliseconds;

constexpr std::string_view kTooLargeHead =
    "HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\n";
constexpr std::string_view kTooLargeBody = "too large";
const std::string kPiece(64 * 1024, 'b');

sidemeter::testing::Deadline soon() { return sidemeter::testing::deadline_in(std::chrono::seconds(10)); }

class NullRecorder final : public metrics::Recorder {
 public:
  void record(const metrics::ExchangeSample&) override {}
};

// What the exchange would see.
struct Observer final : UpstreamObserver {
  bool connected = false;
  int status = 0;
  std::string body;
  bool complete = false;
  std::optional<metrics::UpstreamError> failed;

  void on_upstream_connected() override { connected = true; }
  http::SinkAction on_upstream_head(const http::MessageHead& head) override {
    if (head.status >= 200) status = head.status;
    return http::SinkAction::kContinue;
  }
  http::SinkAction on_upstream_body(std::string_view data) override {
    body.append(data);
    return http::SinkAction::kContinue;
  }
  http::SinkAction on_upstream_complete() override {
    complete = true;
    return http::SinkAction::kContinue;
  }
  void on_upstream_read_done() override {}
  void on_upstream_failed(metrics::UpstreamError error) override { failed = error; }
  void on_upstream_drained() override {}
  void on_upstream_tunnel_data(std::string_view) override {}
  void on_upstream_tunnel_eof() override {}
  bool ended() const { return complete || failed.has_value(); }
};

// Request heads as the codec would hand them over (views into these strings).
struct Request {
  std::string length;
  http::MessageHead head;
  Request(http::Method method, uint64_t body) : length(std::to_string(body)) {
    head.method = method;
    head.method_text = method == http::Method::kPost ? "POST" : "GET";
    head.target = head.path = "/upload";
    head.version_minor = 1;
    head.host = "test.local";
    head.fields.push_back({"Host", "test.local"});
    if (body > 0) {
      head.fields.push_back({"Content-Length", length});
      head.framing = http::BodyFraming::kContentLength;
      head.content_length = body;
      head.has_content_length = true;
    }
  }
};

// Bytes the peer sent that are already here, without waiting. kClosed at end of stream.
IoStatus read_now(Socket& s) {
  for (;;) {
    char buf[64 * 1024];
    const ssize_t n = ::recv(s.fd(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      s.buffer().append(buf, size_t(n));
      continue;
    }
    if (n == 0) return IoStatus::kClosed;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::kOk;
    return errno == ECONNRESET ? IoStatus::kReset : IoStatus::kError;
  }
}

class UpstreamConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    listener_ = sidemeter::testing::listen_loopback();
    ASSERT_GE(listener_.fd, 0);
    auto cfg = std::make_shared<conf::Config>();
    cfg->measure = false;  // no clock needed
    cfg->upstream.address = {"127.0.0.1", listener_.port};
    cfg->timeouts.upstream_idle_ms = 60'000;  // only the hints under test retire early
    cfg->timeouts.upstream_connect_ms = 10'000;
    cfg->timeouts.upstream_response_ms = 10'000;  // bounds a failing test
    snapshot_ = make_snapshot(cfg, nullptr);
    ASSERT_TRUE(snapshot_->upstream->refresh());
    worker_ = std::make_unique<Worker>(0, process_, -1, recorder_, gauges_, snapshot_);
    uv_timer_init(worker_->loop(), &tick_);
  }

  void TearDown() override {
    worker_->pool().close_all();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(worker_->loop(), UV_RUN_DEFAULT);  // returns once every handle is closed
    EXPECT_EQ(gauges_.upstream_connections_active.get(), 0) << "an upstream connection leaked";
    size_t open_handles = 0;
    uv_walk(worker_->loop(), [](uv_handle_t*, void* n) { ++*static_cast<size_t*>(n); },
            &open_handles);
    EXPECT_EQ(open_handles, 0u) << "a handle is still open";
    worker_.reset();  // closes the loop
    ::close(listener_.fd);
  }

  // Turns the loop until `done` holds. The tick only wakes the loop to check the limit.
  template <typename Done>
  bool run_until(Done done, milliseconds limit = milliseconds(10'000)) {
    const auto end = Clock::now() + limit;
    uv_timer_start(&tick_, [](uv_timer_t*) {}, 20, 20);
    while (!done() && Clock::now() < end) uv_run(worker_->loop(), UV_RUN_ONCE);
    uv_timer_stop(&tick_);
    return done();
  }

  // A connection in the exchange of `obs`, connected; `up` gets the upstream's end.
  UpstreamConnection* open(Observer& obs, http::Method method, Socket& up) {
    net::SocketAddress addr;
    uint32_t generation = 0;
    EXPECT_TRUE(snapshot_->upstream->current(addr, &generation));
    UpstreamConnection* c = UpstreamConnection::create(*worker_, snapshot_);
    c->attach(&obs, method);
    EXPECT_EQ(c->connect(addr, generation), net::Alive::kYes);
    // Loopback completes the handshake inside connect(): the accept does not wait.
    up = Socket(::accept4(listener_.fd, nullptr, nullptr, SOCK_CLOEXEC));
    EXPECT_TRUE(up.valid());
    EXPECT_TRUE(run_until([&] { return obs.connected; }));
    return c;
  }

  void send_head(UpstreamConnection* c, const Request& r) {
    http::ForwardRequestContext ctx;
    ctx.client_ip = "192.0.2.1";
    ctx.proto = "http";
    c->send_request_head(r.head, ctx);
  }

  // One GET answered `response` on a connection of its own; the connection is pooled
  // (or not) by the time this returns.
  UpstreamConnection* exchange(Socket& up, std::string_view response, Observer& obs) {
    Request get(http::Method::kGet, 0);
    UpstreamConnection* c = open(obs, http::Method::kGet, up);
    send_head(c, get);
    c->end_request();
    EXPECT_EQ(c->flush_request(), UpstreamConnection::RequestWrite::kWritten);
    size_t pos = 0;
    EXPECT_EQ(up.fill_until("\r\n\r\n", soon(), &pos), IoStatus::kOk);
    up.buffer().clear();
    EXPECT_EQ(up.write_all(response, soon()), IoStatus::kOk);
    EXPECT_TRUE(run_until([&] { return obs.ended(); }));
    EXPECT_TRUE(obs.complete);
    return c;
  }

  bool all_closed() {
    return run_until([&] { return gauges_.upstream_connections_active.get() == 0; });
  }

  sidemeter::testing::Listener listener_;
  ProcessState process_;
  NullRecorder recorder_;
  metrics::WorkerGauges gauges_;
  ConfigSnapshotPtr snapshot_;
  std::unique_ptr<Worker> worker_;
  uv_timer_t tick_;
};

// ---------------------------------------------------------------- early responses

// The upstream reads the head, answers 413 at once and closes with body bytes unread, so
// its kernel resets the connection. The loop has not run since: the proxy's next body
// write is what meets the reset, before any read. The response must survive that.
TEST_F(UpstreamConnectionTest, EarlyResponseSurvivesAFailedBodyWrite) {
  Observer obs;
  Socket up;
  Request post(http::Method::kPost, 1 << 20);
  UpstreamConnection* c = open(obs, http::Method::kPost, up);
  send_head(c, post);
  ASSERT_EQ(c->send_body(kPiece), UpstreamConnection::RequestWrite::kWritten);
  size_t pos = 0;
  ASSERT_EQ(up.fill_until("\r\n\r\n", soon(), &pos), IoStatus::kOk);
  // Sent after the upstream's read: certainly unread when it closes, so the close is an RST.
  ASSERT_EQ(c->send_body(kPiece), UpstreamConnection::RequestWrite::kWritten);
  ASSERT_EQ(up.write_all(std::string(kTooLargeHead) + std::string(kTooLargeBody), soon()),
            IoStatus::kOk);
  up.close();  // loopback: the RST is in the proxy's socket when close() returns

  // This write fails (ECONNRESET): the rest of the request is dropped, nothing closes.
  EXPECT_EQ(c->send_body(kPiece), UpstreamConnection::RequestWrite::kHeld);
  EXPECT_EQ(c->flush_request(), UpstreamConnection::RequestWrite::kHeld);
  ASSERT_TRUE(run_until([&] { return obs.ended(); }));
  EXPECT_FALSE(obs.failed.has_value()) << "failed as " << int(*obs.failed);
  EXPECT_EQ(obs.status, 413);
  EXPECT_EQ(obs.body, kTooLargeBody);
  EXPECT_TRUE(all_closed());
  EXPECT_EQ(worker_->pool().idle_count(), 0u);
}

// The same, with the failure reported by a queued write while reading is paused (the
// client side was congested): the write callback's error must not end the attempt.
TEST_F(UpstreamConnectionTest, EarlyResponseSurvivesAFailedQueuedWrite) {
  Observer obs;
  Socket up;
  Request post(http::Method::kPost, uint64_t(1) << 32);
  UpstreamConnection* c = open(obs, http::Method::kPost, up);
  c->pause_reading();
  send_head(c, post);
  ASSERT_EQ(c->flush_request(), UpstreamConnection::RequestWrite::kWritten);
  const std::string big(256 * 1024, 'b');
  // Fill the socket buffers until libuv has to queue (the upstream reads nothing yet).
  uint64_t sent = 0;
  while (c->queued_bytes() == 0 && sent < (uint64_t(256) << 20)) {
    ASSERT_EQ(c->send_body(big), UpstreamConnection::RequestWrite::kWritten);
    sent += big.size();
  }
  ASSERT_GT(c->queued_bytes(), 0u);
  size_t pos = 0;
  ASSERT_EQ(up.fill_until("\r\n\r\n", soon(), &pos), IoStatus::kOk);
  ASSERT_EQ(up.write_all(std::string(kTooLargeHead) + std::string(kTooLargeBody), soon()),
            IoStatus::kOk);
  up.close();  // megabytes unread: RST

  // The loop tries the queued write and fails; reading is paused, so nothing is read.
  // (`c` is only looked at while no failure was reported: a failed one frees itself.)
  ASSERT_TRUE(run_until([&] { return obs.failed.has_value() || c->queued_bytes() == 0; }));
  ASSERT_FALSE(obs.failed.has_value()) << "failed as " << int(*obs.failed);
  EXPECT_EQ(obs.status, 0);
  c->resume_reading();  // the client side drained
  ASSERT_TRUE(run_until([&] { return obs.ended(); }));
  EXPECT_FALSE(obs.failed.has_value());
  EXPECT_EQ(obs.status, 413);
  EXPECT_EQ(obs.body, kTooLargeBody);
  EXPECT_TRUE(all_closed());
}

// Reset before a byte of response: still the upstream's failure, counted as before.
TEST_F(UpstreamConnectionTest, ResetWithoutResponseAfterFailedWriteFails) {
  Observer obs;
  Socket up;
  Request post(http::Method::kPost, 1 << 20);
  UpstreamConnection* c = open(obs, http::Method::kPost, up);
  send_head(c, post);
  ASSERT_EQ(c->send_body(kPiece), UpstreamConnection::RequestWrite::kWritten);
  up.reset();
  EXPECT_EQ(c->send_body(kPiece), UpstreamConnection::RequestWrite::kHeld);
  ASSERT_TRUE(run_until([&] { return obs.ended(); }));
  ASSERT_TRUE(obs.failed.has_value());
  EXPECT_EQ(*obs.failed, metrics::UpstreamError::kResetBeforeResponse);
  EXPECT_TRUE(all_closed());
}

// An error response with Connection: close before the body is complete: the body stops
// there (RFC 9112 §9.5) and our side is shut down; the response still completes.
TEST_F(UpstreamConnectionTest, EarlyErrorResponseStopsTheBody) {
  Observer obs;
  Socket up;
  Request post(http::Method::kPost, 1 << 20);
  UpstreamConnection* c = open(obs, http::Method::kPost, up);
  send_head(c, post);
  ASSERT_EQ(c->send_body(kPiece), UpstreamConnection::RequestWrite::kWritten);
  size_t pos = 0;
  ASSERT_EQ(up.fill_until("\r\n\r\n", soon(), &pos), IoStatus::kOk);
  const size_t sent_before = pos + 4 + kPiece.size();
  ASSERT_EQ(up.fill_to(sent_before, soon()), IoStatus::kOk);
  ASSERT_EQ(up.write_all(kTooLargeHead, soon()), IoStatus::kOk);  // the body follows later
  ASSERT_TRUE(run_until([&] { return obs.status != 0 || obs.ended(); }));
  ASSERT_EQ(obs.status, 413);

  EXPECT_EQ(c->send_body(kPiece), UpstreamConnection::RequestWrite::kHeld);
  EXPECT_EQ(c->flush_request(), UpstreamConnection::RequestWrite::kHeld);
  // The upstream sees the end of the request stream right after what it had read.
  IoStatus st = IoStatus::kOk;
  ASSERT_TRUE(run_until([&] { return (st = read_now(up)) != IoStatus::kOk; }));
  EXPECT_EQ(st, IoStatus::kClosed);
  EXPECT_EQ(up.buffer().size(), sent_before) << "body bytes forwarded after the answer";

  ASSERT_EQ(up.write_all(kTooLargeBody, soon()), IoStatus::kOk);
  ASSERT_TRUE(run_until([&] { return obs.ended(); }));
  EXPECT_FALSE(obs.failed.has_value());
  EXPECT_EQ(obs.body, kTooLargeBody);
  EXPECT_TRUE(all_closed()) << "a connection that did not carry its request is never pooled";
  EXPECT_EQ(worker_->pool().idle_count(), 0u);
}

// A 2xx sent early does not stop the body: a streaming upstream answers and reads on.
TEST_F(UpstreamConnectionTest, EarlySuccessResponseKeepsTheBodyGoing) {
  Observer obs;
  Socket up;
  Request post(http::Method::kPost, 2 * kPiece.size());
  UpstreamConnection* c = open(obs, http::Method::kPost, up);
  send_head(c, post);
  ASSERT_EQ(c->send_body(kPiece), UpstreamConnection::RequestWrite::kWritten);
  size_t pos = 0;
  ASSERT_EQ(up.fill_until("\r\n\r\n", soon(), &pos), IoStatus::kOk);
  ASSERT_EQ(up.write_all("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n",
                         soon()),
            IoStatus::kOk);
  ASSERT_TRUE(run_until([&] { return obs.status != 0 || obs.ended(); }));
  EXPECT_EQ(c->send_body(kPiece), UpstreamConnection::RequestWrite::kWritten);
  c->end_request();
  ASSERT_EQ(up.fill_to(pos + 4 + 2 * kPiece.size(), soon()), IoStatus::kOk);
  ASSERT_EQ(up.write_all("ok", soon()), IoStatus::kOk);
  ASSERT_TRUE(run_until([&] { return obs.ended(); }));
  EXPECT_TRUE(obs.complete);
  EXPECT_EQ(obs.body, "ok");
  EXPECT_TRUE(all_closed());
}

// ---------------------------------------------------------------- pooled connections

constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

// The upstream closes (or resets, or writes to) an idle pooled connection, and the loop
// has not run since: only a look at the socket can tell, and take() must not hand it out.
enum class Spoil { kFin, kRst, kStrayBytes };
class PoolReuseCheckTest : public UpstreamConnectionTest,
                           public ::testing::WithParamInterface<Spoil> {};

TEST_P(PoolReuseCheckTest, SpoiledIdleConnectionIsNotHandedOut) {
  Observer obs;
  Socket up;
  exchange(up, kOk, obs);
  ASSERT_EQ(worker_->pool().idle_count(), 1u);
  switch (GetParam()) {
    case Spoil::kFin:
      up.close();
      break;
    case Spoil::kRst:
      up.reset();
      break;
    case Spoil::kStrayBytes:
      ASSERT_EQ(up.write_all("HTTP/1.1 200 OK\r\n", soon()), IoStatus::kOk);
      break;
  }
  EXPECT_EQ(worker_->pool().take(/*look_for_close=*/true), nullptr);
  EXPECT_EQ(worker_->pool().idle_count(), 0u);
  EXPECT_TRUE(all_closed());
}

// A request the stale-connection retry covers does not look (no system call): it gets
// the spoiled connection, and learns of the close by sending on it.
TEST_F(UpstreamConnectionTest, WithoutTheLookAClosedIdleConnectionIsHandedOut) {
  Observer obs;
  Socket up;
  UpstreamConnection* c = exchange(up, kOk, obs);
  ASSERT_EQ(worker_->pool().idle_count(), 1u);
  up.close();
  EXPECT_EQ(worker_->pool().take(/*look_for_close=*/false), c);
  c->abandon(false);
  EXPECT_TRUE(all_closed());
}

INSTANTIATE_TEST_SUITE_P(Spoils, PoolReuseCheckTest,
                         ::testing::Values(Spoil::kFin, Spoil::kRst, Spoil::kStrayBytes),
                         [](const ::testing::TestParamInfo<Spoil>& info) {
                           switch (info.param) {
                             case Spoil::kFin: return std::string("Fin");
                             case Spoil::kRst: return std::string("Rst");
                             default: return std::string("StrayBytes");
                           }
                         });

TEST_F(UpstreamConnectionTest, QuietIdleConnectionIsReused) {
  Observer obs;
  Socket up;
  UpstreamConnection* c = exchange(up, kOk, obs);
  ASSERT_EQ(worker_->pool().idle_count(), 1u);
  EXPECT_EQ(worker_->pool().take(/*look_for_close=*/true), c);
  c->abandon(false);
  EXPECT_TRUE(all_closed());
}

// The target re-resolved to another address: idle connections to the old one retire,
// and one busy at the time is not pooled after its response.
TEST_F(UpstreamConnectionTest, AddressChangeRetiresPooledConnections) {
  Observer first;
  Socket up1;
  exchange(up1, kOk, first);
  ASSERT_EQ(worker_->pool().idle_count(), 1u);

  Observer busy;
  Socket up2;
  Request get(http::Method::kGet, 0);
  UpstreamConnection* c = open(busy, http::Method::kGet, up2);
  send_head(c, get);
  c->end_request();
  ASSERT_EQ(c->flush_request(), UpstreamConnection::RequestWrite::kWritten);

  net::SocketAddress moved;
  std::string error;
  ASSERT_EQ(net::resolve("127.0.0.2", listener_.port, moved, error), 0) << error;
  ASSERT_TRUE(snapshot_->upstream->update(moved));
  EXPECT_FALSE(snapshot_->upstream->update(moved)) << "the same address is no change";

  EXPECT_EQ(worker_->pool().take(/*look_for_close=*/false), nullptr) << "no look needed";
  size_t pos = 0;
  ASSERT_EQ(up2.fill_until("\r\n\r\n", soon(), &pos), IoStatus::kOk);
  ASSERT_EQ(up2.write_all(kOk, soon()), IoStatus::kOk);
  ASSERT_TRUE(run_until([&] { return busy.ended(); }));
  EXPECT_TRUE(busy.complete);
  EXPECT_EQ(worker_->pool().idle_count(), 0u);
  EXPECT_TRUE(all_closed());
}

// Keep-Alive: timeout=3 from the upstream: the pooled connection goes after 2 s (the
// hint less 1 s), although our own idle timeout is 60 s.
TEST_F(UpstreamConnectionTest, KeepAliveHintRetiresThePooledConnectionEarly) {
  Observer obs;
  Socket up;
  exchange(up, "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=3, max=100\r\nContent-Length: 2\r\n\r\nok",
           obs);
  ASSERT_EQ(worker_->pool().idle_count(), 1u);
  const auto pooled_at = Clock::now();
  ASSERT_TRUE(run_until([&] { return worker_->pool().idle_count() == 0; }, milliseconds(20'000)));
  const auto idle = std::chrono::duration_cast<milliseconds>(Clock::now() - pooled_at);
  EXPECT_GE(idle.count(), 1'900);  // not before the hint less the margin (timer granularity)
  EXPECT_LT(idle.count(), 3'000) << "the upstream would have closed it first";
  EXPECT_TRUE(all_closed());
  EXPECT_EQ(read_now(up), IoStatus::kClosed) << "closed with a FIN, not left open";
}

// A hint of 1 s leaves no time worth pooling for: closed after the response.
TEST_F(UpstreamConnectionTest, KeepAliveHintOfOneSecondIsNotPooled) {
  Observer obs;
  Socket up;
  exchange(up, "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok", obs);
  EXPECT_EQ(worker_->pool().idle_count(), 0u);
  EXPECT_TRUE(all_closed());
}

}  // namespace
}  // namespace sidemeter
