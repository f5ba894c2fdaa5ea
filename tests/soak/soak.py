#!/usr/bin/python3
"""Soak run of sidemeter (not in CI; run through soak.sh). Mixed traffic with injected
faults and periodic SIGHUP reloads for --minutes (60 by default); RSS and descriptors
sampled every --sample-every seconds and printed; a verdict at the end.

Traffic (--clients threads, each picking a scenario at random, weights below) against the
fault upstream (tests/pysupport/fault_upstream.py, in a process of its own):
  keep-alive runs of 1-30 GETs; fresh-connection downloads up to 256 KiB (Content-Length
  or chunked); chunked and Content-Length uploads up to 2 MiB, echoed back as length and
  CRC-32 and checked; 4 MiB downloads; HEAD; client aborts mid-download and mid-upload;
  slow responses; and faults: the upstream resets before answering, closes without an
  answer, resets mid-body, or stays silent past timeouts.upstream_response.
  Fault requests are POSTs (with a body): never retried, so each is exactly one failed
  upstream attempt of a known kind.

Verdict (each line PASS or FAIL; the exit status is 1 if any fails):
  crashes     the process is the one started, alive to the end, and drains with exit 0
  rss flat    after warm-up, the median RSS of the last quarter of samples is at most the
              first quarter's + 10 % + 4 MiB. Warm-up is the first 10 % of the run, at
              least 330 s: the metrics keep one slot per second for 5 minutes, and each
              slot keeps the capacity it grew to, so RSS rises for the first 300 s by
              design. Runs too short to have 2 minutes after warm-up are not judged.
  fds flat    the largest fd count of the last quarter is at most the first quarter's + 8,
              and once traffic stops and pooled connections idle out, the count is back
              to the idle count measured after a short warm-up (+/- 2; the worker, stats
              and control threads open their descriptors once the first traffic comes)
  monotonic   no cumulative /stats counter ever went down (across reloads too)
  requests    client answers <= /stats requests <= requests the clients sent a head for
  statuses    the status classes sum to at most the requests
  faults      each injected fault kind appears as its upstream error kind, as many times
  two views   /metrics' request-duration histogram counts as many exchanges as /stats
  gauges      active requests, downstream and upstream connections back to 0 at the end
  reloads     every SIGHUP logged a config_reloaded, none failed
  clients     no ordinary request got an unexpected answer
"""
import argparse
import json
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pysupport"))

from fault_upstream import FaultUpstreamProcess, _body  # noqa: E402
from procs import Sidemeter  # noqa: E402

UPSTREAM_RESPONSE_S = 3  # the Python upstream must answer within it on a busy machine
WARMUP_MIN_S = 330.0
FAULT_KINDS = {  # path -> the upstream error kind sidemeter must count for it
    "/reset": "reset_before_response",
    "/close-early": "closed_early",
    "/reset-mid?n=200000": "reset_mid_response",
    f"/slow?ms={UPSTREAM_RESPONSE_S * 1000 + 1500}": "response_timeout",
}


class Tally:
  def __init__(self):
    self.lock = threading.Lock()
    self.sent = 0  # request heads fully sent
    self.answered = 0  # complete responses received
    self.scenarios = {}
    self.faults = {k: 0 for k in FAULT_KINDS.values()}
    self.unexpected = []

  def add(self, **kw):
    with self.lock:
      for k, v in kw.items():
        setattr(self, k, getattr(self, k) + v)

  def scenario(self, name):
    with self.lock:
      self.scenarios[name] = self.scenarios.get(name, 0) + 1

  def bad(self, what):
    with self.lock:
      if len(self.unexpected) < 1000:
        self.unexpected.append(what)


