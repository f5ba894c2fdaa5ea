#!/usr/bin/env bash
# Install, build and run sidemeter. Any arguments go to sidemeter; with none, it runs
# with --demo: a built-in demo backend and light demo traffic.
#   bash deploy/quickstart.sh                          # demo: open http://127.0.0.1:9901/
#   bash deploy/quickstart.sh --upstream 127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build sidemeter >/dev/null
echo "sidemeter: traffic on :8080, dashboard and metrics on http://127.0.0.1:9901/ (Ctrl-C stops)"
[ $# -gt 0 ] || set -- --demo
exec ./build/sidemeter "$@"
