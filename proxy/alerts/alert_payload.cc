#include "proxy/alerts/alert_payload.h"

#include <cmath>
#include <ctime>

#include "proxy/alerts/alert_json.h"
#include "proxy/text/json_writer.h"
#include "proxy/text/rfc3339.h"

namespace sidemeter::alerts {
namespace {

using metrics::alerts::AlertState;

// Annotation text for a figure: JSON number formatting, "NaN" when not evaluated.
std::string number_text(double v) {
  if (std::isnan(v)) return "NaN";
  std::string s;
  text::append_json_double(s, v, 6);
  return s;
}

void append_member(std::string& out, bool& first, std::string_view key, std::string_view value) {
  if (!first) out += ',';
  first = false;
  text::append_json_string(out, key);
  out += ':';
  text::append_json_string(out, value);
}

bool has_label(const Labels& labels, std::string_view key) {
  for (const auto& [k, v] : labels)
    if (k == key) return true;
  return false;
}

// The merged label set, in order: `own` (the alert's), then configured ones not already
// there, then instance unless present. Empty values are dropped.
Labels merged_labels(const Labels& own, const Labels& configured, std::string_view instance) {
  Labels out;
  for (const auto& [k, v] : own)
    if (!v.empty() && !has_label(out, k)) out.emplace_back(k, v);
  for (const auto& [k, v] : configured)
    if (!v.empty() && !has_label(out, k)) out.emplace_back(k, v);
  if (!instance.empty() && !has_label(out, "instance"))
    out.emplace_back("instance", std::string(instance));
  return out;
}

Labels own_labels(const AlertState& a, bool with_name) {
  Labels own;
  if (with_name) {
    own.emplace_back("alertname", a.alertname);
    own.emplace_back("severity", std::string(metrics::alerts::severity_name(a.severity)));
  }
  for (const auto& l : a.labels) own.push_back(l);
  return own;
}

// RFC 3339 is plain ASCII: no escaping needed inside the quotes.
void append_time(std::string& out, uint64_t unix_ms) {
  out += '"';
  text::append_rfc3339_ms(out, unix_ms);
  out += '"';
}

void append_labels_object(std::string& out, const Labels& labels) {
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) append_member(out, first, k, v);
  out += '}';
}

}  // namespace

std::string alert_key(const AlertState& a) {
  std::string key;
  for (const auto& [k, v] : own_labels(a, true)) {
    if (v.empty()) continue;
    key += k;
    key += '\x1f';
    key += v;
    key += '\x1e';
  }
  return key;
}

std::string alertmanager_body(const std::vector<AmAlert>& alerts, const Labels& labels,
                              std::string_view instance) {
  std::string out;
  out.reserve(512 * alerts.size() + 2);
  out += '[';
  bool first_alert = true;
  for (const AmAlert& am : alerts) {
    const AlertState& a = *am.alert;
    if (!first_alert) out += ',';
    first_alert = false;
    out += "{\"labels\":";
    append_labels_object(out, merged_labels(own_labels(a, true), labels, instance));

    std::string value = number_text(a.value);
    std::string threshold = number_text(a.threshold);
    std::string summary = a.figure + " is " + value + " (" +
                          std::string(comparison_name(a.comparison)) + " " + threshold + ")";
    if (!a.window.empty()) summary += " over " + a.window;
    out += ",\"annotations\":{";
    bool first = true;
    append_member(out, first, "summary", summary);
    append_member(out, first, "value", value);
    append_member(out, first, "threshold", threshold);
    if (!a.figure.empty()) append_member(out, first, "figure", a.figure);
    if (!a.window.empty()) append_member(out, first, "window", a.window);
    out += '}';
    if (am.starts_at_unix_ms != 0) {
      out += ",\"startsAt\":";
      append_time(out, am.starts_at_unix_ms);
    }
    out += ",\"endsAt\":";
    append_time(out, am.ends_at_unix_ms);
    if (!instance.empty()) {
      out += ",\"generatorURL\":";
      text::append_json_string(out, "http://" + std::string(instance) + "/stats");
    }
    out += '}';
  }
  out += ']';
  return out;
}

std::string webhook_body(const std::vector<metrics::alerts::Transition>& changes,
                         const Labels& labels, std::string_view instance, uint64_t now_unix_ms) {
  std::string out;
  out.reserve(512 * changes.size() + 128);
  out += "{\"version\":\"1\",\"instance\":";
  text::append_json_string(out, instance);
  out += ",\"time\":";
  append_time(out, now_unix_ms);
  out += ",\"time_unix_ms\":";
  text::append_uint(out, now_unix_ms);
  out += ",\"alerts\":[";
  bool first_change = true;
  for (const auto& t : changes) {
    const AlertState& a = t.alert;
    if (!first_change) out += ',';
    first_change = false;
    out += "{\"alertname\":";
    text::append_json_string(out, a.alertname);
    out += ",\"severity\":";
    text::append_json_string(out, metrics::alerts::severity_name(a.severity));
    out += ",\"from\":";
    text::append_json_string(out, metrics::alerts::state_name(t.from));
    out += ",\"to\":";
    text::append_json_string(out, metrics::alerts::state_name(a.state));
    append_alert_members(out, a);
    out += ",\"labels\":";
    append_labels_object(out, merged_labels(own_labels(a, false), labels, instance));
    out += '}';
  }
  out += "]}";
  return out;
}

}  // namespace sidemeter::alerts