class Conn:
  """A blocking client connection with a response reader (Content-Length, chunked)."""

  def __init__(self, port, tally):
    self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
    self.buf = b""
    self.tally = tally

  def close(self):
    self.s.close()

  def send_head(self, data):
    self.s.sendall(data)
    self.tally.add(sent=1)

  def _fill(self):
    b = self.s.recv(262144)
    if not b:
      raise EOFError("closed")
    self.buf += b

  def response(self, head_request=False):
    """-> (status, body, keep_alive)."""
    while b"\r\n\r\n" not in self.buf:
      self._fill()
    head, _, self.buf = self.buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    fields = {}
    for line in lines[1:]:
      k, _, v = line.partition(b":")
      fields[k.strip().lower()] = v.strip().lower()
    body = b""
    if head_request or status in (204, 304) or 100 <= status < 200:
      pass
    elif fields.get(b"transfer-encoding") == b"chunked":
      parts = []
      while True:
        while b"\r\n" not in self.buf:
          self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        n = int(line.split(b";")[0], 16)
        while len(self.buf) < n + 2:
          self._fill()
        parts.append(self.buf[:n])
        self.buf = self.buf[n + 2:]
        if n == 0:
          break
      body = b"".join(parts)
    elif b"content-length" in fields:
      n = int(fields[b"content-length"])
      while len(self.buf) < n:
        self._fill()
      body, self.buf = self.buf[:n], self.buf[n:]
    else:
      while True:
        try:
          self._fill()
        except EOFError:
          break
      body, self.buf = self.buf, b""
    self.tally.add(answered=1)
    return status, body, fields.get(b"connection") != b"close"


def req(method, target, body=None, close=True, chunked=False):
  head = f"{method} {target} HTTP/1.1\r\nHost: soak.local\r\n".encode()
  if close:
    head += b"Connection: close\r\n"
  if body is None:
    return head + b"\r\n"
  if chunked:
    out = [head + b"Transfer-Encoding: chunked\r\n\r\n"]
    i = 0
    while i < len(body):
      n = random.choice((100, 4096, 65536))
      out.append(b"%x\r\n" % len(body[i:i + n]) + body[i:i + n] + b"\r\n")
      i += n
    out.append(b"0\r\n\r\n")
    return b"".join(out)
  return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


def echo_sig(body):
  return b"%d %08x" % (len(body), zlib.crc32(body))


# ---------------------------------------------------------------- scenarios
def keep_alive_run(port, t):
  c = Conn(port, t)
  try:
    for i in range(random.randint(1, 30)):
      n = random.choice((0, 2, 1000, 20000))
      c.send_head(req("GET", f"/big?n={n}" if n else "/ok", close=False))
      status, body, _ = c.response()
      if status != 200 or len(body) != (n or 2):
        t.bad(f"keep-alive GET #{i}: {status} {len(body)}")
        return
  finally:
    c.close()


def download(port, t, path, n):
  c = Conn(port, t)
  try:
    c.send_head(req("GET", path))
    status, body, _ = c.response()
    if status != 200 or body != _body(n):
      t.bad(f"GET {path}: {status}, {len(body)} bytes")
  finally:
    c.close()


def upload(port, t, n, chunked):
  data = os.urandom(n)
  c = Conn(port, t)
  try:
    c.send_head(req("POST", "/echo", data, chunked=chunked))
    status, body, _ = c.response()
    if status != 200 or body != echo_sig(data):
      t.bad(f"POST /echo {n} {'chunked' if chunked else 'CL'}: {status} {body[:40]!r}")
  finally:
    c.close()


def head(port, t):
  c = Conn(port, t)
  try:
    c.send_head(req("HEAD", "/big?n=1000"))
    status, body, _ = c.response(head_request=True)
    if status != 200 or body:
      t.bad(f"HEAD: {status} {len(body)}")
  finally:
    c.close()


def abort_download(port, t):
  c = Conn(port, t)
  try:
    c.send_head(req("GET", "/big?n=8388608"))
    got = 0
    while got < 65536:
      b = c.s.recv(65536)
      if not b:
        break
      got += len(b)
  finally:
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()  # RST: the proxy cannot finish writing


def abort_upload(port, t):
  c = Conn(port, t)
  try:
    c.s.sendall(b"POST /echo HTTP/1.1\r\nHost: soak.local\r\nContent-Length: 1048576\r\n\r\n")
    t.add(sent=1)
    c.s.sendall(b"x" * 262144)
  finally:
    c.close()


def fault(port, t):
  path = random.choice(list(FAULT_KINDS))
  kind = FAULT_KINDS[path]
  c = Conn(port, t)
  try:
    c.send_head(req("POST", path, b"fault"))
    with t.lock:
      t.faults[kind] += 1
    try:
      status, body, _ = c.response()
    except (EOFError, OSError):
      status = None
    want = {"reset_before_response": (502,), "closed_early": (502,),
            "response_timeout": (504,), "reset_mid_response": (None,)}[kind]
    if status not in want:
      t.bad(f"POST {path}: got {status}, expected {want}")
  finally:
    c.close()


