#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boots a real Xen PV guest through Ferrostack's Xen driver inside a nested Xen host: Xen 4.17
# runs under QEMU TCG (no VT-x needed) with a Debian dom0 kernel and a busybox dom0 initramfs
# that carries the host's Xen toolstack (xl, xenstored, xenconsoled), libvirtd with its libxl
# driver, and the `boot-guest` example. Inside dom0 it
#   1. `xl create`s the guest payload from the xl config the Xen driver renders
#      (ferrostack_xen::xl) and waits for the guest's marker on its console;
#   2. runs `boot-guest --driver xen --uri xen:///system`: spawn through the Hypervisor trait
#      over libvirt's libxl driver, marker on the PV console, destroy.
# Exits 0 iff both markers were seen. A separate CI step (about 1-2 minutes, 1.5 GB):
#
#   bash scripts/xen-nested.sh
#
# Host packages (installed when missing): qemu-system-x86, xen-utils-4.17, libvirt-clients,
# libvirt-daemon-driver-xen (bookworm-backports, matching libvirt 11.3). Downloaded and only
# unpacked: xen-hypervisor-4.17-amd64 (xen.gz), the Debian generic kernel (dom0 needs it; the
# cloud kernel has no dom0 support), busybox-static. Cached under $FERROSTACK_CACHE/xen-nested.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${FERROSTACK_CACHE:-$HOME/.cache/ferrostack}"
W="$cache/xen-nested"; mkdir -p "$W/debs"
XENVER=4.17
XL_LIBDIR=/usr/lib/xen-$XENVER
TIMEOUT=${TIMEOUT:-900}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

if [ ! -x "$XL_LIBDIR/bin/xl" ] || ! command -v qemu-system-x86_64 >/dev/null || ! command -v virsh >/dev/null \
   || [ ! -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_libxl.so ]; then
  [ -e /etc/apt/sources.list.d/bookworm-backports.list ] \
    || echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list
  pkgs="qemu-system-x86 xen-utils-$XENVER libvirt-clients libvirt-daemon-driver-xen libvirt-dev genisoimage"
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y -t bookworm-backports --no-install-recommends $pkgs \
    || { flock /tmp/apt.lock apt-get update \
         && DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y -t bookworm-backports --no-install-recommends $pkgs; }
fi

# The guest payload (cloud kernel: a PV domU kernel) and the example that drives the driver.
payload=$(bash scripts/guest/build-payload.sh)
cargo build -q -p ferrostack-kvm --example boot-guest
bg="${CARGO_TARGET_DIR:-target}/debug/examples/boot-guest"
[ -x "$bg" ] || { echo "no $bg" >&2; exit 1; }

t0=$(now_ms)
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends:/{print $2; exit}')
if ! ls "$W"/debs/"${kpkg}"_*.deb "$W"/debs/xen-hypervisor-${XENVER}-amd64_*.deb "$W"/debs/busybox-static_*.deb >/dev/null 2>&1; then
  (cd "$W/debs" && flock /tmp/apt.lock apt-get download "$kpkg" "xen-hypervisor-${XENVER}-amd64" busybox-static)
