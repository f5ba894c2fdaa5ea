#!/usr/bin/env python3
"""Instructions per request of sidemeter under valgrind callgrind (see
callgrind_per_request.sh). Instruction counts barely move with machine load, so this is
the number to compare between commits; wall-clock numbers come from bench.py.

For each measurement mode (on, off) one sidemeter runs under callgrind; for each payload
the counters are zeroed (callgrind_control -z) after a warm-up, N sequential keep-alive
requests are sent, and the counters dumped (callgrind_control -d): Ir / N.

Threads are counted apart (--separate-threads=yes): the worker thread is the data path,
whose cost is per request; the control thread's (the once-a-second metrics tick, the stats
port) is per second of wall time, and a request under valgrind takes so long that folding
it in would weigh it far more than in real use. With --workers 1 the worker is the thread
that ran the most instructions: thread numbers shift as other threads (alert delivery,
the access-log writer) start first, and no other thread comes near the data path.
"""
import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import bench
import callgrind_profile
import keepalive_client

HERE = os.path.dirname(os.path.abspath(__file__))


def callgrind_control(flag, pid):
  out = subprocess.run(["callgrind_control", flag, str(pid)], capture_output=True, text=True,
                       timeout=60)
  if out.returncode != 0:
    raise RuntimeError(f"callgrind_control {flag} failed: {out.stdout} {out.stderr}")


def dump_total(path):
  with open(path) as f:
    for line in f:
      m = re.match(r"(?:summary|totals):\s+(\d+)", line)
      if m:
        return int(m.group(1))
  raise RuntimeError(f"no totals in {path}")


def wait_new_dumps(prefix, known, deadline=60.0):
  """{thread number: path} of the dump callgrind_control -d just wrote, one file a thread
  (named PREFIX.PID.N-TT); complete once every file has its totals line."""
  end = time.monotonic() + deadline
  while time.monotonic() < end:
    new = sorted(set(glob.glob(prefix + "*")) - known)
    if new:
      try:
        for path in new:
          dump_total(path)
        time.sleep(0.5)  # let every thread's file appear before taking the set
        again = sorted(set(glob.glob(prefix + "*")) - known)
        if again == new:
          return {int(re.search(r"-(\d+)$", p).group(1)): p for p in new}
      except (RuntimeError, OSError):
        pass
    time.sleep(0.2)
  raise RuntimeError("callgrind dump did not appear")


def measure_payloads(args, p, port, label, prefix, outdir):
  """Zeroes the counters of the process under callgrind after a warm-up, sends
  args.requests sequential keep-alive requests, dumps: {payload: Ir of each thread}."""
  results = {}
  for name, path in bench.PAYLOADS:
    keepalive_client.run(port, path, args.warmup, timeout=120)
    known = set(glob.glob(prefix + "*"))
    callgrind_control("-z", p.pid)
    ok = keepalive_client.run(port, path, args.requests, timeout=120)
    callgrind_control("-d", p.pid)
    dumps = wait_new_dumps(prefix, known)
    per_thread = {}
    for tid, path in dumps.items():
      final = os.path.join(outdir, f"callgrind.{label}.{name}.t{tid:02d}.out")
      os.replace(path, final)
      per_thread[tid] = (dump_total(final), final)
    if ok != args.requests:
      raise RuntimeError(f"{label}/{name}: only {ok}/{args.requests} requests got 200")
    if not per_thread:
      raise RuntimeError(f"{label}/{name}: no thread dumps")
    total = sum(ir for ir, _ in per_thread.values())
    worker_ir, worker_dump = max(per_thread.values(), key=lambda v: v[0])
    results[name] = {"ir": total, "ir_worker": worker_ir, "ir_other": total - worker_ir,
                     "requests": args.requests, "dump": worker_dump}
    print(f"  {label:<8} {name:<8} busiest thread {worker_ir / args.requests:,.0f} Ir/request, "
          f"all threads {total / args.requests:,.0f}", flush=True)
  return results


def measure_peer(args, procs, b, target, outdir):
  """A peer proxy (bench.py's configuration, one worker) under callgrind, measured like
  sidemeter: every thread's instructions (nginx without its master process, so the one
  process is the worker)."""
  prefix = os.path.join(outdir, f"callgrind.{target}")
  wrap = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}.%p",
          "--separate-threads=yes", "--vgdb=yes"]
  p, port, _ = b.start_target(target, wrap=wrap, deadline=120.0)
  try:
    return measure_payloads(args, p, port, target, prefix, outdir)
  finally:
    procs.stop(p, grace=30.0)


