// TcpTransport's writes on a real loop over loopback: straight to the socket when
// nothing is queued (its own write(2)/writev(2), not uv_try_write), queued through libuv
// while connecting or once the socket is full, in order either way; a shutdown after
// queued bytes, and the errors of a write to a reset peer.
#include <gtest/gtest.h>
#include <uv.h>

#include <poll.h>
#include <sys/socket.h>

#include <csignal>
#include <string>

#include "tests/proxy/net/tls_loop.h"

namespace sidemeter::net {
namespace {

using tls_test::End;
using tls_test::kNotYet;
using tls_test::TlsLoop;

// A recognisable byte stream: any lost, repeated or reordered piece shows.
std::string pattern(size_t offset, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (offset + i) * 7 % 26);
  return s;
}

class TcpTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // As main.cc does: a write to a reset peer is an error, not a signal.
    std::signal(SIGPIPE, SIG_IGN);
    loop_.listen(nullptr);
  }
  void TearDown() override { loop_.finish(); }

  // A connected client and its accepted server end.
  std::pair<End*, End*> connected_pair() {
    End& client = loop_.connect(SslPtr());
    EXPECT_TRUE(loop_.run_until([&] { return client.connected != kNotYet && loop_.accepted() == 1; }));
    EXPECT_EQ(client.connected, 0);
    return {&client, &loop_.server(0)};
  }

  // Small socket buffers, so a few hundred KiB fill the path to the peer.
  static void shrink_buffers(End& sender, End& receiver) {
    int size = 16 * 1024;
    EXPECT_EQ(uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(sender.tcp().stream()), &size), 0);
    size = 16 * 1024;
    EXPECT_EQ(uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(receiver.tcp().stream()), &size),
              0);
  }

  // Writes `total` pattern bytes as three-part writevs (an empty part among them);
  // every call must succeed.
  static void write_pattern(End& sender, size_t total, size_t piece, size_t from = 0) {
    for (size_t off = from; off < from + total; off += piece) {
      const std::string a = pattern(off, piece / 3);
      const std::string b = pattern(off + a.size(), piece - a.size());
      const std::string_view parts[3] = {a, "", b};
      ASSERT_EQ(sender.t().writev(parts, 3), 0) << "at " << off;
    }
  }

  TlsLoop loop_;
};

TEST_F(TcpTransportTest, AnIdleConnectedSocketTakesTheWholeWriteAtOnce) {
  const auto [c, s] = connected_pair();
  End* client = c;  // plain pointers: clang 15 cannot capture structured bindings
  End* server = s;
  const std::string_view parts[4] = {"GET / HTTP/1.1\r\n", "", "Host: a\r\n", "\r\n"};
  ASSERT_EQ(client->t().writev(parts, 4), 0);
  EXPECT_EQ(client->t().queued_bytes(), 0u);  // nothing was left for libuv to queue
  ASSERT_EQ(client->t().write("x"), 0);
  EXPECT_EQ(client->t().queued_bytes(), 0u);
  ASSERT_TRUE(loop_.run_until([&] { return server->received.size() == 28; }));
  EXPECT_EQ(server->received, "GET / HTTP/1.1\r\nHost: a\r\n\r\nx");
  EXPECT_EQ(client->drained, 0);  // no queued write, so no drain callback either
}

TEST_F(TcpTransportTest, WritesWhileConnectingAreQueuedAndArriveInOrder) {
  End& client = loop_.connect(SslPtr());
  ASSERT_EQ(client.t().write("first "), 0);  // the connect has not completed yet
  EXPECT_EQ(client.t().queued_bytes(), 6u);
  ASSERT_TRUE(loop_.run_until([&] { return client.connected != kNotYet; }));
  ASSERT_EQ(client.connected, 0);
  ASSERT_EQ(client.t().write("second"), 0);
  ASSERT_TRUE(loop_.run_until([&] {
    return loop_.accepted() == 1 && loop_.server(0).received.size() == 12;
  }));
  EXPECT_EQ(loop_.server(0).received, "first second");
  ASSERT_TRUE(loop_.run_until([&] { return client.t().queued_bytes() == 0; }));
  EXPECT_GE(client.drained, 1);
}

