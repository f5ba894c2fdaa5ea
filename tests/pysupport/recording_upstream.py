"""An upstream that records every byte it receives, per connection and in arrival order,
and answers each request it can frame (strict_http) with a small 200.

One thread runs a selector loop. snapshot() runs inside that loop after reading whatever
is already waiting on every connection, so "what has arrived by now" has no race with the
loop: a caller that has seen a response the loop wrote for request N also sees every byte
that was in the socket buffers before it asked.
"""
import selectors
import socket
import threading

from strict_http import Incomplete, Invalid, parse_request


class Conn:
  def __init__(self, cid, sock):
    self.id = cid
    self.sock = sock
    self.data = bytearray()
    self.chunks = []  # (global sequence, offset in data) of each recv
    self.parsed = 0  # bytes answered so far
    self.continued = -1  # offset of the head a 100 Continue was sent for
    self.closed = False  # by the peer or by us
    self.garbage = False


class RecordingUpstream:
  def __init__(self, answer_body=b"ok"):
    self.lsock = socket.socket()
    self.lsock.bind(("127.0.0.1", 0))
    self.lsock.listen(512)
    self.lsock.setblocking(False)
    self.port = self.lsock.getsockname()[1]
    self.answer_body = answer_body
    self.sel = selectors.DefaultSelector()
    self.sel.register(self.lsock, selectors.EVENT_READ, "accept")
    self.wake_r, self.wake_w = socket.socketpair()
    self.wake_r.setblocking(False)
    self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
    self.conns = []
    self.seq = 0
    self.calls = []
    self.lock = threading.Lock()
    self.stopping = False
    self.thread = threading.Thread(target=self._loop, daemon=True)
    self.thread.start()

  # ------------------------------------------------------------ loop
  def _loop(self):
    while not self.stopping:
      for key, _ in self.sel.select(timeout=1.0):
        self._ready(key)
      self._run_calls()
    for c in self.conns:
      if not c.closed:
        c.sock.close()
    self.lsock.close()

  def _ready(self, key):
    if key.data == "accept":
      try:
        s, _ = self.lsock.accept()
      except BlockingIOError:
        return
      s.setblocking(False)
      c = Conn(len(self.conns), s)
      self.conns.append(c)
      self.sel.register(s, selectors.EVENT_READ, c)
    elif key.data == "wake":
      try:
        self.wake_r.recv(4096)
      except BlockingIOError:
        pass
    else:
      self._read(key.data)

  def _read(self, c):
    try:
      b = c.sock.recv(262144)
    except BlockingIOError:
      return
    except OSError:
      b = b""
    if not b:
      self._close(c)
      return
    self.seq += 1
    c.chunks.append((self.seq, len(c.data)))
    c.data += b
    self._answer(c)

  def _close(self, c):
    if not c.closed:
      self.sel.unregister(c.sock)
      c.sock.close()
      c.closed = True

  def _answer(self, c):
    data = bytes(c.data)
    while c.parsed < len(data) and not c.garbage:
      try:
        req, end = parse_request(data, c.parsed)
      except Incomplete:
        self._maybe_continue(c, data)
        return
      except Invalid:
        # Not something a clean forwarder sends: answer once and close, so the proxy is
        # not left waiting; the bytes stay recorded for the verdict.
        c.garbage = True
        self._send(c, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        self._close(c)
        return
      c.parsed = end
      close = any(b"close" in v.lower() for v in req.header(b"connection")) or \
          req.version == b"HTTP/1.0"
      body = b"" if req.method == b"HEAD" else self.answer_body
      # An origin server that is no proxy refuses CONNECT (a 2xx would turn the rest of
      # the connection into a tunnel and its bytes into no request at all).
      status = b"405 Method Not Allowed" if req.method == b"CONNECT" else b"200 OK"
      head = b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n" % (
          status, len(self.answer_body), b"Connection: close\r\n" if close else b"")
      self._send(c, head + body)
      if close:
        self._close(c)
        return

  def _maybe_continue(self, c, data):
    # A forwarder that passes Expect: 100-continue on waits for the 100 before the body.
    if c.continued == c.parsed:
      return
    try:
      req, _ = parse_request(data, c.parsed, head_only=True)
    except (Incomplete, Invalid):
      return
    if any(v.lower() == b"100-continue" for v in req.header(b"expect")):
      c.continued = c.parsed
      self._send(c, b"HTTP/1.1 100 Continue\r\n\r\n")

  def _send(self, c, b):
    c.sock.setblocking(True)
    try:
      c.sock.sendall(b)
    except OSError:
      pass
    c.sock.setblocking(False)

  def _run_calls(self):
    with self.lock:
      calls, self.calls = self.calls, []
    if not calls:
      return
    self._drain()
    for fn, box, ev in calls:
      box.append(fn())
      ev.set()

  def _drain(self):
    # Everything already queued on any connection is read before a snapshot.
    while True:
      ready = self.sel.select(timeout=0)
      progressed = False
      for key, _ in ready:
        if key.data not in ("accept", "wake"):
          before = len(key.data.data), key.data.closed
          self._read(key.data)
          progressed |= (len(key.data.data), key.data.closed) != before
        else:
          self._ready(key)
          progressed |= key.data == "accept"
      if not progressed:
        return

  def _call(self, fn):
    ev = threading.Event()
    box = []
    with self.lock:
      self.calls.append((fn, box, ev))
    self.wake_w.send(b"x")
    if not ev.wait(10):
      raise RuntimeError("recording upstream loop stuck")
    return box[0]

  # ------------------------------------------------------------ API
  def mark(self):
    """Opaque position: what has been received so far on every connection."""
    return self._call(lambda: {c.id: len(c.data) for c in self.conns})

  def since(self, mark):
    """What arrived after `mark`: [(connection id, bytes, closed, arrivals)] for each
    connection that received something; arrivals = [(global sequence, offset in bytes)]
    of each recv, so requests on different connections can be put in arrival order."""
    def take():
      out = []
      for c in self.conns:
        start = mark.get(c.id, 0)
        if len(c.data) <= start:
          continue
        arrivals = [(seq, max(0, off - start)) for i, (seq, off) in enumerate(c.chunks)
                    if i + 1 == len(c.chunks) or c.chunks[i + 1][1] > start]
        out.append((c.id, bytes(c.data[start:]), c.closed, arrivals))
      return out
    return self._call(take)

  def total_bytes(self):
    return self._call(lambda: sum(len(c.data) for c in self.conns))

  def stop(self):
    self.stopping = True
    self.wake_w.send(b"x")
    self.thread.join(5)