def slow_ok(port, t):
  c = Conn(port, t)
  try:
    c.send_head(req("GET", f"/slow?ms={random.randint(50, 300)}"))
    status, body, _ = c.response()
    if status != 200 or body != b"ok":
      t.bad(f"GET /slow: {status}")
  finally:
    c.close()


SCENARIOS = [  # (weight, name, function)
    (30, "keep-alive run", keep_alive_run),
    (12, "download", lambda p, t: (lambda n: download(p, t, f"/big?n={n}", n))(
        random.randint(0, 262144))),
    (8, "chunked download", lambda p, t: (lambda n: download(p, t, f"/chunked?n={n}", n))(
        random.randint(0, 262144))),
    (10, "chunked upload", lambda p, t: upload(p, t, random.randint(0, 524288), True)),
    (6, "upload", lambda p, t: upload(p, t, random.randint(0, 2097152), False)),
    (3, "4 MiB download", lambda p, t: download(p, t, "/big?n=4194304", 4194304)),
    (2, "HEAD", head),
    (4, "client abort download", abort_download),
    (4, "client abort upload", abort_upload),
    (6, "upstream fault", fault),
    (6, "slow response", slow_ok),
]


def client_loop(port, tally, stop, seed):
  random.seed(seed)
  weights = [w for w, _, _ in SCENARIOS]
  while not stop.is_set():
    _, name, fn = random.choices(SCENARIOS, weights)[0]
    tally.scenario(name)
    try:
      fn(port, tally)
    except (OSError, EOFError, ValueError) as e:
      if name not in ("client abort download", "client abort upload"):
        tally.bad(f"{name}: {type(e).__name__} {e}")


# ---------------------------------------------------------------- sampling and verdict
def proc_field(pid, name):
  try:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith(name + ":"):
          return int(line.split()[1])
  except OSError:
    pass
  return 0


def flatten(w):
  """Cumulative counters of a /stats window, as name -> value."""
  out = {"requests": w["requests"], "errors": w["errors"], "retries": w.get("retries", 0)}
  for group in ("status", "status_codes", "upstream_errors", "downstream_errors", "rejected"):
    for k, v in w.get(group, {}).items():
      out[f"{group}.{k}"] = v
  return out


def metrics_request_count(text):
  total = 0
  for line in text.splitlines():
    if line.startswith("http_server_request_duration_seconds_count"):
      total += int(float(line.rsplit(" ", 1)[1]))
  return total


def quiesce(sm, idle_fds, deadline_s=30.0):
  """Waits until no request or connection is active (pooled upstream connections idle
  out after upstream_idle) and the fd count holds still (or is back to idle_fds), then
  one more stats tick. -> (final /stats or None, fd count)."""
  end = time.monotonic() + deadline_s
  last_fds = -1
  while time.monotonic() < end and sm.alive():
    c = sm.stats()["connections"]
    fds = sm.fds()
    if c["requests_active"] == 0 and c["downstream_active"] == 0 and \
        c["upstream_active"] == 0 and (fds == last_fds if idle_fds is None
                                       else fds <= idle_fds + 2):
      time.sleep(1.1)  # one more stats tick so the last exchanges are in the totals
      return sm.stats(), sm.fds()
    last_fds = fds
    time.sleep(0.5)  # polling the once-a-second stats tick
  return None, sm.fds()


