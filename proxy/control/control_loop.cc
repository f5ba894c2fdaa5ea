#include "proxy/control/control_loop.h"

#include <unistd.h>

#include <chrono>

#include "proxy/control/metrics_tick.h"
#include "proxy/log.h"
#include "proxy/text/rfc3339.h"

namespace sidemeter {
namespace {

template <typename T>
uv_handle_t* H(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

double unix_now_s() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

std::string join(const std::vector<std::string>& lines, std::string_view sep) {
  std::string out;
  for (const std::string& l : lines) {
    if (!out.empty()) out += sep;
    out += l;
  }
  return out;
}

}  // namespace

// A loaded snapshot whose new upstream host is being resolved on the thread pool
// (getaddrinfo blocks); it is published once that is done.
struct ControlLoop::PendingSnapshot {
  uv_work_t work;
  ControlLoop* self;
  ConfigSnapshotPtr snapshot;
};

ControlLoop::ControlLoop(conf::CommandLine cli, ConfigSnapshotPtr snapshot,
                         metrics::Registry& registry, ProcessState& process,
                         std::vector<std::unique_ptr<Worker>>& workers,
                         std::optional<conf::HostPort> demo_upstream,
                         access_log::Writer* access_log)
    : cli_(std::move(cli)),
      demo_upstream_(std::move(demo_upstream)),
      current_(snapshot),
      newest_(std::move(snapshot)),
      registry_(registry),
      process_(process),
      workers_(workers),
      access_log_(access_log),
      probe_(&loop_) {
  uv_loop_init(&loop_);
  loop_.data = this;
  stats_ = std::make_unique<StatsServer>(&loop_, registry_,
                                         stats::options_from_config(*current_->config));
  alerting_ = std::make_unique<Alerting>(*current_->config, registry_);
  config_status_.hash = current_->config->hash;
  config_status_.last_reload_success_s = unix_now_s();
  // Before the first alert evaluation, so an almost expired certificate pages at once.
  std::vector<metrics::CertificateExpiry> certificates = loaded_certificates(*current_);
  warn_if_expired(certificates);
  registry_.set_certificates(std::move(certificates));
  warn_if_unverified(*current_->config);
  last_ticket_rotation_ms_ = uv_now(&loop_);
}

ControlLoop::~ControlLoop() {
  if (ran_) return;  // run() closed the loop
  // A start-up failure before run() (the stats port could not bind): let the close
  // callbacks of what was opened run, then free the loop.
  stats_->close();
  uv_run(&loop_, UV_RUN_DEFAULT);
  stats_.reset();
  uv_loop_close(&loop_);
}

bool ControlLoop::start_stats(std::string& error) { return stats_->start(error); }
uint16_t ControlLoop::stats_port() const { return stats_->port(); }

int ControlLoop::run() {
  ran_ = true;
  const conf::Config& config = *current_->config;
  auto on_signal = [](uv_signal_t* s, int signum) {
    static_cast<ControlLoop*>(s->data)->on_signal(signum);
  };
  for (auto [handle, signum] : {std::pair{&sigterm_, SIGTERM}, std::pair{&sigint_, SIGINT},
                                std::pair{&sighup_, SIGHUP}, std::pair{&sigusr1_, SIGUSR1}}) {
    uv_signal_init(&loop_, handle);
    handle->data = this;
    uv_signal_start(handle, on_signal, signum);
  }

  uv_timer_init(&loop_, &tick_timer_);
  tick_timer_.data = this;
  arm_tick();

  uv_timer_init(&loop_, &resolve_timer_);
  resolve_timer_.data = this;
  resolve_work_.data = this;
  start_resolve_timer();

  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  probe_.start(current_->upstream, config.upstream.probe_interval_ms,
               config.timeouts.upstream_connect_ms);

  exits_.open(&loop_, [this](WorkerExited& e) { on_worker_exited(e); });
  {
    // Receivers see this proxy as host:stats port (generatorURL points at /stats).
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::string instance = std::string(host[0] ? host : "localhost") + ":" +
                           std::to_string(stats_->port());
    std::string error;
    if (!alerting_->start_delivery(std::move(instance), error))
      log::error("alert_delivery_not_started", {{"error", error}});
  }
  stats_->set_reload_handler([this] { return reload("http"); });
  stats_->set_upstream_reachable([this] { return current_->upstream->reachable(); });
  if (access_log_ != nullptr) {
    stats_->set_access_log_source([this] {
      const access_log::Counters c = access_log_->counters();
      return stats::ExpositionExtras::AccessLog{c.lines_written, c.dropped_queue_full,
                                                c.dropped_write_error};
    });
  }
  update_config_status();

  bool all_started = true;
  for (auto& w : workers_) {
    w->set_on_exit([this](int index, bool loop_closed) {
      exits_.push(WorkerExited{index, loop_closed});
    });
    if (w->start()) {
      ++workers_running_;
    } else {
      all_started = false;
    }
  }
  if (all_started) {
    stats_->set_listening(true);
  } else {
    log::error("start_failed", {{"reason", "a worker could not listen"}});
    exit_code_ = kExitStartFailed;
    draining_ = true;
    broadcast(worker_command::ForceStop{});
    if (workers_running_ == 0) shutdown();
  }

  uv_run(&loop_, UV_RUN_DEFAULT);
  for (auto& w : workers_) w->join();
  int rc = uv_loop_close(&loop_);
  if (rc != 0) log::error("control_loop_not_closed", {{"rc", rc}});
  log::info("drained", {{"exit_code", exit_code_},
                        {"forced", exit_code_ == kExitDrainTimeout ||
                                       exit_code_ == kExitSecondSignal}});
  return exit_code_;
}

void ControlLoop::on_signal(int signum) {
  if (signum == SIGHUP) {
    reload("SIGHUP");
    return;
  }
  if (signum == SIGUSR1) {
    // The writer thread closes and opens the file (logged as access_log_opened).
    if (access_log_ != nullptr) access_log_->reopen();
    return;
  }
  begin_drain(signum);
}

// Once a second, a little after each of the registry's whole seconds, so every tick has
// a second to close: a repeating timer would drift by each firing's lateness, and ticking
// faster to stay aligned (4 Hz, as before) woke this thread three times a second for
// nothing, a third of its idle cost. Loop time is whole milliseconds, hence the margin; a
// tick that still lands inside the same second is ignored by the registry and re-armed.
void ControlLoop::arm_tick() {
  constexpr uint64_t kMarginMs = 2;
  uv_update_time(&loop_);
  const uint64_t ms = registry_.ns_to_next_second() / 1'000'000 + kMarginMs;
  uv_timer_start(&tick_timer_, [](uv_timer_t* t) { static_cast<ControlLoop*>(t->data)->on_tick(); },
                 ms, 0);
}

void ControlLoop::on_tick() {
  check_tls();
  uint64_t before = registry_.ticks();
  registry_.tick();
  if (registry_.ticks() != before) {
    after_registry_tick(registry_, *alerting_, *stats_, current_->upstream->reachable(),
                        text::unix_now_ms());
  }
  int64_t conns = process_.downstream_connections.load(std::memory_order_relaxed);
  int64_t peak = process_.downstream_connections_peak.exchange(conns);
  if (memory_release_.should_trim(peak, conns) && !draining_) {
    broadcast(worker_command::TrimHeap{});
    int64_t delta = release_free_memory();
    log::info("memory_released", {{"connections", conns}, {"inner_pages_kib", -delta}});
  }
  if (!stopped_) arm_tick();
}

// Said at every load that keeps it: anyone between us and the application could read
// and change the traffic.
void ControlLoop::warn_if_unverified(const conf::Config& config) {
  if (config.upstream.tls.enabled && !config.upstream.tls.verify)
    log::warn("upstream_tls_unverified", {{"note", "upstream.tls.verify is false: the "
                                                   "backend's certificate is not checked"}});
}

// An expired certificate still loads (refusing it would take the listener down with it;
// clients decide), but never silently: a warning at each load, and the expiry alert.
void ControlLoop::warn_if_expired(const std::vector<metrics::CertificateExpiry>& certificates) {
  const int64_t now = int64_t(unix_now_s());
  for (const metrics::CertificateExpiry& c : certificates) {
    if (c.not_after_unix_s <= now)
      log::warn("tls_certificate_expired", {{"name", c.name}, {"file", c.file},
                                            {"side", metrics::tls_side_name(c.side)},
                                            {"not_after_unix_s", c.not_after_unix_s}});
  }
}

// Once a second: certificates and keys replaced on disk (a Kubernetes Secret update swaps
// a symlink) are loaded without a signal, and the ticket key rotates on schedule. A
// half-written pair (certificate written, key not yet) fails to build: logged once, and
// tried again at every tick until the files agree.
void ControlLoop::check_tls() {
  if (draining_ || stopped_) return;
  const ConfigSnapshotPtr& running = newest_;
  const conf::DownstreamTls& tls = running->config->tls;
  if (tls.enabled() && tls.session_tickets &&
      uv_now(&loop_) - last_ticket_rotation_ms_ >= tls.session_ticket_rotation_ms) {
    running->ticket_keys->rotate();
    last_ticket_rotation_ms_ = uv_now(&loop_);
    log::info("tls_ticket_key_rotated", {});
  }
  if (!tls_files_changed(*running)) {
    tls_reload_error_.clear();
    return;
  }
  ConfigSnapshotPtr snapshot;
  try {
    snapshot = make_snapshot(running->config, running.get(), /*rebuild_tls=*/true);
  } catch (const net::TlsConfigError& e) {
    std::string error = join(e.problems(), "; ");
    if (error != tls_reload_error_) {
      // Counted with the other failed reloads (once per distinct failure, not per
      // retry), so a broken Secret rotation shows on /metrics, not only in the log.
      ++config_status_.reloads_failure;
      update_config_status();
      log::error("tls_reload_failed", {{"trigger", "file_change"}, {"errors", error},
                                       {"note", "the certificates in use stay; retried each second"}});
    }
    tls_reload_error_ = std::move(error);
    return;
  }
  tls_reload_error_.clear();
  newest_ = snapshot;
  ++config_status_.reloads_success;
  config_status_.last_reload_success_s = unix_now_s();
  update_config_status();
  log::info("tls_reloaded", {{"trigger", "file_change"}, {"generation", snapshot->generation}});
  publish(std::move(snapshot));
}

void ControlLoop::start_resolve_timer() {
  const uint64_t interval = current_->config->upstream.resolve_interval_ms;
  if (interval == 0) {
    uv_timer_stop(&resolve_timer_);
    return;
  }
  uv_timer_start(&resolve_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<ControlLoop*>(t->data);
    if (self->resolving_) return;
    self->resolving_ = self->current_->upstream;
    // getaddrinfo blocks: run it on libuv's thread pool, never on this loop.
    uv_queue_work(&self->loop_, &self->resolve_work_,
                  [](uv_work_t* w) { static_cast<ControlLoop*>(w->data)->resolving_->refresh(); },
                  [](uv_work_t* w, int) { static_cast<ControlLoop*>(w->data)->resolving_.reset(); });
  }, interval, interval);
}

StatsServer::ReloadAnswer ControlLoop::reload(std::string_view trigger) {
  if (draining_) {
    log::warn("config_reload_ignored", {{"trigger", trigger}, {"reason", "draining"}});
    return {false, "not reloaded: the proxy is draining\n"};
  }
  conf::LoadResult loaded = conf::load(cli_);
  if (!loaded.errors.empty()) {
    ++config_status_.reloads_failure;
    update_config_status();
    log::error("config_reload_failed", {{"trigger", trigger},
                                        {"errors", join(loaded.errors, "; ")},
                                        {"error_count", uint64_t(loaded.errors.size())},
                                        {"config_hash", newest_->config->hash}});
    return {false, "not reloaded, the running configuration stays:\n" +
                       join(loaded.errors, "\n") + "\n"};
  }
  const conf::Config& running = *newest_->config;
  // Compared with what runs (not with the last file), so the warning repeats on every
  // reload for as long as the file and the process disagree.
  std::vector<std::string> restart = conf::restart_only_changes(running, *loaded.config);
  auto effective =
      std::make_shared<conf::Config>(conf::keep_restart_only_keys(running, *loaded.config));
  if (demo_upstream_) effective->upstream.address = *demo_upstream_;
  std::shared_ptr<const conf::Config> config = std::move(effective);
  ConfigSnapshotPtr snapshot;
  try {
    // TLS contexts are rebuilt when their keys or their files changed (a certificate
    // renewed in place counts), else kept with their session cache.
    snapshot = make_snapshot(config, newest_.get());
  } catch (const net::TlsConfigError& e) {
    std::vector<std::string> placed;
    for (const std::string& p : e.problems())
      placed.push_back(conf::place_problem(loaded.where, config->source_path, p));
    ++config_status_.reloads_failure;
    update_config_status();
    log::error("config_reload_failed", {{"trigger", trigger},
                                        {"errors", join(placed, "; ")},
                                        {"error_count", uint64_t(placed.size())},
                                        {"config_hash", newest_->config->hash}});
    return {false, "not reloaded, the running configuration stays:\n" + join(placed, "\n") + "\n"};
  }
  newest_ = snapshot;
  ++config_status_.reloads_success;
  config_status_.last_reload_success_s = unix_now_s();
  update_config_status();
  std::string restart_text = join(restart, ",");
  log::info("config_reloaded", {{"trigger", trigger},
                                {"config_hash", config->hash},
                                {"generation", snapshot->generation},
                                {"upstream", snapshot->upstream_authority}});
  if (!restart.empty())
    log::warn("config_restart_required", {{"keys", restart_text},
                                          {"note", "these keys keep their running values "
                                                   "until the process restarts"}});
  if (snapshot->upstream != current_->upstream) {
    auto* p = new PendingSnapshot{{}, this, snapshot};
    p->work.data = p;
    uv_queue_work(&loop_, &p->work,
                  [](uv_work_t* w) { static_cast<PendingSnapshot*>(w->data)->snapshot->upstream->refresh(); },
                  [](uv_work_t* w, int) {
                    std::unique_ptr<PendingSnapshot> done(static_cast<PendingSnapshot*>(w->data));
                    done->self->publish(std::move(done->snapshot));
                  });
  } else {
    publish(snapshot);
  }
  std::string body = "reloaded: config_hash=" + config->hash + "\n";
  if (!restart.empty()) body += "restart required to apply: " + restart_text + "\n";
  return {true, body};
}

void ControlLoop::publish(ConfigSnapshotPtr snapshot) {
  // A later reload superseded this one while its upstream resolved; or we are stopping.
  if (snapshot != newest_ || stopped_) return;
  // Held until the end: once current_ moves on, the workers may drop the old snapshot at
  // any moment (they adopt the new one on their own threads), and `before` must outlive
  // every comparison below. (ASan caught the reference dangling in a clean-clone run.)
  const ConfigSnapshotPtr previous = current_;
  const conf::Config& before = *previous->config;
  const conf::Config& after = *snapshot->config;
  net::SocketAddress resolved;
  if (snapshot->upstream != current_->upstream && !snapshot->upstream->current(resolved))
    log::warn("upstream_unresolved", {{"upstream", snapshot->upstream_authority},
                                      {"note", "requests get 502 until it resolves"}});
  current_ = snapshot;
  broadcast(worker_command::ApplyConfig{snapshot});
  std::vector<metrics::CertificateExpiry> certificates = loaded_certificates(*snapshot);
  warn_if_expired(certificates);
  registry_.set_certificates(std::move(certificates));
  warn_if_unverified(after);
  std::string error;
  if (!stats_->reconfigure(stats::options_from_config(after), error))
    log::warn("stats_reconfigure_failed", {{"error", error}});
  probe_.reconfigure(snapshot->upstream, after.upstream.probe_interval_ms,
                     after.timeouts.upstream_connect_ms);
  if (after.routes.patterns != before.routes.patterns)
    registry_.routes().set_patterns(after.routes.patterns);
  if (after.routes != before.routes) {
    registry_.routes().set_admission({after.routes.admission_hits, after.routes.admission_window_s,
                                      after.routes.eviction_min_idle_s});
  }
  if (after.alerts != before.alerts || after.slos != before.slos) alerting_->reconfigure(after);
  if (after.upstream.resolve_interval_ms != before.upstream.resolve_interval_ms)
    start_resolve_timer();
  // The workers take sampling and queue size from the snapshot; the writer the path.
  if (access_log_ != nullptr) access_log_->set_path(after.access_log.path);
}

void ControlLoop::broadcast(const WorkerCommand& command) {
  // A worker that has finished refuses the command; nothing needs it any more.
  for (auto& w : workers_) w->send(command);
}

void ControlLoop::update_config_status() {
  config_status_.hash = newest_->config->hash;
  stats_->set_config_status(config_status_);
}

void ControlLoop::begin_drain(int signum) {
  if (draining_) {
    log::warn("second_signal_forcing_stop", {{"signal", signum}});
    force_stop(kExitSecondSignal);
    return;
  }
  draining_ = true;
  stats_->set_draining(true);  // /readyz answers 503 from now on
  const conf::Timeouts& t = current_->config->timeouts;
  log::info("draining", {{"signal", signum},
                         {"drain_delay_ms", t.drain_delay_ms},
                         {"drain_timeout_ms", t.drain_timeout_ms}});
  // Keep accepting for drain_delay so load balancers see the failing readiness first.
  uv_timer_start(&drain_timer_, [](uv_timer_t* timer) {
    auto* self = static_cast<ControlLoop*>(timer->data);
    self->broadcast(worker_command::Drain{});
    const conf::Timeouts& to = self->current_->config->timeouts;
    uint64_t rest = to.drain_timeout_ms > to.drain_delay_ms ? to.drain_timeout_ms - to.drain_delay_ms : 1;
    uv_timer_start(&self->drain_timer_, [](uv_timer_t* t2) {
      auto* s = static_cast<ControlLoop*>(t2->data);
      log::warn("drain_timeout", {{"workers_running", uint64_t(s->workers_running_)}});
      s->force_stop(kExitDrainTimeout);
    }, rest, 0);
  }, t.drain_delay_ms, 0);
}

void ControlLoop::force_stop(int exit_code) {
  if (exit_code_ == kExitOk) exit_code_ = exit_code;
  uv_timer_stop(&drain_timer_);
  broadcast(worker_command::ForceStop{});
}

void ControlLoop::on_worker_exited(const WorkerExited& e) {
  if (!e.loop_closed) log::error("worker_loop_not_closed", {{"worker", e.index}});
  if (--workers_running_ == 0) shutdown();
}

void ControlLoop::shutdown() {
  stopped_ = true;
  // Firing alerts still reach Alertmanager's own expiry (endsAt) if nothing follows.
  alerting_->stop_delivery();
  stats_->close();
  probe_.close();
  uv_close(H(&sigterm_), nullptr);
  uv_close(H(&sigint_), nullptr);
  uv_close(H(&sighup_), nullptr);
  uv_close(H(&sigusr1_), nullptr);
  uv_close(H(&tick_timer_), nullptr);
  uv_close(H(&resolve_timer_), nullptr);
  uv_close(H(&drain_timer_), nullptr);
  exits_.close();
}

}  // namespace sidemeter
