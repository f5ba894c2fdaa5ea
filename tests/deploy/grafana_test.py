#!/usr/bin/env python3
"""The Grafana dashboard (deploy/grafana/sidemeter.json), proven by the tools that consume
it: every PromQL expression in it is evaluated by two real Prometheus servers (Debian's
2.42) that scraped sidemeter under load, one with `--enable-feature=native-histograms`
(it scrapes protobuf and stores ONLY native histograms: no _bucket/_count/_sum series)
and one without (only classic histograms). Each expression must parse and return data
that Grafana can plot on BOTH.

The setup: sidemeter (2 workers, TLS on the listener so TLS handshakes are measured, a
short upstream response timeout, one alert rule of our own besides the built-in ones and
two SLOs) in front of tests/pysupport/fault_upstream.py; a bounded load (a few threads,
stops itself) mixes successes with delays, 5xx, large bodies, uploads, upstream resets,
early closes, cuts mid-body, response timeouts and requests sidemeter rejects, over
several routes. Both Prometheus servers scrape the stats port every second, with the
`namespace`/`pod` labels a Kubernetes PodMonitor gives.

What is checked:
  - the JSON is a dashboard model Grafana 9/10 imports: schemaVersion, unique panel ids,
    gridPos inside the 24-column grid without overlaps, every query panel and target
    with a datasource (the `datasource` variable), refIds unique per panel, every
    variable used is defined;
  - the template variables resolve like Grafana resolves them: label_values(selector,
    label) through /api/v1/series and /api/v1/label/<label>/values on both servers, each
    non-empty; their values (or "All" = `.*`) are then substituted with the built-ins
    ($__rate_interval, $__interval, $__range, ...);
  - every expression (panels, panels nested in rows, every target) through
    /api/v1/query on both servers: status success, a non-empty result, at least one
    finite number, no raw native histogram (Grafana 9 cannot plot one). Failures name the
    panel title, the server and the expression. Prometheus is polled (with a deadline)
    until it has ingested enough for every query, never waited for by a sleep;
  - every series selector carries the job/namespace/pod matchers;
  - negative checks: a copy of the dashboard with a typo in a metric name, one with a
    PromQL syntax error, one with a typo in a variable query, one with a duplicate panel
    id and one with a selector that ignores $pod must each be caught and blamed on the
    right panel.

Exit 0 on success, 1 on failure, 77 (skipped) when prometheus or openssl is missing.
Standard library only.
"""
import copy
import json
import math
import os
import random
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pysupport"))

from fault_upstream import FaultUpstreamProcess  # noqa: E402
from procs import Sidemeter, find_tool  # noqa: E402
from prometheus import Prometheus, poll  # noqa: E402

DASHBOARD = os.path.join(HERE, "..", "..", "deploy", "grafana", "sidemeter.json")

# Grafana's built-in variables, as Grafana would set them for a 1 s scrape interval on a
# short time range ($__rate_interval = max($__interval + scrape, 4 x scrape), rounded up
# here for a loaded machine whose scrapes may come late).
BUILTINS = {
    "__rate_interval": "10s",
    "__interval": "2s",
    "__interval_ms": "2000",
    "__range": "1m",
    "__range_s": "60",
    "__range_ms": "60000",
}
NAMESPACE, POD = "shop", "shop-7d9f6c-x2k4q"
ONE_ROUTE = "/status/{code}"  # a configured pattern that answers 5xx, 4xx and (below) 2xx
LOAD_LIMIT_S = 80  # the load stops by itself after this, whatever happens to the test
INGEST_DEADLINE_S = 60  # from the load's start: every query must have data by then


def log(*a):
  print(*a, flush=True)


# ------------------------------------------------------------------ the dashboard model

def walk_panels(panels):
  """Every panel, rows' nested panels included (a collapsed row keeps them inside)."""
  for p in panels:
    yield p
    yield from walk_panels(p.get("panels", []))


