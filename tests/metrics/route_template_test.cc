#include "metrics/route_template.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace sidemeter::metrics {
namespace {

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
  EXPECT_EQ(t.other_id(), 3u);
  EXPECT_EQ(t.name(1), "/b");
  EXPECT_EQ(t.name(t.other_id()), "other");
  EXPECT_EQ(t.size(), 3u);
}

TEST(RouteCache, MirrorsTheTableAndHonoursTheCap) {
  RouteTable t(2);
  RouteCache a(t), b(t);
  EXPECT_EQ(a.lookup("/x/1"), 0u);
  EXPECT_EQ(b.lookup("/y"), 1u);
  EXPECT_EQ(a.lookup("/x/2"), 0u);  // same template, cached
  EXPECT_EQ(a.lookup("/z"), t.other_id());
  EXPECT_EQ(a.lookup("/y"), 1u);  // learnt from the table while syncing
  EXPECT_EQ(b.lookup("/x/99"), 0u);
  EXPECT_EQ(b.lookup("/w"), t.other_id());
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
      const uint32_t id = c.lookup(paths[i]);
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
  EXPECT_EQ(c.lookup("/svc3/items/777777"), c.lookup("/svc3/items/1"));
  // A rejected request has no path: a default view, whose data() is null.
  EXPECT_EQ(c.lookup(std::string_view{}), c.lookup(""));
  EXPECT_EQ(c.lookup(std::string_view{}), c.lookup(std::string_view{}));
}

TEST(RouteCache, ConcurrentWorkersAgreeOnIds) {
  RouteTable t(50);
  std::vector<std::vector<uint32_t>> ids(4);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      RouteCache c(t);
      for (int i = 0; i < 200; ++i) ids[w].push_back(c.lookup("/r" + std::to_string(i % 80) + "x"));
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
  const uint32_t auto_id = c.lookup("/users/42");
  ASSERT_EQ(t.name(auto_id), "/users/{id}");
  ASSERT_EQ(c.lookup(long_path), auto_id);
  const uint32_t orders = c.lookup("/orders/7");

  t.set_patterns({"/users/{user}"});
  const uint32_t user_id = c.lookup("/users/42");  // the same raw path, now a front hit
  EXPECT_NE(user_id, auto_id);
  EXPECT_EQ(t.name(user_id), "/users/{user}");
  EXPECT_EQ(c.lookup(long_path), user_id);
  EXPECT_EQ(c.lookup("/orders/8"), orders);  // unmatched paths still template automatically
  EXPECT_EQ(t.templatize("/users/42"), "/users/{user}");
  // A cache made after the reload starts with the new patterns.
  RouteCache fresh(t);
  EXPECT_EQ(fresh.lookup("/users/1"), user_id);

  // Ids handed out before stay what they were, and dropping the pattern brings the old
  // template, with its old id, back.
  EXPECT_EQ(t.name(auto_id), "/users/{id}");
  t.set_patterns({});
  EXPECT_EQ(c.lookup("/users/42"), auto_id);
  EXPECT_EQ(fresh.lookup("/users/1"), auto_id);
  EXPECT_EQ(t.name(user_id), "/users/{user}");
  EXPECT_EQ(t.size(), 3u);
}

TEST(RouteCache, AFullTableStaysFullAcrossAReload) {
  RouteTable t(1);
  RouteCache c(t);
  const uint32_t a = c.lookup("/a/1");
  EXPECT_EQ(c.lookup("/b"), t.other_id());
  t.set_patterns({"/a/{x}"});
  // "/a/{x}" is new but the table has no room left: other, not a recycled id.
  EXPECT_EQ(c.lookup("/a/1"), t.other_id());
  t.set_patterns({});
  EXPECT_EQ(c.lookup("/a/1"), a);
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
        const std::string name = t.name(c.lookup(path));
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

}  // namespace
}  // namespace sidemeter::metrics
