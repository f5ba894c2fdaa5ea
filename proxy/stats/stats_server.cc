#include "proxy/stats/stats_server.h"

#include <strings.h>

#include <memory>
#include <vector>

#include "proxy/log.h"
#include "proxy/net/listen_socket.h"
#include "proxy/net/socket_address.h"
#include "proxy/stats/dashboard.h"
#include "proxy/stats/json_format.h"
#include "proxy/stats/prometheus_format.h"
#include "proxy/stats/query_params.h"
#include "proxy/stats/stats_connection.h"
#include "proxy/stats/statsd_format.h"
#include "proxy/text/json_writer.h"
#include "proxy/text/rfc3339.h"

namespace sidemeter {
namespace {

using stats::StatsConnection;
using stats::StatsRequest;

template <typename T>
uv_handle_t* H(T* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

enum StreamFormat : int { kSse = 1, kNdjson = 2 };

constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kJson = "application/json";

// Compares in time independent of where the first difference is, so response timing does
// not reveal how much of a guessed token was right.
bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The dashboard draws everything itself: no script, style, font or image from elsewhere.
constexpr std::string_view kDashboardHeaders =
    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
    "frame-ancestors 'none'\r\n"
    "Referrer-Policy: no-referrer\r\n";

}  // namespace

struct StatsServer::Impl final : stats::StatsConnectionOwner {
  Impl(uv_loop_t* l, metrics::Registry& r, stats::StatsOptions o)
      : loop(l),
        registry(r),
        options(std::move(o)),
        statsd_format(stats::StatsdFormatOptions{options.statsd_prefix,
                                                 options.statsd_dogstatsd_tags, 1432}) {
    limits.max_subscriber_buffer_bytes = options.max_subscriber_buffer_bytes;
    limits.max_response_backlog_bytes = options.max_response_backlog_bytes;
    limits.idle_timeout_ms = options.idle_timeout_ms;
  }

  // --- lifecycle ---
  bool start(std::string& error);
  bool open_statsd(const conf::HostPort& address, std::string& error);
  void close_statsd();
  bool reconfigure(const stats::StatsOptions& o, std::string& error);
  void close();
  void handle_closed() {
    --open_handles;
    maybe_free();
  }
  void maybe_free() {
    if (orphaned && open_handles == 0 && connections == nullptr) delete this;
  }

  // --- requests ---
  void on_request(StatsConnection& c, const StatsRequest& r) override;
  void on_closed(StatsConnection& c) override;
  static void on_connection(uv_stream_t* server, int status);
  bool authorized(const StatsRequest& r) const;
  void serve_readyz(StatsConnection& c);
  void serve_metrics(StatsConnection& c, const StatsRequest& r);
  void serve_stats(StatsConnection& c, const StatsRequest& r);
  void serve_stream(StatsConnection& c, const StatsRequest& r);
  void serve_history(StatsConnection& c);
  void serve_reload(StatsConnection& c);
  bool upstream_up() const { return upstream_source ? upstream_source() : upstream_reachable; }
  bool ready() const { return listening && proxy_listening && upstream_up() && !draining; }
  stats::JsonExtras json_extras() const {
    stats::JsonExtras x{upstream_up(), draining, config_status.hash, alerts.get()};
    x.tls_configured = tls_configured();
    x.now_unix_ms = text::unix_now_ms();
    return x;
  }
  std::array<bool, metrics::kTlsSides> tls_configured() const {
    std::array<bool, metrics::kTlsSides> out{};
    out[size_t(metrics::TlsSide::kDownstream)] = options.tls_downstream;
    out[size_t(metrics::TlsSide::kUpstream)] = options.tls_upstream;
    return out;
  }

  // --- ticks ---
  const metrics::Snapshot& snapshot();
  std::shared_ptr<const std::string> frame();
  const std::string& history_json();
  void push_frames();
  void flush_statsd();
  bool send_frame(StatsConnection& c, const std::shared_ptr<const std::string>& f);

