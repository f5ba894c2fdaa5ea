#!/usr/bin/env python3
"""Turns the raw benchmark records (JSON lines) into the Markdown report: medians over
rounds, ratios sidemeter ÷ each peer (whole process and user space), the cost of measuring,
latency at concurrency 1 and under many connections, 2-worker runs, memory, the control
thread's idle cost, and the issue 15 targets.

Usage: report.py RAW.jsonl   (bench.py calls render() directly)
"""
import json
import statistics
import sys

PAYLOADS = ["small", "1k", "64k", "chunked"]
PEERS = ["haproxy", "nginx", "caddy", "h2o"]
TARGETS = ["direct", "sidemeter", "sidemeter-nomeasure"] + PEERS
LABEL = {"direct": "direct (backend only)", "sidemeter": "sidemeter",
         "sidemeter-nomeasure": "sidemeter, measure: false", "haproxy": "HAProxy",
         "nginx": "nginx (proxy)", "caddy": "Caddy (metrics on)", "h2o": "h2o"}
SHORT = {"haproxy": "HAProxy", "nginx": "nginx", "caddy": "Caddy", "h2o": "h2o"}


def median(records, target, kind, key, payload=None, **match):
  vals = [r[key] for r in records if r.get("target") == target and r.get("kind") == kind
          and (payload is None or r.get("payload") == payload) and r.get(key) is not None
          and all(r.get(k) == v for k, v in match.items())]
  return statistics.median(vals) if vals else None


def count(records, target, kind, **match):
  return len([r for r in records if r.get("target") == target and r.get("kind") == kind
              and all(r.get(k) == v for k, v in match.items())])


def fmt(v, digits=1, suffix=""):
  if v is None:
    return "n/a"
  return f"{v:,.{digits}f}{suffix}"


def ratio(a, b):
  return a / b if a is not None and b else None


def pct(v):
  return None if v is None else v * 100


