#!/usr/bin/env bash
# Install what is missing, build cimid with AddressSanitizer and
# UndefinedBehaviorSanitizer, build the QEMU test image, and run every test
# (unit, black-box on test:///default, black-box on real QEMU guests).
# The last line printed is "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh --qemu
[ -d build-asan ] || meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false \
  --buildtype=debug >/dev/null
ninja -C build-asan >/dev/null
# The guest image the QEMU tests boot (built from Debian packages, cached).
images/build-test-image.sh build-asan/test-image >/dev/null
export CIMI_TEST_IMAGE_DIR=$PWD/build-asan/test-image
exec tests/run.sh build-asan "$@"
