#!/bin/sh
# sidemeter_wait.sh LOG: returns once sidemeter's log (its stderr, ${pNAME_err}) says it
# is listening and its readiness probe reached the upstream (the .vtc server's first
# connection); fails after 20 s, or at once if sidemeter logged an error, printing the log.
for _ in $(seq 200); do
  if grep -q '"event":"listening"' "$1" && grep -q '"event":"upstream_reachable"' "$1"; then
    exit 0
  fi
  if grep -q '"level":"error"' "$1"; then
    break
  fi
  sleep 0.1
done
echo "sidemeter did not become ready:" >&2
cat "$1" >&2
exit 1
