"""An independent, strict RFC 9112 request parser (and a lenient response reader), written
for the harnesses from the RFC text, sharing no code with sidemeter's parser.

parse_requests(data) splits what an upstream received into requests and says whether the
bytes parse cleanly: a forwarder's output must be unambiguous to ANY recipient, so this
accepts only what RFC 9112 says a sender may generate (CRLF only, no obs-fold, exactly one
framing, one Content-Length value, chunked last and once). Anything else is "invalid":
bytes that two recipients could frame differently.

read_responses(data, methods) splits what a client received into statuses.
"""
import re

TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789"
                  b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# field-value octets: VCHAR, obs-text, SP, HTAB (RFC 9110 §5.5)
_VALUE_OK = frozenset(list(range(0x21, 0x7F)) + list(range(0x80, 0x100)) + [0x20, 0x09])
_TARGET_OK = frozenset(range(0x21, 0x7F))  # no CTL, no SP, no obs-text (RFC 3986 chars)
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
# chunk = chunk-size [ chunk-ext ] CRLF; chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS val ] )
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})((?:[ \t]*;[ \t]*" + _TOKEN +
                         rb"(?:[ \t]*=[ \t]*(?:" + _TOKEN + rb"|" + _QUOTED + rb"))?)*)")
# Host = uri-host [ ":" port ] (RFC 9110 §7.2): reg-name, IPv4 or an IP literal.
_HOST = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*(?::[0-9]{0,5})?|"
                   rb"\[[0-9A-Fa-f:.]+\](?::[0-9]{0,5})?")
MAX_HEAD = 1 << 20


class Incomplete(Exception):
  pass


class Invalid(Exception):
  pass


class Request:
  def __init__(self, method, target, version, fields, body, framing, trailers, defects):
    self.method = method
    self.target = target
    self.version = version
    self.fields = fields  # [(name bytes, value bytes)]
    self.body = body
    self.framing = framing  # "content-length", "chunked" or "none"
    self.trailers = trailers
    self.defects = defects  # field-level violations that leave the framing unambiguous

  def header(self, name):
    name = name.lower()
    return [v for n, v in self.fields if n.lower() == name]

  def __repr__(self):
    return f"{self.method.decode('latin-1')} {self.target.decode('latin-1')} body={len(self.body)}"


def _line(buf, pos):
  end = buf.find(b"\r\n", pos)
  if end < 0:
    if len(buf) - pos > MAX_HEAD:
      raise Invalid("line too long")
    raise Incomplete()
  line = buf[pos:end]
  if b"\r" in line or b"\n" in line:
    raise Invalid("bare CR or LF")
  return line, end + 2


_FRAMING = (b"content-length", b"transfer-encoding")


def _fields(buf, pos, defects):
  """Field lines up to the empty line. A defect that could change the framing raises
  Invalid; one that cannot (a bad name or value elsewhere) is appended to `defects`: the
  message still frames one way only, but a strict recipient would refuse it."""
  fields = []
  while True:
    line, pos = _line(buf, pos)
    if not line:
      return fields, pos
    if line[0] in b" \t":
      raise Invalid("obs-fold or whitespace-led line")
    name, colon, value = line.partition(b":")
    if not colon:
      raise Invalid(f"field line without a colon {line[:40]!r}")
    value = value.strip(b" \t")
    framing = name.strip(b" \t").lower() in _FRAMING
    if not name or any(c not in TCHAR for c in name):
      if framing:
        raise Invalid(f"bad framing field name {name!r}")
      defects.append(f"field name {name[:20]!r}")
    elif any(c not in _VALUE_OK for c in value):
      if framing:
        raise Invalid(f"bad value in {name!r}")
      defects.append(f"value of {name[:20]!r}")
    fields.append((name, value))


def _list(values):
  items = []
  for v in values:
    items += [e.strip(b" \t").lower() for e in v.split(b",")]
  return [e for e in items if e]


def _chunked(buf, pos, defects):
  body = bytearray()
  while True:
    line, pos = _line(buf, pos)
    m = _CHUNK_LINE.fullmatch(line)
    if not m:
      raise Invalid(f"bad chunk line {line[:40]!r}")
    size = int(m.group(1), 16)
    if size == 0:
      trailers, pos = _fields(buf, pos, defects)
      for n, _ in trailers:
        if n.lower() in (b"content-length", b"transfer-encoding", b"host"):
          defects.append(f"{n.decode('latin-1')} in trailers")  # RFC 9110 §6.5.1
      return bytes(body), trailers, pos
    if len(buf) < pos + size + 2:
      raise Incomplete()
    body += buf[pos:pos + size]
    if buf[pos + size:pos + size + 2] != b"\r\n":
      raise Invalid("chunk data not followed by CRLF")
    pos += size + 2


