#include "proxy/alerts/alert_sender.h"

#include <pthread.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <variant>

#include "proxy/alerts/alert_payload.h"
#include "proxy/alerts/http_post.h"
#include "proxy/log.h"
#include "proxy/text/json_writer.h"
#include "proxy/worker/command_queue.h"

namespace sidemeter::alerts {
namespace {

using metrics::alerts::AlertState;
using metrics::alerts::State;
using metrics::alerts::Transition;

constexpr uint64_t kFirstBackoffMs = 500;
constexpr uint64_t kMaxBackoffMs = 30'000;

enum class Kind : uint8_t { kAlertmanager, kWebhook };
std::string_view kind_name(Kind k) { return k == Kind::kAlertmanager ? "alertmanager" : "webhook"; }

// <base path>/api/v2/alerts, whatever the base ends with.
std::string alertmanager_target(const conf::HttpUrl& url) {
  std::string base = url.path;
  size_t q = base.find('?');
  if (q != std::string::npos) base.resize(q);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/api/v2/alerts";
}

struct SubmitCmd {
  std::vector<Transition> changes;
  std::vector<AlertState> alerts;
  uint64_t now_unix_ms = 0;
};
struct ReconfigureCmd {
  conf::AlertDelivery delivery;
  AlertSender::Labels labels;
};
struct StopCmd {};
using Command = std::variant<SubmitCmd, ReconfigureCmd, StopCmd>;

struct Message {
  std::string target;
  std::string body;
};

}  // namespace

struct AlertSender::Impl {
  struct Receiver {
    Impl* impl = nullptr;
    Kind kind = Kind::kWebhook;
    conf::HttpUrl url;
    std::string name;
    size_t counter = 0;  // index into counters
    std::deque<Message> queue;  // the front is the one in flight or waiting for a retry
    HttpPost* in_flight = nullptr;
    uv_timer_t retry_timer;
    bool retry_armed = false;
    uint64_t backoff_ms = 0;
    std::string last_failure;  // what was logged last; "" = delivering fine
    uint64_t failures_since_success = 0;
    bool dropping_logged = false;
  };
  struct Firing {
    AlertState alert;
    uint64_t starts_at_unix_ms = 0;
  };

  // Set before start(), then owned by the loop thread.
  conf::AlertDelivery delivery;
  Labels labels;
  std::string instance;

  uv_loop_t loop;
  CommandQueue<Command> commands;
  std::thread thread;
  std::mutex lifecycle_mu;  // start/stop/reconfigure before the thread runs
  bool started = false;
  bool stopped = false;
  std::atomic<int> loop_close_rc{-1};

  mutable std::mutex counters_mu;
  std::vector<ReceiverCounters> counters;

  // Loop thread only.
  std::vector<Receiver*> receivers;
  std::map<std::string, Firing> firing;  // by alert_key, what Alertmanager was told fires
  uint64_t next_resend_unix_ms = 0;
  std::mt19937_64 rng{std::random_device{}()};

  // ---- counters (any thread reads) ----
  size_t counter_for(Kind kind, const std::string& name) {
    std::lock_guard lock(counters_mu);
    for (size_t i = 0; i < counters.size(); ++i)
      if (counters[i].receiver == name && counters[i].kind == kind_name(kind)) return i;
    ReceiverCounters c;
    c.receiver = name;
    c.kind = std::string(kind_name(kind));
    counters.push_back(std::move(c));
    return counters.size() - 1;
  }
  void count(Receiver* r, uint64_t ReceiverCounters::*field, uint64_t n = 1) {
    std::lock_guard lock(counters_mu);
    counters[r->counter].*field += n;
    counters[r->counter].queued = r->queue.size();
  }
  void update_queued(Receiver* r) {
    std::lock_guard lock(counters_mu);
    counters[r->counter].queued = r->queue.size();
  }

  // ---- receivers ----
  void add_receiver(Kind kind, const conf::HttpUrl& url) {
    auto* r = new Receiver();
    r->impl = this;
    r->kind = kind;
    r->url = url;
    r->name = url.to_string();
    r->counter = counter_for(kind, r->name);
    uv_timer_init(&loop, &r->retry_timer);
    r->retry_timer.data = r;
    receivers.push_back(r);
    update_queued(r);
  }

