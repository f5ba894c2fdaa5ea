#!/usr/bin/python3
"""The fleet end to end (issue 14): deploy/fleet/fleet.py's three backend + sidemeter pairs
(2 workers each) behind HAProxy with PROXY protocol v2 and /readyz checks, one Prometheus
2.42 scraping every stats port as native (protobuf) and classic (?format=text).

1. A bounded load through the balancer, from 127.0.0.2 and .3 (HAProxy connects from .1),
   keep-alive and not, three routes with 1/10/40 ms delays: every request answered 200;
   the three /stats totals, the backends' counts, the access logs and Prometheus' fleet
   sums (classic, native, per-route family) all equal the requests sent, pod by pod;
   fleet p50/p99 from Prometheus (classic over `sum by (le)`, native over `sum`) agree with
   the exact quantiles of the union of every sample (the three access logs) within the
   bucket error; every request reached its backend carrying its client's address
   (127.0.0.2 or 127.0.0.3) in X-Forwarded-For, through PROXY protocol v2.
2. A second load while pod0 gets SIGTERM: no request lost at the balancer, HAProxy marks
   pod0 DOWN, pod0 exits 0, the two others take the rest, nothing is sent twice.
3. The same for pod1 reloaded with drain_delay 0 (its listener closes before HAProxy's
   checks notice): HAProxy's retry-on and redispatch alone keep every request.

Prints the figures (the README's Fleet section quotes them). Exit 77 (skip) without
haproxy or prometheus.
"""
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "fleet"))
import fleet  # noqa: E402

G = 2 ** (1 / 64)  # native bucket growth (schema 6): one bucket is 1.09 %
failures = []


def check(ok, what):
  print(("ok   " if ok else "FAIL ") + what)
  if not ok:
    failures.append(what)


def supports_proxy_protocol(binary, d):
  path = os.path.join(d, "pp.yaml")
  with open(path, "w") as f:
    f.write("proxy_protocol: v2\n")
  return subprocess.run([binary, "--check-config", path], capture_output=True).returncode == 0


def classic_bucket(value_s):
  """(a, b] of FINE_BOUNDS holding a classic histogram_quantile result."""
  lo = 0.0
  for b in fleet.FINE_BOUNDS:
    if value_s <= b:
      return lo, b
    lo = b
  return lo, float("inf")


def check_quantile(run, tag):
  exact = run[f"exact_{tag}_ms"] / 1e3
  native = run[f"prom_native_{tag}_s"]
  classic = run[f"prom_classic_{tag}_s"]
  # metrics/histogram.h, "Error bound": Prometheus' native estimate lies in the bucket that
  # holds the sample of rank ceil(q n), one bucket (g - 1 = 1.09 %) wide; the access log
  # rounds to 1 µs.
  check(abs(native - exact) <= (G - 1) * exact + 2e-6,
        f"fleet {tag}: native {native * 1e3:.3f} ms within one bucket (1.09 %) of the exact "
        f"{exact * 1e3:.3f} ms")
  # Classic: the estimate interpolates inside (a, b], the bucket whose cumulative count
  # first reaches q n, which holds that same sample; the `le` counts come from the native
  # buckets, so a sample up to one native bucket below a may count above it.
  a, b = classic_bucket(classic)
  check(a / G - 2e-6 <= exact <= b + 2e-6,
        f"fleet {tag}: classic {classic * 1e3:.3f} ms and the exact {exact * 1e3:.3f} ms in the "
        f"same classic bucket ({a * 1e3:g}, {b * 1e3:g}] ms")
  # Over rate(...[5m]) (the dashboards' form): each pod's histogram is scaled by its own
  # extrapolation factor, a few per cent apart at most, which may move the rank by less
  # than a bucket's share here; allow one more bucket.
  native_rate = run[f"prom_native_rate_{tag}_s"]
  check(abs(native_rate - exact) <= 2 * (G - 1) * exact + 2e-6,
        f"fleet {tag} over rate(): native {native_rate * 1e3:.3f} ms within two buckets of the exact")
  classic_rate = run[f"prom_classic_rate_{tag}_s"]
  lo, _ = classic_bucket(a) if a > 0 else (0.0, 0.0)
  _, hi = classic_bucket(b * 1.0000001)
  check(lo <= classic_rate <= hi,
        f"fleet {tag} over rate(): classic {classic_rate * 1e3:.3f} ms in that classic bucket or "
        f"a neighbour, ({lo * 1e3:g}, {hi * 1e3:g}] ms")