  uv_loop_t* loop;
  metrics::Registry& registry;
  stats::StatsOptions options;
  stats::ConnectionLimits limits;
  ConfigStatus config_status;
  std::function<ReloadAnswer()> reload_handler;
  std::function<stats::ExpositionExtras::AccessLog()> access_log_source;

  uv_tcp_t listener{};
  uv_udp_t udp{};
  bool listening = false;
  bool udp_open = false;
  bool closed = false;
  bool orphaned = false;
  int open_handles = 0;  // listener and UDP socket
  uint16_t port = 0;
  bool upstream_reachable = false;
  std::function<bool()> upstream_source;  // when set, wins over upstream_reachable
  bool proxy_listening = false;
  bool draining = false;

  StatsConnection* connections = nullptr;  // intrusive list of live connections
  Counters counters;

  std::shared_ptr<const metrics::alerts::Status> alerts;
  std::vector<AlertDeliveryCount> deliveries;

  // Everything the endpoints serve between two ticks comes from one snapshot.
  std::shared_ptr<const metrics::Snapshot> latest;
  std::shared_ptr<const std::string> latest_frame;  // JSON of `latest` for the stream
  // /stats/history of the current tick: built by the first request after a tick, then
  // shared by every dashboard that opens until the next tick.
  std::string history_body;
  bool history_valid = false;
  uint32_t ticks_since_frame = 0;
  uint32_t ticks_since_statsd = 0;

  net::SocketAddress statsd_addr;
  stats::StatsdFormatter statsd_format;
  std::vector<std::string> statsd_packets;
};

bool StatsServer::Impl::start(std::string& error) {
  net::SocketAddress addr;
  if (net::resolve(options.address.host, options.address.port, addr, error) != 0) return false;
  const int fd = net::open_listen_socket(addr, net::PortSharing::kExclusive, error);
  if (fd < 0) return false;
  port = net::bound_address(fd).port();
  uv_tcp_init(loop, &listener);
  listener.data = this;
  ++open_handles;
  int rc = uv_tcp_open(&listener, fd);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 128, on_connection);
  if (rc != 0) {
    error = std::string("stats listen: ") + uv_strerror(rc);
    uv_close(H(&listener), [](uv_handle_t* h) { static_cast<Impl*>(h->data)->handle_closed(); });
    return false;
  }
  listening = true;
  if (options.statsd.port != 0 && !open_statsd(options.statsd, error)) {
    close();
    return false;
  }
  return true;
}

bool StatsServer::Impl::open_statsd(const conf::HostPort& address, std::string& error) {
  net::SocketAddress resolved;
  if (net::resolve(address.host, address.port, resolved, error) != 0) {
    error = "statsd address: " + error;
    return false;
  }
  statsd_addr = resolved;
  if (!udp_open) {
    uv_udp_init(loop, &udp);
    udp.data = this;
    ++open_handles;
    udp_open = true;
  }
  return true;
}

void StatsServer::Impl::close_statsd() {
  if (!udp_open) return;
  udp_open = false;
  uv_close(H(&udp), [](uv_handle_t* h) { static_cast<Impl*>(h->data)->handle_closed(); });
}

bool StatsServer::Impl::reconfigure(const stats::StatsOptions& o, std::string& error) {
  if (closed) return true;
  if (o.statsd.port == 0) {
    close_statsd();
  } else if (!(o.statsd == options.statsd) || !udp_open) {
    if (!open_statsd(o.statsd, error)) return false;
  }
  const conf::HostPort address = options.address;  // restart-only
  const bool flavor_changed = o.statsd_prefix != options.statsd_prefix ||
                              o.statsd_dogstatsd_tags != options.statsd_dogstatsd_tags;
  options = o;
  options.address = address;
  // Connections accepted from now on get these; open ones keep the limits they had.
  limits.max_subscriber_buffer_bytes = options.max_subscriber_buffer_bytes;
  limits.max_response_backlog_bytes = options.max_response_backlog_bytes;
  limits.idle_timeout_ms = options.idle_timeout_ms;
  // The formatter keeps the previous flush's counters (StatsD sends deltas): only its
  // naming changes, so no delta is sent twice.
  if (flavor_changed)
    statsd_format.set_options(stats::StatsdFormatOptions{options.statsd_prefix,
                                                         options.statsd_dogstatsd_tags, 1432});
  return true;
}

void StatsServer::Impl::close() {
  if (closed) return;
  closed = true;
  auto done = [](uv_handle_t* h) { static_cast<Impl*>(h->data)->handle_closed(); };
  if (listening) {
    listening = false;
    uv_close(H(&listener), done);
  }
  if (udp_open) {
    udp_open = false;
    uv_close(H(&udp), done);
  }
  for (StatsConnection* c = connections; c != nullptr; c = c->next) c->close();
}

void StatsServer::Impl::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<Impl*>(server->data);
  if (status != 0 || self->closed) return;
  StatsConnection* c = StatsConnection::accept(server, *self, self->limits);
  if (c == nullptr) return;
  c->next = self->connections;
  if (self->connections) self->connections->prev = c;
  self->connections = c;
  ++self->counters.connections;
  if (self->counters.connections > self->options.max_connections) {
    ++self->counters.connections_refused;
    c->close();
  }
}