  void remove_receiver(Receiver* r) {
    if (r->in_flight != nullptr) {
      r->in_flight->cancel();
      r->in_flight = nullptr;
    }
    uint64_t dropped = r->queue.size();
    r->queue.clear();
    count(r, &ReceiverCounters::dropped, dropped);
    uv_timer_stop(&r->retry_timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&r->retry_timer),
             [](uv_handle_t* h) { delete static_cast<Receiver*>(h->data); });
  }

  void create_receivers() {
    for (const auto& u : delivery.alertmanager_urls) add_receiver(Kind::kAlertmanager, u);
    for (const auto& u : delivery.webhook_urls) add_receiver(Kind::kWebhook, u);
  }

  void enqueue(Receiver* r, Message m) {
    size_t bound = std::max<size_t>(1, delivery.queue_max);
    size_t in_flight = r->in_flight != nullptr ? 1 : 0;
    uint64_t dropped = 0;
    while (r->queue.size() - in_flight >= bound) {
      r->queue.erase(r->queue.begin() + ptrdiff_t(in_flight));
      ++dropped;
    }
    r->queue.push_back(std::move(m));
    if (dropped > 0) {
      count(r, &ReceiverCounters::dropped, dropped);
      if (!r->dropping_logged) {
        r->dropping_logged = true;
        log::warn("alert_delivery_queue_full", {{"receiver", r->name},
                                                {"kind", kind_name(r->kind)},
                                                {"queue_max", uint64_t(bound)}});
      }
    } else {
      update_queued(r);
    }
    pump(r);
  }

  void pump(Receiver* r) {
    if (r->in_flight != nullptr || r->retry_armed || r->queue.empty()) return;
    const Message& m = r->queue.front();
    r->in_flight = HttpPost::start(&loop, r->url, m.target, m.body, delivery.timeout_ms,
                                   [this, r](const PostResult& res) { on_result(r, res); });
  }

  void on_result(Receiver* r, const PostResult& res) {
    r->in_flight = nullptr;
    bool ok = res.kind == PostResult::Kind::kHttp && res.status >= 200 && res.status < 300;
    if (ok) {
      r->queue.pop_front();
      count(r, &ReceiverCounters::success);
      if (r->failures_since_success > 0) {
        log::info("alert_delivery_recovered", {{"receiver", r->name},
                                               {"kind", kind_name(r->kind)},
                                               {"failed_attempts", r->failures_since_success}});
      }
      r->failures_since_success = 0;
      r->last_failure.clear();
      r->backoff_ms = 0;
      r->dropping_logged = false;
      pump(r);
      return;
    }
    bool retry = res.kind != PostResult::Kind::kHttp || res.status >= 500 || res.status == 429;
    std::string what(post_result_kind_name(res.kind));
    if (res.kind == PostResult::Kind::kHttp) {
      what += ' ';
      text::append_uint(what, uint64_t(res.status));
    } else if (!res.detail.empty()) {
      what += ' ';
      what += res.detail;
    }
    ++r->failures_since_success;
    if (!retry) r->queue.pop_front();  // a 4xx: the same document would fail again
    count(r, &ReceiverCounters::failure);
    if (what != r->last_failure) {
      r->last_failure = what;
      log::warn("alert_delivery_failed", {{"receiver", r->name},
                                          {"kind", kind_name(r->kind)},
                                          {"error", what},
                                          {"retried", retry}});
    }
    if (!retry) {
      pump(r);
      return;
    }
    r->backoff_ms = r->backoff_ms == 0 ? kFirstBackoffMs : std::min(kMaxBackoffMs, r->backoff_ms * 2);
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    auto delay = uint64_t(double(r->backoff_ms) * jitter(rng));
    r->retry_armed = true;
    uv_timer_start(&r->retry_timer, [](uv_timer_t* t) {
      auto* rr = static_cast<Receiver*>(t->data);
      rr->retry_armed = false;
      rr->impl->pump(rr);
    }, delay, 0);
  }

  // ---- commands ----
  void on_command(Command& c) {
    if (auto* s = std::get_if<SubmitCmd>(&c)) return on_submit(*s);
    if (auto* rc = std::get_if<ReconfigureCmd>(&c)) return on_reconfigure(*rc);
    shut_down();
  }

