#include "metrics/route_template.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <utility>

namespace sidemeter::metrics {
namespace {

constexpr std::string_view kId = "{id}";

uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
uint64_t load4(const char* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// Calls f with words that together hold every byte of p[0, n), 1 <= n: whole 8-byte
// words, the last one overlapping its predecessor; below 8 bytes two overlapping 4-byte
// halves, below 4 the first, middle and last bytes.
template <typename F>
inline void for_each_word(const char* p, size_t n, F f) {
  if (n >= 8) {
    for (size_t i = 0; i + 8 < n; i += 8) f(load8(p + i));
    f(load8(p + n - 8));
  } else if (n >= 4) {
    f(load4(p) | load4(p + n - 4) << 32);
  } else {
    f(uint64_t(uint8_t(p[0])) | uint64_t(uint8_t(p[n / 2])) << 8 |
      uint64_t(uint8_t(p[n - 1])) << 16);
  }
}

// The front cache's hash of a path (1 <= size): a multiply-xorshift per word, so a
// 20-byte path costs three rounds rather than twenty (FNV-1a went a byte at a time).
uint64_t short_hash(std::string_view s) {
  uint64_t h = s.size() * 0x9e3779b97f4a7c15ull;
  for_each_word(s.data(), s.size(), [&h](uint64_t w) {
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 29;
  });
  return h;
}

// key[0, s.size()) == s, 1 <= s.size() <= the key's capacity: for_each_word's words of
// both, compared without a call to memcmp.
bool short_equal(const char* key, std::string_view s) {
  const char* p = s.data();
  const size_t n = s.size();
  if (n >= 8) {
    uint64_t diff = load8(key + n - 8) ^ load8(p + n - 8);
    for (size_t i = 0; i + 8 < n; i += 8) diff |= load8(key + i) ^ load8(p + i);
    return diff == 0;
  }
  if (n >= 4) return ((load4(key) ^ load4(p)) | (load4(key + n - 4) ^ load4(p + n - 4))) == 0;
  return key[0] == p[0] && key[n / 2] == p[n / 2] && key[n - 1] == p[n - 1];
}

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

RouteTable::RouteTable(size_t max_routes, RouteAdmission admission)
    : max_routes_(max_routes),
      patterns_(std::make_shared<const Patterns>()),
      names_(2 * max_routes),
      pattern_current_(max_routes, false),
      admission_(admission),
      slot_gen_(new std::atomic<uint32_t>[2 * max_routes]),
      last_hit_(new std::atomic<uint32_t>[max_routes]) {
  for (size_t i = 0; i < 2 * max_routes; ++i) slot_gen_[i].store(0, std::memory_order_relaxed);
  for (size_t i = 0; i < max_routes; ++i) last_hit_[i].store(0, std::memory_order_relaxed);
  // Popped from the back: ids are handed out 0, 1, 2... while there is room.
  for (size_t i = max_routes; i > 0; --i) free_automatic_.push_back(uint32_t(i - 1));
  ring_.assign(kMaxCandidates, nullptr);
  window_s_.store(admission.window_s, std::memory_order_relaxed);
}

void RouteTable::set_patterns(std::vector<std::string> patterns) {
  // Parsed outside the lock: workers that are warming up or reloading wait on mu_.
  Patterns parsed;
  for (std::string& text : patterns) {
    if (parsed.size() == max_routes_) break;  // the config refuses more
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
  std::lock_guard lock(mu_);
  // Patterns kept (or dropped before and listed again) keep their ids and figures. A
  // dropped pattern's route stays, with its figures, until a new pattern needs the slot.
  std::vector<bool> kept(max_routes_, false);
  for (Pattern& p : parsed) {
    auto it = ids_.find(p.text);
    if (it == ids_.end()) continue;
    if (is_automatic(it->second)) {
      free_locked(it->second);  // the pattern takes the name over
      continue;
    }
    p.id = it->second;
    kept[p.id - max_routes_] = true;
  }
  size_t never_used = 0, dropped = 0;  // cursors: kept only grows below
  for (Pattern& p : parsed) {
    if (p.id != 0) continue;  // pattern ids are >= max_routes_ > 0
    while (never_used < max_routes_ &&
           (kept[never_used] || !names_[max_routes_ + never_used].empty()))
      ++never_used;
    size_t slot = never_used;
    if (slot == max_routes_) {
      while (kept[dropped]) ++dropped;  // parsed.size() <= max_routes_: one is left
      slot = dropped;
      free_locked(uint32_t(max_routes_ + slot));
    }
    kept[slot] = true;
    p.id = uint32_t(max_routes_ + slot);
    names_[p.id] = p.text;
    ids_.emplace(p.text, p.id);
    erase_candidate_locked(p.text);
  }
  pattern_current_ = std::move(kept);
  std::shared_ptr<const Patterns> old = std::make_shared<const Patterns>(std::move(parsed));
  patterns_.swap(old);
  // Caches read the pointer under mu_ once they see a new generation, so the counter
  // itself only has to be atomic, not ordered.
  generation_.fetch_add(1, std::memory_order_relaxed);
  // old is released when the lock is, unless a cache still uses it.
}

void RouteTable::set_admission(RouteAdmission admission) {
  std::lock_guard lock(mu_);
  admission_ = admission;
  next_evictable_s_ = 0;  // it was computed with the old idle time
  window_s_.store(admission.window_s, std::memory_order_relaxed);
}

void RouteTable::advance_to(uint32_t now_s) {
  if (now_s > now_s_.load(std::memory_order_relaxed))
    now_s_.store(now_s, std::memory_order_relaxed);
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
                                   size_t cap, uint32_t* pattern_id) {
  *pattern_id = UINT32_MAX;
  if (!patterns.empty()) {
    const std::string_view bare = strip_query(path);
    for (const Pattern& p : patterns) {
      if (!match(p, bare)) continue;
      if (p.text.size() > cap) return 0;
      std::memcpy(out, p.text.data(), p.text.size());
      *pattern_id = p.id;
      return p.text.size();
    }
  }
  return auto_route_template(path, out, cap);
}

size_t RouteTable::templatize(std::string_view path, char* out, size_t cap) const {
  uint32_t pattern_id;
  return templatize_with(*patterns(), path, out, cap, &pattern_id);
}

std::string RouteTable::templatize(std::string_view path) const {
  char buf[kMaxRouteLength];
  return std::string(buf, templatize(path, buf, sizeof buf));
}

void RouteTable::free_locked(uint32_t id) {
  ids_.erase(names_[id]);
  names_[id].clear();
  slot_gen_[id].fetch_add(1, std::memory_order_release);
  if (is_automatic(id)) free_automatic_.push_back(id);
  generation_.fetch_add(1, std::memory_order_relaxed);
}

uint32_t RouteTable::take_automatic_locked(uint32_t now) {
  if (!free_automatic_.empty()) {
    const uint32_t id = free_automatic_.back();
    free_automatic_.pop_back();
    return id;
  }
  if (now < next_evictable_s_) return other_id();
  // Full: the least recently hit route, if it has been idle long enough. O(max_routes),
  // at most once per second while nothing is idle (next_evictable_s_).
  uint32_t coldest = 0;
  uint32_t coldest_s = UINT32_MAX;
  for (uint32_t id = 0; id < max_routes_; ++id) {
    const uint32_t last = last_hit_[id].load(std::memory_order_relaxed);
    if (last < coldest_s) {
      coldest_s = last;
      coldest = id;
    }
  }
  if (now - std::min(now, coldest_s) < admission_.min_idle_s) {
    next_evictable_s_ = std::max(coldest_s + admission_.min_idle_s, now + 1);
    return other_id();
  }
  free_locked(coldest);
  ++evictions_;
  free_automatic_.pop_back();  // the id free_locked just returned
  return coldest;
}

void RouteTable::note_candidate_locked(std::string_view tmpl, uint32_t now, Candidate*& out) {
  auto it = candidates_.find(std::string(tmpl));
  if (it == candidates_.end()) {
    // Every candidate holds one ring slot; when full, the oldest one makes room.
    if (const std::string* oldest = ring_[ring_next_]) {
      candidates_.erase(candidates_.find(*oldest));  // by iterator: the key is the node's
    }
    it = candidates_.emplace(std::string(tmpl), Candidate{0, now, uint32_t(ring_next_)}).first;
    ring_[ring_next_] = &it->first;
    ring_next_ = (ring_next_ + 1) % kMaxCandidates;
  }
  out = &it->second;
}

void RouteTable::erase_candidate_locked(std::string_view tmpl) {
  auto it = candidates_.find(std::string(tmpl));
  if (it == candidates_.end()) return;
  ring_[it->second.ring_slot] = nullptr;
  candidates_.erase(it);
}

uint32_t RouteTable::admit_locked(std::string_view tmpl, uint32_t hits, bool proven) {
  uint32_t dropped_pattern = other_id();
  if (auto it = ids_.find(std::string(tmpl)); it != ids_.end()) {
    const uint32_t id = it->second;
    if (is_automatic(id) || pattern_current_[id - max_routes_]) return id;
    dropped_pattern = id;  // admitted below, it takes the name over: one name, one route
  }
  const uint32_t now = now_s_.load(std::memory_order_relaxed);
  if (!proven) {
    Candidate* c = nullptr;
    note_candidate_locked(tmpl, now, c);
    if (now - c->since_s >= admission_.window_s) *c = Candidate{0, now};
    c->hits += hits;
    if (c->hits < admission_.hits) return other_id();
  }
  if (dropped_pattern != other_id()) free_locked(dropped_pattern);
  const uint32_t id = take_automatic_locked(now);
  if (id == other_id()) return id;  // a candidate keeps its hits and tries again
  erase_candidate_locked(tmpl);
  names_[id] = std::string(tmpl);
  ids_.emplace(names_[id], id);
  last_hit_[id].store(now, std::memory_order_relaxed);
  ++admissions_;
  admitted_.fetch_add(1, std::memory_order_release);
  return id;
}

uint32_t RouteTable::intern(std::string_view tmpl) {
  std::lock_guard lock(mu_);
  return admit_locked(tmpl, 1, true);
}

std::string RouteTable::name(uint32_t id) const {
  if (id >= other_id()) return std::string(kOtherRoute);
  std::lock_guard lock(mu_);
  return names_[id];
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
  return ids_.size();
}

RouteTableStats RouteTable::stats() const {
  std::lock_guard lock(mu_);
  RouteTableStats s;
  s.max_automatic = max_routes_;
  s.automatic = max_routes_ - free_automatic_.size();
  s.patterns = patterns_->size();
  s.candidates = candidates_.size();
  s.admissions = admissions_;
  s.evictions = evictions_;
  return s;
}

RouteCache::RouteCache(RouteTable& table)
    : front_(kFrontSlots), filter_(kFilterSlots), table_(table) {
  const size_t size = std::bit_ceil(std::max<size_t>(16, 2 * (table.max_routes() + 1)));
  slots_.resize(size);
  mask_ = size - 1;
  rebuild();
}

void RouteCache::rebuild() {
  std::shared_ptr<const RouteTable::Patterns> old;
  std::lock_guard lock(table_.mu_);
  old = std::exchange(patterns_, table_.patterns_);
  // Read under the lock that bumps it, so it names exactly the state mirrored now; a
  // later change shows up as a mismatch at the next lookup.
  generation_ = table_.generation_.load(std::memory_order_relaxed);
  // Ids may have changed meaning: start over (rare: reloads and evictions only).
  for (FrontEntry& e : front_) e.len = 0xff;
  for (Entry& e : slots_) e.used = false;
  admitted_ = ~uint64_t(0);
  sync_locked();
}

void RouteCache::sync_locked() {
  const uint64_t admitted = table_.admitted_.load(std::memory_order_relaxed);
  if (admitted == admitted_) return;
  admitted_ = admitted;
  // Holds at most max_routes entries in a table of >= 2 * (max_routes + 1) slots.
  for (uint32_t id = 0; id < table_.max_routes_; ++id) {
    if (!table_.names_[id].empty()) insert(table_.names_[id], id);
  }
}

const RouteCache::Entry* RouteCache::find(std::string_view key, uint64_t hash) const {
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Entry& e = slots_[i];
    if (!e.used) return nullptr;
    if (e.hash == hash && e.key == key) return &e;
  }
}

void RouteCache::insert(std::string_view key, uint32_t id) {
  const uint64_t hash = std::hash<std::string_view>{}(key);
  if (find(key, hash) != nullptr) return;
  size_t i = hash & mask_;
  while (slots_[i].used) i = (i + 1) & mask_;
  Entry& e = slots_[i];
  e.hash = hash;
  e.id = id;
  e.used = true;
  e.key.assign(key);  // reuses the string's buffer after a rebuild
}

uint32_t RouteCache::peek(std::string_view path) { return resolve(path, 0, false); }

uint32_t RouteCache::resolve(std::string_view path, uint16_t status, bool count) {
  // No path: the request was refused before its target was read. It belongs to no
  // route, and must not be counted under "/" once "/" is admitted.
  if (path.empty()) return table_.other_id();
  // Relaxed: a change becomes visible a little later at worst, and rebuild() takes the
  // table's lock, which orders what it reads.
  if (table_.generation_.load(std::memory_order_relaxed) != generation_) [[unlikely]] {
    rebuild();
  }
  FrontEntry* front = nullptr;
  if (path.size() <= kFrontKey) {
    const uint64_t h = short_hash(path);
    front = &front_[(h ^ (h >> 32)) & (kFrontSlots - 1)];
    if (front->len == path.size() && short_equal(front->key, path)) {
      if (count) touch(front->id);
      return front->id;
    }
  }
  return resolve_slow(path, status, count, front);
}

// Out of line: the front hit above stays a leaf without the template buffer's frame.
uint32_t RouteCache::resolve_slow(std::string_view path, uint16_t status, bool count,
                                  FrontEntry* front) {
  char buf[kMaxRouteLength];
  uint32_t id = table_.other_id();
  const size_t n = RouteTable::templatize_with(*patterns_, path, buf, sizeof buf, &id);
  if (n == 0) return table_.other_id();
  if (id == UINT32_MAX) {
    const std::string_view tmpl(buf, n);
    const uint64_t hash = std::hash<std::string_view>{}(tmpl);
    const Entry* e = find(tmpl, hash);
    // Another worker may have admitted it: pull admissions first, so that is not a
    // sighting.
    if (e == nullptr && table_.admitted_.load(std::memory_order_acquire) != admitted_) {
      std::lock_guard lock(table_.mu_);
      sync_locked();
      e = find(tmpl, hash);
    }
    if (e != nullptr) {
      id = e->id;
    } else if (!count) {
      return table_.other_id();
    } else {
      id = miss(tmpl, hash, status);
      if (id == table_.other_id()) return id;  // counted towards admission: not cached
    }
    if (count) touch(id);
  }
  if (front != nullptr) {
    front->id = id;
    front->len = uint8_t(path.size());
    if (!path.empty()) std::memcpy(front->key, path.data(), path.size());
  }
  return id;
}

uint32_t RouteCache::miss(std::string_view tmpl, uint64_t hash, uint16_t status) {
  const bool proven = proves_route(status);
  uint32_t hits = 1;
  if (!proven) {
    // A first sighting stays here; a scanner's one-off paths never reach the lock.
    const uint32_t now = table_.now_s_.load(std::memory_order_relaxed);
    const uint32_t window = table_.window_s_.load(std::memory_order_relaxed);
    FilterEntry& f = filter_[(hash ^ (hash >> 29)) & (kFilterSlots - 1)];
    if (f.hash != hash || now - f.since_s >= window) {
      f = FilterEntry{hash, 1, now};
      return table_.other_id();
    }
    hits = f.hits + 1;
    f.hits = 0;
  }
  std::lock_guard lock(table_.mu_);
  const uint32_t id = table_.admit_locked(tmpl, hits, proven);
  sync_locked();  // this admission, and any other since
  return id;
}

}  // namespace sidemeter::metrics
