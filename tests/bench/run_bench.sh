#!/usr/bin/env bash
# The sidemeter performance harness (issue 5), one command:
#   tests/bench/run_bench.sh [--quick] [bench.py options...]
# Installs what it needs (nginx, haproxy, caddy, h2o, wrk, valgrind, python3) if missing,
# builds sidemeter in release mode, then runs bench.py: sidemeter (measurement on and off),
# HAProxy, nginx, Caddy (metrics on) and h2o as proxies in front of one nginx backend, wrk
# as the load. Default run about 26 minutes on 2 cores, --quick 4.5 to 6.5.
# Environment: BENCH_BUILD_DIR (default build-bench), BENCH_SKIP_BUILD=1,
#              BENCH_SIDEMETER=/path/to/sidemeter (use this binary, no build),
#              BENCH_KEEP_TMP=1 (keep configs and logs of the started servers).
# Not part of CI: timings depend on the machine and on whatever else runs on it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build_dir="${BENCH_BUILD_DIR:-$root/build-bench}"

# shellcheck source=bench_env.sh
source "$here/bench_env.sh"

ensure_packages python3 wrk haproxy valgrind nginx-light util-linux caddy h2o iproute2 linux-perf gcc
build_sidemeter
# 10,000 (memory) and 20,000 (idle cost) connections need file descriptors in the proxies
# and in the clients.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile="$(ulimit -n)"
[[ "$nofile" == unlimited ]] && nofile=1048576

run_orchestrator python3 "$here/bench.py" --sidemeter "${BENCH_SIDEMETER:-$build_dir/sidemeter}" \
  --nofile "$nofile" "$@"
