#!/usr/bin/env bash
# Installs every Debian 12 package sidemeter needs to build, run and test. Idempotent:
# apt is only touched when something is missing.
set -euo pipefail

packages=(
  # build
  g++ meson ninja-build pkg-config
  # libraries (llhttp's C sources come from node-llhttp and are compiled by meson)
  libuv1-dev node-llhttp libyaml-cpp-dev libssl-dev
  # SHA-256 of the config hash without starting OpenSSL's providers (about 2 MiB of RSS)
  nettle-dev
  # the system CA store, used to verify a TLS upstream when no ca_file is configured
  ca-certificates
  # /metrics in Prometheus' protobuf format (native histograms): its metrics.proto, protoc
  # to compile it at build time, libprotobuf to encode
  golang-github-prometheus-client-model-dev protobuf-compiler libprotobuf-dev
  # tests and benchmarks of the record path
  libgtest-dev libgmock-dev libbenchmark-dev python3 curl
)
if [ "${1:-}" = "--test" ]; then
  # End-to-end checks of the stats port: promtool and a real Prometheus server scrape it,
  # headless Chromium renders the dashboard; Alertmanager receives the alerts; the
  # openssl CLI (s_client) is the independent TLS client of the TLS tests; varnish brings
  # varnishtest, whose scripted clients and servers check the RFC 9110 intermediary duties
  # (tests/varnishtest; no varnishd is run). HAProxy and nginx are the peers of the
  # differential runs (tests/differential: the same raw requests through all three, what
  # each forwards compared); slowhttptest is the slowloris / slow body / slow read
  # attacker of tests/slowhttp.
  packages+=(prometheus prometheus-alertmanager chromium openssl varnish haproxy nginx
             slowhttptest)
  # The official Prometheus Python client's parser walks /metrics as a client library
  # would (tests/integration/counter_monotonic_test: counters never fall).
  packages+=(python3-prometheus-client)
  # deploy/kubernetes is rendered by `kubectl kustomize` (no cluster needed) and the
  # rendered YAML read by check_manifests.py (python3-yaml). Debian's kubectl is
  # kubernetes-client; a kubectl already installed (e.g. the upstream "kubectl" package,
  # which owns /usr/bin/kubectl too) is used as it is.
  packages+=(python3-yaml)
  command -v kubectl >/dev/null || packages+=(kubernetes-client)
  # The sanitizer passes and the fuzzers: clang 14 (libFuzzer needs it), compiler-rt's
  # runtimes (libFuzzer, ASan, TSan: only recommended by clang, so named), llvm-symbolizer
  # (file:line in the reports).
  packages+=(clang libclang-rt-14-dev llvm)
  # gdb: an integration test that finds the proxy stuck prints every thread's stack
  # (SidemeterProcess::thread_report), so a hang seen once in CI can be read afterwards.
  packages+=(gdb)
  # The container image built for real without a registry (tests/deploy/image_test):
  # debootstrap makes the Debian 12 base, buildah builds deploy/Dockerfile and mounts it.
  packages+=(buildah debootstrap)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