  void on_submit(SubmitCmd& s) {
    uint64_t now = s.now_unix_ms;
    // Alertmanager: what fires now against what it was told fires.
    std::map<std::string, Firing> now_firing;
    for (const AlertState& a : s.alerts) {
      if (a.state != State::kFiring) continue;
      std::string key = alert_key(a);
      auto prev = firing.find(key);
      uint64_t starts = a.active_since_unix_ms != 0 ? a.active_since_unix_ms : a.since_unix_ms;
      if (prev != firing.end() && starts == 0) starts = prev->second.starts_at_unix_ms;
      now_firing[key] = Firing{a, starts};
    }
    bool started = false;
    for (const auto& [key, f] : now_firing)
      if (firing.find(key) == firing.end()) started = true;

    std::vector<Firing> resolved;  // with their resolve times in resolved_at
    std::vector<uint64_t> resolved_at;
    auto resolve_time = [&](const std::string& key, const AlertState** latest) -> uint64_t {
      for (const Transition& t : s.changes) {
        if (t.from == State::kFiring && t.alert.state != State::kFiring && alert_key(t.alert) == key) {
          *latest = &t.alert;
          return t.alert.since_unix_ms != 0 ? t.alert.since_unix_ms : now;
        }
      }
      return now;
    };
    for (const auto& [key, f] : firing) {
      if (now_firing.count(key) != 0) continue;
      const AlertState* latest = nullptr;
      uint64_t at = resolve_time(key, &latest);
      Firing r{latest != nullptr ? *latest : f.alert, f.starts_at_unix_ms};
      resolved.push_back(std::move(r));
      resolved_at.push_back(std::max(at, f.starts_at_unix_ms));
    }
    // Resolves of alerts this sender never saw firing (started after, or a reload).
    for (const Transition& t : s.changes) {
      if (t.from != State::kFiring || t.alert.state == State::kFiring) continue;
      std::string key = alert_key(t.alert);
      if (firing.count(key) != 0 || now_firing.count(key) != 0) continue;
      resolved.push_back(Firing{t.alert, 0});
      resolved_at.push_back(t.alert.since_unix_ms != 0 ? t.alert.since_unix_ms : now);
    }
    firing = std::move(now_firing);

    bool due = !firing.empty() && now >= next_resend_unix_ms;
    if (started || !resolved.empty() || due) {
      uint64_t ends = now + 4 * delivery.resend_interval_ms;
      std::vector<AmAlert> batch;
      batch.reserve(firing.size() + resolved.size());
      for (const auto& [key, f] : firing) batch.push_back({&f.alert, f.starts_at_unix_ms, ends});
      for (size_t i = 0; i < resolved.size(); ++i)
        batch.push_back({&resolved[i].alert, resolved[i].starts_at_unix_ms, resolved_at[i]});
      bool any = false;
      std::string body;
      for (Receiver* r : receivers) {
        if (r->kind != Kind::kAlertmanager) continue;
        if (!any) body = alertmanager_body(batch, labels, instance);
        any = true;
        enqueue(r, Message{alertmanager_target(r->url), body});
      }
      if (!firing.empty()) next_resend_unix_ms = now + delivery.resend_interval_ms;
    }

    if (!s.changes.empty()) {
      bool any = false;
      std::string body;
      for (Receiver* r : receivers) {
        if (r->kind != Kind::kWebhook) continue;
        if (!any) body = webhook_body(s.changes, labels, instance, now);
        any = true;
        enqueue(r, Message{r->url.path.empty() ? "/" : r->url.path, body});
      }
    }
  }

