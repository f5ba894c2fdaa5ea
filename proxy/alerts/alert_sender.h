#pragma once
// Alert delivery off the data path: a thread of its own with its own libuv loop, so a slow
// or dead receiver never touches traffic nor delays the control loop's tick. The control
// thread hands each evaluation's result over with submit(), which copies it into a
// command queue (a mutex and a uv_async_send) and returns.
//
// Receivers: every URL in alertmanager_urls (each gets every message: an HA pair) and
// every URL in webhook_urls. Documents: proxy/alerts/alert_payload.h.
//
// Alertmanager, per submit():
//  - an alert that starts firing, or one that stops (a firing alert now ok or pending, or
//    gone from `alerts`), makes a message at once: every firing alert (endsAt = now +
//    4 × resend_interval, as Prometheus does, so Alertmanager resolves them itself if we
//    die) plus the resolved ones (endsAt = when they resolved, once);
//  - otherwise, while something fires, the firing set is re-sent every resend_interval
//    (timed by submit()'s now_unix_ms, i.e. by the evaluations);
//  - pending alerts are never sent.
// Webhook: one message per submit() with a non-empty `changes` (every transition,
// including ok → pending).
//
// Per receiver: a FIFO of at most queue_max messages waiting besides the one in flight (a
// new one beyond that drops the oldest waiting one, counted `dropped`), one request in
// flight, timeout_ms per attempt (name resolution included).
// A connect/resolve/IO failure, a timeout, a 5xx or a 429 counts `failure` and the same
// message is retried after a backoff (0.5 s doubling to 30 s, ±20 % jitter; reset by a
// success). Any other non-2xx (a 4xx) counts `failure` and the message is given up (it
// would fail again). A 2xx counts `success`. Messages still waiting at stop(), or at a
// reload that removes their receiver, count `dropped`.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "conf/config.h"
#include "metrics/alerts/engine.h"

namespace sidemeter::alerts {

class AlertSender {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // `labels`: conf::Alerts::labels, added to every alert. `instance`: the proxy's
  // host:port, sent as the `instance` label (unless `labels` has one) and in generatorURL.
  AlertSender(conf::AlertDelivery delivery, Labels labels, std::string instance);
  ~AlertSender();  // stop()
  AlertSender(const AlertSender&) = delete;
  AlertSender& operator=(const AlertSender&) = delete;

  // Starts the thread; false with `error` set when the loop cannot be set up.
  bool start(std::string& error);
  // Cancels what is in flight, drops what waits (counted) and joins the thread. Any
  // thread but the sender's; idempotent. submit() after stop() does nothing.
  void stop();

  // A reload: receivers whose kind and URL stay keep their queue and counters; removed
  // ones drop what they hold (counted); new ones start empty. Timeout, queue bound and
  // resend interval apply from the next message; labels from the next document.
  void reconfigure(conf::AlertDelivery delivery, Labels labels);

  // Control thread, once per evaluation: copies the transitions and the firing alerts (the
  // only ones ever sent) into the queue and returns; never waits
  // beyond the queue's mutex. `alerts` is the whole current state (Engine::status()),
  // `changes` this evaluation's transitions.
  void submit(const std::vector<metrics::alerts::Transition>& changes,
              const std::vector<metrics::alerts::AlertState>& alerts, uint64_t now_unix_ms);

  // For sidemeter_alert_deliveries_total{receiver,result}: one entry per receiver ever
  // configured (counters survive a reload that removes the receiver; its `queued` is 0).
  struct ReceiverCounters {
    std::string receiver;  // the URL, "http://host:port/path"
    std::string kind;      // "alertmanager" or "webhook"
    uint64_t success = 0;  // messages delivered (2xx)
    uint64_t failure = 0;  // failed attempts (each retry counts)
    uint64_t dropped = 0;  // messages given up unsent: queue overflow, stop, reload
    uint64_t queued = 0;   // messages waiting now, the one in flight included
  };
  std::vector<ReceiverCounters> counters() const;  // any thread

  // After stop(): uv_loop_close()'s result; 0 means every handle was closed. -1 before.
  int loop_close_result() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sidemeter::alerts
