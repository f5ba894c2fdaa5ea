#include "metrics/route_template.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace sidemeter::metrics {
namespace {

// A request answered 200: proves its route (admitted at once while there is room).
uint32_t hit(RouteCache& c, std::string_view path) { return c.lookup(path, 200); }

TEST(AutoRouteTemplate, IdsBecomePlaceholders) {
  EXPECT_EQ(auto_route_template(""), "/");
  EXPECT_EQ(auto_route_template("/"), "/");
  EXPECT_EQ(auto_route_template("/users/42"), "/users/{id}");
  EXPECT_EQ(auto_route_template("/users/42/orders/7?x=1"), "/users/{id}/orders/{id}");
  EXPECT_EQ(auto_route_template("/items/123e4567-e89b-12d3-a456-426614174000"), "/items/{id}");
  EXPECT_EQ(auto_route_template("/blob/deadbeefcafebabe0123"), "/blob/{id}");
  EXPECT_EQ(auto_route_template("/t/aB3dE5fG7hJ9kL1mN3pQ"), "/t/{id}");
  EXPECT_EQ(auto_route_template("/reports/123.json"), "/reports/{id}.json");
  EXPECT_EQ(auto_route_template("/static/app.js#frag"), "/static/app.js");
  EXPECT_EQ(auto_route_template("/api/v1/health/"), "/api/v1/health/");
}

TEST(AutoRouteTemplate, WordsStay) {
  EXPECT_EQ(auto_route_template("/api/v2/users"), "/api/v2/users");
  EXPECT_EQ(auto_route_template("/abc123"), "/abc123");  // short: not an id
  EXPECT_EQ(auto_route_template("/averyveryverylongwordwithoutdigits"),
            "/averyveryverylongwordwithoutdigits");
  EXPECT_EQ(auto_route_template("/beef"), "/beef");  // short hex
}

TEST(AutoRouteTemplate, TooLongDoesNotFit) {
  const std::string p = "/" + std::string(300, 'z');
  char buf[kMaxRouteLength];
  EXPECT_EQ(auto_route_template(p, buf, sizeof buf), 0u);
}

TEST(RouteTable, PatternsTakePrecedence) {
  RouteTable t;
  t.set_patterns({"/users/{id}/orders", "/files/{*}"});
  EXPECT_EQ(t.templatize("/users/alice/orders"), "/users/{id}/orders");
  EXPECT_EQ(t.templatize("/users/alice/orders?page=2"), "/users/{id}/orders");
  EXPECT_EQ(t.templatize("/users/alice/profile"), "/users/alice/profile");
  EXPECT_EQ(t.templatize("/users//orders"), "/users//orders");  // empty segment is no {id}
  EXPECT_EQ(t.templatize("/files/a/b/c"), "/files/{*}");
  EXPECT_EQ(t.templatize("/users/42"), "/users/{id}");
}

TEST(RouteTable, CapSendsTheRestToOther) {
  RouteTable t(3);
  EXPECT_EQ(t.intern("/a"), 0u);
  EXPECT_EQ(t.intern("/b"), 1u);
  EXPECT_EQ(t.intern("/a"), 0u);
  EXPECT_EQ(t.intern("/c"), 2u);
  EXPECT_EQ(t.intern("/d"), t.other_id());
  EXPECT_EQ(t.other_id(), 6u);  // after the 3 automatic and the 3 pattern ids
  EXPECT_EQ(t.name(1), "/b");
  EXPECT_EQ(t.name(t.other_id()), "other");
  EXPECT_EQ(t.size(), 3u);
}

TEST(RouteCache, MirrorsTheTableAndHonoursTheCap) {
  RouteTable t(2);
  RouteCache a(t), b(t);
  EXPECT_EQ(hit(a, "/x/1"), 0u);
  EXPECT_EQ(hit(b, "/y"), 1u);
  EXPECT_EQ(hit(a, "/x/2"), 0u);  // same template, cached
  EXPECT_EQ(hit(a, "/z"), t.other_id());
  EXPECT_EQ(hit(a, "/y"), 1u);  // learnt from the table while syncing
  EXPECT_EQ(hit(b, "/x/99"), 0u);
  EXPECT_EQ(hit(b, "/w"), t.other_id());
  EXPECT_EQ(t.size(), 2u);
}

TEST(RouteCache, RepeatedAndEvictedPathsKeepTheirIds) {
  // 3000 distinct raw paths cycle through a 256-slot front cache, so slots are evicted and
  // refilled many times; every answer must still be the template's id (or other).
  RouteTable t(40);
  RouteCache c(t);
  std::vector<std::string> paths;
  for (int i = 0; i < 3000; ++i) {
    paths.push_back("/svc" + std::to_string(i % 60) + "/items/" + std::to_string(i));
  }
  paths.push_back("/" + std::string(200, 'a'));  // longer than the front cache's keys
  paths.push_back("");
  std::vector<uint32_t> first;
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < paths.size(); ++i) {
      const uint32_t id = hit(c, paths[i]);
      if (round == 0) {
        first.push_back(id);
        if (id != t.other_id()) {
          ASSERT_EQ(t.name(id), t.templatize(paths[i])) << paths[i];
        }
      } else {
        ASSERT_EQ(id, first[i]) << paths[i] << " in round " << round;
      }
    }
  }
  EXPECT_EQ(t.size(), 40u);
  EXPECT_EQ(hit(c, "/svc3/items/777777"), hit(c, "/svc3/items/1"));
  // A rejected request has no path: a default view, whose data() is null.
  EXPECT_EQ(hit(c, std::string_view{}), hit(c, ""));
  EXPECT_EQ(hit(c, std::string_view{}), hit(c, std::string_view{}));
}

