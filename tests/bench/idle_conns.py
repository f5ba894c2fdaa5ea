#!/usr/bin/env python3
"""Opens N keep-alive connections to a server, one request each, holds them idle and
reports the server's RSS growth.

Usage: idle_conns.py HOST PORT PATH N PID [PID...]   (prints one JSON line)
The pids are the server's processes; RSS is summed over them. Bounded in time:
gives up opening connections after --deadline seconds. With --hold it prints a first JSON
line once the connections are open and keeps them idle until its stdin is closed (the
caller measures the server meanwhile), then checks a sample and prints the final line.
"""
import argparse
import json
import os
import selectors
import socket
import sys
import time

import procstat


def read_response(sock):
  """Reads one HTTP/1.1 response with Content-Length. Returns the status code or 0."""
  buf = b""
  while b"\r\n\r\n" not in buf:
    chunk = sock.recv(65536)
    if not chunk:
      return 0
    buf += chunk
  head, body = buf.split(b"\r\n\r\n", 1)
  lines = head.split(b"\r\n")
  status = int(lines[0].split()[1])
  length = 0
  for line in lines[1:]:
    name, _, value = line.partition(b":")
    if name.strip().lower() == b"content-length":
      length = int(value.strip())
  while len(body) < length:
    chunk = sock.recv(65536)
    if not chunk:
      return 0
    body += chunk
  return status


def open_all(host, port, request, count, parallel, deadline):
  """Opens `count` connections, each sending `request` and reading its response, with up to
  `parallel` in flight (non-blocking, one selector), so 20,000 open in seconds, well within
  a server's idle timeout. Returns (open sockets that got a 200, served, failed, errors)."""
  sel = selectors.DefaultSelector()
  held, served, failed, started = [], 0, 0, 0
  errors = {}
  inflight = {}  # socket -> bytearray of the response so far (None: still connecting)

  def fail(s, why):
    nonlocal failed
    failed += 1
    errors[why] = errors.get(why, 0) + 1
    sel.unregister(s)
    del inflight[s]
    s.close()

  while (started < count or inflight) and time.monotonic() < deadline:
    while started < count and len(inflight) < parallel:
      s = socket.socket()
      s.setblocking(False)
      s.connect_ex((host, port))
      inflight[s] = None
      sel.register(s, selectors.EVENT_WRITE)
      started += 1
    for key, _ in sel.select(timeout=1.0):
      s = key.fileobj
      if inflight[s] is None:  # connected (or failed to)
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
          fail(s, os.strerror(err))
          continue
        try:
          s.send(request)
        except OSError as e:
          fail(s, e.strerror or str(e))
          continue
        inflight[s] = bytearray()
        sel.modify(s, selectors.EVENT_READ)
        continue
      try:
        chunk = s.recv(65536)
      except OSError as e:
        fail(s, e.strerror or str(e))
        continue
      if not chunk:
        fail(s, "closed before the response")
        continue
      buf = inflight[s]
      buf += chunk
      status = complete_status(bytes(buf))
      if status is None:
        continue
      sel.unregister(s)
      del inflight[s]
      if status == 200:
        served += 1
        s.setblocking(True)
        s.settimeout(5)
        held.append(s)
      else:
        failed += 1
        errors[f"status {status}"] = errors.get(f"status {status}", 0) + 1
        s.close()
  for s in list(inflight):
    fail(s, "deadline")
  sel.close()
  return held, served, failed, errors


def complete_status(buf):
  """The status of a complete Content-Length response in buf, or None if incomplete."""
  end = buf.find(b"\r\n\r\n")
  if end < 0:
    return None
  lines = buf[:end].split(b"\r\n")
  length = 0
  for line in lines[1:]:
    name, _, value = line.partition(b":")
    if name.strip().lower() == b"content-length":
      length = int(value.strip())
  if len(buf) - end - 4 < length:
    return None
  return int(lines[0].split()[1])


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("host")
  ap.add_argument("port", type=int)
  ap.add_argument("path")
  ap.add_argument("count", type=int)
  ap.add_argument("pids", type=int, nargs="+")
  ap.add_argument("--deadline", type=float, default=60.0)
  ap.add_argument("--settle", type=float, default=1.0)
  ap.add_argument("--parallel", type=int, default=128,
                  help="connections being opened at once (connect, request, response)")
  ap.add_argument("--hold", action="store_true", help="hold the connections until stdin closes")
  args = ap.parse_args()

  pids = sorted({t for p in args.pids for t in procstat.tree(p)})  # a worker is in its master's tree too
  request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.host}\r\n\r\n").encode()
  rss_before = procstat.status_kib(pids)
  start = time.monotonic()
  socks, served, failed, errors = open_all(args.host, args.port, request, args.count,
                                           args.parallel, start + args.deadline)
  error = "; ".join(f"{k} x{v}" for k, v in sorted(errors.items()))
  open_seconds = time.monotonic() - start
  time.sleep(args.settle)
  pids = [p for p in pids if procstat.status_kib([p]) > 0]
  rss_after = procstat.status_kib(pids)
  if args.hold:
    print(json.dumps({"held": len(socks), "served": served, "failed": failed,
                      "open_seconds": round(open_seconds, 2), "error": error}), flush=True)
    sys.stdin.read()

  # Are the held connections still usable? A sample of them gets a second request.
  sample = socks[:: max(1, len(socks) // 100)]
  alive = 0
  for s in sample:
    try:
      s.sendall(request)
      if read_response(s) == 200:
        alive += 1
    except OSError:
      pass
  for s in socks:
    s.close()
  per_conn = (rss_after - rss_before) / served if served else None
  print(json.dumps({
      "requested": args.count, "served": served, "failed": failed, "held": len(socks),
      "sample_alive": alive, "sample_size": len(sample), "open_seconds": round(open_seconds, 2),
      "rss_before_kib": rss_before, "rss_after_kib": rss_after,
      "kib_per_conn": None if per_conn is None else round(per_conn, 3), "error": error}))
  return 0 if served == args.count else 1


if __name__ == "__main__":
  sys.exit(main())
