# shellcheck shell=bash disable=SC2154  # root and build_dir come from the caller
# Shared by run_bench.sh and run_tls_bench.sh (sourced, not run): installing the tools,
# building sidemeter, and running a Python orchestrator so that its children die with it.
# Expects $root (the repository) and $build_dir to be set by the caller.

# ensure_packages PKG...: installs the Debian packages that `dpkg -s` does not find.
# "nginx-light" is satisfied by any nginx package.
ensure_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    if [[ "$pkg" == nginx-light ]]; then
      dpkg -s nginx-light >/dev/null 2>&1 || dpkg -s nginx >/dev/null 2>&1 || missing+=(nginx-light)
    else
      dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    fi
  done
  if ((${#missing[@]})); then
    echo "installing: ${missing[*]}" >&2
    local sudo="" policy=/usr/sbin/policy-rc.d own_policy=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    # Debian's caddy, h2o, nginx and haproxy packages start a system service on port 80
    # (or 443) at install time; the benchmark starts its own servers on free ports, so
    # deny service starts for the install (the invoke-rc.d/deb-systemd-invoke convention)
    # unless the machine already has its own policy.
    if [[ ! -e "$policy" ]]; then
      printf '#!/bin/sh\n# sidemeter bench_env.sh: no service starts during this install\nexit 101\n' |
        $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" && own_policy=1
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "${missing[@]}" || { [[ -z "$own_policy" ]] || $sudo rm -f "$policy"; return 1; }
    [[ -z "$own_policy" ]] || $sudo rm -f "$policy"
  fi
  # A system server on :80/:443 (started by a package on another occasion) is never used
  # by the benchmark but competes for the CPUs: say so, leave it to the operator.
  local listeners
  listeners="$(ss -Hltnp 2>/dev/null | awk '$4 ~ /:(80|443)$/' || true)"
  if [[ -n "$listeners" ]]; then
    echo "note: something listens on :80/:443 (a system nginx/caddy/h2o/haproxy?); it adds noise:" >&2
    echo "$listeners" >&2
  fi
}

# build_sidemeter: release build of the sidemeter binary into $build_dir, unless
# BENCH_SKIP_BUILD or BENCH_SIDEMETER says to use an existing binary.
build_sidemeter() {
  if [[ -n "${BENCH_SKIP_BUILD:-}" || -n "${BENCH_SIDEMETER:-}" ]]; then return; fi
  if [[ ! -f "$build_dir/build.ninja" ]]; then
    meson setup "$build_dir" "$root" --buildtype=release -Dtests=false
  fi
  ninja -C "$build_dir" -j2 sidemeter
}

# run_orchestrator ARGV...: runs the Python orchestrator in the background with
# --pidfile FILE (where it lists the process groups it started) and waits for it. On exit,
# error or Ctrl-C the orchestrator is asked to stop (it kills its own children), then any
# group still listed in the pidfile is killed. Returns the orchestrator's exit status.
run_orchestrator() {
  bench_pidfile="$(mktemp /tmp/sidemeter-bench-pids.XXXXXX)"
  bench_pid=""
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  "$@" --pidfile "$bench_pidfile" &
  bench_pid=$!
  wait "$bench_pid"
}

bench_cleanup() {
  if [[ -n "${bench_pid:-}" ]] && kill -0 "$bench_pid" 2>/dev/null; then
    kill -TERM "$bench_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$bench_pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$bench_pid" 2>/dev/null || true
  fi
  if [[ -s "${bench_pidfile:-}" ]]; then
    while read -r pid; do
      if [[ -n "$pid" ]]; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
    done <"$bench_pidfile"
  fi
  rm -f "${bench_pidfile:-}"
}
