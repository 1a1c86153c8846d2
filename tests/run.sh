#!/usr/bin/env bash
# Run cimid's unit tests and black-box tests against the binaries in the
# build directory given as $1 (default build-asan), then the reliability
# suites (short versions): the kill -9 crash harness (tests/crash), the wrk
# soak (tests/soak), the hostile-tenant suite (tests/security) and the
# libFuzzer harnesses (scripts/fuzz.sh), and print one line: "N passed, N failed".
#
# An optional $2 filters black-box tests by name (unit tests and the
# reliability suites then do not run), or names one reliability suite:
# @crash, @soak, @security or @fuzz.  Their lengths: CIMI_CRASH_ITERATIONS (default 12),
# CIMI_SOAK_SECONDS (default 60), CIMI_FUZZ_SECONDS (per fuzzer, default 60);
# 0 skips the suite.
#
# Every output is kept in a log directory, $builddir/test-logs/<UTC time>
# (the last 20 runs are kept; its path is printed first and last).  At the
# end come the lines "Skipped tests:" and "Failed tests:", each followed by
# every skip or FAIL line of the unit tests, the black-box tests and the
# suites (a skip line says why), before the result line.
set -uo pipefail
cd "$(dirname "$0")/.."

builddir=${1:-build-asan}
filter=${2:-}
xsd=${CIMI_XSD:-tests/fixtures/dsp8009-1.0.2-offline.xsd}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
logs_root="$builddir/test-logs"
log="$logs_root/$(date -u +%Y%m%dT%H%M%SZ)-$$"
if [ ! -d "$builddir" ] || ! mkdir -p "$log" 2>/dev/null; then
  logs_root=${TMPDIR:-/tmp}/cimid-test-logs
  log="$logs_root/$(date -u +%Y%m%dT%H%M%SZ)-$$"
  mkdir -p "$log" || exit 1
fi
log=$(cd "$log" && pwd)
# Keep the 20 newest runs.
ls -1d "$logs_root"/*/ 2>/dev/null | sort | head -n -20 | xargs -r rm -rf
echo "== logs: $log"
failures="$log/failures"   # every FAIL line, prefixed with where it came from
: > "$failures"

passed=0
failed=0
skipped=0
fail() {  # a failure found by this script itself: shown now and in the summary
  echo "$1"
  echo "$1" >> "$failures"
  failed=$((failed + 1))
}
count() {  # add up the "N passed, N failed" line of one suite's output
  local line
  line=$(grep -E '^[0-9]+ (fuzzers )?passed, [0-9]+ failed' "$1" | tail -n 1 |
         sed 's/ fuzzers passed/ passed/')
  grep -E '^FAIL' "$1" | sed "s|^|[$2] |" >> "$failures"
  if [ -z "$line" ]; then
    fail "FAIL - $2: no result line (crashed?); log: $1"
    return
  fi
  passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
  failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
  skipped=$((skipped + $(echo "$line" | sed -n 's/.*, \([0-9]*\) skipped.*/\1/p' | grep . || echo 0)))
}

# One reliability suite: $1 its name, the rest its command.
suite() {
  local name=$1
  shift
  echo "== $name"
  "$@" > "$log/$name" 2>&1
  grep -vE '^(ok - crash\.iteration|# t=)' "$log/$name" | tail -n 60
  count "$log/$name" "$name"
}

reliability() {
  local which=$1 iterations=${CIMI_CRASH_ITERATIONS:-12} soak=${CIMI_SOAK_SECONDS:-60}
  local fuzz=${CIMI_FUZZ_SECONDS:-60}
  if [ "$which" = all ] || [ "$which" = @crash ]; then
    [ "$iterations" -gt 0 ] && suite crash env CIMID_BIN="$builddir/cimid" \
      python3 tests/crash/crash.py --iterations "$iterations"
  fi
  if [ "$which" = all ] || [ "$which" = @soak ]; then
    [ "$soak" -gt 0 ] && suite soak env CIMID_BIN="$builddir/cimid" \
      python3 tests/soak/soak.py --duration "$soak" --interval 3 --machines 100 --warmup 0.5
  fi
  if [ "$which" = all ] || [ "$which" = @security ]; then
    suite security env CIMID_BIN="$builddir/cimid" CIMI_XSD="$xsd" python3 tests/security/hostile.py
  fi
  if [ "$which" = all ] || [ "$which" = @fuzz ]; then
    [ "$fuzz" -gt 0 ] && suite fuzz env -u ASAN_OPTIONS -u UBSAN_OPTIONS scripts/fuzz.sh "$fuzz"
  fi
  return 0
}

# The summary: where the logs are, every skipped and failed test with its
# reason, and the result line.
summary() {
  local skips
  skips=$(cd "$log" && grep -HE '^skip - ' -- * 2>/dev/null | sed 's/^\([^:]*\):/[\1] /')
  echo
  echo "== logs: $log"
  if [ -n "$skips" ]; then
    echo "Skipped tests:"
    echo "$skips" | sed 's/^/  /'
  fi
  if [ -s "$failures" ]; then
    echo "Failed tests:"
    sed 's/^/  /' "$failures"
  fi
  if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
  else
    echo "$passed passed, $failed failed"
  fi
  [ "$failed" -eq 0 ]
}

case "$filter" in
  @crash|@soak|@security|@fuzz)
    reliability "$filter"
    summary
    exit
    ;;
esac

if [ -z "$filter" ]; then
  # Every unit test meson built (meson.build's list), so none is forgotten here.
  for bin in "$builddir"/test_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    t=${bin##*/test_}
    echo "== unit: $t"
    "$builddir/test_$t" "$xsd" > "$log/$t" 2>&1
    rc=$?
    grep -E '^FAIL|runtime error|Sanitizer' "$log/$t"
    tail -n 1 "$log/$t"
    count "$log/$t" "unit $t"
    if [ $rc -ne 0 ] && ! grep -qE '^[0-9]+ passed, [1-9]' "$log/$t"; then
      fail "FAIL - unit $t exited with $rc; log: $log/$t"
    fi
  done
fi

echo "== black-box"
CIMID_BIN="$builddir/cimid" CIMI_XSD="$xsd" python3 tests/blackbox/run.py $filter > "$log/blackbox" 2>&1
grep -vE '^ok - ' "$log/blackbox" | tail -n 200
count "$log/blackbox" "black-box"

[ -z "$filter" ] && reliability all

summary
