#!/usr/bin/env bash
# Build cimid's libFuzzer harnesses (fuzz/) with ASan and UBSan in build-fuzz
# and run each for SECONDS (default 60), one after the other:
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     TARGET: filter json xml route headers ovf
#
# Each fuzzer first replays its saved crash inputs (fuzz/regressions/TARGET/),
# then fuzzes a copy of its seed corpus (fuzz/corpus/TARGET/, never grown by
# this script; set FUZZ_WORKDIR=DIR to keep the grown copies in DIR/TARGET
# across runs) with its dictionary.  Per fuzzer it prints executions,
# executions per second and coverage; it exits non-zero if any fuzzer found
# a crash, a leak, a sanitizer report or a hang, and keeps the input that
# did it in build-fuzz/crashes/TARGET/.  fuzz/README.md has the details.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(filter json xml route headers ovf)
builddir=build-fuzz

case "$seconds" in
  ''|*[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

# Longest input each fuzzer tries: a little over each parser's own limits
# ($filter: 4096 bytes), small enough to keep executions fast.
max_len() {
  case "$1" in
    filter) echo 4200 ;;
    json|xml) echo 8192 ;;
    route) echo 2048 ;;
    headers) echo 512 ;;
    ovf) echo 16384 ;;
  esac
}

install_fuzz_deps() {
  local missing=() sudo=""
  scripts/install-deps.sh
  for p in clang libclang-rt-14-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "fuzz: installing ${missing[*]}" >&2
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

build() {
  local t names=()
  [ -d "$builddir" ] || CC=clang meson setup "$builddir" -Dfuzz=true \
    -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
  for t in "${targets[@]}"; do
    [ -d "fuzz/corpus/$t" ] || { echo "fuzz: unknown target '$t'" >&2; exit 2; }
    names+=("fuzz/fuzz_$t")
  done
  if ! ninja -C "$builddir" "${names[@]}" >"$log/build" 2>&1; then
    grep -vE '^\[[0-9]+/[0-9]+\]' "$log/build" | head -n 40 >&2
    echo "fuzz: build failed" >&2
    exit 1
  fi
}

# The value of "stat::NAME: N" in a libFuzzer log, or "?".
final_stat() {
  local v
  v=$(sed -n "s/^stat::$1: *\([0-9]*\).*/\1/p" "$2" | tail -n 1)
  echo "${v:-?}"
}

# Coverage from the last status line ("#N DONE cov: C ft: F ...").
final_coverage() {
  local v
  v=$(grep -E '^#[0-9]+' "$1" | tail -n 1 |
      sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\).*/cov: \1 ft: \2/p')
  echo "${v:-cov: ?}"
}

# Replay fuzz/regressions/TARGET/*: every input must now pass.
replay() {
  local t=$1 bin=$2 inputs=()
  shopt -s nullglob
  inputs=(fuzz/regressions/"$t"/*)
  shopt -u nullglob
  [ ${#inputs[@]} -gt 0 ] || return 0
  if ! "$bin" -runs=1 "${inputs[@]}" >"$log/$t.replay" 2>&1; then
    echo "FAIL - $t: a saved regression input fails again; see $log/$t.replay" >&2
    tail -n 30 "$log/$t.replay" >&2
    return 1
  fi
  echo "ok - $t: ${#inputs[@]} regression input(s) replayed"
}

run_one() {
  local t=$1 bin="$builddir/fuzz/fuzz_$t" corpus crashes="$builddir/crashes/$t" rc=0
  if [ -n "${FUZZ_WORKDIR:-}" ]; then
    corpus="$FUZZ_WORKDIR/$t"
  else
    corpus="$log/corpus-$t"
  fi
  mkdir -p "$corpus" "$crashes"
  cp -n fuzz/corpus/"$t"/* "$corpus"/
  replay "$t" "$bin" || return 1
  "$bin" "$corpus" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
    -dict="fuzz/$t.dict" -artifact_prefix="$crashes/" -print_final_stats=1 \
    >"$log/$t.log" 2>&1 || rc=$?
  if [ $rc -ne 0 ]; then
    echo "FAIL - $t: exit $rc; input kept in $crashes/; log:" >&2
    grep -E 'ERROR|runtime error|SUMMARY|fuzz:|Test unit written' "$log/$t.log" |
      head -n 20 >&2
    cp "$log/$t.log" "$crashes/last.log"
    return 1
  fi
  printf 'ok - %-8s %s executions in %ss, %s exec/s, %s, corpus %s files\n' "$t" \
    "$(final_stat number_of_executed_units "$log/$t.log")" "$seconds" \
    "$(final_stat average_exec_per_sec "$log/$t.log")" "$(final_coverage "$log/$t.log")" \
    "$(find "$corpus" -type f | wc -l)"
}

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
install_fuzz_deps
build
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=0
for t in "${targets[@]}"; do
  run_one "$t" || failed=$((failed + 1))
done
echo "$(( ${#targets[@]} - failed )) fuzzers passed, $failed failed"
[ $failed -eq 0 ]
