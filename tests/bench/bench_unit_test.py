#!/usr/bin/env python3
"""Unit tests of the harness's pure parts (no servers, no timing): wrk output parsing, the
config templates' placeholders, the response-framing reader against a scripted socket, and
the report rendering a synthetic run. Run: python3 tests/bench/bench_unit_test.py
"""
import os
import socket
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
import procstat  # noqa: E402
import report  # noqa: E402

WRK_OUT = """Running 3s test @ http://127.0.0.1:1/ok
  1 threads and 32 connections
  Latency Distribution
     50%  210.00us
     75%  300.00us
     90%    1.20ms
     99%    2.50ms
  30000 requests in 3.00s, 4.00MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:  10000.50
"""


class ParseWrk(unittest.TestCase):
  def test_fields_and_units(self):
    r = bench.parse_wrk(WRK_OUT)
    self.assertEqual(r["requests"], 30000)
    self.assertEqual(r["rps"], 10000.5)
    self.assertEqual(r["p50_us"], 210.0)
    self.assertEqual(r["p99_us"], 2500.0)
    self.assertEqual(r["errors"], 7)


class PerfSyscalls(unittest.TestCase):
  def test_intervals_summed(self):
    lines = ["     0.200480653,120,,raw_syscalls:sys_enter,200,100.00,,",
             "     0.400928884,<not counted>,,raw_syscalls:sys_enter,0,100.00,,",
             "     0.601399217,30,,raw_syscalls:sys_enter,200,100.00,,", "", "garbage"]
    self.assertEqual(procstat.perf_syscall_total(lines), 150)

  def test_not_supported_is_none(self):
    self.assertIsNone(procstat.perf_syscall_total(
        ["     0.2,<not supported>,,raw_syscalls:sys_enter,0,100.00,,"]))


class CpuSamples(unittest.TestCase):
  def test_return_sites_found_in_memory(self):
    memory = {(7, 0x1000 - 2): b"\x0f\x05", (7, 0x2000 - 2): b"\x48\x89",
              (8, 0x1000 - 2): b"\x0f\x05"}
    asked = []

    def read(pid, address, n):
      asked.append((pid, address))
      return memory.get((pid, address))  # (9, ...): a process that is gone

    samples = ([(7, 0x1000)] * 3 + [(7, 0x2000)] * 2 + [(8, 0x1000)] +
               [(9, 0x1000)] + [(7, 0xffffffff81000000)] * 4)
    split = procstat.classify_samples(samples, read)
    self.assertEqual(split, {"samples": 11, "kernel": 4, "user": 7, "user_at_syscall_return": 4,
                             "user_unreadable": 1})
    self.assertEqual(len(asked), len(set(asked)), "each distinct IP is read once")


class Templates(unittest.TestCase):
  # The values bench.py passes to each template: a missing one leaves an @X@ placeholder,
  # which render() refuses.
  VALUES = {
      "backend_nginx.conf.in": dict(PREFIX="/p", DOCROOT="/d", PORT=1, NOFILE=2,
                                    WORKER_CONNECTIONS=3),
      "haproxy.cfg.in": dict(PREFIX="/p", PORT=1, BACKEND_PORT=2, MAXCONN=3, THREADS=2),
      "proxy_nginx.conf.in": dict(PREFIX="/p", PORT=1, BACKEND_PORT=2, NOFILE=3,
                                  WORKER_CONNECTIONS=4, WORKERS=2),
      "caddy.Caddyfile.in": dict(PORT=1, ADMIN_PORT=2, BACKEND_PORT=3, IDLE_CONNS=4),
      "h2o.conf.in": dict(PREFIX="/p", PORT=1, BACKEND_PORT=2, THREADS=2, MAXCONN=3),
  }

  def test_every_placeholder_filled(self):
    with tempfile.TemporaryDirectory() as tmp:
      for name, values in self.VALUES.items():
        out = bench.render(name, os.path.join(tmp, name), **values)
        with open(out) as f:
          text = f.read()
        self.assertNotIn("@", text.replace("@p", ""), name)

  def test_missing_value_refused(self):
    with tempfile.TemporaryDirectory() as tmp:
      with self.assertRaises(RuntimeError):
        bench.render("h2o.conf.in", os.path.join(tmp, "x"), PORT=1)