fi
rm -rf "$W/x" && mkdir -p "$W/x"
dpkg-deb --fsys-tarfile "$W"/debs/"${kpkg}"_*.deb | tar -x -C "$W/x" --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/drivers/xen/*'
dpkg-deb --fsys-tarfile "$W"/debs/xen-hypervisor-${XENVER}-amd64_*.deb | tar -x -C "$W/x" --wildcards './boot/xen-*.gz'
dpkg-deb --fsys-tarfile "$W"/debs/busybox-static_*.deb | tar -x -C "$W/x" ./bin/busybox
zcat "$W"/x/boot/xen-${XENVER}-amd64.gz > "$W/xen.elf"   # QEMU's multiboot loader wants the ELF
cp "$W"/x/boot/vmlinuz-* "$W/dom0-vmlinuz"
BB=$W/x/bin/busybox

R=$W/d0; rm -rf "$R"
mkdir -p "$R"/{bin,dev,proc,sys,tmp,run,etc/xen,var/lib/xen,var/log/xen/console,var/lib/xenstored,lib/modules,domu}
cp "$BB" "$R/bin/busybox"; ln -s ../run "$R/var/run"
for m in xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc; do
  find "$W"/x/lib/modules -name "$m.ko*" -exec cp {} "$R/lib/modules/" \;
done
LVD=/usr/lib/x86_64-linux-gnu/libvirt/connection-driver
bins="$XL_LIBDIR/bin/xl $XL_LIBDIR/bin/xenstored $XL_LIBDIR/bin/xenconsoled $XL_LIBDIR/bin/xen-init-dom0
      /usr/bin/xenstore-read /usr/sbin/libvirtd /usr/bin/virsh $LVD/libvirt_driver_libxl.so $(readlink -f "$bg")"
mkdir -p "$R/etc/libvirt" "$R/usr/share" "$R/var/lib/libvirt/libxl" "$R/var/log/libvirt/libxl" "$R/var/cache/libvirt"
cp /etc/libvirt/libvirtd.conf /etc/libvirt/libxl.conf /etc/libvirt/libvirt.conf "$R/etc/libvirt/"
cp -r /usr/share/libvirt "$R/usr/share/"
printf 'root:x:0:0:root:/:/bin/sh\n' > "$R/etc/passwd"; printf 'root:x:0:\n' > "$R/etc/group"
for b in $bins; do
  mkdir -p "$R$(dirname "$b")"; cp -L "$b" "$R$b"
  ldd "$b" | awk '/=>/{print $3} /ld-linux/{print $1}' | while read -r l; do
    [ -e "$l" ] || continue; mkdir -p "$R$(dirname "$l")"; cp -Ln "$l" "$R$l"; done
done
cp "$(readlink -f "$bg")" "$R/bin/boot-guest"
mkdir -p "$R/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$R/lib64/"
cp -L /lib/x86_64-linux-gnu/libgcc_s.so.1 "$R/lib/x86_64-linux-gnu/"   # dlopen()ed by glibc
cp /etc/xen/xl.conf "$R/etc/xen/"
cp "$payload/vmlinuz" "$payload/initrd.cpio.gz" "$R/domu/"
# The xl config as the Xen driver renders it (paths inside dom0).
"$bg" --driver xen --no-graphics --render xl --payload "$payload" --state-dir /domu > "$R/domu/guest.cfg"
sed -i 's/^name = .*/name = "xl-guest"/' "$R/domu/guest.cfg"
cat > "$R/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/usr/sbin:/usr/lib/xen-4.17/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run; mkdir -p /run/xen /run/xenstored /dev/pts; mount -t devpts devpts /dev/pts
ms() { awk '{printf "%d", $1*1000}' /proc/uptime; }
say() { echo "@@DOM0@@ t=$(ms)ms $*" > /dev/console; }
say "up hv=$(cat /sys/hypervisor/type)"
for m in xen-privcmd xenfs xen-evtchn xen-gntdev xen-gntalloc; do insmod /lib/modules/$m.ko 2>/dev/null; done
mount -t xenfs xenfs /proc/xen
XENSTORED_ROOTDIR=/var/lib/xenstored xenstored --pid-file /run/xenstored.pid
i=0; until xenstore-read -s / >/dev/null 2>&1 || [ $i -gt 100 ]; do sleep 0.1; i=$((i+1)); done
xen-init-dom0 >/dev/null 2>&1
xenconsoled --log=guest --log-dir=/var/log/xen/console --pid-file /run/xenconsoled.pid
say "toolstack up"
cat /domu/guest.cfg > /dev/console
t1=$(ms); xl create /domu/guest.cfg > /dev/console 2>&1; say "xl create rc=$? took $(( $(ms) - t1 ))ms"
i=0; until grep -q '@@GUEST-UP@@' /var/log/xen/console/guest-xl-guest.log 2>/dev/null || [ $i -gt 1200 ]; do sleep 0.1; i=$((i+1)); done
say "XL-RESULT $(grep -a '@@GUEST-UP@@' /var/log/xen/console/guest-xl-guest.log 2>/dev/null) after $(( $(ms) - t1 ))ms"
xl destroy xl-guest > /dev/console 2>&1
LIBVIRT_LOG_OUTPUTS="1:file:/var/log/libvirt/libvirtd.log" libvirtd > /dev/null 2>&1 &
i=0; until virsh -c xen:///system version > /dev/null 2>&1 || [ $i -gt 600 ]; do sleep 0.1; i=$((i+1)); done
virsh -c xen:///system version > /dev/console 2>&1
mkdir -p /var/lib/ferrostack
/bin/boot-guest --driver xen --uri xen:///system --no-graphics --no-config-drive \
  --payload /domu --state-dir /var/lib/ferrostack --timeout 300 > /dev/console 2>&1
say "LIBVIRT-RESULT rc=$?"
virsh -c xen:///system list --all > /dev/console 2>&1
poweroff -f
INIT
chmod +x "$R/init"
(cd "$R" && find . | "$BB" cpio -o -H newc 2>/dev/null | gzip -1 > "$W/dom0-initrd.gz")
echo "nested Xen payload built in $(( $(now_ms) - t0 )) ms (dom0 initrd $(du -h "$W/dom0-initrd.gz" | cut -f1))"

log=$W/serial.log; rm -f "$log"
t0=$(now_ms)
timeout "$TIMEOUT" qemu-system-x86_64 -machine q35 -accel tcg -cpu "${OUTER_CPU:-Nehalem}" -m 2048 -smp 1 \
  -nodefaults -no-user-config -display none -no-reboot -serial "file:$log" \
  -kernel "$W/xen.elf" -append "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M" \
  -initrd "$W/dom0-vmlinuz console=hvc0 quiet,$W/dom0-initrd.gz" || true
echo "nested Xen run: $(( $(now_ms) - t0 )) ms"
grep -aE '@@|^connected|^driver:|rror' "$log" | grep -v '^(XEN)' | tail -30
grep -aq 'XL-RESULT @@GUEST-UP@@' "$log" && grep -aq 'LIBVIRT-RESULT rc=0' "$log"