TEST(RouteCache, TheFrontCacheTellsApartPathsDifferingInOneByte) {
  // The front cache hashes and compares paths a word at a time (8-byte words, overlapping
  // halves below 8 bytes, single bytes below 4): for every length it keeps (1..62) and
  // every byte position, a path differing from another in that byte alone is another
  // route. ~2000 paths of a few lengths each in 256 slots: same-length paths meet in a
  // slot many times, so a comparison that missed a byte would answer with the wrong id.
  RouteTable t(2100);
  RouteCache c(t);
  std::vector<std::string> paths;
  for (size_t n = 1; n <= 62; ++n) {
    const std::string base = "/" + std::string(n - 1, 'x');  // not hex: no {id}
    paths.push_back(base);
    for (size_t k = 1; k < n; ++k) {
      std::string variant = base;
      variant[k] = 'y';
      paths.push_back(variant);
    }
  }
  ASSERT_LT(paths.size(), t.max_routes());
  for (int round = 0; round < 3; ++round) {
    for (const std::string& p : paths) {
      const uint32_t id = hit(c, p);
      ASSERT_NE(id, t.other_id()) << p;
      ASSERT_EQ(t.name(id), p) << "round " << round;
    }
  }
  // A path's own copy (another buffer, same bytes) is the same route.
  for (const std::string& p : paths) {
    const std::string copy(p.data(), p.size());
    ASSERT_EQ(t.name(hit(c, copy)), p);
  }
}

TEST(RouteCache, ConcurrentWorkersAgreeOnIds) {
  RouteTable t(50);
  std::vector<std::vector<uint32_t>> ids(4);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      RouteCache c(t);
      for (int i = 0; i < 200; ++i) ids[w].push_back(hit(c, "/r" + std::to_string(i % 80) + "x"));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.size(), 50u);
  for (int w = 0; w < 4; ++w) {
    for (int i = 0; i < 200; ++i) {
      const uint32_t id = ids[w][i];
      const std::string want = "/r" + std::to_string(i % 80) + "x";
      if (id == t.other_id()) continue;
      ASSERT_EQ(t.name(id), want);
    }
  }
}

