#!/usr/bin/env python3
"""Offline check of deploy/kubernetes: what `kubectl kustomize` renders, not the source files.

  check_manifests.py --sidemeter BIN [--strict-overlays] [KUSTOMIZATION_DIR...]

Each directory (default: deploy/kubernetes and every overlays/*/ below it) is rendered
with `kubectl kustomize` (no cluster needed) and its objects are checked:

* per kind, the fields it requires: Deployment (selector matches the pod labels; every
  container has an image, resources and a hardened securityContext: runAsNonRoot,
  uid 65532, read-only root, no privilege escalation, all capabilities dropped; the
  sidemeter container has ports and both probes), Service (selector matches the pod
  labels, every targetPort is a sidemeter container port), PodMonitor (selects the pod,
  scrapes a named port of it at /metrics), PrometheusRule (`promtool check rules`, and
  `promtool test rules` with the unit test next to the kustomization, if there is one),
  ConfigMap (its sidemeter.yaml passes the real binary's `--check-config`);
* consistency with that sidemeter.yaml: listen and stats ports are the container's
  ports; the probes hit /readyz and /healthz on the stats port and the running binary
  answers them there; the scrape port is the stats port; the config file the container
  reads is the ConfigMap's; the drain timing fits preStop hooks and the grace period.

A config key the binary does not know yet in an overlay (`proxy_protocol`,
`trusted_proxies` before that feature is merged) is reported as SKIP, or as a failure
with --strict-overlays. Exit 0 when every check passed, 1 otherwise, 2 on bad usage.
Needs python3-yaml, kubectl (Debian kubernetes-client) and promtool (Debian prometheus).
"""
import argparse
import ipaddress
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SIDEMETER_CONTAINER = "sidemeter"
NONROOT_UID = 65532
# Keys an overlay may add before the binary knows them (issue 14, branch i14-pp).
PENDING_KEYS = ("proxy_protocol", "trusted_proxies")

# proxy_protocol values (issue 14's config contract), and the Service annotations with
# which common load balancers send PROXY headers (value that turns them on).
PROXY_MODES = ("off", "v1", "v2", "any")
PROXY_ANNOTATIONS = {
    "service.beta.kubernetes.io/aws-load-balancer-proxy-protocol": ("*",),
    "service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol": ("true",),
    "load-balancer.hetzner.cloud/uses-proxyprotocol": ("true",),
}

# Config defaults (README "Configuration file") for keys the ConfigMap may leave out.
DEFAULT_DRAIN_DELAY_MS = 1000
DEFAULT_DRAIN_TIMEOUT_MS = 30000


class Report:
  """Collects named results; `failed` holds the ids of the checks that failed."""

  def __init__(self, prefix, out=sys.stdout):
    self.prefix = prefix
    self.out = out
    self.failed = []
    self.skipped = []

  def check(self, ok, check_id, what):
    print(f"{'ok  ' if ok else 'FAIL'} {self.prefix}{check_id}: {what}", file=self.out)
    if not ok:
      self.failed.append(check_id)
    return ok

  def skip(self, check_id, why):
    print(f"SKIP {self.prefix}{check_id}: {why}", file=self.out)
    self.skipped.append(check_id)


def render(directory):
  """The objects `kubectl kustomize DIRECTORY` renders."""
  out = subprocess.run(["kubectl", "kustomize", directory], capture_output=True, text=True)
  if out.returncode != 0:
    raise RuntimeError(f"kubectl kustomize {directory} failed:\n{out.stderr}")
  return [d for d in yaml.safe_load_all(out.stdout) if d]


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}


def duration_ms(text):
  """sidemeter's duration syntax (README: "250ms", "5s", "5m", "1h") in milliseconds."""
  m = _DURATION.match(str(text).strip())
  if not m:
    raise ValueError(f"not a duration: {text!r}")
  return float(m.group(1)) * _UNIT_MS[m.group(2)]


def host_port(text):
  host, _, port = str(text).rpartition(":")
  return host.strip("[]"), int(port)


def pre_stop_seconds(container):
  """Seconds a container's preStop hook delays its SIGTERM (sleep action or exec sleep N)."""
  hook = (container.get("lifecycle") or {}).get("preStop")
  if not hook:
    return 0
  if "sleep" in hook:
    return int(hook["sleep"]["seconds"])
  cmd = (hook.get("exec") or {}).get("command") or []
  if len(cmd) == 2 and os.path.basename(cmd[0]) == "sleep":
    return int(cmd[1])
  raise ValueError(f"container {container.get('name')}: preStop {hook} has no known duration")


