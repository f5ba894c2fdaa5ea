#!/usr/bin/env python3
"""deploy/kubernetes, checked by the tools that consume it (issue 14, "Kubernetes").

1. check_manifests.py (the user's offline check, also behind check_manifests.sh) passes
   on what `kubectl kustomize` renders from deploy/kubernetes and its overlays.
2. It can fail: each of a list of deliberate breakages of the rendered objects is caught
   by the check meant for it, and a broken copy of a source manifest fails the CLI.
3. The recording rules give results on both kinds of Prometheus: two real Prometheus
   2.42 servers, one with --enable-feature=native-histograms (no _bucket/_count series
   at all) and one without, scrape one sidemeter running the ConfigMap's config, and
   evaluate prometheus-rules.yaml; each must record the request rate, the quantiles and
   the exact 5xx ratio of the traffic this test sent.

Environment: SIDEMETER_BIN (the binary under test). Needs kubectl (kubernetes-client),
promtool and prometheus (prometheus), python3-yaml. Standard library otherwise.
"""
import concurrent.futures
import copy
import http.client
import http.server
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
K8S = os.path.join(ROOT, "deploy", "kubernetes")
sys.path.insert(0, K8S)
sys.path.insert(0, os.path.join(ROOT, "tests", "pysupport"))

import yaml  # noqa: E402  (python3-yaml)

import check_manifests as cm  # noqa: E402
import procs  # noqa: E402
from prometheus import Prometheus, poll  # noqa: E402

BIN = os.environ.get("SIDEMETER_BIN", "")
T0 = time.monotonic()


def find(objs, kind, name=None):
  for o in objs:
    if o["kind"] == kind and (name is None or o["metadata"]["name"] == name):
      return o
  raise KeyError(kind)


def container(objs, name):
  return next(c for c in find(objs, "Deployment")["spec"]["template"]["spec"]["containers"]
              if c["name"] == name)


def container_list(objs):
  return find(objs, "Deployment")["spec"]["template"]["spec"]["containers"]


def edit_config(objs, fn):
  """Applies fn to the parsed sidemeter.yaml of the ConfigMap and writes it back."""
  c = find(objs, "ConfigMap")
  cfg = yaml.safe_load(c["data"]["sidemeter.yaml"])
  fn(cfg)
  c["data"]["sidemeter.yaml"] = yaml.safe_dump(cfg, sort_keys=False, default_style='"')


def set_rule(objs, record, expr):
  for g in find(objs, "PrometheusRule")["spec"]["groups"]:
    for rule in g["rules"]:
      if rule.get("record") == record:
        rule["expr"] = expr


