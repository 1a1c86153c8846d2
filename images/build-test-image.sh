#!/usr/bin/env bash
# Build the cimid test guest from Debian packages only.
#
#   images/build-test-image.sh OUTDIR
#
# Makes, in OUTDIR:
#   cimid-test.img    bootable RAW disk: an isohybrid ISO (ISOLINUX + kernel + initramfs) that
#                     SeaBIOS boots as a hard disk (virtio/IDE/SATA) or as a cdrom
#   cimid-test.qcow2  the same image as qcow2
#   vmlinuz, initrd.img  for direct kernel boot (cmdline: console=ttyS0)
# Downloaded .debs and their unpacked trees are kept in OUTDIR/cache, so a re-run is fast and needs
# no network.  Needs apt-get, dpkg, cpio, gzip, xorriso, qemu-img; no loop devices, no mounting.
# What the guest does is in images/guest/init and images/README.md.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
cache=$out/cache
work=$out/work
mkdir -p "$cache"
trap 'rm -rf "$work"' EXIT    # scratch space, also on failure

# Kernel command line; override with CIMID_TEST_CMDLINE.
cmdline=${CIMID_TEST_CMDLINE:-console=tty0 console=ttyS0 quiet}

# Modules the guest loads (their dependencies are added from modules.dep): virtio devices, the
# disk and cdrom buses libvirt uses (virtio, IDE, SATA, SCSI), the usual NIC models, ISO9660 for
# the config drive, and the ACPI power button with evdev so busybox acpid sees it.
modules=(virtio_pci virtio_blk virtio_net virtio_scsi
         ata_piix ahci sd_mod sr_mod isofs nls_utf8
         e1000 e1000e 8139cp 8139too
         evdev button)

step() { echo "build-test-image: $*" >&2; }

# --- 1. Fetch the .debs with apt-get download (cached by exact candidate version). ------------
declare -A candidate
# fetch PKG: prints the path of PKG's .deb in the cache, downloading it if needed.
fetch() {
  local pkg=$1 ver=${candidate[$1]-} deb
  [ -n "$ver" ] && [ "$ver" != "(none)" ] ||
    { echo "build-test-image: apt knows no package $pkg (run apt-get update?)" >&2; exit 1; }
  deb=$(ls "$cache/${pkg}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n 1 || true)
  if [ -z "$deb" ]; then
    step "downloading $pkg $ver"
    rm -rf "$cache/${pkg}_"*.deb "$cache/root-${pkg}_"* "$cache/kernel-${pkg}_"*   # older versions
    (cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2)
    deb=$(ls "$cache/${pkg}_${ver//:/%3a}_"*.deb)
  fi
  echo "$deb"
}
# unpack DEB: prints a directory holding DEB unpacked (dpkg -x, cached).
unpack() {
  local dir
  dir=$cache/root-$(basename "$1" .deb)
  if [ ! -e "$dir/.done" ]; then
    rm -rf "$dir"
    dpkg -x "$1" "$dir"
    touch "$dir/.done"
  fi
  echo "$dir"
}

# The kernel: the versioned package linux-image-amd64 depends on (override: CIMID_TEST_KERNEL_PKG).
kpkg=${CIMID_TEST_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 |
                                 sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1)}
[ -n "$kpkg" ] || { echo "build-test-image: cannot resolve linux-image-amd64" >&2; exit 1; }
# Candidate versions of all four packages in one (slow) apt-cache call.
while read -r pkg ver; do
  candidate[$pkg]=$ver
done < <(apt-cache policy "$kpkg" busybox-static isolinux syslinux-common |
         awk '/^[^ ]/ { sub(":$", "", $1); p = $1 } /^  Candidate:/ { print p, $2 }')
# (one assignment each, so that a failure stops the script)
deb=$(fetch busybox-static);   bbroot=$(unpack "$deb")
deb=$(fetch isolinux);         isoroot=$(unpack "$deb")
deb=$(fetch syslinux-common);  slroot=$(unpack "$deb")
kdeb=$(fetch "$kpkg")
busybox=$bbroot/bin/busybox
rm -rf "$work"
mkdir -p "$work"

# The kernel package is 400 MB unpacked and has no modules.dep (its postinst runs depmod).  Keep
# only what the image uses in cache/kernel-DEB: vmlinuz, modules.dep (made by busybox depmod),
# modules.builtin, and the .ko files we load.  The whole package is unpacked again (into $work)
# only when something is missing: on the first run, or after a module is added to the list.
kdir=$cache/kernel-$(basename "$kdeb" .deb)
kfull=
unpack_kernel() {
  [ -z "$kfull" ] || return 0
  step "unpacking $kpkg"
  kfull=$work/kernel-full
  dpkg -x "$kdeb" "$kfull"
  local v
  v=$(ls "$kfull/lib/modules")
  if [ ! -s "$kdir/version" ]; then
    "$busybox" depmod -b "$kfull" "$v"
    mkdir -p "$kdir/modules"
    cp "$kfull/boot/vmlinuz-$v" "$kdir/vmlinuz"
    cp "$kfull/lib/modules/$v/modules.dep" "$kfull/lib/modules/$v/modules.builtin" "$kdir/"
    echo "$v" > "$kdir/version"    # written last: marks $kdir complete
  fi
}
[ -s "$kdir/version" ] || unpack_kernel
kver=$(cat "$kdir/version")
step "kernel $kpkg ($kver), $("$busybox" | head -n 1 | cut -d' ' -f1-2)"