def labels_match(selector, labels):
  """A matchLabels-style map (or a Service selector) selects `labels`."""
  return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def effective_security(pod_spec, container):
  """The container's securityContext over the pod's (the fields both may set)."""
  merged = {k: v for k, v in (pod_spec.get("securityContext") or {}).items()
            if k in ("runAsNonRoot", "runAsUser", "runAsGroup")}
  merged.update(container.get("securityContext") or {})
  return merged


def resolve_port(container, port):
  """A probe's or targetPort's port (a name or a number) as the container's number, or None."""
  for p in container.get("ports") or []:
    if port == p.get("name") or port == p.get("containerPort"):
      return p.get("containerPort")
  return None


class ManifestChecker:
  """The checks of one rendered kustomization. `objects` is what kubectl rendered;
  `source_dir` is where the rules' unit test (prometheus-rules.test.yaml) may live."""

  def __init__(self, objects, report, sidemeter, source_dir, strict_pending=False,
               run_binary=True):
    self.objects = objects
    self.r = report
    self.sidemeter = sidemeter
    self.source_dir = source_dir
    self.strict_pending = strict_pending
    self.run_binary = run_binary
    self.tmp = tempfile.mkdtemp(prefix="check-k8s-")

  def of_kind(self, kind):
    return [o for o in self.objects if o.get("kind") == kind]

  def run(self):
    try:
      self._run()
    finally:
      shutil.rmtree(self.tmp, ignore_errors=True)
    return self.r

  def _run(self):
    r = self.r
    for o in self.objects:
      meta = o.get("metadata") or {}
      r.check(bool(o.get("apiVersion") and o.get("kind") and meta.get("name")),
              "object.identity", f"{o.get('kind')}/{meta.get('name')} has apiVersion, kind, "
              "metadata.name")
    deployments = self.of_kind("Deployment")
    configmaps = self.of_kind("ConfigMap")
    if not r.check(len(deployments) == 1, "deployment.count", "one Deployment"):
      return
    dep = deployments[0]
    pod = dep["spec"]["template"]
    pod_spec = pod["spec"]
    pod_labels = (pod.get("metadata") or {}).get("labels") or {}
    containers = pod_spec.get("containers") or []
    sm = next((c for c in containers if c.get("name") == SIDEMETER_CONTAINER), None)
    if not r.check(sm is not None, "deployment.sidecar",
                   f"a container named {SIDEMETER_CONTAINER!r}"):
      return

    self.check_deployment(dep, pod_labels, pod_spec, containers, sm)
    cfg = self.check_configmap(configmaps, pod_spec, sm)
    for svc in self.of_kind("Service"):
      self.check_service(svc, pod_labels, containers, sm, cfg)
    for pm in self.of_kind("PodMonitor"):
      self.check_podmonitor(pm, pod_labels, sm, cfg)
    for rule in self.of_kind("PrometheusRule"):
      self.check_rules(rule)
    if cfg is not None:
      self.check_consistency(pod, pod_spec, containers, sm, cfg)

  # --- Deployment -------------------------------------------------------------------------
  def check_deployment(self, dep, pod_labels, pod_spec, containers, sm):
    r = self.r
    sel = dep["spec"].get("selector") or {}
    r.check(labels_match(sel.get("matchLabels"), pod_labels) and not sel.get("matchExpressions"),
            "deployment.selector", "spec.selector.matchLabels selects the pod template's labels")
    for c in containers:
      name = c.get("name")
      r.check(bool(c.get("image")), "container.image", f"{name}: has an image")
      res = c.get("resources") or {}
      req = res.get("requests") or {}
      r.check("cpu" in req and "memory" in req and "memory" in (res.get("limits") or {}),
              "container.resources", f"{name}: cpu and memory requests, a memory limit")
      sc = effective_security(pod_spec, c)
      caps = [str(x).upper() for x in (sc.get("capabilities") or {}).get("drop") or []]
      r.check(sc.get("runAsNonRoot") is True, "security.nonroot", f"{name}: runAsNonRoot")
      r.check(sc.get("runAsUser") == NONROOT_UID, "security.uid",
              f"{name}: runAsUser {NONROOT_UID} (the image's user)")
      r.check(sc.get("readOnlyRootFilesystem") is True, "security.readonly",
              f"{name}: readOnlyRootFilesystem")
      r.check(sc.get("allowPrivilegeEscalation") is False, "security.escalation",
              f"{name}: allowPrivilegeEscalation false")
      r.check("ALL" in caps, "security.caps", f"{name}: capabilities drop ALL")
    r.check(bool(sm.get("ports")), "sidecar.ports", "sidemeter declares its ports")
    for kind in ("readinessProbe", "livenessProbe"):
      r.check(bool((sm.get(kind) or {}).get("httpGet")), f"sidecar.{kind}",
              f"sidemeter has an httpGet {kind}")
    for p in sm.get("ports") or []:
      r.check(bool(p.get("name")), "sidecar.port_names",
              f"sidemeter port {p.get('containerPort')} is named (Services and PodMonitors use the name)")

  # --- ConfigMap --------------------------------------------------------------------------
  def check_configmap(self, configmaps, pod_spec, sm):
    """Runs --check-config on the sidemeter.yaml the sidecar mounts; returns it parsed."""
    r = self.r
    args = list(sm.get("args") or []) + list(sm.get("command") or [])
    config_path = None
    for i, a in enumerate(args):
      if a == "--config" and i + 1 < len(args):
        config_path = args[i + 1]
      elif a.startswith("--config="):
        config_path = a.split("=", 1)[1]
    if not r.check(config_path is not None, "configmap.arg", "sidemeter is started with --config"):
      return None
    # Which volume holds it, and which ConfigMap that volume is.
    mount = next((m for m in sm.get("volumeMounts") or []
                  if config_path.startswith(m["mountPath"].rstrip("/") + "/")), None)
    volume = mount and next((v for v in pod_spec.get("volumes") or []
                             if v.get("name") == mount["name"]), None)
    cm_name = volume and (volume.get("configMap") or {}).get("name")
    key = mount and config_path[len(mount["mountPath"].rstrip("/")) + 1:]
    cm = next((c for c in configmaps if (c.get("metadata") or {}).get("name") == cm_name), None)
    if not r.check(cm is not None and key in (cm.get("data") or {}), "configmap.mounted",
                   f"--config {config_path} is key {key!r} of a rendered ConfigMap "
                   f"({cm_name!r}, mounted at {mount and mount['mountPath']})"):
      return None
    r.check(bool(mount.get("readOnly")), "configmap.readonly", "the config volume is mounted readOnly")
    text = cm["data"][key]
    path = os.path.join(self.tmp, "sidemeter.yaml")
    with open(path, "w") as f:
      f.write(text)
    # An empty environment, as a container without the optional variables: every ${VAR}
    # needs a default.
    out = subprocess.run([self.sidemeter, "--check-config", path], capture_output=True,
                         text=True, env={})
    pending = [k for k in PENDING_KEYS if f"unknown key '{k}'" in out.stderr]
    errors = [l for l in out.stderr.splitlines() if ": " in l and "configuration error" not in l]
    if out.returncode != 0 and pending and not self.strict_pending and \
        all(any(f"unknown key '{k}'" in l for k in pending) for l in errors):
      r.skip("configmap.check_config",
             f"{os.path.basename(self.sidemeter)} does not know {', '.join(pending)} yet "
             "(PROXY protocol, branch i14-pp): run with a binary that has it, "
             "or --strict-overlays to make this a failure")
    else:
      r.check(out.returncode == 0, "configmap.check_config",
              f"sidemeter --check-config accepts the ConfigMap's {key}"
              + ("" if out.returncode == 0 else f":\n{out.stderr.strip()}"))
    try:
      cfg = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
      r.check(False, "configmap.yaml", f"{key} parses as YAML: {e}")
      return None
    cfg["__text__"] = text
    cfg["__pending__"] = bool(pending) and out.returncode != 0
    return cfg

  # --- Service ----------------------------------------------------------------------------
  def check_service(self, svc, pod_labels, containers, sm, cfg):
    r = self.r
    name = svc["metadata"]["name"]
    r.check(labels_match((svc.get("spec") or {}).get("selector"), pod_labels), "service.selector",
            f"Service {name}: selector matches the pod labels")
    listen_port = host_port(cfg.get("listen", "0.0.0.0:8080"))[1] if cfg else None
    for p in (svc.get("spec") or {}).get("ports") or []:
      target = p.get("targetPort", p.get("port"))
      number = resolve_port(sm, target)
      r.check(number is not None, "service.target_port",
              f"Service {name}: targetPort {target!r} is a sidemeter container port")
      # The app's own ports must not be a target: traffic would bypass the measurement.
      others = [c["name"] for c in containers if c is not sm and resolve_port(c, target)]
      r.check(not others, "service.bypass",
              f"Service {name}: targetPort {target!r} is no port of {others or 'another container'}")
      if cfg is not None and number is not None:
        r.check(number == listen_port, "service.listen",
                f"Service {name}: port {p.get('port')} reaches sidemeter's listen port {listen_port}")
    if cfg is not None:
      self.check_proxy_protocol(svc, cfg)

  def check_proxy_protocol(self, svc, cfg):
    """The listener's proxy_protocol and the Service's load balancer agree: a header the
    listener does not expect corrupts every request, a header it requires but never gets
    refuses every connection."""
    r = self.r
    name = svc["metadata"]["name"]
    mode = str(cfg.get("proxy_protocol", "off")).lower()
    if "proxy_protocol" in cfg:
      r.check(mode in PROXY_MODES, "proxy.mode",
              f"proxy_protocol {cfg['proxy_protocol']!r} is one of {', '.join(PROXY_MODES)}")
    trusted = cfg.get("trusted_proxies", [])
    ok = isinstance(trusted, list)
    for cidr in trusted if ok else []:
      try:
        ipaddress.ip_network(str(cidr), strict=True)
      except ValueError:
        ok = False
    r.check(ok, "proxy.trusted", f"trusted_proxies {trusted!r} is a list of CIDRs")
    ann = (svc.get("metadata") or {}).get("annotations") or {}
    sends = sorted(k for k, v in ann.items()
                   if k in PROXY_ANNOTATIONS and str(v).lower() in PROXY_ANNOTATIONS[k])
    spec = svc.get("spec") or {}
    if mode == "off":
      r.check(not sends, "proxy.agree",
              f"Service {name}: no load balancer annotation sends PROXY headers to a listener "
              f"with proxy_protocol off ({', '.join(sends) or 'none'})")
    else:
      # In-cluster callers of a ClusterIP send no header: they would all be refused.
      r.check(spec.get("type") == "LoadBalancer", "proxy.agree",
              f"Service {name}: proxy_protocol {mode} needs a LoadBalancer Service "
              f"(type {spec.get('type', 'ClusterIP')})")

  # --- PodMonitor -------------------------------------------------------------------------
  def check_podmonitor(self, pm, pod_labels, sm, cfg):
    r = self.r
    name = pm["metadata"]["name"]
    spec = pm.get("spec") or {}
    r.check(labels_match((spec.get("selector") or {}).get("matchLabels"), pod_labels),
            "podmonitor.selector", f"PodMonitor {name}: selects the pod")
    stats_port = host_port((cfg or {}).get("stats", {}).get("address", "127.0.0.1:9901"))[1]
    endpoints = spec.get("podMetricsEndpoints") or []
    r.check(bool(endpoints), "podmonitor.endpoints", f"PodMonitor {name}: has an endpoint")
    for ep in endpoints:
      port = ep.get("port")
      r.check(resolve_port(sm, port) is not None and isinstance(port, str), "podmonitor.port",
              f"PodMonitor {name}: port {port!r} is a named sidemeter port")
      r.check(ep.get("path", "/metrics") == "/metrics", "podmonitor.path",
              f"PodMonitor {name}: path {ep.get('path')!r} is /metrics")
      if cfg is not None:
        r.check(resolve_port(sm, port) == stats_port, "podmonitor.stats",
                f"PodMonitor {name}: scrapes the stats port {stats_port}")

  # --- PrometheusRule ---------------------------------------------------------------------
  def check_rules(self, rule):
    r = self.r
    name = rule["metadata"]["name"]
    groups = (rule.get("spec") or {}).get("groups")
    if not r.check(bool(groups), "rules.groups", f"PrometheusRule {name}: has groups"):
      return
    path = os.path.join(self.tmp, "rules.yaml")
    with open(path, "w") as f:
      yaml.safe_dump({"groups": groups}, f, sort_keys=False)
    out = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    r.check(out.returncode == 0, "rules.check",
            f"PrometheusRule {name}: promtool check rules"
            + ("" if out.returncode == 0 else f":\n{out.stdout}{out.stderr}"))
    # The unit test next to the kustomization, else the one of deploy/kubernetes (an
    # overlay that changes the rules must still pass it, or bring its own).
    test = os.path.join(self.source_dir, "prometheus-rules.test.yaml")
    if not os.path.exists(test):
      test = os.path.join(HERE, "prometheus-rules.test.yaml")
    shutil.copy(test, os.path.join(self.tmp, "prometheus-rules.test.yaml"))
    out = subprocess.run(["promtool", "test", "rules", "prometheus-rules.test.yaml"],
                         capture_output=True, text=True, cwd=self.tmp)
    r.check(out.returncode == 0, "rules.test",
            f"PrometheusRule {name}: promtool test rules prometheus-rules.test.yaml"
            + ("" if out.returncode == 0 else f":\n{out.stdout}{out.stderr}"))

  # --- the config against the pod ---------------------------------------------------------
  def check_consistency(self, pod, pod_spec, containers, sm, cfg):
    r = self.r
    listen_host, listen_port = host_port(cfg.get("listen", "0.0.0.0:8080"))
    stats_host, stats_port = host_port((cfg.get("stats") or {}).get("address", "127.0.0.1:9901"))
    ports = {p.get("containerPort") for p in sm.get("ports") or []}
    r.check(listen_port in ports, "config.listen_port",
            f"listen port {listen_port} is a sidemeter container port {sorted(ports)}")
    r.check(stats_port in ports, "config.stats_port",
            f"stats port {stats_port} is a sidemeter container port {sorted(ports)}")
    # The kubelet and the Service come in on the pod IP, not loopback.
    for what, host in (("listen", listen_host), ("stats.address", stats_host)):
      r.check(host in ("0.0.0.0", "::", ""), "config.bind",
              f"{what} binds all addresses ({host!r}), reachable from the kubelet and Service")

    probes = {}
    for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
      get = (sm.get(kind) or {}).get("httpGet") or {}
      probes[kind] = get
      r.check(get.get("path") == path, "probe.path", f"{kind} path {get.get('path')!r} is {path}")
      r.check(resolve_port(sm, get.get("port")) == stats_port, "probe.port",
              f"{kind} port {get.get('port')!r} is the stats port {stats_port}")
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    if "prometheus.io/scrape" in ann:
      r.check(ann.get("prometheus.io/port") == str(stats_port), "annotations.port",
              f"prometheus.io/port {ann.get('prometheus.io/port')!r} is the stats port {stats_port}")
      r.check(ann.get("prometheus.io/path", "/metrics") == "/metrics", "annotations.path",
              "prometheus.io/path is /metrics")

    # Drain (README "Command line"; proxy/control/control_loop.cc): on SIGTERM /readyz
    # fails at once, the listener keeps accepting for drain_delay, then in-flight
    # exchanges get until drain_timeout (counted from SIGTERM) before they are closed.
    # A container's SIGTERM comes after its own preStop hook; the grace period counts
    # from the start of the hooks.
    t = cfg.get("timeouts") or {}
    delay = duration_ms(t.get("drain_delay", f"{DEFAULT_DRAIN_DELAY_MS}ms"))
    timeout = duration_ms(t.get("drain_timeout", f"{DEFAULT_DRAIN_TIMEOUT_MS}ms"))
    grace_ms = 1000 * int(pod_spec.get("terminationGracePeriodSeconds", 30))
    sm_pre = 1000 * pre_stop_seconds(sm)
    r.check(grace_ms > sm_pre + timeout, "drain.grace",
            f"terminationGracePeriodSeconds ({grace_ms / 1000:g}s) > sidemeter preStop "
            f"({sm_pre / 1000:g}s) + drain_timeout ({timeout / 1000:g}s): SIGKILL only after "
            "sidemeter gave up draining itself")
    for c in containers:
      if c is sm:
        continue
      pre = 1000 * pre_stop_seconds(c)
      r.check(pre >= sm_pre + delay, "drain.app_prestop",
              f"{c['name']}: preStop ({pre / 1000:g}s) >= sidemeter preStop + drain_delay "
              f"({(sm_pre + delay) / 1000:g}s): the app still serves what sidemeter accepts "
              "while draining")
      r.check(pre < grace_ms, "drain.app_grace",
              f"{c['name']}: preStop ({pre / 1000:g}s) < terminationGracePeriodSeconds")
    ready = probes["readinessProbe"]
    rp = sm.get("readinessProbe") or {}
    noticed_ms = 1000 * rp.get("periodSeconds", 10) * rp.get("failureThreshold", 3)
    r.check(noticed_ms <= sm_pre + delay, "drain.readiness",
            f"readiness fails within drain_delay: periodSeconds x failureThreshold "
            f"({noticed_ms / 1000:g}s) <= {(sm_pre + delay) / 1000:g}s (for endpoints that "
            "only follow readiness)")
    if self.run_binary and not cfg.get("__pending__"):
      self.check_probes_answer(cfg["__text__"], probes)

  def check_probes_answer(self, text, probes):
    """Starts the binary with the ConfigMap's config (listen and stats moved to loopback
    port 0) and asks the probe paths on its stats port: /healthz 200, /readyz 200 or 503
    (it is 503 while the upstream is unreachable), never 404."""
    r = self.r
    path = os.path.join(self.tmp, "run.yaml")
    with open(path, "w") as f:
      f.write(loopback_config(text))
    proc = subprocess.Popen([self.sidemeter, "--config", path], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={})
    lines = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(l) for l in proc.stderr] + [lines.put(None)],
                              daemon=True)
    reader.start()
    try:
      stats_port = None
      seen = []
      deadline = time.monotonic() + 30
      while stats_port is None:  # one JSON object a line; "listening" names the ports
        try:
          line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
          break
        if line is None:
          break
        seen.append(line)
        if '"event":"listening"' in line:
          stats_port = int(json.loads(line)["stats_port"])
      if not r.check(stats_port is not None, "probe.run",
                     "sidemeter starts with the ConfigMap's config (ports moved to loopback)"
                     + ("" if stats_port else ":\n" + "".join(seen[-10:]))):
        return
      expect = {"readinessProbe": (200, 503), "livenessProbe": (200,)}
      for kind, get in probes.items():
        status = http_status(stats_port, get.get("path") or "/")
        r.check(status in expect[kind], "probe.answers",
                f"{kind}: GET {get.get('path')} on the stats port answers {status} "
                f"(expected one of {expect[kind]})")
    finally:
      proc.terminate()
      try:
        proc.wait(30)
      except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
      reader.join(5)
      proc.stderr.close()


