"""A real Prometheus server (Debian's 2.42) for the Python test harnesses (the Grafana
dashboard and the Kubernetes recording rules): started on a loopback port with the scrape
config and rule files a test gives, queried over its HTTP API, stopped at exit.

Ports: Prometheus cannot take an inherited socket (procs.py's way), so its web port is one
the kernel chose a moment ago, released just before Prometheus binds it (as
tests/proxy/stats/native_histogram_e2e_test.cc does). Something else may bind it in
between; wait_ready() then starts the server again on another port.

A Prometheus that cannot start (a bad config, a port taken in between) exits: wait_ready()
and poll(..., watch=[...]) then raise at once with its exit code and log tail, rather than
waiting out their deadline.

Standard library only (Debian's python3): the config is written as JSON, which is YAML.
"""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from procs import _die_with_parent, find_tool, terminate


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


# The web port is free when chosen, but anything binding an ephemeral port (any client
# connect() on the machine) may take it before Prometheus binds it.
_PORT_ATTEMPTS = 3


class Prometheus:
  """One server with its config, log and data under `workdir` (created if missing).

  scrape_configs: Prometheus' `scrape_configs` list (dicts). global_config: its `global`
  section (default: scrape and evaluate every second, as the tests want data quickly).
  native_histograms: `--enable-feature=native-histograms` (2.42 then scrapes protobuf and
  stores only native histograms of a family that has them). `name` labels failures."""

  def __init__(self, workdir, scrape_configs, *, rule_files=(), native_histograms=False,
               global_config=None, name="prometheus", binary=None):
    self.name = name
    self.dir = workdir
    os.makedirs(workdir, exist_ok=True)
    binary = binary or find_tool("prometheus")
    if not binary:
      raise RuntimeError("prometheus not found (Debian package prometheus)")
    config = {"global": global_config or {"scrape_interval": "1s", "scrape_timeout": "1s",
                                          "evaluation_interval": "1s"},
              "scrape_configs": list(scrape_configs)}
    if rule_files:
      config["rule_files"] = list(rule_files)
    self.config_path = os.path.join(workdir, "prometheus.yml")
    with open(self.config_path, "w") as f:
      json.dump(config, f, indent=1)
    self._argv = [binary, f"--config.file={self.config_path}",
                  f"--storage.tsdb.path={os.path.join(workdir, 'data')}"]
    if native_histograms:
      self._argv.append("--enable-feature=native-histograms")
    self.log_path = os.path.join(workdir, "prometheus.log")
    self._start()

  def _start(self):
    self.port = free_port()
    with open(self.log_path, "wb") as log:
      self.proc = subprocess.Popen(self._argv + [f"--web.listen-address=127.0.0.1:{self.port}"],
                                   stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

  def alive(self):
    return self.proc.poll() is None

  def check_alive(self):
    """Raises RuntimeError (with the log tail) when the server has exited."""
    if not self.alive():
      raise RuntimeError(f"{self.name} Prometheus exited with {self.proc.returncode}:\n"
                         f"{self.log_tail()}")

  def ready(self):
    try:
      with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
        return r.status == 200
    except OSError:
      return False

  def wait_ready(self, deadline_s=30):
    """Returns once /-/ready answers 200; raises RuntimeError if the server exits first
    (for any reason but its port taken in between: then it is started again on another)
    or the deadline passes."""
    deadline = time.monotonic() + deadline_s
    for attempt in range(_PORT_ATTEMPTS):
      try:
        if poll(self.ready, deadline - time.monotonic(), interval=0.2, watch=[self]):
          return
        raise RuntimeError(f"{self.name} Prometheus not ready after {deadline_s} s:\n"
                           f"{self.log_tail()}")
      except RuntimeError:
        if (self.alive() or "address already in use" not in self.log_tail()
            or attempt + 1 == _PORT_ATTEMPTS):
          raise
        self._start()

  def get(self, path, params=None, timeout=10.0):
    """Parsed JSON of an API GET. Errors come back in Prometheus' own shape,
    {"status": "error", "error": ...}, so a caller reports them like a refused query."""
    url = f"http://127.0.0.1:{self.port}{path}"
    if params:
      url += "?" + urllib.parse.urlencode(params, doseq=True)
    try:
      with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())
    except urllib.error.HTTPError as e:  # 400 / 422 carry Prometheus' error in JSON
      try:
        return json.loads(e.read())
      except ValueError:
        return {"status": "error", "error": f"HTTP {e.code}"}
    except (OSError, ValueError) as e:
      return {"status": "error", "error": str(e)}

  def query(self, expr, timeout=10.0):
    return self.get("/api/v1/query", {"query": expr}, timeout)

  def query_range(self, expr, start, end, step, timeout=10.0):
    """start/end: Unix seconds; step: a duration ("2s") or seconds."""
    return self.get("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}",
                                            "end": f"{end:.3f}", "step": step}, timeout)

  def log_tail(self, chars=3000):
    try:
      with open(self.log_path, errors="replace") as f:
        return f.read()[-chars:]
    except OSError as e:
      return str(e)

  def stop(self, timeout=30.0):
    return terminate(self.proc, timeout)


def poll(done, deadline_s, interval=0.5, watch=()):
  """Polls an external process' state until done() holds (True) or the deadline passes
  (False). A server in `watch` that exits meanwhile raises at once (check_alive)."""
  deadline = time.monotonic() + deadline_s
  while True:
    if done():
      return True
    for server in watch:
      server.check_alive()
    if time.monotonic() >= deadline:
      return False
    time.sleep(interval)  # polling external processes, not synchronising
