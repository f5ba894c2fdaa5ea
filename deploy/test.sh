#!/usr/bin/env bash
# Install, build and run every test, in four passes, and exit non-zero if anything fails:
#   release  the release build and every test;
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer: every test;
#   tsan     ThreadSanitizer: the binary and the unit tests that run threads
#            (workers' command queues, the access-log writer, alert delivery, the
#            metrics registry); then the integration suites that drive workers, the
#            stats thread, the control loop and reload, run from the release build
#            against the TSan binary; any report fails the pass;
#   fuzz     the libFuzzer targets (tests/fuzz), FUZZ_SECONDS (25) each after their seeds;
#   image    the container image built by buildah and its binary run (tests/deploy/
#            image_test.py), in the background from the end of the release build on.
# Each pass builds only what it runs. Each prints its wall and CPU seconds (CPU: what
# the compilers and tests used, comparable on a busy machine).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=$(nproc)
# Tests run two per core: most of their time is spent waiting on timers and peers (the
# release pass used 58 s of CPU in 179 s of wall time at one per core).
test_jobs=$((jobs * 2))
fuzz_seconds=${FUZZ_SECONDS:-25}

# CPU seconds used so far by this script's finished children, into $cpu_now. `times` must
# run in this shell (not in $(...), a subshell with no children of its own), so it writes
# to a file.
cpu_file=$(mktemp)
trap 'rm -f "$cpu_file"' EXIT
read_cpu() {
  times >"$cpu_file"
  cpu_now=$(awk 'NR == 2 { split($1, u, "m"); split($2, s, "m"); printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$cpu_file")
}
phase_name=""
phase_start() {
  phase_name=$1
  phase_wall=$(date +%s)
  read_cpu
  phase_cpu=$cpu_now
  echo "=== $phase_name"
}
phase_end() {
  read_cpu
  echo "=== $phase_name: $(($(date +%s) - phase_wall)) s wall, $((cpu_now - phase_cpu)) s CPU"
}

# Only meson's errors are shown (its chatter is not); a failed setup stops the script.
# A build directory made with another compiler (CXX) is made anew.
configure() {  # builddir, meson options...
  local dir=$1
  shift
  if [ -d "$dir/meson-private" ] && [ "$(cat "$dir/.cxx" 2>/dev/null)" != "${CXX:-c++}" ]; then
    rm -rf "$dir"
  fi
  if [ -d "$dir/meson-private" ]; then
    meson configure "$dir" "$@" >/dev/null
  else
    rm -rf "$dir"
    meson setup "$dir" "$@" >/dev/null
    echo "${CXX:-c++}" >"$dir/.cxx"
  fi
}

start=$(date +%s)
phase_start deps
bash deploy/install-deps.sh --test
phase_end

phase_start "release build"
configure build --buildtype=release
ninja -C build -j"$jobs"
phase_end
# The container image (tests/deploy/image_test.py, suite 'image') compiles the binary once
# more, in the image's build stage: about 6.5 CPU-minutes from nothing. It runs in the
# background from here, while the test passes mostly wait, and is waited for at the end.
meson test -C build --no-rebuild --print-errorlogs --suite image --logbase image \
  >build/meson-logs/image-run.txt 2>&1 &
image_pid=$!
phase_start "release tests"
meson test -C build --no-rebuild --print-errorlogs --num-processes "$test_jobs" --no-suite image || true
phase_end

# Sanitizer builds: -O1 with line tables only (-g1), as ASan's docs advise: reports keep
# file:line, and GCC compiles this tree 2.5x faster than at -O2 -g. They build neither the
# benchmarks (not tests) nor the black-box suites of tests/integration: those only drive
# the binary, so the release build's run against the sanitizer build's binary
# (SIDEMETER_BIN; SIDEMETER_BIN_SANITIZER tells the RSS checks that its allocator is not
# glibc's). That saves a third of each sanitizer build.
san_opts=(-Doptimization=1 -Ddebug=false -Dcpp_args=-g1 -Dc_args=-g1 -Db_lundef=false
          -Dbenchmarks=disabled -Dintegration_tests=false)
run_integration_against() {  # logbase, binary, sanitizer, meson test options...
  local logbase=$1 bin=$2 san=$3
  shift 3
  meson test -C build --no-rebuild --print-errorlogs --num-processes "$test_jobs" \
    --logbase "$logbase" --wrapper "env SIDEMETER_BIN=$bin SIDEMETER_BIN_SANITIZER=$san" "$@" || true
}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

phase_start "asan build"
configure build-asan "${san_opts[@]}" -Db_sanitize=address,undefined
ninja -C build-asan -j"$jobs"
phase_end
phase_start "asan tests"
meson test -C build-asan --no-rebuild --print-errorlogs --num-processes "$test_jobs" --no-suite image || true
run_integration_against asan-integration "$root/build-asan/sidemeter" address --suite integration
phase_end

# ThreadSanitizer: the binary and the unit tests that run threads, nothing else. Reports
# go to files (log_path), so a report from a proxy process that no test watches still
# fails the pass; tests/tsan.supp lists what is suppressed, each with its reason.
tsan_units=(command_queue_test access_log_writer_test alert_sender metrics_tests cpu_quota_test)
tsan_targets=(sidemeter tests/proxy/worker/command_queue_test
  tests/proxy/access_log/access_log_writer_test tests/proxy/alerts/alert_sender_tests
  tests/metrics/metrics_tests tests/proxy/control/cpu_quota_test)
# The suites that drive workers, the stats thread, the control loop and reload.
tsan_integration=(forwarding_test reload_test lifecycle_test drain_test readiness_test
  alerts_test access_log_test stats_e2e native_histogram_e2e)
tsan_reports=$root/build-tsan/tsan-reports
phase_start "tsan build"
configure build-tsan "${san_opts[@]}" -Db_sanitize=thread
ninja -C build-tsan -j"$jobs" "${tsan_targets[@]}"
phase_end
# The fuzz build (all CPU) runs alongside the TSan tests, which mostly wait (42 s of CPU
# in 89 s of wall time in a clean-clone run): about a minute off the whole run.
fuzz_build_log=$root/build/meson-logs/fuzz-build.txt
(
  # clang's libFuzzer; only the targets and what they link (http1, conf, metrics).
  CC=clang CXX=clang++ configure build-fuzz -Dfuzzing=true -Dtests=false \
    -Db_sanitize=address,undefined "${san_opts[@]}"
  ninja -C build-fuzz -j"$jobs" fuzzers
) >"$fuzz_build_log" 2>&1 &
fuzz_build_pid=$!
phase_start "tsan tests"
rm -rf "$tsan_reports"
mkdir -p "$tsan_reports"
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1:log_path=$tsan_reports/tsan:suppressions=$root/tests/tsan.supp"
meson test -C build-tsan --no-rebuild --print-errorlogs --num-processes "$jobs" \
  --logbase tsan-units "${tsan_units[@]}" || true
run_integration_against tsan-integration "$root/build-tsan/sidemeter" thread \
  --timeout-multiplier 3 "${tsan_integration[@]}"
unset TSAN_OPTIONS
tsan_failed=0
if compgen -G "$tsan_reports/tsan.*" >/dev/null; then
  tsan_failed=1
  echo "FAILED: ThreadSanitizer reported (files in $tsan_reports):"
  head -n 60 "$tsan_reports"/tsan.*
fi
phase_end

phase_start "fuzz build (waited for; started with the TSan tests)"
if ! wait "$fuzz_build_pid"; then
  tail -n 60 "$fuzz_build_log"
  echo "FAILED: the fuzz build (log: $fuzz_build_log)"
  exit 1
fi
tail -n 3 "$fuzz_build_log"
phase_end
phase_start "fuzz"
fuzz_failed=0
FUZZ_PARALLEL=$jobs bash tests/fuzz/run_fuzzers.sh build-fuzz "$fuzz_seconds" || fuzz_failed=1
phase_end

phase_start "image (waited for; started after the release build)"
wait "$image_pid" || true
tail -n 25 build/meson-logs/image-run.txt
phase_end

# meson test names the log of a run with --wrapper LOGBASE-<wrapper name>, here -env.
python3 - "$tsan_failed" "$fuzz_failed" build/meson-logs/testlog.json build/meson-logs/image.json \
  build-asan/meson-logs/testlog.json build/meson-logs/asan-integration-env.json \
  build-tsan/meson-logs/tsan-units.json build/meson-logs/tsan-integration-env.json <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[3:]:
    for line in open(path):
        r = json.loads(line)
        res = r.get("result")
        if res in ("OK", "EXPECTEDFAIL"): passed += 1
        elif res == "SKIP": skipped += 1
        else:
            failed += 1
            print(f"FAILED: {path.split('/')[0]}/{path.split('/')[-1]}: {r.get('name')} ({res})")
for flag, what in ((sys.argv[1], "ThreadSanitizer reports"), (sys.argv[2], "fuzzing")):
    if flag == "1":
        failed += 1
        print(f"FAILED: {what}")
    else:
        passed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
PY
echo "total time: $(( $(date +%s) - start )) s"