def loopback_config(text, **overrides):
  """The ConfigMap's sidemeter.yaml made runnable on a test machine: listen and stats on
  loopback port 0 (the "listening" log line names them), no alert delivery, no drain
  delay; `overrides` replace top-level keys (e.g. upstream=..., workers=2)."""
  cfg = yaml.safe_load(text)
  cfg["listen"] = "127.0.0.1:0"
  cfg.setdefault("stats", {})["address"] = "127.0.0.1:0"
  (cfg.get("alerts") or {}).pop("delivery", None)
  cfg.setdefault("timeouts", {})["drain_delay"] = "0s"  # stop at once when done
  cfg.update(overrides)
  # Every string quoted: a "${VAR:-}" must stay a string after substitution.
  return yaml.safe_dump(cfg, sort_keys=False, default_style='"')


def http_status(port, path):
  try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
      return resp.status
  except urllib.error.HTTPError as e:
    return e.code
  except OSError:
    return None


def find_dirs(root):
  dirs = [root]
  overlays = os.path.join(root, "overlays")
  if os.path.isdir(overlays):
    dirs += sorted(os.path.join(overlays, d) for d in os.listdir(overlays)
                   if os.path.exists(os.path.join(overlays, d, "kustomization.yaml")))
  return dirs


def check_dir(directory, sidemeter, strict_pending=False, out=sys.stdout, objects=None):
  """Renders (unless `objects` is given) and checks one kustomization; returns the Report."""
  rel = os.path.relpath(directory, os.path.dirname(HERE)) if directory.startswith(HERE) else directory
  report = Report(f"[{rel}] ", out)
  if objects is None:
    try:
      objects = render(directory)
    except RuntimeError as e:
      report.check(False, "render", str(e))
      return report
    report.check(True, "render", f"kubectl kustomize renders {len(objects)} objects")
  ManifestChecker(objects, report, sidemeter, directory, strict_pending).run()
  return report


def main(argv):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  ap.add_argument("--sidemeter", required=True, help="the sidemeter binary (--check-config)")
  ap.add_argument("--strict-overlays", action="store_true",
                  help="a config key the binary does not know is a failure, not a SKIP")
  ap.add_argument("dirs", nargs="*", help="kustomization directories (default: "
                  "deploy/kubernetes and its overlays)")
  args = ap.parse_args(argv)
  for tool in ("kubectl", "promtool"):
    if not shutil.which(tool):
      print(f"{tool} not found (Debian: kubernetes-client, prometheus)", file=sys.stderr)
      return 2
  failed = 0
  for d in args.dirs or find_dirs(HERE):
    rep = check_dir(os.path.abspath(d), args.sidemeter, args.strict_overlays)
    failed += len(rep.failed)
  print(f"{'FAILED: ' + str(failed) + ' check(s)' if failed else 'all checks passed'}")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
