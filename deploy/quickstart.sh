#!/usr/bin/env bash
# Install, build and run sidemeter. Every argument goes to sidemeter, and relative paths
# in them are relative to where you ran this from:
#   bash deploy/quickstart.sh --demo                   # demo backend + traffic: open http://127.0.0.1:9901/
#   bash deploy/quickstart.sh --upstream 127.0.0.1:8000
#   bash deploy/quickstart.sh --config my.yaml
# With no argument it proxies 127.0.0.1:8000: a demo never starts unless asked for.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
(
  cd "$repo"
  bash deploy/install-deps.sh
  [ -d build ] || meson setup build --buildtype=release >/dev/null
  # A first build takes minutes (8 on a busy 2-core machine): say so, and show ninja's
  # progress, so it does not look hung. Up to date, it prints nothing.
  if ! ninja -C build -n sidemeter | grep -q "no work to do"; then
    echo "sidemeter: building build/sidemeter (a first build takes several minutes)" >&2
    ninja -C build sidemeter >&2
  fi
)
echo "sidemeter: the \"listening\" log line gives the ports (by default traffic on :8080," \
     "dashboard and metrics on http://127.0.0.1:9901/); Ctrl-C stops" >&2
exec "$repo/build/sidemeter" "$@"
