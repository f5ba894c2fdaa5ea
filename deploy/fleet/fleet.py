#!/usr/bin/python3
"""A sidemeter fleet on one machine: three backend + sidemeter pairs on loopback, HAProxy in
front of the three sidecars (PROXY protocol v2, health checks on /readyz), and one
Prometheus scraping all three stats ports. Everything binds port 0 and is started and
stopped here; nothing outlives this process.

  python3 deploy/fleet/fleet.py --sidemeter build/sidemeter          # load, figures, stop
  python3 deploy/fleet/fleet.py --sidemeter build/sidemeter --drain  # + drain one pod mid-run
  python3 deploy/fleet/fleet.py --sidemeter build/sidemeter --keep   # then wait for Ctrl-C

tests/deploy/fleet_test.py drives the same classes and asserts on the figures.
Standard library only (Debian's python3); haproxy and prometheus from Debian 12.
"""
import argparse
import csv
import ctypes
import http.client
import http.server
import io
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

PODS = 3
# The client's sources (HAProxy connects from 127.0.0.1): two, so a server connection
# shared between clients would show as a request carrying the other client's address.
CLIENT_ADDRESSES = ("127.0.0.2", "127.0.0.3")
# The backends' delay mix (seconds) by path prefix; the client's paths pick it.
DELAYS = {"/api/items/": 0.001, "/api/search": 0.010, "/api/report": 0.040}
# sidemeter_request_duration_seconds' classic bounds: dense around the delays, so the
# classic fleet p99 is within a small bucket of the exact one.
FINE_BOUNDS = [0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.0105, 0.011,
               0.0115, 0.012, 0.0135, 0.015, 0.02, 0.03, 0.04, 0.0405, 0.041, 0.0415,
               0.042, 0.043, 0.044, 0.045, 0.0475, 0.05, 0.055, 0.06, 0.07, 0.08, 0.1,
               0.15, 0.25, 0.5, 1, 5, 60]
# Drain timing. HAProxy marks a pod down after FALL failed checks INTER apart (plus up to
# CHECK_TIMEOUT for the last one); sidemeter keeps accepting for DRAIN_DELAY after SIGTERM
# while /readyz already says 503, so DRAIN_DELAY must cover FALL * INTER + CHECK_TIMEOUT
# with room for a busy machine. Only then does it stop accepting.
CHECK_INTER_MS, CHECK_FALL, CHECK_TIMEOUT_MS = 200, 2, 500
DRAIN_DELAY_S = 2

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
  _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: a killed harness leaves nothing


def find_tool(name, extra=("/usr/sbin", "/sbin")):
  found = shutil.which(name)
  if found:
    return found
  for d in extra:
    p = os.path.join(d, name)
    if os.access(p, os.X_OK):
      return p
  return None


def wait_until(pred, timeout, what, step=0.02):
  """Polls pred() until it returns something truthy; raises after `timeout` seconds."""
  deadline = time.monotonic() + timeout
  while True:
    v = pred()
    if v:
      return v
    if time.monotonic() > deadline:
      raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
    time.sleep(step)  # a poll period, not synchronisation: the loop checks the condition


def delay_for(path):
  for prefix, d in DELAYS.items():
    if path.startswith(prefix):
      return d
  return 0.0


# --------------------------------------------------------------------------- backend
class Backend:
  """The application of one pod: answers 200 after the path's delay and records, per
  request, when it arrived and the X-Forwarded-For it carried."""

  def __init__(self, name):
    self.name = name
    self.lock = threading.Lock()
    self.seen = []  # (time.monotonic(), X-Forwarded-For, X-Test-Source: the client's source)
    backend = self

    class Handler(http.server.BaseHTTPRequestHandler):
      protocol_version = "HTTP/1.1"

      def setup(self):
        super().setup()
        # Head and body go out in two writes: without this, Nagle holds the body for the
        # peer's delayed ACK (40 ms on Linux) and every delay becomes 40 ms more.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

      def do_GET(self):
        with backend.lock:  # the arrival, before the delay
          backend.seen.append((time.monotonic(), self.headers.get("X-Forwarded-For"),
                               self.headers.get("X-Test-Source")))
        time.sleep(delay_for(self.path))
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

      def log_message(self, *args):
        pass

    class Server(http.server.ThreadingHTTPServer):
      daemon_threads = True
      request_queue_size = 512

    self.server = Server(("127.0.0.1", 0), Handler)
    self.port = self.server.server_address[1]
    self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True)
    self.thread.start()

  def count(self):
    with self.lock:
      return len(self.seen)

  def records(self):
    with self.lock:
      return list(self.seen)

  def stop(self):
    self.server.shutdown()
    self.server.server_close()


