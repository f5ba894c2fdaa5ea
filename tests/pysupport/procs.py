"""Child processes for the Python test harnesses (differential runs, slowhttptest, soak):
sidemeter itself, HAProxy and nginx, each on loopback, each stopped at exit.

Ports: sidemeter binds port 0 and says which in its "listening" log line. HAProxy and
nginx get a listening socket the harness bound to port 0 and passes down (HAProxy
`bind fd@N`, nginx's inherited-socket variable `NGINX=N;`), so no port is ever released
and re-bound: nothing can take it in between, and there is no collision to retry.

Standard library only (Debian's python3).
"""
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
  # A killed harness must not leave a proxy behind.
  _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def terminate(proc, timeout):
  """SIGTERM, then SIGKILL if `proc` has not exited within `timeout` s; its exit code
  (negative: a signal)."""
  if proc.poll() is None:
    proc.send_signal(signal.SIGTERM)
    try:
      proc.wait(timeout)
    except subprocess.TimeoutExpired:
      proc.kill()
      proc.wait()
  return proc.returncode


def find_tool(name):
  """Path of a Debian tool (haproxy and nginx live in /usr/sbin, often off a user's PATH)."""
  found = shutil.which(name)
  if found:
    return found
  for d in ("/usr/sbin", "/sbin"):
    if os.access(os.path.join(d, name), os.X_OK):
      return os.path.join(d, name)
  return None


def listening_socket(backlog=1024):
  """A TCP socket bound to 127.0.0.1 on a kernel-chosen port, listening."""
  s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
  s.bind(("127.0.0.1", 0))
  s.listen(backlog)
  return s


def proc_status_kb(pid, field):
  """VmRSS / VmHWM (kB) from /proc/PID/status; 0 when the process is gone."""
  try:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1])
  except OSError:
    pass
  return 0


def fd_count(pid):
  try:
    return len(os.listdir(f"/proc/{pid}/fd"))
  except OSError:
    return 0


class EventLog:
  """sidemeter's stderr (one JSON object a line, "event": name), read on a thread and kept.
  Lines that are not JSON (a sanitizer report) are kept for text() and skipped by events()."""

  def __init__(self, stream):
    self.lines = []
    self._cv = threading.Condition()
    self._closed = False
    self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
    self._reader.start()

  def _read(self, stream):
    for raw in stream:
      with self._cv:
        self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
        self._cv.notify_all()
    with self._cv:
      self._closed = True
      self._cv.notify_all()

  def events(self, name=None):
    """The parsed events named `name` (every JSON line when None), in order."""
    with self._cv:
      return self._events_locked(name)

  def _events_locked(self, name):
    out = []
    for line in self.lines:
      if name is not None and f'"event":"{name}"' not in line:
        continue
      try:
        ev = json.loads(line)
      except ValueError:
        continue
      if name is None or ev.get("event") == name:
        out.append(ev)
    return out

  def wait_event(self, name, count=1, timeout=20.0):
    """Waits until `count` log lines carry "event": name, or the stream ends, or the
    timeout passes; returns those found (may be fewer)."""
    deadline = time.monotonic() + timeout
    with self._cv:
      while True:
        found = self._events_locked(name)
        left = deadline - time.monotonic()
        if len(found) >= count or self._closed or left <= 0:
          return found
        self._cv.wait(left)

  def text(self, last=60):
    with self._cv:
      return "\n".join(self.lines[-last:])

  def join(self, timeout):
    self._reader.join(timeout)


class Sidemeter:
  """The binary from $SIDEMETER_BIN (or `binary`) with a YAML config written to workdir.
  Its stderr (one JSON object a line) is read on a thread and kept."""

  def __init__(self, yaml_text, workdir, binary=None, args=()):
    self.binary = binary or os.environ.get("SIDEMETER_BIN", "")
    if not self.binary:
      raise RuntimeError("SIDEMETER_BIN is not set")
    self.config_path = os.path.join(workdir, "sidemeter.yaml")
    self.write_config(yaml_text)
    self.proc = subprocess.Popen([self.binary, "--config", self.config_path, *args],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, preexec_fn=_die_with_parent)
    self.log = EventLog(self.proc.stderr)
    self.listen_port = self.stats_port = None

  def write_config(self, yaml_text):
    tmp = self.config_path + ".tmp"
    with open(tmp, "w") as f:
      f.write(yaml_text)
    os.replace(tmp, self.config_path)  # a reload never reads half a file

  def events(self, name=None):
    return self.log.events(name)

  def wait_event(self, name, count=1, timeout=20.0):
    """Waits until `count` log lines carry "event": name; returns them (may be fewer)."""
    return self.log.wait_event(name, count, timeout)

  def wait_listening(self, timeout=20.0):
    found = self.wait_event("listening", 1, timeout)
    if not found:
      raise RuntimeError("sidemeter did not start:\n" + self.log_text())
    self.listen_port = int(found[0]["listen_port"])
    self.stats_port = int(found[0]["stats_port"])
    return self.listen_port

  def stats(self, query="", timeout=5.0):
    url = f"http://127.0.0.1:{self.stats_port}/stats{query}"
    with urllib.request.urlopen(url, timeout=timeout) as r:
      return json.loads(r.read())

  def metrics(self, timeout=5.0):
    with urllib.request.urlopen(f"http://127.0.0.1:{self.stats_port}/metrics",
                                timeout=timeout) as r:
      return r.read().decode()

  def rss_kb(self):
    return proc_status_kb(self.proc.pid, "VmRSS")

  def fds(self):
    return fd_count(self.proc.pid)

  def alive(self):
    return self.proc.poll() is None

  def sanitizer(self):
    """"asan" or "tsan" when the binary runs under a sanitizer runtime, else "". Their
    allocators hold freed memory back (ASan's quarantine: up to 256 MiB), so RSS bounds
    mean nothing there."""
    try:
      with open(f"/proc/{self.proc.pid}/maps") as f:
        maps = f.read()
    except OSError:
      return ""
    for name in ("asan", "tsan"):
      if f"lib{name}" in maps:
        return name
    return ""

  def log_text(self, last=60):
    return self.log.text(last)

  def stop(self, timeout=30.0):
    """SIGTERM (drain), then SIGKILL; returns the exit code (negative: a signal)."""
    rc = terminate(self.proc, timeout)
    self.log.join(5)
    return rc


