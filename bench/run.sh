#!/usr/bin/env bash
# cimid's benchmarks, in one command: B1 API throughput (against nginx), B2 lifecycle overhead
# (against direct libvirt calls, on test:///default and qemu:///embed), B3 scale (100,000
# machines), B4 concurrency (64 clients), B5 Systems (SystemCreate against the same members one
# by one; OVF export/import against qemu-img convert alone).  Prints the machine and one table of
# figures, ratios against baselines measured in the same run, and targets met or missed.
# docs/PERFORMANCE.md explains every line.
#
#   bench/run.sh              the full run (about 10-15 minutes)
#   bench/run.sh --quick      a short run (a few seconds per benchmark), for smoke-testing
#   bench/run.sh --only B1,B3 --no-qemu --image-dir DIR     (see bench/bench.py --help)
#   bench/run.sh --only B5 --quick   B5 alone, short (1 round, 32 MiB disks; about a minute)
#   bench/run.sh --nice       run everything under nice -n 10 (kinder to a shared machine)
#   bench/run.sh --only B3 --b3-machines 10000 --b3-part out   B3 with 10,000 machines, only
#                             against private libvirtds outside cimid's process (needs root)
#
# It installs what is missing (the project's dependencies with QEMU, and wrk and nginx-light
# for the benchmarks), builds a release build in build-bench/ (meson --buildtype=release) and
# bench/direct_libvirt.c, and builds the test image into build-bench/test-image when no image
# is found.  Benchmarks never fail on a number: the exit status is 0 when they ran.
set -euo pipefail
cd "$(dirname "$0")/.."

nice_cmd=()
args=()
qemu=1
image_dir="${BENCH_IMAGE_DIR:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --nice) nice_cmd=(nice -n 10) ;;
    --no-qemu) qemu=0; args+=("$1") ;;
    --image-dir) image_dir="$2"; shift ;;
    --image-dir=*) image_dir="${1#--image-dir=}" ;;
    *) args+=("$1") ;;
  esac
  shift
done

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ "$qemu" = 1 ]; then scripts/install-deps.sh --qemu; else scripts/install-deps.sh; fi
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
export PATH="$PATH:/usr/sbin"

[ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
ninja -C build-bench >/dev/null
cc -O2 -std=c11 -Wall -Wextra -o build-bench/direct_libvirt bench/direct_libvirt.c \
   $(pkg-config --cflags --libs libvirt) -lpthread

if [ "$qemu" = 1 ] && [ -z "$image_dir" ]; then
  for d in build-bench/test-image build-asan/test-image build/test-image var/test-image; do
    if [ -s "$d/cimid-test.qcow2" ]; then image_dir=$d; break; fi
  done
  if [ -z "$image_dir" ]; then
    echo "bench: building the test image into build-bench/test-image" >&2
    images/build-test-image.sh build-bench/test-image >/dev/null
    image_dir=build-bench/test-image
  fi
fi
[ -n "$image_dir" ] && args+=(--image-dir "$(cd "$image_dir" && pwd)")

exec "${nice_cmd[@]}" python3 bench/bench.py "${args[@]}"