def render(records):
  meta = next((r for r in records if r.get("kind") == "meta"), {})
  end = next((r for r in records if r.get("kind") == "meta_end"), {})
  args = meta.get("args", {})
  targets = [t for t in TARGETS if any(r.get("target") == t for r in records)]
  peers = [t for t in PEERS if t in targets]
  runs = max((r["run"] for r in records if r.get("kind") == "load"), default=0)
  out = []
  w = out.append
  w("# sidemeter benchmark\n")
  w(f"Medians of {runs} interleaved round(s) (every target restarted in each round, the order "
    f"rotating between rounds). wrk -t1 -c{args.get('concurrency')} -d{args.get('duration')}s "
    f"per point; latency at concurrency 1: wrk -t1 -c1 -d{args.get('c1_duration')}s; many "
    f"connections: wrk -t1 -c{args.get('high_conns')} -d{args.get('high_duration')}s. "
    f"One worker per proxy pinned to CPU {args.get('proxy_cpu')}, the backend (nginx, 1 worker) "
    f"to CPU {args.get('backend_cpu')}, wrk to CPU {args.get('load_cpu')}. "
    f"Kernel {meta.get('uname')}; load average (1, 5, 15 min) {meta.get('loadavg_start')} at "
    f"start, {end.get('loadavg_end')} at end.\n")
  v = meta.get("versions", {})
  w("Versions: " + "; ".join(f"{k}: {v[k]}" for k in v) + "\n")

  # ------------------------------------------------------------ responses
  w("\n## Responses through each target (round 1)\n")
  w("Status, decoded body bytes and framing of one keep-alive request per payload "
    "(`chunked [sizes]` lists the chunk sizes in bytes). A cell marked ≠ differs from the "
    "direct backend's: the proxy re-framed the response. Equal cells do not prove the "
    "framing was passed through untouched (a proxy may decode and re-encode a chunked "
    "body into the same chunk sizes).\n")
  w("| target | " + " | ".join(PAYLOADS) + " |")
  w("|---|" + "---|" * len(PAYLOADS))
  direct_frames = {}
  for t in targets:
    cells = []
    for p in PAYLOADS:
      r = next((r for r in records if r.get("target") == t and r.get("kind") == "framing"
                and r.get("payload") == p), None)
      if r is None:
        cells.append("n/a")
        continue
      if "error" in r:
        cells.append(f"error: {r['error']}")
        continue
      frame = r["framing"] + (f" {r['chunks']}" if r["framing"] == "chunked" else "")
      key = (r["status"], r["body_bytes"], frame)
      if t == "direct":
        direct_frames[p] = key
      same = direct_frames.get(p) in (None, key)
      cells.append(f"{r['status']}, {r['body_bytes']} B, {frame}" + ("" if same else " **≠**"))
    w(f"| {LABEL[t]} | " + " | ".join(cells) + " |")
  cm = [r for r in records if r.get("kind") == "caddy_metrics"]
  if cm:
    counts = [r.get("request_duration_count") for r in cm]
    w(f"\nCaddy's metrics were read once per start, after the warm-up: "
      f"caddy_http_request_duration_seconds_count = {counts} (non-zero: it measured every "
      f"request inline).\n")

  # ------------------------------------------------------------ load at concurrency N
  w(f"\n## Throughput, CPU and latency at concurrency {args.get('concurrency')}\n")
  w("| payload | target | req/s | CPU µs/req | user µs/req | kernel µs/req | on-CPU µs/req | "
    "p50 µs | p99 µs | errors |")
  w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
  for p in PAYLOADS:
    for t in targets:
      m = lambda key: median(records, t, "load", key, p)
      w(f"| {p} | {LABEL[t]} | {fmt(m('rps'), 0)} | {fmt(m('cpu_us_per_req'), 2)} | "
        f"{fmt(m('user_us_per_req'), 2)} | {fmt(m('kernel_us_per_req'), 2)} | "
        f"{fmt(m('sched_us_per_req'), 2)} | {fmt(m('p50_us'))} | {fmt(m('p99_us'))} | "
        f"{fmt(m('errors'), 0)} |")
  w("\nCPU µs/req = Δ(utime+stime) of all the target's processes and threads ÷ requests wrk "
    "completed (10 ms ticks; user = utime, kernel = stime). on-CPU µs/req: the same from "
    "the scheduler's per-thread run time (/proc/PID/task/TID/schedstat, ns resolution). For "
    "'direct' it is the backend's own CPU. Kernel time is mostly the loopback TCP work of a "
    "read and a write on each side, about the same for every proxy that does no more.\n")

  # ------------------------------------------------------------ kernel work
  if any("syscr_per_req" in r for r in records if r.get("kind") == "load"):
    w(f"\n## What each target asks of the kernel, per request (concurrency "
      f"{args.get('concurrency')})\n")
    w("| payload | target | kernel µs/req | read-type calls | write-type calls | wakeups | "
      "preempted | TCP segments (machine) |")
    w("|---|---|---:|---:|---:|---:|---:|---:|")
    for p in PAYLOADS:
      for t in targets:
        m = lambda key: median(records, t, "load", key, p)
        w(f"| {p} | {LABEL[t]} | {fmt(m('kernel_us_per_req'), 2)} | "
          f"{fmt(m('syscr_per_req'), 2)} | {fmt(m('syscw_per_req'), 2)} | "
          f"{fmt(m('wakeups_per_req'), 2)} | {fmt(m('preempted_per_req'), 2)} | "
          f"{fmt(m('tcp_segments_per_req'), 2)} |")
    w("\nRead- and write-type calls: /proc/PID/io syscr/syscw, which count read(2)/readv(2) "
      "and write(2)/writev(2)/sendfile(2) but not recv/send (HAProxy uses those, so it shows 0, "
      "and nginx reads with recv). More of them than the minimum (1 + 1 per side) means a "
      "message was read or written in pieces. Wakeups: voluntary context switches, a "
      "thread that blocked (in epoll_wait, mostly) and was woken; fewer per request means "
      "more requests served per wakeup. TCP segments: /proc/net/snmp OutSegs of the whole "
      "machine over the run ÷ requests, client, proxy and backend together: a proxied "
      "exchange needs 4 data segments, the rest are pure ACKs or a message sent in pieces.\n")

  # ------------------------------------------------------------ system calls
  # user µs/req with the samples at system-call return sites taken out, by (payload, target)
  own_user = {}
  acct = [r for r in records if r.get("kind") == "syscall_accounting"]
  sampled = any(r.get("kind") == "cpu_samples" for r in records)
  if any(r.get("kind") == "syscalls" for r in records) or sampled:
    conc = args.get("concurrency")
    w(f"\n## System calls per request, and the user time they are charged\n")
    if acct:
      w("How this machine charges a system call (`syscall_accounting.c`: getppid(2) in a "
        "loop, almost no user-space work, on the proxy's CPU): " +
        "; ".join(f"{r.get('when')}: user {r['user_ns_per_call']:.0f} ns, system "
                  f"{r['sys_ns_per_call']:.0f} ns a call" for r in acct) +
        ". Where the user figure is far above a few ns, the machine charges part of each "
        "system call to user time (a VM whose kernel runs outside ring 0 does), and every "
        "target's user µs/req holds some of it.\n")
    w(f"| target | calls/req at c={conc} (small) | calls/req at c=1 (small) | payload | user µs/req | "
      "user samples at a system call's return | user µs/req without them |")
    w("|---|---:|---:|---|---:|---:|---:|")
    for t in targets:
      calls = median(records, t, "syscalls", "syscalls_per_req", "small", conns=conc)
      calls1 = median(records, t, "syscalls", "syscalls_per_req", "small", conns=1)
      for p in PAYLOADS[:2]:
        user = median(records, t, "load", "user_us_per_req", p)
        shares = [r["user_at_syscall_return"] / r["user"] for r in records
                  if r.get("kind") == "cpu_samples" and r.get("target") == t
                  and r.get("payload") == p and r.get("user")]
        share = statistics.median(shares) if shares else None
        own = user * (1 - share) if None not in (user, share) else None
        own_user[(p, t)] = own
        w(f"| {LABEL[t]} | {fmt(calls, 2) if p == 'small' else ''} | "
          f"{fmt(calls1, 2) if p == 'small' else ''} | {p} | {fmt(user, 2)} | "
          f"{fmt(share and share * 100, 1, ' %')} | {fmt(own, 2)} |")
    w("\nCalls: `perf stat -e raw_syscalls:sys_enter` on every thread of the target during "
      f"a wrk run of {args.get('syscall_duration')} s of its own (the counter costs each "
      "call a little, so CPU is measured in the other runs), ÷ requests. A proxied request "
      "needs at least a read and a write on each side (4); epoll waits and the rest come on "
      "top, shared by the requests of one wakeup under load. 'direct' is the backend "
      "alone. Samples: `perf record -e cpu-clock` on every thread during a wrk run of "
      f"{args.get('sample_duration')} s of its own at c={conc}; a user-space sample whose "
      "instruction follows a `syscall` instruction (read from the live process) is time "
      "charged on the way back from the kernel, not the target's code. The last column "
      "is the user µs/req of the load run (the one without perf) less that share. It still "
      "holds what the calls cost the code that runs right after them (on this VM, caches "
      "and branch predictors cold after "
      "every kernel entry): a getppid loop shows about a third of its charge there.\n")

  # ------------------------------------------------------------ ratios
  w("\n## Ratios: sidemeter (measure: true) ÷ each peer\n")
  w("Below 1.00x: sidemeter uses less (CPU) or serves more (req/s). Floor: sidemeter's "
    "kernel µs/req ÷ the peer's whole CPU µs/req, the whole-process ratio sidemeter would "
    "reach with zero user-space time.\n")
  w("| payload | peer | CPU/req (whole) | CPU/req (user space) | req/s | added p50 at c=1 | floor |")
  w("|---|---|---:|---:|---:|---:|---:|")
  ratios = {}
  added = {}
  for p in PAYLOADS:
    d50 = median(records, "direct", "c1", "p50_us", p)
    d99 = median(records, "direct", "c1", "p99_us", p)
    for t in targets:
      p50 = median(records, t, "c1", "p50_us", p)
      p99 = median(records, t, "c1", "p99_us", p)
      added[(t, p)] = (p50 - d50 if None not in (p50, d50) and t != "direct" else None,
                       p99 - d99 if None not in (p99, d99) and t != "direct" else None)
  for p in PAYLOADS:
    s = {k: median(records, "sidemeter", "load", k, p)
         for k in ("cpu_us_per_req", "user_us_per_req", "kernel_us_per_req", "rps")}
    for t in peers:
      o = {k: median(records, t, "load", k, p) for k in ("cpu_us_per_req", "user_us_per_req", "rps")}
      r = {"cpu": ratio(s["cpu_us_per_req"], o["cpu_us_per_req"]),
           "user": ratio(s["user_us_per_req"], o["user_us_per_req"]),
           "rps": ratio(s["rps"], o["rps"]),
           "lat": ratio(added.get(("sidemeter", p), (None, None))[0], added[(t, p)][0]),
           "floor": ratio(s["kernel_us_per_req"], o["cpu_us_per_req"])}
      ratios[(p, t)] = r
      w(f"| {p} | {SHORT[t]} | {fmt(r['cpu'], 2, 'x')} | {fmt(r['user'], 2, 'x')} | "
        f"{fmt(r['rps'], 2, 'x')} | {fmt(r['lat'], 2, 'x')} | {fmt(r['floor'], 2, 'x')} |")

  # ------------------------------------------------------------ cost of measuring
  w("\n## Cost of measuring (sidemeter measure: true vs false)\n")
  w("| payload | CPU µs/req on | CPU µs/req off | CPU difference | user µs/req on | "
    "user µs/req off | on-CPU difference | req/s on | req/s off |")
  w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
  cost = {}
  for p in PAYLOADS:
    on = median(records, "sidemeter", "load", "cpu_us_per_req", p)
    off = median(records, "sidemeter-nomeasure", "load", "cpu_us_per_req", p)
    cost[p] = (on / off - 1) * 100 if on is not None and off else None
    son = median(records, "sidemeter", "load", "sched_us_per_req", p)
    soff = median(records, "sidemeter-nomeasure", "load", "sched_us_per_req", p)
    sdiff = (son / soff - 1) * 100 if son is not None and soff else None
    w(f"| {p} | {fmt(on, 2)} | {fmt(off, 2)} | {fmt(cost[p], 1, ' %')} | "
      f"{fmt(median(records, 'sidemeter', 'load', 'user_us_per_req', p), 2)} | "
      f"{fmt(median(records, 'sidemeter-nomeasure', 'load', 'user_us_per_req', p), 2)} | "
      f"{fmt(sdiff, 1, ' %')} | {fmt(median(records, 'sidemeter', 'load', 'rps', p), 0)} | "
      f"{fmt(median(records, 'sidemeter-nomeasure', 'load', 'rps', p), 0)} |")
  w("\nDifference = on ÷ off − 1. A few percent is within the noise of a wrk run on a shared "
    "machine; `callgrind_per_request.sh` gives the deterministic instruction counts.\n")

  # ------------------------------------------------------------ latency at c=1
  w("\n## Latency at concurrency 1 (added = minus the direct backend's), µs\n")
  w("| payload | target | p50 µs | p99 µs | added p50 µs | added p99 µs | write-type calls/req | "
    "wakeups/req | TCP segments/req |")
  w("|---|---|---:|---:|---:|---:|---:|---:|---:|")
  for p in PAYLOADS:
    for t in targets:
      a50, a99 = added[(t, p)]
      m = lambda key: median(records, t, "c1", key, p)
      w(f"| {p} | {LABEL[t]} | {fmt(m('p50_us'))} | {fmt(m('p99_us'))} | {fmt(a50)} | "
        f"{fmt(a99)} | {fmt(m('syscw_per_req'), 2)} | {fmt(m('wakeups_per_req'), 2)} | "
        f"{fmt(m('tcp_segments_per_req'), 2)} |")

  # ------------------------------------------------------------ many connections
  high = sorted({r["conns"] for r in records if r.get("kind") == "high"})
  if high:
    w("\n## Latency and throughput under many connections (small responses, 1 worker each)\n")
    w("| target | " + " | ".join(f"c={c} req/s | c={c} p50 ms | c={c} p99 ms | c={c} errors | "
                                 f"c={c} CPU µs/req | c={c} TCP segments/req"
                                 for c in high) + " |")
    w("|---|" + "---:|" * (6 * len(high)))
    for t in targets:
      cells = []
      for c in high:
        m = lambda key: median(records, t, "high", key, conns=c)
        cells += [fmt(m("rps"), 0), fmt(m("p50_us") and m("p50_us") / 1e3, 2),
                  fmt(m("p99_us") and m("p99_us") / 1e3, 2), fmt(m("errors"), 0),
                  fmt(m("cpu_us_per_req"), 2), fmt(m("tcp_segments_per_req"), 2)]
      w(f"| {LABEL[t]} | " + " | ".join(cells) + " |")
    w("\nOne wrk thread on one core keeps every connection busy; with one proxy worker the "
      "latency is mostly queueing (connections ÷ req/s), so p99 tells how evenly a proxy "
      "serves its connections, and errors whether it kept them all.\n")

  # ------------------------------------------------------------ workers
  sweep = [r for r in records if r.get("kind") == "workers"]
  if sweep:
    w(f"\n## 2 workers (small responses, concurrency {args.get('concurrency')})\n")
    w(f"Each proxy may run on CPUs {args.get('sweep_cpus')} (both cores of the benchmark "
      f"machine), the backend stays on CPU {args.get('backend_cpu')} and wrk on CPU "
      f"{args.get('load_cpu')}: the same for every proxy, so they share the cores with the "
      f"load generator and the backend. Workers: sidemeter --workers N, HAProxy nbthread N, "
      f"nginx worker_processes N, h2o num-threads N, Caddy GOMAXPROCS=N.\n")
    w("| target | workers | rounds | req/s | CPU µs/req | user µs/req | kernel µs/req | "
      "p99 µs | CPU ÷ sidemeter's | busiest / idlest worker's share |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in sorted({r["workers"] for r in sweep}):
      s_cpu = median(records, "sidemeter", "workers", "cpu_us_per_req", workers=n)
      for t in targets:
        if not count(records, t, "workers", workers=n):
          continue
        m = lambda key: median(records, t, "workers", key, workers=n)
        share = (f"{fmt(pct(m('worker_share_max')), 0, ' %')} / "
                 f"{fmt(pct(m('worker_share_min')), 0, ' %')}"
                 if m("worker_share_max") is not None else "")
        w(f"| {LABEL[t]} | {n} | {count(records, t, 'workers', workers=n)} | "
          f"{fmt(m('rps'), 0)} | {fmt(m('cpu_us_per_req'), 2)} | {fmt(m('user_us_per_req'), 2)} | "
          f"{fmt(m('kernel_us_per_req'), 2)} | {fmt(m('p99_us'))} | "
          f"{fmt(ratio(m('cpu_us_per_req'), s_cpu), 2, 'x')} | {share} |")
    w("\nOn two cores wrk and the backend need a good part of both, so req/s cannot double "
      "with two workers; CPU per request should stay flat (nothing on the request path is "
      "shared), and for sidemeter the kernel should spread connections evenly over the "
      "SO_REUSEPORT listeners (worker shares near 50 %).\n")

  # ------------------------------------------------------------ memory
  conns = args.get("conns")
  mem_rounds = max((r["run"] for r in records if r.get("kind") == "memory"), default=0)
  w(f"\n## Memory (RSS summed over the target's processes; {mem_rounds} round(s))\n")
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

  # ------------------------------------------------------------ idle control thread
  idle_rec = next((r for r in records if r.get("kind") == "idle_control"), None)
  control_pct = None
  if idle_rec:
    th = idle_rec["threads"]
    control = [x for x in th if x["role"].startswith("control")]
    workers = [x for x in th if x["role"] == "worker"]
    others = [x for x in th if x["role"] == "other"]
    control_pct = sum(x["core_pct"] for x in control) if control else None
    w(f"\n## Idle cost: sidemeter's threads with {idle_rec['held']:,} idle keep-alive "
      f"connections\n")
    cap = idle_rec.get("sidemeter_cap")
    capped = (f"; {idle_rec.get('asked', idle_rec['requested']):,} were asked for but with "
              f"an fd hard limit of {args.get('nofile'):,} sidemeter serves at most {cap:,} at "
              f"once (it keeps a descriptor for each one's upstream connection and logs "
              f"`fd_limit_low` at start; 20,000 need `ulimit -Hn` ≥ about 40,100)"
              if cap else "")
    w(f"sidemeter with its default configuration (no --config), --workers "
      f"{idle_rec['workers']}, on CPUs {args.get('sweep_cpus')}; {idle_rec['requested']:,} "
      f"connections opened{capped}; {idle_rec['served']:,} served one request each and stayed open "
      f"({idle_rec['sample_alive']}/{idle_rec['sample_size']} of a sample still answered "
      f"afterwards); nobody read the stats port. CPU over {idle_rec['window_s']:.1f} s of "
      f"idleness, per thread, from /proc/PID/task/TID/schedstat (on-CPU, ns) and stat "
      f"(user/kernel, 10 ms ticks), as % of one core. The control loop runs on the main "
      f"thread (tid = pid).\n")
    if idle_rec.get("open_errors"):
      w(f"Errors while opening: {idle_rec['open_errors']}.\n")
    w("| thread | name | % of a core (on-CPU) | user % | kernel % |")
    w("|---|---|---:|---:|---:|")
    for x in control + workers + others:
      w(f"| {x['role']} | {x['name']} | {fmt(x['core_pct'], 3)} | {fmt(x['user_pct'], 2)} | "
        f"{fmt(x['kernel_pct'], 2)} |")
    w(f"| workers together | | {fmt(sum(x['core_pct'] for x in workers), 3)} | | |")
    w(f"| whole process | | {fmt(sum(x['core_pct'] for x in th), 3)} | | |")

  # ------------------------------------------------------------ targets
  w("\n## Issue 15 targets (informational; timing is never a CI gate)\n")
  w("The performance issue's targets against the peers, checked on this run's medians. "
    "Ratios are shown to 3 decimals: a ratio that rounds to the limit can still miss it.\n")

  def check(ok, text):
    w(f"- {'n/a ' if ok is None else ('PASS' if ok else 'FAIL')} {text}")

  limits = {"haproxy": 0.4, "nginx": 0.5, "h2o": 1.0}
  for p in ("small", "1k"):
    for t, lim in limits.items():
      r = ratios.get((p, t), {}).get("user")
      check(None if r is None else r <= lim if t != "h2o" else r < lim,
            f"{p}: user-space CPU/req {'≤' if t != 'h2o' else '<'} {lim:.1f}× {SHORT[t]}'s "
            f"({fmt(r, 3, 'x')})")
  for p in ("small", "1k"):
    for t, lim in limits.items():
      r = ratio(own_user.get((p, "sidemeter")), own_user.get((p, t)))
      check(None if r is None else r <= lim if t != "h2o" else r < lim,
            f"{p}: user-space CPU/req without the system-call return samples "
            f"{'≤' if t != 'h2o' else '<'} {lim:.1f}× {SHORT[t]}'s ({fmt(r, 3, 'x')})")
  for p in PAYLOADS:
    rs = {t: ratios.get((p, t), {}).get("cpu") for t in peers}
    worst = max((x for x in rs.values() if x is not None), default=None)
    check(None if worst is None or None in rs.values() else worst <= 0.9,
          f"{p}: whole-process CPU/req ≤ 0.9× every peer (" +
          ", ".join(f"{SHORT[t]} {fmt(rs[t], 3, 'x')}" for t in peers) + ")")
  for p in PAYLOADS:
    c = cost.get(p)
    # Measuring off costing more is noise between the two targets' runs, not a result.
    check(None if c is None or c < 0 else c < 3.0,
          f"{p}: measuring costs < 3 % CPU/req ({fmt(c, 1, ' %')}"
          + (": inconclusive, measurement off measured more expensive)" if c is not None and c < 0
             else ")"))
  for p in PAYLOADS:
    for i, name in ((0, "p50"), (1, "p99")):
      mine = added.get(("sidemeter", p), (None, None))[i]
      best = min((added[(t, p)][i] for t in peers if added.get((t, p), (None, None))[i]
                  is not None), default=None)
      check(None if mine is None or best is None else mine <= best,
            f"{p}: added {name} at c=1 ≤ the best peer's ({fmt(mine)} µs vs {fmt(best)} µs)")
  check(None if control_pct is None else control_pct < 0.2,
        f"control thread idle < 0.2 % of a core at "
        f"{idle_rec['held'] if idle_rec else 'n/a'} idle connections ({fmt(control_pct, 3, ' %')})")
  idle, per, served = mem.get("sidemeter", (None, None, None))
  check(None if idle is None else idle <= 8 * 1024,
        f"idle RSS ≤ 8 MiB ({fmt(idle and idle / 1024, 2)} MiB) (issue 5)")
  check(None if per is None else per <= 16,
        f"≤ 16 KiB per idle keep-alive conn ({fmt(per, 2)} KiB) (issue 5)")
  return "\n".join(out) + "\n"


if __name__ == "__main__":
  with open(sys.argv[1]) as f:
    print(render([json.loads(line) for line in f if line.strip()]))
