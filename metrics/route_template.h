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

// Process-wide route ids. Ids 0..max_routes-1 are templates in order of first sight;
// id max_routes is "other". Locks; workers go through a RouteCache instead.
class RouteTable {
 public:
  static constexpr size_t kDefaultMaxRoutes = 100;
  explicit RouteTable(size_t max_routes = kDefaultMaxRoutes);

  // User patterns take precedence over automatic templating: "/users/{id}/orders" matches
  // any path with those literal segments and anything in the {...} ones; a final "{*}"
  // segment matches any rest. First match wins. Safe while workers look routes up (a
  // config reload): each RouteCache switches at its next lookup. Ids already handed out
  // keep their templates, so figures recorded under the old patterns stay as they were.
  void set_patterns(std::vector<std::string> patterns);
  // Template for path (pattern or automatic) into out; returns length, 0 if too long.
  // Locks briefly to read the current patterns; workers go through a RouteCache.
  size_t templatize(std::string_view path, char* out, size_t cap) const;
  std::string templatize(std::string_view path) const;

  size_t max_routes() const { return max_routes_; }
  uint32_t other_id() const { return uint32_t(max_routes_); }
  // Id of a template, registering it while there is room; other_id() once full.
  uint32_t intern(std::string_view tmpl);
  // Template of an id ("other" for other_id()).
  std::string name(uint32_t id) const;
  // Id of a template already interned, other_id() for "other"; nullopt when unknown.
  // Registers nothing.
  std::optional<uint32_t> find(std::string_view tmpl) const;
  size_t size() const;

 private:
  friend class RouteCache;
  struct Pattern {
    std::string text;
    std::vector<std::string> segments;  // "" for a {...} wildcard segment
    bool rest_wildcard = false;
  };
  using Patterns = std::vector<Pattern>;
  static bool match(const Pattern& p, std::string_view path);
  static size_t templatize_with(const Patterns& patterns, std::string_view path, char* out,
                                size_t cap);
  std::shared_ptr<const Patterns> patterns() const;

  const size_t max_routes_;
  mutable std::mutex mu_;
  // Immutable once published: a reload swaps in a new set, and caches still templating
  // with the old one keep it alive through their own reference until they switch.
  std::shared_ptr<const Patterns> patterns_;  // guarded by mu_
  std::vector<std::string> names_;            // guarded by mu_; only ever grows
  std::unordered_map<std::string, uint32_t> ids_;  // guarded by mu_
  // Bumped (under mu_) by every set_patterns. Workers read it once per lookup, so it gets
  // a cache line of its own: mu_ and names_ are written whenever a route is interned or
  // named, and sharing their line would cost every worker a miss each time.
  alignas(64) std::atomic<uint64_t> generation_{0};
};

// Worker-local view of a RouteTable: after warm-up, lookups take no lock and allocate
// nothing; one atomic load per lookup notices a pattern reload. It mirrors at most
// max_routes entries, and once it has mirrored a full table a miss means "other" without
// asking the table again.
class RouteCache {
 public:
  explicit RouteCache(RouteTable& table);
  uint32_t lookup(std::string_view path);

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
  void insert(std::string key, uint32_t id);
  void sync_locked();
  void reload_patterns();
  uint32_t lookup_template(std::string_view path);

  // Raw path -> id, direct-mapped, in front of templating: a service's hot paths repeat,
  // and a hit skips templating and the template hash (about 60 % of the per-request cost
  // of finding the route). A path's id only changes when the patterns do (the table only
  // grows, up to its cap), so the front is emptied on a new generation and otherwise
  // needs no invalidation. Longer paths always take the slow way.
  static constexpr size_t kFrontSlots = 256;
  static constexpr size_t kFrontKey = 62;
  struct FrontEntry {
    uint32_t id = 0;
    uint8_t len = 0xff;  // 0xff: empty
    char key[kFrontKey];
  };
  std::vector<FrontEntry> front_;

  RouteTable& table_;
  // The table's patterns as of generation_, held here so templating takes no lock.
  std::shared_ptr<const RouteTable::Patterns> patterns_;
  uint64_t generation_ = 0;
  // Template -> id. Unlike the front, this survives a pattern change: a template's id is
  // fixed for the table's lifetime whatever patterns produced it.
  std::vector<Entry> slots_;
  size_t mask_;
  size_t synced_ = 0;
  bool complete_ = false;
};

}  // namespace sidemeter::metrics
