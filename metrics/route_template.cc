#include "metrics/route_template.h"

#include <cstring>

namespace sidemeter::metrics {
namespace {

constexpr std::string_view kId = "{id}";

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

// How much of the segment is an id: the whole segment, a numeric stem before a file
// extension ("123.json" -> 3), or nothing (0).
size_t id_prefix(std::string_view s) {
  if (s.empty()) return 0;
  size_t digits = 0, letters = 0, hex = 0, token = 0;
  for (char c : s) {
    digits += is_digit(c);
    letters += is_alpha(c);
    hex += is_hex(c);
    token += is_digit(c) || is_alpha(c) || c == '-' || c == '_';
  }
  const size_t n = s.size();
  if (digits == n) return n;
  if (hex == n && n >= 16) return n;
  if (is_uuid(s)) return n;
  if (token == n && n >= 20 && digits > 0 && letters > 0) return n;
  // 123.json: digits, one dot, an alphanumeric extension.
  const size_t dot = s.find('.');
  if (dot != std::string_view::npos && dot > 0 && dot + 1 < n) {
    const std::string_view stem = s.substr(0, dot), ext = s.substr(dot + 1);
    bool stem_digits = true, ext_alnum = true;
    for (char c : stem) stem_digits &= is_digit(c);
    for (char c : ext) ext_alnum &= is_digit(c) || is_alpha(c);
    if (stem_digits && ext_alnum) return dot;
  }
  return 0;
}

std::string_view strip_query(std::string_view path) {
  const size_t q = path.find_first_of("?#");
  return q == std::string_view::npos ? path : path.substr(0, q);
}

}  // namespace

size_t auto_route_template(std::string_view path, char* out, size_t cap) {
  path = strip_query(path);
  if (path.empty()) path = "/";
  size_t len = 0;
  auto put = [&](std::string_view s) {
    if (len + s.size() > cap) return false;
    std::memcpy(out + len, s.data(), s.size());
    len += s.size();
    return true;
  };
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view seg = path.substr(pos, end - pos);
    const size_t id = id_prefix(seg);
    if (id == 0) {
      if (!put(seg)) return 0;
    } else if (!put(kId) || !put(seg.substr(id))) {
      return 0;
    }
    if (end == path.size()) break;
    if (!put("/")) return 0;
    pos = end + 1;
  }
  return len;
}

std::string auto_route_template(std::string_view path) {
  char buf[kMaxRouteLength];
  return std::string(buf, auto_route_template(path, buf, sizeof buf));
}

RouteTable::RouteTable(size_t max_routes) : max_routes_(max_routes) {
  names_.reserve(max_routes);
}

void RouteTable::set_patterns(std::vector<std::string> patterns) {
  patterns_.clear();
  for (std::string& text : patterns) {
    Pattern p;
    std::string_view rest = text;
    if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    while (true) {
      const size_t slash = rest.find('/');
      std::string_view seg = rest.substr(0, slash);
      if (seg == "{*}" && slash == std::string_view::npos) {
        p.rest_wildcard = true;
        break;
      }
      const bool wild = seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
      p.segments.emplace_back(wild ? std::string_view() : seg);
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
    p.text = std::move(text);
    patterns_.push_back(std::move(p));
  }
}

bool RouteTable::match(const Pattern& p, std::string_view path) const {
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  for (size_t i = 0; i < p.segments.size(); ++i) {
    const size_t slash = path.find('/');
    const std::string_view seg = path.substr(0, slash);
    if (!p.segments[i].empty() ? seg != p.segments[i] : seg.empty()) return false;
    const bool last = i + 1 == p.segments.size();
    if (slash == std::string_view::npos) return last && !p.rest_wildcard;
    if (last) return p.rest_wildcard;
    path.remove_prefix(slash + 1);
  }
  return p.rest_wildcard;
}

size_t RouteTable::templatize(std::string_view path, char* out, size_t cap) const {
  if (!patterns_.empty()) {
    const std::string_view bare = strip_query(path);
    for (const Pattern& p : patterns_) {
      if (!match(p, bare)) continue;
      if (p.text.size() > cap) return 0;
      std::memcpy(out, p.text.data(), p.text.size());
      return p.text.size();
    }
  }
  return auto_route_template(path, out, cap);
}

std::string RouteTable::templatize(std::string_view path) const {
  char buf[kMaxRouteLength];
  return std::string(buf, templatize(path, buf, sizeof buf));
}

uint32_t RouteTable::intern(std::string_view tmpl) {
  std::lock_guard lock(mu_);
  auto it = ids_.find(std::string(tmpl));
  if (it != ids_.end()) return it->second;
  if (names_.size() >= max_routes_) return other_id();
  const uint32_t id = uint32_t(names_.size());
  names_.emplace_back(tmpl);
  ids_.emplace(names_.back(), id);
  return id;
}

std::string RouteTable::name(uint32_t id) const {
  std::lock_guard lock(mu_);
  return id < names_.size() ? names_[id] : std::string(kOtherRoute);
}

size_t RouteTable::size() const {
  std::lock_guard lock(mu_);
  return names_.size();
}

uint32_t RouteCache::lookup(std::string_view path) {
  char buf[kMaxRouteLength];
  const size_t n = table_.templatize(path, buf, sizeof buf);
  if (n == 0) return table_.other_id();
  const std::string_view tmpl(buf, n);
  if (auto it = local_.find(tmpl); it != local_.end()) return it->second;
  if (complete_) return table_.other_id();
  // Warm-up: register the template, then mirror whatever the table gained meanwhile.
  const uint32_t id = table_.intern(tmpl);
  std::lock_guard lock(table_.mu_);
  sync_locked();
  return id;
}

void RouteCache::sync_locked() {
  for (; synced_ < table_.names_.size(); ++synced_) {
    local_.emplace(table_.names_[synced_], uint32_t(synced_));
  }
  complete_ = synced_ >= table_.max_routes_;
}

}  // namespace sidemeter::metrics
