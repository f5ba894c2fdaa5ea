#!/usr/bin/env bash
# Instructions per request of sidemeter under valgrind callgrind, measurement on and off,
# for the four bench payloads; plus the top functions (callgrind_annotate). Deterministic
# enough to compare commits on a noisy machine:
#   tests/bench/callgrind_per_request.sh [--requests N] [--warmup N] [--top N]
# Builds with debug info (release + -g, in BENCH_CALLGRIND_BUILD_DIR, default
# build-bench-cg) so the profile names functions. Dumps stay in tests/bench/results/callgrind/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build_dir="${BENCH_CALLGRIND_BUILD_DIR:-$root/build-bench-cg}"

for pkg in valgrind python3; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg"
  fi
done
if ! dpkg -s nginx-light >/dev/null 2>&1 && ! dpkg -s nginx >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light
fi

# BENCH_SIDEMETER=/path/to/sidemeter skips the build (e.g. when the tree does not build).
sidemeter="${BENCH_SIDEMETER:-$build_dir/sidemeter}"
if [[ -z "${BENCH_SIDEMETER:-}" && -z "${BENCH_SKIP_BUILD:-}" ]]; then
  if [[ ! -f "$build_dir/build.ninja" ]]; then
    # debugoptimized would be -O2; keep the release -O3 code and only add symbols.
    meson setup "$build_dir" "$root" --buildtype=release -Ddebug=true -Dtests=false
  fi
  ninja -C "$build_dir" -j2 sidemeter
fi

pidfile="$(mktemp /tmp/sidemeter-callgrind-pids.XXXXXX)"
runner=""
cleanup() {
  if [[ -n "$runner" ]] && kill -0 "$runner" 2>/dev/null; then
    kill -TERM "$runner" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$runner" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$runner" 2>/dev/null || true
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

timeout 1800 python3 "$here/callgrind_run.py" --sidemeter "$sidemeter" \
  --pidfile "$pidfile" "$@" &
runner=$!
wait "$runner"
