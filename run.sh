#!/usr/bin/env bash
# Install what is missing, build cimid, and run it on the embedded defaults:
# http://127.0.0.1:8080/cimi/cloudEntryPoint, libvirt's simulated hypervisor
# test:///default, state in var/cimid.db.  Extra arguments go to `cimid serve`
# (for example --port 9090 or --connect qemu:///system).
set -euo pipefail
cd "$(dirname "$0")"

scripts/install-deps.sh
[ -d build ] || meson setup build --buildtype=release >/dev/null
ninja -C build >/dev/null

mkdir -p var
chmod 700 var
if [ ! -s var/admin-password ]; then
  (umask 077; head -c 15 /dev/urandom | base64 | tr -d '/+=' > var/admin-password)
  build/cimid user add admin --admin --database var/cimid.db --password-stdin < var/admin-password >/dev/null
fi
password=$(cat var/admin-password)
port=8080
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    -p|--port) port="${args[$((i + 1))]}" ;;
    --port=*) port="${args[$i]#--port=}" ;;
  esac
done

cat <<MSG

  cimid is starting.
    CloudEntryPoint  http://127.0.0.1:${port}/cimi/cloudEntryPoint
    user             admin
    password         ${password}        (kept in var/admin-password)
  Try:
    curl -u admin:${password} http://127.0.0.1:${port}/cimi/cloudEntryPoint
  Stop with Ctrl-C.  Add users with: build/cimid user add NAME --database var/cimid.db

MSG
exec build/cimid serve --database var/cimid.db --port "$port" "$@"