# --- 2. The initramfs: busybox, our /init, the modules in load order. --------------------------
ird=$work/initramfs
mkdir -p "$ird"/{bin,sbin,usr/bin,usr/sbin,etc/acpi/PWRF,proc,sys,dev,tmp,mnt,www,lib/modules/"$kver"}
cp "$busybox" "$ird/bin/busybox"
for applet in $("$busybox" --list-full); do
  [ -e "$ird/$applet" ] || ln -s /bin/busybox "$ird/$applet"
done
install -m 0755 "$here/guest/init" "$ird/init"
install -m 0755 "$here/guest/udhcpc.script" "$ird/etc/udhcpc.script"
install -m 0755 "$here/guest/acpi-power" "$ird/etc/acpi/PWRF/00000080"   # busybox acpid: power button
echo "cimid-test" > "$ird/etc/hostname"

# Resolve the module list to paths in dependency order (dependencies first) from modules.dep.
declare -A path_of deps_of seen
while IFS=: read -r mod deps; do
  base=${mod##*/}; base=${base%.ko}
  path_of[${base//-/_}]=$mod      # module names use _ where file names may use -
  deps_of[$mod]=$deps
done < "$kdir/modules.dep"
order=()
add_module() {   # add_module PATH: its dependencies, then itself
  local d
  [ -z "${seen[$1]-}" ] || return 0
  seen[$1]=1
  for d in ${deps_of[$1]}; do add_module "$d"; done
  order+=("$1")
}
for m in "${modules[@]}"; do
  m=${m//-/_}
  if [ -n "${path_of[$m]-}" ]; then
    add_module "${path_of[$m]}"
  elif awk -v m="$m" '{ gsub("-", "_") } $0 ~ "/" m "[.]ko$" { f = 1 } END { exit !f }' \
           "$kdir/modules.builtin"; then
    :   # built into this kernel
  else
    echo "build-test-image: module $m not found in $kver" >&2; exit 1
  fi
done
for p in "${order[@]}"; do
  if [ ! -f "$kdir/modules/$p" ]; then
    unpack_kernel
    mkdir -p "$kdir/modules/$(dirname "$p")"
    cp "$kfull/lib/modules/$kver/$p" "$kdir/modules/$p"
  fi
  mkdir -p "$ird/lib/modules/$kver/$(dirname "$p")"
  cp "$kdir/modules/$p" "$ird/lib/modules/$kver/$p"
  echo "$p" >> "$ird/etc/modules"
done
"$busybox" depmod -b "$ird" "$kver"    # so `modprobe` works by hand in the guest
step "initramfs: busybox + ${#order[@]} modules"

(cd "$ird" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) |
  gzip -9n > "$work/initrd.img"
cp "$kdir/vmlinuz" "$work/vmlinuz"

# --- 3. The disk: an isohybrid ISO9660 image with ISOLINUX (boots from MBR or El Torito). -------
iso=$work/iso
mkdir -p "$iso/isolinux" "$iso/boot"
cp "$isoroot/usr/lib/ISOLINUX/isolinux.bin" "$slroot/usr/lib/syslinux/modules/bios/ldlinux.c32" \
   "$iso/isolinux/"
cp "$work/vmlinuz" "$work/initrd.img" "$iso/boot/"
cat > "$iso/isolinux/isolinux.cfg" <<EOF
SERIAL 0 115200
PROMPT 0
DEFAULT cimid
LABEL cimid
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.img
  APPEND $cmdline
EOF
xorriso -as mkisofs -quiet -o "$work/cimid-test.img" \
  -isohybrid-mbr "$isoroot/usr/lib/ISOLINUX/isohdpfx.bin" \
  -c isolinux/boot.cat -b isolinux/isolinux.bin -no-emul-boot -boot-load-size 4 -boot-info-table \
  -V CIMID_TEST -J -r "$iso" 2> "$work/xorriso.log" || { cat "$work/xorriso.log" >&2; exit 1; }
qemu-img convert -f raw -O qcow2 "$work/cimid-test.img" "$work/cimid-test.qcow2"

# --- 4. Publish (rename, so a guest still using an old image keeps its copy). -------------------
for f in cimid-test.img cimid-test.qcow2 vmlinuz initrd.img; do
  mv -f "$work/$f" "$out/$f"
done
echo "$cmdline" > "$out/cmdline"
echo "built in $out (kernel $kver, cmdline: $cmdline):"
(cd "$out" && ls -l cimid-test.img cimid-test.qcow2 vmlinuz initrd.img cmdline | awk '{printf "  %-18s %10d bytes\n", $9, $5}')
