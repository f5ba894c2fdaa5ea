#!/usr/bin/env python3
"""Benchmark orchestrator: sidemeter (measurement on/off) and its peers HAProxy, nginx,
Caddy (with its Prometheus metrics on) and h2o as reverse proxies in front of one nginx
backend, driven by wrk under fixed CPU pinning.

Run through run_bench.sh, which installs the tools and builds sidemeter. Every process
started here lives in its own process group and is killed on exit, error or Ctrl-C.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pysupport"))
import procs  # noqa: E402  (tests/pysupport: the one HTTP GET helper)
import time

import procstat
import report

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = os.path.join(HERE, "conf")
PAYLOADS = [("small", "/ok"), ("1k", "/1k"), ("64k", "/64k"), ("chunked", "/chunked")]
PEERS = ["haproxy", "nginx", "caddy", "h2o"]
TARGETS = ["direct", "sidemeter", "sidemeter-nomeasure"] + PEERS
# Response-time percentiles under many connections (wrk -c N, small responses).
HIGH_CONNS = [256, 1000]


# ---------------------------------------------------------------- process bookkeeping
class Procs:
  """Every child we start, killed as a process group on stop() or at exit."""

  def __init__(self, pidfile):
    self.live = {}
    self.pidfile = pidfile

  def _save(self):
    if self.pidfile:
      with open(self.pidfile, "w") as f:
        f.write("".join(f"{p}\n" for p in self.live))

  def start(self, argv, log_path, env=None):
    log = open(log_path, "wb")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, env=env)
    log.close()
    self.live[p.pid] = p
    self._save()
    return p

  def stop(self, p, grace=5.0):
    if p.pid not in self.live:
      return
    try:
      os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
      pass
    try:
      p.wait(timeout=grace)
    except subprocess.TimeoutExpired:
      pass
    try:  # leftovers in the group (workers) and a stuck leader
      os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
      pass
    try:
      p.wait(timeout=2)
    except subprocess.TimeoutExpired:
      pass
    del self.live[p.pid]
    self._save()

  def stop_all(self):
    for p in list(self.live.values()):
      self.stop(p, grace=2.0)


# ---------------------------------------------------------------- helpers
def free_port():
  # Race-prone by nature (released before the server binds it); servers that fail to
  # bind are detected by wait_http and the start is retried with another port.
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def render(template, out_path, **values):
  with open(os.path.join(CONF, template)) as f:
    text = f.read()
  for k, v in values.items():
    text = text.replace(f"@{k}@", str(v))
  if "@" in re.sub(r"#.*", "", text):
    raise RuntimeError(f"unfilled placeholder in {template}")
  with open(out_path, "w") as f:
    f.write(text)
  return out_path


def http_get(port, path, timeout=2.0):
  """One HTTP/1.1 request; returns (status, headers dict lowercased, body bytes)."""
  with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
      chunk = s.recv(65536)
      if not chunk:
        break
      data += chunk
  head, _, body = data.partition(b"\r\n\r\n")
  lines = head.decode("latin-1").split("\r\n")
  headers = {}
  for line in lines[1:]:
    k, _, v = line.partition(":")
    headers[k.strip().lower()] = v.strip()
  return int(lines[0].split()[1]), headers, body


def http_framing(port, path, timeout=5.0):
  """One keep-alive HTTP/1.1 request (as wrk sends it: no Connection: close, so a proxy
  frames the response the way it does under load). Returns a dict: status, body_bytes
  (decoded), framing ('content-length' | 'chunked' | 'close'), chunk sizes, headers."""
  with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    buf = b""

    def more():
      nonlocal buf
      chunk = s.recv(65536)
      if not chunk:
        raise EOFError
      buf += chunk

    def need(n):
      while len(buf) < n:
        more()

    def line():
      nonlocal buf
      while b"\r\n" not in buf:
        more()
      out, _, buf = buf.partition(b"\r\n")
      return out

    while b"\r\n\r\n" not in buf:
      more()
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for h in lines[1:]:
      k, _, v = h.partition(":")
      headers[k.strip().lower()] = v.strip()
    status = int(lines[0].split()[1])
    sizes = []
    if "chunked" in headers.get("transfer-encoding", "").lower():
      framing, body = "chunked", 0
      while True:
        size = int(line().split(b";")[0].strip(), 16)
        if size == 0:
          while line():  # trailer section up to the empty line
            pass
          break
        need(size + 2)
        sizes.append(size)
        body += size
        buf = buf[size + 2:]
    elif "content-length" in headers:
      framing, body = "content-length", int(headers["content-length"])
      need(body)
    else:
      framing = "close"
      try:
        while True:
          more()
      except EOFError:
        pass
      body = len(buf)
  return {"status": status, "body_bytes": body, "framing": framing, "chunks": sizes,
          "server": headers.get("server", ""), "connection": headers.get("connection", "")}


def wait_http(port, proc, deadline=10.0):
  end = time.monotonic() + deadline
  while time.monotonic() < end:
    if proc.poll() is not None:
      return False
    try:
      if http_get(port, "/ok", timeout=1.0)[0] == 200:
        return True
    except (OSError, ValueError, IndexError):
      pass
    time.sleep(0.05)
  return False


def taskset(cpu):
  return ["taskset", "-c", str(cpu)] if cpu is not None and cpu != "" else []


# ---------------------------------------------------------------- servers
class Bench:
  def __init__(self, args, procs):
    self.args = args
    self.procs = procs
    self.tmp = tempfile.mkdtemp(prefix="sidemeter-bench-")
    os.chmod(self.tmp, 0o755)  # nginx workers run as nobody and must read the docroot
    self.docroot = os.path.join(self.tmp, "www")
    os.makedirs(self.docroot)
    os.chmod(self.docroot, 0o755)
    files = {"ok": b"ok", "1k": b"x" * 1024, "64k": b"y" * 65536, "chunked.txt": b"z" * 1024}
    for name, content in files.items():
      path = os.path.join(self.docroot, name)
      with open(path, "wb") as f:
        f.write(content)
      os.chmod(path, 0o644)
    self.backend = None
    self.backend_port = None

  def log(self, name):
    return os.path.join(self.tmp, name + ".log")

  def start_backend(self):
    for _ in range(5):
      port = free_port()
      conf = render("backend_nginx.conf.in", os.path.join(self.tmp, "backend.conf"),
                    PREFIX=self.tmp, DOCROOT=self.docroot, PORT=port, NOFILE=self.args.nofile,
                    WORKER_CONNECTIONS=self.args.conns + 1024)
      p = self.procs.start(taskset(self.args.backend_cpu) +
                           ["nginx", "-e", "stderr", "-p", self.tmp, "-c", conf,
                            "-g", "daemon off;"], self.log("backend"))
      if wait_http(port, p):
        self.backend, self.backend_port = p, port
        self.check_backend()
        return
      self.procs.stop(p)
    raise RuntimeError("backend nginx did not start; see " + self.log("backend"))

  def check_backend(self):
    for name, path in PAYLOADS:
      status, headers, body = http_get(self.backend_port, path)
      if status != 200:
        raise RuntimeError(f"backend {path}: status {status}")
      if name == "chunked" and headers.get("transfer-encoding") != "chunked":
        raise RuntimeError(f"backend /chunked is not chunked: {headers}")

  def start_target(self, target, workers=1, cpus=None, config="bench", wrap=None,
                   deadline=10.0):
    """Returns (proc or None, port, pids to account). `wrap`: a command the peer runs
    under (callgrind_run.py: valgrind), with a longer start `deadline`."""
    if target == "direct":
      return None, self.backend_port, procstat.tree(self.backend.pid)
    for _ in range(5):
      p, port = self._launch(target, workers, cpus, config, wrap)
      if p is not None and port is not None and wait_http(port, p, deadline):
        time.sleep(0.2)  # let workers finish forking before we snapshot the tree
        return p, port, procstat.tree(p.pid)
      if p is not None:
        self.procs.stop(p)
    raise RuntimeError(f"{target} did not start; see {self.log(target)}")

  def _launch(self, target, workers=1, cpus=None, config="bench", wrap=None):
    """Starts one proxy with `workers` workers (threads or processes, whatever the proxy
    calls them) on the CPUs `cpus` (default --proxy-cpu). config="default": sidemeter
    without a --config file (the idle-cost measurement). Peers only: `wrap` is put before
    the command, and nginx then runs without its master process (one process to follow)."""
    cpu = taskset(self.args.proxy_cpu if cpus is None else cpus) + (wrap or [])
    log = self.log(target)
    if target.startswith("sidemeter"):
      argv = cpu + [self.args.sidemeter]
      if config != "default":
        argv += ["--config", os.path.join(CONF, "sidemeter_measure_off.yaml"
                                          if target.endswith("nomeasure")
                                          else "sidemeter_measure_on.yaml")]
      p = self.procs.start(argv + ["--listen", "127.0.0.1:0", "--stats", "127.0.0.1:0",
                                   "--upstream", f"127.0.0.1:{self.backend_port}",
                                   "--workers", str(workers)], log)
      port = self._sidemeter_port(p, log)
      return p, port
    # The peers cannot all bind port 0 and tell us the port: a free port is picked here
    # (race-prone; a failed bind shows as a failed start and is retried with another).
    port = free_port()
    if target == "haproxy":
      conf = render("haproxy.cfg.in", os.path.join(self.tmp, "haproxy.cfg"), PREFIX=self.tmp,
                    PORT=port, BACKEND_PORT=self.backend_port, MAXCONN=self.max_conns() + 500,
                    THREADS=workers)
      return self.procs.start(cpu + ["haproxy", "-db", "-f", conf], log), port
    if target == "nginx":
      conf = render("proxy_nginx.conf.in", os.path.join(self.tmp, "proxy_nginx.conf"),
                    PREFIX=self.tmp, PORT=port, BACKEND_PORT=self.backend_port,
                    NOFILE=self.args.nofile, WORKER_CONNECTIONS=2 * self.max_conns() + 1024,
                    WORKERS=workers)
      directives = "daemon off;" + (" master_process off;" if wrap else "")
      return self.procs.start(cpu + ["nginx", "-e", "stderr", "-p", self.tmp, "-c", conf,
                                     "-g", directives], log), port
    if target == "caddy":
      self.caddy_admin_port = free_port()
      conf = render("caddy.Caddyfile.in", os.path.join(self.tmp, "Caddyfile"),
                    PORT=port, ADMIN_PORT=self.caddy_admin_port, BACKEND_PORT=self.backend_port,
                    IDLE_CONNS=1024)
      home = os.path.join(self.tmp, "caddy-home")  # Caddy's data/config dirs, not ~/.local
      os.makedirs(home, exist_ok=True)
      env = dict(os.environ, GOMAXPROCS=str(workers), HOME=home,
                 XDG_DATA_HOME=os.path.join(home, "data"),
                 XDG_CONFIG_HOME=os.path.join(home, "config"))
      return self.procs.start(cpu + ["caddy", "run", "--adapter", "caddyfile", "--config", conf],
                              log, env=env), port
    if target == "h2o":
      conf = render("h2o.conf.in", os.path.join(self.tmp, "h2o.conf"), PREFIX=self.tmp,
                    PORT=port, BACKEND_PORT=self.backend_port, THREADS=workers,
                    MAXCONN=self.max_conns() + 1024)
      return self.procs.start(cpu + ["h2o", "-c", conf], log), port
    raise ValueError(target)

  def max_conns(self):
    """Client connections a proxy must accept at once: the idle-connection test's or the
    largest wrk -c (each of which may hold an upstream connection too)."""
    return max([self.args.conns, self.args.concurrency] + self.args.high_conns)

  @staticmethod
  def _sidemeter_port(p, log, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end and p.poll() is None:
      with open(log, "rb") as f:
        for line in f:
          try:
            ev = json.loads(line)
          except ValueError:
            continue
          if ev.get("event") == "listening":
            return int(ev["listen_port"])
      time.sleep(0.05)
    return None

  # -------------------------------------------------------------- measurements
  def wrk(self, port, path, conns, duration):
    argv = taskset(self.args.load_cpu) + [
        "wrk", "-t1", f"-c{conns}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "5s",
        f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if out.returncode != 0:
      raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout} {out.stderr}")
    return parse_wrk(out.stdout)

  def caddy_metrics(self):
    """Reads Caddy's /metrics once (after the warm-up, never during a measurement): the
    per-request HTTP metrics must be counting, else Caddy is not measuring inline."""
    status, body = procs.http_get(self.caddy_admin_port, "/metrics",
                                  host=f"127.0.0.1:{self.caddy_admin_port}")
    if status is None:
      return {"error": body}
    text = body.decode("latin-1") if isinstance(body, bytes) else body
    count = sum(float(m.group(1)) for m in re.finditer(
        r"^caddy_http_request_duration_seconds_count\{[^}]*\} ([0-9.e+]+)$", text, re.M))
    series = len(re.findall(r"^caddy_http_[a-z_]+", text, re.M))
    return {"request_duration_count": count, "http_series": series}

  def check_framing(self, run, target, port, emit):
    """What each payload looks like through the target, against the backend's own answer:
    status, decoded body bytes, framing and chunk sizes (a proxy that decodes and re-encodes
    chunked bodies, or buffers them, shows other chunk sizes or Content-Length)."""
    for payload, path in PAYLOADS:
      try:
        got = http_framing(port, path)
      except (OSError, ValueError, EOFError, IndexError) as e:
        got = {"error": str(e) or type(e).__name__}
      emit({"run": run, "target": target, "kind": "framing", "payload": payload, **got})

  def load_point(self, port, path, conns, duration, pids):
    """wrk at `conns` connections plus the target's CPU over the run."""
    backend_pids = procstat.tree(self.backend.pid)
    cpu0, bcpu0 = procstat.cpu_seconds(pids), procstat.cpu_seconds(backend_pids)
    sched0, split0 = procstat.sched_seconds(pids), procstat.cpu_split(pids)
    act0, segs0 = procstat.activity(pids), procstat.tcp_out_segments()
    w = self.wrk(port, path, conns, duration)
    cpu1, bcpu1 = procstat.cpu_seconds(pids), procstat.cpu_seconds(backend_pids)
    sched1, split1 = procstat.sched_seconds(pids), procstat.cpu_split(pids)
    act1, segs1 = procstat.activity(pids), procstat.tcp_out_segments()
    served = max(1, w["requests"])
    # What the target asked of the kernel per request: these explain its kernel time.
    per_req = {f"{k}_per_req": (act1[k] - act0[k]) / served for k in act0}
    return dict(w, **per_req, tcp_segments_per_req=(segs1 - segs0) / served,
                cpu_us_per_req=(cpu1 - cpu0) * 1e6 / served,
                user_us_per_req=(split1[0] - split0[0]) * 1e6 / served,
                kernel_us_per_req=(split1[1] - split0[1]) * 1e6 / served,
                sched_us_per_req=(sched1 - sched0) * 1e6 / served,
                backend_cpu_us_per_req=(bcpu1 - bcpu0) * 1e6 / served)

  def syscall_point(self, port, path, conns, duration, pids):
    """System calls per request under wrk at `conns` connections (procstat.SyscallCounter),
    in a run of its own: the counter costs each call a little, so the load points that
    measure CPU run without it. None without perf."""
    counter = procstat.SyscallCounter(pids)
    try:
      w = self.wrk(port, path, conns, duration)
    finally:
      calls = counter.stop()
    if calls is None:
      return None
    return {"syscalls_per_req": calls / max(1, w["requests"]), "requests": w["requests"]}

  def sample_point(self, port, path, conns, duration, pids):
    """Where the target's CPU goes under wrk at `conns` connections, by perf's cpu-clock
    samples (procstat.CpuSampler), in a run of its own: kernel, user at a system call's
    return site, the rest of user space. Read while the target is still up (the return
    sites are found in its memory). None without perf."""
    if duration <= 0:
      return None
    sampler = procstat.CpuSampler(pids, os.path.join(self.tmp, "cpu-samples.data"))
    try:
      w = self.wrk(port, path, conns, duration)
    finally:
      data = sampler.stop()
    if data is None:
      return None
    split = procstat.classify_samples(procstat.perf_sample_ips(data))
    os.unlink(data)
    if split["samples"] == 0:
      return None
    return dict(split, requests=w["requests"])

  def syscall_accounting(self):
    """How this machine charges a system call to user and system time
    (syscall_accounting.c, built here with cc, run on --proxy-cpu), or None."""
    exe = os.path.join(self.tmp, "syscall_accounting")
    try:
      if not os.path.exists(exe):
        subprocess.run(["cc", "-O2", "-o", exe, os.path.join(HERE, "syscall_accounting.c")],
                       check=True, capture_output=True, timeout=120)
      out = subprocess.run(taskset(self.args.proxy_cpu) + [exe], check=True,
                           capture_output=True, text=True, timeout=120)
      return json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
      return None

  def measure_target(self, run, target, emit):
    p, port, pids = self.start_target(target)
    try:
      rec = {"run": run, "target": target}
      self.check_framing(run, target, port, emit)
      if run <= self.args.memory_rounds:
        mem = self.idle_memory(port, pids)
        emit(dict(rec, kind="memory", **mem))
      self.wrk(port, "/ok", 32, 1)  # warm-up: connection pools, page faults, caches
      if target == "caddy":
        emit(dict(rec, kind="caddy_metrics", **self.caddy_metrics()))
      for payload, path in PAYLOADS:
        emit(dict(rec, kind="load", payload=payload,
                  **self.load_point(port, path, self.args.concurrency, self.args.duration,
                                    pids)))
        # With the kernel activity: at concurrency 1 a message written in pieces shows as
        # more write calls, segments and wakeups per request, and as latency.
        w1 = self.load_point(port, path, 1, self.args.c1_duration, pids)
        emit(dict(rec, kind="c1", payload=payload, **w1))
      for conns in (self.args.concurrency, 1):
        calls = self.syscall_point(port, "/ok", conns, self.args.syscall_duration, pids)
        if calls is not None:
          emit(dict(rec, kind="syscalls", payload="small", conns=conns, **calls))
      for payload, path in PAYLOADS[:2]:  # the user-space targets' payloads
        split = self.sample_point(port, path, self.args.concurrency,
                                  self.args.sample_duration, pids)
        if split is not None:
          emit(dict(rec, kind="cpu_samples", payload=payload, **split))
      for conns in self.args.high_conns:
        emit(dict(rec, kind="high", payload="small", conns=conns,
                  **self.load_point(port, "/ok", conns, self.args.high_duration, pids)))
      emit(dict(rec, kind="rss_after_load", rss_kib=procstat.status_kib(procstat.tree(
          p.pid if p else self.backend.pid))))
    finally:
      if p is not None:
        self.procs.stop(p)

  def measure_workers(self, run, target, workers, emit):
    """A proxy with `workers` workers allowed on every CPU of --sweep-cpus (the backend and
    wrk keep their CPUs), small responses: req/s, CPU per request; for sidemeter also how
    the load spread over its worker threads."""
    p, port, pids = self.start_target(target, workers, self.args.sweep_cpus)
    try:
      pids = procstat.tree(p.pid)  # nginx's workers
      self.wrk(port, "/ok", self.args.concurrency, 1)
      threads0 = procstat.thread_cpu(p.pid, "sm-worker-")
      point = self.load_point(port, "/ok", self.args.concurrency, self.args.duration, pids)
      threads1 = procstat.thread_cpu(p.pid, "sm-worker-")
      busy = [threads1[t] - threads0.get(t, 0.0) for t in sorted(threads1)]
      total = sum(busy) or 1.0
      emit({"run": run, "target": target, "kind": "workers", "workers": workers,
            "payload": "small", **point,
            "worker_share_min": min(busy) / total if busy else None,
            "worker_share_max": max(busy) / total if busy else None,
            "worker_threads": len(busy)})
    finally:
      self.procs.stop(p)

  def measure_idle_control(self, emit):
    """sidemeter with its default configuration and 2 workers holding N idle keep-alive
    connections (one request each), nobody reading the stats port: the CPU each of its
    threads uses over --idle-window seconds, from /proc/PID/task/TID/schedstat. The
    control loop runs on the main thread (tid == pid, proxy/main.cc: control.run())."""
    p, port, _ = self.start_target("sidemeter", 2, self.args.sweep_cpus, config="default")
    # sidemeter keeps an fd for each downstream connection's upstream connection: with a
    # hard fd limit below what max_connections needs it serves fewer at once (503 above)
    # and says so at start (fd_limit_low). Open no more than it can hold.
    cap = None
    with open(self.log("sidemeter"), "rb") as f:
      for line in f:
        try:
          ev = json.loads(line)
        except ValueError:
          continue
        if ev.get("event") == "fd_limit_low":
          cap = ev.get("max_connections_effective")
    n = min(self.args.idle_conns, cap or self.args.idle_conns)
    clients = []
    try:
      per = max(1, self.args.nofile - 100)  # each client process has the same fd limit
      parts = [min(per, n - i) for i in range(0, n, per)]
      for count in parts:
        clients.append(subprocess.Popen(
            taskset(self.args.load_cpu) +
            [sys.executable, os.path.join(HERE, "idle_conns.py"), "127.0.0.1", str(port), "/ok",
             str(count), str(p.pid), "--deadline", "120", "--hold"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True))
        self.procs.live[clients[-1].pid] = clients[-1]
        self.procs._save()
      held = [json.loads(c.stdout.readline() or "{}") for c in clients]
      opened = max((h.get("open_seconds", 0) for h in held), default=0)
      time.sleep(2.0)  # the last connections' requests settle
      # The window ends before sidemeter's default downstream idle timeout (60 s after the
      # first connection's request) would close them all inside it.
      window = max(5.0, min(self.args.idle_window, 55.0 - opened - 2.0))
      t0, snap0 = time.monotonic(), procstat.thread_times(p.pid)
      time.sleep(window)
      t1, snap1 = time.monotonic(), procstat.thread_times(p.pid)
      finals = []
      for c in clients:
        c.stdin.close()
        try:
          finals.append(json.loads(c.stdout.readline() or "{}"))
        except ValueError:
          finals.append({})
      wall = t1 - t0
      threads = []
      for tid, (name, sched1, user1, kern1) in sorted(snap1.items()):
        name0, sched0, user0, kern0 = snap0.get(tid, (name, 0, 0.0, 0.0))
        role = ("control (main thread)" if tid == p.pid else
                "worker" if name.startswith("sm-worker-") else "other")
        threads.append({"tid": tid, "name": name, "role": role,
                        "core_pct": (sched1 - sched0) / 1e9 / wall * 100,
                        "user_pct": (user1 - user0) / wall * 100,
                        "kernel_pct": (kern1 - kern0) / wall * 100})
      emit({"run": 0, "target": "sidemeter", "kind": "idle_control", "requested": n,
            "asked": self.args.idle_conns, "sidemeter_cap": cap,
            "workers": 2, "window_s": wall,
            "held": sum(h.get("held", 0) for h in held),
            "served": sum(h.get("served", 0) for h in held),
            "open_seconds": max((h.get("open_seconds", 0) for h in held), default=None),
            "open_errors": "; ".join(h["error"] for h in held if h.get("error")),
            "sample_alive": sum(f.get("sample_alive", 0) for f in finals),
            "sample_size": sum(f.get("sample_size", 0) for f in finals),
            "threads": threads})
    finally:
      for c in clients:
        try:
          os.killpg(c.pid, signal.SIGKILL)
        except ProcessLookupError:
          pass
        c.wait()
        self.procs.live.pop(c.pid, None)
      self.procs._save()
      self.procs.stop(p)

  def idle_memory(self, port, pids):
    http_get(port, "/ok")
    time.sleep(0.3)
    idle = procstat.status_kib(pids)
    out = subprocess.run([sys.executable, os.path.join(HERE, "idle_conns.py"), "127.0.0.1",
                          str(port), "/ok", str(self.args.conns)] + [str(x) for x in pids] +
                         ["--deadline", "60"], capture_output=True, text=True, timeout=120)
    try:
      res = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
      res = {"error": out.stderr[-500:]}
    res["rss_idle_kib"] = idle
    return res


WRK_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}