def check_model(dash):
  """Problems that would make Grafana refuse the JSON or show broken panels."""
  bad = []
  if not isinstance(dash.get("schemaVersion"), int) or not 36 <= dash["schemaVersion"] <= 39:
    bad.append(f"schemaVersion {dash.get('schemaVersion')!r}: Grafana 9/10 use 36-39")
  for key in ("title", "uid"):
    if not dash.get(key):
      bad.append(f"no {key}")
  variables = dash.get("templating", {}).get("list", [])
  names = [v.get("name") for v in variables]
  if len(names) != len(set(names)):
    bad.append(f"duplicate variable names: {names}")
  dsv = [v for v in variables if v.get("type") == "datasource"]
  if not dsv or dsv[0].get("query") != "prometheus":
    bad.append("no datasource variable of type prometheus")
  ds_ref = "${" + dsv[0]["name"] + "}" if dsv else None
  defined = set(names) | set(BUILTINS)
  ids = []
  cells = {}
  for p in walk_panels(dash.get("panels", [])):
    title = p.get("title", "?")
    ids.append(p.get("id"))
    if not isinstance(p.get("id"), int):
      bad.append(f"panel {title!r}: id {p.get('id')!r} is not an integer")
    g = p.get("gridPos")
    if not isinstance(g, dict) or not all(isinstance(g.get(k), int) for k in "hwxy"):
      bad.append(f"panel {title!r}: gridPos {g!r} lacks integer h, w, x, y")
    elif g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24 or g["h"] < 1:
      bad.append(f"panel {title!r}: gridPos {g!r} outside the 24-column grid")
    else:
      for dx in range(g["w"]):
        for dy in range(g["h"]):
          cell = (g["x"] + dx, g["y"] + dy)
          if cell in cells:
            bad.append(f"panel {title!r} overlaps panel {cells[cell]!r} at {cell}")
            break
          cells[cell] = title
        else:
          continue
        break
    if p.get("type") == "row":
      continue
    if not p.get("type") or not p.get("title"):
      bad.append(f"panel id {p.get('id')}: no type or title")
    if p.get("datasource", {}).get("uid") != ds_ref:
      bad.append(f"panel {title!r}: datasource {p.get('datasource')!r}, not {ds_ref}")
    targets = p.get("targets", [])
    if not targets:
      bad.append(f"panel {title!r}: no targets")
    refs = [t.get("refId") for t in targets]
    if len(refs) != len(set(refs)) or not all(refs):
      bad.append(f"panel {title!r}: refIds {refs} not unique")
    for t in targets:
      ds = t.get("datasource") or {}
      if ds.get("uid") != ds_ref or ds.get("type") != "prometheus":
        bad.append(f"panel {title!r} target {t.get('refId')}: datasource {ds!r}")
      if not t.get("expr", "").strip():
        bad.append(f"panel {title!r} target {t.get('refId')}: empty expr")
  if len(ids) != len(set(ids)):
    dup = sorted({i for i in ids if ids.count(i) > 1})
    bad.append(f"duplicate panel ids {dup}")
  for where, expr, kind in expressions(dash):
    # Every series selector obeys the job/namespace/pod selection, or one panel would
    # quietly show pods the user did not pick.
    if kind != "variable":
      for sel in re.findall(r"[a-zA-Z_:][\w:]*\{([^{}]*)\}", expr):
        missing = [m for m in _SCOPE if m not in sel]
        if missing:
          bad.append(f"{where}: selector {{{sel}}} lacks {missing}")
    for name in _VAR.findall(expr):
      n = next(x for x in name if x)
      if n not in defined:
        bad.append(f"{where}: variable ${n} is not defined in {expr}")
  return bad


_SCOPE = ('job=~"$job"', 'namespace=~"$namespace"', 'pod=~"$pod"')