# --------------------------------------------------------------------------- sidemeter
class Sidemeter:
  def __init__(self, binary, workdir, upstream_port, proxy_protocol):
    os.makedirs(workdir, exist_ok=True)
    self.dir = workdir
    self.access_log = os.path.join(workdir, "access.log")
    bounds = ", ".join(repr(b) for b in FINE_BOUNDS)
    pp = "proxy_protocol: v2\n" if proxy_protocol else ""
    cfg = f"""listen: "127.0.0.1:0"
workers: 2
{pp}upstream:
  address: "127.0.0.1:{upstream_port}"
stats:
  address: "127.0.0.1:0"
  histogram_buckets:
    request_duration: [{bounds}]
timeouts:
  drain_delay: {DRAIN_DELAY_S}s
  drain_timeout: 20s
access_log:
  path: access.log
"""
    self.config = os.path.join(workdir, "sidemeter.yaml")
    with open(self.config, "w") as f:
      f.write(cfg)
    self.lines = []
    self.cv = threading.Condition()
    self.proc = subprocess.Popen([binary, "--config", self.config], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 preexec_fn=_die_with_parent)
    threading.Thread(target=self._read, daemon=True).start()
    self.listen_port = self.stats_port = None
    self.exit_code = None
    self.exited_at = None

  def _read(self):
    for raw in self.proc.stderr:
      with self.cv:
        self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
        self.cv.notify_all()

  def wait_listening(self, timeout=20):
    def listening():
      with self.cv:
        for line in self.lines:
          if '"event":"listening"' in line:
            return json.loads(line)
      if self.proc.poll() is not None:
        raise RuntimeError("sidemeter exited at start:\n" + self.log_text())
      return None
    ev = wait_until(listening, timeout, "sidemeter's listening line")
    self.listen_port, self.stats_port = int(ev["listen_port"]), int(ev["stats_port"])

  def stats(self, timeout=5):
    with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/stats",
                                timeout=timeout) as r:
      return json.loads(r.read())

  def requests_total(self):
    return self.stats()["windows"]["total"]["requests"]

  def access_log_latencies_ms(self):
    out = []
    with open(self.access_log) as f:
      for line in f:
        out.append(json.loads(line)["latency_ms"])
    return out

  def set_drain_delay(self, seconds):
    """Rewrites timeouts.drain_delay (applied live) and reloads through the stats port."""
    with open(self.config) as f:
      text = f.read()
    text = re.sub(r"drain_delay: \S+", f"drain_delay: {seconds}s", text)
    with open(self.config + ".tmp", "w") as f:
      f.write(text)
    os.replace(self.config + ".tmp", self.config)
    req = urllib.request.Request(f"http://127.0.0.1:{self.stats_port}/-/reload", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
      return r.read().decode()

  def terminate(self):
    self.proc.send_signal(signal.SIGTERM)

  def wait_exit(self, timeout=30):
    try:
      self.exit_code = self.proc.wait(timeout)
    except subprocess.TimeoutExpired:
      self.proc.kill()
      self.exit_code = self.proc.wait()
    if self.exited_at is None:
      self.exited_at = time.monotonic()
    return self.exit_code

  def log_text(self, last=40):
    with self.cv:
      return "\n".join(self.lines[-last:])


# --------------------------------------------------------------------------- HAProxy
class HAProxy:
  """The load balancer: one frontend on a socket we bound (port 0, passed as fd@N), the
  three sidecars as servers with PROXY protocol v2 and /readyz checks on their stats port."""

  def __init__(self, workdir, pods, proxy_protocol):
    self.dir = os.path.join(workdir, "haproxy")
    os.makedirs(self.dir, exist_ok=True)
    self.sock = socket.socket()
    self.sock.bind(("127.0.0.1", 0))
    self.sock.listen(1024)
    self.port = self.sock.getsockname()[1]
    self.admin = os.path.join(self.dir, "admin.sock")
    self.config_text = haproxy_config(f"fd@{self.sock.fileno()}", self.admin,
                                      [(f"pod{i}", p.listen_port, p.stats_port)
                                       for i, p in enumerate(pods)], proxy_protocol)
    cfg = os.path.join(self.dir, "haproxy.cfg")
    with open(cfg, "w") as f:
      f.write(self.config_text)
    self.log = os.path.join(self.dir, "output.log")
    with open(self.log, "wb") as log:
      self.proc = subprocess.Popen([find_tool("haproxy"), "-db", "-f", cfg],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   pass_fds=[self.sock.fileno()], preexec_fn=_die_with_parent)
    self.sock.close()  # HAProxy alone accepts on it now

  def command(self, line):
    with socket.socket(socket.AF_UNIX) as s:
      s.settimeout(5)
      s.connect(self.admin)
      s.sendall(line.encode() + b"\n")
      out = b""
      while True:
        b = s.recv(65536)
        if not b:
          return out.decode()
        out += b

  def server_stats(self):
    """{server name: `show stat` row} of backend `sidecars` (and its BACKEND row)."""
    try:
      text = self.command("show stat")
    except OSError:
      return {}
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    return {r["svname"]: r for r in rows if r["pxname"] == "sidecars"}

  def server_status(self):
    """{server name: status ("UP", "DOWN", "UP 1/2", …)} of backend `sidecars`."""
    return {k: r["status"] for k, r in self.server_stats().items()
            if k not in ("FRONTEND", "BACKEND")}

  def retries(self):
    """(retries, redispatches) of backend `sidecars` since start."""
    row = self.server_stats().get("BACKEND", {})
    return int(row.get("wretr") or 0), int(row.get("wredis") or 0)

  def log_text(self):
    with open(self.log, errors="replace") as f:
      return f.read()[-3000:]

  def stop(self):
    if self.proc.poll() is None:
      self.proc.terminate()
      try:
        self.proc.wait(10)
      except subprocess.TimeoutExpired:
        self.proc.kill()
        self.proc.wait()


def haproxy_config(bind, admin_socket, servers, proxy_protocol):
  """The operator's configuration for zero loss while a pod drains (README: Fleet)."""
  pp = " send-proxy-v2" if proxy_protocol else ""
  lines = [
      "global",
      f"  stats socket {admin_socket} mode 600 level admin",
      "defaults",
      "  mode http",
      "  option http-keep-alive",
      "  timeout connect 1s",
      "  timeout client 10s",
      "  timeout server 10s",
      "  timeout http-keep-alive 2s",
      f"  timeout check {CHECK_TIMEOUT_MS}ms",
      # A request that cannot reach a draining pod is sent again, to another pod: a
      # refused connect (its listener closed), or an idle pooled connection it closed just
      # as the request went out (nothing was answered, so nothing was processed).
      "  retries 3",
      "  option redispatch 1",
      "  retry-on conn-failure empty-response",
      # The first request of a client connection never rides an idle server connection.
      "  http-reuse safe",
      "frontend fe",
      f"  bind {bind}",
      "  default_backend sidecars",
      "backend sidecars",
      "  balance roundrobin",
      "  option httpchk",
      "  http-check send meth GET uri /readyz",
      "  http-check expect status 200",
      f"  default-server inter {CHECK_INTER_MS}ms fall {CHECK_FALL} rise 2{pp}",
  ]
  for name, port, stats_port in servers:
    # `check port`: checks go to the stats port, where /readyz is; with `port` set they
    # carry no PROXY header (the stats port does not speak it).
    lines.append(f"  server {name} 127.0.0.1:{port} check port {stats_port}")
  return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- Prometheus
class Prometheus:
  """One Prometheus 2.42 with native histograms, scraping every stats port twice: job
  `sidemeter` (protobuf: native histograms) and job `sidemeter-classic`
  (`?format=text`: classic `_bucket` series)."""

  def __init__(self, workdir, pods):
    self.dir = os.path.join(workdir, "prometheus")
    os.makedirs(self.dir, exist_ok=True)
    self.config_text = prometheus_config([f"127.0.0.1:{p.stats_port}" for p in pods])
    cfg = os.path.join(self.dir, "prometheus.yml")
    with open(cfg, "w") as f:
      f.write(self.config_text)
    self.log = os.path.join(self.dir, "output.log")
    with open(self.log, "wb") as log:
      self.proc = subprocess.Popen(
          [find_tool("prometheus"), f"--config.file={cfg}",
           f"--storage.tsdb.path={os.path.join(self.dir, 'data')}",
           "--web.listen-address=127.0.0.1:0", "--enable-feature=native-histograms"],
          stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
          preexec_fn=_die_with_parent)
    self.port = None

  def wait_ready(self, timeout=60):
    def port():
      if self.proc.poll() is not None:
        raise RuntimeError("prometheus exited:\n" + self.log_text())
      m = re.search(r'msg="Listening on" address=127\.0\.0\.1:(\d+)', self.log_text(100000))
      return int(m.group(1)) if m else None
    self.port = wait_until(port, timeout, "prometheus to listen")

    def ready():
      try:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
          return r.status == 200
      except OSError:
        return False
    wait_until(ready, timeout, "prometheus /-/ready")

  def api(self, path, **params):
    url = f"http://127.0.0.1:{self.port}/api/v1/{path}?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
      body = json.loads(r.read())
    if body.get("status") != "success":
      raise RuntimeError(f"{path} {params}: {body}")
    return body["data"]

  def query(self, expr, at=None):
    """The instant vector as [(labels, value)]; a native histogram's value is the dict."""
    params = {"query": expr}
    if at is not None:
      params["time"] = f"{at:.3f}"
    data = self.api("query", **params)
    out = []
    for s in data["result"]:
      if "histogram" in s:
        out.append((s["metric"], s["histogram"][1]))
      else:
        out.append((s["metric"], float(s["value"][1])))
    return out

  def scalar(self, expr, at=None):
    r = self.query(expr, at)
    if len(r) != 1:
      raise RuntimeError(f"{expr}: {len(r)} series: {r}")
    return r[0][1]

  def scraped_all_since(self, wall_time):
    """True when every target of both jobs is up and was last scraped after wall_time."""
    targets = self.api("targets")["activeTargets"]
    if len(targets) != 2 * PODS:
      return False
    for t in targets:
      if t["health"] != "up":
        return False
      ts = t["lastScrape"]  # RFC 3339 with nanoseconds
      m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", ts)
      if not m:
        return False
      base = time.mktime(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) - time.timezone
      if m.group(3) != "Z":
        sign = 1 if m.group(3)[0] == "+" else -1
        base -= sign * (int(m.group(3)[1:3]) * 3600 + int(m.group(3)[4:6]) * 60)
      if base + float(m.group(2) or 0) <= wall_time:
        return False
    return True

  def log_text(self, n=3000):
    with open(self.log, errors="replace") as f:
      return f.read()[-n:]

  def stop(self):
    if self.proc.poll() is None:
      self.proc.terminate()
      try:
        self.proc.wait(15)
      except subprocess.TimeoutExpired:
        self.proc.kill()
        self.proc.wait()


def prometheus_config(targets):
  static = "\n".join(f"      - targets: ['{t}']\n        labels: {{pod: pod{i}}}"
                     for i, t in enumerate(targets))
  return f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  # Protobuf (asked first with --enable-feature=native-histograms): 2.42 stores each
  # histogram as one native series, no _bucket/_count/_sum.
  - job_name: sidemeter
    static_configs:
{static}
  # The same targets as text 0.0.4: classic _bucket/_count/_sum series. Select by job in
  # queries, or the fleet is counted twice.
  - job_name: sidemeter-classic
    params:
      format: [text]
    static_configs:
{static}
"""


# --------------------------------------------------------------------------- client
def path_for(i):
  """The client's mix: 2 % /api/report (40 ms), 8 % /api/search (10 ms), 90 % items (1 ms)."""
  if i % 50 == 7:
    return "/api/report"
  if i % 50 in (1, 13, 19, 26, 31, 38, 44, 49):  # 4 in 50 = 8 %
    return f"/api/search?q={i}"
  return f"/api/items/{i % 1000}"


class Load:
  """A bounded client: `threads` connections to the balancer from CLIENT_ADDRESSES, half of
  them keep-alive (many requests each), half `Connection: close` (one each); each request
  names its source in X-Test-Source. It sends at most `limit` requests and stops early
  when stop() is called; every outcome is kept."""

  def __init__(self, port, limit, threads=8, deadline_s=120):
    self.port, self.limit, self.threads = port, limit, threads
    self.lock = threading.Lock()
    self.next = 0
    self.results = []  # (index, status or error text, time.monotonic() at the answer)
    self.stopping = False
    self.deadline = time.monotonic() + deadline_s
    self.workers = [threading.Thread(
        target=self._run, args=(k % 2 == 0, CLIENT_ADDRESSES[(k // 2) % len(CLIENT_ADDRESSES)]),
        daemon=True) for k in range(threads)]

  def start(self):
    for w in self.workers:
      w.start()
    return self

  def stop(self):
    self.stopping = True

  def join(self, timeout=180):
    for w in self.workers:
      w.join(timeout)

  def done(self):
    with self.lock:
      return len(self.results)

  def _take(self):
    with self.lock:
      if self.stopping or self.next >= self.limit or time.monotonic() > self.deadline:
        return None
      i = self.next
      self.next += 1
      return i

  def _connect(self, source):
    return http.client.HTTPConnection("127.0.0.1", self.port, timeout=15,
                                      source_address=(source, 0))

  def _run(self, keep_alive, source):
    conn = None
    while True:
      i = self._take()
      if i is None:
        break
      if conn is None:
        conn = self._connect(source)
      try:
        headers = {"X-Test-Source": source}
        if not keep_alive:
          headers["Connection"] = "close"
        conn.request("GET", path_for(i), headers=headers)
        r = conn.getresponse()
        r.read()
        outcome = r.status
        if not keep_alive or r.will_close:
          conn.close()
          conn = None
      except (OSError, http.client.HTTPException) as e:
        outcome = f"{type(e).__name__}: {e}"
        conn.close()
        conn = None
      with self.lock:
        self.results.append((i, outcome, time.monotonic()))
    if conn is not None:
      conn.close()

  def statuses(self):
    out = {}
    with self.lock:
      for _, s, _ in self.results:
        out[s] = out.get(s, 0) + 1
    return out


# --------------------------------------------------------------------------- the fleet
def quantile_exact(values, q):
  """The sample of rank ceil(q * n) (what /stats and histogram_quantile estimate)."""
  v = sorted(values)
  return v[max(0, math.ceil(q * len(v)) - 1)]


class Fleet:
  def __init__(self, binary, workdir, proxy_protocol=True):
    self.binary, self.workdir, self.proxy_protocol = binary, workdir, proxy_protocol
    self.backends, self.pods = [], []
    self.haproxy = self.prometheus = None

  def start(self):
    for i in range(PODS):
      b = Backend(f"pod{i}")
      self.backends.append(b)
      self.pods.append(Sidemeter(self.binary, os.path.join(self.workdir, f"pod{i}"), b.port,
                                 self.proxy_protocol))
    for p in self.pods:
      p.wait_listening()
    self.prometheus = Prometheus(self.workdir, self.pods)
    self.haproxy = HAProxy(self.workdir, self.pods, self.proxy_protocol)
    wait_until(lambda: self.haproxy.server_status() and all(
        s == "UP" for s in self.haproxy.server_status().values()), 30,
        "HAProxy to mark the three sidecars UP")
    self.prometheus.wait_ready()
    # A first scrape of every target before any load: the series start at 0.
    t0 = time.time()
    wait_until(lambda: self.prometheus.scraped_all_since(t0), 30,
               "prometheus to scrape every target once")
    return self

  def stop(self):
    for part in (self.haproxy, self.prometheus):
      if part is not None:
        part.stop()
    codes = []
    for p in self.pods:
      if p.exit_code is None:
        p.terminate()
        p.wait_exit()
      codes.append(p.exit_code)
    for b in self.backends:
      b.stop()
    return codes

  # ---- figures after a load that every pod saw
  def wait_stats_settled(self, expect, timeout=15):
    """The /stats totals of every pod once their sum reaches `expect` (a tick publishes)."""
    snap = {}

    def settled():
      snap["v"] = [p.requests_total() for p in self.pods]
      return sum(snap["v"]) >= expect
    try:
      wait_until(settled, timeout, f"/stats totals summing to {expect}", step=0.1)
    except TimeoutError:
      pass  # the caller compares and reports what was seen
    return snap["v"]

  def wait_prometheus(self, expr, expect, timeout=20):
    """Polls `expr` (one value) until it equals `expect`; returns the last value."""
    box = {}

    def equal():
      try:
        box["v"] = self.prometheus.scalar(expr)
      except RuntimeError:
        return False
      return box["v"] == expect
    try:
      wait_until(equal, timeout, f"{expr} == {expect}", step=0.25)
    except TimeoutError:
      pass
    return box.get("v")

  def measure(self, sent):
    """Run-1 figures: counts in /stats, backends, Prometheus; p50/p99 four ways."""
    f = {"sent": sent}
    f["stats_requests"] = self.wait_stats_settled(sent)
    f["backend_requests"] = [b.count() for b in self.backends]
    prom = self.prometheus
    count_classic = 'sum(sidemeter_request_duration_seconds_count{job="sidemeter-classic"})'
    count_native = 'sum(histogram_count(sidemeter_request_duration_seconds{job="sidemeter"}))'
    routes_classic = 'sum(http_server_request_duration_seconds_count{job="sidemeter-classic"})'
    f["prom_classic_requests"] = self.wait_prometheus(count_classic, float(sent))
    f["prom_native_requests"] = self.wait_prometheus(count_native, float(sent))
    f["prom_route_requests"] = self.wait_prometheus(routes_classic, float(sent))
    f["prom_per_pod"] = {r[0]["pod"]: r[1] for r in prom.query(
        'sum by (pod) (sidemeter_request_duration_seconds_count{job="sidemeter-classic"})')}
    # The load is the whole population since start, so the cumulative counts at one
    # instant are its exact histogram (rate()'s extrapolation would only rescale it).
    for q in (0.5, 0.99):
      tag = f"p{int(q * 100)}"
      f[f"prom_classic_{tag}_s"] = prom.scalar(
          f'histogram_quantile({q}, sum by (le) '
          f'(sidemeter_request_duration_seconds_bucket{{job="sidemeter-classic"}}))')
      f[f"prom_native_{tag}_s"] = prom.scalar(
          f'histogram_quantile({q}, sum(sidemeter_request_duration_seconds{{job="sidemeter"}}))')
      f[f"prom_native_rate_{tag}_s"] = prom.scalar(
          f'histogram_quantile({q}, sum(rate(sidemeter_request_duration_seconds{{job="sidemeter"}}[5m])))')
      f[f"prom_classic_rate_{tag}_s"] = prom.scalar(
          f'histogram_quantile({q}, sum by (le) (rate('
          f'sidemeter_request_duration_seconds_bucket{{job="sidemeter-classic"}}[5m])))')
    f["prom_native_pod_p99_s"] = [prom.scalar(
        f'histogram_quantile(0.99, sidemeter_request_duration_seconds{{job="sidemeter",pod="pod{i}"}})')
        for i in range(PODS)]
    stats = [p.stats()["windows"]["total"]["latency_ms"] for p in self.pods]
    f["stats_p50_ms"] = [s["p50"] for s in stats]
    f["stats_p99_ms"] = [s["p99"] for s in stats]
    # The union of every sample: each pod's access log (every exchange, µs resolution).
    union = []
    f["access_log_lines"] = []

    def logged():
      return all(len(p.access_log_latencies_ms()) >= n
                 for p, n in zip(self.pods, f["stats_requests"]))
    try:
      wait_until(logged, 10, "access logs written", step=0.1)
    except TimeoutError:
      pass
    for p in self.pods:
      lat = p.access_log_latencies_ms()
      f["access_log_lines"].append(len(lat))
      union += lat
    f["exact_p50_ms"] = quantile_exact(union, 0.5)
    f["exact_p99_ms"] = quantile_exact(union, 0.99)
    return f

  def drain_run(self, pod=0, drain_delay=None, limit=30000, after_exit=300):
    """Load while pod `pod` gets SIGTERM; returns the drain figures. drain_delay (seconds)
    first reloads that pod with another timeouts.drain_delay: 0 closes its listener at the
    signal, before HAProxy can notice, which only HAProxy's retries then cover."""
    if drain_delay is not None:
      self.pods[pod].set_drain_delay(drain_delay)
    before = [b.count() for b in self.backends]
    retries0 = self.haproxy.retries()
    load = Load(self.haproxy.port, limit).start()
    wait_until(lambda: load.done() >= 300, 60, "300 requests before the drain", step=0.05)
    target = self.pods[pod]
    name = f"pod{pod}"
    t_term = time.monotonic()
    done_at_term = load.done()
    target.terminate()
    # The exit is awaited on a thread, so its time is taken when it happens.
    exit_box = {}
    waiter = threading.Thread(target=lambda: exit_box.setdefault("code", target.wait_exit()))
    waiter.start()
    wait_until(lambda: self.haproxy.server_status().get(name) == "DOWN", 30,
               f"HAProxy to mark {name} DOWN", step=0.01)
    t_down = time.monotonic()
    wait_until(lambda: "code" in exit_box, 30, f"{name} to exit")
    t_exit = target.exited_at
    done_at_exit = load.done()
    wait_until(lambda: load.done() >= done_at_exit + after_exit, 60,
               f"{after_exit} requests after the drain", step=0.05)
    load.stop()
    load.join()
    sent = load.done()
    retries1 = self.haproxy.retries()
    per_pod = [b.count() - n for b, n in zip(self.backends, before)]
    recs = self.backends[pod].records()[before[pod]:]
    others_after_down = sum(1 for b, n in zip(self.backends, before) if b is not self.backends[pod]
                            for t, _, _ in b.records()[n:] if t > t_down)
    return {
        "pod": name,
        "drain_delay_s": DRAIN_DELAY_S if drain_delay is None else drain_delay,
        "retries": retries1[0] - retries0[0],
        "redispatches": retries1[1] - retries0[1],
        "sent": sent,
        "statuses": load.statuses(),
        "backend_requests": per_pod,
        "exit_code": exit_box["code"],
        "mark_down_s": t_down - t_term,
        "exit_after_term_s": t_exit - t_term,
        "requests_during_drain": done_at_exit - done_at_term,
        "drained_pod_requests_during_drain": sum(1 for t, _, _ in recs if t > t_term),
        "drained_pod_requests_after_down": sum(1 for t, _, _ in recs if t > t_down),
        "drained_pod_requests_after_exit": sum(1 for t, _, _ in recs if t > t_exit),
        "others_after_down": others_after_down,
        "drained_log": target.log_text(5),
    }


def print_figures(run, drains=(), out=sys.stdout):
  w = out.write
  w(f"load: {run['sent']} requests sent, statuses {run.get('statuses')}\n")
  w(f"  per pod  /stats {run['stats_requests']}  backends {run['backend_requests']}  "
    f"prometheus {run['prom_per_pod']}\n")
  w(f"  sum      /stats {sum(run['stats_requests'])}  prometheus classic "
    f"{run['prom_classic_requests']:.0f}  native {run['prom_native_requests']:.0f}  "
    f"per-route {run['prom_route_requests']:.0f}\n")
  w(f"  p50 ms   exact {run['exact_p50_ms']:.3f}  classic {run['prom_classic_p50_s'] * 1e3:.3f}  "
    f"native {run['prom_native_p50_s'] * 1e3:.3f}  /stats per pod {run['stats_p50_ms']}\n")
  w(f"  p99 ms   exact {run['exact_p99_ms']:.3f}  classic {run['prom_classic_p99_s'] * 1e3:.3f}  "
    f"native {run['prom_native_p99_s'] * 1e3:.3f}  /stats per pod {run['stats_p99_ms']}\n")
  w(f"  p99 ms per pod: /stats {run['stats_p99_ms']}  Prometheus native "
    f"{[round(v * 1e3, 4) for v in run['prom_native_pod_p99_s']]}\n")
  w(f"  p99 ms over rate(...[5m])  classic {run['prom_classic_rate_p99_s'] * 1e3:.3f}  "
    f"native {run['prom_native_rate_p99_s'] * 1e3:.3f}\n")
  for drain in drains:
    w(f"drain {drain['pod']} (drain_delay {drain['drain_delay_s']} s): {drain['sent']} requests, "
      f"statuses {drain['statuses']}, per pod {drain['backend_requests']}, HAProxy resent "
      f"{drain['redispatches']} to another pod (redispatches) and {drain['retries']} to the "
      f"same pod (retries)\n")
    w(f"  marked DOWN {drain['mark_down_s'] * 1e3:.0f} ms after SIGTERM, exited "
      f"{drain['exit_code']} after {drain['exit_after_term_s'] * 1e3:.0f} ms; "
      f"{drain['requests_during_drain']} requests during the drain "
      f"({drain['drained_pod_requests_during_drain']} by the drained pod, "
      f"{drain['drained_pod_requests_after_down']} of them after DOWN); "
      f"lost {drain['sent'] - drain['statuses'].get(200, 0)}\n")


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--sidemeter", default=os.environ.get("SIDEMETER_BIN", "sidemeter"))
  ap.add_argument("--requests", type=int, default=3000)
  ap.add_argument("--drain", action="store_true",
                  help="drain pod0 during a second load, then pod1 with drain_delay 0 in a third")
  ap.add_argument("--no-proxy-protocol", action="store_true")
  ap.add_argument("--keep", action="store_true", help="keep the fleet running until Ctrl-C")
  a = ap.parse_args()
  binary = shutil.which(a.sidemeter) or a.sidemeter
  with tempfile.TemporaryDirectory(prefix="sidemeter-fleet-") as d:
    fleet = Fleet(binary, d, proxy_protocol=not a.no_proxy_protocol)
    try:
      fleet.start()
      print(f"HAProxy :{fleet.haproxy.port}  Prometheus http://127.0.0.1:{fleet.prometheus.port}"
            f"  stats ports {[p.stats_port for p in fleet.pods]}  (files in {d})")
      load = Load(fleet.haproxy.port, a.requests).start()
      load.join()
      run = fleet.measure(load.done())
      run["statuses"] = load.statuses()
      drains = [fleet.drain_run(0), fleet.drain_run(1, drain_delay=0)] if a.drain else []
      print_figures(run, drains)
      if a.keep:
        print("running; Ctrl-C stops everything")
        try:
          signal.pause()
        except KeyboardInterrupt:
          pass
    finally:
      codes = fleet.stop()
      print(f"sidemeter exit codes {codes}")


if __name__ == "__main__":
  main()
