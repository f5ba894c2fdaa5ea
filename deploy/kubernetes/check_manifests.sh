#!/usr/bin/env bash
# Offline validation of deploy/kubernetes (no cluster or Docker needed):
#   bash deploy/kubernetes/check_manifests.sh
# 1. builds check_manifests.cc against sidemeter's config loader and runs it;
# 2. promtool checks the recording rules and runs their unit test (if installed);
# 3. kubectl kustomize renders the kustomization (if installed).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

g++ -std=c++20 -O1 -Wall -Wextra -I"$root" -o "$tmp/check" "$here/check_manifests.cc" \
  "$root"/conf/*.cc "$root"/metrics/alerts/spec.cc "$root"/metrics/exchange_sample.cc \
  $(pkg-config --cflags --libs yaml-cpp libcrypto)
"$tmp/check" "$tmp/rules.yaml" "$here"/configmap.yaml "$here"/deployment.yaml \
  "$here"/service.yaml "$here"/podmonitor.yaml "$here"/prometheus-rules.yaml \
  "$here"/kustomization.yaml

if command -v promtool >/dev/null; then
  promtool check rules "$tmp/rules.yaml"
  cp "$here/prometheus-rules.test.yaml" "$tmp/"
  (cd "$tmp" && promtool test rules prometheus-rules.test.yaml)
else
  echo "skip: promtool not installed"
fi
if command -v kubectl >/dev/null; then
  kubectl kustomize "$here" >/dev/null && echo "ok   kubectl kustomize renders"
else
  echo "skip: kubectl not installed"
fi
