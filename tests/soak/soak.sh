#!/usr/bin/env bash
# Soak run (not in CI): mixed traffic with upstream faults, client aborts and SIGHUP
# reloads through sidemeter for an hour, sampling RSS and descriptors; prints the figures
# and a verdict (exit 1 if any check fails). What is checked, and the tolerances, are in
# the docstring of soak.py.
#
#   tests/soak/soak.sh                      # 60 minutes, build/sidemeter
#   tests/soak/soak.sh --minutes 3          # a short run
#   SIDEMETER_BIN=/path/to/sidemeter tests/soak/soak.sh --clients 16 --reload-every 10
#
# Flags: --minutes M (60), --clients N (8), --reload-every S (30), --sample-every S (5),
# --seed N (1). Needs python3 (standard library only) and a built binary.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export SIDEMETER_BIN="${SIDEMETER_BIN:-$here/../../build/sidemeter}"
if [ ! -x "$SIDEMETER_BIN" ]; then
  echo "soak: $SIDEMETER_BIN not found; build first (meson setup build && ninja -C build)" >&2
  exit 2
fi
py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$here/soak.py" "$@"