void StatsServer::Impl::on_closed(StatsConnection& c) {
  if (c.prev) c.prev->next = c.next;
  if (c.next) c.next->prev = c.prev;
  if (connections == &c) connections = c.next;
  --counters.connections;
  if (c.stream_format != 0) --counters.stream_subscribers;
  maybe_free();
}

bool StatsServer::Impl::authorized(const StatsRequest& r) const {
  if (options.bearer_token.empty()) return true;
  constexpr std::string_view kBearer = "Bearer ";
  const std::string_view auth = r.authorization;
  if (auth.size() > kBearer.size() && strncasecmp(auth.data(), "bearer ", 7) == 0) {
    return constant_time_equal(auth.substr(kBearer.size()), options.bearer_token);
  }
  // EventSource cannot send headers, so the dashboard passes the token in the query.
  std::string token;
  if (stats::query_param(r.target, "token", token) == stats::QueryStatus::kFound) {
    return constant_time_equal(token, options.bearer_token);
  }
  return false;
}

void StatsServer::Impl::on_request(StatsConnection& c, const StatsRequest& r) {
  const std::string_view path = r.path;
  if (path == "/-/reload") {
    if (!authorized(r)) {
      ++counters.unauthorized;
      c.respond(401, kText, "Unauthorized: a valid bearer token is required\n",
                "WWW-Authenticate: Bearer realm=\"sidemeter\"\r\n");
    } else if (r.method != http::Method::kPost) {
      c.respond(405, kText, "Method Not Allowed: POST /-/reload reloads the configuration\n",
                "Allow: POST\r\n");
    } else {
      serve_reload(c);
    }
    return;
  }
  if (r.method != http::Method::kGet && r.method != http::Method::kHead) {
    c.respond(405, kText, "Method Not Allowed: the stats port only answers GET and HEAD\n",
              "Allow: GET, HEAD\r\n");
    return;
  }
  if (path == "/healthz") {
    c.respond(200, kText, "ok\n");
    return;
  }
  if (path == "/readyz") {
    serve_readyz(c);
    return;
  }
  // The page holds no data: a browser loads it without a token, then its own requests
  // carry the one from the URL (#token=… never reaches a server or proxy log).
  if (path == "/" || path == "/index.html") {
    c.respond(200, "text/html; charset=utf-8", stats::dashboard_html(), kDashboardHeaders);
    return;
  }
  if (!authorized(r)) {
    ++counters.unauthorized;
    c.respond(401, kText, "Unauthorized: a valid bearer token is required\n",
              "WWW-Authenticate: Bearer realm=\"sidemeter\"\r\n");
    return;
  }
  if (path == "/metrics") {
    serve_metrics(c, r);
  } else if (path == "/stats") {
    serve_stats(c, r);
  } else if (path == "/stats/stream") {
    serve_stream(c, r);
  } else if (path == "/stats/history") {
    serve_history(c);
  } else {
    c.respond(404, kText,
              "Not Found: try /, /metrics, /stats, /stats/stream, /stats/history, /healthz, "
              "/readyz or POST /-/reload\n");
  }
}

