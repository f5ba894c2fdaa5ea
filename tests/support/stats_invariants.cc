#include "tests/support/stats_invariants.h"

#include <cmath>
#include <sstream>

#include "tests/support/exposition_check.h"
#include "tests/support/http_message.h"
#include "tests/support/raw_client.h"

namespace sidemeter::testing {
namespace {

// The status classes as /stats names them, and the first code of each.
constexpr std::string_view kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

class Findings {
 public:
  explicit Findings(StatsReport& r) : r_(r) {}
  void add(std::string_view rule, std::string message) {
    r_.findings.push_back({std::string(rule), std::move(message)});
  }
  template <typename A, typename B>
  void eq(std::string_view rule, std::string_view what, const A& got, const B& want) {
    if (!(got == want)) {
      std::ostringstream m;
      m << what << ": got " << got << ", want " << want;
      add(rule, m.str());
    }
  }

 private:
  StatsReport& r_;
};

uint64_t u(const JsonValue& doc, std::string_view path) {
  std::optional<double> v = json_number(doc, path);
  return v ? uint64_t(*v) : UINT64_MAX;
}

// Every number directly inside the object at `path`.
std::map<std::string, uint64_t> members(const JsonValue& doc, std::string_view path) {
  std::map<std::string, uint64_t> out;
  const JsonValue* j = doc.at(path);
  if (j == nullptr || !j->is_object()) return out;
  for (const auto& [k, v] : j->object) {
    if (v.is_number()) out[k] = uint64_t(v.number);
  }
  return out;
}

uint64_t sum(const std::map<std::string, uint64_t>& m) {
  uint64_t s = 0;
  for (const auto& [k, v] : m) s += v;
  return s;
}

struct Rest {
  bool at_rest = false;
  std::string why;  // what is not at rest yet
};

Rest at_rest(const JsonValue& frame, const StatsExpect& want) {
  Rest r;
  std::ostringstream why;
  auto gauge = [&](std::string_view name, uint64_t expected) {
    const uint64_t got = u(frame, "connections." + std::string(name));
    if (got != expected) why << name << "=" << got << " (want " << expected << ") ";
  };
  gauge("downstream_active", want.downstream_active);
  gauge("requests_active", 0);
  gauge("tunnels_active", 0);
  gauge("upstream_active", want.upstream_active);
  if (want.requests) {
    const uint64_t got = u(frame, "windows.total.requests");
    if (got == UINT64_MAX || got < *want.requests)
      why << "requests=" << got << " (want " << *want.requests << ") ";
  }
  r.why = why.str();
  r.at_rest = r.why.empty();
  return r;
}

// Reads /stats/stream frames (one per tick) over one connection.
class FrameReader {
 public:
  explicit FrameReader(uint16_t port) : client_(port) {}

  bool open(Deadline deadline) {
    if (!client_.connected()) return false;
    if (!client_.send("GET /stats/stream?format=ndjson HTTP/1.1\r\nHost: stats\r\n\r\n", deadline))
      return false;
    Socket& s = client_.socket();
    size_t pos = 0;
    if (s.fill_until("\r\n\r\n", deadline, &pos) != IoStatus::kOk) return false;
    if (s.buffer().compare(0, 12, "HTTP/1.1 200") != 0) return false;
    s.take(pos + 4);
    return true;
  }

  std::optional<JsonValue> next(Deadline deadline) {
    Socket& s = client_.socket();
    size_t nl = 0;
    if (s.fill_until("\n", deadline, &nl) != IoStatus::kOk) return std::nullopt;
    return parse_json(s.take(nl + 1));
  }

