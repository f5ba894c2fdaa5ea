#!/usr/bin/env python3
"""Instructions per request of sidemeter under valgrind callgrind (see
callgrind_per_request.sh). Instruction counts barely move with machine load, so this is
the number to compare between commits; wall-clock numbers come from bench.py.

For each measurement mode (on, off) one sidemeter runs under callgrind; for each payload
the counters are zeroed (callgrind_control -z) after a warm-up, N sequential keep-alive
requests are sent, and the counters dumped (callgrind_control -d): Ir / N.
"""
import argparse
import glob
import json
import os
import re
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


def wait_new_dump(prefix, known, deadline=60.0):
  end = time.monotonic() + deadline
  while time.monotonic() < end:
    new = sorted(set(glob.glob(prefix + "*")) - known)
    for path in new:
      try:
        dump_total(path)  # complete once the totals line is written
        return path
      except (RuntimeError, OSError):
        pass
    time.sleep(0.2)
  raise RuntimeError("callgrind dump did not appear")


def measure(args, procs, b, mode, outdir):
  conf = os.path.join(bench.CONF, f"sidemeter_measure_{mode}.yaml")
  prefix = os.path.join(outdir, f"callgrind.{mode}")
  log = os.path.join(outdir, f"sidemeter-{mode}.log")
  p = procs.start(["valgrind", "--tool=callgrind", f"--callgrind-out-file={prefix}.%p",
                   "--vgdb=yes", args.sidemeter, "--config", conf, "--listen", "127.0.0.1:0",
                   "--stats", "127.0.0.1:0", "--upstream", f"127.0.0.1:{b.backend_port}",
                   "--workers", "1"], log)
  try:
    port = bench.Bench._sidemeter_port(p, log, deadline=120.0)
    if port is None:
      raise RuntimeError(f"sidemeter under callgrind did not start; see {log}")
    results = {}
    for name, path in bench.PAYLOADS:
      keepalive_client.run(port, path, args.warmup, timeout=120)
      known = set(glob.glob(prefix + "*"))
      callgrind_control("-z", p.pid)
      ok = keepalive_client.run(port, path, args.requests, timeout=120)
      callgrind_control("-d", p.pid)
      dump = wait_new_dump(prefix, known)
      final = os.path.join(outdir, f"callgrind.{mode}.{name}.out")
      os.replace(dump, final)
      if ok != args.requests:
        raise RuntimeError(f"{mode}/{name}: only {ok}/{args.requests} requests got 200")
      results[name] = {"ir": dump_total(final), "requests": args.requests, "dump": final}
      print(f"  {mode:<3} {name:<8} {results[name]['ir'] / args.requests:,.0f} Ir/request",
            flush=True)
    return results
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
  args = ap.parse_args()
  # bench.Bench reads these when starting the backend.
  args.backend_cpu, args.nofile, args.conns = None, 4096, 0
  os.makedirs(args.out, exist_ok=True)
  for old in glob.glob(os.path.join(args.out, "callgrind.*")):
    os.remove(old)
  procs = bench.Procs(args.pidfile)
  b = None

  def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")
  signal.signal(signal.SIGTERM, on_signal)
  try:
    b = bench.Bench(args, procs)
    b.start_backend()
    res = {mode: measure(args, procs, b, mode, args.out) for mode in ("on", "off")}
  except KeyboardInterrupt:
    return 130
  finally:
    procs.stop_all()
    if b is not None:
      import shutil
      shutil.rmtree(b.tmp, ignore_errors=True)

  lines = ["## Instructions per request (valgrind callgrind, sidemeter --workers 1)", "",
           f"{args.requests} sequential keep-alive requests per payload after {args.warmup} "
           "warm-up requests; Ir counted over all threads.", "",
           "| payload | Ir/req measure on | Ir/req measure off | cost of measuring |",
           "|---|---:|---:|---:|"]
  for name, _ in bench.PAYLOADS:
    on = res["on"][name]["ir"] / res["on"][name]["requests"]
    off = res["off"][name]["ir"] / res["off"][name]["requests"]
    lines.append(f"| {name} | {on:,.0f} | {off:,.0f} | {(on / off - 1) * 100:.1f} % |")
  table = "\n".join(lines) + "\n"
  for name in ("small", "64k"):
    text, _ = callgrind_profile.render(res["on"][name]["dump"], args.top, args.requests)
    table += (f"\n## Top functions by self cost, {name} payload, measure on\n\n```\n{text}\n```\n")
  print(table)
  with open(os.path.join(args.out, "..", "callgrind.md"), "w") as f:
    f.write(table)
  with open(os.path.join(args.out, "summary.json"), "w") as f:
    json.dump(res, f, indent=1)
  return 0


if __name__ == "__main__":
  sys.exit(main())
