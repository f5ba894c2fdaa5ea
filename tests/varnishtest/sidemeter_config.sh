#!/bin/sh
# The configuration a .vtc starts sidemeter with:
#   sidemeter_config.sh FILE LISTEN_PORT UPSTREAM_HOST:PORT [YAML_LINE...]
# LISTEN_PORT is the one run_vtc.py reserved for this .vtc (its ${sm_port}). Two workers;
# no readiness probe after the first one (a .vtc server answers one connection at a
# time and skips the first with `accept`); no drain delay, so `process -stop` is quick.
set -eu
file=$1
port=$2
upstream=$3
shift 3
{
  echo "listen: 127.0.0.1:$port"
  echo "workers: 2"
  echo "upstream:"
  echo "  address: $upstream"
  echo "  probe_interval: 1h"
  echo "stats:"
  echo "  address: 127.0.0.1:0"
  echo "timeouts:"
  echo "  drain_delay: 0s"
  echo "  drain_timeout: 5s"
  for line in "$@"; do
    echo "$line"
  done
} >"$file"