 private:
  RawClient client_;
};

// A counter as /metrics writes it: OpenMetrics and Prometheus text differ on `_total`.
double counter(const ExpositionCheck& m, const std::string& name,
               const std::vector<std::pair<std::string, std::string>>& labels = {}) {
  if (m.count(name + "_total") > 0) return m.sum(name + "_total", labels);
  return m.sum(name, labels);
}

void check_stats_alone(const JsonValue& doc, Findings& f) {
  const std::string w = "windows.total.";
  const uint64_t requests = u(doc, w + "requests");
  const auto classes = members(doc, w + "status");
  const auto codes = members(doc, w + "status_codes");
  uint64_t class_sum = 0;
  for (size_t i = 0; i < std::size(kClasses); ++i) {
    const std::string cls(kClasses[i]);
    uint64_t from_codes = 0;
    for (const auto& [code, n] : codes) {
      if (!code.empty() && code[0] == char('1' + i)) from_codes += n;
    }
    const auto it = classes.find(cls);
    const uint64_t n = it == classes.end() ? 0 : it->second;
    f.eq("status", "status codes of class " + cls + " vs status." + cls, from_codes, n);
    class_sum += n;
  }
  if (class_sum > requests) {
    f.add("status", "status classes sum to " + std::to_string(class_sum) + " > requests " +
                        std::to_string(requests));
  }
  const uint64_t errors = u(doc, w + "errors");
  const uint64_t five = classes.count("5xx") ? classes.at("5xx") : 0;
  if (errors > requests) f.add("errors", "errors " + std::to_string(errors) + " > requests");
  if (errors < five) {
    f.add("errors", "errors " + std::to_string(errors) + " < 5xx sent " + std::to_string(five));
  }
  const JsonValue* windows = doc.get("windows");
  if (windows != nullptr && windows->is_object()) {
    for (const auto& [name, win] : windows->object) {
      const JsonValue* rate = win.get("error_rate");
      if (rate != nullptr && rate->is_number() && (rate->number > 1.0 || rate->number < 0)) {
        f.add("errors", "window " + name + " error_rate " + std::to_string(rate->number));
      }
    }
  }
  const auto up = members(doc, w + "upstream_errors");
  const auto down = members(doc, w + "downstream_errors");
  const auto rejected = members(doc, w + "rejected");
  // An error is a 5xx sent or an upstream failure (one exchange may be both).
  if (errors < sum(up) || errors > five + sum(up)) {
    f.add("errors", "errors " + std::to_string(errors) + " outside [upstream failures " +
                        std::to_string(sum(up)) + ", 5xx + upstream failures " +
                        std::to_string(five + sum(up)) + "]");
  }
  if (sum(up) > requests) f.add("upstream_errors", "more upstream errors than requests");
  if (sum(down) > requests) f.add("downstream_errors", "more downstream errors than requests");
  const uint64_t rejected_kind = down.count("request_rejected") ? down.at("request_rejected") : 0;
  f.eq("rejected", "rejected reasons vs downstream_errors.request_rejected", sum(rejected),
       rejected_kind);
}

void check_expected(const JsonValue& doc, const StatsExpect& want, Findings& f) {
  const std::string w = "windows.total.";
  const uint64_t requests = u(doc, w + "requests");
  if (want.requests) f.eq("requests", "requests", requests, *want.requests);
  uint64_t class_sum = 0;
  for (const auto& [k, n] : members(doc, w + "status")) class_sum += n;
  if (want.no_status) {
    f.eq("status", "exchanges without a status (requests - classes)", requests - class_sum,
         *want.no_status);
  }
  if (!want.status_codes.empty()) {
    std::map<std::string, uint64_t> expected;
    for (const auto& [code, n] : want.status_codes) expected[std::to_string(code)] = n;
    auto got = members(doc, w + "status_codes");
    for (auto it = got.begin(); it != got.end();) it = it->second == 0 ? got.erase(it) : ++it;
    for (auto it = expected.begin(); it != expected.end();)
      it = it->second == 0 ? expected.erase(it) : ++it;
    for (const auto& [code, n] : expected) {
      f.eq("status", "status_codes." + code, got.count(code) ? got.at(code) : 0, n);
    }
    for (const auto& [code, n] : got) {
      if (!expected.count(code)) f.add("status", "unexpected status_codes." + code + " = " +
                                                     std::to_string(n));
    }
  }
  if (want.errors) f.eq("errors", "errors", u(doc, w + "errors"), *want.errors);
  auto kinds = [&](std::string_view rule, const std::string& path,
                   const std::map<std::string, uint64_t>& expected) {
    const auto got = members(doc, path);
    for (const auto& [k, n] : expected) {
      if (!got.count(k)) f.add(rule, path + "." + k + " missing");
    }
    for (const auto& [k, n] : got) {
      const uint64_t e = expected.count(k) ? expected.at(k) : 0;
      f.eq(rule, path + "." + k, n, e);
    }
  };
  kinds("upstream_errors", w + "upstream_errors", want.upstream_errors);
  kinds("downstream_errors", w + "downstream_errors", want.downstream_errors);
  {
    // Reasons appear only once counted: a listed reason must be there.
    const auto got = members(doc, w + "rejected");
    for (const auto& [k, n] : want.rejected) {
      f.eq("rejected", w + "rejected." + k, got.count(k) ? got.at(k) : 0, n);
    }
    for (const auto& [k, n] : got) {
      if (!want.rejected.count(k) && n != 0)
        f.add("rejected", "unexpected rejected." + k + " = " + std::to_string(n));
    }
  }
  if (want.retries) f.eq("retries", "retries", u(doc, w + "retries"), *want.retries);
  if (want.request_body_bytes) {
    f.eq("bytes", "request_bytes.total", u(doc, w + "request_bytes.total"),
         *want.request_body_bytes);
  }
  if (want.response_body_bytes) {
    f.eq("bytes", "response_bytes.total", u(doc, w + "response_bytes.total"),
         *want.response_body_bytes);
  }
  if (want.downstream_refused) {
    f.eq("refused", "connections.downstream_refused", u(doc, "connections.downstream_refused"),
         *want.downstream_refused);
  }
}

void check_metrics(const JsonValue& doc, const std::string& text, Findings& f) {
  if (text.empty()) {
    f.add("metrics_agree", "/metrics did not answer");
    return;
  }
  const ExpositionCheck m = check_exposition(text, /*openmetrics=*/false);
  for (const std::string& e : m.errors) f.add("exposition", e);
  const std::string w = "windows.total.";
  for (const auto& [k, n] : members(doc, w + "upstream_errors")) {
    f.eq("metrics_agree", "sidemeter_upstream_errors_total{error_type=" + k + "}",
         counter(m, "sidemeter_upstream_errors", {{"error_type", k}}), double(n));
  }
  for (const auto& [k, n] : members(doc, w + "downstream_errors")) {
    f.eq("metrics_agree", "sidemeter_downstream_errors_total{error_type=" + k + "}",
         counter(m, "sidemeter_downstream_errors", {{"error_type", k}}), double(n));
  }
  for (const auto& [k, n] : members(doc, w + "rejected")) {
    f.eq("metrics_agree", "sidemeter_rejected_requests_total{reason=" + k + "}",
         counter(m, "sidemeter_rejected_requests", {{"reason", k}}), double(n));
  }
  f.eq("metrics_agree", "sidemeter_upstream_retries_total",
       counter(m, "sidemeter_upstream_retries"), double(u(doc, w + "retries")));
  f.eq("metrics_agree", "sidemeter_connections_refused_total",
       counter(m, "sidemeter_connections_refused"),
       double(u(doc, "connections.downstream_refused")));
  f.eq("metrics_agree", "sidemeter_connections_total{side=downstream}",
       counter(m, "sidemeter_connections", {{"side", "downstream"}}),
       double(u(doc, "connections.downstream_total")));
  f.eq("metrics_agree", "sidemeter_connections_total{side=upstream}",
       counter(m, "sidemeter_connections", {{"side", "upstream"}}),
       double(u(doc, "connections.upstream_total")));
  f.eq("metrics_agree", "sidemeter_connections_active{side=downstream}",
       m.sum("sidemeter_connections_active", {{"side", "downstream"}}),
       double(u(doc, "connections.downstream_active")));
  f.eq("metrics_agree", "sidemeter_connections_active{side=upstream}",
       m.sum("sidemeter_connections_active", {{"side", "upstream"}}),
       double(u(doc, "connections.upstream_active")));
  f.eq("metrics_agree", "http_server_active_requests", m.sum("http_server_active_requests"),
       double(u(doc, "connections.requests_active")));
  // Every exchange has its body sizes recorded, once.
  const double requests = double(u(doc, w + "requests"));
  f.eq("metrics_agree", "http_server_request_body_size_bytes_count",
       m.sum("http_server_request_body_size_bytes_count"), requests);
  f.eq("metrics_agree", "http_server_response_body_size_bytes_count",
       m.sum("http_server_response_body_size_bytes_count"), requests);
  f.eq("metrics_agree", "http_server_request_body_size_bytes_sum",
       m.sum("http_server_request_body_size_bytes_sum"), double(u(doc, w + "request_bytes.total")));
  f.eq("metrics_agree", "http_server_response_body_size_bytes_sum",
       m.sum("http_server_response_body_size_bytes_sum"),
       double(u(doc, w + "response_bytes.total")));

  // The duration histogram: one view of the same exchanges, every one of them, per
  // status code, and per upstream failure kind as its error_type. Less the exchanges of
  // evicted routes (README "Routes"), whose series are gone: then the totals add up with
  // them, and each part is a lower bound.
  const double evicted = double(u(doc, "route_table.evicted_requests"));
  const auto part = [&](const std::string& what, double series, double want) {
    if (evicted == 0) {
      f.eq("histogram", what, series, want);
    } else if (series > want) {
      f.add("histogram", what + ": " + std::to_string(series) + " > " + std::to_string(want));
    }
  };
  std::map<std::string, double> by_code, by_error_type;
  double total = 0;
  for (const ExpositionSample& s : m.samples) {
    if (s.name != "http_server_request_duration_seconds_count") continue;
    by_code[s.label("http_response_status_code")] += s.value;
    by_error_type[s.label("error_type")] += s.value;
    total += s.value;
  }
  for (const auto& [k, n] : members(doc, w + "upstream_errors")) {
    part("http_server_request_duration_seconds_count{error_type=" + k + "} vs upstream_errors." +
             k,
         by_error_type.count(k) ? by_error_type.at(k) : 0.0, double(n));
  }
  const auto codes = members(doc, w + "status_codes");
  for (const auto& [code, n] : codes) {
    if (n == 0) continue;
    part("http_server_request_duration_seconds_count{http_response_status_code=" + code +
             "} vs status_codes." + code,
         by_code.count(code) ? by_code.at(code) : 0.0, double(n));
  }
  for (const auto& [code, n] : by_code) {
    const bool numeric = !code.empty() && code.find_first_not_of("0123456789") == std::string::npos;
    if (numeric && !codes.count(code) && n > 0) {
      f.add("histogram", "histogram has code " + code + " that /stats never counted");
    }
  }
  f.eq("histogram",
       "http_server_request_duration_seconds_count summed over every series, plus "
       "route_table.evicted_requests",
       total + evicted, requests);
}

}  // namespace

std::string StatsReport::text() const {
  std::ostringstream out;
  for (const StatsFinding& f : findings) out << "  [" << f.rule << "] " << f.message << "\n";
  return out.str();
}

std::optional<double> json_number(const JsonValue& doc, std::string_view path) {
  const JsonValue* j = doc.at(path);
  if (j == nullptr || !j->is_number()) return std::nullopt;
  return j->number;
}

std::optional<JsonValue> fetch_stats_json(uint16_t stats_port, Deadline deadline) {
  RawClient c(stats_port);
  if (!c.connected() || !c.send(simple_get("/stats"), deadline)) return std::nullopt;
  HttpMessage m;
  ReadOptions o;
  o.deadline = deadline;
  if (!c.read_response(m, o).ok() || m.status != 200) return std::nullopt;
  return parse_json(m.body);
}

std::string fetch_metrics_text(uint16_t stats_port, Deadline deadline) {
  RawClient c(stats_port);
  if (!c.connected() || !c.send(simple_get("/metrics"), deadline)) return {};
  HttpMessage m;
  ReadOptions o;
  o.deadline = deadline;
  if (!c.read_response(m, o).ok() || m.status != 200) return {};
  return m.body;
}

std::optional<JsonValue> wait_for_stats(uint16_t stats_port,
                                        const std::function<bool(const JsonValue&)>& pred,
                                        Deadline deadline) {
  FrameReader frames(stats_port);
  if (!frames.open(deadline)) return std::nullopt;
  while (std::optional<JsonValue> frame = frames.next(deadline)) {
    if (pred(*frame)) return frame;
  }
  return std::nullopt;
}

StatsReport check_stats_at_rest(uint16_t stats_port, const StatsExpect& want, Deadline deadline) {
  StatsReport report;
  Findings f(report);
  FrameReader frames(stats_port);
  if (!frames.open(deadline)) {
    f.add("rest", "could not subscribe to /stats/stream");
    return report;
  }
  // At rest in a frame, then still at rest, with the same totals, in a frame of a later
  // tick: that one is checked (anything recorded alongside the last exchange is in it).
  std::optional<JsonValue> settled, previous;
  std::string last_why = "no frame";
  auto totals = [](const JsonValue& frame) {
    std::string t;
    for (std::string_view path : {"windows.total.requests", "windows.total.errors",
                                  "connections.downstream_total", "connections.upstream_total"})
      t += std::to_string(u(frame, path)) + " ";
    return t;
  };
  while (!settled) {
    std::optional<JsonValue> frame = frames.next(deadline);
    if (!frame) {
      f.add("rest", "never at rest: " + last_why);
      return report;
    }
    const Rest r = at_rest(*frame, want);
    last_why = r.why;
    if (!r.at_rest) {
      previous.reset();
      continue;
    }
    if (previous && u(*frame, "ticks") > u(*previous, "ticks") &&
        totals(*frame) == totals(*previous)) {
      settled = std::move(frame);
    } else {
      if (previous) last_why = "totals still moving: " + totals(*previous) + "-> " + totals(*frame);
      previous = std::move(frame);
    }
  }
  const std::string metrics = fetch_metrics_text(stats_port, deadline);
  check_stats_alone(*settled, f);
  check_expected(*settled, want, f);
  check_metrics(*settled, metrics, f);
  report.stats = std::move(settled);
  return report;
}

}  // namespace sidemeter::testing
