#!/usr/bin/env python3
"""A stand-in for a TLS-capable sidemeter, to check tls_bench.py's sidemeter path before
sidemeter terminates TLS: BENCH_SIDEMETER=tests/bench/fake_tls_sidemeter.py.

It is NOT sidemeter: it takes sidemeter's flags (--config with tls.certificates,
--listen, --stats, --upstream, --workers), runs HAProxy (nbthread 1) on a free port with
that certificate, logs sidemeter's JSON "listening" event, and serves /metrics on the stats
port with handshake counters taken from HAProxy's, named the way sidemeter's might be
(sidemeter_tls_handshakes_total{side,version,resumed}). The sidemeter column of the report
then measures HAProxy again: ratios near 1.00x mean the harness treats both columns alike.
"""
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tls_bench  # noqa: E402  (haproxy_counters, CIPHERS)


def main():
  argv = sys.argv[1:]
  if argv == ["--version"]:
    print("fake_tls_sidemeter (HAProxy underneath; not sidemeter)")
    return 0
  opts = dict(zip(argv[::2], argv[1::2]))
  with open(opts["--config"]) as f:
    conf = yaml.safe_load(f) or {}
  certs = (conf.get("tls") or {}).get("certificates") or []
  if not certs:
    print("fake_tls_sidemeter: no tls.certificates in the config", file=sys.stderr)
    return 2
  tmp = tempfile.mkdtemp(prefix="fake-sidemeter-")
  pem = os.path.join(tmp, "combined.pem")
  with open(pem, "w") as f:
    f.write(open(certs[0]["certificate_file"]).read() + open(certs[0]["private_key_file"]).read())
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  sock = os.path.join(tmp, "haproxy.sock")
  with open(os.path.join(tmp, "haproxy.cfg"), "w") as f:
    f.write(f"""global
  nbthread 1
  maxconn 4096
  stats socket {sock} level admin
  ssl-default-bind-options ssl-min-ver TLSv1.2
  ssl-default-bind-ciphers {tls_bench.CIPHERS}
  ssl-default-bind-ciphersuites {tls_bench.CIPHERSUITES}
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 60s
frontend fe
  bind 127.0.0.1:{port} ssl crt {pem}
  default_backend be
backend be
  server backend {opts["--upstream"]}
""")
  proxy = subprocess.Popen(["haproxy", "-db", "-f", os.path.join(tmp, "haproxy.cfg")])

  class Metrics(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
      c = tls_bench.haproxy_counters(sock) or (0, 0, 0)
      body = "".join(
          f'sidemeter_tls_handshakes_total{{side="downstream",version="TLSv1.3",resumed="{r}"}} {n}\n'
          for r, n in (("false", c[0]), ("true", c[1])))
      body += f'sidemeter_tls_handshake_failures_total{{side="downstream",reason="other"}} {c[2]}\n'
      self.send_response(200)
      self.send_header("Content-Type", "text/plain; version=0.0.4")
      self.send_header("Content-Length", str(len(body)))
      self.end_headers()
      self.wfile.write(body.encode())

    def log_message(self, *_):
      pass

  stats = http.server.HTTPServer(("127.0.0.1", 0), Metrics)
  threading.Thread(target=stats.serve_forever, daemon=True).start()
  print(json.dumps({"event": "listening", "listen": f"127.0.0.1:{port}", "listen_port": port,
                    "stats_port": stats.server_address[1]}), flush=True)

  def stop(*_):
    proxy.terminate()
  signal.signal(signal.SIGTERM, stop)
  signal.signal(signal.SIGINT, stop)
  proxy.wait()
  shutil.rmtree(tmp, ignore_errors=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
