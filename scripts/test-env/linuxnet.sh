# SPDX-License-Identifier: Apache-2.0
# Sourced by scripts/test.sh: the tools the Linux data plane driver (drivers/linuxnet) drives
# and its namespace tests use: nft, iptables-restore and ipset (benchmark baseline), dnsmasq, kea-dhcp4, busybox
# (udhcpc as the "VM" DHCP client), netcat, ping, conntrack. Idempotent: installs only what
# is missing. Also runnable on its own: `bash scripts/test-env/linuxnet.sh`.
(
  set -euo pipefail
  missing=()
  for pair in nft:nftables iptables-restore:iptables ipset:ipset dnsmasq:dnsmasq-base busybox:busybox \
              nc:netcat-openbsd ping:iputils-ping conntrack:conntrack kea-dhcp4:kea-dhcp4-server; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "linuxnet tools: ready"
    exit 0
  fi
  export DEBIAN_FRONTEND=noninteractive
  flock /tmp/apt.lock apt-get install -y --no-install-recommends "${missing[@]}" \
    || { flock /tmp/apt.lock apt-get update \
         && flock /tmp/apt.lock apt-get install -y --no-install-recommends "${missing[@]}"; }
  echo "linuxnet tools: installed ${missing[*]}"
)