def expressions(dash):
  """(where, expression, kind): every PromQL expression; kind 'variable' (a template
  variable's query), 'range' or 'instant' (a panel target)."""
  out = []
  for v in dash.get("templating", {}).get("list", []):
    if v.get("type") == "query":
      q = v.get("query")
      if isinstance(q, dict):  # Grafana 10's object form
        q = q.get("query", "")
      out.append((f"variable ${v['name']}", q, "variable"))
  for p in walk_panels(dash.get("panels", [])):
    for t in p.get("targets", []):
      kind = "instant" if t.get("instant") and not t.get("range") else "range"
      out.append((f"panel {p.get('title')!r} target {t.get('refId')}", t.get("expr", ""), kind))
  return out


# ${name}, ${name:format}, $name, [[name]]
_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr, values):
  def one(m):
    name = next(x for x in m.groups() if x)
    if name not in values:
      raise KeyError(f"${name} has no value")
    return values[name]
  return _VAR.sub(one, expr)


def grafana_escape(value):
  """A value as Grafana's Prometheus data source writes it into a regex matcher: regex
  metacharacters escaped with a backslash, itself escaped for the PromQL string."""
  return re.sub(r'([.*+?^${}()|\[\]\\])', r'\\\\\1', value)


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+)\s*,\s*)?([a-zA-Z_]\w*)\s*\)\s*$")


# ------------------------------------------------------------------ Prometheus

def start_prometheus(workdir, stats_port, native):
  """One of the two servers: "native" stores only native histograms, "classic" only
  _bucket/_count/_sum. Both scrape with the labels a Kubernetes PodMonitor gives."""
  name = "native" if native else "classic"
  return Prometheus(os.path.join(workdir, "prometheus-" + name), [{
      "job_name": "sidemeter",
      "static_configs": [{"targets": [f"127.0.0.1:{stats_port}"],
                          "labels": {"namespace": NAMESPACE, "pod": POD}}]}],
      native_histograms=native, name=name)


# ------------------------------------------------------------------ evaluation

def resolve_variables(dash, servers):
  """Values per variable, resolved in order like Grafana (a query may use earlier ones),
  and failures. job/namespace/pod take their first value; route takes "All" (`.*`), so
  the per-route panels show every route, as Grafana's default does."""
  values = dict(BUILTINS)
  failures = []
  for v in dash.get("templating", {}).get("list", []):
    name = v["name"]
    if v.get("type") == "datasource":
      values[name] = "prometheus"
      continue
    if v.get("type") != "query":
      failures.append(f"variable ${name}: type {v.get('type')!r} not handled by this test")
      continue
    q = v.get("query")
    if isinstance(q, dict):
      q = q.get("query", "")
    m = _LABEL_VALUES.match(q or "")
    if not m:
      failures.append(f"variable ${name}: query {q!r} is not label_values(selector, label)")
      continue
    try:
      selector = substitute(m.group(1) or "", values)
    except KeyError as e:
      failures.append(f"variable ${name}: {e} in {q}")
      continue
    label = m.group(2)
    found = None
    for prom in servers:
      params = {"match[]": selector} if selector else None
      r1 = prom.get(f"/api/v1/label/{label}/values", params)  # Grafana 10
      r2 = prom.get("/api/v1/series", {"match[]": selector or '{__name__=~".+"}'})  # Grafana 9
      if r1.get("status") != "success" or r2.get("status") != "success":
        failures.append(f"variable ${name} on {prom.name}: error: {r1.get('error') or r2.get('error')}"
                        f"\n    query: {q}\n    sent: {selector}")
        continue
      vals1 = sorted(r1["data"])
      vals2 = sorted({s[label] for s in r2["data"] if label in s})
      if not vals1 or vals1 != vals2:
        failures.append(f"variable ${name} on {prom.name}: values {vals1} (label API) vs {vals2} "
                        f"(series API)\n    query: {q}\n    sent: {selector}")
        continue
      found = vals1 if found is None else found
    if found is None:
      values[name] = "__unresolved__"
      continue
    if name == "route" and v.get("includeAll"):
      values[name] = v.get("allValue") or "(" + "|".join(map(grafana_escape, found)) + ")"
    else:
      values[name] = grafana_escape(found[0])
    values["__resolved_" + name] = found
  return values, failures


