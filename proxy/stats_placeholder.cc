// Used only until proxy/stats/ provides the real StatsServer: binds the stats port and
// answers nothing, so the binary links and reports its port.
#include "proxy/net/listen_socket.h"
#include "proxy/stats/stats_server.h"

namespace sidemeter {

struct StatsServer::Impl {
  uv_loop_t* loop;
  const conf::Config& config;
  uv_tcp_t tcp;
  uint16_t port = 0;
  bool open = false;
};

StatsServer::StatsServer(uv_loop_t* loop, const conf::Config& config, metrics::Registry&,
                         SharedState&)
    : impl_(new Impl{loop, config, {}, 0, false}) {}
StatsServer::~StatsServer() = default;

bool StatsServer::start(std::string& error) {
  net::SocketAddress addr;
  if (net::resolve(impl_->config.stats.host, impl_->config.stats.port, addr, error) != 0)
    return false;
  int fd = net::open_listen_socket(addr, 128, error);
  if (fd < 0) return false;
  impl_->port = net::bound_address(fd).port();
  uv_tcp_init(impl_->loop, &impl_->tcp);
  uv_tcp_open(&impl_->tcp, fd);
  impl_->open = true;
  return true;
}
uint16_t StatsServer::port() const { return impl_->port; }
void StatsServer::on_tick() {}
void StatsServer::close() {
  if (impl_->open) uv_close(reinterpret_cast<uv_handle_t*>(&impl_->tcp), nullptr);
  impl_->open = false;
}

}  // namespace sidemeter