class Framing(unittest.TestCase):
  def serve(self, response):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def run():
      conn, _ = srv.accept()
      conn.recv(4096)
      conn.sendall(response)
      conn.close()
      srv.close()
    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1]

  def test_chunked_sizes_and_trailer(self):
    port = self.serve(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"3;ext=1\r\nabc\r\n400\r\n" + b"z" * 1024 + b"\r\n0\r\nT: 1\r\n\r\n")
    r = bench.http_framing(port, "/chunked")
    self.assertEqual((r["status"], r["framing"], r["chunks"], r["body_bytes"]),
                     (200, "chunked", [3, 1024], 1027))

  def test_content_length_and_close(self):
    port = self.serve(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nok")
    r = bench.http_framing(port, "/x")
    self.assertEqual((r["status"], r["framing"], r["body_bytes"]), (404, "content-length", 2))
    port = self.serve(b"HTTP/1.1 200 OK\r\n\r\nabcdef")
    r = bench.http_framing(port, "/x")
    self.assertEqual((r["framing"], r["body_bytes"]), ("close", 6))


class Report(unittest.TestCase):
  def records(self):
    recs = [{"kind": "meta", "run": 0, "target": "", "args": {"concurrency": 32, "conns": 10,
                                                             "nofile": 20000},
             "versions": {"caddy": "2.6.2"}}]
    for run in (1, 2, 3):
      for t, cpu, user in (("direct", 5, 1), ("sidemeter", 8, 2), ("sidemeter-nomeasure", 7.8, 1.9),
                           ("haproxy", 10, 4), ("nginx", 10, 5), ("caddy", 40, 30),
                           ("h2o", 9, 3)):
        for p in report.PAYLOADS:
          recs.append({"run": run, "target": t, "kind": "load", "payload": p, "rps": 1000.0 * run,
                       "cpu_us_per_req": cpu + run, "user_us_per_req": user,
                       "kernel_us_per_req": cpu + run - user, "sched_us_per_req": cpu,
                       "p50_us": 100.0, "p99_us": 200.0, "errors": 0})
          recs.append({"run": run, "target": t, "kind": "c1", "payload": p,
                       "p50_us": 50.0 + cpu, "p99_us": 90.0 + cpu})
    recs.append({"run": 0, "target": "sidemeter", "kind": "idle_control", "requested": 19800,
                 "held": 19800, "served": 19800, "sample_alive": 198, "sample_size": 198,
                 "workers": 2, "window_s": 30.0,
                 "threads": [{"tid": 1, "name": "sidemeter", "role": "control (main thread)",
                              "core_pct": 0.15, "user_pct": 0.1, "kernel_pct": 0.0}]})
    return recs

  def test_system_call_return_samples_taken_out(self):
    recs = self.records()
    recs.append({"run": 0, "target": "", "kind": "syscall_accounting", "when": "start",
                 "user_ns_per_call": 500.0, "sys_ns_per_call": 600.0})
    for t, calls, ret in (("sidemeter", 2.0, 50), ("haproxy", 4.0, 25)):
      recs.append({"run": 1, "target": t, "kind": "syscalls", "payload": "small", "conns": 32,
                   "syscalls_per_req": calls})
      for p in ("small", "1k"):
        recs.append({"run": 1, "target": t, "kind": "cpu_samples", "payload": p,
                     "samples": 400, "kernel": 300, "user": 100,
                     "user_at_syscall_return": ret, "user_unreadable": 0})
    md = report.render(recs)
    # sidemeter: user 2 µs/req, half its user samples at a return: 1.00 without them;
    # HAProxy: user 4, a quarter: 3.00.
    self.assertIn("| sidemeter | 2.00 | n/a | small | 2.00 | 50.0 % | 1.00 |", md)
    self.assertIn("| HAProxy | 4.00 | n/a | small | 4.00 | 25.0 % | 3.00 |", md)
    self.assertIn("PASS small: user-space CPU/req without the system-call return samples "
                  "≤ 0.4× HAProxy's (0.333x)", md)
    self.assertIn("PASS 1k: user-space CPU/req without the system-call return samples", md)

  def test_medians_ratios_targets(self):
    md = report.render(self.records())
    # Medians of rounds: sidemeter's whole CPU is median(9, 10, 11) = 10, HAProxy's 12.
    self.assertIn("| small | HAProxy | 0.83x | 0.50x |", md)
    self.assertIn("| small | Caddy | 0.24x | 0.07x |", md)
    self.assertIn("Medians of 3 interleaved round(s)", md)
    self.assertIn("PASS control thread idle < 0.2 % of a core at 19800", md)
    self.assertIn("FAIL small: user-space CPU/req ≤ 0.4× HAProxy's (0.500x)", md)
    self.assertIn("PASS small: measuring costs < 3 % CPU/req (2.0 %)", md)

  def test_measuring_off_costing_more_is_inconclusive(self):
    recs = [r for r in self.records() if r.get("target") != "sidemeter-nomeasure"]
    for run in (1, 2, 3):
      for p in report.PAYLOADS:
        recs.append({"run": run, "target": "sidemeter-nomeasure", "kind": "load", "payload": p,
                     "rps": 1000.0, "cpu_us_per_req": 12.0 + run, "user_us_per_req": 2.0,
                     "kernel_us_per_req": 10.0 + run, "sched_us_per_req": 12.0 + run,
                     "p50_us": 100.0, "p99_us": 200.0, "errors": 0})
    md = report.render(recs)
    self.assertIn("n/a  small: measuring costs < 3 % CPU/req (", md)
    self.assertIn("inconclusive, measurement off measured more expensive)", md)
    self.assertNotIn("PASS small: measuring costs", md)


if __name__ == "__main__":
  unittest.main()