TEST(RouteCache, SetPatternsTakesEffectAtTheNextLookup) {
  RouteTable t;
  RouteCache c(t);
  const std::string long_path = "/users/" + std::string(80, '7');  // past the front cache
  const uint32_t auto_id = hit(c, "/users/42");
  ASSERT_EQ(t.name(auto_id), "/users/{id}");
  ASSERT_EQ(hit(c, long_path), auto_id);
  const uint32_t orders = hit(c, "/orders/7");

  t.set_patterns({"/users/{user}"});
  const uint32_t user_id = hit(c, "/users/42");  // the same raw path, now a front hit
  EXPECT_NE(user_id, auto_id);
  EXPECT_EQ(t.name(user_id), "/users/{user}");
  EXPECT_EQ(hit(c, long_path), user_id);
  EXPECT_EQ(hit(c, "/orders/8"), orders);  // unmatched paths still template automatically
  EXPECT_EQ(t.templatize("/users/42"), "/users/{user}");
  // A cache made after the reload starts with the new patterns.
  RouteCache fresh(t);
  EXPECT_EQ(hit(fresh, "/users/1"), user_id);

  // Ids handed out before stay what they were, and dropping the pattern brings the old
  // template, with its old id, back.
  EXPECT_EQ(t.name(auto_id), "/users/{id}");
  t.set_patterns({});
  EXPECT_EQ(hit(c, "/users/42"), auto_id);
  EXPECT_EQ(hit(fresh, "/users/1"), auto_id);
  // The dropped pattern's route keeps its name (and figures) while its slot is not needed.
  EXPECT_EQ(t.name(user_id), "/users/{user}");
  EXPECT_EQ(t.size(), 3u);
}

TEST(RouteCache, PatternsNeedNoRoomInAFullTable) {
  RouteTable t(1);
  RouteCache c(t);
  const uint32_t a = hit(c, "/a/1");
  EXPECT_EQ(hit(c, "/b"), t.other_id());
  t.set_patterns({"/b/{x}"});
  // The automatic budget is full, yet the pattern has its route at its first sighting,
  // whatever the status, and the automatic route stays.
  const uint32_t p = c.lookup("/b/7", 404);
  EXPECT_NE(p, t.other_id());
  EXPECT_FALSE(t.is_automatic(p));
  EXPECT_EQ(t.name(p), "/b/{x}");
  EXPECT_EQ(hit(c, "/a/1"), a);
  EXPECT_EQ(t.stats().automatic, 1u);
  EXPECT_EQ(t.stats().patterns, 1u);
}

TEST(RouteCache, LookupsWhileTheControlThreadSwapsPatterns) {
  // The writer alternates two pattern sets and after each one waits until the reader has
  // done a whole pass that began after it (no sleeps: an acknowledgement counter). So every
  // set is seen, and the reader's other passes run while set_patterns is in progress.
  constexpr int kSwaps = 200;
  const std::vector<std::string> a = {"/users/{user}"};
  const std::vector<std::string> b = {"/users/{account}"};
  const auto expected_for = [](int i) {
    return i == 0 ? "/users/{id}" : i % 2 == 1 ? "/users/{user}" : "/users/{account}";
  };
  const std::vector<std::string> paths = {"/users/1", "/users/2", "/users/3?q=abc",
                                          "/users/" + std::string(100, '9')};
  RouteTable t;
  std::atomic<int> published{0};
  std::atomic<int> acked{-1};
  std::atomic<bool> done{false};
  std::vector<std::string> failures;
  int exact_passes = 0;

  std::thread reader([&] {
    RouteCache c(t);
    int last_exact = -1;
    while (true) {
      const bool finished = done.load(std::memory_order_acquire);
      const int p = published.load(std::memory_order_acquire);
      // The writer waits for this pass's ack before its next swap, so the first pass after
      // publication p sees exactly set p; a later pass with the same p may race set p + 1.
      const bool exact = p != last_exact;
      for (const std::string& path : paths) {
        const std::string name = t.name(hit(c, path));
        const bool ok = exact ? name == expected_for(p)
                              : name == expected_for(p) || name == expected_for(p + 1);
        if (!ok && failures.size() < 10) {
          failures.push_back("pass " + std::to_string(p) + (exact ? " (exact)" : "") + ": " +
                             path.substr(0, 12) + " -> " + name);
        }
      }
      if (exact) ++exact_passes;
      last_exact = p;
      acked.store(p, std::memory_order_release);
      if (finished) break;
    }
  });

  // Publication 0 (no patterns yet) gets its exact pass too.
  while (acked.load(std::memory_order_acquire) < 0) std::this_thread::yield();
  for (int i = 1; i <= kSwaps; ++i) {
    t.set_patterns(i % 2 == 1 ? a : b);
    published.store(i, std::memory_order_release);
    while (acked.load(std::memory_order_acquire) < i) std::this_thread::yield();
  }
  done.store(true, std::memory_order_release);
  reader.join();

  EXPECT_TRUE(failures.empty()) << failures.front();
  EXPECT_EQ(exact_passes, kSwaps + 1);  // publication 0 and each swap
  EXPECT_EQ(t.size(), 3u);  // {id} from before the first swap, {user}, {account}
}

