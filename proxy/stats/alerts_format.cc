#include "proxy/stats/alerts_format.h"

#include "proxy/alerts/alert_json.h"
#include "proxy/text/json_writer.h"

namespace sidemeter::stats {
namespace {

using metrics::alerts::AlertState;
using metrics::alerts::SloState;

void key(std::string& out, std::string_view k, bool& first) {
  if (!first) out += ',';
  first = false;
  text::append_json_string(out, k);
  out += ':';
}

void alert(std::string& out, const AlertState& a) {
  bool first = true;
  out += '{';
  key(out, "rule", first);
  text::append_json_string(out, a.alertname);
  key(out, "severity", first);
  text::append_json_string(out, metrics::alerts::severity_name(a.severity));
  key(out, "state", first);
  text::append_json_string(out, metrics::alerts::state_name(a.state));
  alerts::append_alert_members(out, a);
  key(out, "labels", first);
  out += '{';
  bool first_label = true;
  for (const auto& [name, value] : a.labels) {
    key(out, name, first_label);
    text::append_json_string(out, value);
  }
  out += "}}";
}

void slo(std::string& out, const SloState& s) {
  bool first = true;
  out += '{';
  key(out, "name", first);
  text::append_json_string(out, s.spec.name);
  key(out, "kind", first);
  out += s.spec.kind == metrics::alerts::SloKind::kLatency ? "\"latency\"" : "\"availability\"";
  key(out, "objective", first);
  text::append_json_double(out, s.spec.objective, 9);
  if (s.spec.kind == metrics::alerts::SloKind::kLatency) {
    key(out, "threshold_ms", first);
    text::append_uint(out, s.spec.latency_threshold_ms);
  }
  key(out, "route", first);
  text::append_json_string(out, s.spec.route);
  key(out, "method", first);
  text::append_json_string(out, s.spec.method ? metrics::method_name(*s.spec.method) : "");
  key(out, "burn_rates", first);
  out += '{';
  bool first_window = true;
  for (size_t i = 0; i < metrics::alerts::kBurnWindows.size(); ++i) {
    key(out, metrics::alerts::kBurnWindows[i], first_window);
    text::append_json_double(out, s.burn_rates[i]);
  }
  out += '}';
  key(out, "error_budget_remaining", first);
  text::append_json_double(out, s.error_budget_remaining);
  key(out, "good", first);
  text::append_uint(out, s.good);
  key(out, "total", first);
  text::append_uint(out, s.total);
  key(out, "horizon_s", first);
  text::append_json_double(out, s.horizon_seconds);
  // Since start (the /metrics counters), unlike good/total over the horizon above.
  key(out, "events_total", first);
  text::append_uint(out, s.events_total);
  key(out, "good_events_total", first);
  text::append_uint(out, s.good_events_total);
  out += '}';
}

}  // namespace

void append_alerts_json(const metrics::alerts::Status* status, std::string& out) {
  out += '[';
  if (status != nullptr) {
    for (size_t i = 0; i < status->alerts.size(); ++i) {
      if (i > 0) out += ',';
      alert(out, status->alerts[i]);
    }
  }
  out += ']';
}

void append_slos_json(const metrics::alerts::Status* status, std::string& out) {
  out += '[';
  if (status != nullptr) {
    for (size_t i = 0; i < status->slos.size(); ++i) {
      if (i > 0) out += ',';
      slo(out, status->slos[i]);
    }
  }
  out += ']';
}

}  // namespace sidemeter::stats
