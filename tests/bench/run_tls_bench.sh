#!/usr/bin/env bash
# The sidemeter TLS benchmark, one command (not part of CI):
#   tests/bench/run_tls_bench.sh [--quick] [tls_bench.py options...]
# Installs what it needs (haproxy, wrk, nginx, openssl, python3) if missing, builds
# sidemeter in release mode, then runs tls_bench.py: sidemeter, HAProxy and nginx
# terminating TLS (throwaway ECDSA P-256 and RSA 2048 certificates made at run time) in
# front of one plain nginx backend; wrk over https for keep-alive requests, openssl s_time
# for full and resumed handshakes; a kernel TLS probe. Report: tests/bench/results/tls.md.
# A sidemeter without TLS support is reported as n/a; the peers are still measured.
# Environment: BENCH_BUILD_DIR (default build-bench), BENCH_SKIP_BUILD=1,
#              BENCH_SIDEMETER=/path/to/sidemeter (use this binary, no build),
#              BENCH_KEEP_TMP=1 (keep certificates, configs and logs).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build_dir="${BENCH_BUILD_DIR:-$root/build-bench}"
# shellcheck source=bench_env.sh
source "$here/bench_env.sh"

ensure_packages python3 wrk haproxy nginx-light openssl util-linux coreutils
build_sidemeter
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile="$(ulimit -n)"
[[ "$nofile" == unlimited ]] && nofile=1048576

run_orchestrator python3 "$here/tls_bench.py" --sidemeter "${BENCH_SIDEMETER:-$build_dir/sidemeter}" \
  --nofile "$nofile" "$@"
