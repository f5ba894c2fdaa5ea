#!/usr/bin/python3
"""Differential runs: the same raw request bytes through sidemeter, HAProxy and nginx, each
in front of its own recording upstream (tests/pysupport/recording_upstream.py), comparing
what each forwards and what each answers.

For every vector (corpus.py) and every proxy: one fresh client connection sends the raw
bytes in one write and reads until the proxy closes (or 4 s pass); then a probe request on
a fresh connection must come back 200 (the proxy still works); then everything its
upstream received since the vector began is split into requests by an independent strict
parser (strict_http.py) and compared with the vector's reading.

Safety properties asserted for sidemeter (the peers are only reported):
  S1 what it forwards re-parses cleanly (every byte belongs to a complete, unambiguously
     framed request, or to one cut short on a connection it then closed; field rules
     included: nothing a strict recipient would refuse) into exactly the
     first k requests of the vector's reading: same method, target and body bytes. So
     nothing is smuggled (EVIL appears only where the reading has it as a request of its
     own) and a body is never changed, cut or extended. A vector with no valid reading
     gets nothing forwarded.
  S2 it forwards nothing that both HAProxy and nginx refuse, unless the vector is in
     ALLOW_MORE_LENIENT with the reason.
  S3 it answers the probe after every vector, and is still running at the end.
The full table is printed whatever the outcome; "stricter than both peers" rows (valid
input that sidemeter refuses and both peers forward) are listed as usability gaps.

Usage: differential_test.py [--only NAME ...] (SIDEMETER_BIN names the binary).
"""
import argparse
import os
import shutil
import socket
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pysupport"))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
from procs import Peer, Sidemeter, find_tool, http_get  # noqa: E402
from recording_upstream import RecordingUpstream  # noqa: E402
from strict_http import normalize_target, parse_requests, read_responses  # noqa: E402

# Inputs sidemeter may forward although both peers refuse them: name -> reason.
ALLOW_MORE_LENIENT = {}

CLIENT_DEADLINE_S = 4.0
PROXIES = ["sidemeter", "haproxy", "nginx"]


class Outcome:
  def __init__(self):
    self.statuses = []
    self.client_note = ""
    self.probe = None
    self.forwarded = []  # [(method, target, body)] complete requests in arrival order
    self.defects = []  # field-level violations in what was forwarded (strict_http)
    self.partial = False  # a request cut short reached the upstream
    self.dangling = False  # ... and its upstream connection was left open
    self.invalid = ""  # the strict parser's complaint about unframeable upstream bytes
    self.verdict = ""  # refused | forwarded | UNSAFE
    self.kind = ""  # why UNSAFE: BADBYTES, NOREADING, SMUGGLED, EXTRA, DIFFERS
    self.k = 0


def client_exchange(port, raw, methods):
  out = b""
  note = ""
  deadline = time.monotonic() + CLIENT_DEADLINE_S
  try:
    s = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_DEADLINE_S)
  except OSError as e:
    return [], f"connect: {e}"
  with s:
    try:
      s.sendall(raw)
    except OSError as e:  # refused mid-body: what was answered is still worth reading
      note = f"send: {e.strerror or e}"
    while True:
      left = deadline - time.monotonic()
      if left <= 0:
        note = note or "open at deadline"
        break
      s.settimeout(left)
      try:
        b = s.recv(65536)
      except socket.timeout:
        note = note or "open at deadline"
        break
      except OSError as e:
        note = note or f"recv: {e.strerror or e}"
        break
      if not b:
        break
      out += b
  statuses, rnote = read_responses(out, methods)
  return statuses, "; ".join(x for x in (note, rnote) if x)