# (what is broken, how, the check ids that must fail). Each breakage is one a reviewer
# could plausibly make by hand; the ids name the check meant to catch it.
BREAKAGES = [
    ("pod labels no longer selected",
     lambda o: find(o, "Deployment")["spec"]["template"]["metadata"]["labels"].update(
         {"app.kubernetes.io/name": "other"}),
     {"deployment.selector", "service.selector", "podmonitor.selector"}),
    ("app without image", lambda o: container(o, "app").pop("image"), {"container.image"}),
    ("sidecar without requests", lambda o: container(o, "sidemeter")["resources"].pop("requests"),
     {"container.resources"}),
    ("runAsNonRoot false",
     lambda o: container(o, "sidemeter")["securityContext"].update(runAsNonRoot=False),
     {"security.nonroot"}),
    ("runs as root", lambda o: container(o, "sidemeter")["securityContext"].update(runAsUser=0),
     {"security.uid"}),
    ("writable root filesystem",
     lambda o: container(o, "app")["securityContext"].update(readOnlyRootFilesystem=False),
     {"security.readonly"}),
    ("privilege escalation",
     lambda o: container(o, "sidemeter")["securityContext"].pop("allowPrivilegeEscalation"),
     {"security.escalation"}),
    ("capabilities kept",
     lambda o: container(o, "sidemeter")["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
     {"security.caps"}),
    ("no readiness probe", lambda o: container(o, "sidemeter").pop("readinessProbe"),
     {"sidecar.readinessProbe", "probe.path"}),
    ("Service targets a port name that does not exist",
     lambda o: find(o, "Service")["spec"]["ports"][0].update(targetPort="web"),
     {"service.target_port"}),
    ("Service targets the app directly",
     lambda o: (container(o, "app").update(ports=[{"name": "web", "containerPort": 8000}]),
                find(o, "Service")["spec"]["ports"][0].update(targetPort="web")),
     {"service.target_port", "service.bypass"}),
    ("Service targets the stats port",
     lambda o: find(o, "Service")["spec"]["ports"][0].update(targetPort="stats"),
     {"service.listen"}),
    ("PodMonitor on a port that does not exist",
     lambda o: find(o, "PodMonitor")["spec"]["podMetricsEndpoints"][0].update(port="metrics"),
     {"podmonitor.port"}),
    ("PodMonitor on the wrong path",
     lambda o: find(o, "PodMonitor")["spec"]["podMetricsEndpoints"][0].update(path="/stats"),
     {"podmonitor.path"}),
    ("PodMonitor on the traffic port",
     lambda o: find(o, "PodMonitor")["spec"]["podMetricsEndpoints"][0].update(port="http"),
     {"podmonitor.stats"}),
    ("rule that does not parse",
     lambda o: set_rule(o, "http_route:http_server_requests:rate5m", "sum by (http_route) (rate("),
     {"rules.check"}),
    ("p99 averaged across pods (parses, wrong value)",
     lambda o: set_rule(o, "http_route:http_server_request_duration_seconds:p99_5m",
                        "avg by (http_route) (histogram_quantile(0.99, sum by (le, http_route, pod)"
                        " (rate(http_server_request_duration_seconds_bucket[5m]))))"),
     {"rules.test"}),
    ("unknown key in the config", lambda o: edit_config(o, lambda c: c.update(listen_typo="x")),
     {"configmap.check_config"}),
    ("config volume from another ConfigMap",
     lambda o: find(o, "Deployment")["spec"]["template"]["spec"]["volumes"][0]["configMap"]
     .update(name="elsewhere"),
     {"configmap.mounted"}),
    ("listen port is not a container port",
     lambda o: edit_config(o, lambda c: c.update(listen="0.0.0.0:8081")),
     {"config.listen_port", "service.listen"}),
    ("stats port moved, probes and scrape left behind",
     lambda o: edit_config(o, lambda c: c["stats"].update(address="0.0.0.0:9902")),
     {"config.stats_port", "probe.port", "podmonitor.stats", "annotations.port"}),
    ("listener on loopback only",
     lambda o: edit_config(o, lambda c: c.update(listen="127.0.0.1:8080")), {"config.bind"}),
    ("readiness on a path the binary does not serve",
     lambda o: container(o, "sidemeter")["readinessProbe"]["httpGet"].update(path="/ready"),
     {"probe.path", "probe.answers"}),
    ("liveness on the traffic port",
     lambda o: container(o, "sidemeter")["livenessProbe"]["httpGet"].update(port="http"),
     {"probe.port"}),
    ("annotation scrapes the wrong port",
     lambda o: find(o, "Deployment")["spec"]["template"]["metadata"]["annotations"].update(
         {"prometheus.io/port": "8080"}),
     {"annotations.port"}),
    ("grace period shorter than the drain",
     lambda o: find(o, "Deployment")["spec"]["template"]["spec"].update(
         terminationGracePeriodSeconds=20),
     {"drain.grace"}),
    ("drain_timeout raised past the grace period",
     lambda o: edit_config(o, lambda c: c["timeouts"].update(drain_timeout="40s")),
     {"drain.grace"}),
    ("sidecar preStop eats the grace period",
     lambda o: container(o, "sidemeter").update(lifecycle={"preStop": {"sleep": {"seconds": 15}}}),
     {"drain.grace", "drain.app_prestop"}),
    ("app stops before sidemeter stops accepting",
     lambda o: container(o, "app")["lifecycle"]["preStop"]["sleep"].update(seconds=3),
     {"drain.app_prestop"}),
    ("app preStop longer than the grace period",
     lambda o: container(o, "app")["lifecycle"]["preStop"]["sleep"].update(seconds=40),
     {"drain.app_grace"}),
    ("readiness too slow to notice the drain",
     lambda o: container(o, "sidemeter")["readinessProbe"].update(periodSeconds=10),
     {"drain.readiness"}),
    ("load balancer sends PROXY headers, listener does not expect them",
     lambda o: find(o, "Service")["metadata"].setdefault("annotations", {}).update(
         {"service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": "*"}),
     {"proxy.agree"}),
]

# The same on the proxy-protocol overlay's rendering.
PROXY_OVERLAY = os.path.join(K8S, "overlays", "proxy-protocol")
OVERLAY_BREAKAGES = [
    ("PROXY protocol required behind a ClusterIP Service",
     lambda o: find(o, "Service")["spec"].update(type="ClusterIP"), {"proxy.agree"}),
    ("proxy_protocol value outside the contract",
     lambda o: edit_config(o, lambda c: c.update(proxy_protocol="v3")), {"proxy.mode"}),
    ("trusted_proxies entry that is no CIDR",
     lambda o: edit_config(o, lambda c: c.update(trusted_proxies=["10.0.0.0/33"])),
     {"proxy.trusted"}),
]


@unittest.skipUnless(BIN and shutil.which("kubectl") and shutil.which("promtool"),
                     "needs SIDEMETER_BIN, kubectl (kubernetes-client), promtool (prometheus)")
class Manifests(unittest.TestCase):

  def run_cli(self, *args):
    return subprocess.run([sys.executable, os.path.join(K8S, "check_manifests.py"),
                           "--sidemeter", BIN, *args], capture_output=True, text=True)

  def test_repository_passes(self):
    out = self.run_cli()
    print(out.stdout)
    self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
    self.assertNotIn("FAIL", out.stdout)
    # The base and every overlay were rendered and checked.
    for d in cm.find_dirs(K8S):
      rel = os.path.relpath(d, os.path.dirname(K8S))
      self.assertIn(f"ok   [{rel}] render:", out.stdout)
      self.assertIn(f"[{rel}] configmap.check_config:", out.stdout)
    # The one check an unmerged config key may skip is --check-config of an overlay;
    # the base must never skip, and once the binary knows the PROXY protocol keys
    # (issue 14, i14-pp merged) nothing may.
    skips = [l for l in out.stdout.splitlines() if l.startswith("SKIP")]
    for line in skips:
      self.assertIn("configmap.check_config", line)
      self.assertNotIn("[kubernetes] ", line)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
      f.write("proxy_protocol: off\ntrusted_proxies: []\n")
      f.flush()
      knows = subprocess.run([BIN, "--check-config", f.name], capture_output=True).returncode == 0
    if knows:
      self.assertEqual(skips, [])
    else:
      print("note: this binary does not know proxy_protocol yet; the overlay's "
            "--check-config was skipped")

  def test_every_breakage_is_caught(self):
    rendered = {K8S: cm.render(K8S), PROXY_OVERLAY: cm.render(PROXY_OVERLAY)}
    for d, objs in rendered.items():
      clean = cm.Report("", io.StringIO())
      cm.ManifestChecker(copy.deepcopy(objs), clean, BIN, d).run()
      self.assertEqual(clean.failed, [], clean.out.getvalue())

    cases = [(K8S, b) for b in BREAKAGES] + [(PROXY_OVERLAY, b) for b in OVERLAY_BREAKAGES]

    def run(case):
      d, (_, breaks, _) = case
      objs = copy.deepcopy(rendered[d])
      breaks(objs)
      rep = cm.Report("", io.StringIO())
      return cm.ManifestChecker(objs, rep, BIN, d).run()

    # Each run waits mostly on its children (promtool, the binary): a few at a time.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
      reports = list(pool.map(run, cases))
    for (_, (what, _, expected)), rep in zip(cases, reports):
      with self.subTest(what):
        self.assertTrue(expected <= set(rep.failed),
                        f"{what}: expected {sorted(expected)} to fail, failed "
                        f"{sorted(set(rep.failed))}\n{rep.out.getvalue()}")

  def test_overlay_config_is_the_base_plus_proxy_keys(self):
    # The overlay's patch replaces the whole sidemeter.yaml: everything but the PROXY
    # protocol keys must stay what the base says.
    def config(d):
      return yaml.safe_load(find(cm.render(d), "ConfigMap")["data"]["sidemeter.yaml"])
    base, overlay = config(K8S), config(PROXY_OVERLAY)
    self.assertEqual(overlay.get("proxy_protocol"), "v2")
    self.assertEqual(overlay.get("trusted_proxies"), [])
    for k in cm.PENDING_KEYS:
      overlay.pop(k, None)
    self.assertEqual(overlay, base)

  def test_existing_service_recipe(self):
    # deploy/kubernetes/README.md "In front of an existing Service": its sidecar patch and
    # its targetPort switch, applied by kustomize's strategic merge (what `kubectl patch`
    # does) to a stand-in for an existing app and Service, must give objects that pass.
    with open(os.path.join(K8S, "README.md")) as f:
      readme = f.read()
    start = readme.index("# sidecar-patch.yaml")
    block = readme[start:readme.index("```", start)]
    patch = yaml.safe_load("\n".join(l[3:] for l in block.splitlines()))
    switch = json.loads(readme.split("kubectl patch service my-app -p '", 1)[1].split("'", 1)[0])
    hardened = {"runAsNonRoot": True, "runAsUser": 65532, "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    app = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "my-app"},
           "spec": {"selector": {"matchLabels": {"app": "my-app"}}, "template": {
               "metadata": {"labels": {"app": "my-app"}},
               "spec": {"containers": [{
                   "name": "app", "image": "registry.example.com/my-app:1",
                   "ports": [{"name": "http", "containerPort": 8000}],
                   "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
                   "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                 "limits": {"memory": "256Mi"}},
                   "securityContext": hardened}]}}}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "my-app"},
           "spec": {"selector": {"app": "my-app"},
                    "ports": [{"port": 80, "targetPort": "http"}]}}
    with tempfile.TemporaryDirectory() as tmp:
      def write(name, obj):
        with open(os.path.join(tmp, name), "w") as f:
          yaml.safe_dump(obj, f)
      write("app.yaml", app)
      write("service.yaml", svc)
      shutil.copy(os.path.join(K8S, "base", "configmap.yaml"), tmp)
      write("sidecar-patch.yaml", {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "metadata": {"name": "my-app"}, **patch})
      write("switch-patch.yaml", {"apiVersion": "v1", "kind": "Service",
                                  "metadata": {"name": "my-app"}, **switch})

      def check(patches):
        write("kustomization.yaml", {"resources": ["app.yaml", "service.yaml", "configmap.yaml"],
                                     "patchesStrategicMerge": patches})
        rep = cm.Report("", io.StringIO())
        cm.ManifestChecker(cm.render(tmp), rep, BIN, tmp).run()
        return rep

      before = check(["sidecar-patch.yaml"])  # step 2 done, Service not switched yet
      self.assertIn("service.target_port", before.failed, before.out.getvalue())
      self.assertIn("service.bypass", before.failed, before.out.getvalue())
      after = check(["sidecar-patch.yaml", "switch-patch.yaml"])
      self.assertEqual(after.failed, [], after.out.getvalue())
      objs = cm.render(tmp)
      self.assertEqual(sorted(c["name"] for c in container_list(objs)), ["app", "sidemeter"])

  def test_broken_source_copy_fails_the_cli(self):
    # The path a user takes: a edited manifest file, rendered by kubectl, checked by the CLI.
    with tempfile.TemporaryDirectory() as tmp:
      copy_dir = os.path.join(tmp, "kubernetes")
      shutil.copytree(K8S, copy_dir, ignore=shutil.ignore_patterns("overlays"))
      dep = os.path.join(copy_dir, "base", "deployment.yaml")
      with open(dep) as f:
        text = f.read()
      self.assertIn("terminationGracePeriodSeconds: 35", text)
      with open(dep, "w") as f:
        f.write(text.replace("terminationGracePeriodSeconds: 35",
                             "terminationGracePeriodSeconds: 25"))
      out = self.run_cli(copy_dir)
      self.assertEqual(out.returncode, 1, out.stdout + out.stderr)
      self.assertIn("FAIL [", out.stdout)
      self.assertIn("] drain.grace: terminationGracePeriodSeconds (25s)", out.stdout)
      fails = [l for l in out.stdout.splitlines() if l.startswith("FAIL ")]
      self.assertEqual(len(fails), 1, out.stdout)


