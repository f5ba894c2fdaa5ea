// Snapshot publication: a reload that keeps the upstream keeps its target object (and so
// its pooled connections and reachability); one that moves it gets a fresh, unreached
// target. Generations count loads.
#include "proxy/config_snapshot.h"

#include <gtest/gtest.h>

namespace sidemeter {
namespace {

std::shared_ptr<const conf::Config> config_with_upstream(std::string host, uint16_t port,
                                                         uint64_t tunnel_idle_ms = 1000) {
  auto c = std::make_shared<conf::Config>();
  c->upstream.address = {std::move(host), port};
  c->timeouts.tunnel_idle_ms = tunnel_idle_ms;
  return c;
}

TEST(ConfigSnapshotTest, FirstLoadIsGenerationOneWithAnUnreachedTarget) {
  ConfigSnapshotPtr s = make_snapshot(config_with_upstream("127.0.0.1", 8000), nullptr);
  EXPECT_EQ(s->generation, 1u);
  EXPECT_EQ(s->upstream_authority, "127.0.0.1:8000");
  EXPECT_EQ(s->upstream->host(), "127.0.0.1");
  EXPECT_EQ(s->upstream->port(), 8000);
  EXPECT_FALSE(s->upstream->reachable());  // not ready before a connect succeeded
}

TEST(ConfigSnapshotTest, SameUpstreamKeepsTheTargetAndItsReachability) {
  ConfigSnapshotPtr a = make_snapshot(config_with_upstream("127.0.0.1", 8000), nullptr);
  a->upstream->set_reachable(true);
  ConfigSnapshotPtr b = make_snapshot(config_with_upstream("127.0.0.1", 8000, 5000), a.get());
  EXPECT_EQ(b->generation, 2u);
  EXPECT_EQ(b->upstream, a->upstream);
  EXPECT_TRUE(b->upstream->reachable());
  EXPECT_EQ(b->config->timeouts.tunnel_idle_ms, 5000u);
  // The old snapshot is untouched: connections that hold it keep their settings.
  EXPECT_EQ(a->config->timeouts.tunnel_idle_ms, 1000u);
}

TEST(ConfigSnapshotTest, MovedUpstreamGetsAFreshTarget) {
  ConfigSnapshotPtr a = make_snapshot(config_with_upstream("127.0.0.1", 8000), nullptr);
  a->upstream->set_reachable(true);
  ConfigSnapshotPtr b = make_snapshot(config_with_upstream("127.0.0.1", 8001), a.get());
  EXPECT_NE(b->upstream, a->upstream);
  EXPECT_EQ(b->upstream_authority, "127.0.0.1:8001");
  EXPECT_FALSE(b->upstream->reachable());
  EXPECT_TRUE(a->upstream->reachable());
  ConfigSnapshotPtr c = make_snapshot(config_with_upstream("::1", 8001), b.get());
  EXPECT_NE(c->upstream, b->upstream);
  EXPECT_EQ(c->upstream_authority, "[::1]:8001");
  EXPECT_EQ(c->generation, 3u);
}

// Ticket keys are made only for downstream TLS (their random bytes would start OpenSSL's
// providers, about 2 MiB resident, in a process that never speaks TLS); once made, they
// are the process's and survive reloads, TLS or not, so tickets issued before still resume.
TEST(ConfigSnapshotTest, NoTicketKeysWithoutDownstreamTlsAndMadeOnesAreKept) {
  ConfigSnapshotPtr a = make_snapshot(config_with_upstream("127.0.0.1", 8000), nullptr);
  EXPECT_EQ(a->ticket_keys, nullptr);
  ConfigSnapshotPtr b = make_snapshot(config_with_upstream("127.0.0.1", 8000), a.get());
  EXPECT_EQ(b->ticket_keys, nullptr);

  ConfigSnapshot with_keys = *b;
  with_keys.ticket_keys = std::make_shared<net::TicketKeys>();
  ConfigSnapshotPtr c = make_snapshot(config_with_upstream("127.0.0.1", 8000), &with_keys);
  EXPECT_EQ(c->ticket_keys, with_keys.ticket_keys);
}

}  // namespace
}  // namespace sidemeter