void StatsServer::Impl::serve_readyz(StatsConnection& c) {
  if (ready()) {
    c.respond(200, kText, "ready\n");
    return;
  }
  std::string body = "not ready:";
  if (!listening || !proxy_listening) body += " not_listening";
  if (!upstream_up()) body += " upstream_unreachable";
  if (draining) body += " draining";
  body += '\n';
  c.respond(503, kText, body);
}

void StatsServer::Impl::serve_metrics(StatsConnection& c, const StatsRequest& r) {
  stats::ExpositionFormat format = stats::negotiate_exposition(r.accept);
  std::string f;
  const stats::QueryStatus asked = stats::query_param(r.target, "format", f);
  if (asked == stats::QueryStatus::kFound && f == "openmetrics") {
    format = stats::ExpositionFormat::kOpenMetrics;
  } else if (asked == stats::QueryStatus::kFound && (f == "prometheus" || f == "text")) {
    format = stats::ExpositionFormat::kPrometheusText;
  } else if (asked == stats::QueryStatus::kFound && f == "protobuf") {
    format = stats::ExpositionFormat::kProtobuf;
  } else if (asked != stats::QueryStatus::kAbsent) {
    // A scraper told to use a format we do not have must hear so, not get another one.
    c.respond(400, kText, "Bad Request: format must be text, prometheus, openmetrics or protobuf\n");
    return;
  }
  stats::ExpositionExtras extras;
  extras.upstream_up = upstream_up();
  extras.stats_unauthorized = counters.unauthorized;
  extras.stream_subscribers = counters.stream_subscribers;
  extras.stream_dropped = counters.stream_dropped;
  extras.config_hash = config_status.hash;
  extras.config_reloads_success = config_status.reloads_success;
  extras.config_reloads_failure = config_status.reloads_failure;
  extras.config_last_reload_success_s = config_status.last_reload_success_s;
  extras.alerts = alerts.get();
  std::vector<stats::ExpositionExtras::Delivery> deliveries_view;
  deliveries_view.reserve(deliveries.size());
  for (const AlertDeliveryCount& d : deliveries)
    deliveries_view.push_back({d.receiver, d.success, d.failure, d.dropped});
  extras.deliveries = deliveries_view;
  if (access_log_source) extras.access_log = access_log_source();
  extras.tls_configured = tls_configured();
  extras.request_duration_bounds = options.request_duration_bounds;
  extras.route_request_duration_bounds = options.route_request_duration_bounds;
  std::string body;
  body.reserve(64 * 1024);
  stats::append_exposition(snapshot(), extras, format, body);
  c.respond(200, stats::exposition_content_type(format), body);
}

