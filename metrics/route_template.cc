#include "metrics/route_template.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <utility>

namespace sidemeter::metrics {
namespace {

constexpr std::string_view kId = "{id}";

// Character classes, one table lookup per byte on the hot path.
enum : uint8_t { kDigit = 1, kAlpha = 2, kHex = 4, kToken = 8 };
constexpr std::array<uint8_t, 256> kClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = kDigit | kHex | kToken;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = kAlpha | kToken | (c <= 'f' ? kHex : 0);
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = kAlpha | kToken | (c <= 'F' ? kHex : 0);
  t['-'] = t['_'] = kToken;
  return t;
}();

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < 36; ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !(kClass[uint8_t(s[i])] & kHex)) return false;
  }
  return true;
}

// What one pass over a segment learnt about it.
struct SegmentShape {
  uint8_t all = 0xff;  // AND of the byte classes
  uint8_t any = 0;     // OR of the byte classes
  uint8_t stem = 0;    // AND of the classes before the first '.'
  uint8_t ext = 0xff;  // AND of the classes after it
  size_t dot = 0;      // first '.', 0 = none (a leading dot has no stem anyway)

  void add(char ch, size_t pos) {
    const uint8_t c = kClass[uint8_t(ch)];
    if (dot) {
      ext &= c;
    } else if (ch == '.') {
      dot = pos;
      stem = all;
    }
    all &= c;
    any |= c;
  }
};

// How much of the segment is an id: the whole segment, a numeric stem before a file
// extension ("123.json" -> 3), or nothing (0).
size_t id_prefix(std::string_view s, const SegmentShape& k) {
  const size_t n = s.size();
  if (n == 0) return 0;
  if (k.all & kDigit) return n;
  if ((k.all & kHex) && n >= 16) return n;
  if ((k.all & kToken) && n >= 20 && (k.any & kDigit) && (k.any & kAlpha)) return n;
  if (n == 36 && is_uuid(s)) return n;
  // 123.json: digits, a dot, then one word (no second dot).
  if (k.dot && k.dot + 1 < n && (k.stem & kDigit) && (k.ext & kToken)) return k.dot;
  return 0;
}

// Up to the query or fragment. A plain loop: find_first_of calls memchr per byte.
std::string_view strip_query(std::string_view path) {
  size_t end = 0;
  while (end < path.size() && path[end] != '?' && path[end] != '#') ++end;
  return path.substr(0, end);
}

}  // namespace

// One pass: bytes are copied out as they are classified, and a segment that turns out to
// be an id is rewritten in place when its '/' (or the end) arrives.
size_t auto_route_template(std::string_view path, char* out, size_t cap) {
  if (cap < kId.size() + 1) return 0;
  size_t len = 0, seg = 0;  // seg: where the current segment starts in out
  SegmentShape shape;
  for (size_t i = 0;; ++i) {
    const char ch = i < path.size() ? path[i] : '?';
    if (ch == '/' || ch == '?' || ch == '#') {
      const std::string_view text(out + seg, len - seg);
      if (const size_t id = id_prefix(text, shape)) {
        const size_t rest = text.size() - id;  // ".json" of "123.json"
        if (seg + kId.size() + rest > cap) return 0;
        std::memmove(out + seg + kId.size(), out + seg + id, rest);
        std::memcpy(out + seg, kId.data(), kId.size());
        len = seg + kId.size() + rest;
      }
      if (ch != '/') break;
      if (len == cap) return 0;
      out[len++] = '/';
      seg = len;
      shape = SegmentShape();
      continue;
    }
    if (len == cap) return 0;
    shape.add(ch, len - seg);
    out[len++] = ch;
  }
  if (len == 0) out[len++] = '/';
  return len;
}

std::string auto_route_template(std::string_view path) {
  char buf[kMaxRouteLength];
  return std::string(buf, auto_route_template(path, buf, sizeof buf));
}

RouteTable::RouteTable(size_t max_routes)
    : max_routes_(max_routes), patterns_(std::make_shared<const Patterns>()) {
  names_.reserve(max_routes);
}

void RouteTable::set_patterns(std::vector<std::string> patterns) {
  // Parsed outside the lock: workers that are warming up or reloading wait on mu_.
  Patterns parsed;
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
    parsed.push_back(std::move(p));
  }
  std::shared_ptr<const Patterns> next = std::make_shared<const Patterns>(std::move(parsed));
  {
    std::lock_guard lock(mu_);
    patterns_.swap(next);
    // Caches read the pointer under mu_ once they see a new generation, so the counter
    // itself only has to be atomic, not ordered.
    generation_.fetch_add(1, std::memory_order_relaxed);
  }
  // next now holds the old set; released here, outside the lock, unless a cache still
  // uses it.
}

