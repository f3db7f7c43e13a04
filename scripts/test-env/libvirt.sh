# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts/test.sh: libvirt 11.3 and QEMU 10.0 from bookworm-backports (the image
# ships qemu-utils from there; stock bookworm QEMU would downgrade it), one virtlogd + libvirtd
# pair for the whole test run with its own state under a temporary directory, and the guest
# payload (kernel + busybox initramfs) cached under $FERROSTACK_CACHE.
# Exports FERROSTACK_TEST_LIBVIRT_URI (the private qemu:///system-like socket URI) and
# FERROSTACK_TEST_GUEST_PAYLOAD (the payload directory).
_fs_lv_pkgs="libvirt-daemon-system libvirt-clients libvirt-dev qemu-system-x86 libxml2-utils genisoimage"
if ! command -v libvirtd >/dev/null || ! command -v qemu-system-x86_64 >/dev/null \
   || ! command -v virt-xml-validate >/dev/null || ! command -v genisoimage >/dev/null || [ ! -e /usr/include/libvirt/libvirt.h ]; then
  if [ ! -e /etc/apt/sources.list.d/bookworm-backports.list ]; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/bookworm-backports.list
  fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y -t bookworm-backports --no-install-recommends $_fs_lv_pkgs \
    || { flock /tmp/apt.lock apt-get update \
         && DEBIAN_FRONTEND=noninteractive flock /tmp/apt.lock apt-get install -y -t bookworm-backports --no-install-recommends $_fs_lv_pkgs; }
fi
unset _fs_lv_pkgs

# The guest payload (idempotent; about 1.5 s when the debs are cached).
FERROSTACK_TEST_GUEST_PAYLOAD=$(bash scripts/guest/build-payload.sh) \
  && export FERROSTACK_TEST_GUEST_PAYLOAD \
  && echo "guest payload in $FERROSTACK_TEST_GUEST_PAYLOAD"

# A private libvirtd (its own sockets, state and config under one directory), so parallel
# runs and a system libvirtd never see each other's domains.
if command -v libvirtd >/dev/null && command -v virtlogd >/dev/null; then
  _fs_lv_dir=$(mktemp -d "${TMPDIR:-/tmp}/ferrostack-libvirt.XXXXXX")
  if bash scripts/guest/libvirtd.sh start "$_fs_lv_dir"; then
    FERROSTACK_TEST_LIBVIRT_URI=$(bash scripts/guest/libvirtd.sh uri "$_fs_lv_dir")
    export FERROSTACK_TEST_LIBVIRT_URI
    echo "libvirtd on $FERROSTACK_TEST_LIBVIRT_URI (state in $_fs_lv_dir)"
  else
    echo "libvirtd did not start (see $_fs_lv_dir/libvirtd.log)" >&2
  fi
  on_exit "bash scripts/guest/libvirtd.sh stop '$_fs_lv_dir'; rm -rf '$_fs_lv_dir'"
  unset _fs_lv_dir
fi
