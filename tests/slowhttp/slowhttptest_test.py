#!/usr/bin/python3
"""slowhttptest (Debian's, an attacker nobody on the project wrote) against sidemeter with
2 workers and short timeouts, while an ordinary client keeps making requests.

At once, bounded by slowhttptest's own -l and connection counts:
  -H slowloris: SLOWLORIS_CONNS connections trickle header lines every second; each must
     end with a 408 at timeouts.request_header (a deadline from the first byte, so a
     trickle cannot stretch it), counted as downstream error header_timeout.
  -B slow body: SLOWBODY_CONNS POSTs announce 8 KiB and send a few bytes every 3 s,
     slower than timeouts.downstream_idle (2 s): each ends with a 408.
  -X slow read: SLOWREAD_CONNS connections ask for 1 MiB and read it through a tiny
     window; sidemeter's backpressure must hold what it buffers per connection.
Asserted:
  - every ordinary request succeeds with the right body, and their median latency stays
    far below the timeouts (a request queued behind slow connections would wait for one);
  - the header and body timeouts are counted, each at most once per attacking
    connection and for at least 90 % of them, and 408s match them;
  - no upstream error is counted: slow clients are the downstream's doing;
  - RSS stays under a bound derived from the per-connection buffering (below; not judged
    under a sanitizer, whose allocator holds freed memory back), and the descriptors
    return to where they were once the attack is over;
  - slowhttptest's own probe saw the service available throughout (its CSV), and each
    attack really reached its connection count (else this test proves nothing);
  - sidemeter is running at the end and drains cleanly (exit 0).
"""
import csv
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pysupport"))

from fault_upstream import FaultUpstreamProcess, _body  # noqa: E402
from procs import Sidemeter, find_tool  # noqa: E402

SLOWLORIS_CONNS = 300
SLOWBODY_CONNS = 200
SLOWREAD_CONNS = 100
DURATION_S = 10  # slowhttptest -l: the slow readers last this long
HEADER_TIMEOUT_S = 2
IDLE_TIMEOUT_S = 2
# RSS bound over the idle baseline: sidemeter stops reading the upstream once 256 KiB wait
# for a slow client (README, "Forwarding"), plus read buffers; a header or body trickler
# holds a connection object and a few KiB. Generous factors: the point is "bounded by
# connections x a constant", not a tight figure.
SLOWREAD_KIB = 384
SLOW_OTHER_KIB = 32
RSS_SLACK_KIB = 16 * 1024
MEDIAN_LATENCY_BOUND_S = 0.5


KINDS = ("keep-alive GET", "64 KiB download", "64 KiB upload")