def evaluate(dash, servers, values, label=""):
  """Failures (strings naming the panel, server and expression) of every panel query.
  Range targets (time series) go to /api/v1/query_range over the last 20 s at a step of
  $__interval, as Grafana sends them; instant ones (tables) to /api/v1/query."""
  failures = []
  for where, expr, kind in expressions(dash):
    if kind == "variable":
      continue
    try:
      q = substitute(expr, values)
    except KeyError as e:
      failures.append(f"{where}: {e}\n    {expr}")
      continue
    for prom in servers:
      if kind == "range":
        now = time.time()
        r = prom.query_range(q, now - 20, now, values["__interval"])
      else:
        r = prom.query(q)
      why = None
      if r.get("status") != "success":
        why = f"error: {r.get('errorType', '')} {r.get('error', '')}"
      else:
        data = r.get("data", {})
        result = data.get("result")
        if data.get("resultType") == "scalar":
          result = [{"value": result}]
        if not result:
          why = "empty result"
        elif any("histogram" in s or "histograms" in s for s in result):
          why = "returns a raw native histogram (Grafana 9 plots numbers)"
        elif not any(_finite(v[1]) for s in result for v in s.get("values", [s.get("value")])):
          why = f"no finite value among {len(result)} series"
      if why:
        failures.append(f"{where}{label} on {prom.name} Prometheus: {why}\n    {q}")
  return failures


def _finite(text):
  try:
    return math.isfinite(float(text))
  except (TypeError, ValueError):
    return False


# ------------------------------------------------------------------ load

# (weight, method, target, body bytes): routes with delays, 5xx, big and chunked
# responses, uploads, and each upstream failure fault_upstream can produce.
MIX = [
    (30, "GET", "/api/users/{n}", 0),
    (15, "GET", "/slow?ms=15", 0),
    (4, "GET", "/slow?ms=60", 0),
    (8, "GET", "/big?n=20000", 0),
    (4, "GET", "/chunked?n=40000", 0),
    (8, "POST", "/echo", 3000),
    (4, "GET", "/status/503", 0),
    (2, "GET", "/status/500", 0),
    (3, "GET", "/status/404", 0),
    (2, "GET", "/status/200", 0),
    (2, "GET", "/reset", 0),
    (2, "GET", "/close-early", 0),
    (2, "GET", "/reset-mid?n=65536", 0),
    (1, "GET", "/slow?ms=700", 0),  # > timeouts.upstream_response: response_timeout
]
# Both Content-Length and Transfer-Encoding: refused before the upstream (cl_and_te).
SMUGGLE = (b"POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")


class Load:
  """A few client threads over TLS, paced, each stopping at `stop` or after LOAD_LIMIT_S.
  Every 6th request closes its connection, so TLS handshakes and fresh upstream
  connections keep happening in every rate window."""

  def __init__(self, port, threads=4, pause_s=0.02):
    self.port = port
    self.pause_s = pause_s
    self.stop = threading.Event()
    self.deadline = time.monotonic() + LOAD_LIMIT_S
    self.ctx = ssl.create_default_context()
    self.ctx.check_hostname = False
    self.ctx.verify_mode = ssl.CERT_NONE
    self.sent = 0
    self.answers = {}
    self.lock = threading.Lock()
    weights = [m[0] for m in MIX]
    self.threads = [threading.Thread(target=self._run, args=(i, weights), daemon=True)
                    for i in range(threads)]
    for t in self.threads:
      t.start()

  def _connect(self):
    s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
    return self.ctx.wrap_socket(s, server_hostname="localhost")

  def _run(self, seed, weights):
    rnd = random.Random(seed)
    conn = None
    n = 0
    while not self.stop.is_set() and time.monotonic() < self.deadline:
      n += 1
      try:
        if n % 40 == 0:
          with self._connect() as s:
            s.sendall(SMUGGLE)
            self._record(_read_status(s))
          continue
        _, method, target, body = rnd.choices(MIX, weights)[0]
        target = target.replace("{n}", str(rnd.randrange(1, 10**6)))
        close = n % 6 == 0
        if conn is None:
          conn = self._connect()
        head = f"{method} {target} HTTP/1.1\r\nHost: test.local\r\n"
        if method == "POST":
          head += f"Content-Length: {body}\r\n"
        if close:
          head += "Connection: close\r\n"
        conn.sendall(head.encode() + b"\r\n" + bytes(body))
        status, keep = _read_response(conn)
        self._record(status)
        if close or not keep:
          conn.close()
          conn = None
      except (OSError, ValueError):
        self._record("failed")
        if conn is not None:
          conn.close()
        conn = None
      self.stop.wait(self.pause_s)  # pacing the load, not synchronising
    if conn is not None:
      conn.close()

  def _record(self, status):
    with self.lock:
      self.sent += 1
      self.answers[status] = self.answers.get(status, 0) + 1

  def finish(self):
    self.stop.set()
    for t in self.threads:
      t.join(15)