void StatsServer::Impl::serve_stats(StatsConnection& c, const StatsRequest& r) {
  stats::JsonFilter filter;
  std::string window, route, method;
  switch (stats::query_param(r.target, "window", window)) {
    case stats::QueryStatus::kFound: {
      const auto w = stats::parse_window(window);
      if (!w) {
        c.respond(400, kText, "Bad Request: window must be one of 1s, 10s, 1m, 5m, total\n");
        return;
      }
      filter.windows = filter.route_windows = stats::window_bit(*w);
      break;
    }
    case stats::QueryStatus::kMalformed:
      c.respond(400, kText, "Bad Request: malformed window parameter\n");
      return;
    case stats::QueryStatus::kAbsent:
      break;
  }
  if (stats::query_param(r.target, "route", route) == stats::QueryStatus::kMalformed ||
      stats::query_param(r.target, "method", method) == stats::QueryStatus::kMalformed) {
    c.respond(400, kText, "Bad Request: malformed route or method parameter\n");
    return;
  }
  filter.route = route;
  filter.method = method;
  const stats::JsonExtras extras = json_extras();
  std::string body;
  body.reserve(16 * 1024);
  stats::append_stats_json(snapshot(), extras, filter, body);
  body += '\n';
  c.respond(200, kJson, body);
}

void StatsServer::Impl::serve_stream(StatsConnection& c, const StatsRequest& r) {
  std::string format;
  stats::query_param(r.target, "format", format);
  if (r.head) {
    c.respond(200, format == "ndjson" ? "application/x-ndjson" : "text/event-stream", "");
    return;
  }
  if (format == "ndjson") {
    c.stream_format = kNdjson;
    c.start_stream("application/x-ndjson", "");
  } else if (format.empty() || format == "sse") {
    c.stream_format = kSse;
    // Reconnect quickly after a restart of the proxy.
    c.start_stream("text/event-stream", "retry: 1000\n\n");
  } else {
    c.respond(400, kText, "Bad Request: format must be sse or ndjson\n");
    return;
  }
  ++counters.stream_subscribers;
  // The newest frame at once, so a fresh dashboard has something to draw.
  send_frame(c, frame());
}

void StatsServer::Impl::serve_history(StatsConnection& c) { c.respond(200, kJson, history_json()); }

void StatsServer::Impl::serve_reload(StatsConnection& c) {
  ++counters.reload_requests;
  if (!reload_handler) {
    c.respond(503, kText, "Service Unavailable: reload is not possible yet\n");
    return;
  }
  // The handler may reconfigure this server (and so `options`) before the answer goes out.
  ReloadAnswer a = reload_handler();
  c.respond(a.ok ? 200 : 500, kText, a.body);
}

const std::string& StatsServer::Impl::history_json() {
  if (!history_valid) {
    history_body.clear();
    stats::append_history_json(registry.history(), history_body);
    history_body += '\n';
    history_valid = true;
  }
  return history_body;
}

bool StatsServer::Impl::send_frame(StatsConnection& c,
                                   const std::shared_ptr<const std::string>& f) {
  bool ok;
  if (c.stream_format == kSse) {
    std::string prefix = "id: ";
    text::append_uint(prefix, snapshot().ticks);
    prefix += "\ndata: ";
    ok = c.push_frame(prefix, f, "\n\n");
  } else {
    ok = c.push_frame({}, f, "\n");
  }
  if (!ok) ++counters.stream_dropped;
  return ok;
}

const metrics::Snapshot& StatsServer::Impl::snapshot() {
  // Built at the first read after a tick and kept until the next: the windows only move at
  // ticks, and every endpoint of the same second agrees (the cumulative parts read from the
  // shards, series and service-wide histograms alike, are as of this first read).
  if (!latest) latest = std::make_shared<const metrics::Snapshot>(registry.snapshot());
  return *latest;
}

std::shared_ptr<const std::string> StatsServer::Impl::frame() {
  if (!latest_frame) {
    stats::JsonFilter filter;
    filter.windows = stats::kAllWindows;
    // Per route, the last second and the last minute: enough for a live table, and the
    // frame stays small with many routes.
    filter.route_windows =
        stats::window_bit(metrics::Window::k1s) | stats::window_bit(metrics::Window::k1m);
    const stats::JsonExtras extras = json_extras();
    auto f = std::make_shared<std::string>();
    f->reserve(16 * 1024);
    stats::append_stats_json(snapshot(), extras, filter, *f);
    latest_frame = std::move(f);
    ++counters.frames_built;
  }
  return latest_frame;
}

