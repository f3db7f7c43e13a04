#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the tiny guest payload the hypervisor driver tests boot: the Debian cloud kernel and a
# busybox initramfs, from Debian packages that are only downloaded and unpacked (nothing is
# installed). Idempotent: a no-op when the payload for the same debs and script exists.
#
#   bash scripts/guest/build-payload.sh        # prints the payload directory on stdout
#
# The payload directory holds `vmlinuz`, `initrd.cpio.gz` and `vmlinuz-xen` (the Debian generic
# kernel, which also boots as a Xen PV domU and dom0; only built with WITH_XEN_KERNEL=1).
#
# What the guest's /init does (every line it prints starts with a marker the tests grep for):
#   @@GUEST-UP@@ kernel=... uptime=...      as soon as userspace runs
#   @@CONFIG-DRIVE@@ label=... uuid=...      after mounting the config drive (ISO 9660)
#   @@NO-CONFIG-DRIVE@@                      when none was found within a few seconds
#   @@WATCHING@@ disks: sr0 ...              the disks present when it starts watching
#   @@BLOCK-ADDED@@ vdb sectors=N            a disk appeared (live attach)
#   @@BLOCK-REMOVED@@ vdb                    a disk disappeared (live detach)
#   @@NIC-ADDED@@ eth0 mac=... mtu=...       a NIC appeared (live interface attach)
#   @@NIC-REMOVED@@ eth0                     a NIC disappeared
#   @@ACPI-POWER-BUTTON@@                    then it powers off (ACPI shutdown, soft reboot)
# With `oneshot` on the kernel command line it powers off right after the config drive step.
set -euo pipefail
cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
out="$cache/guest-payload"
debs="$cache/guest-debs"
mkdir -p "$out" "$debs"
log() { echo "build-payload: $*" >&2; }

exec 9>"$cache/.guest-payload.lock"
flock 9

