#!/usr/bin/env python3
"""Turns the raw benchmark records (JSON lines) into the Markdown report: medians over
runs, ratios sidemeter/HAProxy and sidemeter/nginx, measurement cost, memory, targets.

Usage: report.py RAW.jsonl   (bench.py calls render() directly)
"""
import json
import statistics
import sys

PAYLOADS = ["small", "1k", "64k", "chunked"]
TARGETS = ["direct", "sidemeter", "sidemeter-nomeasure", "haproxy", "nginx"]
LABEL = {"direct": "direct (backend only)", "sidemeter": "sidemeter",
         "sidemeter-nomeasure": "sidemeter, measure: false", "haproxy": "HAProxy",
         "nginx": "nginx (proxy)"}


def median(records, target, kind, key, payload=None):
  vals = [r[key] for r in records if r.get("target") == target and r.get("kind") == kind
          and (payload is None or r.get("payload") == payload) and r.get(key) is not None]
  return statistics.median(vals) if vals else None


def fmt(v, digits=1, suffix=""):
  if v is None:
    return "n/a"
  return f"{v:,.{digits}f}{suffix}"


def ratio(a, b):
  return a / b if a is not None and b else None


def render(records):
  meta = next((r for r in records if r.get("kind") == "meta"), {})
  end = next((r for r in records if r.get("kind") == "meta_end"), {})
  args = meta.get("args", {})
  targets = [t for t in TARGETS if any(r.get("target") == t for r in records)]
  runs = max((r["run"] for r in records if r.get("kind") == "load"), default=0)
  out = []
  w = out.append
  w("# sidemeter benchmark\n")
  w(f"Medians of {runs} run(s). wrk -t1 -c{args.get('concurrency')} "
    f"-d{args.get('duration')}s; latency at concurrency 1: wrk -t1 -c1 "
    f"-d{args.get('c1_duration')}s. Proxy pinned to CPU {args.get('proxy_cpu')}, backend "
    f"(nginx, 1 worker) to CPU {args.get('backend_cpu')}, wrk to CPU {args.get('load_cpu')}. "
    f"Kernel {meta.get('uname')}; load average {meta.get('loadavg_start')} at start, "
    f"{end.get('loadavg_end')} at end.\n")
  v = meta.get("versions", {})
  w("Versions: " + "; ".join(f"{k}: {v[k]}" for k in v) + "\n")

  w(f"\n## Throughput, CPU and latency at concurrency {args.get('concurrency')}\n")
  w("| payload | target | req/s | CPU µs/req | on-CPU µs/req | p50 µs | p99 µs | errors |")
  w("|---|---|---:|---:|---:|---:|---:|---:|")
  for p in PAYLOADS:
    for t in targets:
      w(f"| {p} | {LABEL[t]} | {fmt(median(records, t, 'load', 'rps', p), 0)} | "
        f"{fmt(median(records, t, 'load', 'cpu_us_per_req', p), 2)} | "
        f"{fmt(median(records, t, 'load', 'sched_us_per_req', p), 2)} | "
        f"{fmt(median(records, t, 'load', 'p50_us', p))} | "
        f"{fmt(median(records, t, 'load', 'p99_us', p))} | "
        f"{fmt(median(records, t, 'load', 'errors', p), 0)} |")
  w("\nCPU µs/req = Δ(utime+stime) of all the proxy's processes and threads / requests wrk "
    "completed (10 ms tick resolution). on-CPU µs/req: the same from the scheduler's "
    "per-thread run time (/proc/PID/task/TID/schedstat, ns resolution). For 'direct' both are "
    "the backend's own CPU.\n")

  w("\n## Where the CPU goes: user space and kernel\n")
  w("| payload | target | user µs/req | kernel µs/req | kernel share |")
  w("|---|---|---:|---:|---:|")
  for p in PAYLOADS:
    for t in targets:
      u = median(records, t, "load", "user_us_per_req", p)
      k = median(records, t, "load", "kernel_us_per_req", p)
      share = k / (u + k) if u is not None and k is not None and u + k > 0 else None
      w(f"| {p} | {LABEL[t]} | {fmt(u, 2)} | {fmt(k, 2)} | {fmt(share and share * 100, 0, ' %')} |")
  w("\nKernel time is the loopback TCP work of one read and one write on each side (the "
    "peer's receive path runs in the sender's system call), the same for every proxy that "
    "does no more than that. The floor below is the CPU ratio sidemeter would reach with "
    "**zero** user-space time: its own kernel time ÷ the other proxy's total.\n")
  w("| payload | floor ÷ HAProxy | floor ÷ nginx | HAProxy's own kernel share |")
  w("|---|---:|---:|---:|")
  floors = {}
  for p in PAYLOADS:
    k = median(records, "sidemeter", "load", "kernel_us_per_req", p)
    tot = {t: median(records, t, "load", "cpu_us_per_req", p) for t in ("haproxy", "nginx")}
    hk = median(records, "haproxy", "load", "kernel_us_per_req", p)
    floors[p] = (ratio(k, tot["haproxy"]), ratio(k, tot["nginx"]))
    w(f"| {p} | {fmt(floors[p][0], 2, 'x')} | {fmt(floors[p][1], 2, 'x')} | "
      f"{fmt(ratio(hk, tot['haproxy']) and ratio(hk, tot['haproxy']) * 100, 0, ' %')} |")

  sweep = [r for r in records if r.get("kind") == "workers"]
  if sweep:
    w(f"\n## Workers (small responses, proxy allowed on CPUs {args.get('sweep_cpus')})\n")
    w("| workers | req/s | CPU µs/req | on-CPU µs/req | busiest worker's share | idlest worker's share |")
    w("|---:|---:|---:|---:|---:|---:|")
    for n in sorted({r["workers"] for r in sweep}):
      def med(key):
        vals = [r[key] for r in sweep if r["workers"] == n and r.get(key) is not None]
        return statistics.median(vals) if vals else None
      w(f"| {n} | {fmt(med('rps'), 0)} | {fmt(med('cpu_us_per_req'), 2)} | "
        f"{fmt(med('sched_us_per_req'), 2)} | {fmt(med('worker_share_max') and med('worker_share_max') * 100, 0, ' %')} | "
        f"{fmt(med('worker_share_min') and med('worker_share_min') * 100, 0, ' %')} |")
    w("\nOn a 2-core machine the backend and wrk need the other core's time too, so req/s "
      "cannot double; what shows whether throughput scales with cores is that the kernel "
      "spreads connections evenly over the SO_REUSEPORT listeners and CPU per request does "
      "not rise with more workers (nothing on the request path is shared).\n")

  w("\n## Latency at concurrency 1 (added = minus the direct backend's)\n")
  w("| payload | target | p50 µs | p99 µs | added p50 µs | added p99 µs |")
  w("|---|---|---:|---:|---:|---:|")
  added = {}
  for p in PAYLOADS:
    d50 = median(records, "direct", "c1", "p50_us", p)
    d99 = median(records, "direct", "c1", "p99_us", p)
    for t in targets:
      p50 = median(records, t, "c1", "p50_us", p)
      p99 = median(records, t, "c1", "p99_us", p)
      a50 = p50 - d50 if p50 is not None and d50 is not None and t != "direct" else None
      a99 = p99 - d99 if p99 is not None and d99 is not None and t != "direct" else None
      added[(t, p)] = (a50, a99)
      w(f"| {p} | {LABEL[t]} | {fmt(p50)} | {fmt(p99)} | {fmt(a50)} | {fmt(a99)} |")

  w("\n## Ratios (sidemeter with measurement on)\n")
  w("| payload | CPU/req ÷ HAProxy | CPU/req ÷ nginx | req/s ÷ HAProxy | req/s ÷ nginx | "
    "added p50 ÷ HAProxy | added p50 ÷ nginx |")
  w("|---|---:|---:|---:|---:|---:|---:|")
  ratios = {}
  for p in PAYLOADS:
    cpu = {t: median(records, t, "load", "cpu_us_per_req", p) for t in targets}
    rps = {t: median(records, t, "load", "rps", p) for t in targets}
    r = {
        "cpu_h": ratio(cpu.get("sidemeter"), cpu.get("haproxy")),
        "cpu_n": ratio(cpu.get("sidemeter"), cpu.get("nginx")),
        "rps_h": ratio(rps.get("sidemeter"), rps.get("haproxy")),
        "rps_n": ratio(rps.get("sidemeter"), rps.get("nginx")),
        "lat_h": ratio(added.get(("sidemeter", p), (None,))[0],
                       added.get(("haproxy", p), (None,))[0]),
        "lat_n": ratio(added.get(("sidemeter", p), (None,))[0],
                       added.get(("nginx", p), (None,))[0]),
    }
    ratios[p] = r
    w(f"| {p} | {fmt(r['cpu_h'], 2, 'x')} | {fmt(r['cpu_n'], 2, 'x')} | "
      f"{fmt(r['rps_h'], 2, 'x')} | {fmt(r['rps_n'], 2, 'x')} | {fmt(r['lat_h'], 2, 'x')} | "
      f"{fmt(r['lat_n'], 2, 'x')} |")

  w("\n## Cost of measuring (sidemeter measure: true vs false)\n")
  w("| payload | CPU µs/req on | CPU µs/req off | CPU difference | on-CPU difference | "
    "req/s on | req/s off |")
  w("|---|---:|---:|---:|---:|---:|---:|")
  cost = {}
  for p in PAYLOADS:
    on = median(records, "sidemeter", "load", "cpu_us_per_req", p)
    off = median(records, "sidemeter-nomeasure", "load", "cpu_us_per_req", p)
    diff = (on / off - 1) * 100 if on is not None and off else None
    cost[p] = diff
    son = median(records, "sidemeter", "load", "sched_us_per_req", p)
    soff = median(records, "sidemeter-nomeasure", "load", "sched_us_per_req", p)
    sdiff = (son / soff - 1) * 100 if son is not None and soff else None
    w(f"| {p} | {fmt(on, 2)} | {fmt(off, 2)} | {fmt(diff, 1, ' %')} | {fmt(sdiff, 1, ' %')} | "
      f"{fmt(median(records, 'sidemeter', 'load', 'rps', p), 0)} | "
      f"{fmt(median(records, 'sidemeter-nomeasure', 'load', 'rps', p), 0)} |")

  conns = args.get("conns")
  w(f"\n## Memory (RSS summed over the target's processes)\n")
  w(f"| target | idle RSS MiB | RSS with {conns} idle keep-alive conns MiB | KiB per conn | "
    f"conns served | sample still alive | RSS after load MiB |")
  w("|---|---:|---:|---:|---:|---:|---:|")
  mem = {}
  for t in targets:
    idle = median(records, t, "memory", "rss_idle_kib")
    full = median(records, t, "memory", "rss_after_kib")
    served = median(records, t, "memory", "served")
    per = (full - idle) / served if full is not None and idle is not None and served else None
    alive = median(records, t, "memory", "sample_alive")
    size = median(records, t, "memory", "sample_size")
    after = median(records, t, "rss_after_load", "rss_kib")
    mem[t] = (idle, per, served)
    w(f"| {LABEL[t]} | {fmt(idle and idle / 1024, 2)} | {fmt(full and full / 1024, 2)} | "
      f"{fmt(per, 2)} | {fmt(served, 0)} | {fmt(alive, 0)}/{fmt(size, 0)} | "
      f"{fmt(after and after / 1024, 2)} |")

  w("\n## Issue 5 targets (informational; timing is never a CI gate)\n")
  def check(ok, text):
    w(f"- {'n/a ' if ok is None else ('PASS' if ok else 'FAIL')} {text}")
  for p in ("small", "1k"):
    r = ratios.get(p, {})
    check(None if r.get("cpu_h") is None else r["cpu_h"] <= 0.75,
          f"{p}: CPU/req ≤ 0.75× HAProxy ({fmt(r.get('cpu_h'), 2, 'x')})")
    check(None if r.get("cpu_n") is None else r["cpu_n"] <= 0.75,
          f"{p}: CPU/req ≤ 0.75× nginx ({fmt(r.get('cpu_n'), 2, 'x')})")
  for p in ("64k", "chunked"):
    r = ratios.get(p, {})
    both = None if r.get("cpu_h") is None or r.get("cpu_n") is None else \
        r["cpu_h"] <= 1.0 and r["cpu_n"] <= 1.0
    check(both, f"{p}: CPU/req no worse than either ({fmt(r.get('cpu_h'), 2, 'x')} HAProxy, "
          f"{fmt(r.get('cpu_n'), 2, 'x')} nginx)")
  for p in PAYLOADS:
    check(None if cost.get(p) is None else cost[p] < 3.0,
          f"{p}: measuring costs < 3 % CPU/req ({fmt(cost.get(p), 1, ' %')})")
  for p in PAYLOADS:
    a = added.get(("sidemeter", p), (None,))[0]
    h = added.get(("haproxy", p), (None,))[0]
    check(None if a is None or h is None else a <= h,
          f"{p}: added p50 at c=1 ≤ HAProxy's ({fmt(a)} µs vs {fmt(h)} µs)")
  idle, per, served = mem.get("sidemeter", (None, None, None))
  check(None if idle is None else idle <= 8 * 1024, f"idle RSS ≤ 8 MiB ({fmt(idle and idle / 1024, 2)} MiB)")
  check(None if per is None else per <= 16, f"≤ 16 KiB per idle keep-alive conn ({fmt(per, 2)} KiB)")
  check(None if served is None else served >= (conns or 0),
        f"{conns} concurrent connections served ({fmt(served, 0)})")
  for p in ("small", "1k"):
    f = floors.get(p, (None, None))
    w(f"- {p}: with zero user-space time the kernel alone would put sidemeter at "
      f"{fmt(f[0], 2, 'x')} HAProxy and {fmt(f[1], 2, 'x')} nginx")
  if sweep:
    def med_w(n, key):
      vals = [r[key] for r in sweep if r["workers"] == n and r.get(key) is not None]
      return statistics.median(vals) if vals else None
    ns = sorted({r["workers"] for r in sweep})
    lo, hi = ns[0], ns[-1]
    c_lo, c_hi = med_w(lo, "cpu_us_per_req"), med_w(hi, "cpu_us_per_req")
    spread = med_w(hi, "worker_share_min")
    check(None if c_lo is None or c_hi is None else c_hi <= c_lo * 1.15,
          f"--workers {hi}: CPU/req within 15 % of --workers {lo} ({fmt(c_hi, 2)} vs {fmt(c_lo, 2)} µs)")
    check(None if spread is None else spread >= 0.8 / hi,
          f"--workers {hi}: the idlest worker does ≥ 80 % of an even share ({fmt(spread and spread * 100, 0, ' %')})")
  return "\n".join(out) + "\n"


if __name__ == "__main__":
  with open(sys.argv[1]) as f:
    print(render([json.loads(line) for line in f if line.strip()]))
