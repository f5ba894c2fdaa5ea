// sidemeter: a measuring reverse-proxy sidecar. main wires the pieces: config, listeners,
// workers, metrics registry and the control loop.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "conf/config.h"
#include "metrics/registry.h"
#include "proxy/control_loop.h"
#include "proxy/demo/demo.h"
#include "proxy/fd_limit.h"
#include "proxy/log.h"
#include "proxy/memory_release.h"
#include "proxy/net/listen_socket.h"
#include "proxy/upstream_target.h"
#include "proxy/worker.h"

using namespace sidemeter;

namespace {

int fail(std::string_view event, const std::string& error) {
  log::error(event, {{"error", error}});
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  conf::Config config;
  try {
    switch (conf::parse_command_line(argc, argv, config)) {
      case conf::CliAction::kHelp:
        fputs(conf::usage_text().c_str(), stdout);
        return 0;
      case conf::CliAction::kVersion:
        printf("sidemeter %s\n", SIDEMETER_VERSION);
        return 0;
      case conf::CliAction::kRun:
        break;
    }
  } catch (const conf::ConfigError& e) {
    fprintf(stderr, "sidemeter: %s\n%s", e.what(), conf::usage_text().c_str());
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  configure_allocator();
  FdLimit fd_limit = raise_fd_limit(config.limits.max_connections);
  if (!fd_limit.enough())
    log::warn("fd_limit_low", {{"limit", fd_limit.after},
                               {"wanted", fd_limit.wanted},
                               {"max_connections", config.limits.max_connections},
                               {"note", "raise the hard RLIMIT_NOFILE (ulimit -Hn) or lower "
                                        "limits.max_connections; accepts fail beyond the limit"}});
  if (config.workers == 0) config.workers = std::max(1u, std::thread::hardware_concurrency());

  std::unique_ptr<demo::Demo> demo;
  if (!config.upstream_given) {
    demo = demo::start_demo();
    if (!demo) return fail("demo_start_failed", "could not start the demo backend");
    config.upstream = {"127.0.0.1", demo->upstream_port()};
    log::info("demo_mode", {{"upstream", config.upstream.to_string()},
                            {"hint", "no --upstream given: serving a demo backend with demo traffic"}});
  }

  // Listeners: the first socket picks the port (0 = kernel's choice), the others join it
  // through SO_REUSEPORT, one per worker.
  net::SocketAddress listen_addr;
  std::string error;
  if (net::resolve(config.listen.host, config.listen.port, listen_addr, error) != 0)
    return fail("listen_address_invalid", config.listen.host + ": " + error);
  std::vector<int> fds;
  for (uint32_t i = 0; i < config.workers; ++i) {
    int fd = net::open_listen_socket(listen_addr, 4096, error);
    if (fd < 0) return fail("listen_failed", error);
    if (i == 0) listen_addr = net::bound_address(fd);
    fds.push_back(fd);
  }

  UpstreamTarget upstream(config.upstream.host, config.upstream.port);
  if (!upstream.refresh())
    log::warn("upstream_unresolved", {{"upstream", config.upstream.to_string()},
                                      {"note", "requests get 502 until it resolves"}});

  metrics::MonotonicClock clock;
  metrics::RegistryOptions options;
  options.max_routes = config.route_cap;
  metrics::Registry registry(options, clock);

  SharedState shared;
  shared.config = &config;
  shared.upstream = &upstream;
  shared.upstream_authority = config.upstream.to_string();
  shared.clock = &clock;

  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t i = 0; i < config.workers; ++i) {
    auto& shard = registry.add_shard();
    workers.push_back(std::make_unique<Worker>(int(i), shared, fds[i], shard, shard.gauges()));
  }

  ControlLoop control(config, shared, registry, workers);
  if (!control.start_stats(error)) return fail("stats_listen_failed", error);

  std::string listen_text = conf::HostPort{listen_addr.ip(), listen_addr.port()}.to_string();
  conf::HostPort stats_hp{config.stats.host, control.stats_port()};
  std::string stats_text = stats_hp.to_string();
  log::info("listening", {{"listen", listen_text},
                          {"listen_port", unsigned(listen_addr.port())},
                          {"stats", stats_text},
                          {"stats_port", unsigned(control.stats_port())},
                          {"upstream", config.upstream.to_string()},
                          {"workers", config.workers},
                          {"fd_limit", fd_limit.after},
                          {"version", SIDEMETER_VERSION}});
  if (demo) demo->start_traffic(listen_addr.port());
  int rc = control.run();
  if (demo) demo->stop();
  return rc;
}