class Peer:
  """HAProxy or nginx in front of `upstream_port`, serving a listening socket we bound."""

  def __init__(self, kind, workdir, upstream_port, timeouts_s=3):
    self.kind = kind
    self.dir = os.path.join(workdir, kind)
    os.makedirs(self.dir, exist_ok=True)
    # nginx workers run as nobody and spool request bodies under the prefix.
    os.chmod(workdir, 0o755)
    os.chmod(self.dir, 0o755)
    self.sock = listening_socket()
    self.listen_port = self.sock.getsockname()[1]
    fd = self.sock.fileno()
    env = dict(os.environ)
    log = open(os.path.join(self.dir, "output.log"), "wb")
    if kind == "haproxy":
      cfg = os.path.join(self.dir, "haproxy.cfg")
      with open(cfg, "w") as f:
        f.write(_haproxy_cfg(fd, upstream_port, timeouts_s))
      argv = [find_tool("haproxy"), "-db", "-f", cfg]
    elif kind == "nginx":
      cfg = os.path.join(self.dir, "nginx.conf")
      with open(cfg, "w") as f:
        f.write(_nginx_conf(self.dir, self.listen_port, upstream_port, timeouts_s))
      # nginx adopts the sockets named here when a `listen` matches their address (its
      # binary-upgrade mechanism). It needs its master process for that.
      env["NGINX"] = f"{fd};"
      argv = [find_tool("nginx"), "-p", self.dir + "/", "-c", cfg, "-e", os.path.join(self.dir, "error.log")]
    else:
      raise ValueError(kind)
    self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, pass_fds=[fd], env=env,
                                 preexec_fn=_die_with_parent, start_new_session=True)
    log.close()
    # The child holds the socket now; ours is closed so the child alone accepts on it.
    self.sock.close()

  def version(self):
    argv = [find_tool(self.kind), "-v"]
    r = subprocess.run(argv, capture_output=True, text=True)
    return (r.stdout + r.stderr).splitlines()[0].strip()

  def alive(self):
    return self.proc.poll() is None

  def log_text(self):
    out = []
    for name in ("output.log", "error.log"):
      p = os.path.join(self.dir, name)
      if os.path.exists(p):
        with open(p, errors="replace") as f:
          out.append(f.read()[-4000:])
    return "\n".join(out)

  def stop(self):
    if self.proc.poll() is None:
      try:
        os.killpg(self.proc.pid, signal.SIGTERM)  # nginx: master and worker
      except ProcessLookupError:
        pass
      try:
        self.proc.wait(10)
      except subprocess.TimeoutExpired:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def _haproxy_cfg(fd, upstream_port, t):
  # Defaults except: limits raised to sidemeter's (64 KiB of header, 100 fields), so the
  # comparison is about parsing, not configured sizes; short timeouts so a request left
  # waiting for a body ends quickly.
  return f"""global
  tune.bufsize 131072
  tune.http.maxhdr 101
defaults
  mode http
  option http-keep-alive
  http-reuse safe
  timeout connect 2s
  timeout http-request {t}s
  timeout http-keep-alive {t}s
  timeout client {t}s
  timeout server {t + 2}s
frontend fe
  bind fd@{fd}
  default_backend be
backend be
  server up 127.0.0.1:{upstream_port}
"""


def _nginx_conf(prefix, port, upstream_port, t):
  # Defaults except: header buffers as large as sidemeter's limits, no body size limit
  # (sidemeter has none by default), a keep-alive upstream pool, the client's Host kept
# (server_name stands in when an HTTP/1.0 client sent none).
  return f"""daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi;
  uwsgi_temp_path {prefix}/uwsgi;
  scgi_temp_path {prefix}/scgi;
  large_client_header_buffers 8 64k;
  client_max_body_size 0;
  client_header_timeout {t}s;
  client_body_timeout {t}s;
  keepalive_timeout {t}s;
  upstream up {{
    server 127.0.0.1:{upstream_port};
    keepalive 16;
  }}
  server {{
    listen 127.0.0.1:{port};
    server_name test.local;
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_read_timeout {t + 2}s;
    }}
  }}
}}
"""


def http_get(port, path, timeout=5.0, host="test.local"):
  """One GET on a fresh connection; returns (status, body) or (None, error text)."""
  try:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
      s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
      data = b""
      while True:
        chunk = s.recv(65536)
        if not chunk:
          break
        data += chunk
  except OSError as e:
    return None, str(e)
  head, _, body = data.partition(b"\r\n\r\n")
  try:
    return int(head.split(b" ", 2)[1]), body
  except (IndexError, ValueError):
    return None, repr(data[:200])