  void on_reconfigure(ReconfigureCmd& c) {
    std::vector<std::pair<Kind, conf::HttpUrl>> wanted;
    for (const auto& u : c.delivery.alertmanager_urls) wanted.emplace_back(Kind::kAlertmanager, u);
    for (const auto& u : c.delivery.webhook_urls) wanted.emplace_back(Kind::kWebhook, u);
    std::vector<Receiver*> kept;
    for (Receiver* r : receivers) {
      bool keep = false;
      for (const auto& [k, u] : wanted)
        if (k == r->kind && u == r->url) keep = true;
      if (keep) {
        kept.push_back(r);
      } else {
        remove_receiver(r);
      }
    }
    receivers = std::move(kept);
    delivery = std::move(c.delivery);
    labels = std::move(c.labels);
    bool new_alertmanager = false;
    for (const auto& [k, u] : wanted) {
      bool have = false;
      for (Receiver* r : receivers)
        if (r->kind == k && r->url == u) have = true;
      if (have) continue;
      add_receiver(k, u);
      if (k == Kind::kAlertmanager) new_alertmanager = true;
    }
    // A new Alertmanager hears what fires at the next evaluation, not a resend later.
    if (new_alertmanager) next_resend_unix_ms = 0;
    // A smaller bound applies now.
    size_t bound = std::max<size_t>(1, delivery.queue_max);
    for (Receiver* r : receivers) {
      size_t in_flight = r->in_flight != nullptr ? 1 : 0;
      uint64_t dropped = 0;
      while (r->queue.size() - in_flight > bound) {
        r->queue.erase(r->queue.begin() + ptrdiff_t(in_flight));
        ++dropped;
      }
      if (dropped > 0) count(r, &ReceiverCounters::dropped, dropped);
    }
  }

  void shut_down() {
    for (Receiver* r : receivers) remove_receiver(r);
    receivers.clear();
    commands.close();
  }

  void run() {
    pthread_setname_np(pthread_self(), "sm-alerts");
    uv_run(&loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop);
    if (rc != 0) {
      log::error("alert_loop_not_closed", {{"error", uv_strerror(rc)}});
      uv_walk(&loop, [](uv_handle_t* h, void*) {
        log::error("alert_handle_open", {{"type", uv_handle_type_name(uv_handle_get_type(h))},
                                         {"closing", uv_is_closing(h) != 0}});
      }, nullptr);
    }
    loop_close_rc.store(rc);
  }
};

AlertSender::AlertSender(conf::AlertDelivery delivery, Labels labels, std::string instance)
    : impl_(std::make_unique<Impl>()) {
  impl_->delivery = std::move(delivery);
  impl_->labels = std::move(labels);
  impl_->instance = std::move(instance);
}

AlertSender::~AlertSender() { stop(); }

bool AlertSender::start(std::string& error) {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->started || impl_->stopped) {
    error = "alert sender already started";
    return false;
  }
  int rc = uv_loop_init(&impl_->loop);
  if (rc != 0) {
    error = std::string("alert sender loop: ") + uv_strerror(rc);
    return false;
  }
  rc = impl_->commands.open(&impl_->loop, [this](Command& c) { impl_->on_command(c); });
  if (rc != 0) {
    error = std::string("alert sender queue: ") + uv_strerror(rc);
    uv_loop_close(&impl_->loop);
    return false;
  }
  // Before the thread runs, this thread may still touch the loop.
  impl_->create_receivers();
  impl_->started = true;
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
  return true;
}

void AlertSender::stop() {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (!impl_->started || impl_->stopped) {
    impl_->stopped = true;
    return;
  }
  impl_->stopped = true;
  impl_->commands.push(StopCmd{});
  impl_->thread.join();
}

void AlertSender::reconfigure(conf::AlertDelivery delivery, Labels labels) {
  std::lock_guard lock(impl_->lifecycle_mu);
  if (impl_->stopped) return;
  if (!impl_->started) {
    impl_->delivery = std::move(delivery);
    impl_->labels = std::move(labels);
    return;
  }
  impl_->commands.push(ReconfigureCmd{std::move(delivery), std::move(labels)});
}

void AlertSender::submit(const std::vector<Transition>& changes,
                         const std::vector<AlertState>& alerts, uint64_t now_unix_ms) {
  // Only firing alerts matter to the loop (pending ones are never sent): copy those.
  SubmitCmd cmd;
  cmd.changes = changes;
  for (const AlertState& a : alerts)
    if (a.state == State::kFiring) cmd.alerts.push_back(a);
  cmd.now_unix_ms = now_unix_ms;
  impl_->commands.push(std::move(cmd));
}

std::vector<AlertSender::ReceiverCounters> AlertSender::counters() const {
  std::lock_guard lock(impl_->counters_mu);
  return impl_->counters;
}

int AlertSender::loop_close_result() const { return impl_->loop_close_rc.load(); }

}  // namespace sidemeter::alerts
