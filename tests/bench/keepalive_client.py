#!/usr/bin/env python3
"""Sends N sequential requests on one keep-alive connection and checks each response.

Usage: keepalive_client.py PORT PATH N   (exit 0 when all N got 200)
Understands Content-Length and chunked bodies, which is all the bench backend sends.
"""
import socket
import sys


class Reader:
  def __init__(self, sock):
    self.sock, self.buf = sock, b""

  def _fill(self):
    chunk = self.sock.recv(262144)
    if not chunk:
      raise ConnectionError("closed by peer")
    self.buf += chunk

  def line(self):
    while b"\r\n" not in self.buf:
      self._fill()
    line, self.buf = self.buf.split(b"\r\n", 1)
    return line

  def skip(self, n):
    while len(self.buf) < n:
      self._fill()
    self.buf = self.buf[n:]

  def response(self):
    status = int(self.line().split()[1])
    length, chunked = 0, False
    while True:
      line = self.line()
      if not line:
        break
      name, _, value = line.partition(b":")
      name = name.strip().lower()
      if name == b"content-length":
        length = int(value)
      elif name == b"transfer-encoding" and b"chunked" in value.lower():
        chunked = True
    if not chunked:
      self.skip(length)
      return status
    while True:
      size = int(self.line().split(b";")[0], 16)
      if size == 0:
        while self.line():  # trailers, then the empty line
          pass
        return status
      self.skip(size + 2)


def run(port, path, count, timeout=30.0):
  request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
  with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
    reader = Reader(s)
    ok = 0
    for _ in range(count):
      s.sendall(request)
      if reader.response() == 200:
        ok += 1
  return ok


if __name__ == "__main__":
  port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
  got = run(port, path, n)
  print(f"{got}/{n} ok")
  sys.exit(0 if got == n else 1)