# --- the recording rules on real Prometheus servers --------------------------------------

class Upstream(http.server.BaseHTTPRequestHandler):
  """200, or 500 when the query asks for it: one route with both outcomes."""
  protocol_version = "HTTP/1.1"

  def do_GET(self):
    status = 500 if "fail" in urllib.parse.urlsplit(self.path).query else 200
    body = b"ok\n"
    self.send_response(status)
    self.send_header("Content-Length", str(len(body)))
    self.end_headers()
    self.wfile.write(body)

  def log_message(self, *args):
    pass


def vector(resp):
  """An instant query's answer as [(labels, value)]; [] while Prometheus is not up yet."""
  if resp.get("status") != "success":
    return []
  return [(x["metric"], float(x["value"][1])) for x in resp["data"]["result"]]


def wait_for(prom, q, ok, timeout=60):
  """Polls q until ok(result) holds; returns the result (fails the test on timeout or
  when Prometheus exits)."""
  last = []

  def done():
    last[:] = vector(prom.query(q, timeout=5))
    return ok(last)
  try:
    if poll(done, timeout, interval=0.2, watch=[prom]):
      print(f"  {time.monotonic() - T0:5.1f}s {q} -> {[v for _, v in last]}", file=sys.stderr)
      return list(last)
  except RuntimeError as e:
    raise AssertionError(f"waiting for {q}: last {last}\n{e}") from None
  raise AssertionError(f"timed out waiting for {q}: last {last}\n{prom.log_tail()}")