def judge(vector, segs, o):
  found = []
  for _cid, data, closed, arrivals in segs:
    reqs, state, _rest = parse_requests(data)
    for r in reqs:
      if r.target.startswith(b"/__probe/"):
        continue
      seq = max(s for s, off in arrivals if off <= r.offset)
      found.append((seq, r.offset, r))
    if state == "incomplete":
      o.partial = True
      # Left open, the upstream would take whatever comes next on it as this body.
      o.dangling |= not closed
    elif state != "complete":
      o.invalid = state
  found.sort(key=lambda t: t[:2])
  o.forwarded = [(r.method, normalize_target(r.target), r.body) for _, _, r in found]
  o.defects = sorted({d for _, _, r in found for d in r.defects})
  reading = [(m, normalize_target(t), b) for m, t, b in (vector.reading or [])]
  o.k = len(o.forwarded)
  o.verdict = "UNSAFE"
  if o.invalid:
    o.kind = "BADBYTES"
  elif o.dangling:
    o.kind = "DANGLING"
  elif not o.forwarded:
    o.verdict = "refused"
  elif vector.reading is None:
    o.kind = "NOREADING"
  elif o.forwarded == reading[:o.k]:
    o.verdict = "forwarded"
  elif any(f == corpus.EVIL_R for f in o.forwarded) and corpus.EVIL_R not in reading:
    o.kind = "SMUGGLED"
  elif o.k > len(reading):
    o.kind = "EXTRA"
  else:
    o.kind = "DIFFERS"


def run_proxy(name, port, upstream, vectors, results):
  for i, v in enumerate(vectors):
    o = Outcome()
    mark = upstream.mark()
    o.statuses, o.client_note = client_exchange(port, v.raw, v.methods())
    o.probe, _ = http_get(port, f"/__probe/{i}", timeout=10.0)
    judge(v, upstream.since(mark), o)
    results[name][v.name] = o


def cell(v, o):
  st = ",".join(str(s) for s in o.statuses) or ("…" if "deadline" in o.client_note else "—")
  n = len(v.reading or [])
  if o.verdict == "refused":
    fwd = "p" if o.partial else "-"
  elif o.verdict == "forwarded":
    fwd = f"{o.k}/{n}"
  else:
    fwd = f"{o.kind}({o.k})"
  if o.defects:
    fwd += "*"
  return f"{st} {fwd}"


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--only", nargs="*", default=None)
  args = ap.parse_args()
  missing = [t for t in ("haproxy", "nginx") if not find_tool(t)]
  if missing:
    print(f"SKIP: {', '.join(missing)} not installed (deploy/install-deps.sh --test)")
    return 77
  vectors = corpus.vectors()
  if args.only:
    vectors = [v for v in vectors if v.name in args.only]
  work = tempfile.mkdtemp(prefix="sidemeter-diff-")
  upstreams = {p: RecordingUpstream() for p in PROXIES}
  sm = Sidemeter(f"""listen: 127.0.0.1:0
workers: 2
stats:
  address: 127.0.0.1:0
upstream:
  address: 127.0.0.1:{upstreams['sidemeter'].port}
timeouts:
  request_header: 3s
  downstream_idle: 3s
  upstream_response: 5s
""", work)
  peers = {}
  try:
    ports = {"sidemeter": sm.wait_listening()}
    for kind in ("haproxy", "nginx"):
      peers[kind] = Peer(kind, work, upstreams[kind].port)
      ports[kind] = peers[kind].listen_port
    for name in PROXIES:  # each must answer before the vectors start
      status, err = http_get(ports[name], "/__probe/start", timeout=20.0)
      if status != 200:
        log = sm.log_text() if name == "sidemeter" else peers[name].log_text()
        raise RuntimeError(f"{name} does not forward a plain GET: {status} {err}\n{log}")
    results = {p: {} for p in PROXIES}
    t0 = time.monotonic()
    threads = [threading.Thread(target=run_proxy, args=(p, ports[p], upstreams[p], vectors, results))
               for p in PROXIES]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
    elapsed = time.monotonic() - t0
    alive = {"sidemeter": sm.alive(), **{k: p.alive() for k, p in peers.items()}}
    versions = {k: p.version() for k, p in peers.items()}
  finally:
    sm_rc = sm.stop()
    for p in peers.values():
      p.stop()
    for u in upstreams.values():
      u.stop()
  rc = report(vectors, results, alive, versions, elapsed, sm_rc, sm)
  if rc == 0:
    shutil.rmtree(work, ignore_errors=True)
  else:
    print(f"peer configurations and logs kept in {work}")
  return rc


