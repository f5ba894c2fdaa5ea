// sidemeter: a measuring reverse-proxy sidecar. main only wires: flags → conf::load →
// listeners, workers, registry → ControlLoop::run.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "conf/config.h"
#include "metrics/registry.h"
#include "proxy/access_log/recorder.h"
#include "proxy/access_log/writer.h"
#include "proxy/config_snapshot.h"
#include "proxy/control/cpu_quota.h"
#include "proxy/control/control_loop.h"
#include "proxy/demo/demo.h"
#include "proxy/fd_limit.h"
#include "proxy/log.h"
#include "proxy/memory_release.h"
#include "proxy/net/listen_socket.h"
#include "proxy/process_state.h"
#include "proxy/worker/worker.h"

using namespace sidemeter;

namespace {

int start_failed(std::string_view event, const std::string& address, const std::string& error) {
  log::error(event, {{"address", address}, {"error", error}});
  fprintf(stderr, "sidemeter: %s: %s\n", address.c_str(), error.c_str());
  return kExitStartFailed;
}

// Certificates, keys and cipher policies are only known good once OpenSSL has read
// them: same shape (FILE:LINE:COL of the key) and exit code as the loader's errors. The
// loader has already checked that every file exists and is readable.
int tls_config_failed(const conf::Config& config, const std::map<std::string, std::string>& where,
                      const net::TlsConfigError& e) {
  for (const std::string& p : e.problems())
    fprintf(stderr, "%s\n", conf::place_problem(where, config.source_path, p).c_str());
  fprintf(stderr, "sidemeter: %zu TLS configuration error%s\n", e.problems().size(),
          e.problems().size() == 1 ? "" : "s");
  return kExitConfigError;
}

}  // namespace

