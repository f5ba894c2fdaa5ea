#!/usr/bin/env bash
# The sidemeter performance harness (issue 5), one command:
#   tests/bench/run_bench.sh [--quick] [bench.py options...]
# Installs what it needs (nginx, haproxy, wrk, valgrind, python3) if missing, builds
# sidemeter in release mode, then runs bench.py: sidemeter (measurement on and off),
# HAProxy and nginx as proxies in front of one nginx backend, wrk as the load.
# Environment: BENCH_BUILD_DIR (default build-bench), BENCH_SKIP_BUILD=1,
#              BENCH_SIDEMETER=/path/to/sidemeter (use this binary, no build),
#              BENCH_KEEP_TMP=1 (keep configs and logs of the started servers).
# Not part of CI: timings depend on the machine and on whatever else runs on it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build_dir="${BENCH_BUILD_DIR:-$root/build-bench}"

ensure_packages() {
  local missing=()
  dpkg -s python3 >/dev/null 2>&1 || missing+=(python3)
  dpkg -s wrk >/dev/null 2>&1 || missing+=(wrk)
  dpkg -s haproxy >/dev/null 2>&1 || missing+=(haproxy)
  dpkg -s valgrind >/dev/null 2>&1 || missing+=(valgrind)
  if ! dpkg -s nginx-light >/dev/null 2>&1 && ! dpkg -s nginx >/dev/null 2>&1; then
    missing+=(nginx-light)
  fi
  dpkg -s util-linux >/dev/null 2>&1 || missing+=(util-linux)  # taskset
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}"
  fi
  # Debian's nginx package may start a system nginx on port 80: we never use it, but it
  # would add noise. Leave it to the operator, just say so.
  if pgrep -x nginx -u root >/dev/null 2>&1 && [[ -f /run/nginx.pid ]]; then
    echo "note: a system nginx is running (pid $(cat /run/nginx.pid)); it adds noise" >&2
  fi
}

build() {
  if [[ -n "${BENCH_SKIP_BUILD:-}" || -n "${BENCH_SIDEMETER:-}" ]]; then return; fi
  if [[ ! -f "$build_dir/build.ninja" ]]; then
    meson setup "$build_dir" "$root" --buildtype=release -Dtests=false
  fi
  ninja -C "$build_dir" -j2 sidemeter
}

pidfile="$(mktemp /tmp/sidemeter-bench-pids.XXXXXX)"
bench_pid=""
cleanup() {
  # bench.py kills its own children; this catches them if bench.py itself was killed.
  if [[ -n "$bench_pid" ]] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$bench_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$bench_pid" 2>/dev/null || true
  fi
  if [[ -s "$pidfile" ]]; then
    while read -r pid; do
      [[ -n "$pid" ]] && kill -KILL -- "-$pid" 2>/dev/null || true
    done <"$pidfile"
  fi
  rm -f "$pidfile"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_packages
build
# 10,000 idle connections need file descriptors in the proxies and in the client.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile="$(ulimit -n)"
[[ "$nofile" == unlimited ]] && nofile=1048576

python3 "$here/bench.py" --sidemeter "${BENCH_SIDEMETER:-$build_dir/sidemeter}" --pidfile "$pidfile" \
  --nofile "$nofile" "$@" &
bench_pid=$!
wait "$bench_pid"