kpkg=$(ls "$debs"/linux-image-*-cloud-amd64_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$kpkg" ] || ! ls "$debs"/busybox-static_*.deb >/dev/null 2>&1; then
  name=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends:/{print $2; exit}')
  if [ -z "$name" ]; then
    flock /tmp/apt.lock apt-get update >&2
    name=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends:/{print $2; exit}')
  fi
  (cd "$debs" && flock /tmp/apt.lock apt-get download "$name" busybox-static >&2)
  kpkg=$(ls "$debs"/linux-image-*-cloud-amd64_*.deb | head -n1)
fi
bpkg=$(ls "$debs"/busybox-static_*.deb | head -n1)
stamp="$(basename "$kpkg") $(basename "$bpkg") $(sha256sum "$0" | cut -c1-16)"
if [ -s "$out/vmlinuz" ] && [ -s "$out/initrd.cpio.gz" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ferrostack-payload.XXXXXX")
trap 'rm -rf "$work"' EXIT
x="$work/x"; r="$work/rootfs"
mkdir -p "$x" "$r"/{bin,dev,proc,sys,mnt,tmp}
dpkg-deb --fsys-tarfile "$kpkg" | tar -x -C "$x" --wildcards './boot/vmlinuz-*' './lib/modules/*'
dpkg-deb --fsys-tarfile "$bpkg" | tar -x -C "$x" ./bin/busybox
kver=$(basename "$(ls -d "$x"/lib/modules/*)")
cp "$x/bin/busybox" "$r/bin/busybox"

# Only the modules the guest loads (and what they depend on), with the kernel's modules.dep.
wanted="button evdev virtio_pci virtio_blk virtio_scsi virtio_net sr_mod isofs xen-blkfront"
m="$x/lib/modules/$kver"
# The package ships no modules.dep (depmod runs at install time): generate it.
if command -v depmod >/dev/null; then depmod -b "$x" "$kver"; else "$x/bin/busybox" depmod -b "$x" "$kver"; fi
mkdir -p "$r/lib/modules/$kver"
cp "$m/modules.dep" "$m/modules.builtin" "$m/modules.order" "$r/lib/modules/$kver/" 2>/dev/null || true
declare -A seen=()
add_module() {
  local name=${1//-/_} path dep
  path=$(awk -F: -v n="$name" '{ f=$1; sub(".*/", "", f); sub("\\.ko(\\.[a-z]+)?$", "", f); gsub("-", "_", f); if (f == n) { print $0; exit } }' "$m/modules.dep")
  [ -n "$path" ] || return 0
  local file=${path%%:*}
  [ -z "${seen[$file]:-}" ] || return 0
  seen[$file]=1
  mkdir -p "$r/lib/modules/$kver/$(dirname "$file")"
  cp "$m/$file" "$r/lib/modules/$kver/$file"
  for dep in ${path#*:}; do
    dep=$(basename "$dep"); dep=${dep%%.ko*}
    add_module "$dep"
  done
}
for w in $wanted; do add_module "$w"; done
# Compressed modules (.ko.xz) are unpacked so busybox insmod can load them.
find "$r/lib/modules" -name '*.ko.xz' -exec xz -d {} + 2>/dev/null || true
sed -i 's/\.ko\.xz/.ko/g' "$r/lib/modules/$kver/modules.dep"

cat > "$r/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
say() { echo "$*" > /dev/console; }
say "@@GUEST-UP@@ kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)s"
for mod in button evdev virtio_pci virtio_blk virtio_scsi virtio_net sr_mod isofs; do
  modprobe "$mod" 2>/dev/null || say "@@MODPROBE-FAILED@@ $mod: $(modprobe "$mod" 2>&1 | head -n1)"
done
[ "$(cat /sys/hypervisor/type 2>/dev/null)" = xen ] && modprobe xen-blkfront 2>/dev/null
# The power button: ACPI shutdown and libvirt's soft reboot press it.
i=0; while [ ! -e /dev/input/event0 ] && [ $i -lt 40 ]; do sleep 0.05; i=$((i+1)); done
for e in /dev/input/event*; do
  [ -e "$e" ] || continue
  ( dd if="$e" of=/dev/null bs=24 count=1 2>/dev/null
    say "@@ACPI-POWER-BUTTON@@ powering off"; sync; poweroff -f ) &
done
# The config drive: the first ISO 9660 device with OpenStack or NoCloud metadata.
found=""
i=0
while [ -z "$found" ] && [ $i -lt 200 ]; do
  for d in /dev/sr* /dev/vd* /dev/xvd* /dev/sd*; do
    [ -b "$d" ] || continue
    if mount -t iso9660 -o ro "$d" /mnt 2>/dev/null; then
      if [ -f /mnt/openstack/latest/meta_data.json ]; then
        uuid=$(sed -n 's/.*"uuid": *"\([^"]*\)".*/\1/p' /mnt/openstack/latest/meta_data.json)
        say "@@CONFIG-DRIVE@@ dev=${d#/dev/} format=config-2 uuid=$uuid"
        found=1
      elif [ -f /mnt/meta-data ]; then
        uuid=$(sed -n 's/^instance-id: *//p' /mnt/meta-data)
        say "@@CONFIG-DRIVE@@ dev=${d#/dev/} format=nocloud uuid=$uuid"
        found=1
      fi
      umount /mnt
    fi
    [ -n "$found" ] && break
  done
  [ -n "$found" ] || { sleep 0.1; i=$((i+1)); }
done
[ -n "$found" ] || say "@@NO-CONFIG-DRIVE@@ blocks=$(ls /sys/block | tr '\n' ' ') modules=$(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
if grep -qw oneshot /proc/cmdline; then sync; poweroff -f; fi
# Report disks as they come and go (live attach and detach).
# Report disks and NICs as they come and go (live attach and detach).
known=" $(ls /sys/block | tr '\n' ' ') "
nics=" $(ls /sys/class/net | tr '\n' ' ') "
say "@@WATCHING@@ disks:$known nics:$nics"
while true; do
  now=" $(ls /sys/block | tr '\n' ' ') "
  for b in $now; do
    case "$known" in *" $b "*) ;; *) say "@@BLOCK-ADDED@@ $b sectors=$(cat /sys/block/$b/size)";; esac
  done
  for b in $known; do
    case "$now" in *" $b "*) ;; *) say "@@BLOCK-REMOVED@@ $b";; esac
  done
  known=$now
  nnow=" $(ls /sys/class/net | tr '\n' ' ') "
  for n in $nnow; do
    case "$nics" in *" $n "*) ;; *) say "@@NIC-ADDED@@ $n mac=$(cat /sys/class/net/$n/address) mtu=$(cat /sys/class/net/$n/mtu)";; esac
  done
  for n in $nics; do
    case "$nnow" in *" $n "*) ;; *) say "@@NIC-REMOVED@@ $n";; esac
  done
  nics=$nnow
  sleep 0.2
done
INIT
chmod +x "$r/init"
# newc cpio written by busybox itself (the host may have no cpio).
(cd "$r" && find . | "$x/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1 > "$work/initrd.cpio.gz")
cp "$x"/boot/vmlinuz-* "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$work/initrd.cpio.gz" "$out/initrd.cpio.gz"
echo "$stamp" > "$out/.stamp"
log "built $out ($(du -h "$out/vmlinuz" | cut -f1) kernel $kver, $(du -h "$out/initrd.cpio.gz" | cut -f1) initrd)"
echo "$out"