def scalar(res):
  return sum(v for _, v in res)


@unittest.skipUnless(BIN and procs.find_tool("prometheus"),
                     "needs SIDEMETER_BIN and prometheus (Debian package prometheus)")
class RulesOnRealPrometheus(unittest.TestCase):
  """The same traffic, scraped by a native-histogram Prometheus and a classic one; each
  evaluates the PrometheusRule's groups every second."""

  def test_rules_answer_on_native_and_classic(self):
    objs = cm.render(K8S)
    text = find(objs, "ConfigMap")["data"]["sidemeter.yaml"]
    groups = find(objs, "PrometheusRule")["spec"]["groups"]
    for g in groups:
      g["interval"] = "1s"

    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    tmp = tempfile.mkdtemp(prefix="k8s-rules-")
    servers = {}
    sm = None
    try:
      rules = os.path.join(tmp, "rules.yaml")
      with open(rules, "w") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False)
      # The ConfigMap's config with the test's upstream, two workers, loopback ports.
      sm = procs.Sidemeter(cm.loopback_config(
          text, upstream={"address": f"127.0.0.1:{upstream.server_address[1]}"}, workers=2),
          tmp, binary=BIN)
      listen = sm.wait_listening()
      client = http.client.HTTPConnection("127.0.0.1", listen, timeout=10)
      slowest = 0.0

      def send(n, fail):
        nonlocal slowest
        for _ in range(n):
          t0 = time.monotonic()
          client.request("GET", "/api/items/1" + ("?fail=1" if fail else ""))
          resp = client.getresponse()
          resp.read()
          slowest = max(slowest, time.monotonic() - t0)
          self.assertEqual(resp.status, 500 if fail else 200)

      self.addCleanup(client.close)
      count = {"native": "sum(histogram_count(http_server_request_duration_seconds))",
               "classic": "sum(http_server_request_duration_seconds_count)"}
      # Some of each before any scrape, so both series appear in the same first scrape
      # (rate() counts only increases between samples); then the measured traffic. Same
      # sample times and the same first-value/increase proportion (3:15 and 1:5) give
      # both series the same extrapolation, so the ratio of their rates is exact.
      send(3, False)
      send(1, True)
      for kind in ("native", "classic"):
        d = os.path.join(tmp, kind)
        os.mkdir(d)
        servers[kind] = Prometheus(d, [{"job_name": "demo", "static_configs": [
            {"targets": [f"127.0.0.1:{sm.stats_port}"]}]}], rule_files=[rules],
            native_histograms=(kind == "native"), name=kind)
      for p in servers.values():
        p.wait_ready(60)
      for kind, p in servers.items():
        wait_for(p, count[kind], lambda r: scalar(r) == 4)
      send(15, False)
      send(5, True)
      for kind, p in servers.items():
        wait_for(p, count[kind], lambda r: scalar(r) == 24)

      for kind, p in servers.items():
        with self.subTest(kind):
          # What each server stores: the native one has no classic series of this family.
          buckets = vector(p.query("count(http_server_request_duration_seconds_bucket)"))
          natives = vector(p.query("count(http_server_request_duration_seconds)"))
          if kind == "native":
            self.assertEqual(buckets, [], "a native Prometheus 2.42 stores no _bucket series")
            self.assertTrue(natives)
          else:
            self.assertTrue(buckets)
            self.assertEqual(natives, [])
          # 5 of the 20 exchanges after the first scrape failed, all on one route, all
          # samples at the same scrape times: the ratio of the increases is exact.
          ratio = wait_for(p, "http_route:http_server_errors:ratio_rate5m",
                             lambda r: len(r) == 1 and abs(r[0][1] - 0.25) < 1e-9)
          self.assertTrue(ratio[0][0].get("http_route", "").startswith("/api/items"), ratio)
          rate = wait_for(p, "http_route:http_server_requests:rate5m", lambda r: len(r) == 1)
          self.assertGreater(rate[0][1], 0)
          for rec in ("http_route:http_server_request_duration_seconds:p99_5m",
                      "http_route:http_server_request_duration_seconds:p50_5m",
                      "job:sidemeter_request_duration_seconds:p99_5m"):
            # Finite once an evaluation of the rule has seen a scrape with the measured
            # traffic in the series it reads (a rate of 0 gives a NaN quantile).
            res = wait_for(p, rec, lambda r: len(r) == 1 and math.isfinite(r[0][1]))
            v = res[0][1]
            self.assertTrue(math.isfinite(v) and v > 0, f"{rec} = {v}")
            if kind == "native":
              # Native buckets are 1.09 % wide: the quantile is within that of a real
              # duration, and no exchange took longer than the client waited for it.
              self.assertLessEqual(v, slowest * 1.02, f"{rec} = {v}, slowest {slowest}")
    finally:
      for p in servers.values():
        p.stop()
      if sm is not None:
        sm.stop()
        sm.proc.stderr.close()
      upstream.shutdown()
      upstream.server_close()
      shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
  unittest.main(verbosity=2)
