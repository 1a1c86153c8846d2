#!/usr/bin/env bash
# Profile cimid's three most expensive paths (the evidence behind docs/PERFORMANCE.md,
# "Profile"): valgrind callgrind on the release build (perf here cannot count instructions:
# `perf stat -e instructions` is "not supported" in this VM), and strace for where the wall
# time of the write paths goes (fsync, SQLite's busy-wait sleeps).
#
#   bench/profile.sh [OUTDIR [SCENARIO...]]   (default build-bench/profile, all scenarios)
#   BENCH_CIMID=path/to/cimid bench/profile.sh OUTDIR     profile another build (a prototype)
#
# Scenarios, each on a fresh database with 100 Machines of the tenant user:
#   get        1000 x GET one Machine (JSON, a STARTED one)            callgrind
#   getxml     1000 x the same GET in XML                              callgrind
#   getjob     1000 x GET one (finished) Job, JSON, as clients poll it  callgrind
#   page       5 x filtered page with 1,000 Machines in the store      callgrind
#   lifecycle  50 x create -> start -> stop -> delete                  callgrind
#   strace     50 lifecycles, then 64 clients create+delete for 5 s    strace
# For callgrind the counters are zeroed after the set-up and a warm-up request, so the
# figures are the scenario's alone.  Needs valgrind and strace; run bench/run.sh once first
# (it builds build-bench/).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-bench/profile}
shift || true
scenarios=" ${*:-get page lifecycle strace} "
mkdir -p "$out"
out=$(cd "$out" && pwd)
for tool in valgrind callgrind_annotate callgrind_control strace; do
  command -v $tool >/dev/null || { echo "profile: $tool is missing (apt-get install valgrind strace)" >&2; exit 1; }
done
cimid=${BENCH_CIMID:-$PWD/build-bench/cimid}
[ -x "$cimid" ] || { echo "profile: $cimid is missing: run bench/run.sh --quick first" >&2; exit 1; }
load="python3 $PWD/bench/profile_load.py"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# libvirt's simulated host has 3 GiB and 16 CPUs: let cimid book make-believe machines there.
overcommit=(--memory-overcommit 100000 --cpu-overcommit 100000)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# fresh_db DIR [MACHINES]: a database with the user and 100 (or MACHINES) Machines.
fresh_db() {
  local dir=$1 count=${2:-100} port pid
  rm -rf "$dir"; mkdir -p "$dir"
  echo bench-password-1 | "$cimid" user add bench --tenant bench --password-stdin --database "$dir/db" >/dev/null
  port=$(free_port)
  "$cimid" serve --database "$dir/db" --port "$port" "${overcommit[@]}" >"$dir/setup.log" 2>&1 & pid=$!
  until grep -qs " ready: " "$dir/setup.log"; do sleep 0.1; done
  $load "$port" setup >/dev/null
  kill "$pid"; wait "$pid" || true
  if [ "$count" -gt 100 ]; then
    python3 -c "import sys; sys.path.insert(0, 'bench'); import b3_scale; b3_scale.clone_to('$dir/db', $count)"
  fi
}

# callgrind_scenario NAME MACHINES LOAD-ARGS...
callgrind_scenario() {
  local name=$1 machines=$2; shift 2
  local dir=$out/$name port pid n
  fresh_db "$dir" "$machines"
  port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out.%p" \
    "$cimid" serve --database "$dir/db" --port "$port" "${overcommit[@]}" >"$dir/cimid.log" 2>&1 & pid=$!
  pids+=("$pid")
  until grep -qs " ready: " "$dir/cimid.log"; do sleep 0.5; done
  # Reconciliation runs in its own thread after "ready": not part of the scenario.
  until grep -qs "machines reconciled" "$dir/cimid.log"; do sleep 0.5; done
  $load "$port" "$1" 1 >/dev/null                      # warm-up (password hash, caches)
  local extra=()
  case $1 in                                           # found before the counters start
    get|getxml) extra=("$($load "$port" url)") ;;
    getjob) extra=("$($load "$port" joburl)") ;;
  esac
  callgrind_control -z "$pid" >/dev/null 2>&1
  $load "$port" "$@" "${extra[@]}" | tee "$dir/load.txt"
  callgrind_control -d "$pid" >/dev/null 2>&1
  kill "$pid"; wait "$pid" || true
  n=$(awk '{print $2}' "$dir/load.txt")
  callgrind_annotate --inclusive=yes "$dir"/callgrind.out.*.1 2>/dev/null > "$dir/inclusive.txt"
  callgrind_annotate --threshold=100 --tree=caller "$dir"/callgrind.out.*.1 2>/dev/null > "$dir/callers.txt"
  total=$(awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}' "$dir/inclusive.txt")
  echo "== $name: $((total / n)) instructions per request/operation ($n)"
  # The biggest inclusive costs, without the thread and libmicrohttpd frames above on_request.
  { grep -E '^ *[0-9,]+ \(' "$dir/inclusive.txt" | grep -v -e 'clone.S' -e 'pthread_create' \
      -e '0x[0-9a-f]* \[.*libmicrohttpd' -e 'PROGRAM TOTALS' | head -n 30; } || true
  echo
}

[[ $scenarios == *" get "* ]] && callgrind_scenario get 100 get 1000
[[ $scenarios == *" getxml "* ]] && callgrind_scenario getxml 100 getxml 1000
[[ $scenarios == *" getjob "* ]] && callgrind_scenario getjob 100 getjob 1000
[[ $scenarios == *" page "* ]] && callgrind_scenario page 1000 page 5
[[ $scenarios == *" lifecycle "* ]] && callgrind_scenario lifecycle 100 lifecycle 50
[[ $scenarios == *" strace "* ]] || exit 0

# Wall time of the write paths: durable commits and SQLite's busy handler.
dir=$out/strace
fresh_db "$dir"
port=$(free_port)
"$cimid" serve --database "$dir/db" --port "$port" "${overcommit[@]}" >"$dir/cimid.log" 2>&1 & pid=$!
pids+=("$pid")
until grep -qs " ready: " "$dir/cimid.log"; do sleep 0.1; done
for scenario in "lifecycle 50" "concurrent 64 5"; do
  strace -q -f -p "$pid" -e trace=fdatasync,fsync,clock_nanosleep,nanosleep -c -o "$dir/strace.txt" & spid=$!
  sleep 1
  $load "$port" $scenario | tee "$dir/load.txt"
  kill -INT "$spid"; wait "$spid" || true
  n=$(awk '{print $2}' "$dir/load.txt")
  echo "== strace, $scenario: per operation ($n):"
  awk -v n="$n" '$NF ~ /^(fdatasync|fsync|clock_nanosleep|nanosleep)$/ {
      printf "   %-16s %6.2f calls, %7.3f ms of thread time (%s us/call)\n", $NF, $4 / n, $2 * 1000 / n, $3 }' \
    "$dir/strace.txt"
  echo
done
kill "$pid"; wait "$pid" || true
echo "Raw data: $out"