class OrdinaryClient(threading.Thread):
  """One kind of ordinary traffic, back to back: keep-alive GETs on one connection (never
  idle, so its idle timer never races a request), or 64 KiB downloads or uploads on a
  fresh connection each."""

  def __init__(self, port, kind):
    super().__init__(daemon=True)
    self.port = port
    self.kind = kind
    self.stop = threading.Event()
    self.ok = 0
    self.failures = []
    self.latencies = []
    self.upload = _body(65536)
    self.upload_sig = b"%d %08x" % (len(self.upload), zlib.crc32(self.upload))

  def _exchange(self, sock, raw):
    sock.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
      chunk = sock.recv(65536)
      if not chunk:
        raise OSError("closed before the response head")
      data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    n = next(int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")[1:]
             if l.lower().startswith(b"content-length:"))
    while len(body) < n:
      chunk = sock.recv(65536)
      if not chunk:
        raise OSError("closed mid-body")
      body += chunk
    return status, body

  def run(self):
    keep = None
    i = 0
    while not self.stop.is_set():
      i += 1
      t0 = time.monotonic()
      try:
        if self.kind == KINDS[0]:
          if keep is None:
            keep = socket.create_connection(("127.0.0.1", self.port), timeout=10)
          status, body = self._exchange(keep, b"GET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
          want = b"ok"
        else:
          with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            if self.kind == KINDS[1]:
              status, body = self._exchange(s, b"GET /big?n=65536 HTTP/1.1\r\nHost: t\r\n"
                                               b"Connection: close\r\n\r\n")
              want = _body(65536)
            else:
              status, body = self._exchange(
                  s, b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     b"Content-Length: 65536\r\n\r\n" + self.upload)
              want = self.upload_sig
        if status != 200 or body != want:
          self.failures.append(f"{self.kind} {i}: status {status}, body {len(body)} bytes")
        else:
          self.ok += 1
      except (OSError, ValueError, StopIteration) as e:
        self.failures.append(f"{self.kind} {i}: {e}")
        if keep is not None:
          keep.close()
          keep = None
      self.latencies.append(time.monotonic() - t0)
    if keep is not None:
      keep.close()


def slowhttptest(mode_args, url, out_prefix):
  argv = [find_tool("slowhttptest"), *mode_args, "-l", str(DURATION_S), "-p", "2",
          "-u", url, "-g", "-o", out_prefix]
  return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def read_csv(prefix):
  with open(prefix + ".csv") as f:
    return [{k.strip(): int(v) for k, v in row.items()} for row in csv.DictReader(f)]


def counters(sm):
  st = sm.stats()
  w = st["windows"]["total"]
  return {"down": dict(w["downstream_errors"]), "up": dict(w["upstream_errors"]),
          "codes": dict(w.get("status_codes", {})), "requests": w["requests"],
          "conn": st["connections"]}


def settle(sm, base_down_active, base_fds, deadline_s=20.0):
  """Waits until the attack's connections are gone (pooled upstream ones included: they
  idle out after timeouts.upstream_idle) and the stats tick has seen them."""
  end = time.monotonic() + deadline_s
  last = None
  while time.monotonic() < end:
    c = counters(sm)
    if c["conn"]["downstream_active"] <= base_down_active and \
        c["conn"]["requests_active"] == 0 and sm.fds() <= base_fds + 2:
      if last is not None and last["down"] == c["down"] and last["requests"] == c["requests"]:
        return c
      last = c
    time.sleep(0.5)  # polling the once-a-second stats tick, not synchronising on it
  return counters(sm)


def main():
  if not find_tool("slowhttptest"):
    print("SKIP: slowhttptest not installed (deploy/install-deps.sh --test)")
    return 77
  work = tempfile.mkdtemp(prefix="sidemeter-slowhttp-")
  up = FaultUpstreamProcess()
  sm = Sidemeter(f"""listen: 127.0.0.1:0
workers: 2
stats:
  address: 127.0.0.1:0
upstream:
  address: 127.0.0.1:{up.port}
timeouts:
  request_header: {HEADER_TIMEOUT_S}s
  downstream_idle: {IDLE_TIMEOUT_S}s
alerts:
  default_rules: false
""", work)
  failures = []
  try:
    port = sm.wait_listening()
    clients = [OrdinaryClient(port, k) for k in KINDS]
    for c in clients:
      c.start()
    warm_until = time.monotonic() + 10
    while min(c.ok for c in clients) < 3 and time.monotonic() < warm_until:
      time.sleep(0.05)  # polling until pools and buffers exist
    before = counters(sm)
    base_rss, base_fds = sm.rss_kb(), sm.fds()
    base_active = before["conn"]["downstream_active"]
    print(f"baseline: rss {base_rss} KiB, fds {base_fds}, downstream connections {base_active}")

    base = f"http://127.0.0.1:{port}"
    runs = {
        "slowloris": slowhttptest(["-H", "-c", str(SLOWLORIS_CONNS), "-r", "150", "-i", "1",
                                   "-x", "10"], base + "/", os.path.join(work, "slowloris")),
        "slowbody": slowhttptest(["-B", "-c", str(SLOWBODY_CONNS), "-r", "100", "-i", "3",
                                  "-s", "8192", "-x", "10"], base + "/echo",
                                 os.path.join(work, "slowbody")),
        "slowread": slowhttptest(["-X", "-c", str(SLOWREAD_CONNS), "-r", "50", "-w", "512",
                                  "-y", "1024", "-n", "2", "-z", "32", "-k", "2"],
                                 base + "/big?n=1048576", os.path.join(work, "slowread")),
    }
    peak_rss, peak_fds = base_rss, base_fds
    while any(p.poll() is None for p in runs.values()):
      peak_rss, peak_fds = max(peak_rss, sm.rss_kb()), max(peak_fds, sm.fds())
      time.sleep(0.25)  # sampling RSS, not synchronising
    for c in clients:
      c.stop.set()
    for c in clients:
      c.join(15)
    after = settle(sm, base_active, base_fds)
    end_rss, end_fds = sm.rss_kb(), sm.fds()

    failed = [f for c in clients for f in c.failures]
    print(f"ordinary clients: {sum(c.ok for c in clients)} ok, {len(failed)} failed")
    for c in clients:
      lat = sorted(c.latencies) or [0.0]
      median = lat[len(lat) // 2]
      print(f"  {c.kind}: {c.ok} ok, p50 {median * 1000:.1f} ms, "
            f"p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms")
      if c.ok < 10:
        failures.append(f"{c.kind}: only {c.ok} requests completed")
      # Queued behind a slow connection's timer, a request would wait the 2 s timeout; a
      # busy machine stalls a few requests, not the median.
      if median >= MEDIAN_LATENCY_BOUND_S:
        failures.append(f"{c.kind}: median latency {median * 1000:.0f} ms")
    for f in failed[:10]:
      print("  " + f)
    if failed:
      failures.append(f"{len(failed)} ordinary requests failed")

    csvs = {}
    for name, p in runs.items():
      err = p.stderr.read()
      csvs[name] = read_csv(os.path.join(work, name))
      peak = max(r["Connected"] for r in csvs[name])
      made = max(r["Connected"] + r["Closed"] for r in csvs[name])
      unavailable = [r["Seconds"] for r in csvs[name] if r["Service Available"] == 0]
      print(f"slowhttptest {name}: exit {p.returncode}, connections {made}, at once {peak}, "
            f"rows {len(csvs[name])}, service unavailable at s={unavailable or 'never'}")
      if p.returncode != 0:
        failures.append(f"slowhttptest {name} exited {p.returncode}: {err[-500:]}")
      if unavailable:
        failures.append(f"slowhttptest {name}: its probe found the service unavailable "
                        f"at seconds {unavailable}")
    # The attacks happened: otherwise nothing below means anything. Connections that
    # sidemeter closed are in "Closed", so connected + closed is how many got through.
    for name, conns in (("slowloris", SLOWLORIS_CONNS), ("slowbody", SLOWBODY_CONNS),
                        ("slowread", SLOWREAD_CONNS)):
      made = max(r["Connected"] + r["Closed"] for r in csvs[name])
      if made < 0.9 * conns:
        failures.append(f"{name} established only {made} of {conns} connections")

    d = lambda group, key: after[group].get(key, 0) - before[group].get(key, 0)
    header_timeouts = d("down", "header_timeout")
    # A stalled body is counted as client_abort_request (408 "request body timeout"); a
    # dedicated kind, if one appears, is taken instead.
    body_kind = "body_timeout" if "body_timeout" in after["down"] else "client_abort_request"
    body_timeouts = d("down", body_kind)
    code_408 = d("codes", "408")
    upstream_errors = {k: v - before["up"].get(k, 0) for k, v in after["up"].items()
                       if v != before["up"].get(k, 0)}
    print(f"counted: header_timeout +{header_timeouts} (of {SLOWLORIS_CONNS} slowloris "
          f"connections), {body_kind} +{body_timeouts} (of {SLOWBODY_CONNS} slow bodies), "
          f"408 +{code_408}, upstream errors {upstream_errors or 'none'}, "
          f"downstream errors now {after['down']}")
    if not 0.9 * SLOWLORIS_CONNS <= header_timeouts <= SLOWLORIS_CONNS:
      failures.append(f"header_timeout +{header_timeouts}, expected 90-100 % of "
                      f"{SLOWLORIS_CONNS}")
    if not 0.9 * SLOWBODY_CONNS <= body_timeouts <= SLOWBODY_CONNS:
      failures.append(f"{body_kind} +{body_timeouts}, expected 90-100 % of {SLOWBODY_CONNS}")
    if code_408 != header_timeouts + body_timeouts:
      failures.append(f"408s (+{code_408}) differ from the timeouts counted "
                      f"({header_timeouts} + {body_timeouts})")
    if upstream_errors:
      failures.append(f"slow clients counted as upstream errors: {upstream_errors}")

    bound = RSS_SLACK_KIB + SLOWREAD_CONNS * SLOWREAD_KIB + \
        (SLOWLORIS_CONNS + SLOWBODY_CONNS) * SLOW_OTHER_KIB
    print(f"rss: baseline {base_rss} KiB, peak {peak_rss} KiB (+{peak_rss - base_rss}, bound "
          f"+{bound}), end {end_rss} KiB; fds: baseline {base_fds}, peak {peak_fds}, "
          f"end {end_fds}")
    if sm.sanitizer():
      print(f"rss bound not judged: the binary runs under {sm.sanitizer()}, whose allocator "
            "keeps freed memory")
    elif peak_rss - base_rss > bound:
      failures.append(f"RSS grew by {peak_rss - base_rss} KiB, over the bound {bound} KiB")
    if end_fds > base_fds + 2:
      failures.append(f"descriptors did not return: {base_fds} before, {end_fds} after")
    if not sm.alive():
      failures.append("sidemeter died")
  finally:
    rc = sm.stop()
    up.stop()
  if rc != 0:
    failures.append(f"sidemeter exited {rc} on SIGTERM")
  if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    print(sm.log_text(30))
  else:
    shutil.rmtree(work, ignore_errors=True)
  return 1 if failures else 0


if __name__ == "__main__":
  sys.exit(main())
