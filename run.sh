#!/usr/bin/env bash
# Install what is missing, build cimid, and run it on the embedded defaults:
# http://127.0.0.1:8080/cimi/cloudEntryPoint, libvirt's simulated hypervisor
# test:///default, state in var/cimid.db.
#
#   ./run.sh           simulated machines (test:///default)
#   ./run.sh --qemu    real QEMU machines (qemu:///embed, no libvirt daemon), booting the
#                      project's test image, built from Debian packages on first use
#
# Other arguments go to `cimid serve` (for example --port 9090).
set -euo pipefail
cd "$(dirname "$0")"

qemu=0
if [ "${1:-}" = "--qemu" ]; then
  qemu=1
  shift
fi

if [ "$qemu" = 1 ]; then scripts/install-deps.sh --qemu; else scripts/install-deps.sh; fi
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
base="http://127.0.0.1:${port}/cimi"

# libvirt's simulated host has 3 GiB and 16 CPUs: let the demo book 32x that.
hypervisor=(--connect test:///default --memory-overcommit 3200)
if [ "$qemu" = 1 ]; then
  images/build-test-image.sh var/test-image >/dev/null
  mkdir -p var/images
  ln -sf ../test-image/cimid-test.qcow2 var/images/cimid-test.qcow2
  hypervisor=(--connect "qemu:///embed?root=$PWD/var/qemu" --images-dir var/images
              --probe-dir var/test-image)
fi

cat <<MSG

  cimid is starting.
    CloudEntryPoint  ${base}/cloudEntryPoint
    user             admin
    password         ${password}        (kept in var/admin-password)
  Try:
    curl -u admin:${password} ${base}/cloudEntryPoint
  The command-line client (README "Command-line client"; man page: MANPATH="\$PWD/build/man:" man cimi):
    export PATH="\$PWD/build/src/cli:\$PATH" CIMI_URL=${base}/cloudEntryPoint
    export CIMI_USER=admin CIMI_PASSWORD="\$(cat var/admin-password)"
    cimi list machines
MSG
if [ "$qemu" = 1 ]; then
  cat <<MSG
  A real machine from the test image, and the web page it serves:
    curl -u admin:${password} -H 'Content-Type: application/json' \\
      -d '{"name": "web1", "machineTemplate": {"initialState": "STARTED",
           "machineConfig": {"href": "${base}/machineConfigs/m1-small"},
           "machineImage": {"href": "${base}/machineImages/cimid-test"},
           "userData": "'\$(echo hello | base64)'"}}' ${base}/machines
    # then GET the Machine (its Location): "endpoints" lists the forwarded port of guest port 80
    curl http://127.0.0.1:PORT/
MSG
fi
cat <<MSG
  Stop with Ctrl-C.  Add users (also while it runs): build/cimid user add NAME --database var/cimid.db

MSG
exec build/cimid serve --database var/cimid.db --port "$port" "${hypervisor[@]}" "$@"