def config(port, upstream_idle):
  return f"""listen: 127.0.0.1:0
workers: 2
stats:
  address: 127.0.0.1:0
upstream:
  address: 127.0.0.1:{port}
timeouts:
  upstream_response: {UPSTREAM_RESPONSE_S}s
  upstream_idle: {upstream_idle}s
  downstream_idle: 10s
alerts:
  default_rules: false
"""


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--minutes", type=float, default=60.0)
  ap.add_argument("--clients", type=int, default=8)
  ap.add_argument("--reload-every", type=float, default=30.0, help="seconds between SIGHUPs")
  ap.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples")
  ap.add_argument("--seed", type=int, default=1)
  args = ap.parse_args()
  duration = args.minutes * 60.0

  work = tempfile.mkdtemp(prefix="sidemeter-soak-")
  up = FaultUpstreamProcess(idle_timeout=60.0)
  idle_choices = (4, 3)
  sm = Sidemeter(config(up.port, idle_choices[0]), work)
  port = sm.wait_listening()
  pid = sm.proc.pid
  sanitizer = sm.sanitizer()
  print(f"soak: sidemeter pid {pid} on :{port} (stats :{sm.stats_port}), upstream :{up.port}, "
        f"{args.clients} clients, {args.minutes:g} min, SIGHUP every {args.reload_every:g} s")
  tally = Tally()
  for _, name, fn in SCENARIOS:  # once each, so lazily made threads and buffers exist
    try:
      fn(port, tally)
    except (OSError, EOFError, ValueError):
      pass
  warm_stats, idle_fds = quiesce(sm, None)
  base = flatten(warm_stats["windows"]["total"]) if warm_stats else {}
  base["histogram"] = metrics_request_count(sm.metrics())
  tally = Tally()
  stop = threading.Event()
  threads = [threading.Thread(target=client_loop, args=(port, tally, stop, args.seed * 1000 + i),
                              daemon=True) for i in range(args.clients)]
  for th in threads:
    th.start()

  samples = []  # (t, rss_kb, fds, threads, counters)
  monotonic_breaks = []
  hups = 0
  t0 = time.monotonic()
  next_sample = t0
  next_hup = t0 + args.reload_every
  print(f"{'t_s':>6} {'rss_kib':>8} {'fds':>5} {'thr':>4} {'requests':>9} {'errors':>7} "
        f"{'down_act':>8} {'up_act':>6} {'reloads':>7}")
  prev = None
  while True:
    now = time.monotonic()
    if now - t0 >= duration or not sm.alive():
      break
    if now >= next_hup:
      hups += 1
      sm.write_config(config(up.port, idle_choices[hups % 2]))
      sm.proc.send_signal(signal.SIGHUP)
      next_hup += args.reload_every
    if now >= next_sample:
      try:
        st = sm.stats()
      except OSError as e:
        print(f"stats port did not answer: {e}")
        st = None
      if st is not None:
        cur = flatten(st["windows"]["total"])
        if prev is not None:
          for k, v in prev.items():
            if cur.get(k, 0) < v:
              monotonic_breaks.append(f"t={now - t0:.0f}s {k}: {v} -> {cur.get(k, 0)}")
        prev = cur
        conn = st["connections"]
        row = (now - t0, sm.rss_kb(), sm.fds(), proc_field(pid, "Threads"), cur)
        samples.append(row)
        print(f"{row[0]:6.0f} {row[1]:8d} {row[2]:5d} {row[3]:4d} {cur['requests']:9d} "
              f"{cur['errors']:7d} {conn['downstream_active']:8d} {conn['upstream_active']:6d} "
              f"{len(sm.events('config_reloaded')):7d}", flush=True)
      next_sample += args.sample_every
    time.sleep(max(0.0, min(next_sample, next_hup) - time.monotonic()))

  stop.set()
  for th in threads:
    th.join(60)
  alive = sm.alive() and sm.proc.pid == pid
  quiet, end_fds = quiesce(sm, idle_fds)
  final = quiet or (sm.stats() if sm.alive() else None)
  metrics = sm.metrics() if sm.alive() else ""
  reload_events = sm.events("config_reloaded")
  reload_fail = sm.events("config_reload_failed")
  rc = sm.stop(60)
  up.stop()
  return verdict(args, samples, monotonic_breaks, tally, final, metrics, alive, rc, idle_fds,
                 end_fds, hups, reload_events, reload_fail, sm, base, sanitizer)