def _read_status(s):
  data = b""
  while b"\r\n" not in data:
    chunk = s.recv(4096)
    if not chunk:
      return "closed"
    data += chunk
  return int(data.split(b" ", 2)[1])


def _recv_until(s, buf, done, where):
  """buf plus what s sends until done(buf); OSError naming `where` if s closes first."""
  while not done(buf):
    chunk = s.recv(65536)
    if not chunk:
      raise OSError(f"closed {where}")
    buf += chunk
  return buf


def _read_response(s):
  """(status, keep-alive) of one response; reads the body by Content-Length or chunks.
  Raises OSError when the connection ends before the response does."""
  buf = _recv_until(s, b"", lambda b: b"\r\n\r\n" in b, "before the response head")
  head, _, rest = buf.partition(b"\r\n\r\n")
  lines = head.split(b"\r\n")
  status = int(lines[0].split(b" ", 2)[1])
  fields = {}
  for line in lines[1:]:
    k, _, v = line.partition(b":")
    fields[k.strip().lower()] = v.strip().lower()
  keep = fields.get(b"connection") != b"close"
  if b"chunked" in fields.get(b"transfer-encoding", b""):
    _recv_until(s, rest, lambda b: b.endswith(b"0\r\n\r\n"), "mid-body")
  else:
    n = int(fields.get(b"content-length", b"0"))
    _recv_until(s, rest, lambda b: len(b) >= n, "mid-body")
  return status, keep


# ------------------------------------------------------------------ the test

def sidemeter_config(upstream_port):
  return f"""listen: 127.0.0.1:0
workers: 2
upstream:
  address: 127.0.0.1:{upstream_port}
tls:
  certificates:
    - certificate_file: cert.pem
      private_key_file: key.pem
stats:
  address: 127.0.0.1:0
timeouts:
  upstream_response: 300ms
routes:
  patterns: ["/api/users/{{id}}", "/status/{{code}}"]
  admission:
    hits: 2
alerts:
  rules:
    # Fires within seconds under this load (about 7 % 5xx), so a firing alert is scraped.
    - name: ErrorRateFast
      figure: error_rate
      warning: 1%
      critical: 5%
      window: 10s
      for: 0s
slos:
  - name: availability
    objective: 99.9%
  - name: api-latency
    kind: latency
    objective: 99%
    threshold: 50ms
    route: /api/users/{{id}}
"""


def mutated(dash, fn):
  d = copy.deepcopy(dash)
  fn(d)
  return d


