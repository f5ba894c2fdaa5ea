"""The container image, built for real and run the way a container engine would run it.

deploy/image/build.sh builds deploy/Dockerfile with buildah (reusing the Debian 12 base and,
when its inputs are unchanged, the image). Then the image's own root filesystem, mounted by
`buildah mount`, is bind-mounted READ-ONLY in a private mount namespace (with /proc, as an
engine gives), and its /usr/local/bin/sidemeter runs there under chroot as uid/gid 65532,
sharing the host's loopback. Checked:
  - the image's config: user 65532:65532, STOPSIGNAL SIGTERM, no --demo, OCI labels, the
    version label = meson's project version = the Dockerfile's default = `--version`;
  - `/readyz` on the stats port answers 200, a request is proxied to a backend on loopback
    and the backend's answer comes back, nothing is logged at level error (a write to the
    read-only root would be);
  - SIGTERM: exit 0 after the drain ("drained" logged), well within the drain timeout.
Prints the image size and the time of each step (wall and CPU).

Needs root (buildah with vfs storage and chroot isolation, mount, chroot) and buildah +
debootstrap (deploy/install-deps.sh --test); otherwise it is skipped (exit 77).
Standard library only.
"""
import http.server
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "pysupport"))

from procs import EventLog  # noqa: E402
ENV = dict(os.environ, BUILDAH_ISOLATION=os.environ.get("BUILDAH_ISOLATION", "chroot"))
# As deploy/image/build.sh: buildah 1.28 takes the storage driver from its flag only.
DRIVER = os.environ.get("STORAGE_DRIVER", "vfs")
UID = 65532
DRAIN_TIMEOUT_S = 30  # the binary's default timeouts.drain_timeout

failures = []


def check(cond, what):
  print(("ok   " if cond else "FAIL ") + what, flush=True)
  if not cond:
    failures.append(what)
  return cond


def cpu_children():
  r = resource.getrusage(resource.RUSAGE_CHILDREN)
  return r.ru_utime + r.ru_stime


def buildah(*args, check_rc=True):
  r = subprocess.run(["buildah", "--storage-driver", DRIVER, *args], env=ENV, capture_output=True, text=True)
  if check_rc and r.returncode != 0:
    raise RuntimeError(f"buildah {' '.join(args)}: {r.stderr.strip()}")
  return r.stdout.strip()


def meson_version():
  out = subprocess.run(["meson", "introspect", "--projectinfo", os.path.join(REPO, "meson.build")],
                       capture_output=True, text=True, check=True).stdout
  return json.loads(out)["version"]


class Backend:
  """The app: answers every GET with a body naming the path; records what it received."""

  def __init__(self):
    self.seen = []
    outer = self

    class Handler(http.server.BaseHTTPRequestHandler):
      protocol_version = "HTTP/1.1"

      def do_GET(self):
        outer.seen.append((self.path, dict(self.headers)))
        body = f"backend saw {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

      def log_message(self, *a):
        pass

    self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    self.port = self.server.server_address[1]
    threading.Thread(target=self.server.serve_forever, daemon=True).start()

  def close(self):
    self.server.shutdown()
    self.server.server_close()


# Runs as root in a private mount namespace (its mounts vanish with it, whatever happens):
# the image's root bind-mounted read-only at $2, proc on $2/proc, a write probe proving the
# root is read-only, then the binary under chroot as 65532:65532 (exec all the way down, so
# the process we started IS sidemeter and gets our signals).
RUNNER = r'''
set -e
mount --bind "$1" "$2"
mount -o remount,bind,ro "$2"
mount -t proc proc "$2/proc"
if touch "$2/.rw-probe" 2>/dev/null; then echo "the root is not read-only" >&2; exit 97; fi
root=$2
shift 2
exec chroot --userspec=65532:65532 "$root" /usr/local/bin/sidemeter "$@"
'''


def run_in_image(mnt, target, args, **kw):
  return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--",
                           "sh", "-c", RUNNER, "runner", mnt, target, *args], **kw)