// ---------------------------------------------------------------- admission and eviction

RouteAdmission admission(uint32_t hits, uint32_t window_s, uint32_t min_idle_s) {
  RouteAdmission a;
  a.hits = hits;
  a.window_s = window_s;
  a.min_idle_s = min_idle_s;
  return a;
}

TEST(RouteAdmission, ProvingStatuses) {
  for (uint16_t s : {200, 201, 204, 206, 299, 304}) EXPECT_TRUE(proves_route(s)) << s;
  for (uint16_t s : {0, 100, 101, 301, 302, 307, 400, 401, 403, 404, 405, 410, 429, 500, 503})
    EXPECT_FALSE(proves_route(s)) << s;
}

TEST(RouteAdmission, AProvingStatusAdmitsAtOnceOthersWait) {
  RouteTable t(10, admission(3, 60, 300));
  RouteCache c(t);
  EXPECT_EQ(c.lookup("/missing", 404), t.other_id());
  EXPECT_EQ(c.lookup("/login", 302), t.other_id());
  EXPECT_EQ(c.lookup("/private", 401), t.other_id());
  EXPECT_EQ(c.lookup("/broken", 500), t.other_id());
  EXPECT_EQ(c.lookup("/cut", 0), t.other_id());
  EXPECT_EQ(t.size(), 0u);
  const uint32_t ok = c.lookup("/items/12", 200);
  ASSERT_NE(ok, t.other_id());
  EXPECT_EQ(t.name(ok), "/items/{id}");
  const uint32_t cached = c.lookup("/items/13", 304);
  EXPECT_EQ(cached, ok);
  const uint32_t etag = c.lookup("/etag", 304);
  EXPECT_NE(etag, t.other_id());
  // Once admitted, any status keeps the route.
  EXPECT_EQ(c.lookup("/items/14", 404), ok);
  EXPECT_EQ(t.stats().admissions, 2u);
}

TEST(RouteCache, ARequestWithoutAPathIsNeverCountedUnderSlash) {
  RouteTable t(10, admission(3, 60, 300));
  RouteCache c(t);
  const uint32_t slash = c.lookup("/", 200);
  ASSERT_NE(slash, t.other_id());
  EXPECT_EQ(c.lookup("", 400), t.other_id());
  EXPECT_EQ(c.lookup("", 200), t.other_id());
  EXPECT_EQ(c.peek(""), t.other_id());
  EXPECT_EQ(c.lookup("/", 400), slash);
}

TEST(RouteAdmission, HitsWithinTheWindowAdmit) {
  RouteTable t(10, admission(3, 60, 300));
  RouteCache c(t);
  EXPECT_EQ(c.lookup("/old/1", 404), t.other_id());
  EXPECT_EQ(c.lookup("/old/2", 410), t.other_id());
  EXPECT_EQ(t.stats().candidates, 1u);  // the second sighting reached the table
  const uint32_t id = c.lookup("/old/3", 404);  // the third admits
  ASSERT_NE(id, t.other_id());
  EXPECT_EQ(t.name(id), "/old/{id}");
  EXPECT_EQ(t.stats().candidates, 0u);
  EXPECT_EQ(t.stats().admissions, 1u);
}

