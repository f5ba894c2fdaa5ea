#!/usr/bin/env bash
# Offline check of deploy/kubernetes (no cluster, no image needed):
#   bash deploy/kubernetes/check_manifests.sh [path/to/sidemeter]
# Renders the base and every overlay with `kubectl kustomize` and checks the rendered
# objects (check_manifests.py: fields per kind, consistency with the ConfigMap's config,
# drain timing, promtool on the rules, the config through the binary's --check-config).
# The binary: the argument, else $SIDEMETER_BIN, else build/sidemeter, else `sidemeter`
# on PATH. Needs kubectl (Debian: kubernetes-client), promtool (prometheus), python3-yaml.
# The same checker runs in the test suite (meson test --suite deploy).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-${SIDEMETER_BIN:-}}"
if [ -z "$bin" ]; then
  if [ -x "$root/build/sidemeter" ]; then
    bin="$root/build/sidemeter"
  elif command -v sidemeter >/dev/null; then
    bin="$(command -v sidemeter)"
  else
    echo "no sidemeter binary: build it (meson setup build && ninja -C build sidemeter)" \
         "or pass its path" >&2
    exit 2
  fi
fi
exec python3 "$here/check_manifests.py" --sidemeter "$bin"