def http_get(url, timeout=10):
  try:
    with urllib.request.urlopen(url, timeout=timeout) as r:
      return r.status, r.read().decode()
  except urllib.error.HTTPError as e:
    return e.code, e.read().decode()


def main():
  if os.geteuid() != 0:
    print("SKIP: needs root (buildah vfs + chroot isolation, mount, chroot)")
    return 77
  for tool in ("buildah", "debootstrap", "unshare", "chroot"):
    if not shutil.which(tool):
      print(f"SKIP: {tool} missing (bash deploy/install-deps.sh --test)")
      return 77
  version = meson_version()
  timings = []

  # 1. Build (or reuse) the image.
  t0, c0 = time.monotonic(), cpu_children()
  b = subprocess.run(["bash", os.path.join(REPO, "deploy/image/build.sh")], env=ENV,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
  # Its own lines (steps, timings, size); the tools' output only when it failed.
  print("\n".join(l for l in b.stderr.splitlines() if l.startswith("build.sh: ")), flush=True)
  if not check(b.returncode == 0, f"deploy/image/build.sh exits 0 (got {b.returncode})"):
    print(b.stderr[-8000:])
    return 1
  timings.append(("build.sh", time.monotonic() - t0, cpu_children() - c0))
  last = b.stdout.strip().splitlines()[-1].split()
  image, size = last[1], " ".join(last[3:])
  check(image.endswith(f"sidemeter:{version}"), f"tagged sidemeter:{version} ({image})")

  # 2. Its configuration.
  t0, c0 = time.monotonic(), cpu_children()
  cfg = json.loads(buildah("inspect", "--type", "image", image))["OCIv1"]["config"]
  labels = cfg.get("Labels") or {}
  check(cfg.get("User") == f"{UID}:{UID}", f"USER {UID}:{UID} ({cfg.get('User')})")
  check(cfg.get("StopSignal") == "SIGTERM", f"STOPSIGNAL SIGTERM ({cfg.get('StopSignal')})")
  argv = (cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])
  check(argv[:1] == ["/usr/local/bin/sidemeter"] and "--demo" not in argv,
        f"runs sidemeter, no demo by default ({argv})")
  check(labels.get("org.opencontainers.image.version") == version,
        f"label org.opencontainers.image.version = {version} ({labels.get('org.opencontainers.image.version')})")
  for key in ("title", "description", "licenses", "revision"):
    check(bool(labels.get(f"org.opencontainers.image.{key}")), f"label org.opencontainers.image.{key}")
  with open(os.path.join(REPO, "deploy/Dockerfile")) as f:
    m = re.search(r"^ARG SIDEMETER_VERSION=(\S+)$", f.read(), re.M)
  check(m is not None and m.group(1) == version,
        f"the Dockerfile's default SIDEMETER_VERSION is meson's {version} ({m and m.group(1)})")

  # 3. Run the image's binary from its read-only root filesystem as uid 65532.
  # A run killed outright (SIGKILL) leaves its working container behind (a full copy under
  # vfs): remove those of runs no longer alive.
  for name in buildah("containers", "--format", "{{.ContainerName}}").split():
    m = re.fullmatch(r"sidemeter-image-test-(\d+)", name)
    if m and not os.path.exists(f"/proc/{m.group(1)}"):
      buildah("rm", name, check_rc=False)
  ctr = buildah("from", "--pull=never", "--name", f"sidemeter-image-test-{os.getpid()}", image)
  target = tempfile.mkdtemp(prefix="sidemeter-image-root-")
  backend = proc = None
  root_bytes = 0

  def cleanup(*_):
    if proc is not None and proc.poll() is None:
      proc.kill()
      proc.wait()
    buildah("umount", ctr, check_rc=False)
    buildah("rm", ctr, check_rc=False)
    shutil.rmtree(target, ignore_errors=True)

  # meson's timeout sends SIGTERM: clean up then too.
  signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
  try:
    mnt = buildah("mount", ctr)
    check(os.path.isfile(os.path.join(mnt, "usr/local/bin/sidemeter")), "the image holds /usr/local/bin/sidemeter")
    # Multi-stage: the runtime stage holds the binary and its libraries, not the toolchain.
    leaked = [p for p in ("usr/bin/g++", "usr/bin/meson", "usr/bin/ninja", "usr/bin/protoc", "src", "build")
              if os.path.exists(os.path.join(mnt, p))]
    check(not leaked, f"no build tools or sources in the runtime image ({leaked})")
    root_bytes = int(subprocess.run(["du", "-sb", mnt], capture_output=True, text=True).stdout.split()[0])

    v = run_in_image(mnt, target, ["--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = v.communicate(timeout=60)
    check(v.returncode == 0 and out.decode().strip() == f"sidemeter {version}",
          f"--version prints 'sidemeter {version}' (rc {v.returncode}, {out!r} {err.decode().strip()!r})")

    backend = Backend()
    proc = run_in_image(mnt, target, ["--listen", "127.0.0.1:0", "--stats", "127.0.0.1:0",
                                      "--upstream", f"127.0.0.1:{backend.port}", "--workers", "2"],
                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = EventLog(proc.stderr)
    listening = next(iter(log.wait_event("listening", timeout=60)), None)
    if not check(listening is not None, "starts and logs \"listening\""):
      print(log.text(40))
      return 1
    check(listening.get("version") == version, f"logs version {version}")
    with open(f"/proc/{proc.pid}/status") as f:
      ids = {l.split(":")[0]: l.split()[1:] for l in f if l.startswith(("Uid:", "Gid:"))}
    check(ids.get("Uid", [""])[0] == str(UID) and ids.get("Gid", [""])[0] == str(UID),
          f"the process runs as uid/gid {UID} ({ids})")
    check(os.readlink(f"/proc/{proc.pid}/exe").endswith("/usr/local/bin/sidemeter"),
          "the process is the image's binary")

    status, body = http_get(f"http://127.0.0.1:{listening['listen_port']}/hello?from=image-test")
    check(status == 200 and body == "backend saw /hello?from=image-test\n",
          f"a request is proxied to the backend and answered ({status} {body!r})")
    check(len(backend.seen) == 1 and backend.seen[0][0] == "/hello?from=image-test",
          f"the backend received it once ({[p for p, _ in backend.seen]})")

    # Readiness follows the upstream probe: wait for 200 with a deadline, not a fixed sleep.
    deadline = time.monotonic() + 20
    while True:
      status, body = http_get(f"http://127.0.0.1:{listening['stats_port']}/readyz")
      if status == 200 or time.monotonic() > deadline:
        break
      time.sleep(0.1)
    check(status == 200, f"/readyz answers 200 ({status} {body.strip()!r})")

    t_term = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
      rc = proc.wait(DRAIN_TIMEOUT_S + 30)
    except subprocess.TimeoutExpired:
      rc = None
    took = time.monotonic() - t_term
    check(rc == 0, f"SIGTERM: exits 0 (rc {rc}, after {took:.1f} s; the drain timeout is {DRAIN_TIMEOUT_S} s)")
    check(log.wait_event("drained", timeout=5) != [], "logs \"drained\"")
    errors = [e for e in log.events() if e.get("level") == "error"]
    check(not errors, f"nothing logged at level error ({errors})")
    if failures:
      print(log.text(40))
  finally:
    if backend:
      backend.close()
    cleanup()
  timings.append(("run checks", time.monotonic() - t0, cpu_children() - c0))

  print(f"image {image}: {size} uncompressed (buildah images); files {root_bytes / 1e6:.1f} MB (du)")
  for name, wall, cpu in timings:
    print(f"timing {name:<12} wall {wall:7.1f} s  cpu (children) {cpu:7.1f} s")
  if failures:
    print(f"{len(failures)} check(s) failed")
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
