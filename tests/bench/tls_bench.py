#!/usr/bin/env python3
"""TLS benchmark: sidemeter, HAProxy and (optionally) nginx terminating TLS in front of one
plain nginx backend, one worker each, CPU-pinned like bench.py.

Measures, in interleaved rounds (medians reported):
  - keep-alive requests over TLS (wrk https): req/s, proxy CPU µs/request (user, kernel);
  - full handshakes (openssl s_time -new, several processes): connections/s and proxy CPU
    µs per connection, ECDSA P-256 and RSA 2048 certificates; resumed handshakes
    (s_time -reuse) for the ECDSA certificate. What the client really did is checked on
    the server side: HAProxy's ssl_sess / ssl_reused_sess counters, sidemeter's
    handshake counters when its /metrics has them;
  - a kernel TLS probe, and if kTLS is usable a 64 MiB download through
    `openssl s_server -WWW` with and without -ktls (CPU per MiB).

Run through run_tls_bench.sh (installs the tools, builds sidemeter). A sidemeter without
TLS (refuses the `tls` keys, or the handshake fails) is reported as n/a with the reason;
the other proxies are still measured. Every process started here lives in its own process
group and is killed on exit, error or Ctrl-C (bench.Procs).

  tls_bench.py --sidemeter PATH [--quick] [--rounds N] [--duration S] ...
  tls_bench.py --report RAW.jsonl        # re-render the Markdown from raw records
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import bench  # Procs, Bench (backend), free_port, render, taskset, parse_wrk, tool_versions
import procstat
from report import fmt, ratio  # the same number formatting as the plain-HTTP report

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = ["sidemeter", "haproxy", "nginx"]
LABEL = {"sidemeter": "sidemeter", "haproxy": "HAProxy", "nginx": "nginx"}
CERTS = ["ecdsa", "rsa"]
CERT_LABEL = {"ecdsa": "ECDSA P-256", "rsa": "RSA 2048"}
HS_MODES = ["full", "full TLS 1.2", "resumed"]
KA_PAYLOADS = [("small", "/ok"), ("1k", "/1k")]
SERVER_NAME = "bench.local"
# sidemeter's defaults (conf/config.h, DownstreamTls::ciphers / ciphersuites), given to
# HAProxy and nginx so every proxy offers the same policy. The report shows what each one
# negotiated with the benchmark's clients.
CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
           "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
           "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
CIPHERSUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
TCP_ULP = 31  # linux/tcp.h; Python's socket module does not name it
KTLS_FILE_MIB = 64


# ---------------------------------------------------------------- certificates
def openssl(*argv, cwd=None):
  out = subprocess.run(["openssl", *argv], cwd=cwd, capture_output=True, text=True, timeout=60)
  if out.returncode != 0:
    raise RuntimeError(f"openssl {' '.join(argv)}: {out.stderr.strip()}")
  return out.stdout


def make_certs(directory):
  """A throwaway CA and server certificate per key type, made with the openssl CLI.
  The CA has the same key type as its leaf; the certificate file holds the leaf only (the
  CA is the root, which servers do not send). Returns {kind: {cert, key, combined, ca}}."""
  os.makedirs(directory, exist_ok=True)
  keyopts = {"ecdsa": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
             "rsa": ["-newkey", "rsa:2048"]}
  ext = os.path.join(directory, "leaf.ext")
  with open(ext, "w") as f:
    f.write(f"subjectAltName=DNS:{SERVER_NAME},IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
  out = {}
  for kind, opts in keyopts.items():
    p = lambda name: os.path.join(directory, f"{kind}-{name}")
    openssl("req", "-x509", *opts, "-nodes", "-keyout", p("ca.key"), "-out", p("ca.pem"),
            "-days", "2", "-subj", f"/CN=sidemeter bench {kind} CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", *opts, "-nodes", "-keyout", p("key.pem"), "-out", p("csr.pem"),
            "-subj", f"/CN={SERVER_NAME}")
    openssl("x509", "-req", "-in", p("csr.pem"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
            "-set_serial", str(int(time.time() * 1000)), "-days", "2", "-out", p("cert.pem"),
            "-extfile", ext)
    with open(p("combined.pem"), "w") as f:  # HAProxy's `crt`: certificate then key
      f.write(open(p("cert.pem")).read() + open(p("key.pem")).read())
    for name in ("key.pem", "combined.pem", "ca.key"):
      os.chmod(p(name), 0o644)  # nginx reads them as root at start; keep it simple
    out[kind] = {"cert": p("cert.pem"), "key": p("key.pem"), "combined": p("combined.pem"),
                 "ca": p("ca.pem")}
  return out


# ---------------------------------------------------------------- TLS client helpers
def https_get(port, path, ca, timeout=2.0):
  """One HTTPS/1.1 request, certificate verified against our CA.
  Returns (status, headers, body, tls version, cipher name)."""
  ctx = ssl.create_default_context(cafile=ca)
  with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
    with ctx.wrap_socket(raw, server_hostname=SERVER_NAME) as s:
      s.sendall(f"GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n"
                .encode())
      data = b""
      while True:
        try:
          chunk = s.recv(65536)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
          break
        if not chunk:
          break
        data += chunk
      version, cipher = s.version(), s.cipher()[0]
  head, _, body = data.partition(b"\r\n\r\n")
  lines = head.decode("latin-1").split("\r\n")
  headers = {}
  for line in lines[1:]:
    k, _, v = line.partition(":")
    headers[k.strip().lower()] = v.strip()
  return int(lines[0].split()[1]), headers, body, version, cipher


def wait_https(port, proc, ca, deadline=10.0):
  """True once GET /ok over TLS answers 200; the last error otherwise."""
  end = time.monotonic() + deadline
  err = "timeout"
  while time.monotonic() < end:
    if proc.poll() is not None:
      return f"exited with code {proc.returncode}"
    try:
      status = https_get(port, "/ok", ca, timeout=1.0)[0]
      if status == 200:
        return True
      err = f"GET /ok answered {status}"
    except (OSError, ValueError, IndexError) as e:
      err = f"{type(e).__name__}: {e}"
    time.sleep(0.1)
  return err


def negotiated(port, ca):
  """What `openssl s_client` (the same library as wrk and s_time) negotiates."""
  try:
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
                          SERVER_NAME, "-CAfile", ca, "-brief"], input="", capture_output=True,
                         text=True, timeout=10)
  except subprocess.TimeoutExpired:
    return {"error": "s_client timed out"}
  text = out.stdout + out.stderr
  info = {}
  for key, label in (("protocol", "Protocol version"), ("cipher", "Ciphersuite"),
                     ("group", "Server Temp Key"), ("signature", "Signature type"),
                     ("verification", "Verification")):
    m = re.search(rf"^{label}: (.*)$", text, re.M)
    info[key] = m.group(1).strip() if m else None
  return info


def http10_status(port, ca):
  """The status a proxy gives s_time's request (GET /ok HTTP/1.0, no Host): the handshake
  figures only mean something if it is 200."""
  try:
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
      with ctx.wrap_socket(raw, server_hostname=SERVER_NAME) as s:
        s.sendall(b"GET /ok HTTP/1.0\r\n\r\n")
        first = s.recv(64).split(b"\r\n")[0].decode("latin-1")
    return int(first.split()[1])
  except (OSError, ValueError, IndexError):
    return None


def crypto_speed(cpu):
  """openssl speed on the proxy's CPU: the server's crypto per full TLS 1.3 handshake is at
  least one signature plus two X25519 operations (key generation, shared secret)."""
  try:
    out = subprocess.run(bench.taskset(cpu) + ["openssl", "speed", "-seconds", "1", "-mr",
                                               "ecdsap256", "rsa2048", "ecdhx25519"],
                         capture_output=True, text=True, timeout=120).stdout
  except (OSError, subprocess.TimeoutExpired):
    return None
  rec = {}
  for line in out.splitlines():
    f = line.split(":")
    try:
      if line.startswith("+F2:") and f[2] == "2048":
        rec["rsa2048_sign_us"] = 1e6 / float(f[3])
      elif line.startswith("+F4:") and f[2] == "256":
        rec["ecdsap256_sign_us"] = 1e6 / float(f[3])
      elif line.startswith("+F5:") and f[2] == "253":
        rec["x25519_us"] = 1e6 / float(f[3])
    except (IndexError, ValueError, ZeroDivisionError):
      continue
  return rec or None


def parse_s_time(text):
  m = re.search(r"(\d+) connections in (\d+) real seconds, (\d+) bytes read per connection", text)
  if not m:
    return None
  return {"connections": int(m.group(1)), "bytes_per_conn": int(m.group(3))}


# ---------------------------------------------------------------- server-side counters
def haproxy_counters(sock_path):
  """(full handshakes, resumed handshakes, failed) of the frontend, cumulative."""
  try:
    with socket.socket(socket.AF_UNIX) as s:
      s.settimeout(2.0)
      s.connect(sock_path)
      s.sendall(b"show stat -1 1 -1 typed\n")
      data = b""
      while True:
        chunk = s.recv(65536)
        if not chunk:
          break
        data += chunk
  except OSError:
    return None
  vals = {}
  for line in data.decode("latin-1").splitlines():
    m = re.match(r"F\.\d+\.\d+\.\d+\.(ssl_sess|ssl_reused_sess|ssl_failed_handshake)\.\d+:"
                 r"[^:]*:[^:]*:(\d+)", line)
    if m:
      vals[m.group(1)] = int(m.group(2))
  if "ssl_sess" not in vals:
    return None
  return vals["ssl_sess"], vals.get("ssl_reused_sess", 0), vals.get("ssl_failed_handshake", 0)


TRUE_WORDS = {"true", "1", "yes", "resumed"}


def sidemeter_counters(stats_port):
  """Downstream (full, resumed, failed) handshakes from sidemeter's /metrics, or None when
  it exposes nothing recognisable. Tolerant on purpose: the names are not fixed yet. A
  sample counts when its name has both "tls" and "handshake" and is not a histogram part;
  `resumed="true"` (or 1/yes) makes it resumed; names with "fail" or "error" are failures."""
  if not stats_port:
    return None
  try:
    with urllib.request.urlopen(f"http://127.0.0.1:{stats_port}/metrics", timeout=2) as r:
      text = r.read().decode("utf-8", "replace")
  except OSError:
    return None
  full = resumed = failed = 0
  seen = False
  for line in text.splitlines():
    m = re.match(r"^([A-Za-z_:][\w:]*)(?:\{([^}]*)\})?\s+([0-9.eE+-]+)", line)
    if not m:
      continue
    name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
    if "tls" not in name or "handshake" not in name:
      continue
    if any(x in name for x in ("bucket", "_sum", "_count", "duration", "seconds")):
      continue
    lab = dict(re.findall(r'(\w+)="([^"]*)"', labels))
    if lab.get("side", "downstream") != "downstream":
      continue
    if "fail" in name or "error" in name:
      failed += value
      continue
    if "resumed" not in lab:
      continue
    seen = True
    if lab["resumed"].lower() in TRUE_WORDS:
      resumed += value
    else:
      full += value
  return (int(full), int(resumed), int(failed)) if seen else None


# ---------------------------------------------------------------- the benchmark
class TlsBench(bench.Bench):
  """bench.Bench gives the temp dir, the docroot and the backend nginx; this adds the TLS
  proxies and the TLS loads."""

  def __init__(self, args, procs):
    super().__init__(args, procs)
    self.certs = make_certs(os.path.join(self.tmp, "certs"))
    big = os.path.join(self.docroot, "big")
    with open(big, "wb") as f:  # for the kTLS download
      block = os.urandom(1 << 20)
      for _ in range(KTLS_FILE_MIB):
        f.write(block)
    os.chmod(big, 0o644)

  # ------------------------------------------------------------ proxies
  def start_tls(self, target, cert):
    """Returns (proc, port, pids, counters function) or raises RuntimeError(reason)."""
    c = self.certs[cert]
    err = None
    for _ in range(3):
      p, port, counters = self._launch_tls(target, c)
      if port is None:
        err = self._exit_reason(p, target)
        self.procs.stop(p)
        if p.returncode is not None:
          break  # it refused to start: retrying will not help
        continue
      ok = wait_https(port, p, c["ca"])
      if ok is True:
        time.sleep(0.2)  # workers forked, listeners up
        return p, port, procstat.tree(p.pid), counters
      err = ok if p.poll() is None else self._exit_reason(p, target)
      self.procs.stop(p)
      if "exited" in str(err) or p.returncode is not None:
        break
    raise RuntimeError(f"{target} ({cert}): {err}")

  def _exit_reason(self, p, target):
    try:
      p.wait(timeout=1)
    except subprocess.TimeoutExpired:
      return "did not report a listening port"
    try:
      with open(self.log(target), errors="replace") as f:
        lines = [l.strip() for l in f if l.strip()]
    except OSError:
      lines = []
    detail = "; ".join(lines[:3])[:300]
    return f"exited with code {p.returncode}" + (f": {detail}" if detail else "")

  def _launch_tls(self, target, c):
    cpu = bench.taskset(self.args.proxy_cpu)
    log = self.log(target)
    if target == "sidemeter":
      conf = bench.render("sidemeter_tls.yaml.in", os.path.join(self.tmp, "sidemeter_tls.yaml"),
                          CERT=c["cert"], KEY=c["key"])
      p = self.procs.start(cpu + [self.args.sidemeter, "--config", conf,
                                  "--listen", "127.0.0.1:0", "--stats", "127.0.0.1:0",
                                  "--upstream", f"127.0.0.1:{self.backend_port}",
                                  "--workers", "1"], log)
      port, stats_port = self._sidemeter_ports(p, log)
      return p, port, lambda: sidemeter_counters(stats_port)
    port = bench.free_port()
    if target == "haproxy":
      sock = os.path.join(self.tmp, "haproxy_tls.sock")
      conf = bench.render("haproxy_tls.cfg.in", os.path.join(self.tmp, "haproxy_tls.cfg"),
                          PREFIX=self.tmp, PORT=port, BACKEND_PORT=self.backend_port,
                          MAXCONN=4096, COMBINED_PEM=c["combined"], CIPHERS=CIPHERS,
                          CIPHERSUITES=CIPHERSUITES)
      p = self.procs.start(cpu + ["haproxy", "-db", "-f", conf], log)
      return p, port, lambda: haproxy_counters(sock)
    if target == "nginx":
      conf = bench.render("proxy_nginx_tls.conf.in", os.path.join(self.tmp, "proxy_nginx_tls.conf"),
                          PREFIX=self.tmp, PORT=port, BACKEND_PORT=self.backend_port,
                          NOFILE=self.args.nofile, WORKER_CONNECTIONS=4096, CERT=c["cert"],
                          KEY=c["key"], CIPHERS=CIPHERS, CIPHERSUITES=CIPHERSUITES)
      p = self.procs.start(cpu + ["nginx", "-e", "stderr", "-p", self.tmp, "-c", conf,
                                  "-g", "daemon off;"], log)
      return p, port, lambda: None  # nginx has no handshake counters without extra modules
    raise ValueError(target)

  @staticmethod
  def _sidemeter_ports(p, log, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end and p.poll() is None:
      with open(log, "rb") as f:
        for line in f:
          try:
            ev = json.loads(line)
          except ValueError:
            continue
          if isinstance(ev, dict) and ev.get("event") == "listening":
            return int(ev["listen_port"]), ev.get("stats_port")
      time.sleep(0.05)
    return None, None

  def probe_sidemeter(self):
    """None when sidemeter terminates TLS, else the reason it cannot be measured."""
    if not (os.path.isfile(self.args.sidemeter) and os.access(self.args.sidemeter, os.X_OK)):
      return f"no sidemeter binary at {self.args.sidemeter}"
    try:
      p, port, _pids, _c = self.start_tls("sidemeter", "ecdsa")
    except RuntimeError as e:
      reason = str(e).split(": ", 1)[-1]
      return f"does not terminate TLS yet ({reason})"
    self.procs.stop(p)
    return None

  # ------------------------------------------------------------ loads
  def wrk_https(self, port, path, conns, duration):
    argv = bench.taskset(self.args.load_cpu) + [
        "wrk", "-t1", f"-c{conns}", f"-d{max(1, round(duration))}s", "--latency", "--timeout",
        "5s", f"https://127.0.0.1:{port}{path}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    if out.returncode != 0:
      raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout} {out.stderr}")
    return bench.parse_wrk(out.stdout)

  def s_time(self, port, opts, duration):
    """`clients` s_time processes in parallel (-new: never offers a session, so every
    connection is a full handshake; -reuse: resumes the first connection's session), each
    sending GET /ok (HTTP/1.0) per connection. Returns totals and the wall time."""
    started = []
    t0 = time.monotonic()
    for i in range(self.args.hs_clients):
      log = os.path.join(self.tmp, f"s_time-{i}.log")
      started.append((self.procs.start(bench.taskset(self.args.load_cpu) + [
          "openssl", "s_time", "-connect", f"127.0.0.1:{port}", *opts,
          "-time", str(max(1, round(duration))), "-www", "/ok"], log), log))
    conns, nbytes, errors = 0, [], []
    for p, log in started:
      try:
        p.wait(timeout=duration + 30)
      except subprocess.TimeoutExpired:
        errors.append("s_time did not finish")
      self.procs.stop(p)
      with open(log, errors="replace") as f:
        text = f.read()
      res = parse_s_time(text)
      if p.returncode != 0 or res is None:
        errors.append(f"s_time exit {p.returncode}: {text.strip()[-200:]}")
      if res:
        conns += res["connections"]
        nbytes.append(res["bytes_per_conn"])
    wall = time.monotonic() - t0
    return {"connections": conns, "wall_s": wall, "conns_per_s": conns / wall if wall else 0.0,
            "bytes_per_conn": min(nbytes) if nbytes else None,
            "errors": len(errors), "error_text": "; ".join(errors)[:500] or None}

  # ------------------------------------------------------------ one target, one cert
  def measure(self, rnd, target, cert, emit):
    try:
      p, port, pids, counters = self.start_tls(target, cert)
    except RuntimeError as e:
      emit({"round": rnd, "target": target, "cert": cert, "kind": "start_error", "error": str(e)})
      return
    rec = {"round": rnd, "target": target, "cert": cert}
    try:
      if rnd == 1:
        emit(dict(rec, kind="negotiated", **negotiated(port, self.certs[cert]["ca"]),
                  http10_status=http10_status(port, self.certs[cert]["ca"])))
      self.wrk_https(port, "/ok", 32, 1)  # warm-up: backend pool, page faults, caches
      if cert == self.args.ka_cert:
        for payload, path in KA_PAYLOADS:
          def run():
            return self.wrk_https(port, path, self.args.concurrency, self.args.duration)
          m = self._accounted(pids, counters, run)
          served = max(1, m["requests"])
          emit(dict(rec, kind="keepalive", payload=payload, **m["result"],
                    **per_unit(m, served, "req")))
      modes = [("full", ["-new"])]
      if self.args.tls12:
        modes.append(("full TLS 1.2", ["-new", "-tls1_2"]))
      if cert == self.args.ka_cert:
        modes.append(("resumed", ["-reuse"]))
      for mode, opts in modes:
        m = self._accounted(pids, counters, lambda: self.s_time(port, opts, self.args.duration))
        conns = max(1, m["result"]["connections"])
        emit(dict(rec, kind="handshake", mode=mode, **m["result"], **per_unit(m, conns, "conn")))
    finally:
      self.procs.stop(p)

  @staticmethod
  def _accounted(pids, counters, run):
    """Runs `run` and returns its result with the proxy's CPU and handshake counters."""
    c0, split0, sched0 = counters(), procstat.cpu_split(pids), procstat.sched_seconds(pids)
    t0 = time.monotonic()
    result = run()
    wall = time.monotonic() - t0
    c1, split1, sched1 = counters(), procstat.cpu_split(pids), procstat.sched_seconds(pids)
    hs = None
    if c0 is not None and c1 is not None:
      hs = {"full": c1[0] - c0[0], "resumed": c1[1] - c0[1], "failed": c1[2] - c0[2]}
    return {"result": result, "requests": result.get("requests", result.get("connections", 0)),
            "user_s": split1[0] - split0[0], "kernel_s": split1[1] - split0[1],
            "sched_s": sched1 - sched0, "wall_s": wall, "hs": hs}

  # ------------------------------------------------------------ kernel TLS
  def ktls_download(self, rnd, mode, emit):
    """`openssl s_server -WWW` (pinned like a proxy) serving the 64 MiB file to a Python
    client on the load CPU, `downloads` times; CPU of s_server per MiB. mode: plain (no
    kTLS), ktls, ktls-sendfile."""
    c = self.certs["ecdsa"]
    extra = {"plain": [], "ktls": ["-ktls"], "ktls-sendfile": ["-ktls", "-sendfile"]}[mode]
    port = bench.free_port()
    log = self.log(f"s_server-{mode}")
    p = self.procs.start(bench.taskset(self.args.proxy_cpu) + [
        "env", "-C", self.docroot, "openssl", "s_server", "-accept", f"127.0.0.1:{port}",
        "-cert", c["cert"], "-key", c["key"], "-WWW", "-ciphersuites", "TLS_AES_128_GCM_SHA256",
        "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"] + extra, log)
    try:
      end = time.monotonic() + 10
      while True:
        try:
          with socket.create_connection(("127.0.0.1", port), timeout=1):
            break
        except OSError:
          if p.poll() is not None or time.monotonic() > end:
            emit({"round": rnd, "target": "s_server", "kind": "ktls", "mode": mode,
                  "error": self._exit_reason(p, f"s_server-{mode}")})
            return
          time.sleep(0.05)
      client = [sys.executable, os.path.abspath(__file__), "--download", str(port), "/big",
                c["ca"], str(self.args.ktls_downloads)]
      pids = [p.pid]
      tls0 = read_tls_stat()
      split0, sched0 = procstat.cpu_split(pids), procstat.sched_seconds(pids)
      t0 = time.monotonic()
      out = subprocess.run(bench.taskset(self.args.load_cpu) + client, capture_output=True,
                           text=True, timeout=300)
      wall = time.monotonic() - t0
      split1, sched1 = procstat.cpu_split(pids), procstat.sched_seconds(pids)
      tls1 = read_tls_stat()
      try:
        got = json.loads(out.stdout.strip().splitlines()[-1])
      except (ValueError, IndexError):
        got = {"error": (out.stdout + out.stderr)[-300:]}
      mib = got.get("bytes", 0) / (1 << 20)
      with open(log, errors="replace") as f:
        server_log = f.read()
      engaged = "Using Kernel TLS for sending" in server_log
      tx_delta = None
      if tls0 is not None and tls1 is not None:
        tx_delta = tls1.get("TlsTxSw", 0) + tls1.get("TlsTxDevice", 0) - \
                   tls0.get("TlsTxSw", 0) - tls0.get("TlsTxDevice", 0)
        engaged = engaged or tx_delta > 0
      emit({"round": rnd, "target": "s_server", "kind": "ktls", "mode": mode, "mib": mib,
            "version": got.get("version"), "cipher": got.get("cipher"),
            "error": got.get("error"), "engaged": engaged, "tls_stat_tx_delta": tx_delta,
            "mib_per_s": mib / wall if wall else None,
            "cpu_us_per_mib": ((split1[0] - split0[0]) + (split1[1] - split0[1])) * 1e6 / mib
            if mib else None,
            "user_us_per_mib": (split1[0] - split0[0]) * 1e6 / mib if mib else None,
            "kernel_us_per_mib": (split1[1] - split0[1]) * 1e6 / mib if mib else None,
            "sched_us_per_mib": (sched1 - sched0) * 1e6 / mib if mib else None})
    finally:
      self.procs.stop(p)


def per_unit(m, n, unit):
  return {f"cpu_us_per_{unit}": (m["user_s"] + m["kernel_s"]) * 1e6 / n,
          f"user_us_per_{unit}": m["user_s"] * 1e6 / n,
          f"kernel_us_per_{unit}": m["kernel_s"] * 1e6 / n,
          f"sched_us_per_{unit}": m["sched_s"] * 1e6 / n,
          "proxy_busy": m["sched_s"] / m["wall_s"] if m["wall_s"] else None,
          "hs_full": (m["hs"] or {}).get("full"), "hs_resumed": (m["hs"] or {}).get("resumed"),
          "hs_failed": (m["hs"] or {}).get("failed")}


# ---------------------------------------------------------------- kernel TLS probe
def read_tls_stat():
  try:
    with open("/proc/net/tls_stat") as f:
      return {k: int(v) for k, v in (line.split() for line in f if line.strip())}
  except (OSError, ValueError):
    return None


def ulp_tls_works():
  """Whether the kernel accepts the "tls" upper-layer protocol on a connected TCP socket
  (what OpenSSL does before handing it the keys). Returns (bool, detail)."""
  srv = socket.socket()
  try:
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    cli = socket.create_connection(srv.getsockname(), timeout=2)
    conn, _ = srv.accept()
    try:
      cli.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
      return True, "setsockopt(TCP_ULP, \"tls\") accepted"
    except OSError as e:
      return False, f"setsockopt(TCP_ULP, \"tls\") failed: {e.strerror} (errno {e.errno})"
    finally:
      cli.close()
      conn.close()
  finally:
    srv.close()


def ktls_probe(try_modprobe=True):
  info = {"kind": "ktls_probe", "round": 0, "target": ""}
  info["tls_stat_before"] = os.path.exists("/proc/net/tls_stat")
  try:
    info["available_ulp"] = open("/proc/sys/net/ipv4/tcp_available_ulp").read().strip()
  except OSError:
    info["available_ulp"] = None
  info["kernel_config"] = None
  try:
    import gzip
    with gzip.open("/proc/config.gz", "rt") as f:
      for line in f:
        if re.match(r"^(# )?CONFIG_TLS(_DEVICE)?[= ]", line):
          info["kernel_config"] = ((info["kernel_config"] or "") + line.strip() + "; ")
  except OSError:
    pass
  works, detail = ulp_tls_works()
  info["modprobe"] = None
  if not works and try_modprobe:
    if shutil.which("modprobe") and os.geteuid() == 0:
      out = subprocess.run(["modprobe", "tls"], capture_output=True, text=True, timeout=20)
      info["modprobe"] = f"exit {out.returncode} {out.stderr.strip()[:200]}".strip()
      works, detail = ulp_tls_works()
    else:
      info["modprobe"] = "not tried (" + ("no modprobe" if not shutil.which("modprobe")
                                          else "not root") + ")"
  info["kernel_ok"], info["kernel_detail"] = works, detail
  info["tls_stat"] = os.path.exists("/proc/net/tls_stat")
  try:
    help_text = subprocess.run(["openssl", "s_server", "-help"], capture_output=True,
                               text=True, timeout=10).stderr
  except OSError:
    help_text = ""
  info["openssl_version"] = subprocess.run(["openssl", "version"], capture_output=True,
                                           text=True).stdout.strip()
  info["openssl_ktls"] = bool(re.search(r"^\s*-ktls\b", help_text, re.M))
  info["usable"] = bool(works and info["openssl_ktls"])
  return info


def download(port, path, ca, times):
  """Client for the kTLS measurement: GET path `times` times, discard the bytes."""
  total = 0
  ctx = ssl.create_default_context(cafile=ca)
  version = cipher = None
  for _ in range(times):
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
      with ctx.wrap_socket(raw, server_hostname=SERVER_NAME) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        buf = bytearray(1 << 20)
        while True:
          try:
            n = s.recv_into(buf)
          except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
          if not n:
            break
          total += n
        version, cipher = s.version(), s.cipher()[0]
  print(json.dumps({"bytes": total, "version": version, "cipher": cipher}))


# ---------------------------------------------------------------- report
def med(records, key, **match):
  vals = [r[key] for r in records if all(r.get(k) == v for k, v in match.items())
          and r.get(key) is not None]
  return statistics.median(vals) if vals else None


def render(records):
  meta = next((r for r in records if r.get("kind") == "meta"), {})
  end = next((r for r in records if r.get("kind") == "meta_end"), {})
  args = meta.get("args", {})
  unsupported = meta.get("unsupported", {})
  targets = [t for t in TARGETS if t in args.get("targets", TARGETS)]
  rounds = max((r["round"] for r in records if r.get("kind") in ("keepalive", "handshake")),
               default=0)
  out = []
  w = out.append
  w("# sidemeter TLS benchmark\n")
  if args.get("quick") or (args.get("duration") or 99) < 10 or rounds < 3:
    w(f"**Short run ({rounds} round(s) of {args.get('duration')} s): noisy, for checking the "
      "harness, not for conclusions.**\n")
  w(f"Medians of {rounds} interleaved round(s), {args.get('duration')} s per measurement. "
    f"Proxy pinned to CPU {args.get('proxy_cpu')}, backend (plain nginx, 1 worker) to CPU "
    f"{args.get('backend_cpu')}, clients (wrk, s_time) to CPU {args.get('load_cpu')}. "
    f"Kernel {meta.get('uname')}; load average {meta.get('loadavg_start')} at start, "
    f"{end.get('loadavg_end')} at end.\n")
  v = meta.get("versions", {})
  w("Versions: " + "; ".join(f"{k}: {v[k]}" for k in v) + "\n")
  for t in targets:
    if t in unsupported:
      w(f"- **{LABEL[t]}: n/a**: {unsupported[t]}")
  if unsupported:
    w("")

  w("\n## Negotiated (openssl s_client, the library wrk and s_time use)\n")
  w("| certificate | target | protocol | cipher | key exchange | signature | GET /ok HTTP/1.0 |")
  w("|---|---|---|---|---|---|---:|")
  for cert in CERTS:
    for t in targets:
      r = next((x for x in records if x.get("kind") == "negotiated" and x["target"] == t
                and x["cert"] == cert), None)
      if r is None:
        w(f"| {CERT_LABEL[cert]} | {LABEL[t]} | n/a | | | | |")
      else:
        w(f"| {CERT_LABEL[cert]} | {LABEL[t]} | {r.get('protocol')} | {r.get('cipher')} | "
          f"{r.get('group')} | {r.get('signature')} | {r.get('http10_status')} |")

  w(f"\n## Keep-alive requests over TLS (wrk -t1 -c{args.get('concurrency')}, "
    f"{CERT_LABEL.get(args.get('ka_cert'), '?')} certificate)\n")
  w("| payload | target | req/s | CPU µs/req | user µs/req | kernel µs/req | on-CPU µs/req | "
    "proxy core busy | p50 µs | p99 µs | errors |")
  w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
  for payload, _ in KA_PAYLOADS:
    for t in targets:
      m = lambda key: med(records, key, kind="keepalive", target=t, payload=payload)
      w(f"| {payload} | {LABEL[t]} | {fmt(m('rps'), 0)} | {fmt(m('cpu_us_per_req'), 2)} | "
        f"{fmt(m('user_us_per_req'), 2)} | {fmt(m('kernel_us_per_req'), 2)} | "
        f"{fmt(m('sched_us_per_req'), 2)} | {fmt(m('proxy_busy') and m('proxy_busy') * 100, 0, ' %')} | "
        f"{fmt(m('p50_us'))} | {fmt(m('p99_us'))} | {fmt(m('errors'), 0)} |")
  w("\nCPU µs/req = Δ(utime+stime) of the proxy's processes ÷ requests wrk completed (10 ms "
    "ticks); on-CPU from the scheduler's per-thread run time (ns). The 32 handshakes of wrk's "
    "connections fall inside each measurement and are negligible against its requests.\n")

  w(f"\n## Handshakes (openssl s_time × {args.get('hs_clients')}, one GET /ok per connection)\n")
  w("| certificate | handshake | target | conns/s | CPU µs/conn | user µs | kernel µs | "
    "on-CPU µs | proxy core busy | conns/s per proxy core | server saw full/resumed | errors |")
  w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
  for cert in CERTS:
    for mode in HS_MODES:
      if not any(r.get("kind") == "handshake" and r.get("cert") == cert and r.get("mode") == mode
                 for r in records):
        continue
      for t in targets:
        m = lambda key: med(records, key, kind="handshake", target=t, cert=cert, mode=mode)
        sched = m("sched_us_per_conn")
        full, resumed = m("hs_full"), m("hs_resumed")
        seen = "unverified" if full is None else f"{full:,.0f} / {resumed:,.0f}"
        w(f"| {CERT_LABEL[cert]} | {mode} | {LABEL[t]} | {fmt(m('conns_per_s'), 0)} | "
          f"{fmt(m('cpu_us_per_conn'), 1)} | {fmt(m('user_us_per_conn'), 1)} | "
          f"{fmt(m('kernel_us_per_conn'), 1)} | {fmt(sched, 1)} | "
          f"{fmt(m('proxy_busy') and m('proxy_busy') * 100, 0, ' %')} | "
          f"{fmt(sched and 1e6 / sched, 0)} | {seen} | {fmt(m('errors'), 0)} |")
  w("\nOne connection = TCP connect, handshake, GET /ok (HTTP/1.0) forwarded to the backend, "
    "close; the request's own share is the keep-alive figure above. `s_time -new` never "
    "offers a session (every handshake is full), `-reuse` resumes the first connection's. "
    "'server saw' is the proxy's own count during the measurement (median per round: "
    "HAProxy's ssl_sess/ssl_reused_sess; sidemeter's /metrics when it has handshake counters; "
    "nginx has none). conns/s per proxy core = 1e6 ÷ on-CPU µs per connection: the rate one "
    "fully busy core would sustain. When 'proxy core busy' is well under 100 % the clients, "
    "not the proxy, set conns/s (an OpenSSL 3.0 client spends more CPU per handshake than the "
    "server with ECDSA), so compare CPU µs/conn, not conns/s.\n")

  sp = next((r for r in records if r.get("kind") == "speed"), None)
  if sp and sp.get("x25519_us"):
    x = sp["x25519_us"]
    floor = lambda sign: sign + 2 * x if sign else None
    w(f"Crypto floor on the proxy's CPU (`openssl speed`, one core): ECDSA P-256 sign "
      f"{fmt(sp.get('ecdsap256_sign_us'))} µs, RSA 2048 sign {fmt(sp.get('rsa2048_sign_us'))} µs, "
      f"X25519 {fmt(x)} µs. A full TLS 1.3 handshake costs the server at least one signature "
      f"and two X25519 operations: {fmt(floor(sp.get('ecdsap256_sign_us')))} µs with ECDSA, "
      f"{fmt(floor(sp.get('rsa2048_sign_us')))} µs with RSA; a resumed one (psk_dhe_ke) "
      f"{fmt(2 * x)} µs. The rest of CPU µs/conn is TCP, the library's per-connection work "
      "and the proxy's own.\n")

  w("\n## Ratios sidemeter ÷ peers (lower CPU is better, higher rate is better)\n")
  w("| measurement | CPU ÷ HAProxy | CPU ÷ nginx | rate ÷ HAProxy | rate ÷ nginx |")
  w("|---|---:|---:|---:|---:|")
  rows = [(f"keep-alive {p}", dict(kind="keepalive", payload=p), "cpu_us_per_req", "rps")
          for p, _ in KA_PAYLOADS]
  for cert in CERTS:
    for mode in HS_MODES:
      if any(r.get("kind") == "handshake" and r.get("cert") == cert and r.get("mode") == mode
             for r in records):
        rows.append((f"{mode} handshake, {CERT_LABEL[cert]}",
                     dict(kind="handshake", cert=cert, mode=mode), "cpu_us_per_conn",
                     "conns_per_s"))
  for label, match, cpu_key, rate_key in rows:
    cpu = {t: med(records, cpu_key, target=t, **match) for t in targets}
    rate = {t: med(records, rate_key, target=t, **match) for t in targets}
    w(f"| {label} | {fmt(ratio(cpu.get('sidemeter'), cpu.get('haproxy')), 2, 'x')} | "
      f"{fmt(ratio(cpu.get('sidemeter'), cpu.get('nginx')), 2, 'x')} | "
      f"{fmt(ratio(rate.get('sidemeter'), rate.get('haproxy')), 2, 'x')} | "
      f"{fmt(ratio(rate.get('sidemeter'), rate.get('nginx')), 2, 'x')} |")
  if "haproxy" in targets and "nginx" in targets:
    w("\nAlso for reference, HAProxy ÷ nginx CPU: " + ", ".join(
        f"{label} {fmt(ratio(med(records, ck, target='haproxy', **mt), med(records, ck, target='nginx', **mt)), 2, 'x')}"
        for label, mt, ck, _ in rows) + ".\n")

  errs = [r for r in records if r.get("kind") == "start_error"]
  if errs:
    w("\n## Start errors\n")
    for r in errs:
      w(f"- round {r['round']}, {r['target']} ({r['cert']}): {r['error']}")
    w("")

  w("\n## Kernel TLS\n")
  probe = next((r for r in records if r.get("kind") == "ktls_probe"), None)
  if probe is None:
    w("Not probed (--no-ktls).\n")
  else:
    w(f"- Kernel: {'**usable**' if probe['kernel_ok'] else '**not usable**'}: "
      f"{probe['kernel_detail']}; tcp_available_ulp: `{probe.get('available_ulp')}`; "
      f"/proc/net/tls_stat {'present' if probe.get('tls_stat') else 'absent'}; "
      f"kernel config: `{(probe.get('kernel_config') or 'unknown').strip('; ')}`; "
      f"modprobe tls: {probe.get('modprobe') or 'not needed'}.")
    w(f"- OpenSSL ({probe.get('openssl_version')}): "
      f"{'built with kTLS (s_server has -ktls)' if probe['openssl_ktls'] else 'built without kTLS (s_server has no -ktls option; OPENSSL_NO_KTLS)'}.")
    dl = [r for r in records if r.get("kind") == "ktls"]
    if dl:
      w(f"\n`openssl s_server -WWW` (pinned to CPU {args.get('proxy_cpu')}) sending a "
        f"{KTLS_FILE_MIB} MiB file {args.get('ktls_downloads')} times per round over TLS 1.3 "
        "AES-128-GCM to a Python client; CPU of s_server per MiB sent:\n")
      w("| mode | kTLS engaged | MiB/s | CPU µs/MiB | user µs/MiB | kernel µs/MiB | on-CPU µs/MiB | errors |")
      w("|---|---|---:|---:|---:|---:|---:|---|")
      for mode in ("plain", "ktls", "ktls-sendfile"):
        rs = [r for r in dl if r["mode"] == mode]
        if not rs:
          continue
        m = lambda key: med(dl, key, mode=mode)
        engaged = "yes" if all(r.get("engaged") for r in rs) else \
            ("partly" if any(r.get("engaged") for r in rs) else "no")
        errors = "; ".join(sorted({str(r['error']) for r in rs if r.get('error')}))[:200]
        w(f"| {mode} | {engaged} | {fmt(m('mib_per_s'), 0)} | {fmt(m('cpu_us_per_mib'), 0)} | "
          f"{fmt(m('user_us_per_mib'), 0)} | {fmt(m('kernel_us_per_mib'), 0)} | "
          f"{fmt(m('sched_us_per_mib'), 0)} | {errors or '0'} |")
      plain = med(dl, "sched_us_per_mib", mode="plain")
      best = [x for x in (med(dl, "sched_us_per_mib", mode="ktls"),
                          med(dl, "sched_us_per_mib", mode="ktls-sendfile")) if x is not None]
      if plain and best:
        w(f"\nkTLS ÷ user-space TLS on-CPU per MiB: {fmt(min(best) / plain, 2, 'x')} (best kTLS mode).")
    if probe["usable"]:
      w("\nFinding: kTLS works on this machine. sidemeter drives OpenSSL through memory BIOs, "
        "which cannot use kTLS (OpenSSL enables it only on a socket BIO); the figures above "
        "say what switching to socket BIOs could save per MiB of response body.\n")
    else:
      w("\nFinding: kTLS is **not usable here**, so there is nothing to gain on this machine "
        "from moving sidemeter off memory BIOs. "
        + ("The kernel lacks the tls ULP (CONFIG_TLS). " if not probe["kernel_ok"] else "")
        + ("Debian 12's OpenSSL 3.0 is built without kTLS, so even on a kernel with CONFIG_TLS "
           "a socket-BIO sidemeter would not get kTLS from this libssl (it would need an OpenSSL "
           "built with enable-ktls, or to program TLS_TX/TLS_RX itself). "
           if not probe["openssl_ktls"] else "")
        + ("The user-space figure above is the baseline a kTLS run elsewhere would be compared "
           "with." if dl else "") + "\n")
  return "\n".join(out) + "\n"


# ---------------------------------------------------------------- main
def main():
  if len(sys.argv) > 1 and sys.argv[1] == "--download":
    download(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
    return 0
  ap = argparse.ArgumentParser(description=__doc__,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--quick", action="store_true", help="1 round, 3 s per measurement")
  ap.add_argument("--rounds", type=int, help="interleaved rounds (default 5)")
  ap.add_argument("--duration", type=int, help="seconds per measurement (default 10)")
  ap.add_argument("--concurrency", type=int, default=32, help="wrk connections, keep-alive")
  ap.add_argument("--hs-clients", type=int, default=4, help="parallel s_time processes")
  ap.add_argument("--tls12", action="store_true",
                  help="also full handshakes with TLS 1.2 (s_time -new -tls1_2)")
  ap.add_argument("--ka-cert", default="ecdsa", choices=CERTS,
                  help="certificate for the keep-alive and resumed measurements")
  ap.add_argument("--targets", default=",".join(TARGETS))
  ap.add_argument("--sidemeter", default="")
  ap.add_argument("--proxy-cpu", default="0")
  ap.add_argument("--backend-cpu", default="0")
  ap.add_argument("--load-cpu", default="1", help="CPU list for wrk, s_time and the kTLS client")
  ap.add_argument("--ktls-downloads", type=int, default=3, help="64 MiB downloads per mode per round")
  ap.add_argument("--no-ktls", action="store_true", help="skip the kernel TLS probe")
  ap.add_argument("--no-modprobe", action="store_true", help="do not try `modprobe tls`")
  ap.add_argument("--nofile", type=int, default=20000)
  ap.add_argument("--results", default=os.path.join(HERE, "results"))
  ap.add_argument("--pidfile")
  ap.add_argument("--report", metavar="RAW", help="re-render a report from raw records and exit")
  args = ap.parse_args()
  if args.report:
    with open(args.report) as f:
      print(render([json.loads(line) for line in f if line.strip()]))
    return 0
  args.rounds = args.rounds or (1 if args.quick else 5)
  args.duration = args.duration or (3 if args.quick else 10)
  args.conns = 4096  # bench.Bench sizes the backend's worker_connections from it
  targets = [t for t in args.targets.split(",") if t]
  for t in targets:
    if t not in TARGETS:
      ap.error(f"unknown target {t}")
  args.targets = targets

  os.makedirs(args.results, exist_ok=True)
  stamp = time.strftime("%Y%m%d-%H%M%S")
  raw_path = os.path.join(args.results, f"tls-raw-{stamp}.jsonl")
  procs = bench.Procs(args.pidfile)
  tb = None

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
        brief = {k: (round(rec[k], 2) if isinstance(rec[k], float) else rec[k])
                 for k in ("rps", "conns_per_s", "cpu_us_per_req", "cpu_us_per_conn",
                           "proxy_busy", "hs_full", "hs_resumed", "errors", "error",
                           "protocol", "cipher", "cpu_us_per_mib", "engaged", "usable")
                 if rec.get(k) is not None}
        print(f"  round {rec.get('round')} {rec.get('target', ''):<10} {rec.get('cert', ''):<6} "
              f"{rec['kind']:<11} {rec.get('payload', rec.get('mode', '')):<13} "
              f"{json.dumps(brief, ensure_ascii=False)}", flush=True)

      tb = TlsBench(args, procs)
      tb.start_backend()
      unsupported = {}
      if "sidemeter" in targets:
        reason = tb.probe_sidemeter()
        if reason:
          unsupported["sidemeter"] = reason
          print(f"sidemeter: n/a: {reason}", flush=True)
      versions = bench.tool_versions(args.sidemeter or "sidemeter")
      versions["openssl"] = subprocess.run(["openssl", "version"], capture_output=True,
                                           text=True).stdout.strip()
      emit({"kind": "meta", "round": 0, "target": "", "args": vars(args),
            "unsupported": unsupported,
            "loadavg_start": open("/proc/loadavg").read().split()[:3],
            "uname": os.uname().release, "versions": versions})
      live = [t for t in targets if t not in unsupported]
      speed = crypto_speed(args.proxy_cpu)
      if speed:
        emit(dict(speed, kind="speed", round=0, target=""))
      probe = None
      if not args.no_ktls:
        probe = ktls_probe(try_modprobe=not args.no_modprobe)
        emit(probe)
      ktls_modes = ["plain"] + (["ktls", "ktls-sendfile"] if probe and probe["usable"] else [])
      for rnd in range(1, args.rounds + 1):
        # Rotate the order so no proxy always runs first (or last) in a noisy period.
        k = (rnd - 1) % max(1, len(live))
        for target in live[k:] + live[:k]:
          for cert in CERTS:
            print(f"== round {rnd}/{args.rounds}: {target} ({CERT_LABEL[cert]})", flush=True)
            tb.measure(rnd, target, cert, emit)
        if probe is not None:
          k = (rnd - 1) % len(ktls_modes)
          for mode in ktls_modes[k:] + ktls_modes[:k]:
            print(f"== round {rnd}/{args.rounds}: s_server download ({mode})", flush=True)
            tb.ktls_download(rnd, mode, emit)
      emit({"kind": "meta_end", "round": 0, "target": "",
            "loadavg_end": open("/proc/loadavg").read().split()[:3]})
  except KeyboardInterrupt as e:
    print(f"interrupted ({e}); cleaning up", file=sys.stderr)
    return 130
  finally:
    procs.stop_all()
    if tb is not None and os.environ.get("BENCH_KEEP_TMP", "") in ("", "0"):
      shutil.rmtree(tb.tmp, ignore_errors=True)

  table = render(records)
  print(table)
  out_path = os.path.join(args.results, "tls.md")
  with open(out_path, "w") as f:
    f.write(table)
  print(f"raw results: {raw_path}\ntable: {out_path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
