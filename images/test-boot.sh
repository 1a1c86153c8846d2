#!/usr/bin/env bash
# Boot the cimid test image with plain QEMU and check what it promises:
#   images/test-boot.sh OUTDIR        (OUTDIR as given to build-test-image.sh)
# It boots OUTDIR/cimid-test.img (snapshot=on: the image is not modified) with a config drive
# (ISO9660, label cidata, cimi/user-data = a random test string), waits for the serial ready line,
# checks http://127.0.0.1:PORT/ (the user-data), /user-data and /disks,
# hot-plugs a blank virtio disk and waits for it in /disks (pc machine only), then sends an ACPI
# power-button press (system_powerdown over QMP) and checks QEMU exits within 15 s.
#
# Environment:
#   CIMID_TEST_ACCEL  tcg (default) or kvm
#   CIMID_TEST_BUS    how the image is attached: virtio (default), ide, sata (q35 AHCI),
#                     scsi (virtio-scsi), cdrom, or kernel (direct kernel boot of vmlinuz+initrd.img)
#   CIMID_TEST_TIMEOUT  seconds to wait for the ready line (default 60)
# Prints the serial log on failure; exit status 0 = all checks passed.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
out=$1
accel=${CIMID_TEST_ACCEL:-tcg}
bus=${CIMID_TEST_BUS:-virtio}
timeout=${CIMID_TEST_TIMEOUT:-60}
[ -f "$out/cimid-test.img" ] || { echo "test-boot: no $out/cimid-test.img; run build-test-image.sh" >&2; exit 2; }

tmp=$(mktemp -d)
qpid=
hotplugged=
cleanup() {
  [ -n "$qpid" ] && kill "$qpid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
fail() {
  echo "test-boot: FAIL: $*" >&2
  echo "----- serial log -----" >&2; cat "$tmp/serial.log" >&2 || true
  exit 1
}

# The config drive: what cimid attaches for CIMI userData "disk".
token="cimid-userdata-$$-$RANDOM"
mkdir -p "$tmp/cd/cimi"
printf '%s\n' "$token" > "$tmp/cd/cimi/user-data"
xorriso -as mkisofs -quiet -V cidata -J -r -o "$tmp/config.iso" "$tmp/cd" 2>/dev/null

# A free loopback port for the guest's port 80.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

img="file=$out/cimid-test.img,format=raw,snapshot=on"
cfg="file=$tmp/config.iso,format=raw,readonly=on"
machine=(-machine pc)
# shellcheck disable=SC2054  # the commas are QEMU option syntax
case $bus in
  virtio) disks=(-drive "$img,if=virtio" -drive "$cfg,if=virtio") ;;
  ide)    disks=(-drive "$img,if=ide" -drive "$cfg,if=ide,media=cdrom") ;;
  sata)   machine=(-machine q35)
          disks=(-drive "$img,if=none,id=d0" -device ide-hd,drive=d0,bus=ide.0
                 -drive "$cfg,if=none,id=d1" -device ide-cd,drive=d1,bus=ide.1) ;;
  scsi)   disks=(-device virtio-scsi-pci,id=scsi0 -drive "$img,if=none,id=d0" -device scsi-hd,drive=d0
                 -drive "$cfg,if=none,id=d1" -device scsi-cd,drive=d1) ;;
  cdrom)  disks=(-drive "file=$out/cimid-test.img,format=raw,media=cdrom,readonly=on" -drive "$cfg,if=virtio"
                 -boot d) ;;
  kernel) disks=(-kernel "$out/vmlinuz" -initrd "$out/initrd.img" -append "console=ttyS0"
                 -drive "$cfg,if=virtio") ;;
  *) echo "test-boot: unknown CIMID_TEST_BUS $bus" >&2; exit 2 ;;
esac

echo "test-boot: accel=$accel bus=$bus port=$port"
t0=$(now)
qemu-system-x86_64 -accel "$accel" "${machine[@]}" -m 256 -display none \
  -serial "file:$tmp/serial.log" -qmp "unix:$tmp/qmp.sock,server=on,wait=off" \
  -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:80" -device virtio-net-pci,netdev=net0 \
  "${disks[@]}" &
qpid=$!