def main():
  binary = os.environ.get("SIDEMETER_BIN")
  if not binary:
    print("SIDEMETER_BIN is not set")
    return 1
  for tool in ("haproxy", "prometheus"):
    if not fleet.find_tool(tool):
      print(f"SKIP: {tool} is not installed (deploy/install-deps.sh --test)")
      return 77
  started = time.monotonic()
  cpu0 = os.times()
  with tempfile.TemporaryDirectory(prefix="fleet-test-") as d:
    pp = supports_proxy_protocol(binary, d)
    print(f"PROXY protocol v2 between HAProxy and the sidecars: {'on' if pp else 'NOT SUPPORTED by this binary'}")
    check(pp, "the binary accepts proxy_protocol: v2")
    f = fleet.Fleet(binary, d, proxy_protocol=pp)
    codes = None
    try:
      f.start()
      # ---- 1. load, counts and quantiles
      n = 3000
      load = fleet.Load(f.haproxy.port, n).start()
      load.join()
      run = f.measure(load.done())
      run["statuses"] = load.statuses()
      check(load.done() == n and run["statuses"] == {200: n},
            f"{n} requests through the balancer, every one 200: {run['statuses']}")
      stats = run["stats_requests"]
      check(sum(stats) == n, f"the /stats totals {stats} sum to {n}")
      check(run["backend_requests"] == stats,
            f"each backend received what its sidecar counted: {run['backend_requests']} vs {stats}")
      check(run["access_log_lines"] == stats, f"access log lines per pod {run['access_log_lines']}")
      check(all(s > 0 for s in stats), "every pod served some")
      for key in ("prom_classic_requests", "prom_native_requests", "prom_route_requests"):
        check(run[key] == n, f"Prometheus {key} == {n}: {run[key]}")
      check([run["prom_per_pod"].get(f"pod{i}") for i in range(fleet.PODS)] == stats,
            f"Prometheus per pod {run['prom_per_pod']} == /stats")
      # Per pod, the same population (since start) in /stats and in Prometheus: the native
      # estimate is within (g - 1) / 2 + 1 / (2 a s) = 0.55 % of /stats's (histogram.h).
      for i, (st, nat) in enumerate(zip(run["stats_p99_ms"], run["prom_native_pod_p99_s"])):
        check(abs(nat * 1e3 - st) <= 0.0055 * st,
              f"pod{i} p99: Prometheus native {nat * 1e3:.4f} ms within 0.55 % of /stats {st} ms")
      check_quantile(run, "p50")
      check_quantile(run, "p99")
      # The client's own address, not HAProxy's 127.0.0.1, and that request's client's (two
      # clients: a server connection, and its PROXY header, shared between them would show).
      def wrong_xff():
        seen = [r for b in f.backends for r in b.records()]
        return seen, [r for r in seen if r[1] != (r[2] if pp else "127.0.0.1")]
      seen, bad = wrong_xff()
      check(not bad and {r[2] for r in seen} == set(fleet.CLIENT_ADDRESSES),
            f"every request reached its backend with X-Forwarded-For: its client's address "
            f"{fleet.CLIENT_ADDRESSES if pp else '(no PROXY protocol: HAProxy 127.0.0.1)'}: "
            f"{len(bad)} of {len(seen)} did not, e.g. {bad[:3]}")
      # ---- 2. drain pod0 under load, as configured (drain_delay covers HAProxy's checks);
      # ---- 3. drain pod1 with drain_delay 0: its listener closes before HAProxy notices,
      #         so only HAProxy's retries and redispatch keep every request.
      drains = [f.drain_run(0), f.drain_run(1, drain_delay=0)]
      fleet.print_figures(run, drains)
      for k, dr in enumerate(drains):
        p = dr["pod"]
        check(dr["statuses"] == {200: dr["sent"]},
              f"drain {p}: every one of {dr['sent']} requests answered 200: {dr['statuses']}")
        check(dr["exit_code"] == 0, f"drain {p}: exited {dr['exit_code']} (0: drained)")
        check(sum(dr["backend_requests"]) == dr["sent"],
              f"drain {p}: the backends received each request once: {dr['backend_requests']} "
              f"sum to {dr['sent']}")
        check(dr["drained_pod_requests_after_exit"] == 0, f"drain {p}: nothing reached it after exit")
        check(dr["others_after_down"] >= 300,
              f"drain {p}: the others took the rest: {dr['others_after_down']} requests after DOWN")
      seen, bad = wrong_xff()
      check(not bad, f"all {len(seen)} requests of the three runs carried their client's address "
            f"in X-Forwarded-For: {len(bad)} did not, e.g. {bad[:3]}")
      # /stats publishes once a tick: poll until pod2 agrees with its backend.
      back = f.backends[2].count()
      try:
        fleet.wait_until(lambda: f.pods[2].requests_total() == back, 10,
                         "pod2's /stats to reach its backend's count", step=0.1)
      except TimeoutError:
        pass
      late = f.pods[2].requests_total()
      check(late == back, f"pod2 counted what its backend received over three runs: {late} vs {back}")
    finally:
      codes = f.stop()
    check(codes == [0, 0, 0], f"every pod exited 0: {codes}")
  cpu = os.times()
  print(f"wall {time.monotonic() - started:.1f} s, harness CPU "
        f"{cpu.user - cpu0.user + cpu.system - cpu0.system:.1f} s, children CPU "
        f"{cpu.children_user - cpu0.children_user + cpu.children_system - cpu0.children_system:.1f} s")
  if failures:
    print(f"{len(failures)} check(s) failed")
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