def report(vectors, results, alive, versions, elapsed, sm_rc, sm):
  print(f"differential run: {len(vectors)} vectors through sidemeter, {versions['haproxy']}, "
        f"{versions['nginx']} in {elapsed:.1f} s")
  print("cell: the statuses the client got (— none, … connection still open after 4 s), then"
        " what reached the upstream: - nothing, p a request cut short, k/n the first k of the"
        " n requests in the vector's reading; or UNSAFE as SMUGGLED (/evil as a request of its"
        " own), EXTRA (more requests than the reading), DIFFERS (method, target or body),"
        " NOREADING (the input has no valid framing, yet something went on), BADBYTES (what"
        " went on does not frame cleanly), DANGLING (a request cut short on an upstream"
        " connection left open); * the forwarded bytes break a field rule (a strict"
        " upstream would refuse them)")
  w = max(len(v.name) for v in vectors)
  cols = [max(14, max(len(cell(v, results[p][v.name])) for v in vectors)) for p in PROXIES]
  header = f"{'vector':<{w}}  {'src':<9} {'valid':<5} " + " ".join(
      f"{p:<{c}}" for p, c in zip(PROXIES, cols)) + " note"
  print(header)
  print("-" * len(header))
  failures, stricter, stricter_one, lenient_allowed, peer_unsafe = [], [], [], [], []
  for v in vectors:
    o = {p: results[p][v.name] for p in PROXIES}
    s, h, n = o["sidemeter"], o["haproxy"], o["nginx"]
    notes = []
    if s.verdict == "UNSAFE" or s.defects:
      failures.append(f"S1 {v.name}: sidemeter forwarded {s.kind or 'nonconforming'} "
                      f"{s.forwarded[:3]!r:.300} {s.invalid} {s.defects} "
                      f"(reading {v.reading!r:.200})")
      notes.append("S1 FAIL")
    peers_refused = h.verdict == "refused" and n.verdict == "refused"
    if s.k > 0 and peers_refused:
      if v.name in ALLOW_MORE_LENIENT:
        lenient_allowed.append(f"{v.name}: {ALLOW_MORE_LENIENT[v.name]}")
        notes.append("laxer (allowed)")
      else:
        failures.append(f"S2 {v.name}: sidemeter forwarded what both peers refuse")
        notes.append("S2 FAIL")
    if s.probe != 200:
      failures.append(f"S3 {v.name}: the probe after it got {s.probe}")
      notes.append("S3 FAIL")
    ok_peers = [p for p in ("haproxy", "nginx") if o[p].verdict == "forwarded"]
    if s.verdict == "refused" and ok_peers:
      (stricter if len(ok_peers) == 2 else stricter_one).append(v.name)
      notes.append("stricter than " + ("both" if len(ok_peers) == 2 else ok_peers[0]))
    for p in ("haproxy", "nginx"):
      if o[p].verdict == "UNSAFE" or o[p].defects:
        peer_unsafe.append(f"{p} {v.name}: {o[p].kind or 'nonconforming'} "
                           f"{o[p].forwarded[:3]!r:.160} {o[p].invalid} {o[p].defects}")
      if o[p].probe != 200:
        notes.append(f"{p} probe {o[p].probe}")
    classes = {p: sorted({x // 100 for x in o[p].statuses}) for p in PROXIES}
    if classes["sidemeter"] != classes["haproxy"] and classes["sidemeter"] != classes["nginx"]:
      notes.append("status class differs from both")
    print(f"{v.name:<{w}}  {v.source:<9} {'yes' if v.valid else 'no':<5} " +
          " ".join(f"{cell(v, o[p]):<{c}}" for p, c in zip(PROXIES, cols)) + " " +
          "; ".join(notes))
  if not alive["sidemeter"]:
    failures.append(f"S3 sidemeter is not running at the end (exit {sm_rc})")
  elif sm_rc != 0:
    failures.append(f"S3 sidemeter exited {sm_rc} on SIGTERM")
  print()
  valid = {v.name for v in vectors if v.valid}
  print(f"sidemeter stricter than both peers on valid input: "
        f"{', '.join(n for n in stricter if n in valid) or 'none'}")
  print(f"sidemeter stricter than both peers on invalid input: "
        f"{', '.join(n for n in stricter if n not in valid) or 'none'}")
  print(f"sidemeter stricter than one peer: {', '.join(stricter_one) or 'none'}")
  print(f"forwarded although both peers refuse, allowed ({len(lenient_allowed)}):")
  for line in lenient_allowed:
    print("  " + line)
  print(f"peers forwarding outside the reading ({len(peer_unsafe)}):")
  for line in peer_unsafe:
    print("  " + line)
  print(f"failures ({len(failures)}):")
  for line in failures:
    print("  " + line)
  if failures:
    print(sm.log_text(30))
  return 1 if failures else 0


if __name__ == "__main__":
  sys.exit(main())