std::shared_ptr<const RouteTable::Patterns> RouteTable::patterns() const {
  std::lock_guard lock(mu_);
  return patterns_;
}

bool RouteTable::match(const Pattern& p, std::string_view path) {
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

size_t RouteTable::templatize_with(const Patterns& patterns, std::string_view path, char* out,
                                   size_t cap) {
  if (!patterns.empty()) {
    const std::string_view bare = strip_query(path);
    for (const Pattern& p : patterns) {
      if (!match(p, bare)) continue;
      if (p.text.size() > cap) return 0;
      std::memcpy(out, p.text.data(), p.text.size());
      return p.text.size();
    }
  }
  return auto_route_template(path, out, cap);
}

size_t RouteTable::templatize(std::string_view path, char* out, size_t cap) const {
  return templatize_with(*patterns(), path, out, cap);
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

std::optional<uint32_t> RouteTable::find(std::string_view tmpl) const {
  std::lock_guard lock(mu_);
  auto it = ids_.find(std::string(tmpl));
  if (it != ids_.end()) return it->second;
  if (tmpl == kOtherRoute) return other_id();
  return std::nullopt;
}

size_t RouteTable::size() const {
  std::lock_guard lock(mu_);
  return names_.size();
}

RouteCache::RouteCache(RouteTable& table) : front_(kFrontSlots), table_(table) {
  const size_t size = std::bit_ceil(std::max<size_t>(16, 2 * (table.max_routes() + 1)));
  slots_.resize(size);
  mask_ = size - 1;
  reload_patterns();
}

void RouteCache::reload_patterns() {
  std::shared_ptr<const RouteTable::Patterns> old;
  {
    std::lock_guard lock(table_.mu_);
    old = std::exchange(patterns_, table_.patterns_);
    // Read under the lock that set_patterns bumps it under, so it names exactly the set
    // just taken; a later reload shows up as a mismatch at the next lookup.
    generation_ = table_.generation_.load(std::memory_order_relaxed);
  }
  // Raw paths may now map to other templates. The template -> id slots stay valid.
  for (FrontEntry& e : front_) e.len = 0xff;
}

const RouteCache::Entry* RouteCache::find(std::string_view key, uint64_t hash) const {
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Entry& e = slots_[i];
    if (!e.used) return nullptr;
    if (e.hash == hash && e.key == key) return &e;
  }
}

void RouteCache::insert(std::string key, uint32_t id) {
  const uint64_t hash = std::hash<std::string_view>{}(key);
  if (find(key, hash) != nullptr) return;
  size_t i = hash & mask_;
  while (slots_[i].used) i = (i + 1) & mask_;
  slots_[i] = Entry{hash, id, true, std::move(key)};
}

uint32_t RouteCache::lookup(std::string_view path) {
  // Relaxed: a reload becomes visible a little later at worst, and reload_patterns() takes
  // the table's lock, which orders the patterns it reads.
  if (table_.generation_.load(std::memory_order_relaxed) != generation_) [[unlikely]] {
    reload_patterns();
  }
  if (path.size() > kFrontKey) return lookup_template(path);
  // FNV-1a: paths are short, and this is cheaper than std::hash's setup for them.
  uint64_t h = 14695981039346656037ull;
  for (char c : path) h = (h ^ uint8_t(c)) * 1099511628211ull;
  FrontEntry& e = front_[(h ^ (h >> 32)) & (kFrontSlots - 1)];
  // An empty view may have a null data(): memcmp/memcpy must not see it, even for 0 bytes.
  if (e.len == path.size() && (path.empty() || std::memcmp(e.key, path.data(), path.size()) == 0))
    return e.id;
  const uint32_t id = lookup_template(path);
  e.id = id;
  e.len = uint8_t(path.size());
  if (!path.empty()) std::memcpy(e.key, path.data(), path.size());
  return id;
}

uint32_t RouteCache::lookup_template(std::string_view path) {
  char buf[kMaxRouteLength];
  const size_t n = RouteTable::templatize_with(*patterns_, path, buf, sizeof buf);
  if (n == 0) return table_.other_id();
  const std::string_view tmpl(buf, n);
  const uint64_t hash = std::hash<std::string_view>{}(tmpl);
  if (const Entry* e = find(tmpl, hash)) return e->id;
  if (complete_) return table_.other_id();
  // Warm-up: register the template, then mirror whatever the table gained meanwhile.
  const uint32_t id = table_.intern(tmpl);
  std::lock_guard lock(table_.mu_);
  sync_locked();
  return id;
}

void RouteCache::sync_locked() {
  // Holds at most max_routes entries in a table of >= 2 * (max_routes + 1) slots.
  for (; synced_ < table_.names_.size(); ++synced_) {
    insert(table_.names_[synced_], uint32_t(synced_));
  }
  complete_ = synced_ >= table_.max_routes_;
}

}  // namespace sidemeter::metrics