int main(int argc, char** argv) {
  conf::CommandLine cli;
  try {
    cli = conf::parse_command_line(argc, argv);
  } catch (const conf::ConfigError& e) {
    fprintf(stderr, "sidemeter: %s\n%s", e.what(), conf::usage_text().c_str());
    return kExitConfigError;
  }
  switch (cli.action) {
    case conf::CliAction::kHelp:
      fputs(conf::usage_text().c_str(), stdout);
      return kExitOk;
    case conf::CliAction::kVersion:
      printf("sidemeter %s\n", SIDEMETER_VERSION);
      return kExitOk;
    default:
      break;
  }
  conf::LoadResult loaded = conf::load(cli);
  if (!loaded.errors.empty()) {
    for (const std::string& e : loaded.errors) fprintf(stderr, "%s\n", e.c_str());
    fprintf(stderr, "sidemeter: %zu configuration error%s\n", loaded.errors.size(),
            loaded.errors.size() == 1 ? "" : "s");
    return kExitConfigError;
  }
  if (cli.action == conf::CliAction::kCheckConfig) {
    try {
      make_snapshot(loaded.config, nullptr);
    } catch (const net::TlsConfigError& e) {
      return tls_config_failed(*loaded.config, loaded.where, e);
    }
    printf("%s: ok (config_hash %s)\n",
           loaded.config->source_path.empty() ? "defaults" : loaded.config->source_path.c_str(),
           loaded.config->hash.c_str());
    return kExitOk;
  }
  if (cli.action == conf::CliAction::kPrintConfig) {
    fputs(conf::print_config(*loaded.config).c_str(), stdout);
    return kExitOk;
  }
  std::shared_ptr<const conf::Config> config = std::move(loaded.config);

  signal(SIGPIPE, SIG_IGN);
  configure_allocator();
  FdLimit fd_limit = raise_fd_limit(config->limits.max_connections);
  const uint32_t workers_count =
      config->workers != 0 ? config->workers : control::default_worker_count();
  const uint64_t fd_cap = connection_cap(fd_limit.after, workers_count);
  if (!fd_limit.enough() || fd_cap < config->limits.max_connections)
    log::warn("fd_limit_low", {{"limit", fd_limit.after},
                               {"wanted", fd_limit.wanted},
                               {"max_connections", config->limits.max_connections},
                               {"max_connections_effective",
                                std::min<uint64_t>(fd_cap, config->limits.max_connections)},
                               {"note", "raise the hard RLIMIT_NOFILE (ulimit -Hn) or lower "
                                        "limits.max_connections; connections beyond the "
                                        "effective limit get 503"}});

  std::unique_ptr<demo::Demo> demo;
  std::optional<conf::HostPort> demo_upstream;
  if (config->demo) {
    demo = demo::start_demo();
    if (!demo) return start_failed("demo_start_failed", "127.0.0.1:0", "could not start the demo backend");
    demo_upstream = conf::HostPort{"127.0.0.1", demo->upstream_port()};
    auto c = std::make_shared<conf::Config>(*config);
    c->upstream.address = *demo_upstream;
    config = std::move(c);
    log::info("demo_mode", {{"upstream", demo_upstream->to_string()},
                            {"note", "--demo: serving a built-in demo backend with demo traffic"}});
  }

  // Listeners: the first socket picks the port (0 = kernel's choice), the others join it
  // through SO_REUSEPORT, one per worker. One that cannot bind is fatal: a sidecar that
  // silently listens nowhere would look healthy to everything but its clients. They are
  // bound here and listen only once the stats port (exclusive) is bound too: a second
  // instance started on the same addresses exits before it could take any of the first
  // one's connections.
  const std::string listen_text = config->listen.to_string();
  net::SocketAddress listen_addr;
  std::string error;
  if (net::resolve(config->listen.host, config->listen.port, listen_addr, error) != 0)
    return start_failed("listen_failed", listen_text, error);
  std::vector<int> fds;
  for (uint32_t i = 0; i < workers_count; ++i) {
    int fd = net::open_listen_socket(listen_addr, net::PortSharing::kShared, error);
    if (fd < 0) {
      for (int f : fds) close(f);
      return start_failed("listen_failed", listen_text, error);
    }
    if (i == 0) listen_addr = net::bound_address(fd);
    fds.push_back(fd);
  }

  ConfigSnapshotPtr snapshot;
  try {
    snapshot = make_snapshot(config, nullptr);
  } catch (const net::TlsConfigError& e) {
    for (int f : fds) close(f);
    return tls_config_failed(*config, loaded.where, e);
  }
  if (!snapshot->upstream->refresh())
    log::warn("upstream_unresolved", {{"upstream", snapshot->upstream_authority},
                                      {"note", "requests get 502 until it resolves"}});

  metrics::MonotonicClock clock;
  metrics::RegistryOptions options;
  options.max_routes = config->routes.max;
  options.route_patterns = config->routes.patterns;
  options.route_admission = {config->routes.admission_hits, config->routes.admission_window_s,
                             config->routes.eviction_min_idle_s};
  metrics::Registry registry(options, clock);

  ProcessState process;
  process.clock = &clock;
  process.connection_cap_by_fds.store(int64_t(std::min<uint64_t>(fd_cap, INT64_MAX)),
                                      std::memory_order_relaxed);
  // The access log: one queue and one fan-out recorder per worker, one writer thread
  // (started now if access_log.path is set, else by the first reload that sets it).
  access_log::Writer access_log(config->access_log.path);
  std::vector<std::unique_ptr<access_log::AccessLogRecorder>> access_recorders;
  std::vector<std::unique_ptr<Worker>> workers;
  for (uint32_t i = 0; i < workers_count; ++i) {
    auto& shard = registry.add_shard();
    auto& queue = access_log.add_buffer(config->access_log.queue_max_bytes);
    access_recorders.push_back(
        std::make_unique<access_log::AccessLogRecorder>(int(i), shard, queue, registry.routes()));
    workers.push_back(std::make_unique<Worker>(int(i), process, fds[i], shard, shard.gauges(),
                                               snapshot, access_recorders.back().get(),
                                               &shard.tls()));
  }
  access_log.start();

  ControlLoop control(cli, snapshot, registry, process, workers, demo_upstream, &access_log);
  if (!control.start_stats(error))
    return start_failed("stats_listen_failed", config->stats.address.to_string(), error);
  // From here connections queue until the workers accept them: "listening" below is true.
  for (int fd : fds) {
    if (net::start_listening(fd, 4096, error) != 0)
      return start_failed("listen_failed", listen_text, error);
  }

  conf::HostPort listen_hp{listen_addr.ip(), listen_addr.port()};
  conf::HostPort stats_hp{config->stats.address.host, control.stats_port()};
  log::info("listening", {{"listen", listen_hp.to_string()},
                          {"listen_port", unsigned(listen_addr.port())},
                          {"stats", stats_hp.to_string()},
                          {"stats_port", unsigned(control.stats_port())},
                          {"upstream", snapshot->upstream_authority},
                          {"tls", config->tls.enabled()},
                          {"upstream_tls", config->upstream.tls.enabled},
                          {"workers", workers_count},
                          {"fd_limit", fd_limit.after},
                          {"config_hash", config->hash},
                          {"version", SIDEMETER_VERSION}});
  if (demo && config->tls.enabled()) {
    // The demo's traffic generator speaks plain HTTP; against a TLS listener it would
    // only fill plain_http failures. The demo backend still serves real clients.
    log::warn("demo_traffic_skipped", {{"reason", "the listener speaks TLS"}});
  } else if (demo) {
    demo->start_traffic(listen_addr.port());
  }
  int rc = control.run();
  access_log.stop();  // the workers are done: write what they queued
  if (demo) demo->stop();
  return rc;
}