def negative_checks(dash, servers, values):
  """Each broken copy must be caught, and blamed on the panel or variable broken."""
  problems = []
  panels = [p for p in walk_panels(dash["panels"]) if p.get("targets")]
  upstream = next(p for p in panels if "sidemeter_upstream_errors_total" in p["targets"][0]["expr"])
  latency = next(p for p in panels if "histogram_quantile" in p["targets"][0]["expr"])

  def typo(d):
    p = next(q for q in walk_panels(d["panels"]) if q.get("id") == upstream["id"])
    p["targets"][0]["expr"] = p["targets"][0]["expr"].replace(
        "sidemeter_upstream_errors_total", "sidemeter_upstream_error_total")

  def syntax(d):
    p = next(q for q in walk_panels(d["panels"]) if q.get("id") == latency["id"])
    p["targets"][0]["expr"] = p["targets"][0]["expr"].replace("[$__rate_interval]", "[$__rate_interval", 1)

  for label, d, title in (("metric-name typo", mutated(dash, typo), upstream["title"]),
                          ("syntax error", mutated(dash, syntax), latency["title"])):
    fails = evaluate(d, servers, values)
    blamed = [f for f in fails if f"panel {title!r}" in f]
    if len(blamed) != 2 or len(fails) != 2:  # that target, on both servers, nothing else
      problems.append(f"negative check ({label}): expected 2 failures of panel {title!r}, got "
                      f"{len(fails)}:\n  " + "\n  ".join(fails))
    else:
      log(f"negative check ({label}) caught:\n  " + blamed[0].splitlines()[0])

  def bad_variable(d):
    v = next(x for x in d["templating"]["list"] if x["name"] == "route")
    v["query"] = v["query"].replace("http_route)", "http_rout)")
  _, fails = resolve_variables(mutated(dash, bad_variable), servers)
  if not any(f.startswith("variable $route") for f in fails):
    problems.append("negative check (variable typo): not caught")
  else:
    log("negative check (variable typo) caught:\n  " + fails[0].splitlines()[0])

  def dup_id(d):
    ps = [p for p in walk_panels(d["panels"]) if p["type"] != "row"]
    ps[3]["id"] = ps[2]["id"]
  fails = check_model(mutated(dash, dup_id))
  if not any("duplicate panel ids" in f for f in fails):
    problems.append("negative check (duplicate panel id): not caught")
  else:
    log("negative check (duplicate panel id) caught: " + fails[0])

  def unscoped(d):
    p = next(q for q in walk_panels(d["panels"]) if q.get("id") == upstream["id"])
    p["targets"][0]["expr"] = p["targets"][0]["expr"].replace(',pod=~"$pod"', "")
  fails = check_model(mutated(dash, unscoped))
  if not any(f"panel {upstream['title']!r}" in f and "lacks" in f for f in fails):
    problems.append("negative check (selector without $pod): not caught")
  else:
    log("negative check (selector without $pod) caught: " + fails[0])
  return problems


