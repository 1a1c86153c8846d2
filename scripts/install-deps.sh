#!/usr/bin/env bash
# Install the Debian 12 packages cimid needs to build, run and test.
#   scripts/install-deps.sh          build and run on test:///default
#   scripts/install-deps.sh --qemu   also real QEMU machines and the test image
# Does nothing when they are all present; uses sudo when not root (without
# sudo it says what to run as root).
set -euo pipefail

packages=(
  gcc libc6-dev pkg-config meson ninja-build
  libmicrohttpd-dev libjansson-dev libxml2-dev libsqlite3-dev
  libvirt-dev libvirt-clients libvirt-daemon libgnutls28-dev nettle-dev zlib1g-dev libcrypt-dev libcurl4-gnutls-dev
  libxml2-utils python3 curl sqlite3 openssl man-db
  xorriso qemu-utils wrk
)
qemu_packages=(
  qemu-system-x86 libvirt-daemon-driver-qemu cpio dnsmasq-base iptables
)
if [ "${1:-}" = "--qemu" ]; then
  packages+=("${qemu_packages[@]}")
fi

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The test image is built from packages fetched with apt-get download: that
# needs the package lists, which a fresh machine may not have yet.
lists=0
if [ "${1:-}" = "--qemu" ] && ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
  lists=1
fi
[ ${#missing[@]} -eq 0 ] && [ "$lists" -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    {
      echo "install-deps: missing packages: ${missing[*]:-none}"
      [ "$lists" -eq 1 ] && echo "install-deps: and the package lists (to download the test image's kernel)"
      echo "install-deps: you are not root and sudo is not installed; run this as root, then again:"
      if [ ${#missing[@]} -gt 0 ]; then
        echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
      else
        echo "  apt-get update"
      fi
    } >&2
    exit 1
  fi
  sudo="sudo"
fi

if [ "$lists" -eq 1 ] || [ ${#missing[@]} -gt 0 ]; then
  $sudo apt-get update -qq
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
