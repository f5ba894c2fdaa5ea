"""A threaded HTTP/1.1 upstream (one thread a connection, keep-alive) whose answers are
chosen by the request target, for load and fault runs:

  /big?n=N        N bytes, Content-Length          /chunked?n=N   N bytes, chunked
  /slow?ms=M      "ok" after M ms                  /reset         RST before any byte
  /reset-mid?n=N  head for N bytes, half, then RST /close-early   FIN without a response
  /echo           (any method) the request body's length and CRC-32
  /status?code=C  "ok" with status C (e.g. 503); also /status/C
  anything else   "ok"

Request bodies (Content-Length or chunked) are read in full before answering, except by
the fault paths. Counts of requests per path are kept for the callers.
"""
import collections
import os
import socket
import socketserver
import struct
import threading
import time
import urllib.parse
import zlib

from strict_http import Incomplete, Invalid, parse_request

_PATTERN = bytes(range(256)) * 256  # 64 KiB, sliced for bodies


def _body(n):
  out = bytearray()
  while len(out) < n:
    out += _PATTERN[:n - len(out)]
  return bytes(out)


class _Handler(socketserver.BaseRequestHandler):
  def handle(self):
    s = self.request
    s.settimeout(self.server.idle_timeout)
    buf = b""
    try:
      while True:
        while True:
          try:
            req, body_at = parse_request(buf, 0, head_only=True)
            break
          except Incomplete:
            chunk = s.recv(65536)
            if not chunk:
              return
            buf += chunk
        body, buf = self._read_body(req, buf[body_at:])
        if body is None:
          return
        if not self.server.answer(s, req, body):
          return
    except (OSError, Invalid, ValueError):
      return

  def _read_body(self, req, rest):
    s = self.request
    te = b",".join(req.header(b"transfer-encoding")).lower()
    if b"chunked" in te:
      body = bytearray()
      while True:
        while b"\r\n" not in rest:
          chunk = s.recv(65536)
          if not chunk:
            return None, b""
          rest += chunk
        line, rest = rest.split(b"\r\n", 1)
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
          while b"\r\n\r\n" not in b"\r\n" + rest:
            chunk = s.recv(65536)
            if not chunk:
              return None, b""
            rest += chunk
          end = (b"\r\n" + rest).index(b"\r\n\r\n") + 2
          return bytes(body), rest[end:]
        while len(rest) < size + 2:
          chunk = s.recv(65536)
          if not chunk:
            return None, b""
          rest += chunk
        body += rest[:size]
        rest = rest[size + 2:]
    cl = req.header(b"content-length")
    n = int(cl[0]) if cl else 0
    while len(rest) < n:
      chunk = s.recv(262144)
      if not chunk:
        return None, b""
      rest += chunk
    return rest[:n], rest[n:]


class FaultUpstream(socketserver.ThreadingTCPServer):
  daemon_threads = True
  allow_reuse_address = True
  request_queue_size = 1024

  def __init__(self, idle_timeout=30.0):
    super().__init__(("127.0.0.1", 0), _Handler)
    self.port = self.server_address[1]
    self.idle_timeout = idle_timeout
    self.counts = collections.Counter()
    self.lock = threading.Lock()
    self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2},
                                   daemon=True)
    self.thread.start()

  def answer(self, s, req, body):
    """Writes the answer; False closes the connection."""
    url = urllib.parse.urlsplit(req.target.decode("latin-1"))
    q = dict(urllib.parse.parse_qsl(url.query))
    path = url.path
    with self.lock:
      self.counts[path] += 1
    close = any(b"close" in v.lower() for v in req.header(b"connection"))
    conn = b"Connection: close\r\n" if close else b""
    head_only = req.method == b"HEAD"
    if path == "/reset":
      _reset(s)
      return False
    if path == "/close-early":
      s.shutdown(socket.SHUT_RDWR)
      return False
    if path == "/reset-mid":
      n = int(q.get("n", "65536"))
      s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n + _body(n // 2))
      _reset(s)
      return False
    if path == "/slow":
      time.sleep(int(q.get("ms", "100")) / 1000.0)
    if path == "/chunked":
      n = int(q.get("n", "65536"))
      data = _body(n)
      out = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + conn + b"\r\n"]
      if not head_only:
        for i in range(0, n, 16384):
          piece = data[i:i + 16384]
          out.append(b"%x\r\n" % len(piece) + piece + b"\r\n")
        out.append(b"0\r\n\r\n")
      s.sendall(b"".join(out))
      return not close
    if path == "/status" or path.startswith("/status/"):
      code = int(q.get("code", path[len("/status/"):] or "200"))
      s.sendall(b"HTTP/1.1 %d Status\r\nContent-Length: 2\r\n%s\r\n" % (code, conn) +
                (b"" if head_only else b"ok"))
      return not close
    if path == "/big":
      payload = _body(int(q.get("n", "65536")))
    elif path == "/echo":
      payload = b"%d %08x" % (len(body), zlib.crc32(body))
    else:
      payload = b"ok"
    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(payload), conn) +
              (b"" if head_only else payload))
    return not close

  def stop(self):
    self.shutdown()
    self.server_close()


def _reset(s):
  # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
  s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
  s.close()


class FaultUpstreamProcess:
  """The same upstream in a child process, so its threads never compete with the
  caller's for the GIL (the caller measures latency)."""

  def __init__(self, idle_timeout=30.0):
    import subprocess
    import sys
    self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(idle_timeout)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = self.proc.stdout.readline()
    if not line:
      raise RuntimeError("fault upstream did not start")
    self.port = int(line)

  def stop(self):
    if self.proc.poll() is None:
      self.proc.stdin.close()  # the child exits when its stdin closes
      try:
        self.proc.wait(10)
      except Exception:
        self.proc.kill()
        self.proc.wait()


if __name__ == "__main__":
  import sys
  server = FaultUpstream(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0)
  print(server.port, flush=True)
  sys.stdin.read()  # until the parent closes the pipe (or dies)
  server.stop()