TEST(RouteAdmission, HitsSpreadBeyondTheWindowDoNotAdmit) {
  RouteTable t(10, admission(3, 60, 300));
  RouteCache c(t);
  for (uint32_t i = 0; i < 10; ++i) {
    t.advance_to(i * 40);  // two sightings per 60 s window at most
    EXPECT_EQ(c.lookup("/slow", 404), t.other_id()) << i;
  }
  EXPECT_EQ(t.size(), 0u);
  // Three inside one window do.
  t.advance_to(1000);
  c.lookup("/slow", 404);
  t.advance_to(1030);
  c.lookup("/slow", 404);
  t.advance_to(1059);
  EXPECT_NE(c.lookup("/slow", 404), t.other_id());
}

TEST(RouteAdmission, SightingsOnSeveralWorkersAddUp) {
  RouteTable t(10, admission(4, 60, 300));
  RouteCache a(t), b(t);
  // Each worker keeps its first sighting; from the second on they reach the table.
  EXPECT_EQ(a.lookup("/x", 404), t.other_id());
  EXPECT_EQ(b.lookup("/x", 404), t.other_id());
  EXPECT_EQ(a.lookup("/x", 404), t.other_id());  // 2 reported
  const uint32_t id = b.lookup("/x", 404);         // 2 more: 4
  ASSERT_NE(id, t.other_id());
  // Worker a learns the admission at its next miss without it counting as a sighting.
  EXPECT_EQ(a.lookup("/x", 404), id);
  EXPECT_EQ(t.stats().admissions, 1u);
}

TEST(RouteAdmission, AScannerBurstNeitherFillsTheTableNorGrowsMemory) {
  RouteTable t(5, admission(5, 60, 300));
  RouteCache c(t);
  // One-off paths stay in the worker's filter: the table never hears of them.
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(c.lookup("/scan" + std::to_string(i) + ".php", 404), t.other_id());
  }
  EXPECT_EQ(t.stats().candidates, 0u);
  // Seen twice each, they reach the table as candidates, bounded by kMaxCandidates.
  for (int i = 0; i < 5000; ++i) {
    const std::string p = "/probe" + std::to_string(i) + "/x";
    ASSERT_EQ(c.lookup(p, 404), t.other_id());
    ASSERT_EQ(c.lookup(p, 404), t.other_id());
  }
  EXPECT_EQ(t.stats().candidates, RouteTable::kMaxCandidates);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.stats().admissions, 0u);
  // The real route still gets in, and so do all five.
  for (int i = 0; i < 5; ++i) {
    const uint32_t id = c.lookup("/api/v" + std::to_string(i) + "/orders", 200);
    ASSERT_NE(id, t.other_id()) << i;
  }
  EXPECT_EQ(t.stats().automatic, 5u);
}

TEST(RouteEviction, TheLeastRecentlyHitIdleRouteMakesRoom) {
  RouteTable t(2, admission(5, 60, 10));
  RouteCache c(t), other_worker(t);
  const uint32_t a = hit(c, "/a");
  const uint32_t b = hit(c, "/b");
  ASSERT_EQ(hit(other_worker, "/b"), b);  // cached there too
  const uint32_t b_gen = t.generation(b);
  t.advance_to(5);
  EXPECT_EQ(hit(c, "/a"), a);  // /a last hit at 5, /b at 0
  t.advance_to(9);
  EXPECT_EQ(hit(c, "/c"), t.other_id());  // nothing idle 10 s yet: /c waits
  EXPECT_EQ(t.stats().evictions, 0u);
  t.advance_to(12);
  const uint32_t c_id = hit(c, "/c");  // /b idle 12 s, /a only 7 s
  EXPECT_EQ(c_id, b);
  EXPECT_EQ(t.name(b), "/c");
  EXPECT_NE(t.generation(b), b_gen);
  EXPECT_EQ(t.find("/b"), std::nullopt);
  EXPECT_EQ(t.stats().evictions, 1u);
  // The other worker's cached /b no longer maps to the reused id.
  EXPECT_EQ(other_worker.lookup("/b", 404), t.other_id());
  EXPECT_EQ(hit(other_worker, "/c"), c_id);
  // A hot route is never pushed out: /a was hit at 5, so not before 15.
  EXPECT_EQ(hit(c, "/d"), t.other_id());
  EXPECT_EQ(hit(c, "/a"), a);  // hit at 12 now
  t.advance_to(21);
  EXPECT_EQ(hit(c, "/d"), t.other_id());  // /a idle 9 s, /c 9 s
  t.advance_to(22);
  const uint32_t d = hit(c, "/d");
  EXPECT_NE(d, t.other_id());
  EXPECT_EQ(t.stats().evictions, 2u);
  EXPECT_EQ(t.stats().automatic, 2u);
  EXPECT_EQ(t.stats().admissions, 4u);
}