def parse_wrk(text):
  def lat(pct):
    m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    return float(m.group(1)) * WRK_UNITS[m.group(2)] if m else None
  m = re.search(r"(\d+) requests in ([\d.]+)(\w+),", text)
  rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
  non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
  sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
  return {"requests": int(m.group(1)) if m else 0,
          "rps": float(rps.group(1)) if rps else 0.0,
          "p50_us": lat(50), "p99_us": lat(99),
          "errors": (int(non2xx.group(1)) if non2xx else 0) +
                    (sum(int(x) for x in sock.groups()) if sock else 0)}


def main():
  ap = argparse.ArgumentParser(description=__doc__)
  ap.add_argument("--quick", action="store_true",
                  help="1 round, 3 s points, 2,000 idle conns for memory, 10 s idle window")
  ap.add_argument("--runs", type=int, help="interleaved rounds (3; --quick 1)")
  ap.add_argument("--duration", type=int, help="seconds per wrk run at --concurrency (8; quick 3)")
  ap.add_argument("--c1-duration", type=int, help="seconds per wrk -c1 run (4; quick 2)")
  ap.add_argument("--concurrency", type=int, default=32)
  ap.add_argument("--conns", type=int,
                  help="idle keep-alive connections for the memory test (10,000; --quick 2,000)")
  ap.add_argument("--targets", default=",".join(TARGETS))
  ap.add_argument("--sidemeter", required=True)
  ap.add_argument("--proxy-cpu", default="0")
  ap.add_argument("--backend-cpu", default="0")
  ap.add_argument("--load-cpu", default="1")
  ap.add_argument("--memory-rounds", type=int, default=1,
                  help="rounds that also measure RSS with --conns idle connections")
  ap.add_argument("--high-conns", default=",".join(map(str, HIGH_CONNS)),
                  help="connection counts for the latency-under-many-connections runs ('' skips)")
  ap.add_argument("--high-duration", type=int, help="seconds per wrk run at --high-conns (6; quick 3)")
  ap.add_argument("--syscall-duration", type=int, default=2,
                  help="seconds of each run that counts system calls (perf), c=32 and c=1")
  ap.add_argument("--sample-duration", type=int, default=3,
                  help="seconds of each run that samples where CPU goes (perf cpu-clock), "
                       "small and 1 KiB at --concurrency; 0 skips")
  ap.add_argument("--workers-sweep", default="1,2",
                  help="worker counts for the multi-core runs ('' skips): sidemeter runs "
                       "with each, the peers with each count above 1")
  ap.add_argument("--sweep-cpus", default="0,1", help="CPUs the proxy may use in the sweep")
  ap.add_argument("--idle-conns", type=int, default=20000,
                  help="idle keep-alive connections for the control-thread cost (0 skips); "
                       "capped by the fd limit")
  ap.add_argument("--idle-window", type=int, help="seconds the idle CPU is measured over (30; quick 10)")
  ap.add_argument("--nofile", type=int, default=20000)
  ap.add_argument("--results", default=os.path.join(HERE, "results"))
  ap.add_argument("--pidfile")
  args = ap.parse_args()
  args.runs = args.runs or (1 if args.quick else 3)
  args.conns = args.conns or (2000 if args.quick else 10000)
  args.duration = args.duration or (3 if args.quick else 8)
  args.c1_duration = args.c1_duration or (2 if args.quick else 4)
  args.high_duration = args.high_duration or (3 if args.quick else 6)
  args.idle_window = args.idle_window or (10 if args.quick else 30)
  args.high_conns = [int(x) for x in args.high_conns.split(",") if x.strip()]
  sweep = [int(x) for x in args.workers_sweep.split(",") if x.strip()]
  targets = args.targets.split(",")
  for t in targets:
    if t not in TARGETS:
      ap.error(f"unknown target {t}")
  if "direct" not in targets:
    targets.insert(0, "direct")  # the baseline for added latency

  os.makedirs(args.results, exist_ok=True)
  stamp = time.strftime("%Y%m%d-%H%M%S")
  raw_path = os.path.join(args.results, f"raw-{stamp}.jsonl")
  procs = Procs(args.pidfile)
  bench = None

  def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")
  signal.signal(signal.SIGTERM, on_signal)

  records = []
  try:
    with open(raw_path, "w") as raw:
      def emit(rec):
        records.append(rec)
        raw.write(json.dumps(rec) + "\n")
        raw.flush()
        brief = {k: rec[k] for k in ("rps", "cpu_us_per_req", "p50_us", "p99_us", "errors",
                                     "rss_idle_kib", "rss_after_kib", "served", "kib_per_conn",
                                     "rss_kib", "conns", "workers", "status", "body_bytes",
                                     "framing", "held") if k in rec}
        if rec.get("kind") == "idle_control":
          brief["threads"] = [(x["name"], round(x["core_pct"], 3)) for x in rec["threads"]]
        print(f"  run {rec['run']} {rec['target']:<20} {rec['kind']:<14} "
              f"{rec.get('payload', ''):<8} {json.dumps(brief)}", flush=True)

      meta = {"kind": "meta", "run": 0, "target": "", "args": vars(args),
              "loadavg_start": open("/proc/loadavg").read().split()[:3],
              "uname": os.uname().release, "versions": tool_versions(args.sidemeter)}
      emit(meta)
      bench = Bench(args, procs)
      accounting = bench.syscall_accounting()
      if accounting is not None:
        emit(dict(accounting, kind="syscall_accounting", run=0, target="", when="start"))
      bench.start_backend()
      for run in range(1, args.runs + 1):
        # Rotate the order so no proxy always runs first (or last) in a noisy period.
        shift = (run - 1) % len(targets)
        for target in targets[shift:] + targets[:shift]:
          print(f"== run {run}/{args.runs}: {target}", flush=True)
          bench.measure_target(run, target, emit)
        multi = [(t, n) for n in sweep for t in targets
                 if t == "sidemeter" or (n > 1 and t in PEERS)]
        shift = (run - 1) % max(1, len(multi))
        for target, workers in multi[shift:] + multi[:shift]:
          print(f"== run {run}/{args.runs}: {target} with {workers} workers", flush=True)
          bench.measure_workers(run, target, workers, emit)
      if args.idle_conns > 0 and "sidemeter" in targets:
        print(f"== sidemeter idle cost with {args.idle_conns} idle connections", flush=True)
        bench.measure_idle_control(emit)
      accounting = bench.syscall_accounting()
      if accounting is not None:
        emit(dict(accounting, kind="syscall_accounting", run=0, target="", when="end"))
      emit({"kind": "meta_end", "run": 0, "target": "",
            "loadavg_end": open("/proc/loadavg").read().split()[:3]})
  except KeyboardInterrupt as e:
    print(f"interrupted ({e}); cleaning up", file=sys.stderr)
    return 130
  finally:
    procs.stop_all()
    if bench is not None and os.environ.get("BENCH_KEEP_TMP", "") in ("", "0"):
      shutil.rmtree(bench.tmp, ignore_errors=True)

  table = report.render(records)
  print(table)
  with open(os.path.join(args.results, "latest.md"), "w") as f:
    f.write(table)
  print(f"raw results: {raw_path}\ntable: {os.path.join(args.results, 'latest.md')}")
  return 0


def tool_versions(sidemeter):
  def first_line(argv):
    try:
      out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
      return (out.stdout + out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
      return "?"
  return {"sidemeter": first_line([sidemeter, "--version"]),
          "haproxy": first_line(["haproxy", "-v"]), "nginx": first_line(["nginx", "-v"]),
          "caddy": first_line(["caddy", "version"]), "h2o": first_line(["h2o", "--version"]),
          "wrk": first_line(["wrk", "--version"])}


if __name__ == "__main__":
  sys.exit(main())