void StatsServer::Impl::push_frames() {
  if (counters.stream_subscribers == 0) return;
  const std::shared_ptr<const std::string> f = frame();
  for (StatsConnection* c = connections; c != nullptr; c = c->next) {
    if (c->stream_format == 0 || c->closing()) continue;
    if (!send_frame(*c, f)) c->close();  // fell behind: drop it rather than buffer more
  }
}

void StatsServer::Impl::flush_statsd() {
  statsd_packets.clear();
  statsd_format.format(snapshot(), stats::statsd_window_for(options.statsd_interval_s),
                       upstream_up(), statsd_packets);
  for (std::string& p : statsd_packets) {
    const uv_buf_t buf = uv_buf_init(p.data(), unsigned(p.size()));
    // Never queue: a datagram the kernel cannot take right now is lost, like any UDP.
    const int rc = uv_udp_try_send(&udp, &buf, 1, statsd_addr.get());
    if (rc >= 0) {
      ++counters.statsd_packets_sent;
    } else {
      ++counters.statsd_packets_failed;
    }
  }
}

StatsServer::StatsServer(uv_loop_t* loop, metrics::Registry& registry,
                         stats::StatsOptions options)
    : impl_(std::make_unique<Impl>(loop, registry, std::move(options))) {}

StatsServer::~StatsServer() {
  impl_->close();
  if (impl_->open_handles > 0 || impl_->connections != nullptr) {
    // Close callbacks still reference the internals: they free them after the last one.
    impl_->orphaned = true;
    impl_.release();
  }
}

bool StatsServer::start(std::string& error) { return impl_->start(error); }
uint16_t StatsServer::port() const { return impl_->port; }
void StatsServer::close() { impl_->close(); }
void StatsServer::set_upstream_reachable(bool reachable) {
  impl_->upstream_source = nullptr;
  impl_->upstream_reachable = reachable;
}
void StatsServer::set_upstream_reachable(std::function<bool()> source) {
  impl_->upstream_source = std::move(source);
}
void StatsServer::set_listening(bool listening) { impl_->proxy_listening = listening; }
void StatsServer::set_draining(bool draining) {
  impl_->draining = draining;
  impl_->latest_frame.reset();  // frames say "draining" too
}
void StatsServer::set_config_status(const ConfigStatus& status) {
  impl_->config_status = status;
  impl_->latest_frame.reset();
}
void StatsServer::set_reload_handler(std::function<ReloadAnswer()> handler) {
  impl_->reload_handler = std::move(handler);
}
void StatsServer::set_access_log_source(
    std::function<stats::ExpositionExtras::AccessLog()> source) {
  impl_->access_log_source = std::move(source);
}
bool StatsServer::reconfigure(const stats::StatsOptions& options, std::string& error) {
  return impl_->reconfigure(options, error);
}
bool StatsServer::ready() const { return impl_->ready(); }
StatsServer::Counters StatsServer::counters() const { return impl_->counters; }

void StatsServer::set_alerts(std::shared_ptr<const metrics::alerts::Status> status,
                             std::vector<AlertDeliveryCount> deliveries) {
  impl_->alerts = std::move(status);
  impl_->deliveries = std::move(deliveries);
}

void StatsServer::on_tick() {
  Impl& s = *impl_;
  if (s.closed) return;
  s.latest.reset();
  s.latest_frame.reset();
  s.history_valid = false;
  if (++s.ticks_since_frame >= s.options.stream_interval_s) {
    s.ticks_since_frame = 0;
    s.push_frames();
  }
  if (s.udp_open && ++s.ticks_since_statsd >= s.options.statsd_interval_s) {
    s.ticks_since_statsd = 0;
    s.flush_statsd();
  }
}

}  // namespace sidemeter
