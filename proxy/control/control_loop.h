#pragma once
// The control thread: signals, configuration reloads (SIGHUP, POST /-/reload), the
// once-a-second metrics tick and alert evaluation, upstream re-resolution and probing,
// the stats port, memory release and the drain sequence. Workers never wait on it; it reaches them only through
// their command queues.
#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "metrics/registry.h"
#include "proxy/access_log/writer.h"
#include "proxy/config_snapshot.h"
#include "proxy/control/alerting.h"
#include "proxy/memory_release.h"
#include "proxy/process_state.h"
#include "proxy/stats/stats_server.h"
#include "proxy/upstream/upstream_probe.h"
#include "proxy/worker/worker.h"
#include "proxy/worker/command_queue.h"

namespace sidemeter {

// Exit codes (usage_text() and the README list them too).
inline constexpr int kExitOk = 0;             // drained: every exchange finished
inline constexpr int kExitStartFailed = 1;    // a listener could not bind, the demo failed
inline constexpr int kExitConfigError = 2;    // invalid configuration or flags
inline constexpr int kExitDrainTimeout = 3;   // drain_timeout passed: the rest was closed
inline constexpr int kExitSecondSignal = 4;   // a second SIGTERM/SIGINT forced the stop

class ControlLoop {
 public:
  // `cli` is kept: every reload reads the same file and applies the same flags over it.
  // `demo_upstream`, when set, replaces the upstream of every loaded config (--demo).
  // `access_log` (may be null): gets each published access_log.path, and SIGUSR1.
  ControlLoop(conf::CommandLine cli, ConfigSnapshotPtr snapshot, metrics::Registry& registry,
              ProcessState& process, std::vector<std::unique_ptr<Worker>>& workers,
              std::optional<conf::HostPort> demo_upstream,
              access_log::Writer* access_log = nullptr);
  ~ControlLoop();
  // Binds the stats port; false with `error` set.
  bool start_stats(std::string& error);
  uint16_t stats_port() const;
  // Starts the workers and runs until every one has finished. Returns the exit code.
  int run();

  // Reads the configuration again and applies it; what POST /-/reload answers.
  StatsServer::ReloadAnswer reload(std::string_view trigger);

 private:
  struct WorkerExited {
    int index;
    bool loop_closed;
  };
  struct PendingSnapshot;

  void on_signal(int signum);
  void begin_drain(int signum);
  void force_stop(int exit_code);
  void arm_tick();
  void on_tick();
  void check_tls();
  static void warn_if_unverified(const conf::Config& config);
  static void warn_if_expired(const std::vector<metrics::CertificateExpiry>& certificates);
  void start_resolve_timer();
  void publish(ConfigSnapshotPtr snapshot);
  void broadcast(const WorkerCommand& command);
  void on_worker_exited(const WorkerExited& e);
  void shutdown();
  void update_config_status();

  conf::CommandLine cli_;
  std::optional<conf::HostPort> demo_upstream_;
  ConfigSnapshotPtr current_;  // in force on the workers (or on their way)
  ConfigSnapshotPtr newest_;   // the newest valid load; differs while its upstream resolves
  metrics::Registry& registry_;
  ProcessState& process_;
  std::vector<std::unique_ptr<Worker>>& workers_;
  access_log::Writer* access_log_;
  uv_loop_t loop_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  uv_signal_t sighup_;
  uv_signal_t sigusr1_;  // reopen the access log (logrotate)
  uv_timer_t tick_timer_;
  uv_timer_t resolve_timer_;
  uv_timer_t drain_timer_;
  CommandQueue<WorkerExited> exits_;
  uv_work_t resolve_work_;
  std::shared_ptr<UpstreamTarget> resolving_;  // the target the thread pool resolves now
  std::unique_ptr<StatsServer> stats_;
  std::unique_ptr<Alerting> alerting_;
  UpstreamProbe probe_;
  MemoryRelease memory_release_;
  StatsServer::ConfigStatus config_status_;
  size_t workers_running_ = 0;
  int exit_code_ = kExitOk;
  bool draining_ = false;
  bool stopped_ = false;
  bool ran_ = false;
  uint64_t last_ticket_rotation_ms_ = 0;  // loop time of the last ticket key rotation
  std::string tls_reload_error_;  // the last failed rebuild after a file change, logged once
};

}  // namespace sidemeter
