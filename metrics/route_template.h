#pragma once
// Bounded routes without configuration: a request path becomes a template ("/users/{id}")
// so that per-route figures stay few whatever ids clients put in their URLs, and a
// process-wide cap sends everything beyond it to "other".
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sidemeter::metrics {

inline constexpr size_t kMaxRouteLength = 256;  // longer templates go to "other"
inline constexpr std::string_view kOtherRoute = "other";

// Automatic templating: drops the query/fragment, "" -> "/", and replaces id-like segments
// by {id}: all digits, digits with a file extension (123.json -> {id}.json), UUIDs, hex
// strings of 16+ chars, and tokens of 20+ chars mixing letters and digits. Writes into
// out (capacity cap) and returns the length, or 0 if it does not fit.
size_t auto_route_template(std::string_view path, char* out, size_t cap);
std::string auto_route_template(std::string_view path);

// How an automatic template earns a route of its own (RouteTable). Reloadable.
struct RouteAdmission {
  // Admitted once seen this many times within window_s seconds (as counted by the
  // caches: see RouteCache::lookup), or at once when answered with a proving status.
  uint32_t hits = 5;
  uint32_t window_s = 60;
  // A full table makes room only by evicting an automatic route that nobody hit for at
  // least this long; a hot route never flaps. 5 minutes: the longest rolling window, so
  // an evicted route has nothing left in any window but the total.
  uint32_t min_idle_s = 300;
  bool operator==(const RouteAdmission&) const = default;
};

// The route table's own figures (cumulative counts since start, and the current sizes).
struct RouteTableStats {
  size_t automatic = 0;      // automatic routes admitted now (<= max_automatic)
  size_t max_automatic = 0;  // routes.max
  size_t patterns = 0;       // configured patterns now (each has its own route)
  size_t candidates = 0;     // templates waiting for admission (<= kMaxCandidates)
  uint64_t admissions = 0;   // automatic templates admitted
  uint64_t evictions = 0;    // automatic routes evicted to make room
  // Requests counted on routes since evicted or freed (their series are gone), as of the
  // last tick; filled by the registry.
  uint64_t evicted_requests = 0;
};

// True when an upstream status shows that the path names something the application
// serves: 2xx, and 304 (a validator of the resource matched, RFC 9110 §15.4.5). Not 3xx
// in general (auth proxies and catch-alls redirect any path to a login page), not 401/403
// (auth commonly runs before routing, so unknown paths get them too), not 404/405/410/400
// (what scanners collect), not 5xx (a broken backend fails every path). A route answered
// only otherwise still gets in by being hit often enough (RouteAdmission::hits).
constexpr bool proves_route(uint16_t status) {
  return (status >= 200 && status <= 299) || status == 304;
}

// Process-wide route ids, in three ranges: 0..max_routes-1 automatic templates (admitted,
// evictable), max_routes..2*max_routes-1 configured patterns (one per pattern, never
// evicted, not counted against the automatic budget), 2*max_routes "other". An id whose
// template changes (an eviction, a pattern dropped by a reload) gets a new generation(),
// so figures kept per id can tell the new route from the old one. Locks; workers go
// through a RouteCache instead.
//
// Memory is bounded whatever clients send: max_routes names of at most kMaxRouteLength
// bytes per range, plus at most kMaxCandidates candidate templates (each at most
// kMaxRouteLength bytes, stored once, ~100 bytes of bookkeeping: < 400 KiB in all).
class RouteTable {
 public:
  static constexpr size_t kDefaultMaxRoutes = 100;
  static constexpr size_t kMaxCandidates = 1024;
  explicit RouteTable(size_t max_routes = kDefaultMaxRoutes, RouteAdmission admission = {});

  // User patterns take precedence over automatic templating: "/users/{id}/orders" matches
  // any path with those literal segments and anything in the {...} ones; a final "{*}"
  // segment matches any rest. First match wins. At most max_routes patterns (the config
  // checks it; extra ones are ignored). Each gets a route of its own at once, kept across
  // reloads while the pattern stays. A dropped pattern's route keeps its name and figures
  // until a new pattern needs its slot (then freed: a new generation); listed again
  // before that, it has them back. A pattern spelled like an admitted automatic template
  // takes its name: the automatic route is evicted. Safe while workers look routes up (a
  // config reload): each RouteCache switches at its next lookup.
  void set_patterns(std::vector<std::string> patterns);
  void set_admission(RouteAdmission admission);
  // The table's clock: whole seconds on any monotonic scale (the registry's tick). Idle
  // times and admission windows are measured with it; it never goes back.
  void advance_to(uint32_t now_s);
  // Template for path (pattern or automatic) into out; returns length, 0 if too long.
  // Locks briefly to read the current patterns; workers go through a RouteCache.
  size_t templatize(std::string_view path, char* out, size_t cap) const;
  std::string templatize(std::string_view path) const;

  size_t max_routes() const { return max_routes_; }
  size_t id_count() const { return 2 * max_routes_ + 1; }  // every id, "other" included
  uint32_t other_id() const { return uint32_t(2 * max_routes_); }
  bool is_automatic(uint32_t id) const { return id < max_routes_; }
  // Admits tmpl as if it had been answered with a proving status: its id, other_id() when
  // the table is full and nothing is idle enough to evict.
  uint32_t intern(std::string_view tmpl);
  // Template of an id ("other" for other_id(), "" for a free id).
  std::string name(uint32_t id) const;
  // Bumped each time id is given to another template. Lock-free.
  uint32_t generation(uint32_t id) const {
    return id < other_id() ? slot_gen_[id].load(std::memory_order_acquire) : 0;
  }
  // Id of a template admitted now (automatic or pattern), other_id() for "other"; nullopt
  // when unknown. Registers nothing.
  std::optional<uint32_t> find(std::string_view tmpl) const;
  size_t size() const;  // routes in use: automatic admitted + patterns
  RouteTableStats stats() const;

 private:
  friend class RouteCache;
  struct Pattern {
    std::string text;
    std::vector<std::string> segments;  // "" for a {...} wildcard segment
    bool rest_wildcard = false;
    uint32_t id = 0;  // its route
  };
  using Patterns = std::vector<Pattern>;
  struct Candidate {
    uint32_t hits = 0;
    uint32_t since_s = 0;  // start of its admission window
    uint32_t ring_slot = 0;
  };
  static bool match(const Pattern& p, std::string_view path);
  // pattern_id: the matching pattern's route, UINT32_MAX when none matched.
  static size_t templatize_with(const Patterns& patterns, std::string_view path, char* out,
                                size_t cap, uint32_t* pattern_id);
  std::shared_ptr<const Patterns> patterns() const;
  // Under mu_. hits: sightings reported now; proven: answered with a proving status.
  uint32_t admit_locked(std::string_view tmpl, uint32_t hits, bool proven);
  // Under mu_: a free automatic id, evicting the least recently hit idle one if need be;
  // other_id() when none.
  uint32_t take_automatic_locked(uint32_t now);
  void free_locked(uint32_t id);
  void note_candidate_locked(std::string_view tmpl, uint32_t now, Candidate*& out);
  void erase_candidate_locked(std::string_view tmpl);

  const size_t max_routes_;
  mutable std::mutex mu_;
  // Immutable once published: a reload swaps in a new set, and caches still templating
  // with the old one keep it alive through their own reference until they switch.
  std::shared_ptr<const Patterns> patterns_;        // guarded by mu_
  std::vector<std::string> names_;                  // by id < other_id(); guarded by mu_
  std::unordered_map<std::string, uint32_t> ids_;   // named ids; guarded by mu_
  std::vector<bool> pattern_current_;  // by pattern id - max_routes_; guarded by mu_
  std::vector<uint32_t> free_automatic_;            // guarded by mu_; popped from the back
  RouteAdmission admission_;                        // guarded by mu_
  uint64_t admissions_ = 0, evictions_ = 0;         // guarded by mu_
  // No automatic route can be idle enough to evict before this (a lower bound: last hits
  // only move forward), so a full table with hot routes refuses newcomers in O(1).
  uint32_t next_evictable_s_ = 0;                   // guarded by mu_
  // Candidates, oldest first out when full: a scanner's one-off paths push each other out
  // and never grow the table. ring_ points at the keys of candidates_ (stable nodes);
  // each candidate owns one ring slot, nulled when it leaves otherwise (admitted).
  std::unordered_map<std::string, Candidate> candidates_;  // guarded by mu_
  std::vector<const std::string*> ring_;                    // guarded by mu_
  size_t ring_next_ = 0;                                    // guarded by mu_
  // Per id: generation (bumped under mu_), and for automatic ids the table second of the
  // last hit (written by the caches with plain relaxed stores, at most once a second).
  std::unique_ptr<std::atomic<uint32_t>[]> slot_gen_;
  std::unique_ptr<std::atomic<uint32_t>[]> last_hit_;
  // Read by every lookup, written rarely, so on a line of their own: generation_ is bumped
  // (under mu_) when ids change meaning (pattern reload, eviction) and makes every cache
  // rebuild; admitted_ when a template is admitted (caches pull it at their next miss);
  // now_s_ by advance_to; window_s_ mirrors admission_.window_s for the caches' filter.
  alignas(64) std::atomic<uint64_t> generation_{0};
  std::atomic<uint64_t> admitted_{0};
  std::atomic<uint32_t> now_s_{0};
  std::atomic<uint32_t> window_s_{60};
};

// Worker-local view of a RouteTable: lookups of admitted routes and patterns take no lock
// and allocate nothing; one atomic load per lookup notices a reload or an eviction.
class RouteCache {
 public:
  explicit RouteCache(RouteTable& table);
  // The route of a request answered with status (0: none), counting it as a hit: towards
  // admission for a template not admitted yet (counted under "other" meanwhile), and as
  // the route's last use for eviction. A template this worker has not seen within the
  // admission window is held here at its first sighting, without the table's lock; from
  // its second sighting on, sightings are reported to the table, so a burst of one-off
  // paths (a scanner) costs templating and no lock. Worker thread only.
  uint32_t lookup(std::string_view path, uint16_t status) { return resolve(path, status, true); }
  // The route path has now, counting nothing (the access log names the route the
  // metrics recorded just before).
  uint32_t peek(std::string_view path);

 private:
  // Open addressing, power-of-two size, at most half full: one probe in the common case
  // and no division (std::unordered_map's prime modulo cost more than the hashing).
  struct Entry {
    uint64_t hash = 0;
    uint32_t id = 0;
    bool used = false;
    std::string key;
  };
  const Entry* find(std::string_view key, uint64_t hash) const;
  void insert(std::string_view key, uint32_t id);
  void sync_locked();
  void rebuild();
  void touch(uint32_t id) {
    if (!table_.is_automatic(id)) return;
    // Plain load, then a store only when the second changed: the line stays shared.
    const uint32_t now = table_.now_s_.load(std::memory_order_relaxed);
    std::atomic<uint32_t>& last = table_.last_hit_[id];
    if (last.load(std::memory_order_relaxed) != now) last.store(now, std::memory_order_relaxed);
  }
  uint32_t resolve(std::string_view path, uint16_t status, bool count);
  // resolve() past a front cache miss; front: the path's front slot, to fill (nullptr for
  // a path too long to keep there).
  struct FrontEntry;
  [[gnu::noinline]] uint32_t resolve_slow(std::string_view path, uint16_t status, bool count,
                                          FrontEntry* front);
  uint32_t miss(std::string_view tmpl, uint64_t hash, uint16_t status);

  // Raw path -> id, direct-mapped, in front of templating: a service's hot paths repeat,
  // and a hit skips templating and the template hash (about 60 % of the per-request cost
  // of finding the route). Only admitted routes and patterns go in (a path counted under
  // "other" must keep being counted towards admission); it is emptied when ids change
  // meaning (generation). Longer paths always take the slow way.
  static constexpr size_t kFrontSlots = 256;
  static constexpr size_t kFrontKey = 62;
  struct FrontEntry {
    uint32_t id = 0;
    uint8_t len = 0xff;  // 0xff: empty
    char key[kFrontKey];
  };
  std::vector<FrontEntry> front_;

  // First sightings of templates not admitted, direct-mapped by hash: a collision only
  // makes a template wait for one more sighting.
  static constexpr size_t kFilterSlots = 256;
  struct FilterEntry {
    uint64_t hash = 0;
    uint32_t hits = 0;
    uint32_t since_s = 0;
  };
  std::vector<FilterEntry> filter_;

  RouteTable& table_;
  // The table's patterns as of generation_, held here so templating takes no lock.
  std::shared_ptr<const RouteTable::Patterns> patterns_;
  uint64_t generation_ = 0;
  uint64_t admitted_ = 0;  // the table's admitted_ when last synced
  // Automatic template -> id, for the admitted ones.
  std::vector<Entry> slots_;
  size_t mask_;
};

}  // namespace sidemeter::metrics
