#!/usr/bin/env bash
# Install what is missing, build cimid with AddressSanitizer and
# UndefinedBehaviorSanitizer, and run every test (unit and black-box).
# The last line printed is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
  --buildtype=debug >/dev/null
ninja -C build-asan >/dev/null
exec tests/run.sh build-asan "$@"