def verdict(args, samples, breaks, tally, final, metrics, alive, rc, idle_fds, end_fds, hups,
            reload_events, reload_fail, sm, base, sanitizer):
  """Counts are taken relative to `base`, the counters after the warm-up."""
  lines = []

  def check(name, ok, detail):
    lines.append((name, ok, detail))

  check("crashes", alive and rc == 0,
        f"alive to the end: {alive}; exit on SIGTERM: {rc}")
  total = samples[-1][0] if samples else 0
  warm = max(WARMUP_MIN_S, 0.1 * total)
  post = [s for s in samples if s[0] >= warm]
  if total - warm >= 120 and len(post) >= 8:
    q = max(2, len(post) // 4)
    first, last = post[:q], post[-q:]
    rss_a = statistics.median(s[1] for s in first)
    rss_b = statistics.median(s[1] for s in last)
    rss_limit = rss_a * 1.10 + 4096
    # Least-squares slope after warm-up, for the record (a creep the limit may not catch
    # yet in a short run shows here).
    mt = statistics.fmean(s[0] for s in post)
    mr = statistics.fmean(s[1] for s in post)
    slope = sum((s[0] - mt) * (s[1] - mr) for s in post) / \
        max(1e-9, sum((s[0] - mt) ** 2 for s in post)) * 60.0
    check("rss flat", None if sanitizer else rss_b <= rss_limit,
          (f"not judged under {sanitizer} (its allocator holds freed memory back): "
           if sanitizer else "") +
          f"median {rss_a:.0f} KiB (t {first[0][0]:.0f}-{first[-1][0]:.0f} s) -> {rss_b:.0f} KiB "
          f"(t {last[0][0]:.0f}-{last[-1][0]:.0f} s), limit {rss_limit:.0f}; "
          f"min {min(s[1] for s in post)}, max {max(s[1] for s in post)} KiB; "
          f"trend {slope:+.0f} KiB/min")
    fd_a, fd_b = max(s[2] for s in first), max(s[2] for s in last)
    check("fds flat", fd_b <= fd_a + 8 and abs(end_fds - idle_fds) <= 2,
          f"max {fd_a} (first quarter) -> {fd_b} (last quarter); idle {idle_fds} at start, "
          f"{end_fds} after the traffic stopped")
  else:
    lines.append(("rss flat", None, f"not judged: {total:.0f} s leaves no 2 minutes after "
                  f"the {warm:.0f} s warm-up (run --minutes 8 or more)"))
    lines.append(("fds flat", None, "not judged (as rss)"))
  check("monotonic", not breaks, "; ".join(breaks[:5]) or "no counter went down")
  if final is None:
    check("stats", False, "no final /stats")
  else:
    cur = flatten(final["windows"]["total"])
    d = {k: v - base.get(k, 0) for k, v in cur.items()}
    n = d["requests"]
    check("requests", tally.answered <= n <= tally.sent,
          f"clients: {tally.sent} sent, {tally.answered} answered; /stats: {n}")
    by_class = sum(v for k, v in d.items() if k.startswith("status.") and k[7:8].isdigit())
    check("statuses", by_class <= n,
          f"status classes sum to {by_class} of {n} requests (no status: {n - by_class}; "
          f"client aborts: {d.get('downstream_errors.client_abort_request', 0)} during "
          f"request, {d.get('downstream_errors.client_abort_response', 0)} during response)")
    diffs = {k: (tally.faults[k], d.get("upstream_errors." + k, 0)) for k in tally.faults}
    extra = {k[len("upstream_errors."):]: v for k, v in d.items()
             if k.startswith("upstream_errors.") and v and
             k[len("upstream_errors."):] not in tally.faults}
    check("faults", all(a == b for a, b in diffs.values()) and not extra,
          "; ".join(f"{k}: injected {a}, counted {b}" for k, (a, b) in diffs.items()) +
          (f"; not injected: {extra}" if extra else ""))
    hist = metrics_request_count(metrics) - base.get("histogram", 0)
    check("two views", hist == n, f"/metrics request-duration histogram counts {hist}, "
          f"/stats requests {n}")
    c = final["connections"]
    check("gauges", c["requests_active"] == 0 and c["downstream_active"] == 0 and
          c["upstream_active"] == 0 and c.get("tunnels_active", 0) == 0,
          f"after the traffic: {json.dumps(c)}")
  check("reloads", len(reload_events) == hups and not reload_fail,
        f"{hups} SIGHUPs, {len(reload_events)} config_reloaded, {len(reload_fail)} failed")
  check("clients", not tally.unexpected,
        f"{len(tally.unexpected)} unexpected answers" +
        (": " + "; ".join(tally.unexpected[:5]) if tally.unexpected else ""))

  print()
  print("scenarios run: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.scenarios.items())))
  if samples:
    print(f"figures: {len(samples)} samples over {total:.0f} s; RSS {samples[0][1]} -> "
          f"{samples[-1][1]} KiB (max {max(s[1] for s in samples)}); fds {samples[0][2]} -> "
          f"{samples[-1][2]} (max {max(s[2] for s in samples)}); threads "
          f"{samples[-1][3]}; requests {samples[-1][4]['requests']}")
  print("verdict:")
  for name, ok, detail in lines:
    print(f"  {'SKIP' if ok is None else 'PASS' if ok else 'FAIL'} {name:<10} {detail}")
  failed = [n for n, ok, _ in lines if ok is False]
  print(f"soak {'FAILED: ' + ', '.join(failed) if failed else 'passed'}")
  if failed:
    print(sm.log_text(20))
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main())