TEST(RouteEviction, PatternsAreNeverEvicted) {
  RouteTable t(1, admission(5, 60, 1));
  t.set_patterns({"/p/{x}"});
  RouteCache c(t);
  const uint32_t p = c.lookup("/p/1", 404);
  ASSERT_NE(p, t.other_id());
  const uint32_t gen = t.generation(p);
  t.advance_to(100);
  ASSERT_NE(hit(c, "/a"), t.other_id());
  t.advance_to(200);
  ASSERT_NE(hit(c, "/b"), t.other_id());  // evicts /a, not the idle pattern
  EXPECT_EQ(c.lookup("/p/2", 404), p);
  EXPECT_EQ(t.generation(p), gen);
  EXPECT_EQ(t.stats().evictions, 1u);
}

TEST(RouteEviction, APatternTakesOverAnAutomaticTemplateOfTheSameName) {
  RouteTable t(4);
  RouteCache c(t);
  const uint32_t auto_id = hit(c, "/users/42");
  ASSERT_EQ(t.name(auto_id), "/users/{id}");
  t.set_patterns({"/users/{id}"});
  const uint32_t p = c.lookup("/users/43", 404);
  EXPECT_FALSE(t.is_automatic(p));
  EXPECT_EQ(t.name(p), "/users/{id}");
  EXPECT_EQ(t.name(auto_id), "");  // freed: one name, one route
  EXPECT_EQ(t.find("/users/{id}"), p);
  EXPECT_EQ(t.stats().automatic, 0u);
}

TEST(RouteEviction, PatternsKeptByAReloadKeepTheirIds) {
  RouteTable t(2);
  t.set_patterns({"/a/{x}", "/b/{x}"});
  RouteCache c(t);
  const uint32_t a = c.lookup("/a/1", 0);
  const uint32_t b = c.lookup("/b/1", 0);
  const uint32_t a_gen = t.generation(a), b_gen = t.generation(b);
  t.set_patterns({"/a/{x}"});
  EXPECT_EQ(c.lookup("/a/2", 0), a);
  EXPECT_EQ(t.name(b), "/b/{x}");  // dropped, figures kept while the slot is not needed
  EXPECT_EQ(c.lookup("/b/2", 0), t.other_id());  // no longer matched...
  t.set_patterns({"/b/{x}", "/a/{x}"});
  EXPECT_EQ(c.lookup("/b/3", 0), b);  // ...and back with its id when listed again
  EXPECT_EQ(t.generation(b), b_gen);
  t.set_patterns({"/c/{x}", "/a/{x}"});  // /c needs a slot: the dropped /b gives its own
  EXPECT_EQ(c.lookup("/a/3", 0), a);
  EXPECT_EQ(t.generation(a), a_gen);
  const uint32_t c_id = c.lookup("/c/1", 0);
  EXPECT_EQ(c_id, b);
  EXPECT_NE(t.generation(b), b_gen);
  EXPECT_EQ(t.name(b), "/c/{x}");
  EXPECT_EQ(t.stats().patterns, 2u);
}

TEST(RouteCache, PeekCountsNothing) {
  RouteTable t(4, admission(2, 60, 300));
  RouteCache c(t);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(c.peek("/quiet"), t.other_id());
  EXPECT_EQ(t.stats().candidates, 0u);
  const uint32_t id = hit(c, "/quiet");
  EXPECT_EQ(c.peek("/quiet"), id);
}

}  // namespace
}  // namespace sidemeter::metrics