def parse_request(buf, pos=0, head_only=False):
  """One request from buf[pos:] -> (Request, end). Raises Incomplete or Invalid.
  head_only: stop after the head (body empty, end = where the body starts)."""
  line, p = _line(buf, pos)
  parts = line.split(b" ")
  if len(parts) != 3:
    raise Invalid(f"request line {line[:80]!r}")
  method, target, version = parts
  if not method or any(c not in TCHAR for c in method):
    raise Invalid("method")
  if not _VERSION.fullmatch(version):
    raise Invalid("version")
  if not target:
    raise Invalid("target")
  defects = []
  if any(c not in _TARGET_OK for c in target) or b"#" in target:
    defects.append("target octets")
  fields, p = _fields(buf, p, defects)
  hosts = [v for n, v in fields if n.lower() == b"host"]
  if version == b"HTTP/1.1" and len(hosts) != 1:
    defects.append(f"{len(hosts)} Host fields")
  for h in hosts:
    if not _HOST.fullmatch(h):
      defects.append(f"Host {h[:30]!r}")
  te = [v for n, v in fields if n.lower() == b"transfer-encoding"]
  cl = [v for n, v in fields if n.lower() == b"content-length"]
  if head_only:
    return Request(method, target, version, fields, b"", "head", [], defects), p
  if te:
    if cl:
      raise Invalid("Content-Length with Transfer-Encoding")
    if version != b"HTTP/1.1":
      raise Invalid("Transfer-Encoding in HTTP/1.0")
    codings = _list(te)
    if not codings or codings[-1] != b"chunked" or codings.count(b"chunked") != 1:
      raise Invalid(f"Transfer-Encoding {b', '.join(codings)!r}")
    body, trailers, end = _chunked(buf, p, defects)
    return Request(method, target, version, fields, body, "chunked", trailers, defects), end
  if cl:
    if len(cl) != 1 or not re.fullmatch(rb"[0-9]{1,18}", cl[0]):
      raise Invalid(f"Content-Length {cl!r}")
    n = int(cl[0])
    if len(buf) < p + n:
      raise Incomplete()
    return (Request(method, target, version, fields, buf[p:p + n], "content-length", [], defects),
            p + n)
  return Request(method, target, version, fields, b"", "none", [], defects), p


def parse_requests(data):
  """All requests in data -> (requests, state, rest), state one of "complete" (every byte
  belongs to a request), "incomplete" (a request is cut short at the end), "invalid"."""
  out = []
  pos = 0
  while pos < len(data):
    try:
      req, end = parse_request(data, pos)
    except Incomplete:
      return out, "incomplete", data[pos:]
    except Invalid as e:
      return out, f"invalid: {e}", data[pos:]
    req.offset = pos
    pos = end
    out.append(req)
  return out, "complete", b""


def normalize_target(target):
  """absolute-form http://host/path -> /path, so an origin-form forward compares equal."""
  m = re.fullmatch(rb"[Hh][Tt][Tt][Pp]://[^/?]*([/?].*)?", target)
  if not m:
    return target
  rest = m.group(1) or b"/"
  return rest if rest.startswith(b"/") else b"/" + rest


# ---------------------------------------------------------------- responses (lenient)
def _resp_head(buf, pos):
  end = buf.find(b"\r\n\r\n", pos)
  sep = 4
  lf = buf.find(b"\n\n", pos)
  if lf >= 0 and (end < 0 or lf < end):
    end, sep = lf, 2
  if end < 0:
    raise Incomplete()
  return buf[pos:end], end + sep


def read_responses(data, methods=()):
  """Statuses of the responses in data (interim 1xx left out), in order. methods: the
  request methods in order (HEAD responses have no body); missing ones count as GET.
  Returns (statuses, note): note is "" when data ends on a response boundary."""
  statuses = []
  pos = 0
  idx = 0
  while pos < len(data):
    try:
      head, body_at = _resp_head(data, pos)
    except Incomplete:
      return statuses, "truncated head"
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    m = re.match(rb"HTTP/\d\.\d (\d{3})", lines[0])
    if not m:
      return statuses, f"garbage {lines[0][:40]!r}"
    status = int(m.group(1))
    fields = {}
    for l in lines[1:]:
      n, _, v = l.partition(b":")
      fields.setdefault(n.strip().lower(), v.strip())
    pos = body_at
    if 100 <= status < 200:
      continue
    method = methods[idx] if idx < len(methods) else b"GET"
    idx += 1
    statuses.append(status)
    if method == b"HEAD" or status in (204, 304):
      continue
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
      try:
        _, _, pos = _chunked_lenient(data, pos)
      except Incomplete:
        return statuses, "truncated body"
    elif b"content-length" in fields:
      n = int(fields[b"content-length"])
      if len(data) < pos + n:
        return statuses, "truncated body"
      pos += n
    else:
      return statuses, ""  # close-delimited: the rest is its body
  return statuses, ""


def _chunked_lenient(buf, pos):
  while True:
    end = buf.find(b"\r\n", pos)
    if end < 0:
      raise Incomplete()
    size = int(buf[pos:end].split(b";")[0].strip() or b"0", 16)
    pos = end + 2
    if size == 0:
      end = buf.find(b"\r\n\r\n", pos - 2)
      if end < 0:
        raise Incomplete()
      return None, None, end + 4
    pos += size + 2
    if pos > len(buf):
      raise Incomplete()
