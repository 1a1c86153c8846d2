#!/usr/bin/env bash
# Install the Debian 12 packages cimid needs to build, run and test.
# Does nothing when they are all present; uses sudo when not root.
set -euo pipefail

packages=(
  gcc libc6-dev pkg-config meson ninja-build
  libmicrohttpd-dev libjansson-dev libxml2-dev libsqlite3-dev
  libvirt-dev libvirt-clients libgnutls28-dev libcrypt-dev
  libxml2-utils python3 curl sqlite3 openssl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