def main():
  started = time.monotonic()
  prometheus = find_tool("prometheus")
  openssl = find_tool("openssl")
  if not prometheus or not openssl:
    log("SKIP: prometheus or openssl not installed (Debian packages prometheus, openssl)")
    return 77
  with open(DASHBOARD) as f:
    dash = json.load(f)

  problems = check_model(dash)
  if problems:
    log("FAIL: the dashboard model:\n  " + "\n  ".join(problems))
    return 1
  n_queries = sum(1 for e in expressions(dash) if e[2] != "variable")
  log(f"dashboard model ok: {n_queries} panel queries, "
      f"{sum(1 for e in expressions(dash) if e[2] == 'variable')} variable queries")

  workdir = tempfile.mkdtemp(prefix="sidemeter-grafana-")
  upstream = sm = load = None
  servers = []
  try:
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj", "/CN=localhost",
                    "-keyout", os.path.join(workdir, "key.pem"),
                    "-out", os.path.join(workdir, "cert.pem")],
                   check=True, capture_output=True)
    upstream = FaultUpstreamProcess(idle_timeout=10.0)
    sm = Sidemeter(sidemeter_config(upstream.port), workdir)
    sm.wait_listening()
    servers = [start_prometheus(workdir, sm.stats_port, native=True),
               start_prometheus(workdir, sm.stats_port, native=False)]
    load = Load(sm.listen_port)
    load_started = time.monotonic()
    try:
      for prom in servers:
        prom.wait_ready(30)
    except RuntimeError as e:
      log(f"FAIL: {e}")
      return 1

    # Poll until every variable resolves and every query has data on both servers.
    state = {"values": None, "failures": ["not evaluated"], "rounds": 0}

    def all_good():
      state["rounds"] += 1
      values, fails = resolve_variables(dash, servers)
      if not fails:
        fails = evaluate(dash, servers, values, " (route=All)")
      if not fails:
        # One route picked, as a user does: its template's braces must survive the
        # escaping Grafana applies, and the per-route panels must still have data.
        if ONE_ROUTE not in values["__resolved_route"]:
          fails = [f"route {ONE_ROUTE} not among $route's values {values['__resolved_route']}"]
        else:
          fails = evaluate(dash, servers, dict(values, route=grafana_escape(ONE_ROUTE)),
                           f" (route={ONE_ROUTE})")
      state["values"], state["failures"] = values, fails
      # A query Prometheus refuses will not heal by waiting: stop polling at once.
      return (not fails and load.sent > 0) or any(": error: " in f for f in fails)

    try:
      ok = poll(all_good, INGEST_DEADLINE_S - (time.monotonic() - load_started), interval=1.0,
                watch=servers)
    except RuntimeError as e:
      log(f"FAIL: {e}")
      return 1
    ingest_s = time.monotonic() - load_started
    if not ok or state["failures"]:
      log(f"FAIL: after {ingest_s:.1f} s of load ({state['rounds']} rounds), "
          f"{len(state['failures'])} failures:\n  " + "\n  ".join(state["failures"]))
      for prom in servers:
        targets = prom.get("/api/v1/targets")
        log(f"{prom.name} targets: {json.dumps(targets.get('data', {}).get('activeTargets', []))[:800]}")
      return 1
    values = state["values"]
    # Each server holds only its own kind of histogram, so each side of every `or` in the
    # dashboard was exercised: native series only on one, _bucket/_count/_sum only on the other.
    for prom in servers:
      has = {}
      for what, q in (("native", 'count({__name__="sidemeter_request_duration_seconds"})'),
                      ("classic", 'count({__name__=~"sidemeter_request_duration_seconds_(bucket|count|sum)"})')):
        r = prom.query(q)
        has[what] = bool(r.get("status") == "success" and r["data"]["result"])
      if has != {"native": prom.name == "native", "classic": prom.name == "classic"}:
        log(f"FAIL: the {prom.name} Prometheus holds {has}: not one kind of histogram only")
        return 1
    log(f"all {n_queries} queries return data on both servers after {ingest_s:.1f} s of load "
        f"({state['rounds']} rounds); routes seen: {values['__resolved_route']}")
    for prom in servers:
      p99 = prom.query(substitute(next(e for w, e, k in expressions(dash)
                                       if "p50 / p95 / p99" in w and "target C" in w), values))
      series = prom.query("scrape_samples_scraped")
      log(f"  {prom.name}: service p99 {p99['data']['result'][0]['value'][1]} s, "
          f"samples per scrape {series['data']['result'][0]['value'][1]}")

    problems = negative_checks(dash, servers, values)
    if problems:
      log("FAIL:\n  " + "\n  ".join(problems))
      return 1
    load.finish()
    log(f"load: {load.sent} requests, answers {dict(sorted(load.answers.items(), key=str))}")
    rc = sm.stop()
    if rc != 0:  # e.g. a sanitizer report: the figures above came from a broken process
      log(f"FAIL: sidemeter exited {rc}:\n{sm.log_text()}")
      return 1
    log(f"PASS in {time.monotonic() - started:.1f} s")
    return 0
  finally:
    if load:
      load.finish()
    for prom in servers:
      prom.stop()
    if sm:
      sm.stop()
    if upstream:
      upstream.stop()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
  sys.exit(main())