// The socket takes part of a write: the rest is queued, and later writes queue behind it
// rather than overtake it, even when the socket has room again; all of it arrives, in
// order, once the peer reads.
TEST_F(TcpTransportTest, WhatTheSocketDoesNotTakeIsQueuedInOrder) {
  const auto [c, s] = connected_pair();
  End* client = c;  // plain pointers: clang 15 cannot capture structured bindings
  End* server = s;
  server->t().stop_reading();
  shrink_buffers(*client, *server);
  constexpr size_t kFirst = 4 * 1024 * 1024;
  constexpr size_t kSecond = 1024 * 1024;
  constexpr size_t kTotal = kFirst + kSecond;
  write_pattern(*client, kFirst, 64 * 1024);
  EXPECT_GT(client->t().queued_bytes(), 0u);  // loopback cannot hold 4 MiB with 16 KiB buffers
  EXPECT_EQ(client->drained, 0);

  // The peer reads some, behind the loop's back: the client's socket has room again while
  // libuv, whose loop does not run meanwhile, still holds the queued bytes.
  uv_os_fd_t server_fd = -1;
  uv_os_fd_t client_fd = -1;
  ASSERT_EQ(uv_fileno(reinterpret_cast<uv_handle_t*>(server->tcp().stream()), &server_fd), 0);
  ASSERT_EQ(uv_fileno(reinterpret_cast<uv_handle_t*>(client->tcp().stream()), &client_fd), 0);
  std::string read_directly;
  pollfd writable{client_fd, POLLOUT, 0};
  while (poll(&writable, 1, 0) != 1) {
    char buf[64 * 1024];
    const ssize_t n = recv(server_fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      read_directly.append(buf, static_cast<size_t>(n));
    } else {  // nothing more to read yet: wait for the room the reads made (5 s at most)
      ASSERT_EQ(poll(&writable, 1, 5000), 1);
      break;
    }
  }
  ASSERT_GT(client->t().queued_bytes(), 0u);
  write_pattern(*client, kSecond, 64 * 1024, kFirst);

  server->t().start_reading();
  ASSERT_TRUE(loop_.run_until([&] { return read_directly.size() + server->received.size() >= kTotal; }));
  const std::string all = read_directly + server->received;
  EXPECT_EQ(all.size(), kTotal);
  EXPECT_TRUE(all == pattern(0, kTotal)) << "bytes lost, repeated or reordered";
  ASSERT_TRUE(loop_.run_until([&] { return client->drained >= 1; }));
  EXPECT_EQ(client->t().queued_bytes(), 0u);
  // Idle again: the next write goes straight out.
  ASSERT_EQ(client->t().write("tail"), 0);
  EXPECT_EQ(client->t().queued_bytes(), 0u);
  ASSERT_TRUE(loop_.run_until([&] { return read_directly.size() + server->received.size() == kTotal + 4; }));
  EXPECT_EQ(server->received.substr(server->received.size() - 4), "tail");
}

// A shutdown waits for the queued bytes; a write after it is refused, never sent.
TEST_F(TcpTransportTest, ShutdownAfterQueuedBytesSendsThemThenRefusesWrites) {
  const auto [c, s] = connected_pair();
  End* client = c;  // plain pointers: clang 15 cannot capture structured bindings
  End* server = s;
  server->t().stop_reading();
  shrink_buffers(*client, *server);
  constexpr size_t kTotal = 1024 * 1024;
  write_pattern(*client, kTotal, 32 * 1024);
  ASSERT_GT(client->t().queued_bytes(), 0u);
  client->t().shutdown_write();
  EXPECT_NE(client->t().write("late"), 0);
  server->t().start_reading();
  ASSERT_TRUE(loop_.run_until([&] { return server->eof; }));
  EXPECT_EQ(server->received.size(), kTotal);
  EXPECT_TRUE(server->received == pattern(0, kTotal));
  // Idle and shut down: still refused (libuv's answer, as before).
  EXPECT_NE(client->t().write("later"), 0);
}

// A write to a peer that reset the connection fails with the error libuv would report
// (EPIPE or ECONNRESET), not a signal, and queues nothing.
TEST_F(TcpTransportTest, AWriteToAResetPeerFails) {
  const auto [c, s] = connected_pair();
  End* client = c;  // plain pointers: clang 15 cannot capture structured bindings
  End* server = s;
  ASSERT_EQ(client->t().write("hello"), 0);
  ASSERT_TRUE(loop_.run_until([&] { return server->received == "hello"; }));
  ASSERT_EQ(client->t().start_reading(), 0);  // to learn of the reset
  server->t().close(true);  // RST
  ASSERT_TRUE(loop_.run_until([&] { return !client->errors.empty() || client->eof; }));
  int rc = 0;
  for (int i = 0; i < 3 && rc == 0; ++i) rc = client->t().write("after the reset");
  EXPECT_TRUE(rc == UV_EPIPE || rc == UV_ECONNRESET) << uv_err_name(rc);
  EXPECT_EQ(client->t().queued_bytes(), 0u);
}

}  // namespace
}  // namespace sidemeter::net