# 1. The ready line on the serial console.
while ! grep -q "cimid-test-image: ready" "$tmp/serial.log" 2>/dev/null; do
  kill -0 "$qpid" 2>/dev/null || fail "QEMU exited before the ready line"
  awk -v a="$t0" -v b="$(now)" -v t="$timeout" 'BEGIN { exit !(b - a > t) }' &&
    fail "no ready line within ${timeout}s"
  sleep 0.1
done
t_ready=$(elapsed "$t0")

# 2. The first HTTP answer, then the pages.
url=http://127.0.0.1:$port
for _ in $(seq 1 50); do
  curl -sf --max-time 2 -o "$tmp/index.html" "$url/" && break
  sleep 0.2
done
[ -s "$tmp/index.html" ] || fail "no HTTP answer from $url/"
t_http=$(elapsed "$t0")
grep -q "$token" "$tmp/index.html" || fail "index.html lacks the user-data $token: $(cat "$tmp/index.html")"
[ "$(curl -sf "$url/user-data")" = "$token" ] || fail "/user-data is not $token"
curl -sf "$url/disks" > "$tmp/disks" || fail "no /disks page"
[ "$(grep -cE ' (vd|sd|sr|hd)[a-z0-9]+$' "$tmp/disks")" -ge 2 ] || fail "/disks lists fewer than 2 disks: $(cat "$tmp/disks")"

# qmp 'JSON' ...: run QMP commands on QEMU's monitor socket; fails on an error reply.
qmp() {
  python3 - "$tmp/qmp.sock" "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); r = s.makefile("rw")
def call(cmd):
    r.write(json.dumps(cmd) + "\n"); r.flush()
    while True:                      # skip asynchronous events
        msg = json.loads(r.readline())
        if "error" in msg: sys.exit("qmp %s: %s" % (cmd["execute"], msg["error"]["desc"]))
        if "return" in msg: return
r.readline()                         # greeting
call({"execute": "qmp_capabilities"})
for a in sys.argv[2:]: call(json.loads(a))
PY
}

# 3. Hot-plug a blank 16 MiB virtio disk; it must show up in /disks (refreshed every 2 s).
if [ "${machine[1]}" = pc ]; then
  qemu-img create -q -f raw "$tmp/hotplug.raw" 16M
  ndisks=$(grep -c . "$tmp/disks")
  qmp '{"execute": "blockdev-add", "arguments": {"node-name": "hp0", "driver": "raw",
         "file": {"driver": "file", "filename": "'"$tmp/hotplug.raw"'"}}}' \
      '{"execute": "device_add", "arguments": {"driver": "virtio-blk-pci", "drive": "hp0", "id": "hp0dev"}}' ||
    fail "hot-plug via QMP failed"
  for _ in $(seq 1 30); do
    curl -sf "$url/disks" > "$tmp/disks2" && [ "$(grep -c . "$tmp/disks2")" -gt "$ndisks" ] && break
    sleep 0.2
  done
  [ "$(grep -c . "$tmp/disks2")" -gt "$ndisks" ] || fail "hot-plugged disk not in /disks: $(cat "$tmp/disks2")"
  hotplugged=$(awk 'NR == FNR { seen[$4] = 1; next } NF == 4 && !seen[$4] { printf "%s ", $4 }' \
               "$tmp/disks" "$tmp/disks2")
fi

# 4. ACPI shutdown: system_powerdown (the ACPI power button, like virsh shutdown);
# QEMU must exit within 15 s.
t_off=$(now)
qmp '{"execute": "system_powerdown"}' || fail "system_powerdown failed"
for _ in $(seq 1 150); do kill -0 "$qpid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$qpid" 2>/dev/null && fail "QEMU still running 15 s after system_powerdown"
wait "$qpid" || true
qpid=
t_poweroff=$(elapsed "$t_off")

echo "test-boot: PASS accel=$accel bus=$bus: ready line ${t_ready}s, first HTTP answer ${t_http}s" \
     "after QEMU start; powered off ${t_poweroff}s after system_powerdown"
echo "test-boot: guest said: $(grep -a 'cimid-test-image: ready' "$tmp/serial.log" | tr -d '\r')"
echo "test-boot: disks: $(awk 'NR > 2 { printf "%s ", $4 }' "$tmp/disks")${hotplugged:+(hot-plugged: ${hotplugged% })}"
