#!/usr/bin/env bash
# Runs the libFuzzer targets of a -Dfuzzing=true build, each for SECONDS, two at a time
# (or FUZZ_PARALLEL), and fails if any of them finds a crash, a leak, UB, a timeout or a
# broken invariant. Each starts from its committed seed corpus (every seed runs first, so
# the corpus is also a regression suite) plus what earlier runs found.
#
#   tests/fuzz/run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]
#
# Where things land (BUILD_DIR relative, kept between runs, never committed):
#   fuzz/corpus/<target>/   inputs that found new coverage (the next run starts from them)
#   fuzz/crashes/<target>-crash-<sha1> (also leak-, timeout-, oom-): the failing input;
#                           replay with BUILD_DIR/tests/fuzz/<target> <file>
#   fuzz/logs/<target>.log  libFuzzer's output
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]}" && pwd)
seconds=${2:?usage: run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(request response chunked head_differential config proxy_protocol)
parallel=${FUZZ_PARALLEL:-2}

mkdir -p "$build/fuzz/crashes" "$build/fuzz/logs"
# ASan/UBSan: any report is fatal; libFuzzer itself reports leaks (-detect_leaks).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {  # target; writes fuzz/logs/<target>.summary
  local t=$1 dict out=$build/fuzz/logs/$1.summary
  case $t in
    config) dict=$here/config.dict ;;
    proxy_protocol) dict=$here/proxy_protocol.dict ;;
    *) dict=$here/http1.dict ;;
  esac
  local seeds=("$here/corpus/$t")
  # Heads of both kinds: the request and response seeds serve as they are.
  if [ "$t" = head_differential ]; then seeds=("$here/corpus/request" "$here/corpus/response"); fi
  mkdir -p "$build/fuzz/corpus/$t"
  # The first corpus directory receives new finds; the committed seeds are only read.
  if "$build/tests/fuzz/${t}_fuzzer" -dict="$dict" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$build/fuzz/crashes/$t-" \
      "$build/fuzz/corpus/$t" "${seeds[@]}" >"$build/fuzz/logs/$t.log" 2>&1; then
    local runs
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz/logs/$t.log" |
      grep -o '[0-9]*$' || echo '?')
    echo "fuzz $t: ok, $runs inputs in ${seconds} s (seeds: $(find "${seeds[@]}" -type f | wc -l)," \
      "found so far: $(ls "$build/fuzz/corpus/$t" | wc -l))" >"$out"
    return 0
  fi
  {
    echo "fuzz $t: FAILED (log: $build/fuzz/logs/$t.log; input: $build/fuzz/crashes/$t-*)"
    # The report, from the first line of the sanitizer's or our invariant's message.
    sed -n '/invariant broken\|==ERROR\|runtime error\|ERROR: libFuzzer/,$p' \
      "$build/fuzz/logs/$t.log" | head -60
  } >"$out"
  return 1
}

failed=0
running=()
for t in "${targets[@]}"; do
  [ -x "$build/tests/fuzz/${t}_fuzzer" ] || { echo "no $build/tests/fuzz/${t}_fuzzer"; exit 2; }
  run_one "$t" &
  running+=($!)
  if [ ${#running[@]} -ge "$parallel" ]; then
    wait "${running[0]}" || failed=1
    running=("${running[@]:1}")
  fi
done
for p in "${running[@]}"; do wait "$p" || failed=1; done
for t in "${targets[@]}"; do cat "$build/fuzz/logs/$t.summary"; done
exit $failed