def measure(args, procs, b, mode, outdir):
  conf = os.path.join(bench.CONF, f"sidemeter_measure_{mode}.yaml")
  prefix = os.path.join(outdir, f"callgrind.{mode}")
  log = os.path.join(outdir, f"sidemeter-{mode}.log")
  p = procs.start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}.%p",
                   "--separate-threads=yes", "--vgdb=yes", args.sidemeter, "--config", conf, "--listen", "127.0.0.1:0",
                   "--stats", "127.0.0.1:0", "--upstream", f"127.0.0.1:{b.backend_port}",
                   "--workers", "1"], log)
  try:
    port = bench.Bench._sidemeter_port(p, log, deadline=120.0)
    if port is None:
      raise RuntimeError(f"sidemeter under callgrind did not start; see {log}")
    return measure_payloads(args, p, port, mode, prefix, outdir)
  finally:
    procs.stop(p, grace=30.0)


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--sidemeter", required=True)
  ap.add_argument("--requests", type=int, default=2000)
  ap.add_argument("--warmup", type=int, default=200)
  ap.add_argument("--out", default=os.path.join(HERE, "results", "callgrind"))
  ap.add_argument("--pidfile")
  ap.add_argument("--top", type=int, default=25)
  ap.add_argument("--peers", default="haproxy,nginx,h2o",
                  help="peer proxies measured the same way (those not installed are skipped; "
                       "'' for none)")
  args = ap.parse_args()
  # bench.Bench reads these when starting the backend and the peers.
  args.backend_cpu, args.proxy_cpu, args.nofile, args.conns = None, None, 4096, 0
  args.concurrency, args.high_conns = 1, []
  os.makedirs(args.out, exist_ok=True)
  for old in glob.glob(os.path.join(args.out, "callgrind.*")):
    os.remove(old)
  procs = bench.Procs(args.pidfile)
  b = None
  peers = {}

  def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")
  signal.signal(signal.SIGTERM, on_signal)
  try:
    b = bench.Bench(args, procs)
    b.start_backend()
    res = {mode: measure(args, procs, b, mode, args.out) for mode in ("on", "off")}
    for target in [t for t in args.peers.split(",") if t]:
      if shutil.which(target) is None:
        print(f"  {target}: not installed, skipped", flush=True)
        continue
      peers[target] = measure_peer(args, procs, b, target, args.out)
  except KeyboardInterrupt:
    return 130
  finally:
    procs.stop_all()
    if b is not None:
      shutil.rmtree(b.tmp, ignore_errors=True)

  lines = ["## Instructions per request (valgrind callgrind, sidemeter --workers 1)", "",
           f"{args.requests} sequential keep-alive requests per payload after {args.warmup} "
           "warm-up requests. The worker thread is the data path (per request); the other "
           "threads' work is per second of wall time (metrics tick, stats port), shown "
           "divided by the same request count only for scale.", "",
           "| payload | worker Ir/req, measure on | worker Ir/req, off | cost of measuring "
           "(worker) | other threads Ir/req on | other threads Ir/req off |",
           "|---|---:|---:|---:|---:|---:|"]
  for name, _ in bench.PAYLOADS:
    n_on, n_off = res["on"][name]["requests"], res["off"][name]["requests"]
    on, off = res["on"][name]["ir_worker"] / n_on, res["off"][name]["ir_worker"] / n_off
    lines.append(f"| {name} | {on:,.0f} | {off:,.0f} | {(on / off - 1) * 100:.1f} % | "
                 f"{res['on'][name]['ir_other'] / n_on:,.0f} | "
                 f"{res['off'][name]['ir_other'] / n_off:,.0f} |")
  if peers:
    names = list(peers)
    lines += ["", "## User-space instructions per request against the peers (callgrind)", "",
              "The same requests, every thread of each proxy (for sidemeter measurement on; "
              "the peers as bench.py configures them, one worker, logs off; nginx without "
              "its master process). Instructions are what a proxy's own code costs, without "
              "the kernel and independent of how a VM accounts user and system time. The "
              "ratios take all of sidemeter's threads, which overstates it: its control "
              "thread's once-a-second work is spread over the few requests a second "
              "valgrind allows (the worker thread alone is the per-request cost).", "",
              "| payload | sidemeter, all threads | sidemeter, worker | " +
              " | ".join(names) + " | " +
              " | ".join(f"sidemeter / {n}" for n in names) + " |",
              "|---|" + "---:|" * (2 + 2 * len(names))]
    for name, _ in bench.PAYLOADS:
      ours = res["on"][name]["ir"] / res["on"][name]["requests"]
      worker = res["on"][name]["ir_worker"] / res["on"][name]["requests"]
      theirs = [peers[n][name]["ir"] / peers[n][name]["requests"] for n in names]
      lines.append(f"| {name} | {ours:,.0f} | {worker:,.0f} | " +
                   " | ".join(f"{t:,.0f}" for t in theirs) +
                   " | " + " | ".join(f"{ours / t:.2f}x" for t in theirs) + " |")
  table = "\n".join(lines) + "\n"
  for name in ("small", "64k"):
    text, _ = callgrind_profile.render(res["on"][name]["dump"], args.top, args.requests)
    table += (f"\n## Top functions by self cost, worker thread, {name} payload, measure on"
              f"\n\n```\n{text}\n```\n")
  print(table)
  with open(os.path.join(args.out, "..", "callgrind.md"), "w") as f:
    f.write(table)
  with open(os.path.join(args.out, "summary.json"), "w") as f:
    json.dump(dict(res, peers=peers), f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
